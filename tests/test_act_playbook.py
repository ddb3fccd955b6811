"""The campaign playbook: eligibility as data, one action per customer, budget, cooldown, reasons.

The fake run below is small enough to check by hand.  Its clv quantiles (percent_rank of clv):
c4 10 -> 0, c2 50 -> 0.2, c1 100 -> 0.4, c5 200 -> 0.6, c3 300 -> 0.8, c6 500 -> 1.0.

Campaigns (the defaults are switched off):

* rescue  (priority 90): churn_tier in high, clv_quantile >= 0.5; response and uplift 10%, value = net
  average order (one order each, no returns: the order), incentive = 10% of CLV within [5, 50], contact 1.00
* perks   (priority 70): value_tier in high; response and uplift 10%, value 100, contact 0.50; two offer variants
* hello   (priority 60): lifecycle in new; response and uplift 20%, value 50, incentive 5, contact 0.10

Expected value = uplift x net value of a response - (contact + response rate x incentive).

Expected, by hand:

* c1 (new, high value) -> perks (priority 70 beats hello's 60): cost 0.50, EV 0.1 x 100 - 0.5 = 9.50
* c2 (new) -> hello: cost 0.1 + 0.2 x 5 = 1.10, EV 0.2 x 50 - 1.1 = 8.90
* c3 (churn high, clv 300, q 0.8, aov 80, high value) -> rescue (90 beats 70): incentive 30,
  cost 1 + 0.1 x 30 = 4.00, EV 0.1 x 80 - 4 = 4.00
* c4 (churn high but q 0) -> nothing
* c5 (churn high, q 0.6, aov 20): incentive 20, cost 3, EV 2 - 3 = -1 -> dropped (EV <= 0)
* c6 (no churn score, new) -> hello
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopseg.act import ACTION_COLUMNS, parse_condition, plan_actions, plan_summary, plan_totals, priors_note
from shopseg.config import load_config
from shopseg.errors import ConfigError

AS_OF = datetime(2024, 7, 1, 23, 59, 59)
DEFAULT_CAMPAIGNS = ("win_back", "vip", "welcome", "coupon", "reactivation", "last_chance", "cart_reminder",
                     "replenishment")

FEATURES = pd.DataFrame({
    "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
    "has_orders": [True] * 6,
    "frequency": [1] * 6,
    "monetary_total": [60.0, 30.0, 80.0, 40.0, 20.0, 90.0],
    "monetary_net": [60.0, 30.0, 80.0, 40.0, 20.0, 90.0],  # no returns: the net average order is the order
    "avg_order_value": [60.0, 30.0, 80.0, 40.0, 20.0, 90.0],
    "discount_share": [0.0, 0.3, 0.0, 0.25, 0.0, 0.1],
})
SEGMENTS = {  # customer -> (rfm, lifecycle, value_tier, cluster)
    "c1": ("New", "new", "high", "cluster_1"),
    "c2": ("New", "new", "low", "cluster_2"),
    "c3": ("At Risk", "silent", "high", "cluster_1"),
    "c4": ("Lost", "active", "mid", "cluster_2"),
    "c5": ("Lost", "silent", "low", "cluster_2"),
    "c6": ("Promising", "new", "mid", "cluster_1"),
}
CHURN = [("c1", 0.1, "low"), ("c2", 0.3, "mid"), ("c3", 0.9, "high"), ("c4", 0.8, "high"), ("c5", 0.85, "high")]
CLV = [("c1", 100.0), ("c2", 50.0), ("c3", 300.0), ("c4", 10.0), ("c5", 200.0), ("c6", 500.0)]

TEST_CAMPAIGNS = {
    "rescue": {"when": ["churn_tier in high", "clv_quantile >= 0.5"], "offers": ["A {incentive} voucher"],
               "priority": 90, "response_rate": 0.1, "uplift": 0.1, "value": 1.0, "value_basis": "avg_order_value",
               "incentive": 0.1, "incentive_basis": "clv", "incentive_min": 5.0, "incentive_max": 50.0,
               "cost_per_contact": 1.0, "control_share": 0.0, "cooldown_days": 30},
    "perks": {"when": ["value_tier in high"], "offers": ["Early access", "Double points"], "priority": 70,
              "response_rate": 0.1, "uplift": 0.1, "value": 100.0, "cost_per_contact": 0.5, "control_share": 0.0,
              "uplift_source": "a test's guess"},
    "hello": {"when": ["lifecycle in new"], "offers": ["Welcome: 5 off"], "priority": 60, "response_rate": 0.2,
              "uplift": 0.2, "value": 50.0, "incentive": 5.0, "cost_per_contact": 0.1, "control_share": 0.0, "cooldown_days": 30},
}


def act_config(campaigns=None, **act):
    """Defaults switched off, ``campaigns`` (TEST_CAMPAIGNS by default) on, plus [act] overrides."""
    camps = {name: {"enabled": False} for name in DEFAULT_CAMPAIGNS}
    camps.update(campaigns if campaigns is not None else TEST_CAMPAIGNS)
    return load_config(overrides={"act": {"budget": 0.0, **act, "campaigns": camps}})


def write_table(ws, name: str, df: pd.DataFrame) -> None:
    ws.con.execute("SELECT 1").fetchall()
    ws.con.register("_t", df)
    try:
        if ws.has_table(name):
            ws.con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM _t')
        else:
            ws.con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _t')
    finally:
        ws.con.unregister("_t")


def fake_run(ws, run_id: int = 1, as_of=AS_OF, features=FEATURES, segments=SEGMENTS, churn=CHURN, clv=CLV):
    """Insert a run's features, segments, churn scores and CLV by hand (no model runs)."""
    ws.con.execute("INSERT INTO runs (run_id, as_of, seed, status) VALUES (?, ?, 0, 'done')", [run_id, as_of])
    write_table(ws, "customer_features", features.assign(run_id=run_id))
    seg = pd.DataFrame([(c, s, v) for c, vals in segments.items()
                        for s, v in zip(("rfm", "lifecycle", "value_tier", "cluster"), vals)],
                       columns=["customer_id", "scheme", "segment"]).assign(run_id=run_id)
    write_table(ws, "segments", seg)
    if churn is not None:
        write_table(ws, "churn_scores", pd.DataFrame(churn, columns=["customer_id", "probability", "tier"])
                    .assign(run_id=run_id))
    if clv is not None:
        write_table(ws, "clv", pd.DataFrame(clv, columns=["customer_id", "clv"])
                    .assign(run_id=run_id, p_alive=0.5, expected_purchases_90d=1.0))


def by_customer(plan):
    return plan.actions.set_index("customer_id")


def test_each_customer_gets_the_campaign_worked_out_by_hand(ws):
    fake_run(ws)
    plan = plan_actions(ws, 1, AS_OF, config=act_config())
    a = by_customer(plan)
    assert a["campaign"].to_dict() == {"c1": "perks", "c2": "hello", "c3": "rescue", "c6": "hello"}
    assert a.loc["c3", "incentive"] == pytest.approx(30.0)
    assert a.loc["c3", "cost"] == pytest.approx(4.0)
    assert a.loc["c3", "expected_value"] == pytest.approx(4.0)
    assert a.loc["c3", "offer"] == "A 30.00 voucher"
    assert a.loc["c2", "cost"] == pytest.approx(1.1)
    assert a.loc["c2", "expected_value"] == pytest.approx(8.9)
    assert a.loc["c1", "expected_value"] == pytest.approx(9.5)
    assert set(a["group"]) == {"treatment"}
    assert list(plan.actions.columns) == list(ACTION_COLUMNS)


def test_every_action_says_why_in_plain_words(ws):
    fake_run(ws)
    a = by_customer(plan_actions(ws, 1, AS_OF, config=act_config()))
    assert a.loc["c3", "reason"].startswith("rescue: churn_tier is high; CLV in the top 20% (300.00)")
    assert "expected value 4.00 = uplift 10.00% (prior) x net value 80.00 - cost 4.00" in a.loc["c3", "reason"]
    assert a.loc["c2", "reason"].startswith("hello: lifecycle is new; expected value 8.90")
    assert "no measured responses yet" in a.loc["c1", "reason"]  # two variants, no history


def test_a_customer_never_gets_two_actions_in_one_run(ws):
    fake_run(ws)
    a = plan_actions(ws, 1, AS_OF, config=act_config()).actions
    assert not a["customer_id"].duplicated().any()


def test_actions_are_stored_with_the_run_and_plan_summary_adds_them_up(ws):
    fake_run(ws)
    plan_actions(ws, 1, AS_OF, config=act_config())
    stored = ws.df('SELECT * FROM actions WHERE run_id = 1 ORDER BY customer_id')
    assert stored["customer_id"].tolist() == ["c1", "c2", "c3", "c6"]
    summary = plan_summary(ws, 1)
    s = summary.set_index("campaign")
    assert list(s.index) == ["hello", "perks", "rescue"]  # no total row among the campaigns
    assert s.loc["hello", "treatment"] == 2
    t = plan_totals(summary)
    assert (t["treatment"], t["control"], t["campaigns"]) == (4, 0, 3)
    assert t["cost"] == pytest.approx(0.5 + 1.1 + 1.1 + 4.0)
    assert t["expected_value"] == pytest.approx(9.5 + 8.9 + 8.9 + 4.0)
    # incremental value = uplift x net value: 0.1 x 100 + 2 x 0.2 x 50 + 0.1 x 80
    assert t["incremental_value"] == pytest.approx(38.0)


def test_control_customers_are_counted_apart_and_cost_nothing(ws):
    fake_run(ws)
    cfg = act_config({"hello": {**TEST_CAMPAIGNS["hello"], "control_share": 0.5}})
    plan_actions(ws, 1, AS_OF, config=cfg)
    s = plan_summary(ws, 1).set_index("campaign")
    # hello's audience is c1, c2, c6: round(0.5 x 3) = 2 held out, 1 treated
    assert (s.loc["hello", "treatment"], s.loc["hello", "control"]) == (1, 2)
    assert s.loc["hello", "cost"] == pytest.approx(1.1)
    assert s.loc["hello", "expected_value"] == pytest.approx(8.9)


def test_a_response_is_worth_the_net_average_order_not_the_gross(ws):
    # c3 bought 2 orders for 160 and returned 100 of it: a response is worth 60 / 2 = 30, not 80
    feats = FEATURES.copy()
    feats.loc[2, ["frequency", "monetary_total", "monetary_net"]] = [2, 160.0, 60.0]
    fake_run(ws, features=feats)
    a = by_customer(plan_actions(ws, 1, AS_OF, config=act_config(min_expected_value=-100.0)))
    assert a.loc["c3", "response_value"] == pytest.approx(30.0)
    # incentive 10% of CLV 300 = 30 x net share 60/160 -> clipped to [5, 50]: 11.25; cost 1 + 0.1 x 11.25
    assert a.loc["c3", "incentive"] == pytest.approx(11.25)
    assert a.loc["c3", "expected_value"] == pytest.approx(0.1 * 30.0 - (1.0 + 1.125))


def test_a_customer_whose_purchases_net_to_zero_or_less_never_gets_a_positive_value(ws):
    # c1 ordered and cancelled it all (net 0), c6 returned more than they kept (net -5): a fixed value of
    # 100 per response (perks) or a value of the order (hello) must not make them worth contacting
    feats = FEATURES.copy()
    feats.loc[0, "monetary_net"] = 0.0
    feats.loc[5, "monetary_net"] = -5.0
    fake_run(ws, features=feats)
    a = by_customer(plan_actions(ws, 1, AS_OF, config=act_config()))
    assert "c1" not in a.index and "c6" not in a.index
    everything = by_customer(plan_actions(ws, 1, AS_OF, config=act_config(min_expected_value=-100.0), write=False))
    assert everything.loc["c1", "response_value"] == 0.0
    assert everything.loc["c1", "expected_value"] == pytest.approx(-0.5)
    assert everything.loc["c6", "expected_value"] == pytest.approx(-1.1)
    assert "net spend -5.00 <= 0" in everything.loc["c6", "reason"]
    assert "net spend" not in everything.loc["c2", "reason"]


def test_a_customer_without_orders_keeps_a_fixed_value(ws):
    # a browser with no order has net spend 0 but nothing was cancelled: a first order is worth the fixed value
    feats = FEATURES.copy()
    feats.loc[5, ["has_orders", "frequency", "monetary_total", "monetary_net", "avg_order_value"]] = [False, 0, 0.0,
                                                                                                    0.0, 0.0]
    fake_run(ws, features=feats)
    a = by_customer(plan_actions(ws, 1, AS_OF, config=act_config()))
    assert a.loc["c6", "response_value"] == pytest.approx(50.0)
    assert a.loc["c6", "expected_value"] == pytest.approx(8.9)


def test_the_plan_says_its_values_are_priors_and_where_they_come_from(ws):
    fake_run(ws)
    plan_actions(ws, 1, AS_OF, config=act_config())
    s = plan_summary(ws, 1).set_index("campaign")
    assert s.loc["perks", "uplift_source"] == "prior: a test's guess"
    assert s.loc["hello", "uplift_source"].startswith("prior: Hillstrom 2008 e-mail test")  # the default
    assert s.loc["hello", "uplift"] == pytest.approx(0.2)
    note = priors_note(plan_summary(ws, 1))
    assert note.startswith("Expected values are priors")
    assert "perks: uplift 10.00% from a test's guess" in note
    assert plan_totals(plan_summary(ws, 1))["priors"] == ["hello", "perks", "rescue"]


def test_choosing_by_value_per_cost_gives_each_customer_the_campaign_that_adds_most_per_unit(ws):
    fake_run(ws)
    # c1 is eligible for perks (EV 9.50 / cost 0.50 = 19) and hello (8.90 / 1.10 = 8.09): perks either way;
    # c3 for rescue (4.00 / 4.00 = 1) and perks (9.50 / 0.50 = 19): rescue by priority, perks by value per cost
    a = by_customer(plan_actions(ws, 1, AS_OF, config=act_config(choose_by="value_per_cost"), write=False))
    assert a["campaign"].to_dict() == {"c1": "perks", "c2": "hello", "c3": "perks", "c6": "hello"}
    assert a.loc["c3", "expected_value"] == pytest.approx(9.5)
    b = by_customer(plan_actions(ws, 1, AS_OF, config=act_config(), write=False))
    assert b.loc["c3", "campaign"] == "rescue"


def test_budget_keeps_the_best_expected_value_per_cost_first(ws):
    fake_run(ws)
    # EV/cost: perks 19, hello 8.09 (twice), rescue 1: 0.5 + 1.1 + 1.1 = 2.7 fits in 5, adding 4.0 would not
    plan = plan_actions(ws, 1, AS_OF, config=act_config(budget=5.0))
    assert sorted(plan.actions["customer_id"]) == ["c1", "c2", "c6"]
    assert plan.actions["cost"].sum() == pytest.approx(2.7)
    assert plan.notes["dropped_by_budget"] == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.floats(min_value=0.01, max_value=8.0))
def test_the_budget_is_never_exceeded(ws, budget):
    if not ws.scalar("SELECT count(*) FROM runs"):
        fake_run(ws)
    plan = plan_actions(ws, 1, AS_OF, config=act_config(budget=budget), write=False)
    assert plan.actions["cost"].sum() <= budget + 1e-9


def test_customers_contacted_within_the_cooldown_are_skipped(ws):
    fake_run(ws, 1, datetime(2024, 6, 20, 23, 59, 59))
    plan_actions(ws, 1, datetime(2024, 6, 20, 23, 59, 59), config=act_config())
    fake_run(ws, 2, AS_OF)
    # 11 days later: every campaign has a 30-day cooldown (perks by the campaign default)
    plan = plan_actions(ws, 2, AS_OF, config=act_config())
    assert plan.actions.empty
    assert plan.notes["skipped_cooldown"] == 4
    # a 10-day cooldown for hello lets the new customers back in, for hello only: c1 (perks last time,
    # still cooling down for perks) now gets hello; c3 (rescue) stays skipped
    camps = {**TEST_CAMPAIGNS, "hello": {**TEST_CAMPAIGNS["hello"], "cooldown_days": 10}}
    plan = plan_actions(ws, 2, AS_OF, config=act_config(camps))
    assert by_customer(plan)["campaign"].to_dict() == {"c1": "hello", "c2": "hello", "c6": "hello"}


def test_same_inputs_give_the_same_actions(ws):
    fake_run(ws)
    cfg = act_config({k: {**v, "control_share": 0.5} for k, v in TEST_CAMPAIGNS.items()})
    a = plan_actions(ws, 1, AS_OF, config=cfg, seed=3, write=False).actions
    b = plan_actions(ws, 1, AS_OF, config=cfg, seed=3, write=False).actions
    pd.testing.assert_frame_equal(a, b)


def test_missing_churn_and_clv_tables_make_their_conditions_false_not_an_error(ws):
    fake_run(ws, churn=None, clv=None)
    plan = plan_actions(ws, 1, AS_OF, config=act_config())
    assert "rescue" not in set(plan.actions["campaign"])
    assert plan.notes["missing_inputs"] == ["churn_scores", "clv"]


def test_feature_thresholds_and_cluster_means_select_customers(ws):
    fake_run(ws)
    # cluster_2 holds c2 (0.3), c4 (0.25), c5 (0.0): mean 0.1833; cluster_1 mean (0 + 0 + 0.1) / 3
    camps = {"save": {"when": ["cluster_mean.discount_share >= 0.15", "discount_share >= 0.2"],
                      "offers": ["15% off"], "value": 10.0, "response_rate": 0.5, "uplift": 0.5,
                      "control_share": 0.0}}
    a = plan_actions(ws, 1, AS_OF, config=act_config(camps)).actions
    assert sorted(a["customer_id"]) == ["c2", "c4"]
    assert "cluster_mean.discount_share 0.183 (>= 0.15)" in a["reason"].iloc[0]


def test_disabled_campaigns_are_left_out(ws):
    fake_run(ws)
    camps = {**TEST_CAMPAIGNS, "perks": {**TEST_CAMPAIGNS["perks"], "enabled": False}}
    a = by_customer(plan_actions(ws, 1, AS_OF, config=act_config(camps)))
    assert a.loc["c1", "campaign"] == "hello"


def test_default_playbook_runs_on_the_fixture_shop(ws):
    from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
    from shopseg.segment import segment_all

    load_fixture_shop(ws)
    cfg = load_config(overrides={"segments": {"cluster": {"sample_size": 100}}})
    ws.con.execute("INSERT INTO runs (run_id, as_of, seed, status) VALUES (1, ?, 0, 'done')", [FIXTURE_AS_OF])
    segment_all(ws, 1, FIXTURE_AS_OF, cfg)
    a = by_customer(plan_actions(ws, 1, FIXTURE_AS_OF, config=cfg))
    # Kim browsed and abandoned a cart, Fox buys wholesale (net average order 3,600): with the default prior
    # uplift of 0.5 points, cart_reminder is worth 0.005 x 40 - (0.05 + 0.03 x 4.95) = 0.0015 and vip
    # 0.005 x 3600 - 0.05 = 17.95
    assert a["campaign"].to_dict() == {"c06": "vip", "c11": "cart_reminder"}
    assert a.loc["c06", "expected_value"] == pytest.approx(17.95)
    assert a.loc["c11", "expected_value"] == pytest.approx(0.0015)
    # the discounts lose money at that uplift: Cai (new, one order of 40) would cost 0.05 + 0.12 x 4.00 in
    # contact and expected vouchers (redeemed by buyers who would have bought anyway too) for 0.005 x 40
    every = by_customer(plan_actions(ws, 1, FIXTURE_AS_OF, write=False, config=load_config(
        overrides={"segments": {"cluster": {"sample_size": 100}}, "act": {"min_expected_value": -100.0}})))
    assert every.loc["c03", "campaign"] == "welcome"
    assert every.loc["c03", "expected_value"] == pytest.approx(0.005 * 40 - (0.05 + 0.12 * 4.0))
    assert every.loc["c02", "campaign"] == "reactivation"
    assert every.loc["c04", "campaign"] == every.loc["c05", "campaign"] == "last_chance"


# -- bad configuration -------------------------------------------------------------------------

@pytest.mark.parametrize("campaign, words", [
    ({"when": ["lifecycle >= 3"], "offers": ["x"]}, "compares the segment field 'lifecycle' with a number"),
    ({"when": ["lifecycle is new"], "offers": ["x"]}, "must read"),
    ({"when": ["clv in high"], "offers": ["x"]}, "use >=, <="),
    ({"when": ["discount_share >= lots"], "offers": ["x"]}, "with a number"),
    ({"when": [], "offers": ["x"]}, "'act.campaigns.bad.when' setting must be a non-empty list"),
    ({"when": ["lifecycle in new"], "offers": []}, "'act.campaigns.bad.offers'"),
    ({"when": ["lifecycle in new"], "offers": ["x", "x"]}, "distinct offer texts"),
    ({"when": ["lifecycle in new"], "offers": ["x"], "response_rate": 1.5}, "'act.campaigns.bad.response_rate'"),
    ({"when": ["lifecycle in new"], "offers": ["x"], "control_share": 0.9}, "in [0, 0.5]"),
    ({"when": ["lifecycle in new"], "offers": ["x"], "value_basis": "ltv"}, "one of 'fixed', 'clv'"),
    ({"when": ["lifecycle in new"], "offers": ["x"], "cost_per_contact": -1}, "of at least 0"),
    ({"when": ["lifecycle in new"], "offers": ["x"], "budget": 3}, "Unknown setting 'act.campaigns.bad.budget'"),
    ({"when": ["lifecycle in new"], "offers": ["x"], "incentive_min": 10.0, "incentive_max": 5.0}, "incentive_max"),
])
def test_bad_campaigns_are_rejected_with_a_config_error(campaign, words):
    with pytest.raises(ConfigError, match=None) as e:
        load_config(overrides={"act": {"campaigns": {"bad": campaign}}})
    assert words in str(e.value)


@pytest.mark.parametrize("act, words", [
    ({"budget": -5.0}, "'act.budget'"),
    ({"ci_method": "bootstrap"}, "'act.ci_method'"),
    ({"stratify_by": "persona"}, "'act.stratify_by'"),
    ({"default_country_code": "+44"}, "'act.default_country_code'"),
    ({"campaigns": {"vip": {"priority": "high"}}}, "'act.campaigns.vip.priority'"),
    ({"campaigns": {"vip": {"colour": "red"}}}, "Unknown setting 'act.campaigns.vip.colour'"),
])
def test_bad_act_settings_are_rejected_with_a_config_error(act, words):
    with pytest.raises(ConfigError) as e:
        load_config(overrides={"act": act})
    assert words in str(e.value)


def test_an_unknown_field_is_reported_when_planning(ws):
    fake_run(ws)
    cfg = act_config({"x": {"when": ["lifetime_spend >= 3"], "offers": ["x"]}})
    with pytest.raises(ConfigError, match="unknown field 'lifetime_spend'"):
        plan_actions(ws, 1, AS_OF, config=cfg)


def test_conditions_compile_to_sql_with_values_quoted():
    c = parse_condition("rfm in Can't Lose Them, At Risk")
    assert c.values == ("Can't Lose Them", "At Risk")
    assert c.sql() == """("rfm" IS NOT NULL AND "rfm" IN ('Can''t Lose Them', 'At Risk'))"""
    assert parse_condition("churn_probability > 0.7").sql() == '("churn_probability" IS NOT NULL AND "churn_probability" > 0.7)'


def test_why_a_customer_was_left_out_names_the_condition_and_their_value(ws):
    """c4 fails every campaign (its clv quantile is 0); c5 is eligible for rescue but its expected value is -1;
    c1 has an action, so the view has nothing to explain; the campaigns are the run's stored config's."""
    from shopseg.act.why_not import why_not_planned
    from shopseg.views import not_planned

    fake_run(ws)
    cfg = act_config()
    ws.con.execute("UPDATE runs SET config = ? WHERE run_id = 1", [cfg.to_json()])
    plan_actions(ws, 1, AS_OF, config=cfg)
    assert not_planned(ws.con, "c4") == [
        "hello: needs lifecycle in new; theirs is active.",
        "perks: needs value_tier in high; theirs is mid.",
        "rescue: needs clv_quantile >= 0.5; theirs is 0.",
    ]
    assert why_not_planned(ws, 1, "c5") == [
        "rescue: eligible, but not planned: its expected value for this customer (uplift x net value of a response "
        "- cost) was at most act.min_expected_value (0).",
        "hello: needs lifecycle in new; theirs is silent.",
        "perks: needs value_tier in high; theirs is low.",
    ]
    assert not_planned(ws.con, "c1") is None
    assert why_not_planned(ws, 1, "nobody") == [
        "No features for this customer in the plan's run, so no campaign could consider them."]


def test_why_left_out_says_the_cooldown_and_the_budget(ws):
    fake_run(ws, 1, datetime(2024, 6, 20, 23, 59, 59))
    plan_actions(ws, 1, datetime(2024, 6, 20, 23, 59, 59), config=act_config())
    fake_run(ws, 2, AS_OF)
    cfg = act_config(budget=1.0)
    plan_actions(ws, 2, AS_OF, config=cfg)
    from shopseg.act.why_not import why_not_planned

    got = why_not_planned(ws, 2, "c2", config=cfg)
    assert got[0] == "hello: eligible, but had an action (treatment or control) on 2024-06-20, inside its 30-day cooldown."
    got = why_not_planned(ws, 2, "c5", config=cfg)
    assert got[0].endswith("or the budget (act.budget 1.00) went to customers worth more per unit of cost.")


def test_the_cli_customer_card_lists_why_nothing_was_planned(ws):
    from typer.testing import CliRunner

    from shopseg.cli import app

    fake_run(ws)
    cfg = act_config()
    ws.con.execute("UPDATE runs SET config = ? WHERE run_id = 1", [cfg.to_json()])
    plan_actions(ws, 1, AS_OF, config=cfg)
    path = ws.path
    ws.close()
    text = CliRunner().invoke(app, ["--workspace", str(path), "customer", "c4"]).stdout
    assert ("  next action Nothing planned.\n    - hello: needs lifecycle in new; theirs is active.\n"
            "    - perks: needs value_tier in high; theirs is mid.\n") in text
    text = CliRunner().invoke(app, ["--workspace", str(path), "customer", "c1"]).stdout
    assert "  next action perks by email" in text and "    - " not in text.split("next action")[1]
