"""Lifecycle stages and value tiers on the fixture shop, by hand."""

import pandas as pd
import pytest

from shopseg.config import load_config
from shopseg.errors import ConfigError
from shopseg.features import customer_features
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.segment import SegmentWarning, lifecycle_stages, lifecycle_windows, value_tiers


@pytest.fixture
def shop(ws):
    load_fixture_shop(ws)
    return ws


def test_windows_are_derived_from_the_shops_own_gaps(shop):
    # 15 gaps between purchase days: 24 40 42 46 50 65 71 75 76 76 77 78 90 105 472
    # p75 at position 0.75 * 14 = 10.5 -> (77 + 78) / 2 = 77.5 -> 78 days
    # p95 at position 13.3 -> 105 + 0.3 * (472 - 105) = 215.1 -> 216 days
    w = lifecycle_windows(shop, FIXTURE_AS_OF)
    assert (w["silent_days"], w["churned_days"], w["new_days"], w["n_gaps"], w["source"]) == \
        (78, 216, 78, 15, "derived")


def test_lifecycle_stages_of_the_fixture_shop_by_hand(shop):
    got = lifecycle_stages(shop, FIXTURE_AS_OF).set_index("customer_id")["stage"].to_dict()
    assert got == {
        "c01": "active",       # recency 6, first order 168 days ago
        "c02": "silent",       # recency 82 > 78
        "c03": "new",          # first order 11 days ago <= 78
        "c04": "churned",      # recency 304 > 216
        "c05": "churned",      # recency 456
        "c06": "active",       # recency 52, last gap 90 <= 216
        "c07": "active",
        "c08": "active",
        "c09": "reactivated",  # recency 16 after a gap of 472 > 216 days
        "c10": "prospect",     # no order
        "c11": "prospect",
    }


def test_configured_windows_override_the_derived_ones(shop):
    cfg = load_config(overrides={"segments": {"lifecycle": {"silent_days": 30, "churned_days": 60}}})
    got = lifecycle_stages(shop, FIXTURE_AS_OF, cfg).set_index("customer_id")["stage"]
    assert got["c06"] == "silent"  # 52 > 30
    assert got["c02"] == "churned"  # 82 > 60
    assert got["c09"] == "reactivated"


def test_too_few_gaps_fall_back_to_default_windows_with_a_warning(shop):
    cfg = load_config(overrides={"segments": {"lifecycle": {"min_gaps": 100}}})
    with pytest.warns(SegmentWarning, match="only 15 gap"):
        w = lifecycle_windows(shop, FIXTURE_AS_OF, cfg)
    assert (w["silent_days"], w["churned_days"], w["source"]) == (90, 365, "fallback")


def test_churn_window_shorter_than_silent_is_rejected():
    cfg = load_config(overrides={"segments": {"lifecycle": {"silent_days": 90, "churned_days": 30}}})
    with pytest.raises(ConfigError, match="churned_days' setting must be greater"):
        lifecycle_windows(None, FIXTURE_AS_OF, cfg)


def test_every_customer_gets_exactly_one_lifecycle_stage(shop):
    got = lifecycle_stages(shop, FIXTURE_AS_OF)
    assert got["customer_id"].is_unique and len(got) == 11
    assert set(got["stage"]) <= {"prospect", "new", "active", "silent", "churned", "reactivated"}


def test_value_tiers_of_the_fixture_shop_by_hand(shop):
    f = customer_features(shop, FIXTURE_AS_OF)
    # monetary_net ranks: c06 7200, c02 365 | c04 310, c01 290, c08 184 | c07 180, c09 160, c03 40, c05 10
    # position (rank - 1) / 9: high < 0.2 (2 buyers), mid < 0.5 (3 more), low the rest
    got = value_tiers(f).set_index("customer_id")["tier"].to_dict()
    assert got == {"c06": "high", "c02": "high", "c04": "mid", "c01": "mid", "c08": "mid", "c07": "low",
                   "c09": "low", "c03": "low", "c05": "low", "c10": "Prospect", "c11": "Prospect"}


def test_value_tiers_can_rank_by_another_score_such_as_clv(shop):
    f = customer_features(shop, FIXTURE_AS_OF)
    clv = pd.Series({c: (100.0 if c == "c05" else 1.0) for c in f["customer_id"]})
    got = value_tiers(f, scores=clv).set_index("customer_id")["tier"]
    assert got["c05"] == "high"


def test_value_shares_adding_past_one_are_rejected():
    cfg = load_config(overrides={"segments": {"value": {"high_share": 0.7, "mid_share": 0.5}}})
    with pytest.raises(ConfigError, match="add up to at most 1"):
        value_tiers(pd.DataFrame({"customer_id": [], "has_orders": [], "monetary_net": []}), cfg)
