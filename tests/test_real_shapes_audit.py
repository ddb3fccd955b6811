"""Shapes of real shops found by session 15's audit (Online Retail cut to 200 customers, 100 wholesalers, its last 90
days, an as_of long after the last order; a 300-person slice of Olist; CDNOW), each reproduced here on a small
generated shop so the test is fast and needs no data."""

from __future__ import annotations

import warnings

from shopseg import open_workspace
from shopseg.pipeline import run_pipeline

AS_OF = "2024-06-30"


def _synth(path, customers: int, seed: int):
    from shopseg.synth import synthesize

    ws = open_workspace(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synthesize(ws, customers=customers, seed=seed, as_of=AS_OF)
    return ws


def _run(ws, as_of, stages):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_pipeline(ws, as_of, stages=list(stages))


def test_a_run_long_after_the_last_order_does_not_fail_on_an_earlier_runs_actions(tmp_path):
    """Online Retail (200 customers) run as of 2011-12-09, then as of 2013-06-30: the measure stage raised "No
    order after run 1's as_of ... nothing to measure" and the whole run 2 failed (exit 2). Run 1 is left for a
    later run, and said; once an order after its as_of is in, it is measured."""
    ws = _synth(tmp_path / "ws", 150, 3)
    try:
        ws.con.execute("DELETE FROM orders WHERE ordered_at >= CAST(? AS DATE) + 1", [AS_OF])  # the shop stops
        r1 = _run(ws, AS_OF, ["segments", "clv", "churn", "act"])
        assert r1.status == "done" and ws.scalar("SELECT count(*) FROM actions WHERE run_id = ?", [r1.run_id]) > 0
        r2 = _run(ws, "2025-12-31", ["measure"])
        assert r2.status == "done", r2.stages
        assert r2.stages["measure"]["measured_runs"] == []
        assert r2.stages["measure"]["not_measured"] == (
            f"run {r1.run_id}: no order after its as_of (2024-06-30) in the workspace yet")
        # an order of the response window arrives: the next run measures run 1
        cust = ws.scalar("SELECT min(customer_id) FROM actions WHERE run_id = ?", [r1.run_id])
        ws.con.execute("INSERT INTO orders (order_id, customer_id, ordered_at, kind) "
                       "VALUES ('late1', ?, TIMESTAMP '2024-07-05 10:00:00', 'sale')", [cust])
        r3 = _run(ws, "2025-12-31", ["measure"])
        assert r3.status == "done" and r3.stages["measure"]["measured_runs"] == [r1.run_id]
        assert "not_measured" not in r3.stages["measure"]
    finally:
        ws.close()


def test_a_window_where_nobody_bought_scales_the_baseline_to_its_level_not_an_untested_model(tmp_path):
    """Online Retail (200 customers) as of 2013-06-30, 18 months after its last order: the 90-day window before
    as_of has 199 earlier buyers and none bought, too few of one outcome to backtest, and BG/NBD was used untested:
    P(alive) 0.94 for 'Lost', 0.02 for 'Champions' (its P(alive) is 1 for a one-time buyer). Olist's 300-person
    slice (2 of 208 bought) and 100 wholesalers (97 of 98) fell to the uncalibrated exp(-silence x rate): 0.51 and
    a next-order date for a one-time buyer silent 483 days. Now the baseline, scaled to the window's level. (This
    generated shop 14 months after its last order reproduces the uncalibrated branch: BG/NBD is degenerate on it.)"""
    from shopseg.refit import decisions

    ws = _synth(tmp_path / "ws", 150, 3)
    try:
        ws.con.execute("DELETE FROM orders WHERE ordered_at >= CAST(? AS DATE) + 1", [AS_OF])
        res = _run(ws, "2025-08-31", ["clv", "segments"])
        assert res.status == "done", res.stages
        d = decisions(ws, res.run_id).set_index("model")
        for pred in ("p_alive", "expected_purchases", "clv"):
            assert d.loc[pred, "candidate"] == "baseline" and d.loc[pred, "metric"] is None
            assert "scaled to the level of the 90-day validation window (0 of " in d.loc[pred, "decision"]
            assert "none is used untested" in d.loc[pred, "decision"]
        assert "(not backtested: the validation window has too few of one outcome" in res.stages["clv"]["used"]
        # nobody bought for 14 months: P(a purchase in 90 days) near 0 for everyone, no next order, CLV small
        # beside what the buyers spent before (the level: half a buyer of prior among the window's buyers)
        p_max, n_next, clv_max = ws.sql("SELECT max(p_alive), count(expected_next_order_at), max(clv) FROM clv "
                                        "WHERE run_id = ?", [res.run_id])[0]
        assert p_max < 0.05 and n_next == 0
        spent = ws.scalar("SELECT max(s) FROM (SELECT o.customer_id, sum(l.quantity * l.unit_price) AS s "
                          "FROM orders o JOIN order_lines l USING (order_id) WHERE o.kind = 'sale' GROUP BY 1)")
        assert clv_max < 0.1 * spent
    finally:
        ws.close()
