"""Reuse or refit: stored models are reused while their inputs hold still, refitted on drift or on request."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from shopseg.config import load_config
from shopseg.errors import ConfigError, NotFittedError
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.pipeline import run_pipeline
from shopseg.refit import (Decision, cluster_model_path, decide, decisions, input_drift, load_cluster_model, record,
                           save_cluster_model, stored_cluster_model)
from shopseg.segment import BehaviourClusters, SegmentWarning

SMALL = {"segments": {"cluster": {"sample_size": 100}}}


def _features_runs(ws, before: dict, after: dict) -> None:
    """Table customer_features with run 1 = ``before`` and run 2 = ``after`` (column -> values)."""
    rows = []
    for rid, cols in ((1, before), (2, after)):
        df = pd.DataFrame(cols)
        df.insert(0, "customer_id", [f"c{i}" for i in range(len(df))])
        df.insert(0, "run_id", rid)
        rows.append(df)
    ws.con.register("_f", pd.concat(rows, ignore_index=True))
    ws.con.execute("CREATE TABLE customer_features AS SELECT * FROM _f")
    ws.con.unregister("_f")


def test_unchanged_inputs_reuse_and_a_planted_shift_refits(ws):
    rng = np.random.default_rng(0)
    x = rng.lognormal(3, 1, 2000)
    _features_runs(ws, {"monetary_total": x, "frequency": np.arange(2000.0) % 7},
                   {"monetary_total": x, "frequency": np.arange(2000.0) % 7})
    cfg = load_config()
    d = decide(ws, 2, "churn", cfg, features=["monetary_total", "frequency"], source_run_id=1)
    assert (d.action, d.source_run_id, d.max_psi) == ("reused", 1, pytest.approx(0.0, abs=1e-12))
    ws.con.execute("UPDATE customer_features SET monetary_total = monetary_total * 3 WHERE run_id = 2")
    d = decide(ws, 2, "churn", cfg, features=["monetary_total", "frequency"], source_run_id=1)
    # every customer tripled: the top 6 deciles empty into the top bin or above, PSI far above 0.2
    assert d.action == "refitted" and d.feature == "monetary_total" and d.max_psi > 1.0
    assert "drift.refit_psi 0.2" in d.reason and d.source_run_id is None
    # the threshold is the setting's: a very lenient one reuses the same model
    lenient = load_config(overrides={"drift": {"refit_psi": 100.0}})
    assert decide(ws, 2, "churn", lenient, features=["monetary_total"], source_run_id=1).action == "reused"


def test_refit_on_request_when_reuse_is_off_and_without_a_stored_model(ws):
    _features_runs(ws, {"frequency": [1.0, 2, 3]}, {"frequency": [1.0, 2, 3]})
    cfg = load_config()
    assert decide(ws, 2, "cluster", cfg, features=["frequency"], source_run_id=1, refit=True).reason == \
        "refit requested (--refit)"
    off = load_config(overrides={"drift": {"reuse_models": False}})
    assert decide(ws, 2, "cluster", off, features=["frequency"], source_run_id=1).action == "refitted"
    assert decide(ws, 2, "cluster", cfg, features=["frequency"], source_run_id=None).reason == \
        "no stored model of an earlier run"
    assert decide(ws, 2, "cluster", cfg, features=["frequency"], source_run_id=1,
                  unusable="settings changed").reason == "settings changed"
    assert decide(ws, 2, "cluster", cfg, features=["no_such_column"], source_run_id=1).action == "refitted"


def test_input_drift_names_the_feature_with_the_largest_psi(ws):
    _features_runs(ws, {"a": np.arange(100.0), "b": np.arange(100.0)},
                   {"a": np.arange(100.0), "b": np.r_[np.zeros(50), np.full(50, 99.0)]})
    psi, feat = input_drift(ws, 2, 1, ["a", "b"])
    # b: half in the first decile bin, half in the last (as test_drift's hand example): 6.808228
    assert feat == "b" and psi == pytest.approx(6.808228, abs=1e-6)


def test_input_drift_shared_across_decisions_gives_the_same_answers_from_one_computation(ws):
    half = np.r_[np.zeros(50), np.full(50, 99.0)]
    _features_runs(ws, {"a": np.arange(100.0), "b": np.arange(100.0), "c": np.arange(100.0)},
                   {"a": np.arange(100.0), "b": half, "c": half})  # b and c: the same PSI, 6.808228
    shared: dict = {}
    for feats, want in ((["a"], (0.0, "a")), (["c", "b"], (6.808228, "c")), (["b", "c", "a"], (6.808228, "b")),
                        (["no_such_column"], (None, None))):
        alone, together = input_drift(ws, 2, 1, feats), input_drift(ws, 2, 1, feats, shared=shared)
        assert alone == together  # a tie names the first of the model's features, as without sharing
        assert (None if together[0] is None else round(together[0], 6), together[1]) == want
    assert list(shared) == [(2, 1, 10)]  # one computation for the four decisions
    # the shared PSI are the ones computed first: a change after it is not seen (one run's decisions only)
    ws.con.execute("UPDATE customer_features SET a = a * 3 WHERE run_id = 2")
    assert input_drift(ws, 2, 1, ["a"], shared=shared) == (0.0, "a")
    assert input_drift(ws, 2, 1, ["a"])[0] > 1.0


def test_decisions_are_one_row_per_run_and_model(ws):
    record(ws, 5, Decision("churn", "refitted", "first"))
    record(ws, 5, Decision("churn", "reused", "second", 0.01, "frequency", 4))
    df = decisions(ws, 5)
    row = df.to_dict(orient="records")
    assert len(row) == 1 and {k: row[0][k] for k in list(row[0])[:6]} == {
        "model": "churn", "action": "reused", "reason": "second", "max_psi": 0.01, "feature": "frequency",
        "source_run_id": 4}
    assert row[0]["candidate"] is None and np.isnan(row[0]["model_value"]) and row[0]["decision"] is None
    # the backtest's columns: what was used, both figures and the sentence
    record(ws, 5, Decision("p_alive", "refitted", "every run", candidate="baseline", metric="roc_auc",
                           model_value=0.324, baseline_value=0.668, decision="recency baseline used"))
    got = decisions(ws, 5).set_index("model").loc["p_alive"]
    assert (got.candidate, got.metric, got.model_value, got.baseline_value, got.decision) == (
        "baseline", "roc_auc", 0.324, 0.668, "recency baseline used")
    with pytest.raises(ConfigError, match="reused"):
        record(ws, 5, Decision("churn", "kept", "?"))


def test_a_stored_cluster_model_assigns_every_customer_as_the_fitted_one(tmp_path):
    X, _ = make_blobs(600, n_features=3, centers=4, cluster_std=0.6, random_state=2)
    df = pd.DataFrame(np.abs(X) * 10, columns=["recency_days", "frequency", "avg_order_value"])
    df["has_orders"] = True
    m = BehaviourClusters(features=list(df.columns[:3]), random_state=0, sample_size=300).fit(df)
    m.align_to(m.centroids_.set_axis([7, 3, 5, 9][: m.n_clusters_]))  # ids not 1..K: they must survive
    path = save_cluster_model(m, tmp_path / "c.json", {"run_id": 4})
    back = load_cluster_model(path)
    assert np.array_equal(back.predict(df), m.labels_)
    assert np.array_equal(back.cluster_ids_, m.cluster_ids_) and back.n_clusters_ == m.n_clusters_
    assert back.get_params() == m.get_params() and back.metadata_["run_id"] == 4
    with pytest.raises(NotFittedError):
        load_cluster_model(tmp_path / "absent.json")


def test_second_segments_run_on_unchanged_data_reuses_the_clusters_with_the_same_labels(ws):
    load_fixture_shop(ws)
    cfg = load_config(overrides=SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentWarning)
        first = run_pipeline(ws, FIXTURE_AS_OF, config=cfg, stages=["segments"])
        second = run_pipeline(ws, FIXTURE_AS_OF, config=cfg, stages=["segments"])
        forced = run_pipeline(ws, FIXTURE_AS_OF, config=cfg, stages=["segments"], refit=True)
        later = run_pipeline(ws, "2024-03-31", config=cfg, stages=["segments"])  # planted shift: months back
    assert cluster_model_path(ws, first.run_id).exists()
    got = {r: decisions(ws, r).set_index("model").loc["cluster"] for r in
           (first.run_id, second.run_id, forced.run_id, later.run_id)}
    assert got[first.run_id].action == "refitted"
    assert (got[second.run_id].action, got[second.run_id].source_run_id) == ("reused", first.run_id)
    assert second.stages["segments"]["fit"].startswith(f"reused the model of run {first.run_id}")
    assert got[forced.run_id].reason == "refit requested (--refit)"
    # against the run that fitted the model in use (run 3): recency and tenure moved for everyone
    assert got[later.run_id].action == "refitted" and got[later.run_id].max_psi > 0.2
    seg = ws.df("SELECT run_id, customer_id, segment FROM segments WHERE scheme = 'cluster' "
                "ORDER BY customer_id").pivot(index="customer_id", columns="run_id", values="segment")
    assert (seg[first.run_id] == seg[second.run_id]).all()
    names = ws.df("SELECT run_id, segment, name FROM segment_profiles WHERE scheme = 'cluster'")
    a = names[names.run_id == first.run_id].set_index("segment").name
    b = names[names.run_id == second.run_id].set_index("segment").name
    assert a.sort_index().equals(b.sort_index())


def test_changed_cluster_settings_refit_instead_of_reusing(ws):
    load_fixture_shop(ws)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentWarning)
        run_pipeline(ws, FIXTURE_AS_OF, config=load_config(overrides=SMALL), stages=["segments"])
        other = run_pipeline(ws, FIXTURE_AS_OF, stages=["segments"],
                             config=load_config(overrides={"segments": {"cluster": {"sample_size": 101}}}))
    d = decisions(ws, other.run_id).set_index("model").loc["cluster"]
    assert d.action == "refitted" and "sample_size" in d.reason


def test_a_changed_cluster_sample_cap_refits_instead_of_reusing(ws):
    """segments.cluster.max_customers is not an estimator parameter (the scheme draws the sample); the stored
    model carries it, and a run with another cap refits."""
    load_fixture_shop(ws)
    capped = {"segments": {"cluster": {**SMALL["segments"]["cluster"], "max_customers": 100_000}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentWarning)
        first = run_pipeline(ws, FIXTURE_AS_OF, config=load_config(overrides=SMALL), stages=["segments"])
        same = run_pipeline(ws, FIXTURE_AS_OF, config=load_config(overrides=SMALL), stages=["segments"])
        other = run_pipeline(ws, FIXTURE_AS_OF, config=load_config(overrides=capped), stages=["segments"])
    assert stored_cluster_model(ws, first.run_id).metadata_["max_customers"] == 50_000
    assert decisions(ws, same.run_id).set_index("model").loc["cluster"].action == "reused"
    d = decisions(ws, other.run_id).set_index("model").loc["cluster"]
    assert d.action == "refitted" and d.reason.endswith("settings changed since run 2 (max_customers)")


def test_second_churn_run_on_unchanged_data_reuses_the_model_and_scores_alike(ws):
    from shopseg.predict.churn import load_churn_model
    from shopseg.synth import synthesize

    synthesize(ws, customers=500, seed=3, as_of="2024-12-31")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # thin-data warnings of a small shop
        first = run_pipeline(ws, "2024-12-31", stages=["segments", "churn"])
        second = run_pipeline(ws, "2024-12-31", stages=["segments", "churn"])
    if first.stages["churn"]["status"] != "done":
        pytest.fail(f"the churn stage did not fit: {first.stages['churn']}")
    d = decisions(ws, second.run_id).set_index("model")
    assert (d.loc["churn", "action"], d.loc["churn", "source_run_id"]) == ("reused", first.run_id)
    assert d.loc["churn", "max_psi"] == pytest.approx(0.0, abs=1e-12)
    # the reused model's backtest against the logistic RFM baseline is the fitting run's
    d1 = decisions(ws, first.run_id).set_index("model")
    for k in ("candidate", "metric", "model_value", "baseline_value", "decision"):
        assert d.loc["churn", k] == d1.loc["churn", k] and d1.loc["churn", k] is not None, k
    s = ws.df("SELECT run_id, customer_id, probability, tier FROM churn_scores ORDER BY customer_id, run_id")
    a, b = s[s.run_id == first.run_id].reset_index(drop=True), s[s.run_id == second.run_id].reset_index(drop=True)
    assert a.customer_id.equals(b.customer_id) and a.tier.equals(b.tier)
    assert np.allclose(a.probability, b.probability, atol=1e-12)
    # stored as the second run's model (the live service loads it), remembering who fitted it
    m = load_churn_model(ws, second.run_id)
    assert m.metadata_["fitted_run_id"] == first.run_id and m.metadata_["run_id"] == second.run_id
    from shopseg import models

    assert models.require(ws, "churn", second.run_id)["fitted_run_id"] == first.run_id  # the store's metadata too
    assert models.require(ws, "churn", first.run_id)["fitted_run_id"] == first.run_id
    # the quality figures shown for the second run are the fitted model's
    q = ws.df("SELECT run_id, count(*) AS n FROM model_reports GROUP BY 1 ORDER BY 1")
    assert q.n.tolist()[0] == q.n.tolist()[1] > 0
