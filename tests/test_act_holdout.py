"""Control groups: deterministic, stratified, within a point of their share; budget prefix properties."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from shopseg.act import budget_prefix, plan_actions, stratified_control

from .test_act_playbook import act_config, fake_run

AS_OF = datetime(2024, 7, 1, 23, 59, 59)
RFM = ["Champions", "Loyal", "Potential Loyalist", "New", "At Risk", "Lost", "Hibernating"]


def synthetic_run(ws, n=10_000, seed=0):
    """n customers with random segments, churn tiers and CLV (a fake run 1)."""
    rng = np.random.default_rng(seed)
    ids = [f"k{i:05d}" for i in range(n)]
    aov = rng.gamma(2, 30, n)
    feats = pd.DataFrame({"customer_id": ids, "has_orders": True, "frequency": 1, "monetary_total": aov,
                          "monetary_net": aov, "avg_order_value": aov, "discount_share": rng.beta(1, 6, n)})
    segs = {c: (RFM[r], lc, vt, f"cluster_{k}") for c, r, lc, vt, k in zip(
        ids, rng.integers(0, len(RFM), n), rng.choice(["new", "active", "silent", "churned"], n, p=[.2, .4, .2, .2]),
        rng.choice(["high", "mid", "low"], n), rng.integers(1, 4, n))}
    churn = list(zip(ids, rng.random(n), rng.choice(["high", "mid", "low"], n)))
    clv = list(zip(ids, rng.gamma(2, 100, n)))
    fake_run(ws, 1, AS_OF, feats, segs, churn, clv)


CAMPAIGNS = {
    "rescue": {"when": ["churn_tier in high", "clv_quantile >= 0.5"], "offers": ["voucher"], "priority": 90,
               "value": 1.0, "value_basis": "avg_order_value", "response_rate": 0.1, "uplift": 0.1, "control_share": 0.1},
    "hello": {"when": ["lifecycle in new"], "offers": ["welcome"], "priority": 60, "value": 50.0,
              "response_rate": 0.2, "uplift": 0.2, "control_share": 0.2},
    "nudge": {"when": ["lifecycle in silent, churned"], "offers": ["nudge"], "priority": 50, "value": 30.0,
              "response_rate": 0.05, "uplift": 0.05, "control_share": 0.05},
}


def test_control_shares_are_within_a_point_of_target_on_10k_customers(ws):
    synthetic_run(ws)
    a = plan_actions(ws, 1, AS_OF, config=act_config(CAMPAIGNS), seed=7).actions
    assert len(a) > 5000
    for name, camp in CAMPAIGNS.items():
        g = a[a["campaign"] == name]
        share = (g["group"] == "control").mean()
        assert abs(share - camp["control_share"]) <= 0.01, (name, share)
        # stratified: every segment holds its share to within one customer
        for stratum, gs in g.groupby("stratum"):
            n_ctrl = (gs["group"] == "control").sum()
            assert abs(n_ctrl - camp["control_share"] * len(gs)) <= 1.0 + 1e-9, (name, stratum)


def test_same_inputs_give_the_same_control_groups_and_another_seed_other_ones(ws):
    synthetic_run(ws, n=3000)
    cfg = act_config(CAMPAIGNS)
    a = plan_actions(ws, 1, AS_OF, config=cfg, seed=7, write=False).actions
    b = plan_actions(ws, 1, AS_OF, config=cfg, seed=7, write=False).actions
    c = plan_actions(ws, 1, AS_OF, config=cfg, seed=8, write=False).actions
    ctrl = lambda df: set(df.loc[df["group"] == "control", "customer_id"])  # noqa: E731
    assert ctrl(a) == ctrl(b)
    assert ctrl(a) != ctrl(c)
    assert len(ctrl(a)) == len(ctrl(c))  # same sizes: only who is held out changes


def test_control_customers_cost_nothing_and_say_they_are_held_out(ws):
    synthetic_run(ws, n=2000)
    a = plan_actions(ws, 1, AS_OF, config=act_config(CAMPAIGNS), seed=1, write=False).actions
    ctrl = a[a["group"] == "control"]
    assert len(ctrl) and (ctrl["cost"] == 0).all() and (ctrl["expected_value"] == 0).all()
    assert (ctrl["variant"] == "control").all()
    assert ctrl["reason"].str.contains("held out in the control group").all()


def test_a_budget_keeps_control_shares_and_is_not_exceeded(ws):
    synthetic_run(ws, n=5000)
    full = plan_actions(ws, 1, AS_OF, config=act_config(CAMPAIGNS), seed=2, write=False).actions
    budget = 0.4 * full["cost"].sum()
    a = plan_actions(ws, 1, AS_OF, config=act_config(CAMPAIGNS, budget=budget), seed=2, write=False).actions
    assert a["cost"].sum() <= budget
    assert len(a) < len(full)
    for name, camp in CAMPAIGNS.items():
        g = a[a["campaign"] == name]
        if len(g) >= 300:
            assert abs((g["group"] == "control").mean() - camp["control_share"]) <= 0.01


def test_stratified_control_by_hand():
    # one campaign, share 0.25; strata a (4 rows) and b (4 rows): one control each, the smallest u
    camp = np.zeros(8, int)
    strat = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    u = np.array([0.5, 0.1, 0.9, 0.3, 0.2, 0.8, 0.05, 0.7])
    m = stratified_control(camp, strat, u, np.array([0.25]))
    assert m.nonzero()[0].tolist() == [1, 6]
    # share 0.5 with strata of 3 and 3: cumulative rounding gives R(1.5) - 0 = 2, then R(3) - 2 = 1
    m = stratified_control(np.zeros(6, int), np.array([0, 0, 0, 1, 1, 1]),
                           np.array([0.3, 0.1, 0.2, 0.9, 0.4, 0.6]), np.array([0.5]))
    assert m.nonzero()[0].tolist() == [1, 2, 4]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10), st.integers(0, 2), st.integers(0, 4)), min_size=0, max_size=60),
       st.floats(0, 100), st.integers(0, 10**6))
def test_budget_prefix_never_exceeds_the_budget(rows, budget, seed):
    rng = np.random.default_rng(seed)
    cost = np.array([r[0] for r in rows], float)
    camp = np.array([r[1] for r in rows], np.int64)
    strat = np.array([r[2] for r in rows], np.int64)
    u = rng.random(len(rows))
    shares = np.array([0.1, 0.3, 0.5])
    n, ctrl = budget_prefix(cost, camp, strat, u, shares, budget)
    spend = cost[:n][~ctrl[:n]].sum()
    assert budget == 0 or spend <= budget + 1e-9
    assert not ctrl[n:].any()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 10), max_size=60), st.floats(0.01, 100))
def test_without_controls_the_budget_prefix_is_the_longest_that_fits(costs, budget):
    cost = np.array(costs, float)
    k = len(cost)
    n, ctrl = budget_prefix(cost, np.zeros(k, np.int64), np.zeros(k, np.int64), np.linspace(0, 1, k, endpoint=False),
                            np.array([0.0]), budget)
    assert not ctrl.any()
    assert cost[:n].sum() <= budget + 1e-9
    assert n == k or cost[: n + 1].sum() > budget
