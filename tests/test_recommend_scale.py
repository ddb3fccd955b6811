"""Recommendations at scale: ALS on a customer sample, every customer solved against its product factors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopseg.recommend import Recommender, has_implicit

needs_implicit = pytest.mark.skipif(not has_implicit(), reason="the optional `implicit` package is not installed")


def _shop(n_customers=200, n_products=40, n=1500, seed=0):
    rng = np.random.default_rng(seed)
    inter = pd.DataFrame({"customer_id": [f"u{i:03d}" for i in rng.integers(0, n_customers, n)],
                          "product_id": [f"p{j:02d}" for j in rng.integers(0, n_products, n)]})
    inter = inter.groupby(["customer_id", "product_id"]).size().rename("n_days").reset_index()
    prods = pd.DataFrame({"product_id": [f"p{j:02d}" for j in range(n_products)], "is_available": True,
                          "is_merchandise": True})
    return inter, prods


def _als(**kw):
    return Recommender(als_factors=4, als_iterations=5, weight_content=0, weight_rules=0, weight_popularity=0, **kw)


@needs_implicit
def test_a_sample_at_least_the_shop_changes_nothing():
    inter, prods = _shop()
    a = _als(als_customers=0).fit(inter, prods)
    b = _als(als_customers=500).fit(inter, prods)
    assert a.als_sample_ is None and b.als_sample_ is None
    pd.testing.assert_frame_equal(a.recommend(a.users_), b.recommend(b.users_))


@needs_implicit
def test_als_on_a_seeded_sample_then_each_customer_is_the_least_squares_solve():
    inter, prods = _shop()
    m = _als(als_customers=60).fit(inter, prods)
    assert len(m.als_sample_) == 60 and len(m.users_) == 200 and m.user_factors_ is None
    again = _als(als_customers=60).fit(inter, prods)
    np.testing.assert_array_equal(m.als_sample_, again.als_sample_)
    np.testing.assert_array_equal(m.item_factors_, again.item_factors_)
    assert not np.array_equal(m.als_sample_, _als(als_customers=60, random_state=1).fit(inter, prods).als_sample_)
    # the gold: Hu, Koren & Volinsky's closed form, x_u = (Y'Y + reg I + Y'(C_u - I)Y)^-1 Y'C_u p_u with
    # confidence c_ui = alpha x log1p(purchase days) where bought (implicit's: the matrix times alpha), 1 elsewhere
    # (p_ui = 1 where bought)
    y = m.item_factors_.astype(np.float64)
    rows = np.array([0, 7, 59, 123, 199, -1])
    got = m.user_factors(rows)
    for k, u in enumerate(rows[:-1]):
        row = m.user_items_[u]
        c = m.als_alpha * row.data
        yi = y[row.indices]
        a = y.T @ y + m.als_regularization * np.eye(y.shape[1]) + yi.T @ ((c - 1.0)[:, None] * yi)
        np.testing.assert_allclose(got[k], np.linalg.solve(a, yi.T @ c), rtol=1e-3, atol=1e-5)
    assert not got[-1].any()  # an unknown customer: zeros
    recs = m.recommend(["u000", "u007", "nobody"])
    assert set(recs["customer_id"]) == {"u000", "u007", "nobody"}
    assert set(recs.loc[recs["customer_id"] != "nobody", "source"]) == {"als"}


def _purchases(n_customers=30, n_products=6, n=400, seed=1):
    """(customer, product, day) rows, duplicates and an unknown product included, ids as categoricals."""
    rng = np.random.default_rng(seed)
    p = pd.DataFrame({"customer_id": [f"c{i:02d}" for i in rng.integers(0, n_customers, n)],
                      "product_id": [f"p{j}" for j in rng.integers(0, n_products + 1, n)],
                      "day": pd.Timestamp("2024-03-01") - pd.to_timedelta(rng.integers(-3, 120, n), unit="D")})
    return p.astype({"customer_id": "category", "product_id": "category"})


def test_the_history_built_per_block_of_customers_is_the_history_built_at_once():
    from scipy import sparse

    from shopseg.recommend import build_history

    p = _purchases()
    items = np.array([f"p{j}" for j in range(6)], dtype=object)  # p6 is not in the catalogue: ignored
    whole = build_history(p, items, "2024-03-01")
    for rows in (1, 7, 50):  # a block per customer, a few customers, several blocks
        part = build_history(p, items, "2024-03-01", block_rows=rows)
        for f in ("users", "n_days", "last_age", "own_cycle", "ratio", "tifu", "repeat_share", "n_buyers",
                  "rebuy_share", "cycle"):
            a, b = getattr(whole, f), getattr(part, f)
            if sparse.issparse(a):
                assert (a != b).nnz == 0 and np.array_equal(a.indices, b.indices) and a.dtype == b.dtype, f
            else:
                assert np.array_equal(a, b), f
        assert part.shop_repeat_share == whole.shop_repeat_share
    # the same history from the ids as text (factorised instead of the categoricals' codes)
    text = build_history(p.astype({"customer_id": str, "product_id": str}), items, "2024-03-01")
    assert (text.tifu != whole.tifu).nnz == 0 and np.array_equal(text.users, whole.users)


def test_whole_number_matrices_are_float32_on_one_shared_index_array():
    from shopseg.recommend import build_history

    h = build_history(_purchases(), np.array([f"p{j}" for j in range(6)], dtype=object), "2024-03-01")
    assert h.n_days.dtype == h.last_age.dtype == h.ratio.dtype == np.float32 and h.tifu.dtype == np.float64
    assert all(np.shares_memory(m.indices, h.tifu.indices) for m in (h.n_days, h.last_age, h.ratio))
    # the values are whole days: float32 holds them exactly
    assert np.array_equal(h.n_days.data, np.round(h.n_days.data)) and h.n_days.data.min() >= 1


def test_the_stages_compact_frame_holds_the_same_recommendations_as_text():
    from shopseg.recommend import NextBasketRecommender

    p = _purchases()
    prods = pd.DataFrame({"product_id": [f"p{j}" for j in range(6)], "is_available": True, "is_merchandise": True})
    m = NextBasketRecommender(learn_mix=False).fit(p, prods, "2024-03-01")
    full = m.recommend(p["customer_id"].astype(str).unique())
    compact = m.recommend(p["customer_id"].astype(str).unique(), with_reasons=False)
    assert isinstance(compact["customer_id"].dtype, pd.CategoricalDtype) and len(compact) == len(full) > 0
    for c in ("customer_id", "product_id", "source", "kind"):
        assert compact[c].astype(str).tolist() == full[c].astype(str).tolist(), c
    assert compact["rank"].tolist() == full["rank"].tolist() and compact["score"].tolist() == full["score"].tolist()


def test_duckdb_hands_memory_back_inside_the_stage_and_its_settings_are_restored_after():
    import duckdb

    from shopseg.recommend._workspace import RETURN_MEMORY, memory_returned

    con = duckdb.connect()

    def settings():
        return dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN (?, ?)",
                                list(RETURN_MEMORY)).fetchall())

    before = settings()
    with memory_returned(con):
        assert settings() == {"allocator_flush_threshold": "0MB", "allocator_background_threads": "true"}
    assert settings() == before
    with pytest.raises(RuntimeError), memory_returned(con):  # restored on an error too
        raise RuntimeError("stage failed")
    assert settings() == before
