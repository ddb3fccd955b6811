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
