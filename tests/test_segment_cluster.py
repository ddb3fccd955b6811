"""Behavioural clusters: automatic K, determinism, label stability, tiny data, names."""

import doctest

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

import shopseg.segment._cluster_k
import shopseg.segment.cluster
import shopseg.segment.profile
import shopseg.segment.rfm
import shopseg.segment.schemes.cluster
import shopseg.segment.value
from shopseg.config import load_config
from shopseg.errors import ConfigError, NotFittedError
from shopseg.segment import BehaviourClusters, SegmentWarning
from shopseg.segment.cluster import elbow_k
from shopseg.segment.stage import fit_clusters

COLS = ["click_rate", "discount_share", "return_rate", "cart_abandonment_rate", "browse_minutes"]


def blobs(k, n=900, seed=0, std=0.6):
    X, y = make_blobs(n, n_features=len(COLS), centers=k, cluster_std=std, center_box=(-10, 10), random_state=seed)
    return pd.DataFrame(X, columns=COLS), y


@pytest.mark.parametrize("k", [4, 6])
def test_auto_k_finds_the_planted_k_on_well_separated_blobs(k):
    X, y = blobs(k, seed=k)
    bc = BehaviourClusters(features=COLS, sample_size=600, random_state=0, winsorize_quantile=1.0).fit(X)
    assert bc.n_clusters_ == k
    assert adjusted_rand_score(y, bc.labels_) > 0.99
    assert list(bc.k_curve_.columns) == ["k", "inertia", "silhouette"]
    assert bc.k_curve_["k"].tolist() == list(range(2, 9))
    assert bc.k_curve_["inertia"].is_monotonic_decreasing


@pytest.mark.parametrize("linkage, metric", [("ward", "euclidean"), ("average", "manhattan"),
                                             ("complete", "euclidean")])
def test_hierarchical_clustering_on_a_sample_finds_the_planted_k(linkage, metric):
    X, y = blobs(4, n=1200, seed=3)
    bc = BehaviourClusters(features=COLS, method="hierarchical", linkage=linkage, metric=metric,
                           sample_size=300, random_state=0, winsorize_quantile=1.0).fit(X)
    assert bc.n_clusters_ == 4
    # 900 of the 1200 rows were not in the tree: assigned to the nearest centroid
    assert adjusted_rand_score(y, bc.labels_) > 0.99
    assert adjusted_rand_score(y, bc.predict(X)) > 0.99


def test_same_random_state_same_clusters():
    X, _ = blobs(5, seed=1, std=2.5)
    a = BehaviourClusters(features=COLS, random_state=7, sample_size=500).fit(X)
    b = BehaviourClusters(features=COLS, random_state=7, sample_size=500).fit(X)
    assert a.n_clusters_ == b.n_clusters_
    assert np.array_equal(a.labels_, b.labels_)
    assert a.k_curve_.equals(b.k_curve_)


def test_cluster_ids_run_from_one_by_decreasing_size():
    X, _ = blobs(3, seed=2)
    X = pd.concat([X, X.iloc[:300]], ignore_index=True)  # one blob twice as big
    bc = BehaviourClusters(features=COLS, n_clusters=3, random_state=0).fit(X)
    sizes = np.bincount(bc.labels_)[1:]
    assert sizes.tolist() == sorted(sizes.tolist(), reverse=True)


def test_elbow_is_the_knee_of_the_inertia_curve():
    # a sharp knee at K=4
    assert elbow_k([2, 3, 4, 5, 6, 7], [100, 60, 20, 18, 16, 15]) == 4


def test_elbow_selection_can_replace_silhouette():
    X, _ = blobs(4, seed=4)
    bc = BehaviourClusters(features=COLS, k_selection="elbow", sample_size=600).fit(X)
    assert bc.n_clusters_ == bc.elbow_k_ == 4


def test_a_wholesale_outlier_does_not_get_a_cluster_of_its_own():
    X, y = blobs(3, n=600, seed=5)
    X.loc[len(X)] = [1e6] * len(COLS)  # winsorised at the 99th percentile before scaling
    bc = BehaviourClusters(features=COLS, sample_size=601, random_state=0).fit(X)
    assert bc.n_clusters_ == 3
    assert adjusted_rand_score(y, bc.labels_[:-1]) > 0.99


def test_money_and_counts_are_log_scaled():
    X = pd.DataFrame({"monetary_net": [0.0, 9.0, 99.0, 999.0], "click_rate": [0.1, 0.2, 0.3, 0.4]})
    bc = BehaviourClusters(features=list(X.columns), n_clusters=2, winsorize_quantile=1.0).fit(X)
    L = bc.transform(X) * bc.scale_ + bc.center_
    assert np.allclose(L[:, 0], [0, np.log(10), np.log(100), np.log(1000)])
    assert np.allclose(L[:, 1], X["click_rate"])


def test_tiny_shop_gets_one_cluster_and_a_warning():
    X = pd.DataFrame({c: [1.0, 2.0] for c in COLS})
    with pytest.warns(SegmentWarning, match="cannot support"):
        bc = BehaviourClusters(features=COLS).fit(X)
    assert bc.n_clusters_ == 1 and bc.labels_.tolist() == [1, 1]


def test_predict_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        BehaviourClusters().predict(pd.DataFrame({"a": [1.0]}))


@pytest.mark.parametrize("params, words", [
    ({"method": "dbscan"}, "'method' parameter must be one of 'kmeans', 'hierarchical'"),
    ({"method": "hierarchical", "linkage": "ward", "metric": "cosine"}, "Ward linkage needs"),
    ({"k_min": 5, "k_max": 3}, "k_min <= k_max"),
])
def test_bad_parameters_are_rejected(params, words):
    X, _ = blobs(3)
    with pytest.raises(ConfigError, match=words):
        BehaviourClusters(features=COLS, **params).fit(X)


@pytest.mark.parametrize("override, words", [
    ({"k_min": 1}, r"'segments.cluster.k_min' setting must be an int in \[2, 100\]"),
    ({"scaler": "minmax"}, "one of 'standard', 'robust'"),
    ({"winsorize_quantile": 0.3}, r"\(0.5, 1\]"),
])
def test_bad_cluster_settings_are_rejected(override, words):
    with pytest.raises(ConfigError, match=words):
        load_config(overrides={"segments": {"cluster": override}})


def behaviour_frame(seed=0):
    """Customers with three planted behaviours, in feature units."""
    rng = np.random.default_rng(seed)
    n = 300
    kind = np.repeat([0, 1, 2], n)
    df = pd.DataFrame({
        "customer_id": [f"c{i:04d}" for i in range(3 * n)],
        "has_orders": True,
        "recency_days": np.choose(kind, [rng.integers(1, 20, 3 * n), rng.integers(300, 400, 3 * n),
                                         rng.integers(30, 60, 3 * n)]),
        "tenure_days": 500,
        "frequency": np.choose(kind, [rng.integers(20, 30, 3 * n), rng.integers(1, 2, 3 * n),
                                      rng.integers(4, 6, 3 * n)]),
        "discount_share": np.choose(kind, [rng.uniform(0, 0.02, 3 * n), rng.uniform(0, 0.02, 3 * n),
                                           rng.uniform(0.4, 0.5, 3 * n)]),
    })
    df["monetary_net"] = df["frequency"] * np.choose(kind, [200, 40, 50])
    df["avg_order_value"] = df["monetary_net"] / df["frequency"]
    return df, kind


def test_second_run_on_permuted_data_keeps_ids_and_names_of_the_same_clusters():
    cfg = load_config(overrides={"segments": {"cluster": {"sample_size": 400}}})
    df, _ = behaviour_frame()
    _, lab1, prof1 = fit_clusters(df, cfg)
    perm = np.random.default_rng(1).permutation(len(df))
    df2 = df.iloc[perm].reset_index(drop=True)
    prev = prof1[["segment", "name", "profile"]]
    cfg2 = load_config(overrides={"segments": {"cluster": {"sample_size": 400, "random_state": 5}}})
    _, lab2, prof2 = fit_clusters(df2, cfg2, prev)
    by_customer_1 = dict(zip(df["customer_id"], lab1))
    assert all(by_customer_1[c] == s for c, s in zip(df2["customer_id"], lab2))
    assert dict(zip(prof1["segment"], prof1["name"])) == dict(zip(prof2["segment"], prof2["name"]))
    assert len(prof1) == 3


def test_align_to_renumbers_clusters_like_the_previous_run():
    df, _ = behaviour_frame()
    feats = ["recency_days", "frequency", "discount_share"]
    a = BehaviourClusters(features=feats, n_clusters=3).fit(df)
    prev = a.centroids_.copy()
    prev.index = [30, 10, 20]  # the previous run called them 30, 10, 20
    b = BehaviourClusters(features=feats, n_clusters=3, random_state=9).fit(df.sample(frac=1, random_state=2))
    b.align_to(prev)
    assert sorted(b.cluster_ids_.tolist()) == [10, 20, 30]
    assert np.array_equal(b.predict(df), np.array([30, 10, 20])[a.predict(df) - 1])


def test_names_describe_the_planted_behaviours():
    cfg = load_config(overrides={"segments": {"cluster": {"sample_size": 400}}})
    df, kind = behaviour_frame()
    _, lab, prof = fit_clusters(df, cfg)
    names = dict(zip(prof["segment"], prof["name"]))
    first = {k: names[lab[np.argmax(kind == k)]] for k in range(3)}
    assert first[0].startswith("frequent recent high spenders")
    assert first[1].startswith("one-time lapsed low spenders")
    assert "discount-driven" in first[2]


def test_doctests_of_the_segment_modules_pass():
    for mod in (shopseg.segment.cluster, shopseg.segment._cluster_k, shopseg.segment.schemes.cluster, shopseg.segment.profile, shopseg.segment.rfm, shopseg.segment.value):
        res = doctest.testmod(mod)
        assert res.failed == 0 and res.attempted > 0, mod.__name__


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "cosine"])
def test_fast_silhouette_equals_sklearns(metric):
    from sklearn.metrics import pairwise_distances, silhouette_score

    from shopseg.segment.cluster import silhouette_from_distances

    X, _ = blobs(4, n=300, seed=8, std=3.0)
    rng = np.random.default_rng(0)
    for k in (2, 3, 5):
        lab = rng.integers(0, k, len(X))
        lab[:1] = k  # a singleton cluster scores 0
        D = pairwise_distances(X, metric=metric)
        assert silhouette_from_distances(D, lab) == pytest.approx(silhouette_score(X, lab, metric=metric), abs=1e-9)


def test_buyer_only_features_of_non_buyers_are_the_buyers_median():
    X = pd.DataFrame({"has_orders": [True, True, True, False], "frequency": [1, 2, 4, 0],
                      "avg_order_value": [10.0, 30.0, 100.0, 0.0], "recency_days": [4.0, 9.0, 16.0, 25.0]})
    bc = BehaviourClusters(features=["avg_order_value", "recency_days"], n_clusters=2,
                           winsorize_quantile=1.0).fit(X)
    L = bc.transform(X) * bc.scale_ + bc.center_
    # order value: log1p, the non-buyer gets the buyers' median (30); recency: square root
    assert np.allclose(L[:, 0], np.log1p([10, 30, 100, 30]))
    assert np.allclose(L[:, 1], [2, 3, 4, 5])


def test_default_features_include_the_derived_rates_when_their_columns_exist():
    from shopseg.segment.cluster import default_features
    cols = ["recency_days", "tenure_days", "frequency", "n_units", "avg_order_value", "discount_share"]
    assert default_features(cols) == ["recency_days", "tenure_days", "frequency", "orders_per_year",
                                      "avg_order_value", "units_per_order", "discount_share"]
    assert "units_per_order" not in default_features(["frequency", "tenure_days"])


@pytest.fixture(scope="module")
def demo_features(tmp_path_factory):
    """Customer features of a 3,000-customer demo shop (seed 42) with the planted persona of each customer."""
    from shopseg.features import customer_features
    from shopseg.synth import synthesize
    from shopseg.workspace import open_workspace

    with open_workspace(tmp_path_factory.mktemp("demo") / "ws") as w:
        synthesize(w, customers=3000, seed=42)
        return customer_features(w, "2024-12-31").merge(w.df("SELECT customer_id, persona FROM ground_truth"),
                                                        on="customer_id")


def test_demo_shop_clusters_recover_the_planted_personas_at_the_planted_k(demo_features):
    """3,000-customer demo shop, seed 42: Ward on the default features, K = 8, ARI 0.90 (docs/segments.md).

    K is given here; the automatic two-level K is checked in the next test.
    """
    f = demo_features
    bc = BehaviourClusters(n_clusters=8, method="hierarchical", random_state=0).fit(f)
    assert adjusted_rand_score(f["persona"], bc.labels_) >= 0.8
    km = BehaviourClusters(n_clusters=8, random_state=0).fit(f)
    assert adjusted_rand_score(f["persona"], km.labels_) >= 0.8


def test_demo_shop_clusters_recover_the_planted_personas_with_automatic_k(demo_features):
    """The default settings (k_selection = "two_level") on the 3,000-customer shop, seed 42: the silhouette
    picks the 5 far-apart groups, the second level splits the big inner one into its 4 personas: K = 8,
    ARI 0.907.  Neighbours (docs/segments.md, "Stability across seeds"): random_state 0-9 give K = 8 and
    0.906-0.907 except 6 (the first level finds another 5-cluster partition: K = 7, 0.862); with the rule of
    before (the null test alone), seed 43 gave 0.90 except at random_state 2 (K = 6, ARI 0.721): the rule
    usually reaches 0.8 here, it is not guaranteed to."""
    f = demo_features
    bc = BehaviourClusters.from_config(load_config()).fit(f)
    assert bc.k_selection == "two_level"
    assert 8 <= bc.n_clusters_ <= 10
    assert adjusted_rand_score(f["persona"], bc.labels_) >= 0.8
    assert bc.split_table_["k"].gt(1).any()


def test_demo_shop_personas_are_separable_in_the_cluster_space(demo_features):
    """The supervised ceiling: a linear classifier (LDA) that sees the personas, cross-validated on the
    same scaled features the clusters use, places >= 95% of customers right (0.98 here; logistic
    regression 0.99 at 20,000 customers, docs/segments.md), so the personas are recoverable from these features and the generator does
    not plant indistinguishable ones; what automatic K misses is the level of detail, not the signal."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    f = demo_features
    Z = BehaviourClusters(n_clusters=8, random_state=0).fit(f).transform(f)
    y = f["persona"].to_numpy()
    pred = cross_val_predict(LinearDiscriminantAnalysis(), Z, y, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    assert np.mean(pred == y) >= 0.95
    assert adjusted_rand_score(y, pred) >= 0.9


# -- k_selection = "two_level" (docs/segments.md, "Persona recovery") ------------------------------------------

@pytest.mark.parametrize("kind, dims, seed", [("uniform", 2, 100), ("uniform", 5, 101), ("gaussian", 10, 102)])
def test_two_level_does_not_split_the_clusters_of_pure_noise(kind, dims, seed):
    """The silhouette K cuts noise into cells; the second level must find no structure inside them."""
    r = np.random.default_rng(seed)
    X = r.uniform(size=(600, dims)) if kind == "uniform" else r.normal(size=(600, dims))
    cols = [f"x{i}" for i in range(dims)]
    X = pd.DataFrame(X, columns=cols)
    bc = BehaviourClusters(features=cols, k_selection="two_level", winsorize_quantile=1.0).fit(X)
    t = bc.split_table_
    assert (t["k"] == 1).all(), t
    assert bc.n_clusters_ == len(t) == bc.k_curve_.set_index("k")["silhouette"].idxmax()
    assert (t["z"].fillna(0) < 6).all()
    assert sorted(x for c in t["clusters"] for x in c) == list(range(1, bc.n_clusters_ + 1))


def two_level_blobs(seed=0, n=1200):
    """Three far groups (12 apart) on orthogonal axes, the first holding three close blobs (2.5 apart), sd 0.5."""
    g = np.random.default_rng(seed)
    far = 12.0 * np.eye(5)[:3]
    near = far[0] + 2.5 * np.array([[0, 1, 0, 0, 0], [0, -0.5, 0.866, 0, 0], [0, -0.5, -0.866, 0, 0]])
    centers = np.vstack([near, far[1:]])
    y = g.integers(0, 5, size=n)
    return pd.DataFrame(centers[y] + 0.5 * g.normal(size=(n, 5)), columns=COLS), y


def test_two_level_finds_the_planted_leaves_of_two_level_blobs():
    X, y = two_level_blobs(seed=0)
    one = BehaviourClusters(features=COLS, winsorize_quantile=1.0).fit(X)
    assert one.n_clusters_ == 3  # the silhouette sees the far groups only
    bc = BehaviourClusters(features=COLS, k_selection="two_level", winsorize_quantile=1.0).fit(X)
    assert bc.n_clusters_ == 5
    assert adjusted_rand_score(y, bc.labels_) > 0.9
    assert sorted(bc.split_table_["k"]) == [1, 1, 3]
    assert np.array_equal(bc.predict(X), bc.labels_)  # rows go to the nearest leaf centroid, as in predict


def test_two_level_finds_the_same_leaves_whatever_the_seed():
    """An unambiguous two-level structure (the blobs above, 600 rows: three far groups, one made of three close
    blobs, checkable by eye): every random_state 0-9 splits the first group in 3 and nothing else, K = 5, and
    the ten partitions are the same up to relabelling (ARI 1 between every pair; 0.975 against the blobs)."""
    from itertools import combinations

    X, y = two_level_blobs(seed=0, n=600)
    labels = []
    for rs in range(10):
        bc = BehaviourClusters(features=COLS, k_selection="two_level", winsorize_quantile=1.0, random_state=rs).fit(X)
        assert bc.n_clusters_ == 5 and bc.split_table_["k"].tolist() == [3, 1, 1], rs
        assert bc.split_table_["stability"].iloc[0] >= shopseg.segment._cluster_k.SPLIT_STABILITY
        assert adjusted_rand_score(y, bc.labels_) > 0.9
        labels.append(bc.labels_)
    assert min(adjusted_rand_score(a, b) for a, b in combinations(labels, 2)) == 1.0


def test_two_level_does_not_cut_a_continuum_for_any_seed():
    """A skewed continuum (600 rows, exp of a correlated 5-D Gaussian: one mode, no groups) beats the null
    references (the silhouette of its k-means cuts is 0.12-0.15 above theirs at z = 12-32, because a skewed
    cloud is not the null's shape), so the null test alone splits it, by lot: K = 5, 6 or 9 over
    random_state 0-9 with the stability gate off (the rule of before, docs/segments.md).  Its cuts do not
    recur on random halves (stability 0.70-0.87 < 0.95): no split for any seed, K is the first level's 2."""
    from shopseg.segment._cluster_k import SPLIT_GAIN, SPLIT_STABILITY, SPLIT_Z

    g = np.random.default_rng(0)
    X = pd.DataFrame(np.exp(g.normal(size=(600, 5)) @ (np.eye(5) + 0.5 * np.eye(5, k=1))), columns=COLS)
    for rs in range(10):
        bc = BehaviourClusters(features=COLS, k_selection="two_level", winsorize_quantile=1.0, random_state=rs).fit(X)
        t = bc.split_table_
        assert (t["k"] == 1).all() and bc.n_clusters_ == len(t) == 2, (rs, t)
        first = t.iloc[0]  # the null test passes: only the stability stops the split
        assert first["z"] > SPLIT_Z and first["silhouette"] - first["null_silhouette"] >= SPLIT_GAIN, (rs, t)
        assert first["stability"] < SPLIT_STABILITY


def test_two_level_same_random_state_same_clusters():
    X, _ = two_level_blobs(seed=1, n=600)
    a = BehaviourClusters(features=COLS, k_selection="two_level", random_state=3).fit(X)
    b = BehaviourClusters(features=COLS, k_selection="two_level", random_state=3).fit(X)
    assert np.array_equal(a.labels_, b.labels_)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.split_table_.equals(b.split_table_)


def test_two_level_is_a_valid_k_selection_setting():
    cfg = load_config(overrides={"segments": {"cluster": {"k_selection": "two_level"}}})
    assert BehaviourClusters.from_config(cfg).k_selection == "two_level"
    with pytest.raises(ConfigError, match="'silhouette', 'elbow', 'two_level'"):
        load_config(overrides={"segments": {"cluster": {"k_selection": "gap"}}})


def test_above_max_customers_the_model_is_fitted_on_the_seeded_sample_and_everyone_is_assigned():
    """segments.cluster.max_customers = 300 of 900 customers: caps, scaling, K and centres are those of a fit on
    the 300 customers fit_sample draws (churn's seeded_sample rule over the sorted ids), every customer gets
    the nearest centre, and shuffling the rows changes nothing (the sample is drawn from sorted ids)."""
    from shopseg.predict._churn_data import seeded_sample
    from shopseg.segment.schemes.cluster import fit_sample

    cfg = load_config(overrides={"segments": {"cluster": {"sample_size": 200, "max_customers": 300}}})
    df, kind = behaviour_frame()
    sample = fit_sample(df["customer_id"], cfg)
    assert sample == seeded_sample(sorted(df["customer_id"]), 300, 0) and len(sample) == len(set(sample)) == 300
    model, lab, prof = fit_clusters(df, cfg)
    alone = BehaviourClusters.from_config(cfg).fit(df[df["customer_id"].isin(sample)])
    assert model.fit_customers_ == 300 and len(lab) == 900 and prof["n_customers"].sum() == 900
    np.testing.assert_array_equal(model.cluster_centers_, alone.cluster_centers_)
    np.testing.assert_array_equal(model.caps_, alone.caps_)
    assert list(lab) == [f"cluster_{i}" for i in alone.predict(df)]
    assert adjusted_rand_score(kind, alone.predict(df)) == 1.0  # the three planted behaviours, from a third
    shuffled = df.sample(frac=1, random_state=3).reset_index(drop=True)
    _, lab2, _ = fit_clusters(shuffled, cfg)
    assert dict(zip(shuffled["customer_id"], lab2)) == dict(zip(df["customer_id"], lab))


def test_at_or_below_max_customers_clusters_are_those_of_a_fit_on_everyone():
    df, _ = behaviour_frame()
    at = load_config(overrides={"segments": {"cluster": {"sample_size": 400, "max_customers": 900}}})
    off = load_config(overrides={"segments": {"cluster": {"sample_size": 400, "max_customers": 0}}})
    m1, lab1, _ = fit_clusters(df, at)
    m0, lab0, _ = fit_clusters(df, off)
    assert not hasattr(m1, "fit_customers_") and list(lab1) == list(lab0)
    np.testing.assert_array_equal(m1.cluster_centers_, m0.cluster_centers_)
