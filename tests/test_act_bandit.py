"""Offer optimisation: Thompson sampling shifts the offer mix toward variants that worked, per segment."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from shopseg.act import ThompsonSampler, plan_actions
from shopseg.errors import NotFittedError

from .test_act_holdout import synthetic_run
from .test_act_playbook import act_config, write_table

AS_OF = datetime(2024, 7, 1, 23, 59, 59)
OFFERS = ["Early access", "Double points"]
CAMPAIGN = {"perks": {"when": ["value_tier in high"], "offers": OFFERS, "value": 100.0, "response_rate": 0.1,
                      "uplift": 0.1, "control_share": 0.1}}


def test_without_history_the_variants_are_split_evenly():
    ts = ThompsonSampler(["a", "b"], random_state=0).fit(None)
    picks, _ = ts.choose(np.array(["s"] * 4000))
    assert abs((picks == "a").mean() - 0.5) < 0.03


def test_a_variant_that_worked_gets_most_customers_in_its_segment_only():
    h = pd.DataFrame({"segment": ["s1", "s1", "s2", "s2"], "variant": ["a", "b", "a", "b"],
                      "n": [200, 200, 200, 200], "responders": [40, 10, 10, 40]})
    ts = ThompsonSampler(["a", "b"], random_state=1).fit(h)
    picks, info = ts.choose(np.array(["s1"] * 1000 + ["s2"] * 1000))
    assert (picks[:1000] == "a").mean() > 0.95
    assert (picks[1000:] == "b").mean() > 0.95
    # Beta(1 + 40, 1 + 160) and Beta(1 + 10, 1 + 190) posteriors
    a, b, src = ts.posterior("s1")
    assert a.tolist() == [41.0, 11.0] and b.tolist() == [161.0, 191.0] and src == "segment"


def test_an_unmeasured_segment_borrows_the_pooled_counts():
    h = pd.DataFrame({"segment": ["s1", "s1"], "variant": ["a", "b"], "n": [100, 100], "responders": [30, 5]})
    a, b, src = ThompsonSampler(["a", "b"]).fit(h).posterior("new")
    assert a.tolist() == [31.0, 6.0] and src == "pooled"


def test_sampler_must_be_fitted_first():
    with pytest.raises(NotFittedError):
        ThompsonSampler(["a"]).posterior("s")


def measured_history(ws, good="Double points"):
    """An earlier run 0 whose perks campaign was measured: `good` converted 30%, the other 5%, everywhere."""
    rows = []
    for seg in ["Champions", "Loyal", "Potential Loyalist", "New", "At Risk", "Lost", "Hibernating"]:
        for v in OFFERS:
            rows.append({"run_id": 0, "campaign": "perks", "scheme": "rfm", "segment": seg, "variant": v,
                         "n_treatment": 100, "responders_treatment": 30 if v == good else 5})
    write_table(ws, "uplift_reports", pd.DataFrame(rows))


def test_earlier_measured_responses_shift_the_offer_mix_and_the_reason_says_so(ws):
    synthetic_run(ws, n=3000)
    before = plan_actions(ws, 1, AS_OF, config=act_config(CAMPAIGN), seed=1, write=False).actions
    treated = before[before["group"] == "treatment"]
    assert abs((treated["variant"] == "Double points").mean() - 0.5) < 0.06
    measured_history(ws)
    after = plan_actions(ws, 1, AS_OF, config=act_config(CAMPAIGN), seed=1, write=False).actions
    t = after[after["group"] == "treatment"]
    assert (t["variant"] == "Double points").mean() > 0.95
    assert t["reason"].str.contains("Thompson sampling on measured response rates in rfm").all()
    assert "'Double points' 30.0% of 100" in t["reason"].iloc[0]
    # the control group is drawn before and does not move
    ctrl = lambda df: set(df.loc[df["group"] == "control", "customer_id"])  # noqa: E731
    assert ctrl(before) == ctrl(after)
    again = plan_actions(ws, 1, AS_OF, config=act_config(CAMPAIGN), seed=1, write=False).actions
    pd.testing.assert_frame_equal(after, again)


def test_thompson_sampling_can_be_switched_off(ws):
    synthetic_run(ws, n=2000)
    measured_history(ws)
    a = plan_actions(ws, 1, AS_OF, config=act_config(CAMPAIGN, thompson_sampling=False), seed=1, write=False).actions
    t = a[a["group"] == "treatment"]
    assert abs((t["variant"] == "Double points").mean() - 0.5) < 0.08
    assert t["reason"].str.contains("thompson_sampling off").all()
