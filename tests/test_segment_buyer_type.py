"""buyer_type: business versus consumer where order sizes are bimodal, one segment when they are not."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from shopseg.config import load_config
from shopseg.ingest import ingest
from shopseg.segment import segment_all
from shopseg.segment.schemes.buyer_type import learn_split
from shopseg.workspace import open_workspace

AS_OF = "2024-06-30"


def _shop(tmp_path, units: dict[str, list[int]]):
    """One customer per key, one order per month with one line per listed quantity (product p1, price 2)."""
    ws = open_workspace(tmp_path / "ws")
    cust = pd.DataFrame({"customer_id": list(units) + ["nobody"]})
    orders, lines = [], []
    for cid, qs in units.items():
        for m in range(1, 3):
            oid = f"{cid}-{m}"
            orders.append((oid, cid, f"2024-0{m}-15 10:00:00", "sale"))
            lines += [(oid, "p1", q, 2.0) for q in qs]
    ingest(ws, cust, table="customers")
    ingest(ws, pd.DataFrame({"product_id": ["p1"], "name": ["mug"], "price": [2.0]}), table="products")
    ingest(ws, pd.DataFrame(orders, columns=["order_id", "customer_id", "ordered_at", "kind"]), table="orders")
    ingest(ws, pd.DataFrame(lines, columns=["order_id", "product_id", "quantity", "unit_price"]), table="order_lines")
    return ws


def test_planted_trade_buyers_are_found_with_their_rule(tmp_path):
    # 30 consumers taking 1 or 2 of a thing, 10 trade buyers taking cases of 24 to 48
    units = {f"c{i:02d}": [1 + i % 2, 1, 2] for i in range(30)}
    units.update({f"b{i:02d}": [24 + 8 * (i % 4), 24, 48] for i in range(10)})
    ws = _shop(tmp_path, units)
    cfg = load_config(overrides={"segments": {"schemes": ["buyer_type"]}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = segment_all(ws, 1, AS_OF, cfg)
    got = run.segments.set_index("customer_id")["buyer_type"]
    assert (got[[f"b{i:02d}" for i in range(10)]] == "business").all()
    assert (got[[f"c{i:02d}" for i in range(30)]] == "consumer").all()
    assert got["nobody"] == "Prospect"
    rule = json.loads(run.profiles.set_index("segment").loc["business", "profile"])["rule"]
    assert rule["split"] and 2 < rule["threshold"] < 24 and rule["ashman_d"] >= 2
    assert rule["rule"].startswith("business when median units per order line >= ")
    ws.close()


def test_no_split_when_order_sizes_are_one_population(tmp_path):
    rng = np.random.default_rng(1)
    units = {f"c{i:02d}": [int(q) for q in rng.integers(3, 9, 3)] for i in range(40)}
    ws = _shop(tmp_path, units)
    cfg = load_config(overrides={"segments": {"schemes": ["buyer_type", "rfm"]}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = segment_all(ws, 1, AS_OF, cfg)
    assert run.segments["buyer_type"].value_counts().to_dict() == {"all": 40, "Prospect": 1}
    prof = run.profiles.set_index(["scheme", "segment"])
    rule = json.loads(prof.loc[("buyer_type", "all"), "profile"])["rule"]
    assert not rule["split"] and rule["why"].startswith("no business/consumer split in the data")
    assert prof.loc[("buyer_type", "all"), "name"] == "all buyers (no business/consumer split in the data)"
    ws.close()


@pytest.mark.parametrize("values, why", [
    (np.array([3.0] * 30), "one value"),
    (np.array([1.0, 40.0] * 5), "10 buyer(s)"),
])
def test_too_little_to_learn_from_says_why(values, why):
    out = learn_split(values, min_bic_gain=10, min_separation=2, min_share=0.05)
    assert not out["split"] and why in out["why"]


def test_a_small_minority_is_not_a_buyer_type():
    rng = np.random.default_rng(2)
    v = np.r_[rng.lognormal(0.3, 0.3, 985), rng.lognormal(3.5, 0.3, 15)]  # 1.5% trade buyers
    out = learn_split(v, min_bic_gain=10, min_separation=2, min_share=0.05)
    assert not out["split"] and "smaller component 1.5% < 5%" in out["why"]
