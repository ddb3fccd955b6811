"""The churn and CLV stages' work at scale gives the same figures as the plain computation (#22)."""

import numpy as np
import pandas as pd
import pytest

from shopseg.config import load_config
from shopseg.predict import _clv_backtest as B
from shopseg.predict import churn, explain
from shopseg.workspace import open_workspace


def test_resample_counts_are_the_generators_draws_in_one_byte_each():
    w = B.resample_weights(50, 40, seed=3)
    want = np.random.default_rng(3).multinomial(50, np.full(50, 1 / 50), size=40)
    assert w.dtype == np.uint8 and w.shape == (41, 50)
    assert (w[0] == 1).all() and np.array_equal(w[1:], want)  # blocks of 16 draw what one call draws
    assert (w[1:].sum(axis=1) == 50).all()


def test_bootstrap_figures_do_not_depend_on_the_block_of_resamples(monkeypatch):
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.4).astype(int)
    score = np.round(rng.random(300) + 0.3 * y, 1)  # ties, which count half
    amount = rng.exponential(5.0, 300) * y
    w = B.resample_weights(300, 50, seed=1)
    blocked = B.auc_resampled(y, score, w), B.gini_resampled(amount, score, w)
    monkeypatch.setattr(B, "RESAMPLE_BLOCK", 1000)
    whole = B.auc_resampled(y, score, w.astype(float)), B.gini_resampled(amount, score, w.astype(float))
    for a, b in zip(blocked, whole):
        assert a.shape == (51,) and np.array_equal(a, b)
    # row 0 is the sample itself: the plain ROC-AUC (hand formula: pairs ranked right, ties half)
    pos, neg = score[y == 1], score[y == 0]
    plain = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert blocked[0][0] == pytest.approx(plain, abs=1e-12)


AS_OF = "2024-12-31"
FAST = {"churn": {"horizon_days": 90, "lightgbm": {"n_estimators": 60, "learning_rate": 0.05}}}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    from shopseg.synth import synthesize

    ws = open_workspace(tmp_path_factory.mktemp("scale") / "ws")
    synthesize(ws, customers=600, seed=4, as_of=AS_OF)
    yield ws
    ws.close()


def _scores(ws, run_id):
    return ws.df("SELECT * EXCLUDE (run_id) FROM churn_scores WHERE run_id = ? ORDER BY customer_id", [run_id])


def test_a_shop_below_the_training_cap_gets_the_same_scores_as_without_a_cap(shop):
    uncapped = load_config(overrides={"churn": {**FAST["churn"], "max_train_rows": 0}})
    n1 = churn.churn_stage(shop, 1, AS_OF, uncapped)
    capped = load_config(overrides={"churn": {**FAST["churn"], "max_train_rows": n1["n_train"]}})
    n2 = churn.churn_stage(shop, 2, AS_OF, capped)
    assert "train_sample" not in n2 and n1["roc_auc"] == n2["roc_auc"]
    pd.testing.assert_frame_equal(_scores(shop, 1), _scores(shop, 2))
    below = load_config(overrides={"churn": {**FAST["churn"], "max_train_rows": n1["n_train"] - 1}})
    n3 = churn.churn_stage(shop, 3, AS_OF, below)  # one row over the cap: sampled, and said
    assert n3["train_sample"] == f"{n1['n_train'] - 1:,} of {n1['n_train']:,} training rows (churn.max_train_rows)"


def test_probability_of_the_raw_scores_is_predict_proba(shop):
    fit = churn.fit_churn(shop, AS_OF, load_config(overrides=FAST))
    X = fit.valid[fit.features]
    assert np.array_equal(fit.model.probability_of(fit.valid_raw), fit.model.predict_proba(X)[:, 1])
    assert np.array_equal(fit.valid_raw, fit.model.decision_function(X))


def test_a_large_shop_fits_and_backtests_on_a_seeded_sample_of_customers(shop):
    cfg = load_config(overrides=FAST)
    full = churn.fit_churn(shop, AS_OF, cfg)
    n = full.valid["customer_id"].nunique()  # everyone with a sale order before the validation cutoff
    small = load_config(overrides={"churn": {**FAST["churn"], "max_customers": 300}})
    fit = churn.fit_churn(shop, AS_OF, small)
    ids = set(fit.valid["customer_id"])
    assert len(ids) == 300 and ids <= set(full.valid["customer_id"])
    assert set(fit.train["customer_id"]) <= ids  # every training cutoff reads the same customers
    assert fit.notes["customer_sample"] == (f"training and validation windows of 300 of {n:,} customers "
                                            "(churn.max_customers)")
    assert fit.bgnbd["status"] == "done" and fit.bgnbd["n"] == 300  # the BG/NBD view on the same customers
    again = churn.fit_churn(shop, AS_OF, small)  # seeded: the same customers, the same model
    pd.testing.assert_frame_equal(fit.valid, again.valid)
    # (to 1e-6: DuckDB's parallel sums may move a feature by its last rounded digit from run to run)
    assert np.allclose(fit.valid_raw, again.valid_raw, rtol=0, atol=1e-6)
    # a sampled customer's own figures are their whole-shop row's
    own = ["recency_days", "frequency", "monetary_total", "purchase_days", "spend_recent", "activity_decayed"]
    a = fit.valid.set_index("customer_id")[own + ["churned"]]
    b = full.valid.set_index("customer_id").loc[a.index, own + ["churned"]]
    pd.testing.assert_frame_equal(a, b)
    # at the cap or above it nothing changes
    at = churn.fit_churn(shop, AS_OF, load_config(overrides={"churn": {**FAST["churn"], "max_customers": n}}))
    assert "customer_sample" not in at.notes and np.allclose(at.valid_raw, full.valid_raw, rtol=0, atol=1e-6)


def test_summaries_and_windows_from_the_order_values_table_equal_the_ones_from_the_lines(shop):
    from datetime import datetime, timedelta

    from shopseg.predict.clv import order_values, summary_from_orders

    cut = datetime(2024, 10, 2)
    with order_values(shop, AS_OF) as values:
        assert shop.scalar(f"SELECT count(*) FROM {values}") == shop.scalar(
            "SELECT count(*) FROM orders WHERE kind = 'sale' AND customer_id IS NOT NULL AND ordered_at <= ?",
            [datetime(2024, 12, 31)])
        for at in (AS_OF, cut - timedelta(microseconds=1)):
            for unit in ("D", "W"):
                pd.testing.assert_frame_equal(summary_from_orders(shop, at, time_unit=unit, values=values),
                                              summary_from_orders(shop, at, time_unit=unit))
        some = ["C0000007", "C0000123"]
        assert len(summary_from_orders(shop, AS_OF, customers=some)) == 2
        pd.testing.assert_frame_equal(summary_from_orders(shop, AS_OF, customers=some, values=values),
                                      summary_from_orders(shop, AS_OF, customers=some))
        pd.testing.assert_frame_equal(B.window_outcomes(shop.con, cut, datetime(2024, 12, 31), values),
                                      B.window_outcomes(shop.con, cut, datetime(2024, 12, 31)))
        pd.testing.assert_frame_equal(B.spend_totals(shop.con, datetime(2024, 12, 31), values),
                                      B.spend_totals(shop.con, datetime(2024, 12, 31)))
    assert not shop.has_table(values)  # dropped at the end of the block


def _clv_rows(ws, run_id):
    return ws.df("SELECT * EXCLUDE (run_id) FROM clv WHERE run_id = ? ORDER BY customer_id", [run_id])


def test_a_large_shops_clv_candidates_are_fitted_and_backtested_on_a_seeded_sample_of_the_window(shop, monkeypatch):
    from shopseg.predict import _clv_select as S
    from shopseg.predict.clv import clv_table

    def no_transaction_model(name, *a):  # so the repeat model (fitted on the window) is tried too
        raise S.B.CandidateError(f"{name}: not in this test")

    monkeypatch.setattr(S, "_fit", no_transaction_model)
    full = clv_table(shop, 11, AS_OF, backtest_resamples=20, max_customers=0, save_models=False)
    n = shop.scalar("SELECT count(DISTINCT customer_id) FROM orders WHERE kind = 'sale' AND ordered_at < ?",
                    [pd.Timestamp(AS_OF) - pd.Timedelta(days=90)])  # buyers before the 90-day window
    at = clv_table(shop, 12, AS_OF, backtest_resamples=20, max_customers=n, save_models=False)
    assert not any("clv.max_customers" in x for x in at.notes)  # at the cap: nothing changes
    pd.testing.assert_frame_equal(_clv_rows(shop, 11), _clv_rows(shop, 12))
    assert [c.decision for c in at.choices] == [c.decision for c in full.choices]

    seen = {"compare": set(), "repeat": []}
    compare, fit = S.B.compare, S.B.RepeatModel.fit
    monkeypatch.setattr(S.B, "compare", lambda m, y, *a: seen["compare"].add(len(y)) or compare(m, y, *a))
    monkeypatch.setattr(S.B.RepeatModel, "fit", lambda self, X, *a: seen["repeat"].append(len(X)) or fit(self, X, *a))
    cut = clv_table(shop, 13, AS_OF, backtest_resamples=20, max_customers=n - 100, save_models=False)
    assert (f"the validation window's candidates fitted and backtested on a seeded sample of {n - 100:,} of its "
            f"{n:,} buyers (clv.max_customers)") in cut.notes
    assert seen["compare"] == {n - 100}  # every backtest on the sample
    # the repeat model learns from the sample a window earlier (those who had bought by then), then on the window
    assert seen["repeat"][1] == n - 100 and seen["repeat"][0] < n - 100
    assert cut.n_customers == full.n_customers  # every buyer is still scored
    again = clv_table(shop, 14, AS_OF, backtest_resamples=20, max_customers=n - 100, save_models=False)
    pd.testing.assert_frame_equal(_clv_rows(shop, 13), _clv_rows(shop, 14))  # seeded
    assert [c.decision for c in again.choices] == [c.decision for c in cut.choices]


def test_the_clv_sample_keeps_the_windows_order_and_is_seeded():
    from shopseg.predict._clv_select import customer_sample

    cal = pd.DataFrame({"customer_id": [f"c{i:02d}" for i in range(20)], "x": range(20)})
    a, note = customer_sample(cal, 5, seed=7)
    want = np.sort(np.random.default_rng(7).choice(20, 5, replace=False))
    assert a["x"].tolist() == want.tolist() and note.endswith("sample of 5 of its 20 buyers (clv.max_customers)")
    assert customer_sample(cal, 20, 7) == (cal, None) and customer_sample(cal, 0, 7) == (cal, None)


def test_the_scored_probability_from_the_contributions_is_the_models_own(shop):
    # LightGBM's TreeSHAP parts and bias add up to its raw score: the scoring reads the score from them
    cfg = load_config(overrides=FAST)
    fit = churn.fit_churn(shop, AS_OF, cfg)
    frame, feats = fit.valid, fit.features
    c = churn.churn_settings(cfg)
    model = churn.ChurnModel("lightgbm", calibration=c["calibration"], random_state=0, params=c["lightgbm"])
    model.fit(fit.train[feats], fit.train["churned"]).calibrate(frame[feats], frame["churned"])
    model.reference_ = explain.reference_values(frame[feats])
    raw = model.decision_function(frame[feats])
    out, cuts, why = churn._score(model, frame, c["tiers"], model.probability_of(raw), frame["churned"].to_numpy(),
                                  horizon_days=90)
    assert len(out) == len(frame) > 100
    assert np.allclose(out["probability"].to_numpy(), model.predict_proba(frame[feats])[:, 1], rtol=0, atol=1e-12)
    assert np.allclose(model.contributions(frame[feats]).sum(axis=1), raw, rtol=0, atol=1e-12)
    assert list(why.index) == list(frame.index) and out["reason_1"].notna().all()
