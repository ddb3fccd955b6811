"""TreeSHAP by split pattern (predict/_treeshap.py) gives LightGBM's own pred_contrib values."""

import lightgbm as lgb
import numpy as np
import pytest

from shopseg.predict import _treeshap as T
from shopseg.predict.explain import tree_shap_lightgbm


def _booster(X, y, **extra):
    params = {"objective": "binary", "num_leaves": 7, "learning_rate": 0.1, "min_data_in_leaf": 20,
              "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.7, "seed": 0,
              "deterministic": True, "num_threads": 1, "verbose": -1, **extra}
    return lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=40)


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.exponential(10.0, size=(n, 5))
    X[rng.random(X.shape) < 0.2] = 0.0
    y = ((X[:, 0] > 8) ^ (X[:, 1] + X[:, 2] > 25) ^ (rng.random(n) < 0.1)).astype(int)
    return X, y


def test_values_equal_lightgbm_pred_contrib_on_every_row():
    X, y = _data(3_000)
    b = _booster(X, y)
    got = T.tree_shap_by_pattern(b, X)
    want = b.predict(X, pred_contrib=True)
    assert got.shape == (3_000, 6)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # each row's values add up to its raw score, as pred_contrib's do
    np.testing.assert_allclose(got.sum(axis=1), b.predict(X, raw_score=True), atol=1e-12)


def test_a_tree_has_at_most_two_to_the_splits_patterns():
    X, y = _data(3_000)
    b = _booster(X, y)
    splits = T.split_table(b)
    assert len(splits) == 40 and all(len(f) == 6 for f, *_ in splits)  # 7 leaves: 6 splits, <= 64 patterns


@pytest.mark.parametrize("kind", ["NaN", "Zero"])
def test_missing_values_take_the_splits_default_side(kind):
    X, y = _data(3_000, seed=1)
    if kind == "NaN":
        X[np.random.default_rng(2).random(X.shape) < 0.15] = np.nan
        b = _booster(X, y)
    else:
        b = _booster(X, y, zero_as_missing=True)
    kinds = {m for _, _, _, miss in T.split_table(b) for m in miss.tolist()}
    assert {"NaN": 2, "Zero": 1}[kind] in kinds  # the case is exercised
    np.testing.assert_allclose(T.tree_shap_by_pattern(b, X), b.predict(X, pred_contrib=True), rtol=0, atol=1e-12)


def test_few_rows_go_to_lightgbm_and_the_explain_entry_point_uses_the_patterns(monkeypatch):
    X, y = _data(3_000)
    b = _booster(X, y)
    calls = []
    real = T._contrib_lightgbm
    monkeypatch.setattr(T, "_contrib_lightgbm", lambda bst, A, **kw: calls.append(len(A)) or real(bst, A, **kw))
    tree_shap_lightgbm(b, X[:10])
    assert calls == [10]  # below PATTERN_MIN_ROWS: one call on the rows themselves
    calls.clear()
    tree_shap_lightgbm(b, X)
    assert len(calls) == 40 + 1 and max(calls) <= 64  # one call per tree on <= 64 pattern rows, then the check
    assert calls[-1] == T.CHECK_ROWS


def test_a_disagreement_with_lightgbm_falls_back_to_it_with_a_warning(monkeypatch):
    X, y = _data(3_000)
    b = _booster(X, y)
    splits = [(f, thr + 1.0, d, m) for f, thr, d, m in T.split_table(b)]  # wrong thresholds: wrong patterns
    with pytest.warns(RuntimeWarning, match="disagreed"):
        got = T.tree_shap_by_pattern(b, X, splits)
    np.testing.assert_allclose(got, b.predict(X, pred_contrib=True), rtol=0, atol=1e-12)
