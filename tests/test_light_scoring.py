"""Scoring with stored models without scikit-learn or LightGBM: the numpy trees (predict/_trees.py) give
LightGBM's raw scores bit for bit and its TreeSHAP values to float rounding; a stored cluster model applied as a
ClusterSpace gives BehaviourClusters' ids; a fresh process scoring a stored churn and cluster model imports
neither library."""

import json
import subprocess
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from shopseg.predict._trees import TreeEnsemble
from shopseg.predict.explain import top_reasons


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.exponential(10.0, size=(n, 5))
    X[:, 3] = rng.integers(0, 4, n)  # few distinct values: rows on the thresholds themselves
    X[rng.random(n) < 0.2, 1] = 0.0
    X[rng.random(n) < 0.1, 2] = np.nan
    y = ((X[:, 0] > 8) ^ (np.nan_to_num(X[:, 2]) > 12) ^ (X[:, 3] > 1) ^ (rng.random(n) < 0.1)).astype(int)
    return X, y


def _booster(X, y, rounds=60, **extra):
    params = {"objective": "binary", "num_leaves": 7, "learning_rate": 0.1, "min_data_in_leaf": 20,
              "bagging_fraction": 0.8, "bagging_freq": 1, "feature_fraction": 0.7, "seed": 0,
              "deterministic": True, "num_threads": 1, "verbose": -1, **extra}
    return lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=rounds)


def _thresholds(text: str) -> list[float]:
    return [float(v) for line in text.splitlines() if line.startswith("threshold=") for v in line[10:].split()]


@pytest.mark.parametrize("extra, missing", [({}, 2), ({"zero_as_missing": True}, 1), ({"use_missing": False}, 0)])
def test_raw_scores_equal_lightgbm_bit_for_bit_with_nan_zeros_and_thresholds(extra, missing):
    X, y = _data(2_000)
    b = _booster(X, y, **extra)
    text = b.model_to_string()
    types = {(int(v) >> 2) & 3 for line in text.splitlines() if line.startswith("decision_type=") for v in line[14:].split()}
    assert max(types) == missing  # splits with NaN (2), zero (1) or no (0) missing values are in the model
    trees = TreeEnsemble.from_model_string(text)
    # rows whose values are the split thresholds, zeros, NaN, tiny values LightGBM reads as 0
    thr = _thresholds(text)
    Q = np.tile(X[:300], 1)
    for j in range(5):
        Q[:, j] = np.resize(thr[j::5] or thr, 300)
    Q[:10, 0], Q[10:20, 1], Q[20:30, 4], Q[30:40, 0] = 0.0, np.nan, 1e-40, -1e-40
    for A in (X, Q):
        want = b.predict(A, raw_score=True)
        assert np.array_equal(trees.raw_score(A), want)
        # a live re-score's few rows: every tree at once (TreeEnsemble._raw_few), the same sums
        for rows in (A[:1], A[5:6], A[:64], A[20:45]):
            assert np.array_equal(trees.raw_score(rows), b.predict(rows, raw_score=True))
            assert np.array_equal(trees._raw_few(rows), trees.scores(rows, contributions=False)[0])


@pytest.mark.parametrize("extra", [{}, {"zero_as_missing": True}])
def test_contributions_equal_pred_contrib_and_give_the_same_reasons(extra):
    X, y = _data(2_000, seed=1)
    b = _booster(X, y, **extra)
    trees = TreeEnsemble.from_model_string(b.model_to_string())
    got, want = trees.contributions(X), b.predict(X, pred_contrib=True)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.array_equal(got[:, -1], want[:, -1])  # the bias: LightGBM's ExpectedValue summed as it sums it
    names = [f"f{i}" for i in range(5)]
    assert np.array_equal(top_reasons(got, names)[0], top_reasons(want, names)[0])


def test_a_hand_made_stump_scores_and_explains_by_hand():
    """One split (x0 <= 1: left 0.3, right -0.1; 30 rows left, 10 right): raw score the leaf; SHAP of x0 the leaf
    minus the count-weighted mean 0.3 * 0.75 - 0.1 * 0.25 = 0.2."""
    text = ("tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\n"
            "objective=binary sigmoid:1\n\nTree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nsplit_gain=1\n"
            "threshold=1\ndecision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=0.3 -0.1\n"
            "leaf_weight=1 1\nleaf_count=30 10\ninternal_value=0\ninternal_weight=2\ninternal_count=40\n"
            "is_linear=0\nshrinkage=1\n\n\nend of trees\n")
    t = TreeEnsemble.from_model_string(text)
    X = np.array([[1.0, 5.0], [2.0, 5.0], [np.nan, 0.0]])  # on the threshold: left; NaN (missing None) is 0: left
    assert t.raw_score(X).tolist() == [0.3, -0.1, 0.3]
    c = t.contributions(X)
    np.testing.assert_allclose(c[:, 0], [0.1, -0.3, 0.1], atol=1e-15)
    assert c[:, 1].tolist() == [0.0, 0.0, 0.0] and c[:, 2] == pytest.approx(0.2)


def test_rows_in_blocks_give_what_one_block_gives():
    X, y = _data(2_000, seed=2)
    trees = TreeEnsemble.from_model_string(_booster(X, y).model_to_string())
    raw, contrib = trees.scores(X)
    raw7, contrib7 = trees.scores(X, rows=7)  # 286 blocks, the last of 5 rows
    assert np.array_equal(raw, raw7) and np.array_equal(contrib, contrib7)
    assert trees.scores(X, contributions=False)[1] is None


def test_tables_built_a_few_trees_at_a_time_give_the_same_values(monkeypatch):
    """11 leaves (10 splits, 2**10 patterns): the tables are built per group of trees that fit TABLE_BYTES."""
    from shopseg.predict import _trees

    X, y = _data(2_000, seed=4)
    b = _booster(X, y, rounds=12, num_leaves=11, min_data_in_leaf=5)
    want = b.predict(X, pred_contrib=True)
    whole = TreeEnsemble.from_model_string(b.model_to_string()).contributions(X)
    monkeypatch.setattr(_trees, "TABLE_BYTES", 1)  # one tree at a time
    one_by_one = TreeEnsemble.from_model_string(b.model_to_string()).contributions(X)
    assert max(len(t.feature) for t in TreeEnsemble.from_model_string(b.model_to_string()).trees) == 10
    np.testing.assert_allclose(whole, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(one_by_one, want, rtol=0, atol=1e-12)  # padded to each tree's own size: rounding


def test_a_fitted_churn_model_explains_through_the_numpy_trees_and_lightgbm_only_for_trees_they_cannot_follow(
        monkeypatch):
    """One TreeSHAP path: a fitted (not loaded) model and explain.tree_shap_lightgbm both read the booster's trees
    in numpy; LightGBM's pred_contrib is asked only for a model with a categorical split."""
    from shopseg.predict import explain
    from shopseg.predict._churn_model import ChurnModel

    X, y = _data(2_000, seed=3)
    X = np.nan_to_num(X)  # the churn model refuses NaN
    m = ChurnModel("lightgbm", calibration="none", params={"n_estimators": 30}).fit(X, y)
    b = m.estimator_
    want = b.predict(X, pred_contrib=True)
    calls = []
    real = lgb.Booster.predict
    monkeypatch.setattr(lgb.Booster, "predict", lambda self, *a, **kw: calls.append(kw) or real(self, *a, **kw))
    np.testing.assert_allclose(m.contributions(X), want, rtol=0, atol=1e-12)
    assert np.array_equal(m.decision_function(X), real(b, X, raw_score=True))
    np.testing.assert_allclose(explain.tree_shap_lightgbm(b, X), want, rtol=0, atol=1e-12)
    assert calls == []  # LightGBM never asked
    Xc, _ = _data(1_000)
    yc = np.isin(Xc[:, 3], (1, 3)).astype(int)
    cat = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7, "min_data_in_leaf": 20,
                     "min_data_per_group": 5, "cat_smooth": 1}, lgb.Dataset(Xc, label=yc, categorical_feature=[3]),
                    num_boost_round=5)
    np.testing.assert_allclose(explain.tree_shap_lightgbm(cat, Xc), real(cat, Xc, pred_contrib=True), atol=1e-12)
    assert [kw.get("pred_contrib") for kw in calls] == [True]


def test_a_model_with_a_categorical_split_is_left_to_lightgbm():
    X, _ = _data(1_000)
    y = np.isin(X[:, 3], (1, 3)).astype(int)  # a category set, not a range: a categorical split
    b = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7, "min_data_in_leaf": 20,
                   "min_data_per_group": 5, "cat_smooth": 1}, lgb.Dataset(X, label=y, categorical_feature=[3]),
                  num_boost_round=5)
    assert "num_cat=1" in b.model_to_string()
    assert TreeEnsemble.from_model_string(b.model_to_string()) is None


def test_a_stored_cluster_model_applied_light_gives_the_estimators_ids(tmp_path):
    from shopseg.refit import load_cluster_model, save_cluster_model
    from shopseg.segment.cluster import BehaviourClusters

    rng = np.random.default_rng(3)
    df = pd.DataFrame({"recency_days": rng.integers(0, 400, 600), "tenure_days": rng.integers(30, 900, 600),
                       "frequency": rng.integers(0, 12, 600), "n_units": rng.integers(0, 90, 600),
                       "avg_order_value": rng.gamma(2.0, 30.0, 600), "return_rate": rng.random(600) * 0.2})
    df["has_orders"] = df["frequency"] > 0
    m = BehaviourClusters(random_state=0).fit(df)
    path = save_cluster_model(m, tmp_path / "clusters")
    light = load_cluster_model(path, light=True)
    assert type(light).__name__ == "ClusterSpace"
    assert np.array_equal(light.predict(df), m.predict(df)) and np.array_equal(light.predict(df.iloc[:3]),
                                                                               m.predict(df.iloc[:3]))


SCORE_STORED = """
import json, sys
import numpy as np, pandas as pd
from shopseg.predict._churn_model import ChurnModel
from shopseg.refit import load_cluster_model
m = ChurnModel.load(sys.argv[1])
X = pd.read_parquet(sys.argv[2])
raw = m.decision_function(X[m.feature_names_in_]).tolist()
reasons = m.reasons(X[m.feature_names_in_], 3, 90)["reason_feature_1"].tolist()
ids = load_cluster_model(sys.argv[3], light=True).predict(X).tolist()
print(json.dumps({"raw": raw, "reasons": reasons, "ids": ids,
                  "imported": sorted(k for k in ("lightgbm", "sklearn", "scipy.stats") if k in sys.modules)}))
"""


def test_a_fresh_process_scores_stored_models_without_lightgbm_or_scikit_learn(tmp_path):
    from shopseg.predict._churn_model import ChurnModel
    from shopseg.refit import save_cluster_model
    from shopseg.segment.cluster import BehaviourClusters

    X, y = _data(1_500, seed=2)
    X = np.nan_to_num(X)
    frame = pd.DataFrame(X, columns=["recency_days", "frequency", "monetary_total", "tenure_days", "n_units"])
    model = ChurnModel("lightgbm", calibration="none", params={"n_estimators": 40}).fit(frame, y)
    path = model.save(tmp_path / "churn")
    cm = BehaviourClusters(random_state=0).fit(frame.assign(has_orders=frame["frequency"] > 0))
    cpath = save_cluster_model(cm, tmp_path / "clusters")
    rows = frame.iloc[:50]
    rows.assign(has_orders=rows["frequency"] > 0).to_parquet(tmp_path / "rows.parquet")
    done = subprocess.run([sys.executable, "-c", SCORE_STORED, str(path), str(tmp_path / "rows.parquet"), str(cpath)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["imported"] == []
    assert got["raw"] == model.decision_function(rows).tolist()  # bit for bit (JSON keeps every double)
    assert got["reasons"] == model.reasons(rows, 3, 90)["reason_feature_1"].tolist()
    assert got["ids"] == cm.predict(rows.assign(has_orders=rows["frequency"] > 0)).tolist()


def test_a_stored_lightgbm_model_keeps_its_treeshap_tables_and_a_loaded_one_explains_with_them(tmp_path,
                                                                                                monkeypatch):
    """The TreeSHAP tables are stored beside the model (.shap.npz, checksummed): a loaded model's contributions
    are the fitted model's bit for bit without computing a table; tables that do not fit the trees are not used;
    a damaged file is refused."""
    from shopseg.errors import ConfigError
    from shopseg.predict import _trees
    from shopseg.predict._churn_model import ChurnModel

    X, y = _data(1_500, seed=5)
    X = np.nan_to_num(X)
    model = ChurnModel("lightgbm", calibration="none", params={"n_estimators": 25}).fit(X, y)
    want = model.contributions(X)
    path = model.save(tmp_path / "churn")
    assert (tmp_path / "churn.shap.npz").exists()

    def no_tables(*a):
        raise AssertionError("a table computed")

    with monkeypatch.context() as m:
        m.setattr(_trees, "_shap_tables", no_tables)
        loaded = ChurnModel.load(path)
        assert np.array_equal(loaded.contributions(X), want)
    trees = TreeEnsemble.from_model_string(model.estimator_.model_to_string())
    assert not trees.set_shap_tables(loaded._trees().shap_tables()[1:])  # one short: computed instead
    np.testing.assert_array_equal(trees.contributions(X), want)
    (tmp_path / "churn.shap.npz").write_bytes(b"damaged")
    with pytest.raises(ConfigError, match="checksum"):
        ChurnModel.load(path)
