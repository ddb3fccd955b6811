"""The live path's RFM and value tiers equal the batch rules run over the population with one row replaced."""

import warnings

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from shopseg.config import load_config
from shopseg.segment import SegmentWarning, rfm_segments, value_tiers
from shopseg.segment._ranks import RunRanks

CFG = load_config()


def _population(values: list[tuple[int, int, float, bool]]) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [f"c{i:03d}" for i in range(len(values))],
        "has_orders": [v[3] for v in values],
        "recency_days": [v[0] if v[3] else 0 for v in values],
        "frequency": [v[1] if v[3] else 0 for v in values],
        "monetary_net": [v[2] if v[3] else 0.0 for v in values],
        "monetary_total": [v[2] if v[3] else 0.0 for v in values],
    })


row_strategy = st.tuples(st.integers(0, 40), st.integers(1, 6), st.sampled_from([5.0, 10.0, 20.0, 50.0, 80.0]),
                         st.booleans())


@settings(max_examples=60, deadline=None)
@given(st.lists(row_strategy, min_size=1, max_size=40), st.data())
def test_one_customer_scores_as_the_batch_with_its_row_replaced(rows, data):
    pop = _population(rows)
    ranks = RunRanks(pop, CFG)
    # the customer re-scored: one of the run's (ties and self-exclusion) or a new one
    i = data.draw(st.integers(0, len(pop)))
    new = _population([data.draw(row_strategy)])
    cid = pop.customer_id.iloc[i] if i < len(pop) else "new"
    new["customer_id"] = cid
    replaced = pd.concat([pop[pop.customer_id != cid], new], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentWarning)  # the oracle warns about thin data; the rule is the same
        want = rfm_segments(replaced, CFG).set_index("customer_id").loc[cid]
    got = ranks.rfm(cid, new.iloc[0])
    assert got == {k: (str(want[k]) if k == "segment" else int(want[k]))
                   for k in ("r_score", "f_score", "m_score", "fm_score", "segment")}
    tier = value_tiers(replaced, CFG).set_index("customer_id").loc[cid, "tier"]
    assert ranks.value_tier(cid, bool(new.has_orders.iloc[0]), float(new.monetary_net.iloc[0])) == tier


def test_value_tiers_by_predicted_value_use_the_runs_scores_by_hand():
    pop = _population([(1, 1, 10.0, True)] * 5)
    clv = pd.Series([100.0, 80.0, 60.0, 40.0, 20.0], index=pop.customer_id)
    ranks = RunRanks(pop, CFG, clv)
    # others of c004 above 90: c000 only -> position 1/5 = 0.2, not < high_share 0.2 -> mid
    assert ranks.value_tier("c004", True, 90.0, basis="clv") == "mid"
    assert ranks.value_tier("c004", True, 101.0, basis="clv") == "high"  # nobody above
    # c000's own stored 100 does not count against it: 80, 60 of 5 above 45 -> 0.4 -> mid;
    # 80, 60, 40 above 35 -> 0.6 -> low
    assert ranks.value_tier("c000", True, 45.0, basis="clv") == "mid"
    assert ranks.value_tier("c000", True, 35.0, basis="clv") == "low"
    assert ranks.value_tier("c000", True, float("nan"), basis="clv") == "low"  # a buyer without a score: last
    assert ranks.has_basis("clv") and not RunRanks(pop, CFG).has_basis("clv")


def test_cut_method_needs_no_population():
    cfg = load_config(overrides={"segments": {"rfm": {"method": "cuts"}}})
    pop = _population([(5, 2, 30.0, True)])
    ranks = RunRanks(pop, cfg)
    new = _population([(3, 9, 10_000.0, True)]).iloc[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentWarning)
        want = rfm_segments(_population([(3, 9, 10_000.0, True)]), cfg).iloc[0]
    got = ranks.rfm("c000", new)
    assert (got["r_score"], got["f_score"], got["m_score"], got["segment"]) == \
        (want.r_score, want.f_score, want.m_score, want.segment)


@pytest.mark.parametrize("has_orders", [False])
def test_a_customer_without_orders_is_the_no_orders_segment(has_orders):
    ranks = RunRanks(_population([(1, 1, 10.0, True)]), CFG)
    row = _population([(0, 0, 0.0, has_orders)]).iloc[0]
    assert ranks.rfm("x", row)["segment"] == CFG["segments.no_orders_segment"]
    assert ranks.value_tier("x", False, 0.0) == CFG["segments.no_orders_segment"]
