"""Recommendations: hand-checked item-item scores, exclusions, cold start, sources, the stage, offline metrics."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from shopseg.config import load_config
from shopseg.errors import ConfigError, NotFittedError, ShopsegError
from shopseg.recommend import Recommender, evaluate_time_split, has_implicit, ranking_metrics, recommendations_for

# u1 bought a, b; u2 a, b, c; u3 a; u4 d.  Buyer sets: a {u1,u2,u3}, b {u1,u2}, c {u2}, d {u4}.
# cosine(a, b) = 2 / sqrt(3 x 2) = 0.8165, cosine(a, c) = 1 / sqrt(3) = 0.5774, cosine(b, c) = 1 / sqrt(2)
INTERACTIONS = pd.DataFrame({"customer_id": ["u1", "u1", "u2", "u2", "u2", "u3", "u4"],
                             "product_id": ["a", "b", "a", "b", "c", "a", "d"], "n_days": 1})
PRODUCTS = pd.DataFrame({
    "product_id": ["a", "b", "c", "d", "e", "ship"],
    "name": ["Trail Shoe", "Trail Sock", "Rain Jacket", "Water Bottle", "Trail Shoe Pro", "Postage"],
    "category": ["shoes", "apparel", "apparel", "accessories", "shoes", None],
    "brand": ["Apex", "Apex", "Nova", "Flow", "Apex", None],
    "description": ["", "", "", "", "", ""],
    "is_available": [True, True, True, True, False, True],
    "is_merchandise": [True, True, True, True, True, False],
})


def item_item(**kw):
    return Recommender(collaborative="cooccurrence", weight_content=0, weight_rules=0, weight_popularity=0, **kw)


def test_item_item_scores_are_the_cosines_worked_out_by_hand():
    m = item_item().fit(INTERACTIONS, PRODUCTS)
    recs = m.recommend(["u3"], top_n=3)
    # u3 bought a: b (0.8165) before c (0.5774); scores are scaled by the best: 1 and 0.7071
    assert recs["product_id"].tolist()[:2] == ["b", "c"]
    assert recs["score"].iloc[1] == pytest.approx(0.57735 / 0.81650, abs=1e-4)
    assert (recs["source"].iloc[:2] == "item_item").all()
    # u1 bought a and b: c scores cos(a,c) + cos(b,c) = 0.5774 + 0.7071
    assert m.recommend(["u1"], top_n=1)["product_id"].tolist() == ["c"]


def test_bought_unavailable_and_non_merchandise_products_are_never_recommended():
    m = Recommender(collaborative="cooccurrence", weight_popularity=1.0).fit(INTERACTIONS, PRODUCTS)
    recs = m.recommend(["u1", "u2", "u3", "u4", "stranger"], top_n=10)
    assert "e" not in set(recs["product_id"])      # is_available false
    assert "ship" not in set(recs["product_id"])   # not merchandise
    bought = set(zip(INTERACTIONS["customer_id"], INTERACTIONS["product_id"]))
    assert not bought & set(zip(recs["customer_id"], recs["product_id"]))
    assert recs.groupby("customer_id")["rank"].apply(lambda r: r.tolist() == list(range(1, len(r) + 1))).all()


def test_cold_start_customers_get_the_popularity_of_their_segment():
    segs = pd.DataFrame({"customer_id": ["u1", "u2", "u4", "new1", "new2"],
                         "segment": ["fans", "fans", "hikers", "fans", "hikers"]})
    m = Recommender(collaborative="cooccurrence").fit(INTERACTIONS, PRODUCTS, segments=segs)
    recs = m.recommend(["new1", "new2", "nobody"], top_n=2).groupby("customer_id")["product_id"].apply(list)
    assert recs["new1"] == ["a", "b"]       # bought by both fans
    assert recs["new2"][0] == "d"           # the hikers' product
    assert recs["nobody"] == ["a", "b"]     # no segment: the whole shop (a 3 buyers, b 2)
    src = m.recommend(["new1"], top_n=2)["source"]
    assert (src == "popularity").all()


def test_content_similarity_finds_the_same_brand_and_category():
    m = Recommender(collaborative="cooccurrence", weight_collaborative=0, weight_rules=0,
                    weight_popularity=0, weight_content=1.0).fit(INTERACTIONS, PRODUCTS)
    # u4 bought the Flow bottle (accessories): nothing shares brand or category, so scores tie at 0;
    # u3 bought the Apex Trail Shoe: the Apex Trail Sock shares brand and words
    recs = m.recommend(["u3"], top_n=1)
    assert recs["product_id"].tolist() == ["b"] and recs["source"].tolist() == ["content"]


def test_rules_give_cross_sell_recommendations():
    rules = pd.DataFrame({"antecedent": [["d"]], "consequent": ["c"], "confidence": [0.9], "lift": [3.0],
                          "support": [0.1]})
    m = Recommender(collaborative="cooccurrence", weight_collaborative=0, weight_content=0, weight_popularity=0.01,
                    weight_rules=1.0).fit(INTERACTIONS, PRODUCTS, rules=rules)
    recs = m.recommend(["u4"], top_n=1)
    assert recs[["product_id", "source"]].values.tolist() == [["c", "cross_sell"]]


@pytest.mark.skipif(not has_implicit(), reason="the optional `implicit` package is not installed")
def test_als_path_runs_and_is_deterministic():
    rng = np.random.default_rng(0)
    inter = pd.DataFrame({"customer_id": [f"u{i}" for i in rng.integers(0, 200, 2000)],
                          "product_id": [f"p{j}" for j in rng.integers(0, 50, 2000)], "n_days": 1}).drop_duplicates(
        ["customer_id", "product_id"])
    prods = pd.DataFrame({"product_id": [f"p{j}" for j in range(50)], "is_available": True, "is_merchandise": True})
    a = Recommender(als_factors=8, als_iterations=5).fit(inter, prods)
    assert a.collaborative_ == "als"
    r1 = a.recommend(["u1", "u2"])
    r2 = Recommender(als_factors=8, als_iterations=5).fit(inter, prods).recommend(["u1", "u2"])
    pd.testing.assert_frame_equal(r1, r2)
    assert set(r1["source"]) <= {"als", "popularity"}


def test_without_implicit_auto_falls_back_to_item_item(monkeypatch):
    import shopseg.recommend._blend as R

    monkeypatch.setattr(R, "has_implicit", lambda: False)
    m = Recommender(collaborative="auto").fit(INTERACTIONS, PRODUCTS)
    assert m.collaborative_ == "item_item"
    with pytest.raises(ConfigError, match="not installed"):
        Recommender(collaborative="als").fit(INTERACTIONS, PRODUCTS)


def test_bad_parameters_and_unfitted_use_are_rejected():
    with pytest.raises(ConfigError, match="'collaborative'"):
        Recommender(collaborative="svd").fit(INTERACTIONS, PRODUCTS)
    with pytest.raises(ConfigError, match="'weight_content'"):
        Recommender(weight_content=-1).fit(INTERACTIONS, PRODUCTS)
    with pytest.raises(NotFittedError):
        Recommender().recommend(["u1"])
    with pytest.raises(ConfigError, match="recommend.top_n"):
        load_config(overrides={"recommend": {"top_n": 0}})


def test_ranking_metrics_by_hand():
    recs = pd.DataFrame({"customer_id": ["a", "a", "b", "b"], "rank": [1, 2, 1, 2], "product_id": ["x", "y", "x", "z"]})
    rel = pd.DataFrame({"customer_id": ["a", "b", "b"], "product_id": ["x", "z", "w"]})
    m = ranking_metrics(recs, rel, k=2, n_recommendable=6)
    # a: hit at 1 -> P 1/2, R 1, NDCG 1.  b: hit at 2 -> P 1/2, R 1/2, DCG 1/log2(3), IDCG 1 + 1/log2(3)
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(0.75)
    assert m["ndcg"] == pytest.approx((1 + (1 / np.log2(3)) / (1 + 1 / np.log2(3))) / 2)
    assert m["coverage"] == pytest.approx(3 / 6)


def test_recommend_stage_writes_the_table_and_the_cli_helper_reads_it(ws):
    from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
    from shopseg.pipeline import RunContext
    from shopseg.recommend import recommend_stage
    from shopseg.segment import segment_all

    load_fixture_shop(ws)
    cfg = load_config(overrides={"segments": {"cluster": {"sample_size": 100}},
                                 "recommend": {"collaborative": "cooccurrence"}})
    ws.con.execute("INSERT INTO runs (run_id, as_of, seed, status) VALUES (1, ?, 0, 'done')", [FIXTURE_AS_OF])
    segment_all(ws, 1, FIXTURE_AS_OF, cfg)
    notes = recommend_stage(RunContext(ws, 1, FIXTURE_AS_OF, cfg, 0, None))
    recs = ws.df("SELECT * FROM recommendations WHERE run_id = 1")
    assert notes["customers"] == 11  # known at as_of (Lu signs up later)
    assert set(recs.columns) == {"run_id", "customer_id", "rank", "product_id", "product_name", "score", "source",
                                 "kind", "is_due", "reason"}
    assert recs.set_index(["customer_id", "product_id"]).loc[("c01", "p04"), "product_name"] == "Wool Socks"
    assert "p06" not in set(recs["product_id"])  # postage
    assert notes["mix_from"] == ("defaults (not backtested against buy it again: 6 customer(s) bought both before "
                                 "and in the inner split's last 90 days; needs 20)")
    # Ada bought all five products: only repeats are left; Wool Socks twice, 66 days apart, last 2024-06-25 (as_of 2024-07-01)
    ada = recommendations_for(ws, "c01")
    assert len(ada) == 5 and set(ada["kind"]) == {"repeat"} and (ada["source"] == "repeat").all()
    socks = ada.set_index("product_id").loc["p04"]
    assert socks["name"] == "Wool Socks" and socks["reason"] == "you bought this twice, 66 days apart; last 6 days ago"
    assert not socks["is_due"]  # 6 of 66 days
    # Cai bought only the bottle: it comes back as a repeat, the four others are new
    cai = recommendations_for(ws, "c03")
    assert len(cai) == 5 and cai["rank"].tolist() == [1, 2, 3, 4, 5]
    assert cai.set_index("product_id")["kind"].to_dict() == {"p05": "repeat", **dict.fromkeys(
        ["p01", "p02", "p03", "p04"], "new")}
    # few of the bottle's buyers re-buy it (none of its 3; the shop's share, shrunk): no cycle is claimed
    assert cai.set_index("product_id").loc["p05", "reason"] == "you bought this 11 days ago"
    jo = recommendations_for(ws, "c10")  # never ordered: segment popularity
    assert (jo["source"] == "popularity").all() and len(jo) == 5 and (jo["kind"] == "new").all()
    with pytest.raises(ShopsegError, match="no recommendations"):
        recommendations_for(ws, "zz")


def test_on_the_demo_shop_item_item_beats_popularity_on_new_items_and_next_basket_beats_buy_again(ws):
    from shopseg.synth import synthesize

    synthesize(ws, customers=1500, seed=3)
    res = evaluate_time_split(ws, datetime(2024, 9, 30, 23, 59, 59), k=10,
                              methods=("popularity", "buy_again", "collaborative", "next_basket"),
                              collaborative="cooccurrence", with_rules=False).set_index("method")
    assert res.loc["collaborative (item_item)", "new_ndcg"] > 1.2 * res.loc["popularity", "new_ndcg"]
    assert res.loc["collaborative (item_item)", "new_coverage"] > res.loc["popularity", "new_coverage"]
    assert res.loc["collaborative (item_item)", "repeat_share"] == 0  # the explore blend never repeats
    assert res.loc["next_basket", "ndcg"] > res.loc["buy_again", "ndcg"]
    assert res.loc["next_basket", "new_ndcg"] >= 0.95 * res.loc["collaborative (item_item)", "new_ndcg"]


def test_the_replenishment_campaign_takes_customers_with_two_due_reorders(ws):
    from shopseg.act import plan_actions

    ws.con.execute("INSERT INTO runs (run_id, as_of, seed, status) VALUES (1, '2024-07-01', 0, 'done')")
    feats = pd.DataFrame({"customer_id": ["a", "b", "c"], "has_orders": True, "frequency": 2, "monetary_total": 100.0,
                          "monetary_net": 100.0, "avg_order_value": 50.0, "discount_share": 0.0, "run_id": 1})
    ws.con.register("_t", feats)
    ws.con.execute("CREATE TABLE customer_features AS SELECT * FROM _t")
    ws.con.unregister("_t")
    segs = pd.DataFrame({"customer_id": ["a", "b", "c"], "scheme": "lifecycle", "segment": ["active", "active",
                                                                                           "churned"], "run_id": 1})
    ws.con.register("_t", segs)
    ws.con.execute("CREATE TABLE segments AS SELECT * FROM _t")
    ws.con.unregister("_t")
    # a: two due repeats; b: one; c: two, but churned
    recs = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c", "c"], "rank": [1, 2, 3, 1, 2, 1, 2],
                         "kind": "repeat", "is_due": [True, True, False, True, False, True, True], "run_id": 1})
    ws.con.register("_t", recs)
    ws.con.execute("CREATE TABLE recommendations AS SELECT * FROM _t")
    ws.con.unregister("_t")
    camps = {n: {"enabled": False} for n in ("win_back", "vip", "welcome", "coupon", "reactivation", "last_chance",
                                              "cart_reminder")}
    cfg = load_config(overrides={"act": {"budget": 0.0, "campaigns": {**camps, "replenishment": {"control_share": 0.0}}}})
    plan = plan_actions(ws, 1, datetime(2024, 7, 1), config=cfg)
    assert plan.actions.set_index("customer_id")["campaign"].to_dict() == {"a": "replenishment"}


def test_popularity_from_a_matrix_of_pairs_counts_as_from_the_pairs_themselves():
    # pairs: u1 a (twice), u1 b, u2 a, u3 d; segments: u1, u2 in s1, u3 in s2, u4 (no pair) in s3
    users = np.array(["u1", "u2", "u3", "u4"], dtype=object)
    pairs = pd.DataFrame({"customer_id": ["u1", "u1", "u1", "u2", "u3"], "product_id": ["a", "a", "b", "a", "d"]})
    seg = pd.DataFrame({"customer_id": ["u1", "u2", "u3", "u4"], "segment": ["s1", "s1", "s2", "s3"]})
    from scipy import sparse

    m = np.zeros((4, 5))  # the catalogue's merchandise: a, b, c, d, e
    m[[0, 0, 1, 2], [0, 1, 0, 3]] = 1.0
    nd = sparse.csr_matrix(np.ones((4, 5)))
    kw = dict(collaborative="cooccurrence", weight_collaborative=0, weight_content=0)
    a = Recommender(**kw).fit(None, PRODUCTS, n_days=(users, nd), popularity=pairs, segments=seg)
    b = Recommender(**kw).fit(None, PRODUCTS, n_days=(users, nd), popularity=sparse.csr_matrix(m),
                              segments=seg)
    assert b.popularity_.tolist() == a.popularity_.tolist() == [2, 1, 0, 1, 0]
    assert {k: v.tolist() for k, v in b.segment_popularity_.items()} == {"s1": [2, 1, 0, 0, 0],
                                                                          "s2": [0, 0, 0, 1, 0]}
    assert list(a.segment_popularity_) == list(b.segment_popularity_)
    with pytest.raises(ConfigError, match="3 x 5; expected customers x products 4 x 5"):
        Recommender(**kw).fit(None, PRODUCTS, n_days=(users, nd), popularity=sparse.csr_matrix((3, 5)))


def test_purchases_as_categoricals_are_the_same_rows_and_make_the_same_history(ws):
    from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
    from shopseg.recommend import build_history, products_frame, purchases_from_workspace
    from shopseg.recommend._blend import catalogue

    load_fixture_shop(ws)
    plain = purchases_from_workspace(ws, FIXTURE_AS_OF)
    coded = purchases_from_workspace(ws, FIXTURE_AS_OF, categorical=True)
    assert isinstance(coded["customer_id"].dtype, pd.CategoricalDtype) and len(plain) > 20
    key = ["customer_id", "day", "product_id"]
    assert isinstance(coded["day"].dtype, pd.CategoricalDtype) and coded["day"].cat.codes.dtype.itemsize <= 2
    same = coded.astype({"customer_id": str, "product_id": str, "day": plain["day"].dtype})
    same = same.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(same, plain.astype({"customer_id": str, "product_id": str})[same.columns])
    items = catalogue(products_frame(ws))[0]["product_id"].to_numpy(object)
    a, b = build_history(plain, items, FIXTURE_AS_OF), build_history(coded, items, FIXTURE_AS_OF)
    assert a.users.tolist() == b.users.tolist()
    for name in ("n_days", "last_age", "own_cycle", "ratio", "tifu"):
        assert (getattr(a, name) != getattr(b, name)).nnz == 0, name
