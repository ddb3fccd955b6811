"""Incremental refresh: a run that re-scores only the customers whose inputs changed since the last finished run.

``shopseg run --incremental`` (:func:`run_incremental`) starts a run R as of ``as_of`` on top of the latest
finished run P (the *base*) and, instead of every stage's ``run``:

1. finds the **touched** customers: a row of theirs in ``orders`` (sales and returns), ``events`` or ``reviews``
   dated after P's as_of and on or before R's, or a ``customers`` row signed up in that span
   (:func:`touched_customers`);
2. computes the features as of R's date of the touched customers (and of a few others whose row cannot be moved
   by the date alone) and moves the rest of P's rows by the date (:mod:`shopseg.features_refresh`; equal to the
   batch ``customer_features`` of a full run, which it falls back to when it cannot be, saying why), and finds
   the customers **moved by the date** alone (:func:`date_moved_customers`): the lifecycle stage is a threshold
   rule on recency and the first order's age (silent / churned / new windows), so the untouched customers
   whose stage by P's windows and the new features differs from P's are re-scored with the touched (the rule
   evaluated for the few that can cross a window only);
3. scores touched and moved customers as of R's date through the stage contract's ``score``
   (:func:`shopseg.runner.score`, the live service's path) with P's state: P's models (clusters, churn, CLV),
   its RFM / value-tier reference population and lifecycle windows; all of them in one batch per stage, on
   their rows of the features just computed (``given``), not computed again; a ``rows_only`` scheme
   (interest) scores the touched only, the date-moved keep P's label (the one it would give again);
4. writes R's scored tables (``segments``, ``rfm_scores``, ``clv``, ``churn_scores``) in DuckDB: the
   re-scored customers' rows, and P's rows for everyone else (in ``segments`` P's row of a re-scored customer
   stays for each scheme the scoring gave no label of theirs: a scheme without a ``score`` -- group, a
   plug-in -- keeps P's label for everyone);
5. when new sale orders came, updates the itemset counts of the run that holds them with the new baskets
   (:func:`shopseg.basket.update_baskets`: FUP over the baskets that run stored; rules from the counts) or,
   where they cannot be updated (per-segment rules, a changed old basket, a large increment: docs/baskets.md),
   mines them in full (the ``baskets`` stage's ``run``); otherwise P's stand;
6. checks the drift of the reused models' inputs (R's ``customer_features`` against the run that fitted each
   model, :mod:`shopseg.refit`): above ``drift.refit_psi`` the incremental run is discarded and a full run
   (which refits) runs instead, and says so; below it the reuse is recorded in ``model_decisions`` and P's
   stored models are stored as R's (:func:`carry_models`), as a full run that reuses them does.

What R does not recompute, and so reads from P (:meth:`shopseg.runner.Runs.of` falls back to the newest run with
rows of a table): ``segment_profiles``, ``customer_interests``, ``feature_drift``, ``churn_validation``,
``model_reports``, ``recommendations``, ``uplift_reports``, ``actions`` and the review tables.  The
recommendations (ALS / TIFU-KNN over every purchase) and the plan (budgets over the whole population) have no
cheap incremental form; the next full run refreshes them.

Against a full run as of R's date that reuses the same models (``tests/test_incremental.py``, docs/incremental.md):
``customer_features``, ``frequent_itemsets`` and ``association_rules`` are equal row for row; the re-scored
customers' churn probability and tier, RFM scores, lifecycle stage and cluster are equal when the shop's rules do
not depend on its population (RFM by cuts, fixed lifecycle windows; by default P's quintiles and windows are
used, a full run re-derives its own).  Different by design: what moves with an untouched customer's recency (RFM
recency score, churn probability, P(alive)) stays P's until the next full run, and the CLV candidates are not
refitted (a full run refits them every run).
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from datetime import datetime
from typing import Callable, Sequence

import pandas as pd

from .errors import ConfigError, ShopsegError

PER_CUSTOMER = ("customer_features", "segments", "rfm_scores", "clv", "churn_scores")
SCORED = PER_CUSTOMER[1:]  # customer_features: written by shopseg.features_refresh
# the input tables whose new rows touch a customer, and their time column
TOUCHING = {"orders": "ordered_at", "events": "occurred_at", "reviews": "reviewed_at", "customers": "signed_up_at"}
_LINES = "_incr_lines"  # the scored customers' order lines, for the scores (write_scored)


def base_run(ws) -> tuple[int, datetime, object]:
    """(run_id, as_of, config) of the latest finished run: what an incremental run builds on."""
    from .config import defaults, load_config

    rows = ws.sql("SELECT run_id, as_of, config FROM runs WHERE status = 'done' ORDER BY run_id DESC LIMIT 1")
    if not rows:
        raise ShopsegError("An incremental run needs a finished run to build on; the workspace has none.",
                           hint="Run `shopseg run` once first.")
    rid, as_of, cfg = rows[0]
    # only the settings that differ from the defaults are given (and checked, importing their sections' owners:
    # the act section's would load SciPy, the segments' scikit-learn); the merged config is the stored one
    return int(rid), as_of, load_config(overrides=changed(json.loads(cfg), defaults())) if cfg else load_config()


def changed(stored: dict, default: dict) -> dict:
    """The entries of ``stored`` that differ from ``default`` (nested tables compared key by key; a value equal
    but of another type, 1 against 1.0, differs): merged over ``default`` they give ``stored`` back.

    >>> changed({"a": {"x": 1, "y": 2.0}, "b": [1], "c": 1}, {"a": {"x": 1, "y": 2}, "b": [1], "c": 1.0})
    {'a': {'y': 2.0}, 'c': 1}
    """
    out = {}
    for key, value in stored.items():
        d = default.get(key, _ABSENT)
        if isinstance(value, dict) and isinstance(d, dict):
            sub = changed(value, d)
            if sub:
                out[key] = sub
        elif d is _ABSENT or json.dumps(value, sort_keys=True) != json.dumps(d, sort_keys=True):
            out[key] = value
    return out


_ABSENT = object()


def touched_customers(ws, since: datetime, until: datetime) -> list[str]:
    """Customers with a row in orders / events / reviews dated from ``since`` on, or signed up after it; up to
    ``until``.

    The boundary follows what a run as of ``since`` read (features.py): orders, events and reviews strictly
    before its as_of, so a row dated exactly at it is new to the refresh; sign-ups up to it inclusive.
    """
    parts = []
    for table, col in TOUCHING.items():
        if ws.has_table(table) and col in ws.columns(table):
            after = ">" if table == "customers" else ">="
            parts.append(f'SELECT customer_id FROM "{table}" WHERE "{col}" {after} $since AND "{col}" <= $until '
                         "AND customer_id IS NOT NULL")
    if not parts:
        return []
    q = f"SELECT DISTINCT customer_id FROM ({' UNION ALL '.join(parts)}) ORDER BY 1"
    return [str(r[0]) for r in ws.con.execute(q, {"since": since, "until": until}).fetchall()]


def date_moved_customers(ws, run_id: int, windows: dict | None, new_run: int, as_of: datetime, days: int,
                         exclude: Sequence[str]) -> list[str]:
    """Customers not in ``exclude`` whose lifecycle stage by run ``new_run``'s features (as of ``as_of``, ``days``
    after run ``run_id``'s date) and run ``run_id``'s windows differs from their stage in run ``run_id``: the
    date alone moved them over a window.

    The rule (:func:`shopseg.segment.lifecycle.stage_rule`) is evaluated for the candidates only: a customer
    without a new row keeps has_orders and the last gap while recency and the first order's age grow by
    ``days``, so the stage can move only when recency passes the silent or churned window in between, or when
    the stage was ``new`` (the first order's age passing the new window matters only there); and a customer
    without a stage in run ``run_id``.  Everyone else keeps their stage, which the rule would give again."""
    from .segment.lifecycle import PER_CUSTOMER_SQL, assign_stages
    from .workspace import only_customers

    if not windows:
        return []
    params = {"base": run_id, "run": new_run, "days": int(days), "exclude": [str(c) for c in exclude],
              "silent": float(windows["silent_days"]), "churned": float(windows["churned_days"])}
    cand = ws.con.execute("""
        SELECT f.customer_id, f.has_orders, f.recency_days, s.segment AS old
        FROM customer_features f
        LEFT JOIN segments s ON s.run_id = $base AND s.scheme = 'lifecycle' AND s.customer_id = f.customer_id
        WHERE f.run_id = $run AND f.customer_id NOT IN (SELECT unnest($exclude))
          AND (s.segment IS NULL OR s.segment = 'new' OR (f.has_orders AND (
               (f.recency_days > $silent AND f.recency_days - $days <= $silent)
            OR (f.recency_days > $churned AND f.recency_days - $days <= $churned))))""", params).df()
    if cand.empty:
        return []
    per = ws.con.execute(only_customers(PER_CUSTOMER_SQL),
                         {"as_of": as_of, "customers": cand["customer_id"].astype(str).tolist()}).df()
    df = cand.merge(per, on="customer_id", how="left")
    now = assign_stages(df, windows)["stage"].to_numpy()
    moved = df.loc[now != df["old"].to_numpy(), "customer_id"].astype(str)
    return sorted(set(moved))


def _answers_frames(answers: dict[str, dict], ids: list[str]) -> dict[str, pd.DataFrame]:
    """The scored customers' rows of each per-customer table (without run_id), from :func:`runner.score`."""
    seg = answers.get("segments") or {}
    out: dict[str, pd.DataFrame] = {}
    out["segments"] = pd.DataFrame([(c, k, v) for c in ids if c in seg for k, v in seg[c]["segments"].items()],
                                   columns=["customer_id", "scheme", "segment"])
    out["rfm_scores"] = pd.DataFrame([{"customer_id": c, **seg[c]["rfm_scores"]} for c in ids
                                      if c in seg and "rfm_scores" in seg[c]],
                                     columns=["customer_id", "r_score", "f_score", "m_score", "fm_score"])
    churn = answers.get("churn") or {}
    out["churn_scores"] = pd.DataFrame(
        [(c, a["probability"], a["tier"], *(a["reasons"] + [None] * 3)[:3], a["model"]) for c, a in churn.items()],
        columns=["customer_id", "probability", "tier", "reason_1", "reason_2", "reason_3", "model"])
    return out


def _write(ws, table: str, run_id: int, base: int | None, fresh: pd.DataFrame | None, by_scheme: bool = False) -> int:
    """Run ``run_id``'s rows of ``table``: ``fresh`` for the scored customers (temp table ``_incr_scored``),
    ``base``'s rows for the others, in DuckDB.  Returns the rows written.

    ``fresh`` None: the table is not re-scored (base's rows for everyone).  ``by_scheme`` (``segments``): base's
    row of a scored customer stays for each scheme ``fresh`` has no label of theirs in (a scheme without a
    score, a rows-only scheme for a customer without new rows, a value tier without the CLV behind it).
    """
    if base is None and fresh is None:
        return 0
    cols = [c for c in ws.columns(table) if c != "run_id"]
    sel = ", ".join(f'"{c}"' for c in cols)
    n = 0
    if fresh is not None:
        ws.con.register("_incr_fresh", fresh)
    try:
        if base is not None:
            keep = ("TRUE" if fresh is None else
                    "NOT EXISTS (SELECT 1 FROM _incr_fresh f WHERE f.customer_id = t.customer_id "
                    "AND f.scheme = t.scheme)" if by_scheme else
                    "customer_id NOT IN (SELECT customer_id FROM _incr_scored)")
            n += ws.con.execute(f'INSERT INTO "{table}" (run_id, {sel}) SELECT ?, {sel} FROM "{table}" AS t '
                                f"WHERE run_id = ? AND {keep}", [run_id, base]).fetchone()[0]
        if fresh is not None and len(fresh):
            have = ", ".join(f'"{c}"' for c in cols if c in fresh.columns)
            n += ws.con.execute(f'INSERT INTO "{table}" (run_id, {have}) SELECT ?, {have} FROM _incr_fresh',
                                [run_id]).fetchone()[0]
    finally:
        if fresh is not None:
            ws.con.unregister("_incr_fresh")
    return int(n)


def _clv_rows(served, ws, customers: list[str], given: dict) -> pd.DataFrame | None:
    """The ``clv`` rows of ``customers`` the CLV stage's score gave with P's stored CLV models (put in
    ``given["clv_rows"]``: scored once); None when P's CLV models cannot be read (a run by an older shopseg stored
    none when the repeat model or the baseline won: P's rows stand, and the run's record says so)."""
    state = served.states.get("clv")
    if state is None or state.scorer is None:
        return None
    rows = given["clv_rows"].get("rows")
    if rows is None:  # no buyer among them: the table's columns, no row
        from .predict._score import clv_frame

        rows = clv_frame(state, ws, [], served.as_of)
    return rows


def scored_lines(ws, customers: Sequence[str]):
    """``ws`` reading ``customers``' order lines from temp table ``_incr_lines`` (made here: every line of their
    orders, ``order_lines``' columns and order) in its restricted computations (:meth:`Workspace.with_lines`):
    the scores' three reads of those lines (churn's extras, the CLV summary, the interest scheme's lines) then
    probe ``order_lines``' order ids once instead of once each (5.4 M at Online Retail x10), with the same rows in
    the same order, so the same answers (docs/incremental.md, "Cost").  The caller drops the table."""
    ws.con.execute(f"CREATE OR REPLACE TEMP TABLE {_LINES} AS SELECT * FROM order_lines WHERE order_id IN "
                   "(SELECT order_id FROM orders WHERE customer_id IN (SELECT unnest($ids)))",
                   {"ids": [str(c) for c in customers]})
    return ws.with_lines(_LINES)


def write_scored(ws, run_id: int, served, customers: list[str], as_of: datetime,
                 timings: dict | None = None, features: pd.DataFrame | None = None,
                 unchanged: Sequence[str] = ()) -> dict[str, int]:
    """Score ``customers`` with ``served`` (P's states) as of ``as_of`` and write run ``run_id``'s scored
    tables (:data:`SCORED`): their fresh rows, P's rows for every other customer.  Returns rows per table.

    ``features``: a frame holding the customers' features as of ``as_of`` (the run's, computed already): the
    scoring takes their rows instead of computing them again; all of them scored in one batch per stage.
    ``unchanged``: those of ``customers`` with no row since P (moved by the date alone): a rows-only scheme
    (interest) keeps P's label of theirs instead of scoring them again (the same label)."""
    from .runner import Runs, score

    given = {"rows_unchanged": set(map(str, unchanged)), "clv_rows": {}}
    if features is not None:
        given["customer_features"] = features
    t0 = time.perf_counter()
    reader = scored_lines(ws, customers)
    if timings is not None:
        timings["lines"] = time.perf_counter() - t0
    try:
        answers = score(served, reader, customers, as_of, timings, given=given)
    finally:
        ws.con.execute(f"DROP TABLE IF EXISTS {_LINES}")
    t0 = time.perf_counter()
    fresh = _answers_frames(answers, customers)
    runs = Runs(ws, served.run_id, served.as_of, served.config)
    base = {t: runs.of(t) for t in SCORED}
    fresh["clv"] = _clv_rows(served, ws, customers, given)
    churn = served.states.get("churn")  # predict._score.ChurnState
    views = churn.views if churn is not None else None
    pooled = answers.get("clv") or {}
    if views is not None and answers.get("churn") and pooled:
        from .predict._reconcile import pool_frame  # P(alive) pooled with churn as the churn score pooled it

        if fresh["clv"] is None and base["clv"] is not None:  # P's rows, the pooled P(alive) in those pooled
            fresh["clv"] = ws.con.execute('SELECT * EXCLUDE (run_id) FROM clv WHERE run_id = $1 AND customer_id IN '
                                          '(SELECT unnest($2::VARCHAR[]))',
                                          [base["clv"], [str(c) for c in customers]]).df()
        if fresh["clv"] is not None:
            fresh["clv"] = pool_frame(fresh["clv"], pooled, views, as_of)
    if not answers.get("churn") and churn is None:
        fresh["churn_scores"] = None  # no stored churn model: P's scores stand
    ws.con.execute("CREATE OR REPLACE TEMP TABLE _incr_scored AS SELECT unnest($ids) AS customer_id",
                   {"ids": [str(c) for c in customers]})
    try:
        n = {t: _write(ws, t, run_id, base[t], fresh.get(t), by_scheme=t == "segments") for t in SCORED}
    finally:
        ws.con.execute("DROP TABLE IF EXISTS _incr_scored")
    if timings is not None:
        timings["write"] = time.perf_counter() - t0
    return n


def carry_models(ws, base: int, run_id: int) -> list[str]:
    """Store every model of run ``base`` as run ``run_id``'s too (same files, the fitting run kept:
    :func:`shopseg.models.carry`), as a full run that reuses a model stores it: the service and the next run find
    the models of the run they read."""
    from . import models
    from .basket import STORE_NAME

    names = []
    for meta in models.entries(ws):
        if int(meta["run_id"]) != int(base) or meta["name"] == STORE_NAME:  # baskets: read at the itemsets' run
            continue
        if models.carry(ws, meta["name"], base, run_id):
            names.append(meta["name"])
    return names


def _reuse_or_refit(ws, run_id: int, config, seed: int) -> tuple[list[str], dict[str, str]]:
    """The reused models' decisions against the runs that fitted them (:mod:`shopseg.refit`): the ones whose
    inputs drifted above ``drift.refit_psi`` (their notes), and each model's note; a reuse is recorded in
    ``model_decisions`` as the full run records it."""
    from .refit import churn_decision, cluster_decision, record

    drifted, notes, shared = [], {}, {}  # shared: the PSI of R's features computed once for both models
    cfg = config.with_overrides({"segments": {"cluster": {"random_state": seed}}})  # as the segments stage
    for name, decide in (("cluster", cluster_decision), ("churn", churn_decision)):
        if name == "cluster" and "cluster" not in config["segments.schemes"]:
            continue
        d, _ = (decide(ws, run_id, cfg, light=True, shared=shared) if name == "cluster"
                else decide(ws, run_id, config, shared=shared))
        notes[name] = d.note()
        if d.action == "reused":
            record(ws, run_id, d)
        elif d.max_psi is not None:  # drifted (not merely absent or unusable: then the base's state stands)
            drifted.append(f"{name}: {d.note()}")
    return drifted, notes


def run_incremental(ws, as_of=None, *, config=None, seed: int | None = None,
                    progress: Callable[[str, str], None] | None = None):
    """Refresh the latest finished run for the rows that came since (module docstring); returns a RunResult.

    ``config``: must have the base run's settings (an incremental run reuses its state); None takes them.
    When a reused model's inputs drifted past ``drift.refit_psi``, a full run replaces it (noted as ``incremental``).
    """
    from . import pipeline
    from .runner import Runs, load_states

    t_all = time.perf_counter()
    base_id, base_as_of, base_cfg = base_run(ws)
    if config is not None and config.hash != base_cfg.hash:
        raise ConfigError(f"An incremental run reuses run {base_id}'s settings (config hash {base_cfg.hash[:12]}); "
                          f"expected the same settings. Got config hash {config.hash[:12]} instead.",
                          hint="Run a full `shopseg run` with the new settings.")
    cfg = base_cfg
    when = pipeline.parse_as_of(as_of) if as_of is not None else pipeline.default_as_of(ws)
    if when < base_as_of:
        raise ConfigError(f"An incremental run goes forward from run {base_id} (as of {base_as_of:%Y-%m-%d}); "
                          f"expected an as_of on or after it. Got {when:%Y-%m-%d} instead.")
    run_seed = int(ws.scalar("SELECT seed FROM runs WHERE run_id = ?", [base_id])) if seed is None else int(seed)
    t0 = time.perf_counter()
    served = load_states(pipeline.registered_stages(), ws, base_id, base_as_of, cfg, given=("customer_features",))
    t_state = time.perf_counter() - t0
    touched = touched_customers(ws, base_as_of, when)
    run_id = pipeline.start_run(ws, when, cfg, run_seed)
    record: dict[str, dict] = {}
    status = "done"
    try:
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        with _written_at_commit(ws), ws.transaction():
            from .features_refresh import features_of, refresh_features

            review_run = Runs(ws, base_id, base_as_of, cfg).of("review_insights")
            columns, how = refresh_features(ws, when, run_id, base_id, base_as_of, cfg, review_run, touched)
            timings["features"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            moved = date_moved_customers(ws, base_id, getattr(served.states.get("segments"), "windows", None),
                                         run_id, when, (when.date() - base_as_of.date()).days, touched)
            timings["moved"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            feats = features_of(ws, run_id, columns, touched + moved)  # the scored customers' rows
            timings["features"] += time.perf_counter() - t1
            n = write_scored(ws, run_id, served, touched + moved, when, timings, features=feats, unchanged=moved)
            n["customer_features"] = how["computed"] + how["carried"]
        record["incremental"] = {
            "status": "done", "seconds": round(time.perf_counter() - t0 + t_state, 3), "base_run": base_id,
            "touched": len(touched), "moved_by_date": len(moved), "state_seconds": round(t_state, 3),
            "seconds_by_part": {k: round(v, 3) for k, v in timings.items()}, "rows": n,
            "features": how,
            "note": f"{_features_note(how, base_id)}; {len(touched)} touched and {len(moved)} moved by the date "
                    f"re-scored with run {base_id}'s models and rules, run {base_id}'s scores for the rest"}
        why = getattr(served.states.get("clv"), "why", None)
        if why:  # P's CLV models cannot be read (a run by an older shopseg): its clv rows stand
            record["incremental"]["clv"] = why
        t1 = time.perf_counter()
        drifted, record["incremental"]["models"] = _reuse_or_refit(ws, run_id, cfg, run_seed)
        if drifted:
            raise _Refit("; ".join(drifted))
        record["incremental"]["models_stored"] = carry_models(ws, base_id, run_id)
        record["incremental"]["seconds_by_part"]["models"] = round(time.perf_counter() - t1, 3)
        record["incremental"]["seconds"] = round(record["incremental"]["seconds"] + time.perf_counter() - t1, 3)
        new_sales = int(ws.scalar("SELECT count(*) FROM orders WHERE kind = 'sale' AND ordered_at > ? "
                                  "AND ordered_at <= ?", [base_as_of, when]) or 0)
        ctx = pipeline.RunContext(ws=ws, run_id=run_id, as_of=when, config=cfg, seed=run_seed,
                                  previous_run_id=base_id)
        ctx.runs.written.update(PER_CUSTOMER)  # baskets' per-segment rules read this run's segments
        if new_sales:
            _baskets(ctx, progress, record)
        else:
            record["baskets"] = {"status": "skipped", "seconds": 0.0,
                                 "note": f"skipped: no new sale orders; run {base_id}'s itemsets and rules stand"}
        for name in ("recommend", "act"):
            record[name] = {"status": "skipped", "seconds": 0.0,
                            "note": f"skipped: incremental run; run {base_id}'s {name} rows stand until a full run"}
    except _Refit as e:
        ws.con.execute("UPDATE runs SET status = 'failed', stages = ? WHERE run_id = ?",
                       [json.dumps({**record, "incremental": {**record.get("incremental", {}), "status": "failed",
                                                              "note": f"discarded: {e}"}}, default=str), run_id])
        pipeline.discard_outputs(ws, [run_id])
        res = pipeline.run_pipeline(ws, when, config=cfg, seed=run_seed, progress=progress)
        res.stages = {"incremental": {"status": "skipped", "seconds": 0.0,
                                      "note": f"skipped: a full run instead, the reused models drifted ({e})"},
                      **res.stages}
        return res
    except BaseException:
        status = "failed"
        try:
            pipeline.discard_outputs(ws, [run_id])
        except Exception:  # noqa: BLE001  (the original error matters)
            pass
        raise
    finally:
        if status == "failed" or "incremental" in record and record["incremental"].get("status") == "done":
            record.setdefault("incremental", {})["total_seconds"] = round(time.perf_counter() - t_all, 3)
            ws.con.execute("UPDATE runs SET stages = ?, status = CASE WHEN status = 'running' THEN ? ELSE status END "
                           "WHERE run_id = ?", [json.dumps(record, default=str), status, run_id])
    return pipeline.RunResult(run_id=run_id, as_of=when, stages=record, status=status)


@contextmanager
def _written_at_commit(ws):
    """DuckDB's optimistic writes off for the refresh's transaction: R's rows stay in memory until the commit.

    An INSERT of a row group or more (R's ``segments``: 262,000 rows at x10) otherwise compresses and writes its
    row groups to the file as it goes, and the commit's checkpoint merges them with the table's partly filled
    last row group, compressing the same rows again (DuckDB merges adjacent row groups that fit in fewer). Kept
    in memory, they are compressed once, by that checkpoint: the same row groups in the file (the same layout
    and compression), ~0.06 CPU s less at x10 (docs/incremental.md, "Cost"). DuckDB spills them to its temp
    folder past the memory limit."""
    ws.con.execute("SET enable_optimistic_write = false")
    try:
        yield
    finally:
        ws.con.execute("RESET enable_optimistic_write")


def _baskets(ctx, progress, record: dict) -> None:
    """The run's itemsets and rules: the ``baskets`` stage run by the runner (its transaction, timing, record)
    with :func:`_update_or_mine` bound in as its executor (:func:`shopseg.runner.bind`)."""
    from types import SimpleNamespace

    from .pipeline import STAGES
    from .runner import bind, run_stages

    registered = next(s for s in STAGES if s.name == "baskets")
    executor = SimpleNamespace(name="incremental", executors={"baskets": _update_or_mine(registered.run)})
    run_stages(ctx, bind(STAGES, executor), ["baskets"], progress, record)


def _update_or_mine(mine: Callable) -> Callable:
    """The baskets executor of an incremental run: the itemsets' run's counts updated with the new baskets
    (:func:`shopseg.basket.update_baskets`), or, where they cannot be, the registered stage's full mining
    (``mine``) with the reason in the note: "mined in full: <why>" first, after the stage's own "skipped: ..."
    when it skipped (a ModelFitError's message carries it too)."""
    from .basket import CannotUpdate, update_baskets
    from .errors import ModelFitError

    def run(ctx) -> dict:
        try:
            base = ctx.runs.of("frequent_itemsets")
            if base is None:
                raise CannotUpdate("no earlier run holds itemsets")
            return update_baskets(ctx.ws, ctx.run_id, as_of=ctx.as_of, config=ctx.config, base=base)
        except CannotUpdate as e:  # raised before the update writes anything: the mining starts clean
            why = f"mined in full: {e}"
        try:
            notes = dict(mine(ctx) or {})
        except ModelFitError as err:
            raise ModelFitError(f"{err.message} ({why})", hint=err.hint) from err
        note = str(notes.get("note", ""))
        notes["note"] = f"{note}; {why}" if note.startswith("skipped") else f"{why}; {note}" if note else why
        return notes

    return run


def _features_note(how: dict, base: int) -> str:
    if how["mode"] == "full":
        return f"features of all {how['computed']} customers computed ({how['why']})"
    return (f"features of {how['computed']} customers computed, {how['carried']} carried from run {base} "
            "moved by the date")


class _Refit(Exception):
    """A reused model's inputs drifted: the incremental run gives way to a full run."""


__all__ = ["PER_CUSTOMER", "base_run", "carry_models", "date_moved_customers", "run_incremental", "scored_lines",
           "touched_customers", "write_scored"]
