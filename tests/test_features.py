"""customer_features on the hand-written fixture shop: expected values computed by hand below."""

import doctest
from datetime import datetime
from pathlib import Path

import pytest

import shopseg.features
import shopseg.fixtures
from shopseg.config import load_config
from shopseg.features import FEATURE_DOCS, customer_features
from shopseg.workspace import open_workspace
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop


@pytest.fixture
def shop(ws):
    load_fixture_shop(ws)
    return ws


@pytest.fixture(scope="module")
def feats(tmp_path_factory):
    """Read-only: features of the fixture shop, computed once for the module."""
    with open_workspace(tmp_path_factory.mktemp("features") / "ws") as w:
        load_fixture_shop(w)
        return customer_features(w, FIXTURE_AS_OF).set_index("customer_id")


def test_customers_known_at_as_of_are_the_signed_up_and_the_active(feats):
    # c12 signed up (and ordered) after as_of; guests and anonymous visitors are nobody
    assert sorted(feats.index) == [f"c{i:02d}" for i in range(1, 12)]


def test_champion_ada_features_by_hand(feats):
    a = feats.loc["c01"]
    assert a["has_orders"]
    assert a["frequency"] == 5
    assert a["recency_days"] == 6  # 2024-06-25 -> 2024-07-01
    assert a["tenure_days"] == 538  # 2023-01-10 -> 2024-01-10 (365) + -> 2024-07-01 (173)
    assert a["monetary_total"] == 290.0  # 80 + 100 + 20 + 60 + 30
    assert a["monetary_net"] == 290.0
    assert a["avg_order_value"] == 58.0  # 290 / 5
    assert a["n_units"] == 7.0  # 1 + 1 + 2 + 1 + 2
    assert a["mean_days_between_orders"] == 40.5  # gaps 46, 50, 42, 24
    # sample sd: deviations 5.5, 9.5, 1.5, -16.5; squares sum 395; / 3; sqrt
    assert a["std_days_between_orders"] == pytest.approx((395 / 3) ** 0.5)
    assert a["n_sessions"] == 2
    assert a["browse_minutes"] == pytest.approx((60 + 30 + 10 + 120 + 10) / 60)  # the 2024-07-02 session excluded
    assert a["click_rate"] == 0.5  # 1 click / 2 views
    assert a["cart_abandonment_rate"] == 0.5  # s01 followed by o05 the same day, s02 not
    # gross 290: shoes 80 + 60, apparel 100 + 20 + 10, accessories 20
    assert a["cat_share_shoes"] == pytest.approx(140 / 290)
    assert a["cat_share_apparel"] == pytest.approx(130 / 290)
    assert a["cat_share_accessories"] == pytest.approx(20 / 290)
    assert a["cat_share_other"] == 0.0
    assert a["brand_diversity"] == 3  # Apex, Nova, Flow
    assert a["discount_share"] == 0.0
    assert a["return_rate"] == 0.0
    assert a["n_reviews"] == 1  # the 2024-07-05 review is after as_of
    assert a["avg_rating"] == 5.0
    assert not a["is_outlier"]


def test_returner_and_discount_user_by_hand(feats):
    g = feats.loc["c07"]
    assert g["monetary_total"] == 240.0  # 140 + 100
    assert g["monetary_net"] == 180.0  # minus the 60 sneaker returned
    assert g["return_rate"] == 0.25  # 60 / 240
    assert g["frequency"] == 2  # the return is not an order
    assert g["mean_days_between_orders"] == 76.0  # 2024-03-05 -> 2024-05-20
    h = feats.loc["c08"]
    assert h["monetary_total"] == 184.0  # (100 - 20) + (80 - 16) + 40
    assert h["discount_share"] == pytest.approx(36 / 220)
    assert h["cart_abandonment_rate"] == 0.0  # cart and order on 2024-05-30


def test_postage_without_category_counts_as_other(feats):
    assert feats.loc["c02", "cat_share_other"] == pytest.approx(5 / 365)


def test_customers_without_orders_get_defined_values(feats):
    jo, kim = feats.loc["c10"], feats.loc["c11"]
    assert not jo["has_orders"] and not kim["has_orders"]
    # documented convention: recency and mean gap fall back to the tenure
    assert jo["tenure_days"] == 61 and jo["recency_days"] == 61 and jo["mean_days_between_orders"] == 61
    assert kim["recency_days"] == kim["tenure_days"] == 91
    assert kim["monetary_total"] == 0 and kim["avg_order_value"] == 0 and kim["discount_share"] == 0
    assert kim["n_sessions"] == 2 and kim["cart_abandonment_rate"] == 1.0
    assert kim["click_rate"] == pytest.approx(1 / 3)
    assert not feats.isna().any().any()


def test_single_order_customer_mean_gap_is_the_open_gap(feats):
    assert feats.loc["c03", "mean_days_between_orders"] == 11  # 2024-06-20 -> as_of
    assert feats.loc["c05", "tenure_days"] == 456  # no sign-up date: from the 2023-04-02 order


def test_wholesale_buyer_is_the_only_outlier(feats):
    # log1p(monetary_total): median 5.485 (c07), MAD 0.404; c06: (8.882 - 5.485) / (1.4826 * 0.404) = 5.7 > 3.5
    assert feats.index[feats["is_outlier"]].tolist() == ["c06"]


def test_category_columns_are_the_top_categories_by_revenue(shop):
    f = customer_features(shop, FIXTURE_AS_OF, config=load_config(overrides={"features": {"top_categories": 1}}))
    # revenue before as_of: Apparel 7890 > Shoes 840 > Accessories 120
    assert [c for c in f.columns if c.startswith("cat_share_")] == ["cat_share_apparel", "cat_share_other"]
    assert (f.loc[f["has_orders"], ["cat_share_apparel", "cat_share_other"]].sum(axis=1).round(9) == 1).all()


def test_an_order_after_as_of_changes_nothing(shop):
    before = customer_features(shop, FIXTURE_AS_OF)
    shop.con.execute("INSERT INTO orders (order_id, customer_id, ordered_at, kind, discount_amount) "
                     "VALUES ('late', 'c01', TIMESTAMP '2024-07-01 00:00:00', 'sale', 0)")
    shop.con.execute("INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price) "
                     "VALUES ('late', 1, 'p03', 50, 100)")
    shop.con.execute("INSERT INTO events (event_id, customer_id, session_id, event_type, occurred_at, "
                     "duration_seconds) VALUES ('late', 'c10', 'sx', 'view', TIMESTAMP '2024-08-01', 600)")
    after = customer_features(shop, FIXTURE_AS_OF)
    assert after.equals(before)
    moved = customer_features(shop, datetime(2024, 7, 2)).set_index("customer_id")
    assert moved.loc["c01", "frequency"] == 6  # the late order counts once as_of passes it


def test_run_id_stores_the_rows_in_customer_features(shop):
    f = customer_features(shop, FIXTURE_AS_OF, run_id=7)
    stored = shop.df("SELECT * FROM customer_features WHERE run_id = 7 ORDER BY customer_id")
    assert len(stored) == len(f) == 11
    assert stored.drop(columns="run_id").columns.tolist() == f.columns.tolist()


def test_a_later_run_with_other_top_categories_adds_columns(shop):
    customer_features(shop, FIXTURE_AS_OF, run_id=1,
                      config=load_config(overrides={"features": {"top_categories": 1}}))
    customer_features(shop, FIXTURE_AS_OF, run_id=2)
    assert "cat_share_shoes" in shop.columns("customer_features")
    assert shop.scalar("SELECT count(*) FROM customer_features WHERE cat_share_shoes IS NULL") == 11  # run 1


def test_every_feature_is_documented(feats):
    doc = (Path(__file__).parent.parent / "docs" / "features.md").read_text(encoding="utf-8")
    for col in ["customer_id", *feats.columns]:
        key = "cat_share_<slug>" if col.startswith("cat_share_") and col != "cat_share_other" else col
        assert key in FEATURE_DOCS, col
        assert f"`{key}`" in doc, f"{key} missing from docs/features.md"


def test_doctests_of_features_and_fixtures_pass():
    for mod in (shopseg.features, shopseg.fixtures):
        res = doctest.testmod(mod)
        assert res.failed == 0 and res.attempted > 0, mod.__name__


def test_restricted_rows_equal_the_whole_shop_rows_of_those_customers(shop):
    import pandas as pd

    from shopseg.pipeline import start_run

    full = customer_features(shop, FIXTURE_AS_OF).set_index("customer_id")
    rid = start_run(shop, FIXTURE_AS_OF, load_config(), 0)
    customer_features(shop, FIXTURE_AS_OF, rid)  # the stored reference population
    ids = ["c01", "c04", "c11", "c12", "nobody"]
    part = customer_features(shop, FIXTURE_AS_OF, customers=ids, reference_run_id=rid).set_index("customer_id")
    # c12 signs up after as_of and "nobody" is unknown: no row, as in the whole-shop table
    assert list(part.index) == ["c01", "c04", "c11"]
    assert list(part.columns) == list(full.columns)
    pd.testing.assert_frame_equal(part, full.loc[part.index], check_exact=False, rtol=1e-12)


def test_a_restricted_customer_is_flagged_against_the_reference_population_not_alone(shop):
    from shopseg.features import outlier_reference
    from shopseg.pipeline import start_run

    full = customer_features(shop, FIXTURE_AS_OF).set_index("customer_id")
    rid = start_run(shop, FIXTURE_AS_OF, load_config(), 0)
    customer_features(shop, FIXTURE_AS_OF, rid)
    stats = outlier_reference(shop, rid)
    buyers = full[full["has_orders"]]
    import numpy as np

    lm = np.log1p(buyers["monetary_total"].clip(lower=0))
    assert stats["med_m"] == pytest.approx(float(np.median(lm)))
    assert stats["mad_m"] == pytest.approx(float(np.median(np.abs(lm - np.median(lm)))))
    for cid in buyers.index:
        alone = customer_features(shop, FIXTURE_AS_OF, customers=[cid], reference_run_id=rid)
        assert bool(alone["is_outlier"].iloc[0]) == bool(full.loc[cid, "is_outlier"])
    assert full["is_outlier"].any()  # the fixture has a wholesale-like buyer: the check above can fail
