"""Incremental refresh (#20 item 3): ``run_incremental`` against a full run that reuses the same models.

One demo shop (200 customers) run as of a week before its last day (run 1, the base); then, on two copies,
an incremental run and a full run as of the last day.  The full run reuses run 1's cluster and churn models
(their inputs barely drift in a week: checked), and the shop's rules do not depend on the population (RFM by
fixed cuts, fixed lifecycle windows: with the defaults a full run re-derives them from its own population,
docs/incremental.md), so for the customers the incremental run re-scores, both must agree; for the others
the incremental run keeps run 1's scores (docs/incremental.md says what a full run would move).
"""

from __future__ import annotations

import json
import shutil
import warnings
from datetime import datetime

import pandas as pd
import pytest

from shopseg.errors import ConfigError, ShopsegError
from shopseg.incremental import base_run, run_incremental, touched_customers
from shopseg.pipeline import parse_as_of, run_pipeline

from .conftest import with_workspace

BASE_AS_OF, AS_OF = "2024-12-24", "2024-12-31"
STAGES = ["clv", "segments", "drift", "churn", "baskets"]
RULES = {"segments": {"rfm": {"method": "cuts"}, "lifecycle": {"silent_days": 60, "churned_days": 180, "new_days": 30}}}



@pytest.fixture(scope="module")
def shops(tmp_path_factory):
    from shopseg.config import load_config
    from shopseg.synth import synthesize

    cfg = load_config(overrides=RULES)
    root = tmp_path_factory.mktemp("incr")
    base = root / "base"
    with_workspace(base, lambda ws: (synthesize(ws, customers=200, seed=5),
                                     run_pipeline(ws, BASE_AS_OF, stages=STAGES, config=cfg)))
    shutil.copytree(base, root / "incr")
    shutil.copytree(base, root / "full")
    incr = with_workspace(root / "incr", lambda ws: run_incremental(ws, AS_OF))
    full = with_workspace(root / "full", lambda ws: run_pipeline(ws, AS_OF, stages=STAGES, config=cfg))
    return {"incr": root / "incr", "full": root / "full", "base": base, "incr_result": incr, "full_result": full}


def _table(path, table, run_id):
    return with_workspace(path, lambda ws: ws.df(
        f'SELECT * EXCLUDE (run_id) FROM "{table}" WHERE run_id = ? ORDER BY ALL', [run_id]))


def _rescored(shops) -> list[str]:
    note = shops["incr_result"].stages["incremental"]
    assert note["status"] == "done" and note["base_run"] == 1
    ids = with_workspace(shops["incr"],
                         lambda ws: touched_customers(ws, parse_as_of(BASE_AS_OF), parse_as_of(AS_OF)))
    assert len(ids) == note["touched"]
    return ids


def test_the_full_run_beside_it_reuses_the_base_runs_models(shops):
    dec = with_workspace(shops["full"], lambda ws: ws.df(
        "SELECT model, action, source_run_id FROM model_decisions "
        "WHERE run_id = 2 AND model IN ('cluster', 'churn') ORDER BY model"))
    assert dec.to_dict("records") == [{"model": "churn", "action": "reused", "source_run_id": 1},
                                      {"model": "cluster", "action": "reused", "source_run_id": 1}]


def test_touched_customers_are_those_with_a_row_dated_after_the_base_run(shops):
    """Counted by hand in pandas: orders, events, reviews and sign-ups dated in (base as_of, as_of]."""
    lo, hi = parse_as_of(BASE_AS_OF), parse_as_of(AS_OF)

    def by_hand(ws):
        ids = set()
        for table, col in (("orders", "ordered_at"), ("events", "occurred_at"), ("reviews", "reviewed_at"),
                           ("customers", "signed_up_at")):
            df = ws.df(f'SELECT customer_id, "{col}" AS t FROM "{table}"')
            ids |= set(df.loc[(df["t"] > lo) & (df["t"] <= hi), "customer_id"].dropna().astype(str))
        return ids

    want = with_workspace(shops["incr"], by_hand)
    assert 10 < len(want) < 200  # a week of a 200-customer shop: some, not all
    assert set(_rescored(shops)) == want


def test_customer_features_equal_the_full_runs_row_for_row(shops):
    a, b = _table(shops["incr"], "customer_features", 2), _table(shops["full"], "customer_features", 2)
    assert len(a) == 200
    pd.testing.assert_frame_equal(a, b)


def test_itemsets_and_rules_equal_the_full_runs(shops):
    """The incremental run updated run 1's counts with the week's baskets (FUP), the full run mined again."""
    note = shops["incr_result"].stages["baskets"]["note"]
    assert note.startswith("counts of run 1's ") and "new baskets" in note, note
    assert shops["full_result"].stages["baskets"]["status"] == "done"
    for table in ("frequent_itemsets", "association_rules"):
        a, b = _table(shops["incr"], table, 2), _table(shops["full"], table, 2)
        assert len(a) > 0, table
        pd.testing.assert_frame_equal(a, b)
    # the baskets are kept once: run 2 stored only the week's, after run 1's store (kept); the full run's replaced it
    assert sorted(p.name for p in (shops["incr"] / "models").glob("*baskets*")) == [
        f"run-{r}-baskets{s}" for r in (1, 2) for s in (".meta.json", ".npz", ".sets.npz")]
    assert sorted(p.name for p in (shops["full"] / "models").glob("*baskets*")) == [
        f"run-2-baskets{s}" for s in (".meta.json", ".npz", ".sets.npz")]


def test_a_late_order_dated_before_the_base_run_makes_the_itemsets_mined_in_full(shops, tmp_path):
    """An order dated inside the base run's span, ingested after it, changes the old baskets: the stored
    counts cannot be updated, so the baskets stage mines them in full (said in the run's record)."""
    from shopseg.basket import frequent_itemsets
    from shopseg.config import load_config

    shutil.copytree(shops["base"], tmp_path / "late")

    def late(ws):
        k = ws.scalar("SELECT max(ingest_id) FROM ingest_log") + 1
        oid = ws.scalar("SELECT min(o.order_id) FROM orders o JOIN order_lines l USING (order_id) "
                        "WHERE o.kind = 'sale' AND o.ordered_at <= ?", [parse_as_of(BASE_AS_OF)])
        for t in ("orders", "order_lines"):
            ws.con.execute(f"INSERT INTO {t} SELECT * REPLACE (order_id || '-late' AS order_id, ? AS ingest_id) "
                           f"FROM {t} WHERE order_id = ?", [k, oid])
        res = run_incremental(ws, AS_OF)
        got = ws.df("SELECT array_to_string(items, ',') AS items, support, count FROM frequent_itemsets "
                    "WHERE run_id = ? ORDER BY ALL", [res.run_id])
        want = frequent_itemsets(ws, as_of=parse_as_of(AS_OF), config=load_config(overrides=RULES))
        want["items"] = want["items"].map(",".join)
        return res, got, want[["items", "support", "count"]].sort_values(["items", "support", "count"])

    res, got, want = with_workspace(tmp_path / "late", late)
    assert res.stages["baskets"]["note"].startswith("mined in full: old baskets changed"), res.stages["baskets"]
    assert got["count"].sum() == want["count"].sum() and len(got) == len(want)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False)


def test_rescored_customers_score_as_in_the_full_run_that_reuses_the_same_models(shops):
    """Churn probability and tier, RFM scores, RFM segment, lifecycle stage and cluster of every re-scored
    customer.  (Value tiers rank a customer against a population: run 1's here, as the live service does, the
    full run's own there.)"""
    ids = set(_rescored(shops))
    moved = shops["incr_result"].stages["incremental"]["moved_by_date"]
    assert moved >= 0
    for table, cols in (("churn_scores", ["probability", "tier"]), ("rfm_scores", ["r_score", "f_score", "m_score"])):
        a = _table(shops["incr"], table, 2).set_index("customer_id")
        b = _table(shops["full"], table, 2).set_index("customer_id")
        common = sorted(ids & set(a.index))
        assert len(common) > 10, table
        pd.testing.assert_frame_equal(a.loc[common, cols], b.loc[common, cols], check_exact=False, rtol=1e-9)
    a, b = _table(shops["incr"], "segments", 2), _table(shops["full"], "segments", 2)
    for scheme in ("rfm", "lifecycle", "cluster"):
        x = a[(a["scheme"] == scheme) & a["customer_id"].isin(ids)].reset_index(drop=True)
        y = b[(b["scheme"] == scheme) & b["customer_id"].isin(ids)].reset_index(drop=True)
        pd.testing.assert_frame_equal(x, y)


def test_the_scores_read_the_scored_customers_lines_from_one_table_with_the_same_answers(shops, tmp_path):
    """``write_scored`` hands the scores a reader whose restricted reads take the customers' order lines from one
    temp table (``scored_lines``): the CLV, churn and segment answers (the interest labels among them) equal
    those read from ``order_lines``; churn's extras too.  And that table is what they read: emptied, the CLV
    answers, the interest labels and churn's spend columns change, while the workspace itself still reads
    ``order_lines``."""
    from shopseg.incremental import scored_lines
    from shopseg.pipeline import registered_stages
    from shopseg.predict._churn_data import cutoff_frame
    from shopseg.runner import load_states, score

    shutil.copytree(shops["base"], tmp_path / "ws")
    when = parse_as_of(AS_OF)

    def check(ws):
        rid, as_of, cfg = base_run(ws)
        served = load_states(registered_stages(), ws, rid, as_of, cfg)
        ids = touched_customers(ws, as_of, when)
        assert len(ids) > 10

        def answers(reader):
            got = score(served, reader, ids, when)
            extras = cutoff_frame(reader, when, 90, cfg, customers=ids, shop_gap=30.0)
            return ({k: got[k] for k in ("clv", "churn")},
                    {c: a["segments"] for c, a in got["segments"].items()}, extras)

        plain = answers(ws)
        reader = scored_lines(ws, ids)
        assert (reader.lines, ws.lines, reader.con) == ("_incr_lines", "order_lines", ws.con)
        assert ws.scalar("SELECT count(*) FROM _incr_lines") == ws.scalar(
            "SELECT count(*) FROM order_lines JOIN orders USING (order_id) WHERE customer_id IN (SELECT unnest(?))",
            [ids]) > 0
        same = answers(reader)
        assert same[:2] == plain[:2]
        pd.testing.assert_frame_equal(same[2], plain[2], check_exact=True)
        ws.con.execute("DELETE FROM _incr_lines")
        empty = answers(reader)
        assert empty[0]["clv"] != plain[0]["clv"]
        assert [a.get("interest") for a in empty[1].values()] != [a.get("interest") for a in plain[1].values()]
        assert not empty[2]["spend_recent"].equals(plain[2]["spend_recent"])
        assert answers(ws)[:2] == plain[:2]  # the workspace itself reads order_lines

    with_workspace(tmp_path / "ws", check)


def test_reading_lines_names_the_readers_table_only_where_it_has_another():
    from shopseg.workspace import Workspace, reading_lines

    sql = "SELECT * FROM orders o JOIN order_lines l USING (order_id) JOIN my_order_lines x ON TRUE"
    assert reading_lines(sql, object()) == sql  # a connection or the live service's store: unchanged
    ws = Workspace.__new__(Workspace)
    assert reading_lines(sql, ws) == sql
    ws.path, ws.con, ws.on_close = "p", "c", []
    other = ws.with_lines("_lines")
    assert (other.lines, other.path, other.con, ws.lines) == ("_lines", "p", "c", "order_lines")
    assert reading_lines(sql, other) == sql.replace(" order_lines ", " _lines ")


def test_the_weeks_last_buyers_read_their_recency_by_hand_and_score_r5(shops):
    """Hand-checkable: recency counts calendar days from the last sale day to as_of; by the fixed cuts
    (30, 90, 180, 365 days) a recency of at most 30 days scores r = 5."""
    def check(ws):
        day = ws.scalar("SELECT max(CAST(ordered_at AS DATE)) FROM orders WHERE kind = 'sale' AND ordered_at <= ?",
                        [parse_as_of(AS_OF)])
        buyers = [r[0] for r in ws.sql("SELECT DISTINCT customer_id FROM orders WHERE kind = 'sale' "
                                       "AND CAST(ordered_at AS DATE) = ?", [day])]
        got = ws.df("SELECT f.customer_id, recency_days, r_score FROM customer_features f JOIN rfm_scores r "
                    "USING (run_id, customer_id) WHERE run_id = 2").set_index("customer_id")
        return day, buyers, got

    day, buyers, got = with_workspace(shops["incr"], check)
    assert day > parse_as_of(BASE_AS_OF).date() and buyers
    days = (parse_as_of(AS_OF).date() - day).days
    assert [int(got.at[b, "recency_days"]) for b in buyers] == [days] * len(buyers)
    assert [int(got.at[b, "r_score"]) for b in buyers] == [5] * len(buyers)


def test_the_others_keep_the_base_runs_scores_and_none_crossed_a_lifecycle_window(shops):
    """Every customer not re-scored: run 1's rows in run 2; and scoring all of them anew as of the last day
    with run 1's state (the live path, customer by customer) moves no one's lifecycle stage (the gold check of
    the date-moved set)."""
    from shopseg.pipeline import registered_stages
    from shopseg.runner import load_states, score

    stages = shops["incr_result"].stages["incremental"]
    ids = set(_rescored(shops))

    def check(ws):
        moved = {str(c) for (c,) in ws.sql(
            "SELECT a.customer_id FROM segments a JOIN segments b USING (customer_id, scheme) "
            "WHERE a.run_id = 2 AND b.run_id = 1 AND a.scheme = 'lifecycle' AND a.segment <> b.segment")}
        rest = [str(c) for (c,) in ws.sql("SELECT customer_id FROM customer_features WHERE run_id = 1")
                if str(c) not in ids | moved]
        for table in ("segments", "rfm_scores", "clv", "churn_scores"):
            old = ws.df(f"SELECT * EXCLUDE (run_id) FROM {table} WHERE run_id = 1 ORDER BY ALL")
            new = ws.df(f"SELECT * EXCLUDE (run_id) FROM {table} WHERE run_id = 2 ORDER BY ALL")
            pd.testing.assert_frame_equal(old[old["customer_id"].isin(rest)].reset_index(drop=True),
                                          new[new["customer_id"].isin(rest)].reset_index(drop=True))
        as_of = ws.scalar("SELECT as_of FROM runs WHERE run_id = 1")
        served = load_states(registered_stages(), ws, 1, as_of, base_run(ws)[2])
        got = score(served, ws, rest, parse_as_of(AS_OF))["segments"]
        old = dict(ws.sql("SELECT customer_id, segment FROM segments WHERE run_id = 1 AND scheme = 'lifecycle'"))
        return moved, {c for c in rest if got[c]["segments"].get("lifecycle") != old[c]}

    moved, crossed = with_workspace(shops["incr"], check)
    assert crossed == set()
    assert len(moved - ids) == stages["moved_by_date"]


def test_other_settings_are_refused_and_a_workspace_without_a_run_says_what_to_do(shops, tmp_path):
    from shopseg.config import load_config

    cfg = load_config(overrides={**RULES, "drift": {"refit_psi": 0.5}})
    with pytest.raises(ConfigError, match="reuses run 2's settings"):
        with_workspace(shops["incr"], lambda ws: run_incremental(ws, AS_OF, config=cfg))
    with pytest.raises(ConfigError, match="expected an as_of on or after it"):
        with_workspace(shops["incr"], lambda ws: run_incremental(ws, "2024-12-01"))
    with pytest.raises(ShopsegError, match="needs a finished run"):
        with_workspace(tmp_path / "empty", lambda ws: run_incremental(ws, datetime(2024, 1, 1)))


def test_a_reused_model_whose_inputs_drifted_gives_way_to_a_full_run_that_says_so(shops, tmp_path):
    """Run 1's settings with drift.refit_psi at 1e-9: a week's drift is above it, so the incremental run is
    discarded and a full run refits."""
    path = tmp_path / "ws"
    shutil.copytree(shops["base"], path)

    def go(ws):
        cfg = json.loads(ws.scalar("SELECT config FROM runs WHERE run_id = 1"))
        cfg.setdefault("drift", {})["refit_psi"] = 1e-9
        ws.con.execute("UPDATE runs SET config = ? WHERE run_id = 1", [json.dumps(cfg)])
        res = run_incremental(ws, AS_OF)
        runs = ws.sql("SELECT run_id, status FROM runs ORDER BY run_id")
        dec = ws.sql("SELECT model, action FROM model_decisions WHERE run_id = ? AND model IN ('cluster', 'churn') "
                     "ORDER BY model", [res.run_id])
        left = ws.scalar("SELECT count(*) FROM customer_features WHERE run_id = 2")
        return res, runs, dec, left

    res, runs, dec, left = with_workspace(path, go)
    assert "a full run instead" in res.stages["incremental"]["note"] and "drifted" in res.stages["incremental"]["note"]
    assert runs == [(1, "done"), (2, "failed"), (3, "done")] and res.run_id == 3 and left == 0
    assert dec == [("churn", "refitted"), ("cluster", "refitted")]


def test_the_service_scores_against_the_incremental_run_with_the_models_it_reused(shops):
    """The incremental run stores the base's models as its own (fitted_run_id 1): the live path loads run 2
    and scores its re-scored customers' churn as run 2 stored it."""
    from shopseg import models
    from shopseg.pipeline import registered_stages
    from shopseg.runner import load_states, score

    ids = _rescored(shops)

    def go(ws):
        metas = {m["name"]: m["fitted_run_id"] for m in models.entries(ws) if m["run_id"] == 2}
        served = load_states(registered_stages(), ws, 2, parse_as_of(AS_OF), base_run(ws)[2])
        got = score(served, ws, ids, parse_as_of(AS_OF))["churn"]
        want = ws.df("SELECT customer_id, probability, tier FROM churn_scores WHERE run_id = 2").set_index("customer_id")
        return metas, served, got, want

    metas, served, got, want = with_workspace(shops["incr"], go)
    assert metas.get("churn") == 1 and metas.get("clusters") == 1
    assert served.states["churn"] is not None and served.states["segments"].cluster_model is not None
    scored = [c for c in ids if c in want.index]
    assert len(scored) > 10
    assert [round(got[c]["probability"], 12) for c in scored] == [round(float(want.at[c, "probability"]), 12)
                                                                  for c in scored]


def test_the_command_line_runs_an_incremental_refresh_and_refuses_what_it_cannot_do(shops, tmp_path, monkeypatch):
    """... and shows its status line unless --quiet (as a full run's progress bar)."""
    from contextlib import nullcontext

    from typer.testing import CliRunner

    from shopseg.cli import app, runs

    shown = []
    monkeypatch.setattr(runs.console, "status", lambda text, **kw: shown.append(text) or nullcontext())
    cli = CliRunner()
    for flags in ([], ["--quiet"]):
        path = tmp_path / f"ws{len(flags)}"
        shutil.copytree(shops["base"], path)
        bad = cli.invoke(app, [*flags, "--workspace", str(path), "run", "--incremental", "--refit", "--no-report"])
        assert bad.exit_code == 2 and "--incremental takes no --stage, --refit" in bad.output
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = cli.invoke(app, [*flags, "--workspace", str(path), "run", "--incremental", "--as-of", AS_OF,
                                 "--no-report"])
        assert r.exit_code == 0, r.output
        assert "Run 2 as of 2024-12-31: done" in r.output
        assert ("re-scored with run 1's models" in r.output) == (not flags)
        assert shown == ["incremental refresh ..."]


def test_the_base_runs_settings_come_back_whole_from_their_differences_to_the_defaults(shops):
    """base_run gives the config only the settings that differ from the defaults (so loading it imports only
    their sections' owners); merged over the defaults they are the stored settings, hash included."""
    from shopseg.config import defaults
    from shopseg.incremental import changed

    stored = with_workspace(shops["base"],
                            lambda ws: json.loads(ws.scalar("SELECT config FROM runs WHERE run_id = 1")))
    diff = changed(stored, defaults())
    assert diff == {"segments": {"rfm": {"method": "cuts"}, "lifecycle": {"silent_days": 60, "churned_days": 180,
                                                                          "new_days": 30}}}
    _, _, cfg = with_workspace(shops["base"], base_run)
    assert cfg.as_dict() == stored and cfg.to_json() == json.dumps(stored, sort_keys=True, separators=(",", ":"))


def test_the_baskets_executor_says_why_it_mined_in_full_also_when_the_mining_skips_or_fails():
    """The executor bound into the baskets stage (incremental._update_or_mine): no earlier run holds itemsets, so
    the registered mining runs; its own note comes after the reason, a skip's before it (the status stays
    'skipped'), a ModelFitError carries the reason in its message."""
    from types import SimpleNamespace

    from shopseg.errors import ModelFitError
    from shopseg.incremental import _update_or_mine

    ctx = SimpleNamespace(runs=SimpleNamespace(of=lambda table: None))
    why = "mined in full: no earlier run holds itemsets"
    assert _update_or_mine(lambda c: {"frequent_itemsets": 3, "note": "min support 0.01"})(ctx) == {
        "frequent_itemsets": 3, "note": f"{why}; min support 0.01"}
    assert _update_or_mine(lambda c: None)(ctx) == {"note": why}
    assert _update_or_mine(lambda c: {"note": "skipped: no sale baskets"})(ctx)["note"] == \
        f"skipped: no sale baskets; {why}"

    def fails(c):
        raise ModelFitError("too few baskets", hint="lower baskets.min_support")

    with pytest.raises(ModelFitError, match=f"too few baskets \\({why}\\)") as err:
        _update_or_mine(fails)(ctx)
    assert err.value.hint == "lower baskets.min_support"


# --- the features of an incremental run: the touched computed, the rest moved by the date -------------------

def _fixture_with_edge_cases(tmp_path):
    """The fixture shop plus customers whose base row cannot simply be moved by the date: x1 (two orders on one
    day: no closed gap, mean = recency), x2 (a sign-up without a date and nothing else: tenure 0), x3 (its only
    order at exactly the base as_of, which the base did not read)."""
    from shopseg.fixtures import load_fixture_shop
    from shopseg.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws")
    load_fixture_shop(ws)
    ws.con.execute("INSERT INTO customers (customer_id, signed_up_at) VALUES ('x1', NULL), ('x2', NULL), ('x3', NULL)")
    for oid, cust, at in (("o-x1a", "x1", "2024-03-01 09:00"), ("o-x1b", "x1", "2024-03-01 17:00"),
                          ("o-x3", "x3", "2024-06-11 00:00")):
        ws.con.execute("INSERT INTO orders (order_id, customer_id, ordered_at, kind, discount_amount, shipping_amount) "
                       "VALUES (?, ?, CAST(? AS TIMESTAMP), 'sale', 0.0, 0.0)", [oid, cust, at])
        ws.con.execute("INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price, discount_amount) "
                       "VALUES (?, 1, 'p04', 2, 10.0, 0.0)", [oid])
    return ws


def test_features_carry_the_untouched_base_rows_moved_by_the_date_and_equal_the_batch(tmp_path):
    from shopseg.config import load_config
    from shopseg.features import customer_features
    from shopseg.features_refresh import features_of, refresh_features

    ws = _fixture_with_edge_cases(tmp_path)
    try:
        cfg, base_at, at = load_config(), datetime(2024, 6, 11), datetime(2024, 7, 1)
        customer_features(ws, base_at, 1, config=cfg)
        ws.con.execute("INSERT INTO customers (customer_id, signed_up_at) VALUES ('x4', NULL)")  # came after run 1
        touched = touched_customers(ws, base_at, at)
        columns, how = refresh_features(ws, at, 2, 1, base_at, cfg, None, touched)
        full = customer_features(ws, at, 3, config=cfg)
        assert columns == list(full.columns)
        got = features_of(ws, 2, columns, full["customer_id"].tolist())
        pd.testing.assert_frame_equal(got, full)
        # a few customers' rows read back: the same rows, in customer order
        some = features_of(ws, 2, columns, ["x3", "c02", "nobody"])
        pd.testing.assert_frame_equal(some, full[full["customer_id"].isin(["c02", "x3"])].reset_index(drop=True))
        stored = ws.df("SELECT * EXCLUDE (run_id) FROM customer_features WHERE run_id = 2 ORDER BY customer_id")
        pd.testing.assert_frame_equal(stored, full.reset_index(drop=True), check_dtype=False)
        # x3's order is dated exactly at the base as_of: run 1 did not read it (strictly before), so it is touched
        assert "x3" in touched and "x1" not in touched
        # computed: the touched, x1 (mean = recency), x2 (tenure 0), x4 (new)
        assert how == {"mode": "incremental", "computed": len(set(touched) | {"x1", "x2", "x3", "x4"}),
                       "carried": len(full) - len(set(touched) | {"x1", "x2", "x3", "x4"})}
        assert how["carried"] > 0
        # by hand, an untouched buyer: 20 days later, recency and tenure 20 days more, the rest as stored
        before = ws.df("SELECT * FROM customer_features WHERE run_id = 1 AND customer_id = 'c02'").iloc[0]
        after = got.set_index("customer_id").loc["c02"]
        assert "c02" not in touched
        assert (after["recency_days"], after["tenure_days"]) == (before["recency_days"] + 20, before["tenure_days"] + 20)
        assert after["monetary_total"] == before["monetary_total"]
    finally:
        ws.close()


def test_features_fall_back_to_the_batch_sql_when_the_base_rows_cannot_be_carried(tmp_path):
    """Top categories that changed between the dates, or a base run without features: all computed, and why."""
    from shopseg.config import load_config
    from shopseg.features import customer_features
    from shopseg.features_refresh import features_of, refresh_features

    ws = _fixture_with_edge_cases(tmp_path)
    try:
        cfg, at = load_config(), datetime(2024, 7, 1)
        customer_features(ws, datetime(2024, 5, 2), 1, config=cfg)  # top categories then: not those of July
        columns, how = refresh_features(ws, at, 2, 1, datetime(2024, 5, 2), cfg, None, [])
        assert how["mode"] == "full" and "top categories" in how["why"] and how["carried"] == 0
        full = customer_features(ws, at, config=cfg)
        pd.testing.assert_frame_equal(features_of(ws, 2, columns, full["customer_id"].tolist()), full)
        _, how = refresh_features(ws, at, 4, 9, datetime(2024, 6, 11), cfg, None, [])
        assert how["mode"] == "full" and how["why"] == "run 9 has no customer_features rows"
    finally:
        ws.close()


def test_the_incremental_run_records_how_it_made_the_features(shops):
    feat = shops["incr_result"].stages["incremental"]["features"]
    assert feat["mode"] == "incremental" and feat["carried"] > 0
    assert feat["computed"] + feat["carried"] == 200 and 0 < feat["computed"] < 200


def test_the_run_records_note_says_how_many_features_were_computed_or_why_all_were():
    from shopseg.incremental import _features_note

    assert _features_note({"mode": "incremental", "computed": 990, "carried": 42730}, 3) == \
        "features of 990 customers computed, 42730 carried from run 3 moved by the date"
    assert _features_note({"mode": "full", "computed": 200, "carried": 0, "why": "run 9 has no customer_features rows"},
                          9) == "features of all 200 customers computed (run 9 has no customer_features rows)"
