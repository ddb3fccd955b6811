"""One customer's view: what ``shopseg customer``, ``GET /customers/{id}`` and the dashboard's customer page show.

Three steps, each in one place:

1. :func:`read_runs`: the run to show (the latest done run by default) and, per output table, the run whose rows
   to read (that run, or the latest earlier done run that wrote the table: a run that refitted only CLV still
   answers with the segments of the run before); plus the segment names of the run's profiles.
2. :func:`read_parts`: the customer's rows of those tables in one SQL statement (:func:`view_sql`, one scalar
   sub-query per table, each an index probe), with the live service's re-scored rows when the workspace has them.
   The service answers most look-ups from an in-memory copy of the same parts (``serve/app.py``'s snapshot).
3. :func:`shape`: the parts as the view (a dict in the order of the API's ``CustomerView``): segments of every
   scheme with their names, churn with reasons, CLV and P(alive), interests, recommendations (product name,
   kind, reason), the planned next action and one status sentence.

:func:`customer_view` runs the three; :func:`next_action_words` and :func:`recommendation_words` say the action and
a recommendation in a sentence for people (the CLI and the dashboard).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

# Per output table: the columns a customer view reads, and whether the customer has many rows in it.
VIEW_PARTS = {
    "customer_features": ("SELECT * EXCLUDE (run_id) FROM customer_features", False),
    "segments": ("SELECT scheme, segment FROM segments", True),
    "churn_scores": ("SELECT * EXCLUDE (run_id) FROM churn_scores", False),
    "clv": ("SELECT * EXCLUDE (run_id) FROM clv", False),
    "actions": ("SELECT * EXCLUDE (run_id) FROM actions", False),
    "recommendations": ("SELECT * EXCLUDE (run_id) FROM recommendations", True),
    "customer_interests": ("SELECT rank, interest, name, lift FROM customer_interests", True),
}
MANY_ROWS = 20  # at most this many rows of a many-rows table per customer (recommendations, interests)
OUTPUT_TABLES = ("customer_features", "segments", "segment_profiles", "churn_scores", "clv", "actions",
                 "recommendations", "model_reports", "customer_interests")
CLV_FIELDS = ("clv", "p_alive", "expected_purchases_90d", "expected_purchases_horizon", "expected_order_value",
              "expected_next_order_at")
LIVE_TABLES = ("live_state", "live_segments")


def _present(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema = 'main'").fetchall()}


def read_runs(con, run_id: int | None = None) -> dict:
    """The run to show and where each output table is read: ``run_id``, ``as_of``, ``config`` (the run's stored
    settings, a nested dict), ``tables`` (output table -> run, None when absent), ``names`` ((scheme, segment) ->
    name), ``rec_columns``, ``live`` (whether the live service's tables exist) and ``view_sql``.

    ``run_id`` None: the latest done run. ``con``: a DuckDB connection or cursor of the workspace.
    """
    q = "SELECT run_id, as_of, config, stages FROM runs WHERE status = 'done'"
    rows = con.execute(q + (" AND run_id = ?" if run_id is not None else "") + " ORDER BY run_id DESC LIMIT 1",
                       [int(run_id)] if run_id is not None else []).fetchall()
    present = _present(con)
    out: dict[str, Any] = {"run_id": None, "as_of": None, "config": {}, "tables": {}, "names": {},
                           "live": all(t in present for t in LIVE_TABLES)}
    if rows:
        rid, out["as_of"], cfg, stages = rows[0]
        out["run_id"], out["config"] = int(rid), (json.loads(cfg) if cfg else {})
        stages = json.loads(stages) if stages else {}
        out["horizons"] = _horizons(stages)
        have = [t for t in OUTPUT_TABLES if t in present]
        if have:  # per table: the latest done run up to this one that wrote it, all in one statement
            sql = " UNION ALL ".join(
                f"SELECT '{t}', (SELECT max(run_id) FROM \"{t}\" WHERE run_id <= $r AND run_id IN "
                f"(SELECT run_id FROM runs WHERE status = 'done'))" for t in have)
            found = dict(con.execute(sql, {"r": out["run_id"]}).fetchall())
        else:
            found = {}
        out["tables"] = {t: (None if found.get(t) is None else int(found[t])) for t in OUTPUT_TABLES}
        # a stage this run skipped (its data cannot support it as of this run): not an earlier run's rows of it,
        # which are another date's (churn risk as of 2011-12-09 beside a run as of 2013-06-30); a stage the run
        # did not include (``--stage``) still shows the latest earlier rows
        for t in _skipped_tables(stages):
            if out["tables"].get(t) != out["run_id"]:
                out["tables"][t] = None
        if out["tables"]["customer_interests"] != out["tables"]["segments"]:  # interests go with their segments
            out["tables"]["customer_interests"] = None
        if (prun := out["tables"]["segment_profiles"]) is not None:
            out["names"] = {(sc, sg): nm for sc, sg, nm in con.execute(
                "SELECT scheme, segment, name FROM segment_profiles WHERE run_id = ?", [prun]).fetchall()}
        if out["tables"]["recommendations"] is not None:
            out["rec_columns"] = [c[0] for c in con.execute("DESCRIBE recommendations").fetchall()]
    out["view_sql"] = view_sql(out)
    return out


def _skipped_tables(stages: dict) -> set[str]:
    """The output tables of the stages a run's record says were skipped."""
    from ..schema import STAGE_TABLES

    return {t for name, st in stages.items() if isinstance(st, dict) and st.get("status") == "skipped"
            for t in STAGE_TABLES.get(name, ((), ()))[1]}


def _horizons(stages: dict) -> dict:
    """{"churn": the churn horizon in days, "p_alive": W when P(alive) is P(an order in the next W days),
    "churn_seen_recency": the longest silence among the churn model's training rows} from the run's stage notes
    (None where the run does not say)."""
    churn = stages.get("churn") or {}
    return {"churn": churn.get("horizon_days"), "p_alive": churn.get("p_alive_days"),
            "churn_seen_recency": churn.get("train_max_recency_days")}


def ordered_by_rank(runs: dict, table: str) -> bool:
    """Whether a customer's rows of ``table`` come in rank order (interests; recommendations that have a rank)."""
    return table == "customer_interests" or (table == "recommendations" and "rank" in runs.get("rec_columns", ()))


def view_sql(runs: dict) -> str:
    """One query with one scalar sub-query per present table (each an index look-up): one round trip per view.

    Parameters ``$c`` (the customer id) and ``$run`` (the run the live rows must be based on).
    """
    parts = ["(SELECT count(*) FROM customers WHERE customer_id = $c) AS n_customer_rows"]
    if runs.get("live"):
        parts += ["(SELECT to_json(_shopseg_row) FROM (SELECT * FROM live_state WHERE customer_id = $c "
                  "AND run_id = $run) _shopseg_row) AS live",
                  "(SELECT to_json(list(_shopseg_row)) FROM (SELECT scheme, segment FROM live_segments "
                  "WHERE customer_id = $c AND run_id = $run) _shopseg_row) AS live_segments"]
    else:
        parts += ["NULL AS live", "NULL AS live_segments"]
    for table, (sel, many) in VIEW_PARTS.items():
        rid = runs["tables"].get(table)
        if rid is None:
            parts.append(f"NULL AS {table}")
            continue
        inner = f"{sel} WHERE run_id = {int(rid)} AND customer_id = $c"
        if ordered_by_rank(runs, table):
            inner += " ORDER BY rank"
        inner += f" LIMIT {MANY_ROWS}" if many else " LIMIT 1"
        agg = "to_json(list(_shopseg_row))" if many else "to_json(_shopseg_row)"
        parts.append(f"(SELECT {agg} FROM ({inner}) _shopseg_row) AS {table}")
    return "SELECT " + ",\n       ".join(parts)


def read_parts(con, runs: dict, customer_id: str) -> dict:
    """The customer's rows of every output table (JSON parsed; None where absent) as :func:`shape` takes them."""
    sql = runs.get("view_sql") or view_sql(runs)
    rid = runs["run_id"]
    params = {"c": customer_id}
    if runs.get("live"):
        params["run"] = rid if rid is not None else -1
    res = con.execute(sql, params)
    row = dict(zip([d[0] for d in res.description], res.fetchall()[0]))
    return {k: (json.loads(v, object_hook=_timestamps) if isinstance(v, str) else v) for k, v in row.items()}


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?")


def _timestamps(row: dict) -> dict:
    """A row's TIMESTAMP values back as datetimes (DuckDB's ``to_json`` writes them as text): the same values
    the service's in-memory copy holds."""
    for k, v in row.items():
        if isinstance(v, str) and len(v) <= 26 and _TIMESTAMP.fullmatch(v):
            row[k] = datetime.fromisoformat(v)
    return row


def _parsed(v):
    return json.loads(v) if isinstance(v, str) else v


# each figure's model in words (clv_basis); a baseline is named per figure as the backtest names it
MODEL_WORDS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "paretonbd": "Pareto/NBD", "repeat": "the repeat model",
               "gammagamma": "Gamma-Gamma", "meanspend": "the customer's mean spend per purchase day"}


def clv_sources(model) -> dict | None:
    """Figure -> the model that gave it (``p_alive``, ``expected_purchases``, ``expected_order_value``, ``clv``)
    from the clv table's ``model`` text; None when the text does not name them (a run of an older shopseg).

    >>> clv_sources("p_alive=repeat; purchases=repeat; clv=baseline; order_value=gammagamma")
    {'p_alive': 'repeat', 'expected_purchases': 'repeat', 'expected_order_value': 'gammagamma', 'clv': 'baseline'}
    >>> clv_sources("p_alive=mbgnbd; purchases=bgnbd; clv=bgnbd+gammagamma")["expected_order_value"]
    'gammagamma'
    """
    if not model or "p_alive=" not in str(model):
        return None
    parts = dict(p.strip().split("=", 1) for p in str(model).split(";") if "=" in p)
    clv, value = parts.get("clv"), parts.get("order_value")
    if clv and "+" in clv:  # a transaction model's CLV: its purchases x the value model's order value
        clv, value = clv.split("+", 1)
    return {"p_alive": parts.get("p_alive"), "expected_purchases": parts.get("purchases"),
            "expected_order_value": value, "clv": clv}


def model_words(figure: str, model: str | None) -> str:
    """The model that gave ``figure`` (a :func:`clv_sources` key), in words: "BG/NBD", "the spend baseline"."""
    if model == "baseline":  # "the spend baseline": shopseg.predict._clv_backtest.BASELINE_NAMES without its gloss
        from ..predict._clv_backtest import BASELINE_NAMES

        return "the " + BASELINE_NAMES[figure].split(" (")[0] if figure in BASELINE_NAMES else "the baseline"
    return MODEL_WORDS.get(model, model) if model else "the value model"


def clv_is_product(sources: dict) -> bool:
    """Whether CLV is expected purchases x expected order value (discounted): one transaction model gave both
    CLV and the purchases (not the repeat model or the baseline, whose CLV is its own forecast of the spend)."""
    return sources["clv"] == sources["expected_purchases"] and sources["clv"] not in ("repeat", "baseline")


def clv_basis(sources: dict | None, horizon_days: float | None = None) -> str | None:
    """How the row's CLV relates to its expected purchases and expected order value, in one sentence (None without
    ``sources``): their product, discounted, when one transaction model gave both CLV and the purchases; otherwise
    CLV is its own model's forecast of the spend (the run's backtest chose a model per figure, docs/clv.md "One
    customer's figures"), and the sentence says that multiplying the other two gives another answer (also when the
    repeat model gave both CLV and the purchases: its CLV is its spend model's forecast, not its purchase days x
    the order value).

    >>> clv_basis(clv_sources("p_alive=repeat; purchases=repeat; clv=baseline; order_value=gammagamma"), 365)
    "CLV is the spend baseline's forecast of the spend in the next 365 days (the run's choice for CLV: model_decisions \
says why); expected purchases (the repeat model) x expected order value (Gamma-Gamma) is another forecast, so CLV is not \
their product."
    >>> clv_basis(clv_sources("p_alive=mbgnbd; purchases=bgnbd; clv=bgnbd+gammagamma"), 365)
    'CLV = expected purchases in the next 365 days (BG/NBD) x expected order value (Gamma-Gamma), discounted.'
    """
    if not sources or not sources.get("clv"):
        return None
    when = f"the next {horizon_days:g} days" if horizon_days else "the horizon"
    c, p, v = sources["clv"], sources["expected_purchases"], sources["expected_order_value"]
    if clv_is_product(sources):
        return (f"CLV = expected purchases in {when} ({model_words('expected_purchases', p)}) x expected order value "
                f"({model_words('expected_order_value', v)}), discounted.")
    return (f"CLV is {model_words('clv', c)}'s forecast of the spend in {when} (the run's choice for CLV: model_decisions "
            "says why); "
            f"expected purchases ({model_words('expected_purchases', p)}) x expected order value "
            f"({model_words('expected_order_value', v)}) is another forecast, so CLV is not their product.")


def shape(runs: dict, customer_id: str, got: dict) -> dict | None:
    """The view as a plain dict, keys in the API's ``CustomerView`` field order (the one place that shapes it);
    None when the workspace does not know the customer."""
    from ..predict._reconcile import WINDOW_SOURCES
    from ..predict.explain import status_line

    rid = runs["run_id"]
    live = got["live"]
    feats = _parsed(live["features"]) if live is not None else got["customer_features"]
    if feats is None and not got["n_customer_rows"]:
        return None
    names = runs.get("names", {})
    segs: dict[str, dict] = {}
    for source, rows in (("run", got["segments"]), ("live", got["live_segments"])):
        for r in rows or []:
            segs[r["scheme"]] = {"segment": r["segment"], "name": names.get((r["scheme"], r["segment"])),
                                 "source": source}
    churn = None
    if live is not None and live["churn"]:
        churn = {**_parsed(live["churn"]), "source": "live"}
    elif got["churn_scores"] is not None:
        g = got["churn_scores"]
        churn = {"probability": g.get("probability"), "tier": g.get("tier"),
                 "reasons": [g[k] for k in ("reason_1", "reason_2", "reason_3") if g.get(k)],
                 "model": g.get("model"), "source": "run"}
    clv = None
    # which model gave P(alive) and CLV: the run's choice, which a live re-score keeps
    sources = clv_sources((got["clv"] or {}).get("model"))
    p_alive_source, value_source = (None, None) if sources is None else (sources["p_alive"], sources["clv"])
    if live is not None and live["clv"]:
        clv = {**_parsed(live["clv"]), "source": "live"}
    elif got["clv"] is not None:
        clv = {k: got["clv"].get(k) for k in CLV_FIELDS}
        clv["source"] = "run"
    elif live is not None and runs.get("clv_note"):
        # no CLV row in the run (no sale by its as_of) and events cannot score one: no values, but why not
        clv = {**dict.fromkeys(CLV_FIELDS), "source": "run"}
    horizons = runs.get("horizons") or {}
    p_alive_days = horizons.get("p_alive") if p_alive_source in WINDOW_SOURCES else None
    if clv is not None:  # the API's CLVInfo field order: the values, p_alive_days, sources, basis, source, note
        horizon = (got["clv"] or {}).get("horizon_days") or ((runs.get("config") or {}).get("clv") or {}).get(
            "horizon_days")
        clv = {**{k: v for k, v in clv.items() if k not in ("p_alive_days", "sources", "basis", "source", "note")},
               "p_alive_days": p_alive_days,
               # each figure's model, and how CLV relates to the purchases and the order value (not always their
               # product: the run chose a model per figure)
               "sources": sources, "basis": clv_basis(sources, horizon), "source": clv["source"],
               # the service's: why events re-scored this customer but not their CLV (serve._state.clv_note)
               "note": runs.get("clv_note") if live is not None else None}
    lc, vt = segs.get("lifecycle"), segs.get("value_tier")
    status = None if lc is None and churn is None and clv is None else status_line(
        lc["segment"] if lc else None, churn_probability=(churn or {}).get("probability"),
        churn_tier=(churn or {}).get("tier"), p_alive=(clv or {}).get("p_alive"), p_alive_source=p_alive_source,
        value_tier=vt["segment"] if vt else None, value_source=value_source,
        recency_days=(feats or {}).get("recency_days"),
        cluster_name=(segs.get("cluster") or {}).get("name"),
        # each view's horizon, from the notes of the run shown (when it ran churn): "no order in the next 110 days"
        churn_horizon_days=horizons.get("churn") if churn is not None else None,
        p_alive_days=p_alive_days,
        churn_seen_recency_days=horizons.get("churn_seen_recency") if churn is not None else None)
    tables = runs["tables"]
    return {"customer_id": customer_id, "run_id": rid, "as_of": live["as_of"] if live else runs["as_of"],
            "live": live is not None, "features": feats, "segments": segs, "churn": churn, "clv": clv,
            "next_action": got["actions"],
            "recommendations": got["recommendations"] if tables.get("recommendations") is not None else None,
            "interests": got["customer_interests"] or [] if tables.get("customer_interests") is not None else None,
            "status": status}


def customer_view(con, customer_id: str, run_id: int | None = None) -> dict | None:
    """Everything known about one customer at ``run_id`` (default: the latest done run), or None when the
    workspace has no such customer. ``con``: the workspace's DuckDB connection (``ws.con``) or a cursor of it.

    >>> import tempfile, warnings
    >>> import shopseg
    >>> from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
    >>> from shopseg.pipeline import run_pipeline
    >>> ws = shopseg.open_workspace(tempfile.mkdtemp() + "/ws")
    >>> load_fixture_shop(ws)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     _ = run_pipeline(ws, FIXTURE_AS_OF, stages=["segments"])
    >>> v = customer_view(ws.con, "c01")
    >>> v["segments"]["rfm"]["segment"], v["features"]["frequency"], v["status"]
    ('Champions', 5, 'Active: no order for 6 days; value tier mid.')
    >>> customer_view(ws.con, "nobody") is None
    True
    >>> ws.close()
    """
    runs = read_runs(con, run_id)
    return shape(runs, customer_id, read_parts(con, runs, customer_id))


def not_planned(con, customer_id: str, run_id: int | None = None) -> list[str] | None:
    """Why the plan of ``run_id`` (default: the latest done run) has no action for ``customer_id``: one sentence
    per enabled campaign (:func:`shopseg.act.why_not.why_not_planned`); None when the customer has an action or
    no run planned actions.  Read on demand (the CLI's ``customer``, the dashboard's customer page), not part of
    :func:`customer_view`: it evaluates every campaign's conditions, which the API's hot path does not pay for."""
    from ..act.why_not import why_not_planned
    from ..workspace import Workspace

    runs = read_runs(con, run_id)
    plan = runs["tables"].get("actions")
    if plan is None or con.execute("SELECT 1 FROM actions WHERE run_id = ? AND customer_id = ? LIMIT 1",
                                   [plan, str(customer_id)]).fetchone():
        return None
    return why_not_planned(Workspace(Path("."), con), plan, str(customer_id))


def _money(v) -> str:
    return f"{v:,.2f}" if v is not None else "n/a"


def next_action_words(action: dict | None) -> str:
    """The planned next action in a sentence (no JSON): campaign, channel, offer, incentive, expected value and
    cost; a control customer is said to be held out.

    >>> next_action_words({"campaign": "vip", "channel": "direct_mail", "group": "treatment",
    ...                    "offer": "Double points", "incentive": 5.0, "expected_value": 2.74086, "cost": 0.05})
    'vip by direct mail: "Double points" (incentive 5.00). Expected value 2.74 at a cost of 0.05.'
    >>> next_action_words({"campaign": "vip", "group": "control"})
    "Held out of vip as a control customer: not contacted, so the campaign's effect can be measured."
    >>> next_action_words(None)
    'Nothing planned.'
    """
    if not action:
        return "Nothing planned."
    if action.get("group") == "control":
        return (f"Held out of {action.get('campaign')} as a control customer: not contacted, so the campaign's "
                "effect can be measured.")
    channel = str(action.get("channel") or "any channel").replace("_", " ")
    incentive = f" (incentive {action['incentive']:,.2f})" if action.get("incentive") else ""
    return (f"{action.get('campaign')} by {channel}: \"{action.get('offer')}\"{incentive}. Expected value "
            f"{_money(action.get('expected_value') or 0)} at a cost of {_money(action.get('cost') or 0)}.")


def recommendation_words(rec: dict) -> str:
    """A recommendation as people read it: the product's name (its id when it has none) and why.

    >>> recommendation_words({"product_id": "P1", "product_name": "Blue mug", "kind": "repeat",
    ...                       "reason": "you buy this every ~46 days"})
    'Blue mug (repeat: you buy this every ~46 days)'
    >>> recommendation_words({"product_id": "P2"})
    'P2'
    """
    name = rec.get("product_name") or rec.get("product_id") or "?"
    why = ": ".join(str(x) for x in (rec.get("kind"), rec.get("reason")) if x)
    return f"{name} ({why})" if why else str(name)
