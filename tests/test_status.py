"""One status line per customer: the lifecycle leads, the predictions are its evidence, disagreements are said."""

from __future__ import annotations

import doctest

from shopseg.predict import _status, explain
from shopseg.predict.explain import status_line


def test_docstring_examples_of_the_status_line_run():
    result = doctest.testmod(_status, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0


def test_a_churned_customer_with_p_alive_099_is_called_a_disagreement_not_left_silent():
    # Online Retail's customer 17850 before issue 16: churned, silent for 372 days, BG/NBD's P(alive) 0.99
    line = status_line("churned", churn_probability=0.56, churn_tier="mid", p_alive=0.99, p_alive_source="bgnbd",
                       recency_days=372)
    assert line.startswith("Churned: no order for 372 days; churn risk 56% (mid); P(alive) 0.99 (bgnbd).")
    assert "Signals disagree: the calendar says gone, P(alive) says active" in line


def test_a_silent_customer_the_models_expect_back_is_no_disagreement():
    # silent: longer than the shop's usual gap (Online Retail: 58 days), short of its churn window (155): a low churn
    # risk there is what a customer back on a longer rhythm looks like, not a conflict to resolve by the calendar
    line = status_line("silent", churn_probability=0.22, churn_tier="low", p_alive=0.64, recency_days=80)
    assert line == ("Silent: no order for 80 days; churn risk 22% (low); P(alive) 0.64. Quiet for longer than the "
                    "shop's usual gap between orders, yet P(alive) says active: one to watch, not yet gone.")
    assert "disagree" not in line
    # churned past the window with the same evidence is still a disagreement
    assert "Signals disagree: the calendar says gone" in status_line("churned", churn_probability=0.22,
                                                                     churn_tier="low", recency_days=200)


def test_an_active_customer_the_models_call_gone_is_flagged_to_watch():
    line = status_line("active", churn_probability=0.9, churn_tier="high", p_alive=0.8)
    assert "the calendar says active, the churn risk says likely gone" in line


def test_agreeing_signals_give_one_plain_sentence():
    assert status_line("active", churn_probability=0.05, churn_tier="low", p_alive=0.93, value_tier="mid") == \
        "Active: churn risk 5% (low); P(alive) 0.93; value tier mid."
    assert status_line("new") == "New: no prediction for this customer."
    # NaN evidence is left out, not printed as 'nan'
    assert status_line("active", p_alive=float("nan"), recency_days=float("nan")) == \
        "Active: no prediction for this customer."


def test_one_day_of_silence_is_one_day():
    assert status_line("active", recency_days=1.2) == "Active: no order for 1 day."
    assert status_line("active", recency_days=0) == "Active: no order for 0 days."


def test_a_cluster_name_that_contradicts_the_calendar_is_said_to_describe_the_centre():
    # Online Retail's 17850: churned 372 days, in the cluster named "frequent recent high spenders"
    line = status_line("churned", churn_probability=0.56, churn_tier="mid", value_tier="high",
                       cluster_name="frequent recent high spenders")
    assert line.endswith("The cluster's name, 'frequent recent high spenders', describes its centre: "
                         "this customer is not recent.")
    assert status_line("active", cluster_name="one-time lapsed low spenders (2)") == (
        "Active: no prediction for this customer. The cluster's name, 'one-time lapsed low spenders', describes "
        "its centre: this customer is active, not lapsed.")
    # no contradiction, nothing said; a clause after the comma is not the recency word
    assert status_line("churned", cluster_name="lapsed low spenders") == "Churned: no prediction for this customer."
    assert status_line("active", cluster_name="mid spenders, recent lapsed-cart rescue") == \
        "Active: no prediction for this customer."


def test_a_near_certain_churn_is_not_printed_as_certain():
    # Olist's one-time buyer 000bfa1d...: churn 0.9992 after the shrunk calibration (1.0 before it), P(alive) 0.0004
    # from the repeat model; rounding printed "churn risk 100%" and "P(alive) 0.00", certainties no model has
    line = status_line("churned", churn_probability=0.9992, churn_tier="high", p_alive=0.0004, p_alive_source="repeat",
                       recency_days=383)
    assert line.startswith("Churned: no order for 383 days; churn risk 99.9% (high); P(alive) <0.01 (repeat).")
    assert [explain.percent_words(v) for v in (0.9996, 0.99949, 0.0004, None)] == [">99.9%", "99.9%", "<0.1%", "n/a"]
    assert [explain.probability_words(v) for v in (0.996, 0.994, 0.004, 0.006)] == [">0.99", "0.99", "<0.01", "0.01"]


def test_a_gone_customer_without_a_churn_risk_is_not_told_to_trust_the_churn_risk():
    # Online Retail's last 90 days as of 2011-12-09 (session 18 audit): churn skipped (the fewest-orders ranking
    # beats the model), the recency baseline's P(alive) 0.50 for the 612 churned buyers: each was told to "trust the
    # calendar and the churn risk", a churn risk the run does not have
    line = status_line("churned", p_alive=0.504504505, p_alive_source="baseline", recency_days=75)
    assert "churn risk" not in line
    assert line.endswith("Signals disagree: the calendar says gone, P(alive) says active; trust the calendar, "
                         "P(alive) is a model of the purchase rhythm.")
    # with a churn risk that is not low it is still named
    assert "trust the calendar and the churn risk, " in status_line("churned", churn_probability=0.6,
                                                                    churn_tier="mid", p_alive=0.6)


def test_an_active_or_new_customer_with_a_low_churn_risk_is_not_called_likely_gone():
    # 200 Online Retail customers as of 2011-12-09 (customer 12618: new, 21 days, churn risk 31% low over 102 days,
    # P(an order in the next 90 days) 0.36) and CDNOW as of 1998-06-30 (529 active, 3 reactivated buyers with a low
    # churn risk and P < 0.5): told "P(...) says likely gone" beside their own low churn risk
    for stage in ("active", "new", "reactivated"):
        line = status_line(stage, churn_probability=0.31, churn_tier="low", p_alive=0.36, p_alive_days=90)
        assert "disagree" not in line and "likely gone" not in line, line
    # a P(alive) under 0.5 with a mid churn risk, or no churn risk, is still a disagreement; so is a high risk
    assert "P(alive) says likely gone" in status_line("active", churn_probability=0.5, churn_tier="mid", p_alive=0.3)
    assert "P(alive) says likely gone" in status_line("new", p_alive=0.3)
    assert "the churn risk says likely gone" in status_line("active", churn_probability=0.9, churn_tier="high",
                                                            p_alive=0.8)
