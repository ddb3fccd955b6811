"""The shop's own uplift model: fitted on a past campaign's control group, it finds whom the campaign moves.

Run 1 (2024-05-01) contacted half of 1,200 new customers with 'hello' and held the other half out.  In the
30 days after, a customer ordered with probability 0.10, plus 0.40 when treated *and* their discount share is
above 0.5 (the planted uplift).  Run 2 (2024-06-20, after run 1's window) plans 'hello' again: its per-customer
uplift must be high for the bargain hunters and near zero for the others, and say it comes from the model.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from shopseg.act import plan_actions

from .test_act_playbook import act_config, fake_run, write_table

T1, T2 = datetime(2024, 5, 1, 23, 59, 59), datetime(2024, 6, 20, 23, 59, 59)
HELLO = {"hello": {"when": ["lifecycle in new"], "offers": ["Welcome"], "value": 50.0, "uplift": 0.05,
                   "response_rate": 0.2, "control_share": 0.5, "cooldown_days": 30}}


def features(ids, share):
    return pd.DataFrame({"customer_id": ids, "has_orders": True, "frequency": 1, "monetary_total": 50.0,
                         "monetary_net": 50.0, "avg_order_value": 50.0, "discount_share": share})


@pytest.fixture
def history(ws):
    return _history(ws, heterogeneous=True)


def _history(ws, heterogeneous: bool):
    rng = np.random.default_rng(0)
    n = 1200
    ids = [f"h{i:04d}" for i in range(n)]
    share = rng.random(n)
    segs = {c: ("New", "new", "mid", "cluster_1") for c in ids}
    fake_run(ws, 1, T1, features(ids, share), segs, None, None)
    plan_actions(ws, 1, T1, config=act_config(HELLO))
    a = ws.df('SELECT customer_id, "group" FROM actions WHERE run_id = 1').set_index("customer_id")
    treated = (a.loc[ids, "group"] == "treatment").to_numpy()
    p = 0.10 + (0.40 * treated * (share > 0.5) if heterogeneous else 0.20 * treated)
    buy = rng.random(n) < p
    buyers = [c for c, b in zip(ids, buy) if b]
    write_table(ws, "orders", pd.DataFrame({"order_id": [f"o{c}" for c in buyers], "customer_id": buyers,
                                            "ordered_at": pd.Timestamp("2024-05-10"), "kind": "sale",
                                            "discount_amount": 0.0}))
    write_table(ws, "order_lines", pd.DataFrame({"order_id": [f"o{c}" for c in buyers], "line_no": 1,
                                                 "product_id": "p1", "quantity": 1.0, "unit_price": 50.0,
                                                 "discount_amount": 0.0}))
    fake_run(ws, 2, T2, features(ids, share), segs, None, None)
    return ids, share


def test_per_customer_uplift_follows_the_planted_one(ws, history):
    ids, share = history
    plan = plan_actions(ws, 2, T2, config=act_config(HELLO, uplift_model_min_group=200, min_expected_value=-100.0),
                        write=False)
    a = plan.actions.set_index("customer_id")
    assert a["uplift_source"].str.startswith("model: ").all()
    assert "fitted on run 1" in a["uplift_source"].iloc[0]
    up = a.loc[ids, "uplift"].to_numpy()
    hunters = share > 0.5
    # planted: +0.40 for discount share > 0.5, 0 below
    assert up[hunters].mean() - up[~hunters].mean() > 0.25
    assert abs(up[~hunters].mean()) < 0.1
    assert "hello" in plan.notes["uplift_models"]


def test_too_small_a_control_group_keeps_the_campaign_value(ws, history):
    plan = plan_actions(ws, 2, T2, config=act_config(HELLO, uplift_model_min_group=5000, min_expected_value=-100.0),
                        write=False)
    assert not plan.actions["uplift_source"].str.startswith("model: ").any()
    assert "fewer than 5000 in a group" in plan.notes["uplift_models"]["hello"]


def test_a_model_that_ranks_no_better_than_random_steps_aside(ws):
    """The same uplift (+0.20) for everyone: nothing to rank, so the campaign-level value is used, and said."""
    ids, _ = _history(ws, heterogeneous=False)
    plan = plan_actions(ws, 2, T2, config=act_config(HELLO, uplift_model_min_group=200, min_expected_value=-100.0),
                        write=False)
    assert not plan.actions["uplift_source"].str.startswith("model: ").any()
    note = plan.notes["uplift_models"]["hello"]
    assert note.startswith("model steps aside: ") and "of resamples (needs 95%" in note
    assert plan.actions["uplift_source"].str.startswith("prior: ").all()  # run 1 was never measured here
