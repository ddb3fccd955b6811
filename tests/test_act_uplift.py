"""Measured uplift: Newcombe / Wald intervals on published numbers, a hand-computed report, orders as responses."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from shopseg.act import measure, newcombe_interval, plan_actions, wald_interval, wilson_interval
from shopseg.config import load_config

from .test_act_playbook import TEST_CAMPAIGNS, act_config, fake_run, write_table

AS_OF = datetime(2024, 7, 1, 23, 59, 59)


def test_newcombe_interval_matches_newcombe_1998_example_a():
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, 56/70 - 48/80: method 10 (hybrid
    # score) 0.0524 to 0.3339; method 1 (Wald) 0.0575 to 0.3425
    lo, hi = newcombe_interval(56, 70, 48, 80)
    assert (round(float(lo), 4), round(float(hi), 4)) == (0.0524, 0.3339)
    lo, hi = wald_interval(56, 70, 48, 80)
    assert (round(float(lo), 4), round(float(hi), 4)) == (0.0575, 0.3425)


def test_wilson_interval_by_hand():
    # 5/10, z = 1.959964: centre 0.5, half = z sqrt(0.025 + z^2/400) / (1 + z^2/10) = 0.2634
    lo, hi = wilson_interval(5, 10)
    assert float(lo) == pytest.approx(0.2366, abs=1e-4)
    assert float(hi) == pytest.approx(0.7634, abs=1e-4)


def hand_actions(ws, run_id=1):
    """70 treated (contact cost 1, incentive 2) and 80 control customers of campaign 'promo', stratum 'A'."""
    ws.con.execute("INSERT INTO runs (run_id, as_of, seed, status) VALUES (?, ?, 0, 'done')", [run_id, AS_OF])
    ids = [f"t{i:02d}" for i in range(70)] + [f"k{i:02d}" for i in range(80)]
    df = pd.DataFrame({"customer_id": ids, "campaign": "promo", "offer": "x", "variant": "x", "channel": "email",
                       "group": ["treatment"] * 70 + ["control"] * 80, "stratum": "A", "priority": 1,
                       "response_rate": 0.5, "incentive": 2.0, "contact_cost": [1.0] * 70 + [0.0] * 80,
                       "expected_value": 0.0, "cost": 0.0, "reason": "", "run_id": run_id})
    write_table(ws, "actions", df)
    return ids


def test_uplift_report_on_a_hand_computed_example(ws, tmp_path):
    ids = hand_actions(ws)
    # 56 of 70 treated and 48 of 80 controls respond, each spending 10
    responded = [i < 56 for i in range(70)] + [i < 48 for i in range(80)]
    f = tmp_path / "responses.csv"
    pd.DataFrame({"customer_id": ids, "responded": responded,
                  "revenue": np.where(responded, 10.0, 0.0)}).to_csv(f, index=False)
    r = measure(ws, 1, responses=f, config=load_config()).set_index(["segment", "variant"]).loc[("all", "all")]
    assert (r["n_treatment"], r["responders_treatment"], r["n_control"], r["responders_control"]) == (70, 56, 80, 48)
    assert r["rate_treatment"] == pytest.approx(0.8) and r["rate_control"] == pytest.approx(0.6)
    assert r["uplift"] == pytest.approx(0.2)
    assert (round(r["uplift_low"], 4), round(r["uplift_high"], 4)) == (0.0524, 0.3339)
    assert r["ci_method"] == "newcombe"
    # revenue per treated 8, per control 6: incremental (8 - 6) x 70 = 140
    assert r["incremental_revenue"] == pytest.approx(140.0)
    # cost: 70 contacts at 1 + 56 incentives at 2 = 182; ROI (140 - 182) / 182
    assert r["cost"] == pytest.approx(182.0)
    assert r["roi"] == pytest.approx((140 - 182) / 182)
    assert r["source"] == "responses.csv"
    stored = ws.df("SELECT * FROM uplift_reports WHERE run_id = 1")
    assert len(stored) == 4  # (all, A) segments x (all, x) variants


def test_wald_interval_is_used_when_configured(ws):
    ids = hand_actions(ws)
    resp = pd.DataFrame({"customer_id": ids, "responded": [i < 56 for i in range(70)] + [i < 48 for i in range(80)]})
    cfg = load_config(overrides={"act": {"ci_method": "wald"}})
    r = measure(ws, 1, responses=resp, config=cfg, write=False).iloc[0]
    assert (round(r["uplift_low"], 4), round(r["uplift_high"], 4)) == (0.0575, 0.3425)


def test_responses_come_from_orders_after_as_of_within_the_window(ws):
    fake_run(ws)
    plan_actions(ws, 1, AS_OF, config=act_config())  # c1 perks, c2 hello, c3 rescue, c6 hello
    ws.con.execute("INSERT INTO products (product_id, price) VALUES ('p', 10.0)")
    ws.con.execute("INSERT INTO customers (customer_id) VALUES ('c1'), ('c2'), ('c3'), ('c6')")
    orders = [("o1", "c1", "2024-07-05 10:00", 2, 0.0),   # in the window: 20
              ("o2", "c1", "2024-07-20 10:00", 1, 5.0),   # in the window: 10 - 5 order discount
              ("o3", "c2", "2024-08-15 10:00", 3, 0.0),   # after the 30-day window
              ("o4", "c3", "2024-07-01 09:00", 1, 0.0)]   # before as_of
    for oid, c, at, q, disc in orders:
        ws.con.execute("INSERT INTO orders (order_id, customer_id, ordered_at, kind, discount_amount) "
                       "VALUES (?, ?, CAST(? AS TIMESTAMP), 'sale', ?)", [oid, c, at, disc])
        ws.con.execute("INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price, discount_amount)"
                       " VALUES (?, 1, 'p', ?, 10.0, 0.0)", [oid, q])
    r = measure(ws, 1, window_days=30, config=load_config(), write=False)
    perks = r[(r["campaign"] == "perks") & (r["segment"] == "all") & (r["variant"] == "all")].iloc[0]
    assert perks["responders_treatment"] == 1 and perks["revenue_treatment"] == pytest.approx(25.0)
    hello = r[(r["campaign"] == "hello") & (r["segment"] == "all") & (r["variant"] == "all")].iloc[0]
    assert hello["responders_treatment"] == 0
    rescue = r[(r["campaign"] == "rescue") & (r["segment"] == "all") & (r["variant"] == "all")].iloc[0]
    assert rescue["responders_treatment"] == 0
    assert np.isnan(hello["rate_control"])  # no control group in this tiny run


def test_a_planted_uplift_is_recovered_inside_its_interval(ws):
    """Simulate responses with a known uplift: treatment at base + u, control at base."""
    from .test_act_holdout import CAMPAIGNS, synthetic_run

    synthetic_run(ws, n=10_000)
    cfg = act_config({k: {**v, "control_share": 0.3} for k, v in CAMPAIGNS.items()})
    a = plan_actions(ws, 1, AS_OF, config=cfg, seed=5).actions
    rng = np.random.default_rng(11)
    base, u = 0.10, 0.05
    p = np.where(a["group"] == "treatment", base + u, base)
    resp = pd.DataFrame({"customer_id": a["customer_id"], "campaign": a["campaign"],
                         "responded": rng.random(len(a)) < p})
    r = measure(ws, 1, responses=resp, config=cfg, write=False)
    top = r[(r["segment"] == "all") & (r["variant"] == "all")]
    assert len(top) == 3
    for _, row in top.iterrows():
        assert row["uplift_low"] <= u <= row["uplift_high"], row["campaign"]
        assert row["uplift_low"] > 0  # with n in the thousands a 5-point uplift is detected


def test_bad_responses_are_rejected(ws, tmp_path):
    from shopseg.errors import DataContractError

    hand_actions(ws)
    with pytest.raises(DataContractError, match="responded"):
        measure(ws, 1, responses=pd.DataFrame({"customer_id": ["t00"], "responded": ["maybe"]}), write=False)
    with pytest.raises(DataContractError, match="missing required column"):
        measure(ws, 1, responses=pd.DataFrame({"customer_id": ["t00"]}), write=False)
    with pytest.raises(DataContractError, match="does not exist"):
        measure(ws, 1, responses=tmp_path / "nope.csv", write=False)


def measured_campaign(ws, campaign, nt, xt, nc, xc, run_id=0):
    write_table(ws, "uplift_reports", pd.DataFrame([{
        "run_id": run_id, "campaign": campaign, "scheme": "rfm", "segment": "all", "variant": "all",
        "n_treatment": nt, "n_control": nc, "responders_treatment": xt, "responders_control": xc}]))


def test_a_measured_campaign_plans_with_its_measured_uplift_not_the_prior(ws):
    fake_run(ws)
    # hello's prior is 0.2 (spread 0.02 by default: weight 1 / 0.02^2 = 2500); earlier, 10,000 treated
    # answered at 10% and 1,000 controls at 5%: d = 0.05, se^2 = 0.1 x 0.9 / 10000 + 0.05 x 0.95 / 1000 = 5.65e-5
    measured_campaign(ws, "hello", 10_000, 1_000, 1_000, 50)
    a = plan_actions(ws, 1, AS_OF, config=act_config(), write=False).actions.set_index("customer_id")
    want = (2500 * 0.2 + 0.05 / 5.65e-5) / (2500 + 1 / 5.65e-5)
    assert want == pytest.approx(0.0686, abs=1e-4)
    assert a.loc["c2", "uplift"] == pytest.approx(want)
    assert a.loc["c2", "uplift_source"].startswith("measured: run 0, 10,000 treated at 10.00% vs 1,000 controls at 5.00%")
    # c2: 0.0502 x 50 - 1.1 instead of the prior's 0.2 x 50 - 1.1
    assert a.loc["c2", "expected_value"] == pytest.approx(want * 50 - 1.1)
    assert "(measured)" in a.loc["c2", "reason"]
    # perks and rescue were never measured: still their priors
    assert a.loc["c1", "uplift_source"].startswith("prior: ")


def test_a_small_control_group_barely_moves_the_prior(ws):
    fake_run(ws)
    # 2 of 10 treated vs 1 of 10 controls: d = 0.1, se^2 = 0.016 + 0.009 = 0.025 (weight 40) against the
    # prior's weight 2500: (2500 x 0.2 + 40 x 0.1) / 2540 = 0.198
    measured_campaign(ws, "hello", 10, 2, 10, 1)
    a = plan_actions(ws, 1, AS_OF, config=act_config(), write=False).actions.set_index("customer_id")
    assert a.loc["c2", "uplift"] == pytest.approx((2500 * 0.2 + 40 * 0.1) / 2540)
    # a surer prior (spread 0.2, weight 25) lets the same ten customers move it more: (25 x 0.2 + 40 x 0.1) / 65
    camps = {k: {**v, "uplift_prior_sd": 0.2} for k, v in TEST_CAMPAIGNS.items()}
    a = plan_actions(ws, 1, AS_OF, config=act_config(camps), write=False).actions.set_index("customer_id")
    assert a.loc["c2", "uplift"] == pytest.approx((25 * 0.2 + 40 * 0.1) / 65)


def test_a_campaign_measured_to_do_harm_drops_out_of_the_plan(ws):
    fake_run(ws)
    measured_campaign(ws, "hello", 20_000, 1_000, 5_000, 500)  # 5% treated vs 10% controls
    a = plan_actions(ws, 1, AS_OF, config=act_config(), write=False).actions
    assert "hello" not in set(a["campaign"])


def test_measure_recovers_a_planted_uplift_and_the_next_plan_moves_to_it(ws):
    # 2,000 new customers, half held out; treated respond at 30%, controls at 10%: planted uplift 0.20
    rng = np.random.default_rng(7)
    n = 2000
    ids = [f"n{i:04d}" for i in range(n)]
    feats = pd.DataFrame({"customer_id": ids, "has_orders": True, "frequency": 1, "monetary_total": 50.0,
                          "monetary_net": 50.0, "avg_order_value": 50.0, "discount_share": 0.0})
    fake_run(ws, 1, AS_OF, feats, {c: ("New", "new", "mid", "cluster_1") for c in ids}, None, None)
    hello = {"hello": {"when": ["lifecycle in new"], "offers": ["Welcome"], "value": 50.0, "uplift": 0.05,
                       "response_rate": 0.2, "control_share": 0.5}}
    cfg = act_config(hello)
    a = plan_actions(ws, 1, AS_OF, config=cfg).actions
    assert (a["uplift"] == 0.05).all() and a["uplift_source"].str.startswith("prior").all()
    p = np.where(a["group"] == "treatment", 0.30, 0.10)
    resp = pd.DataFrame({"customer_id": a["customer_id"], "responded": rng.random(len(a)) < p})
    rep = measure(ws, 1, responses=resp, config=cfg).set_index(["segment", "variant"]).loc[("all", "all")]
    assert rep["uplift_low"] <= 0.20 <= rep["uplift_high"]
    nxt = plan_actions(ws, 2, datetime(2024, 8, 15), config=cfg, write=False).actions
    u = nxt.loc[nxt["group"] == "treatment", "uplift"].iloc[0]
    # precision-weighted: the measurement (se about 0.017 on 1,000 vs 1,000) outweighs the prior (spread 0.02):
    # more than half of the way from the prior 0.05 to what was measured
    se2 = rep["rate_treatment"] * (1 - rep["rate_treatment"]) / 1000 + rep["rate_control"] * (1 - rep["rate_control"]) / 1000
    assert u == pytest.approx((2500 * 0.05 + rep["uplift"] / se2) / (2500 + 1 / se2))
    assert (u - 0.05) / (rep["uplift"] - 0.05) > 0.5
    assert nxt["uplift_source"].iloc[0].startswith("measured: run 1, 1,000 treated")
