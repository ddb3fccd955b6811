"""Planted repurchases in the demo shop (synthesize(..., repurchase=True)): the recommender recovers them."""

from __future__ import annotations

import numpy as np

from shopseg.config import load_config
from shopseg.recommend import next_basket_model, products_frame, purchases_from_workspace
from shopseg.synth import synthesize
from shopseg.workspace import Workspace


def test_planted_staples_are_bought_every_cycle_and_recommended_when_due(tmp_path):
    with Workspace.open(tmp_path / "plain") as plain, Workspace.open(tmp_path / "planted") as ws:
        synthesize(plain, customers=600, seed=5)
        got = synthesize(ws, customers=600, seed=5, repurchase=True)
        assert got["ground_truth_repurchase"] == 600 and not plain.has_table("ground_truth_repurchase")
        # the planting has its own random stream: same customers and personas (prices, and so shipping lines and
        # what follows them, may differ)
        q = "SELECT customer_id, persona FROM ground_truth ORDER BY 1"
        assert plain.sql(q) == ws.sql(q)
        gt = ws.df("SELECT * FROM ground_truth_repurchase")
        assert set(gt["cycle_days"]) <= {21.0, 30.0, 40.0, 45.0, 60.0, 90.0}
        # the staple is bought on about as many days as it was planted (an anchor line may displace a planting; other
        # picks may add a day)
        n = ws.df("""SELECT g.customer_id, count(DISTINCT CAST(o.ordered_at AS DATE)) AS days,
                            any_value(g.n_planted_observed) AS planted
                     FROM ground_truth_repurchase g JOIN orders o ON o.customer_id = g.customer_id AND o.kind = 'sale'
                     JOIN order_lines l ON l.order_id = o.order_id AND l.product_id = g.product_id GROUP BY 1""")
        close = (n["days"] >= n["planted"] - 1) & (n["days"] <= n["planted"] + 1)
        assert close.mean() > 0.9, n[~close].head()
        purch = purchases_from_workspace(ws, "2024-12-31")
        nb = next_basket_model(load_config(), purch, products_frame(ws), "2024-12-31")
        due = gt[(gt["n_planted_observed"] >= 2) & gt["bought_in_horizon"]]
        recs = nb.recommend(due["customer_id"], top_n=10)
        hit = recs.merge(due[["customer_id", "product_id"]], on=["customer_id", "product_id"])
        assert len(hit) / len(due) > 0.9
        assert (hit["kind"] == "repeat").all() and hit["rank"].mean() < 2
        assert np.isin(hit["source"], ["repeat"]).mean() > 0.9
