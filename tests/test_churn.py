"""Churn prediction: labels, features, the estimator, reasons, tiers, storage and the stage."""

import importlib
import json
import math
import warnings
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopseg.config import load_config
from shopseg.errors import ConfigError, DataContractError, ModelFitError, NotFittedError
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.workspace import open_workspace

churn = importlib.import_module("shopseg.predict.churn")
explain = importlib.import_module("shopseg.predict.explain")
R = importlib.import_module("shopseg.predict._churn_report")
ChurnModel = churn.ChurnModel
fit_calibrator = importlib.import_module("shopseg.predict._churn_model").fit_calibrator
_calibrate_apply = importlib.import_module("shopseg.predict._churn_model")._calibrate_apply

AS_OF = datetime(2024, 12, 31)
# small and quick: a 90-day horizon, 120 boosting rounds
FAST = {"churn": {"horizon_days": 90, "lightgbm": {"n_estimators": 120, "learning_rate": 0.05}}}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A generated shop of 800 customers, scored once by the churn stage (run 1)."""
    from shopseg.synth import synthesize

    ws = open_workspace(tmp_path_factory.mktemp("churn") / "ws")
    synthesize(ws, customers=800, seed=3, as_of=AS_OF.date().isoformat())
    cfg = load_config(overrides=FAST)
    notes = churn.churn_stage(ws, 1, AS_OF, cfg)
    yield ws, cfg, notes
    ws.close()


@pytest.fixture
def fixture_ws(ws):
    load_fixture_shop(ws)
    return ws


def _scores(ws, run_id):
    return ws.df("SELECT * EXCLUDE (run_id) FROM churn_scores WHERE run_id = ? ORDER BY customer_id", [run_id])


# -- labels and features, by hand on the fixture shop -------------------------------------

def test_labels_mark_customers_without_an_order_in_the_horizon_as_churned(fixture_ws):
    # window [2024-04-02, 2024-07-01): c04 (last order 2023-09) and c05 (2023-04) do not come back;
    # c03 (first order 2024-06-20) is not labelled: no order before the cutoff
    lab = churn.churn_labels(fixture_ws, datetime(2024, 4, 2), 90)
    assert dict(zip(lab.customer_id, lab.churned)) == {
        "c01": 0, "c02": 0, "c04": 1, "c05": 1, "c06": 0, "c07": 0, "c08": 0, "c09": 0}


def test_churn_features_of_ada_match_a_hand_computation(fixture_ws):
    f = churn.cutoff_frame(fixture_ws, FIXTURE_AS_OF, 90, load_config()).set_index("customer_id")
    ada = f.loc["c01"]
    # purchase days aged 168, 122, 72, 30, 6 days at 2024-07-01; recent < 90, prior in [90, 180)
    assert (ada.purchase_days, ada.purchase_days_recent, ada.purchase_days_prior) == (5, 3, 2)
    assert (ada.spend_recent, ada.spend_prior) == (110.0, 180.0)
    assert ada.spend_trend == pytest.approx((110 - 180) / 290, abs=1e-6)  # features are rounded to 1e-6
    assert ada.activity_decayed == pytest.approx(sum(math.exp(-a / 90) for a in (168, 122, 72, 30, 6)), abs=1e-6)
    assert ada.active_months_365d == 4  # Jan, Mar, Apr, Jun 2024
    assert ada.usual_gap_days == 40.5 and ada.recency_gap_ratio == pytest.approx(6 / 40.5, abs=1e-6)
    # the rating-1 review of 2024-07-05 is after as_of: no complaint yet; Gus's rating 2 is one
    assert ada.n_complaints == 0 and f.loc["c07", "n_complaints"] == 1
    assert "c10" not in f.index and "c12" not in f.index  # no order before as_of: not scored


def test_derived_horizon_is_the_configured_quantile_of_purchase_gaps(fixture_ws):
    cfg = load_config(overrides={"churn": {"horizon_quantile": 0.95, "min_gaps": 10}})
    h = churn.churn_horizon(fixture_ws, FIXTURE_AS_OF, cfg)
    assert (h["horizon_days"], h["n_gaps"], h["source"]) == (216, 15, "derived")  # as lifecycle's 95th pct


def test_too_few_gaps_fall_back_to_the_fallback_horizon_with_a_warning(fixture_ws):
    with pytest.warns(churn.ChurnWarning, match="only 15 gap"):
        h = churn.churn_horizon(fixture_ws, FIXTURE_AS_OF, load_config())
    assert (h["horizon_days"], h["source"]) == (90, "fallback")


# -- the stage ------------------------------------------------------------------------

def test_every_scored_customer_gets_exactly_one_tier(shop):
    ws, cfg, notes = shop
    s = _scores(ws, 1)
    buyers = ws.scalar("SELECT count(DISTINCT customer_id) FROM orders WHERE kind = 'sale' "
                       "AND customer_id IS NOT NULL AND ordered_at < ?", [AS_OF])
    assert len(s) == s.customer_id.nunique() == buyers == notes["n_scored"]
    assert set(s.tier) <= {"high", "mid", "low"}
    # tiers by calibrated probability (the default): high from 0.7, mid from 0.4
    assert (s.tier == np.where(s.probability >= 0.7, "high", np.where(s.probability >= 0.4, "mid", "low"))).all()
    # tiers follow the probabilities: nobody in a lower tier is more likely to churn than anybody above
    assert s[s.tier == "high"].probability.min() >= s[s.tier == "mid"].probability.max()
    assert s[s.tier == "mid"].probability.min() >= s[s.tier == "low"].probability.max()
    assert s.probability.between(0, 1).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.5, 0.9, 1.0]), min_size=1, max_size=60),
       st.floats(0, 1), st.floats(0, 1))
def test_share_tiers_cover_every_customer_once_even_with_tied_probabilities(prob, high, mid):
    mid = min(mid, 1 - high)
    p = np.array(prob)
    tiers, cuts = R.assign_tiers(p, p, {"high_share": high, "mid_share": mid}, {"method": "share"})
    assert len(tiers) == len(p) and set(tiers) <= {"high", "mid", "low"}
    assert (tiers == "high").sum() == round(high * len(p))
    assert (tiers == "mid").sum() == min(len(p) - round(high * len(p)), round(mid * len(p)))


def test_the_model_beats_chance_and_the_rfm_baseline_on_planted_churn(shop):
    ws, _, notes = shop
    assert notes["roc_auc"] > 0.85 and notes["roc_auc"] > notes["baseline_roc_auc"] - 0.02
    s = _scores(ws, 1).merge(ws.df("SELECT customer_id, churned_in_horizon FROM ground_truth"), on="customer_id")
    assert R.roc_auc(s.churned_in_horizon.astype(int).to_numpy(), s.probability.to_numpy()) > 0.8


def test_quality_report_has_both_views_of_churn_on_the_validation_window(shop):
    ws, _, notes = shop
    rep = ws.df("SELECT model, metric, value, details FROM model_reports WHERE run_id = 1")
    got = {(m, k) for m, k in zip(rep.model, rep.metric)}
    for metric in ("roc_auc", "pr_auc", "brier", "lift_top_decile", "gains_top_20"):
        assert ("lightgbm", metric) in got and ("rfm_logit", metric) in got
    assert ("bgnbd", "roc_auc") in got and ("bgnbd", "roc_auc_no_purchase_in_horizon") in got
    gains = json.loads(rep[(rep.model == "lightgbm") & (rep.metric == "gains_top_20")].details.iloc[0])
    assert gains["text"].startswith("contacting the top 20% reaches ") and len(gains["gains"]) == 10
    assert gains["cutoffs"]["valid"].startswith("2024-10-02")  # as_of - H


def test_orders_on_or_after_as_of_change_nothing(shop, tmp_path):
    """Leakage: the stage reads no label, feature or calibration row dated on or after as_of."""
    ws, cfg, _ = shop
    before = _scores(ws, 1)
    reports = ws.df("SELECT model, metric, value FROM model_reports WHERE run_id = 1 ORDER BY 1, 2")
    some = before.customer_id.head(50).tolist()
    ws.con.execute("CREATE TEMP TABLE _saved AS SELECT * FROM orders")
    try:
        for k, cid in enumerate(some):  # the high-risk customers all come back: a leak would show
            ws.con.execute("INSERT INTO orders (order_id, customer_id, ordered_at, kind) VALUES (?, ?, ?, 'sale')",
                           [f"future{k}", cid, AS_OF + timedelta(hours=k)])
        churn.churn_stage(ws, 2, AS_OF, cfg)
        after = _scores(ws, 2)
        pd.testing.assert_frame_equal(before, after)
        again = ws.df("SELECT model, metric, value FROM model_reports WHERE run_id = 2 ORDER BY 1, 2")
        pd.testing.assert_frame_equal(reports, again)
    finally:
        ws.con.execute("DELETE FROM orders WHERE order_id LIKE 'future%'")


def test_same_seed_same_scores_and_another_seed_another_model(shop):
    ws, cfg, _ = shop
    churn.churn_stage(ws, 3, AS_OF, cfg)
    pd.testing.assert_frame_equal(_scores(ws, 1), _scores(ws, 3))
    frame = churn.labelled_frame(ws, AS_OF - timedelta(days=180), 90, cfg)
    feats = churn.default_features(frame)

    def raw(seed):
        m = ChurnModel(random_state=seed, params={"n_estimators": 60}).fit(frame[feats], frame.churned)
        return m.decision_function(frame[feats])

    assert np.array_equal(raw(0), raw(0)) and not np.allclose(raw(0), raw(7))  # bagging follows the seed


def test_reasons_name_real_features_and_the_customers_own_values(shop):
    ws, cfg, _ = shop
    model = churn.load_churn_model(ws, 1, config=cfg)
    frame = churn.cutoff_frame(ws, AS_OF, 90, cfg)
    why = model.reasons(frame, 3, 90)
    for k in (1, 2, 3):
        assert set(why[f"reason_feature_{k}"]) <= set(model.feature_names_in_)
        assert why[f"reason_{k}"].str.len().gt(10).all() and not why[f"reason_{k}"].str.contains("nan").any()
    # three different features per customer
    assert (why.reason_feature_1 != why.reason_feature_2).all() and (why.reason_feature_2 != why.reason_feature_3).all()
    rec = why.reason_feature_1 == "recency_days"
    assert rec.any()
    for text, days, gap in zip(why.reason_1[rec], frame.recency_days[rec], frame.usual_gap_days[rec]):
        assert f"{days:.0f} days" in text and (f"{gap:.0f} days" in text or f"{gap:.0f} day " in text)
    freq = (why.reason_feature_1 == "frequency") | (why.reason_feature_2 == "frequency")
    for r1, r2, n in zip(why.reason_1[freq], why.reason_2[freq], frame.frequency[freq]):
        assert f"{n:.0f} order" in r1 + r2
    # the stored table holds the same first reasons
    s = _scores(ws, 1)
    assert list(s.reason_1) == list(why.reason_1)


def test_a_reason_reads_the_customers_gap_and_value_in_plain_words():
    rows = pd.DataFrame({"recency_days": [140.0], "usual_gap_days": [46.0], "n_complaints": [2.0]})
    idx, parts = explain.top_reasons(np.array([[1.2, 0.0, 0.4, -0.3]]), list(rows.columns), 2)
    assert idx.tolist() == [[0, 2]]
    texts = explain.reason_texts(rows, list(rows.columns), idx, parts, {"n_complaints": 0.0}, 90)
    assert texts[0] == ["no order for 140 days, 3.0x their usual gap of 46 days"]
    assert texts[1] == ["2 complaint(s) in reviews"]


def test_a_gap_reason_on_one_or_two_purchase_days_says_how_thin_the_evidence_is():
    # 17850 on Online Retail: two purchase days a day apart read "silent for 372.0x their usual gap"
    rows = pd.DataFrame({"recency_gap_ratio": [372.0, 4.0, 3.0], "recency_days": [372.0, 120.0, 90.0],
                         "usual_gap_days": [1.0, 30.0, 30.0], "purchase_days": [2.0, 1.0, 5.0]})
    feats = ["recency_gap_ratio"]
    idx, parts = explain.top_reasons(np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]), feats, 1)
    texts = explain.reason_texts(rows, feats, idx, parts, {"recency_gap_ratio": 2.0}, 90)
    assert texts[0] == [
        "silent for 372 days; their two purchase days were 1 day apart",
        "silent for 120 days after a single purchase day, 4.0x the shop's usual gap",
        "silent for 3.0x their usual gap between orders (shop median 2.0x)",
    ]
    idx, parts = explain.top_reasons(np.array([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]]), ["recency_days"], 1)
    texts = explain.reason_texts(rows, ["recency_days"], idx, parts, {}, 90)
    assert texts[0] == [
        "no order for 372 days; their two purchase days were 1 day apart",
        "no order for 120 days after a single purchase day (4.0x the shop's usual gap of 30 days)",
        "last order 90 days ago, 3.0x their usual gap of 30 days",
    ]


def test_many_rows_are_formatted_once_per_distinct_input_with_the_same_texts(monkeypatch):
    # 300 rows repeating a few inputs, with -0.0 beside 0.0 (a different text) and a per-row column (gap)
    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"recency_days": rng.choice([0.0, -0.0, 12.0, 140.0], 300),
                         "usual_gap_days": rng.choice([1.0, 30.0, 46.0], 300),
                         "purchase_days": rng.choice([1.0, 2.0, 5.0], 300),
                         "monetary_total": rng.choice([0.0, 19.5, np.nan], 300)})
    feats = ["recency_days", "monetary_total"]
    idx, parts = explain.top_reasons(rng.normal(size=(300, 3)), feats, 2)
    monkeypatch.setattr(explain, "DEDUPE_ROWS", 64)
    batched = explain.reason_texts(rows, feats, idx, parts, {"monetary_total": 19.5}, 90)
    monkeypatch.setattr(explain, "DEDUPE_ROWS", 10**9)
    plain = explain.reason_texts(rows, feats, idx, parts, {"monetary_total": 19.5}, 90)
    assert batched == plain
    texts = set(plain[0] + plain[1])
    assert any(" -0 days" in t for t in texts) and any(" 0 days" in t for t in texts)  # -0.0 kept apart


def test_reasons_of_a_low_risk_customer_say_what_holds_them_back():
    idx, parts = explain.top_reasons(np.array([[0.1, -1.0, -0.5, 0.2]]), ["a", "b", "c"], 3)
    assert idx.tolist() == [[1, 2, 0]]  # score -1.4 below the bias: the negative parts first


@pytest.mark.parametrize("name", ["lightgbm", "logistic", "decision_tree", "random_forest", "linear_svm"])
def test_contributions_add_up_to_the_score_for_every_model(name, shop):
    ws, cfg, _ = shop
    frame = churn.labelled_frame(ws, AS_OF - timedelta(days=180), 90, cfg)
    feats = ["recency_days", "frequency", "monetary_total", "purchase_days_recent", "usual_gap_days"]
    params = {"lightgbm": {"n_estimators": 40}, "random_forest": {"n_estimators": 20}}.get(name)
    m = ChurnModel(name, params=params).fit(frame[feats], frame.churned)
    c = m.contributions(frame[feats])
    assert c.shape == (len(frame), len(feats) + 1)
    assert np.allclose(c.sum(axis=1), m.decision_function(frame[feats]), atol=1e-6)
    p = m.predict_proba(frame[feats])
    assert p.shape == (len(frame), 2) and np.allclose(p.sum(axis=1), 1) and ((p >= 0) & (p <= 1)).all()
    imp = m.feature_importance(frame[feats])
    assert list(imp.index) != [] and set(imp.index) == set(feats) and imp.iloc[0] > 0


def test_calibration_maps_scores_monotonically_to_probabilities(shop):
    ws, cfg, _ = shop
    frame = churn.labelled_frame(ws, AS_OF - timedelta(days=180), 90, cfg)
    feats = ["recency_days", "frequency", "purchase_days_recent"]
    for method in ("isotonic", "platt"):
        m = ChurnModel("linear_svm", calibration=method).fit(frame[feats], frame.churned)
        m.calibrate(frame[feats], frame.churned)
        s, p = m.decision_function(frame[feats]), m.predict_proba(frame[feats])[:, 1]
        order = np.argsort(s)
        assert np.all(np.diff(p[order]) >= -1e-12)
        # calibrated on these rows, the mean probability is the churn rate (isotonic: up to its blocks' shrinkage)
        assert p.mean() == pytest.approx(frame.churned.mean(), abs=0.02)
        assert 0 < p.min() and p.max() < 1


def test_isotonic_calibration_never_says_certain_a_block_that_all_churned():
    """Validation scores 0..11, labels 0, 1 x 9, 0, 1: the plain isotonic fit has blocks 0/1, 9/10 and 1/1 (values
    0, 0.9, 1.0). Each block gets (churners + 1/2) / (customers + 1): 0.25, 9.5/11 = 0.864, 1.5/2 = 0.75; the last
    two are out of order and pooled: (9.5 + 1.5) / (11 + 2) = 11/13. Scores above the window's clip to it."""
    s = np.arange(12.0)
    y = np.array([0] + [1] * 9 + [0, 1])
    c = fit_calibrator("isotonic", s, y, None)
    got = _calibrate_apply(c, np.array([-5.0, 0.0, 1.0, 10.0, 11.0, 50.0]))
    np.testing.assert_allclose(got, [0.25, 0.25, 11 / 13, 11 / 13, 11 / 13, 11 / 13], rtol=1e-12)
    # Olist's top block (186 of 186 churned) above one of 2,404 with a single stayer: pooled, not 1.0
    s = np.r_[np.zeros(2_404), np.ones(186)]
    y = np.r_[np.ones(2_403), 0, np.ones(186)]
    top = _calibrate_apply(fit_calibrator("isotonic", s, y, None), np.array([1.0]))[0]
    assert top == pytest.approx((2_403.5 + 186.5) / (2_405 + 187)) and top < 1


def test_gains_and_lift_match_a_hand_count():
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0])
    score = -np.arange(10.0)  # already ranked
    g = R.gains_table(y, score)
    assert g[0]["lift"] == pytest.approx((1 / 1) / 0.3) and g[1]["churners_reached_share"] == pytest.approx(1 / 3)
    assert g[2]["churners_reached"] == 2 and g[-1]["churners_reached_share"] == 1.0
    assert R.brier(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx((0.04 + 0.16) / 2)


# -- storage ----------------------------------------------------------------------------

def test_saved_model_rescoring_one_customer_matches_the_batch(shop):
    ws, cfg, _ = shop
    s = _scores(ws, 1).set_index("customer_id")
    ids = list(dict.fromkeys([s.index[0], s.probability.idxmax(), s.probability.idxmin(), s.index[-1]]))
    live = churn.score_customers(ws, AS_OF, ids, run_id=1, config=cfg).set_index("customer_id")
    assert sorted(live.index) == sorted(ids)
    for cid in ids:
        assert live.loc[cid, "probability"] == pytest.approx(s.loc[cid, "probability"], abs=1e-12)
        assert live.loc[cid, "tier"] == s.loc[cid, "tier"]
        assert live.loc[cid, "reason_1"] == s.loc[cid, "reason_1"]


def test_loading_a_model_fitted_under_other_settings_or_features_fails_loudly(shop):
    ws, cfg, _ = shop
    other = load_config(overrides={"churn": {**FAST["churn"], "train_windows": 2}})
    with pytest.raises(ConfigError, match="fitted with other churn settings"):
        churn.load_churn_model(ws, 1, config=other)
    m = churn.load_churn_model(ws, 1, config=cfg)
    with pytest.raises(DataContractError, match="missing now \\['activity_decayed'\\]"):
        churn.load_churn_model(ws, 1, config=cfg, features=[f for f in m.feature_names_in_ if f != "activity_decayed"])
    with pytest.raises(DataContractError, match="missing recency_days"):
        m.predict_proba(pd.DataFrame({"frequency": [1.0]}))
    with pytest.raises(NotFittedError):
        churn.load_churn_model(ws, 99)


def test_a_tampered_estimator_file_is_refused(shop, tmp_path):
    ws, cfg, _ = shop
    m = churn.load_churn_model(ws, 1)
    path = m.save(tmp_path / "copy", {"config_hash": "x"})
    est = tmp_path / "copy.lgb.txt"
    est.write_text(est.read_text() + "\n")
    with pytest.raises(ConfigError, match="checksum"):
        ChurnModel.load(path)


# -- bad settings and too little data --------------------------------------------------

@pytest.mark.parametrize("overrides, words", [
    ({"model": "xgboost"}, "'churn.model' setting must be one of"),
    ({"tiers": {"high_share": 0.8, "mid_share": 0.5}}, "'churn.tiers' setting must be"),
    ({"tiers": {"method": "deciles"}}, "'churn.tiers.method'"),
    ({"calibration": "beta"}, "'churn.calibration'"),
    ({"horizon_quantile": 1.0}, "'churn.horizon_quantile'"),
])
def test_bad_churn_settings_are_rejected(overrides, words):
    with pytest.raises(ConfigError, match=words):
        load_config(overrides={"churn": overrides})


def test_bad_estimator_arguments_are_rejected():
    X, y = np.zeros((40, 1)), np.r_[np.zeros(20), np.ones(20)]
    with pytest.raises(ConfigError, match="'model' parameter of ChurnModel must be one of"):
        ChurnModel("xgboost").fit(X, y)
    with pytest.raises(ConfigError, match="Unknown lightgbm hyperparameter"):
        ChurnModel(params={"max_bins": 3}).fit(X, y)
    with pytest.raises(NotFittedError):
        ChurnModel().predict_proba(X)


def test_a_tiny_shop_raises_a_clear_model_fit_error(fixture_ws):
    cfg = load_config(overrides={"churn": {"horizon_days": 60}})
    with pytest.raises(ModelFitError, match="labelled customers") as e:
        churn.churn_stage(fixture_ws, 1, FIXTURE_AS_OF, cfg)
    assert "churn.min_labelled_customers" in str(e.value) and e.value.hint


def test_a_single_class_raises_model_fit_error_not_a_lightgbm_error():
    X = pd.DataFrame({"recency_days": np.arange(50.0)})
    with pytest.raises(ModelFitError, match="0 churned and 50 retained"):
        ChurnModel().fit(X, np.zeros(50))


def test_the_model_is_used_only_when_the_paired_bootstrap_says_it_beats_its_baseline(shop):
    ws, cfg, notes = shop
    assert notes["metric"] == "roc_auc" and notes["baseline_value"] == pytest.approx(notes["baseline_roc_auc"], abs=1e-4)
    if notes["candidate"] == "rfm_logit":
        assert notes["decision"].startswith("logistic RFM baseline used") and notes["model"] == "logistic"
        assert _scores(ws, 1).model.eq("logistic").all()
    else:
        assert notes["candidate"] == notes["model"] and "beats the logistic RFM baseline" in notes["decision"]
        assert notes["model_value"] > notes["baseline_value"]


def test_a_baseline_that_cannot_be_beaten_is_used_and_said(shop):
    # confidence 1.0 with a model that equals its baseline on some resample: the baseline is used
    ws, cfg, _ = shop
    strict = cfg.with_overrides({"churn": {"backtest_confidence": 1.0, "backtest_resamples": 10,
                                           "model": "logistic"}})
    notes = churn.churn_stage(ws, 7, AS_OF, strict)
    assert notes["candidate"] == "rfm_logit" and notes["model"] == "logistic"
    assert "needs 100%" in notes["decision"]
    again = churn.score_customers(ws, AS_OF, _scores(ws, 7).customer_id[:3].tolist(), run_id=7, config=strict)
    np.testing.assert_allclose(again.probability, _scores(ws, 7).probability[:3], rtol=1e-9)


def test_large_shop_trains_on_a_seeded_sample_and_scores_in_batches_with_treeshap_once(shop, monkeypatch):
    ws, cfg, _ = shop
    full = churn.fit_churn(ws, AS_OF, cfg)
    cap = len(full.train) // 2
    small = load_config(overrides={**FAST, "churn": {**FAST["churn"], "max_train_rows": cap}})
    fit = churn.fit_churn(ws, AS_OF, small)
    assert len(fit.train) == cap and fit.notes["train_sample"] == f"{cap:,} of {len(full.train):,} training rows " \
                                                                  "(churn.max_train_rows)"
    assert fit.train["customer_id"].isin(full.train["customer_id"]).all() and "train_sample" not in full.notes
    again = churn.fit_churn(ws, AS_OF, small)  # seeded: the same sample
    pd.testing.assert_frame_equal(fit.train, again.train)
    # scoring in batches of 7 rows gives what one batch gives; contributions computed once per row
    calls = []
    real = ChurnModel.contributions

    def counting(self, X):
        calls.append(len(X))
        return real(self, X)
    monkeypatch.setattr(ChurnModel, "contributions", counting)
    frame = churn.cutoff_frame(ws, AS_OF, 90, cfg)
    model = full.model
    model.reference_ = explain.reference_values(frame[full.features])
    one, _, why1 = churn._score(model, frame, cfg["churn.tiers"], horizon_days=90,
                                valid_prob=model.predict_proba(full.valid[full.features])[:, 1],
                                valid_y=full.valid["churned"].to_numpy())
    assert calls == [len(frame)]
    monkeypatch.setattr(churn, "SCORE_BATCH_ROWS", 7)
    calls.clear()
    batched, _, why7 = churn._score(model, frame, cfg["churn.tiers"], horizon_days=90,
                                    valid_prob=model.predict_proba(full.valid[full.features])[:, 1],
                                    valid_y=full.valid["churned"].to_numpy())
    assert sum(calls) == len(frame) and max(calls) == 7
    pd.testing.assert_frame_equal(one, batched)
    # the global importance is the mean |contribution| over the scored customers, from the same pass
    contrib = real(model, frame)
    expected = np.abs(contrib[:, :len(full.features)]).mean(axis=0)
    imp = why7.attrs["importance"]
    assert np.allclose(imp.loc[full.features].to_numpy(), expected)
    assert np.allclose(why1.attrs["importance"].to_numpy(), imp.to_numpy()) and imp.is_monotonic_decreasing


# -- buyers silent longer than every training row (docs/churn.md, "Beyond the training range") ---------------------

def _edge_shop():
    """Training rows silent 0-59 days (5 of each): 20-39 days churned, 0-19 and 40-59 stayed (a season brought the
    most silent back); the later validation window: one buyer per day of silence 0-59 with the same labels, and 10
    buyers silent 61-70 days, who all churned."""
    F = ["recency_days", "frequency", "monetary_total"]
    r = np.tile(np.arange(60.0), 5)
    train = pd.DataFrame({"recency_days": r, "frequency": 1.0 + np.arange(300) % 5,
                          "monetary_total": 10.0 * (1 + np.arange(300) % 7)})
    y = ((r >= 20) & (r < 40)).astype(int)
    vr = np.r_[np.arange(60.0), np.arange(61.0, 71.0)]
    valid = pd.DataFrame({"recency_days": vr, "frequency": 1.0 + np.arange(70) % 5,
                          "monetary_total": 10.0 * (1 + np.arange(70) % 7)})
    yv = (((vr >= 20) & (vr < 40)) | (vr > 60)).astype(int)
    m = ChurnModel("lightgbm", params={"n_estimators": 60, "learning_rate": 0.1, "min_child_samples": 5}).fit(
        train[F], y)
    m.calibrate(valid[F], yv)
    frame = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"], "recency_days": [5.0, 30.0, 50.0, 90.0, 300.0],
                          "frequency": [3.0] * 5, "monetary_total": [30.0] * 5})
    return m, train, valid, yv, frame


def test_buyers_silent_longer_than_every_training_row_get_at_least_the_calendars_rate_at_that_edge(tmp_path):
    """Trees are flat past the longest silence they saw: 'd' (90 days) and 'e' (300 days) got the low risk of the
    most silent training rows, which stayed, while every validation buyer silent longer than them churned. The
    floor: the validation window's churn rate on days since the last order (isotonic: blocks 0-19 days 0 of 20,
    20-59 days 20 of 40, 61-70 days 10 of 10; Jeffreys-shrunk, 0.5 / 21, 20.5 / 41, 10.5 / 11) at 59 days."""
    m, train, valid, yv, frame = _edge_shop()
    floor = {"max_recency_days": 59.0, "probability": 20.5 / 41, "n_valid_beyond": 10, "churned_valid_beyond": 10}
    tiers = load_config()["churn.tiers"]
    vp = m.probability_of(m.decision_function(valid[list(m.feature_names_in_)]))
    m.recency_floor_ = None  # what the model alone says: the edge's low risk, flat beyond it
    alone = churn._score(m, frame, tiers, vp, yv, horizon_days=30)[0].set_index("customer_id")
    assert alone.loc["d", "probability"] == alone.loc["e", "probability"] == alone.loc["c", "probability"] < 0.4
    m.recency_floor_ = floor
    out = churn._score(m, frame, tiers, vp, yv, horizon_days=30)[0].set_index("customer_id")
    for cid in ("d", "e"):  # not below the edge's calendar rate, nor below the most silent training-range buyer
        assert out.loc[cid, "probability"] == pytest.approx(0.5) and 0.5 >= out.loc["c", "probability"]
        assert out.loc[cid, "tier"] == "mid" and out.loc[cid, "reason_2"] == alone.loc[cid, "reason_1"]
    assert out.loc["e", "reason_1"] == ("no order for 300 days, longer than any buyer the model learned from (59 "
                                        "days); the shop's churn rate at that silence: 50%")
    pd.testing.assert_frame_equal(out.loc[["a", "b", "c"]], alone.loc[["a", "b", "c"]])  # inside the range: as is
    assert churn.recency_floor(train, valid, yv) == floor  # what fit_churn sets on its model
    # stored with the model: a re-score of the loaded model applies it
    back = ChurnModel.load(m.save(tmp_path / "m", {"tier_cuts": {"method": "probability", "high": 0.7, "mid": 0.4}}))
    assert back.recency_floor_ == floor
    again = churn._score(back, frame, None, cuts=back.metadata_["tier_cuts"], horizon_days=30)[0]
    np.testing.assert_allclose(again["probability"], out["probability"].to_numpy(), rtol=1e-12)


def test_the_stage_stores_its_recency_floor_and_no_buyer_beyond_the_range_scores_below_it(shop):
    ws, cfg, notes = shop
    floor = json.loads((ws.models_dir / "run-1-churn.json").read_text())["recency_floor"]
    assert floor["max_recency_days"] == notes["train_max_recency_days"]
    assert notes["recency_floor"] == floor["probability"] and 0 < floor["probability"] < 1
    frame = churn.cutoff_frame(ws, AS_OF, 90, cfg)[["customer_id", "recency_days"]]
    s = _scores(ws, 1).merge(frame, on="customer_id")
    beyond = s["recency_days"] > floor["max_recency_days"]
    assert beyond.any() and (s.loc[beyond, "probability"] >= floor["probability"] - 1e-12).all()
    assert notes["beyond_training"].startswith(f"{int(beyond.sum()):,} buyers silent longer than any training row")


def test_online_retails_200_customer_cut_gives_no_low_churn_risk_to_buyers_silent_past_the_training_range(tmp_path):
    """Online Retail cut to its first 200 buyers by id (real data; skipped without it), as of 2011-12-09: 19 of the
    42 buyers the lifecycle calls churned had churn risk "low", the logistic model scoring silences up to 373 days
    after learning from at most 139; at the validation cutoff 23 of the 36 buyers silent longer than that did not
    order in the next 116 days. Session 17's floor left one (12383, raised to 0.456, then pooled with its P(alive)
    0.73 down to 0.36, "low", its first reason the floor's); three buyers past the range ended below the floor.
    Now none: the pooling keeps the floor (docs/churn.md, "The floor and the pooling"), and a live re-score at the
    run's date gives the batch's number, tier and reasons."""
    import duckdb

    from shopseg.ingest import ingest
    from shopseg.pipeline import run_pipeline
    from shopseg.predict._reconcile import pool_live, stored_views
    from shopseg.predict._score import _shown_clv

    from .conftest import shared_file

    src = shared_file("online_retail", "online_retail.parquet")
    part = tmp_path / "b200.parquet"
    duckdb.sql(f"COPY (SELECT * FROM '{src}' WHERE CustomerID IN (SELECT DISTINCT CustomerID FROM '{src}' WHERE "
               "CustomerID IS NOT NULL AND NOT starts_with(CAST(InvoiceNo AS VARCHAR), 'C') AND Quantity > 0 "
               f"ORDER BY 1 LIMIT 200)) TO '{part}' (FORMAT parquet)")
    with open_workspace(tmp_path / "ws") as ws:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ingest(ws, part)
            res = run_pipeline(ws, "2011-12-09", stages=["segments", "clv", "churn"])
        st = res.stages["churn"]
        assert st["status"] == "done" and st["train_max_recency_days"] == 139 and st["horizon_days"] == 116
        df = ws.df("SELECT customer_id, l.segment, s.tier, s.probability, s.reason_1, s.reason_2, s.reason_3, "
                   "c.p_alive, f.recency_days FROM segments l "
                   "JOIN churn_scores s USING (run_id, customer_id) JOIN clv c USING (run_id, customer_id) "
                   "JOIN customer_features f USING (run_id, customer_id) WHERE l.run_id = ? AND l.scheme = 'lifecycle' "
                   "ORDER BY customer_id", [res.run_id])
        floor = st["recency_floor"]
        beyond = df[df["recency_days"] > 139]
        held = beyond[(beyond["probability"] == floor) & (beyond["p_alive"] + floor - 1).abs().lt(1e-12)]
        # the live re-score of the buyers past the range at the run's date, pooled as churn_score pools it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = churn.score_customers(ws, res.as_of, beyond["customer_id"].tolist(), run_id=res.run_id)
        views = stored_views(ws, res.run_id)
        live = pool_live(s, {}, views, churn.load_churn_model(ws, res.run_id).metadata_["tier_cuts"], res.as_of,
                         shown=_shown_clv(ws, res.run_id, beyond["customer_id"].tolist())).set_index("customer_id")
    churned = df[df["segment"] == "churned"]
    assert len(churned) == 42
    assert (churned["tier"] == "low").sum() == 0  # was 1 (12383), and 19 before the floor
    assert "(validation window: 23 of 36 buyers beyond it churned)" in st["beyond_training"]
    assert 0.4 <= floor < 23 / 36
    assert len(beyond) == 45 and (beyond["probability"] >= floor - 1e-12).all()  # pooled or not: none below it
    assert views["recency_floor"] == {"max_recency_days": 139.0, "probability": floor}
    assert "3 of them silent longer than every churn training row kept at the recency floor 0.456" in st["views"]
    assert len(held) >= 3 and "12383" in set(held["customer_id"])  # held at the floor, P(alive) 1 - floor
    # every held buyer's first reason is the floor's sentence, which now describes its probability
    assert held["reason_1"].str.contains(r"longer than any buyer the model learned from \(139 days\)").all()
    b = beyond.set_index("customer_id")
    np.testing.assert_allclose(live.loc[b.index, "probability"].to_numpy(float), b["probability"].to_numpy(float),
                               rtol=0, atol=1e-12)
    assert live.loc[b.index, "tier"].tolist() == b["tier"].tolist()
    for k in (1, 2, 3):
        assert live.loc[b.index, f"reason_{k}"].tolist() == b[f"reason_{k}"].tolist()


def test_a_stored_model_without_a_recency_floor_is_refitted_not_reused(tmp_path, monkeypatch):
    """A churn model stored before the floor (no ``recency_floor`` in its JSON) would score buyers past its training
    range as it did: the next run refits instead of reusing it, and says why."""
    from shopseg.pipeline import run_pipeline
    from shopseg.refit import decisions
    from shopseg.synth import synthesize

    real = ChurnModel.files

    def older(self, stem_name, metadata=None):
        out = real(self, stem_name, metadata)
        meta = json.loads(out[".json"])
        del meta["recency_floor"]
        return {**out, ".json": json.dumps(meta).encode("utf-8")}

    with open_workspace(tmp_path / "ws") as ws, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synthesize(ws, customers=500, seed=3, as_of="2024-12-31")
        monkeypatch.setattr(ChurnModel, "files", older)
        first = run_pipeline(ws, "2024-12-31", stages=["segments", "churn"])
        monkeypatch.undo()
        second = run_pipeline(ws, "2024-12-31", stages=["segments", "churn"])
        third = run_pipeline(ws, "2024-12-31", stages=["segments", "churn"])
        assert first.stages["churn"]["status"] == "done"
        d = decisions(ws, second.run_id).set_index("model")
        assert d.loc["churn", "action"] == "refitted"
        assert d.loc["churn", "reason"] == (f"the churn model of run {first.run_id} has no recency floor (stored by an "
                                            "older shopseg; docs/churn.md, 'Beyond the training range')")
        assert decisions(ws, third.run_id).set_index("model").loc["churn", "action"] == "reused"  # its own has one
