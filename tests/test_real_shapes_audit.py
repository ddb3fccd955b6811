"""Defects session 15's audit found on shapes of real shops (Online Retail cut to 200 customers, to its 100 top
wholesalers, to its last 90 days, and run as of long after its last order; a 300-person slice of Olist; CDNOW),
each reproduced on a small generated shop or made-up arrays (fast, no data), and Online Retail's last 90 days on
the real file (skipped without $SHOPSEG_DATA)."""

from __future__ import annotations

import warnings
from datetime import date

import pytest

from typer.testing import CliRunner

from shopseg import open_workspace
from shopseg.cli import app
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
        cid, day = ws.sql("SELECT customer_id, CAST(expected_next_order_at AS DATE) FROM clv WHERE run_id = ? AND "
                          "expected_next_order_at IS NOT NULL ORDER BY customer_id LIMIT 1", [r1.run_id])[0]
        r2 = _run(ws, "2025-12-31", ["measure"])
        assert r2.status == "done", r2.stages
        assert r2.stages["measure"]["measured_runs"] == []
        # and the run says how far its date is from the shop's last sale (it said nothing of it)
        last = ws.scalar("SELECT max(ordered_at) FROM orders WHERE kind = 'sale'")
        assert r2.note == (f"as_of is {(date(2025, 12, 31) - last.date()).days:,} days after the last sale order "
                           f"({last:%Y-%m-%d}): every customer has been silent at least that long")
        assert r1.note is None
        assert _run(ws, "2020-01-01", ["measure"]).note.startswith("as_of is before the first sale order (")
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
    # `shopseg customer` (as of run 3, which kept run 1's clv): the next-order date as a day; it printed
    # "2012-01-19 16:26:00.310456" (Online Retail, 200 customers)
    res = CliRunner().invoke(app, ["-w", str(tmp_path / "ws"), "customer", cid])
    assert res.exit_code == 0 and f"  next order  {day:%Y-%m-%d}\n" in res.output, res.output


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
        # the report said "Used, after a backtest against the naive baseline" of these untested predictions too
        from shopseg.report import build_report

        text = build_report(ws, res.run_id, tmp_path / "r.html").read_text(encoding="utf-8")
        assert "after a backtest against the naive baseline" not in text
        assert ("Used, not backtested against the naive baseline: P(alive) from baseline (untested); expected "
                "purchases from baseline (untested); CLV from baseline (untested). Why: recency baseline (days since "
                "the last purchase), scaled to the level of the 90-day validation window (0 of ") in text
    finally:
        ws.close()


def test_churn_steps_aside_when_a_naive_ranking_beats_the_model_it_would_use():
    """The check itself, on a made-up validation window: the fewest-orders ranking is right, the model's score is
    noise (the model would be used), so the stage raises ModelFitError (skipped, saying why); a model at least as
    good as both naive rankings passes."""
    import numpy as np
    import pandas as pd

    from shopseg.errors import ModelFitError
    from shopseg.predict.churn import _naive_check

    rng = np.random.default_rng(0)
    n = 400
    freq = rng.integers(1, 10, n).astype(float)
    y = (rng.random(n) < 1 / (1 + np.exp(freq - 4))).astype(int)  # fewer orders, more churn
    valid = pd.DataFrame({"recency_days": np.full(n, 30.0), "frequency": freq})  # recency says nothing here
    c = {"backtest_resamples": 200, "random_state": 0, "backtest_confidence": 0.95}
    with pytest.raises(ModelFitError, match=r"naive ranking by fewest orders \(ROC-AUC 0\.\d+\) beats the lightgbm "
                                            r"model \(0\.\d+\) in 100% of 200 resamples \(the training window has "
                                            r"130 labelled customers\); no churn risk is given"):
        _naive_check(y, rng.random(n), valid, "lightgbm", 130, c, "hint")
    _naive_check(y, -freq + rng.random(n) * 0.1, valid, "lightgbm", 130, c, "hint")  # as good: used


def test_online_retails_last_90_days_gets_no_churn_risk_that_fewest_orders_beats(tmp_path):
    """Online Retail's last 90 days (real data; skipped without it): the 44-day horizon leaves a training window
    of 130 customers with two days of history; LightGBM (validation ROC-AUC 0.544) was used because it beat a
    logistic baseline that learned it upside down (0.423), where ranking by fewest orders gives 0.638."""
    import duckdb

    from shopseg.ingest import ingest

    from .conftest import shared_file

    src = shared_file("online_retail", "online_retail.parquet")
    part = tmp_path / "last90.parquet"
    duckdb.sql(f"COPY (SELECT * FROM '{src}' WHERE InvoiceDate > (SELECT max(InvoiceDate) FROM '{src}') "
               f"- INTERVAL 90 DAY) TO '{part}' (FORMAT parquet)")
    with open_workspace(tmp_path / "ws") as ws:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ingest(ws, part)
        res = _run(ws, "2011-12-09", ["churn"])
        st = res.stages["churn"]
        assert res.status == "done" and st["status"] == "skipped", st
        assert ("naive ranking by fewest orders (ROC-AUC 0.638) beats the lightgbm model (0.544) in 100% of 200 "
                "resamples (the training window has 130 labelled customers)") in st["note"]
        assert not ws.has_table("churn_scores") or ws.scalar(
            "SELECT count(*) FROM churn_scores WHERE run_id = ?", [res.run_id]) == 0


def test_a_stage_skipped_in_a_later_run_does_not_lend_an_earlier_runs_rows(tmp_path):
    """Online Retail (200 customers) as of 2011-12-09, then as of 2013-06-30, where churn is skipped (597 churned, 0
    retained): `shopseg customer 12370` showed "no order for 620 days; churn risk 17% (low)" with the reason "last
    order 51 days ago": run 1's churn scores, and the act stage read them too. A stage the run skipped gives none;
    one the run left out (--stage) still shows the earlier run's."""
    from shopseg.views import customer_view

    ws = _synth(tmp_path / "ws", 150, 3)
    try:
        ws.con.execute("DELETE FROM orders WHERE ordered_at >= CAST(? AS DATE) + 1", [AS_OF])
        r1 = _run(ws, AS_OF, ["segments", "clv", "churn", "act"])
        assert r1.stages["churn"]["status"] == "done"
        r2 = _run(ws, "2025-12-31", ["segments", "clv", "churn", "act"])
        assert r2.stages["churn"]["status"] == "skipped", r2.stages["churn"]
        assert r2.stages["act"]["missing_inputs"] == ["churn_scores"]
        cid = ws.scalar("SELECT min(customer_id) FROM churn_scores WHERE run_id = ?", [r1.run_id])
        assert customer_view(ws.con, cid)["churn"] is None
        r3 = _run(ws, "2025-12-31", ["segments"])  # churn not part of this run: run 1's scores still shown
        assert customer_view(ws.con, cid, r3.run_id)["churn"]["probability"] == pytest.approx(ws.scalar(
            "SELECT probability FROM churn_scores WHERE run_id = ? AND customer_id = ?", [r1.run_id, cid]))
    finally:
        ws.close()
