"""Federated segmentation: three shops fit one clustering from aggregates only, as the pooled fit would."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from shopseg import ConfigError
from shopseg.features import customer_features
from shopseg.federated import (
    Coordinator,
    Privacy,
    Site,
    _estimator,
    _to_grid,
    first_request,
    hist_quantile,
    n_bins,
    next_request,
)
from shopseg.segment.cluster import BehaviourClusters
from shopseg.synth import synthesize
from shopseg.workspace import open_workspace

AS_OF = "2024-12-31"
SHOPS = [(11, 400), (12, 600), (13, 900)]  # (seed, customers): three shops of different sizes


@pytest.fixture(scope="module")
def shops(tmp_path_factory):
    frames = []
    for seed, n in SHOPS:
        with open_workspace(tmp_path_factory.mktemp("shop") / "ws") as ws:
            synthesize(ws, customers=n, seed=seed, as_of=AS_OF, history_days=540)
            f = customer_features(ws, AS_OF)
            f["customer_id"] = f"s{seed}-" + f["customer_id"].astype(str)  # ids unique over the union
            frames.append(f)
    return frames


def test_two_sites_of_two_points_give_the_hand_computed_centroids():
    # site a: 0 and 1; site b: 10 and 11.  Pooled mean 5.5, population std sqrt(25.25); K=2 splits them.
    sites = [Site(pd.DataFrame({"click_rate": [0.0, 1.0]}), name="a", min_count=1),
             Site(pd.DataFrame({"click_rate": [10.0, 11.0]}), name="b", min_count=1)]
    fed = Coordinator(n_clusters=2, features=["click_rate"], winsorize_quantile=1.0).fit(sites)
    m = fed.model_
    assert m.center_.tolist() == [5.5]
    assert m.scale_[0] == pytest.approx(np.sqrt(25.25))
    assert sorted(m.centroids_["click_rate"].round(9).tolist()) == [0.5, 10.5]
    assert sorted(fed.sizes_.tolist()) == [2.0, 2.0]
    assert m.predict(pd.DataFrame({"click_rate": [0.2, 10.9]})).tolist() != [1, 1]


@settings(max_examples=40, deadline=None)
@given(x=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200),
       q=st.sampled_from([0.01, 0.25, 0.5, 0.9, 0.99]))
def test_histogram_quantile_is_within_one_bin_of_numpys(x, q):
    x = np.asarray(x)
    est = hist_quantile(np.bincount(_to_grid(x), minlength=n_bins()), q)
    lo, hi = np.sort(x)[int(np.floor(q * (len(x) - 1)))], np.sort(x)[int(np.ceil(q * (len(x) - 1)))]
    # within the bins of the two order statistics numpy interpolates between (bin width 0.01 in log1p)
    assert np.log1p(lo) - 0.011 <= np.log1p(est) <= np.log1p(hi) + 0.011


def test_federated_scaling_equals_pooled_moments_exactly(shops):
    feats = BehaviourClusters().fit(shops[0]).features_
    req = first_request(feats, 3)
    sites = [Site(f) for f in shops]
    req = next_request(req, [s.answer(req) for s in sites])  # histograms -> caps, imputation
    req = next_request(req, [s.answer(req) for s in sites])  # moments -> centre, scale
    L = _estimator(req["spec"], "moments")._log_space(pd.concat(shops, ignore_index=True))
    np.testing.assert_allclose(req["spec"]["center"], L.mean(axis=0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(req["spec"]["scale"], L.std(axis=0), rtol=1e-9)
    # and each histogram cap is within one bin (0.01 in log1p) of the two order statistics the pooled
    # 0.99 quantile interpolates between
    pooled = BehaviourClusters(features=feats, n_clusters=2).fit(pd.concat(shops, ignore_index=True))
    raw = np.sort(pooled._raw(pd.concat(shops, ignore_index=True)), axis=0)
    r = 0.99 * (len(raw) - 1)
    lo, hi = raw[int(np.floor(r))], raw[int(np.ceil(r))]
    cap = np.asarray(req["spec"]["caps"])
    assert np.all(np.log1p(lo) - 0.011 <= np.log1p(cap)) and np.all(np.log1p(cap) <= np.log1p(hi) + 0.011)


def test_federated_clusters_match_the_pooled_fit_on_three_shops(shops):
    pool = pd.concat(shops, ignore_index=True)
    auto = BehaviourClusters(random_state=0).fit(pool)  # the pooled fit chooses K; federated uses the same K
    # the pooled reference keeps the best of 10 k-means++ starts: with 4 starts K-means itself can stop in a
    # worse local optimum, and then two pooled fits of different seeds disagree (ARI ~0.6-0.9 here)
    pooled = BehaviourClusters(n_clusters=auto.n_clusters_, random_state=0, n_init=10).fit(pool)
    fed = Coordinator(n_clusters=auto.n_clusters_, features=pooled.features_, random_state=0).fit(
        [Site(f, name=f"shop{i}") for i, f in enumerate(shops)])
    ari = adjusted_rand_score(pooled.labels_, fed.model_.predict(pool))
    assert ari >= 0.9, ari
    assert fed.sizes_.sum() == len(pool)


def test_messages_hold_no_customer_id_and_no_row_value(shops):
    fed = Coordinator(n_clusters=3, features=["recency_days", "avg_order_value", "browse_minutes"]).fit(
        [Site(f, name=f"shop{i}") for i, f in enumerate(shops)])
    text = json.dumps(fed.messages_)
    assert len(fed.messages_) >= 3 * 4
    ids = set(pd.concat(shops)["customer_id"].astype(str))
    strings = set(re.findall(r'"([^"]*)"', text))
    assert not strings & ids
    numbers = {float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", text)}
    # every non-round value a customer has (order values, browse minutes): none crosses the wire
    raw = pd.concat(shops)[["avg_order_value", "browse_minutes"]].to_numpy().ravel()
    raw = {float(v) for v in raw if v != round(v)}
    assert len(raw) > 500
    assert not numbers & raw
    # replies carry only aggregate fields
    allowed = {"protocol", "round", "iteration", "site", "noise", "histograms", "n", "sum", "sum_sq", "counts",
               "sums", "suppressed", "inertia", "count_sd", "clip"}
    assert all(set(m) <= allowed for m in fed.messages_ if "site" in m)


def test_a_local_cluster_of_fewer_than_min_count_customers_is_suppressed():
    # one far customer alone: its sum would be its row; the site reports 0 for that cluster
    f = pd.DataFrame({"click_rate": [0.0, 0.1, 0.2, 0.1, 0.0, 0.2, 50.0]})
    site = Site(f, min_count=3)
    req = first_request(["click_rate"], 2, winsorize_quantile=1.0, local_clusters=2)
    for _ in range(3):
        req = next_request(req, [site.answer(req)])
    seeds = req["spec"]["centroids"]
    assert len(seeds) == 1  # the lone customer's local cluster was suppressed in the seeds round too
    c, s = req["spec"]["center"][0], req["spec"]["scale"][0]
    req["spec"]["centroids"] = [[(0.1 - c) / s], [(50.0 - c) / s]]
    reply = site.answer(req)
    assert reply["round"] == "step"
    assert reply["suppressed"] == 1
    assert reply["counts"] == [6.0, 0.0] and reply["sums"][1] == [0.0]


def test_laplace_and_gaussian_noise_have_the_stated_scale():
    rng = np.random.default_rng(0)
    lap = Privacy(2.0).noise(rng, 200_000, eps=2.0, l1=3.0, l2=1.0)  # b = 3 / 2 = 1.5; E|X| = b
    assert np.abs(lap).mean() == pytest.approx(1.5, rel=0.02)
    g = Privacy(1.0, mechanism="gaussian", delta=1e-5).noise(rng, 200_000, eps=0.5, l1=9.0, l2=2.0)
    assert g.std() == pytest.approx(2.0 * np.sqrt(2 * np.log(1.25 / 1e-5)) / 0.5, rel=0.02)


def test_noisy_fit_spends_exactly_the_sites_epsilon_and_refuses_more(shops):
    sites = [Site(f, privacy=Privacy(8.0), random_state=i) for i, f in enumerate(shops)]
    fed = Coordinator(n_clusters=3, features=["recency_days", "frequency", "discount_share"], max_iter=4,
                      tol=0.0, bin_width=0.25, bounds={"recency_days": (0, 3650), "frequency": (0, 1000),
                                                       "discount_share": (0, 1)}).fit(sites)
    assert fed.model_.n_clusters_ == 3
    assert [s.epsilon_spent_ for s in sites] == pytest.approx([8.0] * 3)
    with pytest.raises(ConfigError, match="epsilon"):
        sites[0].answer([m for m in fed.messages_ if "site" not in m and m["round"] == "step"][-1])


def test_same_seed_gives_the_same_model_and_a_stray_reply_is_refused(shops):
    mk = lambda: Coordinator(n_clusters=3, features=["recency_days", "frequency"], random_state=3).fit(
        [Site(f) for f in shops[:2]])
    a, b = mk(), mk()
    np.testing.assert_array_equal(a.model_.cluster_centers_, b.model_.cluster_centers_)
    req = first_request(["recency_days"], 2)
    with pytest.raises(ConfigError, match="does not answer"):
        next_request(req, [{**Site(shops[0]).answer(req), "round": "moments"}])


def test_the_module_examples_run():
    import doctest

    import shopseg.federated
    assert doctest.testmod(shopseg.federated).failed == 0
