"""Review intelligence end to end on a tiny hand-written workspace."""

import json

import numpy as np
import pytest

from shopseg.config import load_config
from shopseg.text import customer_review_features, review_insights, segment_review_summary
from shopseg.workspace import Workspace

REVIEWS = [
    # review_id, customer_id, product_id, rating, text, reviewed_at
    ("r1", "c1", "p1", 5, "Love my PowerCore 10000, fast shipping and great quality!", "2024-01-01"),
    ("r2", "c1", "p1", 1, "Ankr charger stopped working after a week. The seller was rude.", "2024-01-02"),
    ("r3", "c2", "p2", 4, "小米手环质量不错，物流很快", "2024-01-03"),
    ("r4", "c2", "p2", 1, "<p>包装破了，客服态度很差</p>", "2024-01-04"),
    ("r5", "c3", None, None, "😍😍", "2024-01-05"),
    ("r6", "c3", None, None, "", "2024-01-05"),
    ("r7", "c3", None, None, "Much better than my old Belkin", "2024-01-06"),
    ("r8", "c4", "p1", 2, "Très cher pour ce que c'est", "2024-01-07"),
    ("r9", "c1", "p1", 1, "Written after as_of: must not appear", "2025-06-01"),
]


def _shop(tmp_path, reviews=REVIEWS):
    ws = Workspace.open(tmp_path / "ws")
    ws.con.execute("INSERT INTO customers (customer_id) VALUES ('c1'), ('c2'), ('c3'), ('c4')")
    ws.con.execute("INSERT INTO products (product_id, name, brand) VALUES "
                   "('p1', 'Anker PowerCore 10000', 'Anker'), ('p2', '小米手环', '小米')")
    ws.con.executemany("INSERT INTO reviews (review_id, customer_id, product_id, rating, text, reviewed_at) "
                       "VALUES (?, ?, ?, ?, ?, CAST(? AS TIMESTAMP))", [list(r) for r in reviews])
    return ws


CFG = load_config(overrides={"reviews": {"competitor_brands": ["Belkin"]}})


def _insights(ws, run_id=1):
    df = ws.df("SELECT * FROM review_insights WHERE run_id = ? ORDER BY review_id", [run_id])
    return df.set_index("review_id")


def test_review_insights_end_to_end(tmp_path):
    ws = _shop(tmp_path)
    res = review_insights(ws, 1, "2024-12-31", CFG)
    assert res.n_reviews == 8  # r9 is after as_of
    ri = _insights(ws)
    assert list(ri.index) == ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"]
    assert ri["language"].tolist() == ["en", "en", "zh", "zh", "und", "und", "en", "fr"]
    assert ri["sentiment_mode"].tolist() == ["default"] * 5 + ["none", "default", "none"]
    assert ri.loc["r1", "sentiment_label"] == "positive" and ri.loc["r2", "sentiment_label"] == "negative"
    assert ri.loc["r3", "sentiment"] > 0.5 > -0.5 > ri.loc["r4", "sentiment"]
    assert ri.loc["r5", "sentiment"] > 0  # emoji only
    assert np.isnan(ri.loc["r6", "sentiment"]) and np.isnan(ri.loc["r8", "sentiment"])
    aspects = {rid: {a["aspect"]: a["sentiment"] for a in v} for rid, v in ri["aspects"].items()}
    assert set(aspects["r1"]) == {"delivery", "quality"}
    assert set(aspects["r2"]) == {"quality", "service"} and aspects["r2"]["service"] < 0
    assert set(aspects["r4"]) == {"service", "packaging"} and aspects["r4"]["packaging"] < 0
    assert list(ri.loc["r1", "product_mentions"]) == ["p1"]
    assert list(ri.loc["r2", "brand_mentions"]) == ["Anker"]  # typo "Ankr"
    assert list(ri.loc["r3", "brand_mentions"]) == ["小米"] and list(ri.loc["r3", "product_mentions"]) == ["p2"]
    assert list(ri.loc["r7", "competitor_mentions"]) == ["Belkin"]
    # complaints: negative sentiment or rating <= 2
    assert ri["is_complaint"].tolist() == [False, True, False, True, False, False, False, True]


def test_aspects_and_mentions_are_queryable_with_sql(tmp_path):
    ws = _shop(tmp_path)
    review_insights(ws, 1, "2024-12-31", CFG)
    rows = ws.sql("SELECT a.aspect, count(*) FROM (SELECT unnest(aspects) AS a FROM review_insights) "
                  "GROUP BY 1 ORDER BY 1")
    assert rows == [("delivery", 2), ("packaging", 1), ("quality", 3), ("service", 2)]
    assert ws.scalar("SELECT count(*) FROM review_insights WHERE list_contains(brand_mentions, 'Anker')") == 1


def test_customer_rollup_counts_complaints_and_flags_detractors(tmp_path):
    ws = _shop(tmp_path)
    review_insights(ws, 1, "2024-12-31", CFG)
    assert customer_review_features(ws, 1, CFG) == 4
    f = ws.df("SELECT * FROM customer_review_features WHERE run_id = 1 ORDER BY customer_id").set_index("customer_id")
    assert f["n_reviews"].tolist() == [2, 2, 3, 1]
    assert f["n_rated"].tolist() == [2, 2, 0, 1]
    assert f["complaint_count"].tolist() == [1, 1, 0, 1]
    assert f["complaint_share"].tolist() == [0.5, 0.5, 0.0, 1.0]
    # detractor: >= 1 complaint making up >= half of the customer's reviews
    assert f["is_detractor"].tolist() == [True, True, False, True]
    assert f.loc["c1", "avg_rating"] == 3.0
    assert np.isnan(f.loc["c4", "avg_sentiment"])  # French: no model, no sentiment
    assert bool(f.loc["c2", "last_review_is_complaint"]) is True
    stricter = load_config(overrides={"reviews": {"detractor_min_complaints": 2}})
    customer_review_features(ws, 1, stricter)
    assert ws.scalar("SELECT count(*) FROM customer_review_features WHERE run_id = 1 AND is_detractor") == 0


def test_segment_summary_reports_sentiment_aspects_and_detractors(tmp_path):
    ws = _shop(tmp_path)
    review_insights(ws, 1, "2024-12-31", CFG)
    customer_review_features(ws, 1, CFG)
    ws.con.execute("CREATE TABLE segments AS SELECT 1::BIGINT AS run_id, customer_id, 'rfm' AS scheme, "
                   "CASE WHEN customer_id IN ('c1', 'c2') THEN 'loyal' ELSE 'new' END AS segment FROM customers")
    s = segment_review_summary(ws, 1).set_index("segment")
    assert s.loc["loyal", "n_customers"] == 2 and s.loc["loyal", "n_reviews"] == 4
    assert s.loc["new", "n_reviews"] == 4 and s.loc["new", "n_reviewers"] == 2
    assert s.loc["loyal", "complaint_rate"] == 0.5
    assert s.loc["loyal", "n_detractors"] == 2 and s.loc["new", "n_detractors"] == 1
    top = s.loc["loyal", "top_aspects"]
    assert [a["aspect"] for a in top] == ["quality", "delivery", "service"]
    assert top[0]["n_mentions"] == 3


def test_shop_trained_mode_switches_on_in_the_workspace_past_the_threshold(tmp_path):
    good = ["lovely lamp", "superb desk", "solid chair, lovely", "perfect mug", "superb rug"]
    bad = ["meh lamp", "ugh desk", "mess of a chair", "fail mug", "meh rug, ugh"]
    extra = [(f"s{i}", "c1", "p1", 5 if i % 2 == 0 else 1, (good if i % 2 == 0 else bad)[i // 2 % 5],
              "2024-02-01") for i in range(40)]
    ws = _shop(tmp_path, REVIEWS + extra)
    low = load_config(overrides={"reviews": {"shop_model_min_reviews": 40, "shop_model_min_per_class": 10}})
    res = review_insights(ws, 1, "2024-12-31", low)
    assert res.shop_model_languages == ["en"]  # 2 rated Chinese reviews stay on the default model
    assert (tmp_path / "ws" / "models" / "run-1-review-sentiment.pkl").exists()
    ri = _insights(ws)
    assert set(ri.loc[ri["language"] == "en", "sentiment_mode"]) == {"shop"}
    assert set(ri.loc[ri["language"] == "zh", "sentiment_mode"]) == {"default"}
    assert (ri.loc[[f"s{i}" for i in range(0, 40, 2)], "sentiment"] > 0).all()
    assert (ri.loc[[f"s{i}" for i in range(1, 40, 2)], "sentiment"] < 0).all()
    # below the threshold (the default 200) nothing switches
    res2 = review_insights(ws, 2, "2024-12-31", CFG)
    assert res2.shop_model_languages == [] and set(_insights(ws, 2)["sentiment_mode"]) <= {"default", "none"}
    off = load_config(overrides={"reviews": {"shop_model": "off", "shop_model_min_reviews": 40}})
    assert review_insights(ws, 3, "2024-12-31", off).shop_model_languages == []


def test_topics_are_assigned_per_language_and_rerun_replaces_the_run(tmp_path):
    rng = np.random.default_rng(0)
    vocabs = [["delivery", "courier", "arrived", "parcel", "late"], ["battery", "charging", "power", "drains"]]
    extra = [(f"t{i}", "c3", None, 4, " ".join(rng.choice(vocabs[i % 2], 3, replace=False)), "2024-03-01")
             for i in range(60)]
    ws = _shop(tmp_path, REVIEWS + extra)
    cfg = load_config(overrides={"reviews": {"n_topics": 2, "topics_min_reviews": 50}})
    res = review_insights(ws, 1, "2024-12-31", cfg, seed=1)
    assert list(res.topics) == ["en"] and len(res.topics["en"]) == 2
    ri = _insights(ws)
    t = ri.loc[[f"t{i}" for i in range(60)], "topic_id"]
    assert set(t[0::2]) != set(t[1::2]) and len(set(t[0::2])) == 1
    assert ri.loc["r3", "topic_id"] is None or ri.loc["r3", "topic_id"] != ri.loc["t0", "topic_id"]
    n = ws.scalar("SELECT count(*) FROM review_insights WHERE run_id = 1")
    review_insights(ws, 1, "2024-12-31", cfg, seed=1)
    assert ws.scalar("SELECT count(*) FROM review_insights WHERE run_id = 1") == n


def test_an_empty_reviews_table_writes_an_empty_run(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    res = review_insights(ws, 1, "2024-12-31")
    assert res.n_reviews == 0 and ws.count("review_insights") == 0
    assert "aspects" in ws.columns("review_insights")
    assert customer_review_features(ws, 1) == 0


def test_bad_settings_are_config_errors():
    from shopseg.errors import ConfigError

    with pytest.raises(ConfigError, match="reviews.shop_model"):
        load_config(overrides={"reviews": {"shop_model": "always"}})
    with pytest.raises(ConfigError, match="reviews.competitor_brands"):
        load_config(overrides={"reviews": {"competitor_brands": [""]}})
    json.dumps(load_config()["reviews"])  # plain data, stored with the run


def test_each_language_is_reported_scored_with_its_accuracy_or_not_analysed(tmp_path):
    good = ["ótimo produto", "adorei, perfeito", "recomendo, ótimo", "perfeito", "chegou rápido, adorei"]
    bad = ["péssimo produto", "horrível, quebrado", "decepcionado", "não recebi, péssimo", "quebrado, horrível"]
    pt = [(f"p{i}", "c1", "p1", 5 if i % 2 == 0 else 1, (good if i % 2 == 0 else bad)[i // 2 % 5],
           "2024-02-01") for i in range(50)]
    de = [(f"d{i}", "c2", "p1", 5, "Das ist sehr gut", "2024-02-02") for i in range(3)]
    ws = _shop(tmp_path, REVIEWS + pt + de)
    low = load_config(overrides={"reviews": {"shop_model_min_reviews": 40, "shop_model_min_per_class": 10}})
    res = review_insights(ws, 1, "2024-12-31", low)
    assert res.shop_model_languages == ["pt"]
    bl = res.by_language
    # 25 + 25 rated pt reviews: 5 + 5 held out, each word list separates the classes
    assert bl["pt"] == {"reviews": 50, "with_text": 50, "rated": 50, "scored": 50, "coverage": 1.0,
                        "mode": "shop", "holdout_accuracy": 1.0, "n_holdout": 10}
    assert bl["de"] == {"reviews": 3, "with_text": 3, "rated": 3, "scored": 0, "coverage": 0.0, "mode": "none"}
    assert bl["fr"]["mode"] == "none" and bl["en"]["mode"] == "default" and bl["zh"]["mode"] == "default"
    line = res.sentiment_summary()
    assert "pt: shop-trained model, 100% of 50 reviews scored, held-out accuracy 1.000 on 10 rated reviews" in line
    assert "de: not analysed (3 reviews with text, 3 rated positive or negative;" in line
