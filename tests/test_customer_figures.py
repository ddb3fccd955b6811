"""One customer's figures tell one story: the CLV row names the model of each figure and says whether CLV is
expected purchases x expected order value (predict/_clv_scorer.py, views/customer.py), and the churn risk beside a
lifecycle stage it contradicts says why (predict/_status.py).  Tiny hand-made workspaces, expected values here."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

from shopseg import open_workspace

AS_OF = datetime(2024, 6, 30, 23, 59, 59, 999999)
# Online Retail's customer 13684 as of 2011-12-09 until session 17: P(alive) and purchases from the repeat model, CLV
# from the spend baseline, order value from Gamma-Gamma: 1.49 x 415.34 = 618, but CLV 1,080.25
MIXED = "p_alive=repeat; purchases=repeat; clv=baseline; order_value=gammagamma"


def _clv_row(ws, model: str, clv: float = 1080.25, eph: float = 1.487221, value: float = 415.343233):
    ws.con.execute("INSERT INTO customers (customer_id) VALUES ('a')")
    ws.con.register("_v", pd.DataFrame({
        "customer_id": ["a"], "p_alive": [0.17], "expected_purchases_90d": [0.37],
        "expected_purchases_horizon": [eph], "expected_order_value": [value], "clv": [clv], "horizon_days": [365.0],
        "expected_next_order_at": [pd.NaT], "model": [model]}))
    ws.write_output("clv", 1, "SELECT * FROM _v")
    ws.con.unregister("_v")
    ws.con.execute("INSERT INTO runs (run_id, as_of, stages, status) VALUES (1, ?, '{}', 'done')", [AS_OF])


def test_the_clv_rows_model_names_the_order_values_model_when_clv_is_not_their_product():
    from shopseg.predict._clv_scorer import ClvScorer

    settings = {"horizon_days": 365, "discount_rate_annual": 0.1, "min_p_alive": 0.5, "time_unit": "D"}
    mixed = ClvScorer({"p_alive": "repeat", "expected_purchases": "repeat", "clv": "baseline"}, settings)
    assert mixed.label == MIXED
    tm = ClvScorer({"p_alive": "mbgnbd", "expected_purchases": "bgnbd", "clv": "bgnbd"}, settings,
                   value_name="meanspend")
    assert tm.label == "p_alive=mbgnbd; purchases=bgnbd; clv=bgnbd+meanspend"


def test_a_customer_whose_clv_is_not_purchases_times_order_value_is_told_so_with_each_figures_model(tmp_path):
    from shopseg.serve.models import CustomerView
    from shopseg.views.customer import customer_view

    with open_workspace(tmp_path / "ws") as ws:
        _clv_row(ws, MIXED)
        clv = customer_view(ws.con, "a")["clv"]
        assert clv["sources"] == {"p_alive": "repeat", "expected_purchases": "repeat",
                                  "expected_order_value": "gammagamma", "clv": "baseline"}
        assert clv["expected_purchases_horizon"] == pytest.approx(1.487221)
        assert clv["basis"] == (
            "CLV is the spend baseline's forecast of the spend in the next 365 days (the run's choice for CLV: "
            "model_decisions says why); expected purchases (the repeat model) x expected order value (Gamma-Gamma) is another "
            "forecast, so CLV is not their product.")
        # the API's answer keeps them (its CLVInfo model dropped fields it did not declare)
        api = CustomerView(**customer_view(ws.con, "a")).model_dump()["clv"]
        assert api["sources"]["clv"] == "baseline" and api["basis"] == clv["basis"]
        assert api["expected_purchases_horizon"] == pytest.approx(1.487221)
        path = ws.path
    from shopseg.cli import app

    r = CliRunner().invoke(app, ["-w", str(path), "customer", "a"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    for line in ("  purchases   1.49 expected in the CLV's horizon (repeat)", "  order value 415.34 (gammagamma)",
                 "  CLV         1,080.25 (baseline)", f"    - {clv['basis']}"):
        assert line in lines, r.output


def test_a_clv_that_is_one_transaction_models_purchases_times_order_value_is_said_to_be_their_product(tmp_path):
    from shopseg.views.customer import customer_view

    with open_workspace(tmp_path / "ws") as ws:
        # BG/NBD's purchases x Gamma-Gamma's order value, discounted: 2.0 x 20.0 = 40 > 38.5
        _clv_row(ws, "p_alive=mbgnbd; purchases=bgnbd; clv=bgnbd+gammagamma", clv=38.5, eph=2.0, value=20.0)
        clv = customer_view(ws.con, "a")["clv"]
        assert clv["sources"] == {"p_alive": "mbgnbd", "expected_purchases": "bgnbd",
                                  "expected_order_value": "gammagamma", "clv": "bgnbd"}
        assert clv["basis"] == ("CLV = expected purchases in the next 365 days (BG/NBD) x expected order value "
                                "(Gamma-Gamma), discounted.")


def _churned_but_low(ws, seen):
    """A customer the lifecycle calls churned (silent 310 days) with a low churn risk (0.39, no order in the next 116
    days): 200 Online Retail customers as of 2011-12-09 had 19 such, the churn model trained at cutoffs where no
    buyer had been silent more than 139 days (``seen``; None: a run that did not record it)."""
    ws.con.execute("INSERT INTO customers (customer_id) VALUES ('a')")
    ws.con.register("_v", pd.DataFrame({"customer_id": ["a"], "recency_days": [310], "probability": [0.39],
                                        "tier": ["low"], "scheme": ["lifecycle"], "segment": ["churned"]}))
    ws.write_output("customer_features", 1, "SELECT customer_id, recency_days FROM _v")
    ws.write_output("churn_scores", 1, "SELECT customer_id, probability, tier FROM _v")
    ws.write_output("segments", 1, "SELECT customer_id, scheme, segment FROM _v")
    ws.con.unregister("_v")
    churn = {"status": "done", "horizon_days": 116, **({"train_max_recency_days": seen} if seen else {})}
    ws.con.execute("INSERT INTO runs (run_id, as_of, stages, status) VALUES (1, ?, ?, 'done')",
                   [AS_OF, json.dumps({"churn": churn})])


def test_a_churned_customer_with_a_low_churn_risk_is_told_the_model_never_saw_such_a_silence(tmp_path):
    from shopseg.views.customer import customer_view

    with open_workspace(tmp_path / "ws") as ws:
        _churned_but_low(ws, 139.0)
        assert customer_view(ws.con, "a")["status"] == (
            "Churned: no order for 310 days; churn risk 39% (low; no order in the next 116 days). Signals disagree: "
            "the calendar says gone, the churn risk says active; the churn model learned at cutoffs where no buyer "
            "had been silent more than 139 days, so for this one (310 days) it extrapolates: trust the calendar.")
    with open_workspace(tmp_path / "old") as ws:  # a run that did not record the training range: as before
        _churned_but_low(ws, None)
        assert customer_view(ws.con, "a")["status"].endswith(
            "Signals disagree: the calendar says gone, the churn risk says active; trust the calendar and the recent "
            "orders, the churn risk is a model of the purchase rhythm.")


def test_the_churn_stage_records_the_longest_silence_its_training_rows_saw(tmp_path):
    import warnings

    from shopseg.pipeline import run_pipeline
    from shopseg.synth import synthesize

    with open_workspace(tmp_path / "ws") as ws:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            synthesize(ws, customers=150, seed=3, as_of="2024-06-30")
            run = run_pipeline(ws, "2024-06-30", stages=["churn"])
        assert run.status == "done", run.stages
        seen = run.stages["churn"]["train_max_recency_days"]
        # the training cutoffs' customers' silence: at most the days from the first sale to the last training cutoff
        first = ws.scalar("SELECT min(ordered_at) FROM orders WHERE kind = 'sale'")
        meta = json.loads((ws.models_dir / f"run-{run.run_id}-churn.json").read_text())
        last_cut = max(pd.Timestamp(t) for t in meta["cutoffs"]["train"])
        assert 0 < seen <= (last_cut - pd.Timestamp(first)).days + 1
        assert meta["train_max_recency_days"] == seen


def test_the_next_order_date_follows_the_p_alive_shown_not_the_expected_purchases_models_own():
    """CDNOW as of 1998-06-30 (session 18 audit): P(alive) from the repeat model, expected purchases from BG/NBD;
    9 buyers shown P(an order in the next 90 days) >= 0.5 (customer 7145: 0.68, 71 repeat purchases) had no
    next-order date, because BG/NBD's own P(alive) of them was under clv.min_p_alive.  Here P(alive) comes from a
    second transaction model that says 0.9 of a buyer BG/NBD gives up on."""
    import numpy as np

    from shopseg.predict._clv_models import BGNBD
    from shopseg.predict._clv_scorer import ClvScorer

    class Alive(BGNBD):  # stands for the model whose P(alive) is shown
        def conditional_probability_alive(self, frequency, recency, T):
            return np.full(np.shape(np.atleast_1d(frequency)), 0.9)

    params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # Fader, Hardie & Lee (2005), CDNOW, weeks
    bg, alive = BGNBD.from_params(**params), Alive.from_params(**params)
    bg.time_unit = alive.time_unit = "W"
    f, r, T = np.array([10.0, 2.0]), np.array([5.0, 30.43]), np.array([38.86, 38.86])
    own = bg.conditional_probability_alive(f, r, T)
    assert own[0] < 0.5 < own[1]  # BG/NBD gives up on the first buyer, not on the second
    settings = {"horizon_days": 365, "discount_rate_annual": 0.1, "min_p_alive": 0.5, "time_unit": "W"}
    sc = ClvScorer({"p_alive": "mbgnbd", "expected_purchases": "bgnbd", "clv": "bgnbd"}, settings,
                   value_name="meanspend", tms={"bgnbd": bg, "mbgnbd": alive}, mean_fill=10.0)
    cols = sc.columns(f, r, T, np.array([10.0, 10.0]), np.array([110.0, 30.0]), AS_OF)
    assert list(cols["p_alive"]) == [0.9, 0.9]
    nxt = cols["expected_next_order_at"]
    assert not np.isnat(nxt).any(), nxt  # failed before: the first buyer's date was NaT
    want = bg.expected_next_purchase_at(f, r, T, AS_OF)
    assert list(pd.DatetimeIndex(nxt)) == list(want)
    # and below min_p_alive of the P(alive) shown there is still no date
    alive.conditional_probability_alive = lambda frequency, recency, T: np.array([0.4, 0.9])
    assert np.isnat(sc.columns(f, r, T, np.array([10.0, 10.0]), np.array([110.0, 30.0]),
                               AS_OF)["expected_next_order_at"]).tolist() == [True, False]
