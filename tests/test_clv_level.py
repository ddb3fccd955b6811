"""Expected purchases and P(alive) are chosen on their level as well as their ranking (docs/clv.md, "Purchases and
P(alive) on level too"): a candidate that ranks the validation window better but predicts a count off by a factor,
or a miscalibrated probability, is not used; one better on both is.

The candidate is the repeat model with its window predictions replaced by ones built from the window's own outcome
(:func:`_oracle`): they rank the window perfectly, so only the level check can refuse them.
"""

from __future__ import annotations

import re
import warnings
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from shopseg.predict import _clv_backtest as B
from shopseg.predict import _clv_select as S
from shopseg.predict.clv import BGNBD, MBGNBD, ParetoNBD, clv_table, summary_from_orders
from shopseg.workspace import open_workspace

AS_OF = pd.Timestamp("2024-12-31")


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    from shopseg.synth import synthesize

    ws = open_workspace(tmp_path_factory.mktemp("clvlevel") / "ws")
    synthesize(ws, customers=300, seed=1)
    yield ws
    ws.close()


def _window(ws) -> pd.DataFrame:
    """The validation window's earlier buyers in the stage's order, with their purchase days in it."""
    W, _ = S.window_days(ws.con, AS_OF, 90.0)
    cut = AS_OF - timedelta(days=W)
    cal = summary_from_orders(ws, cut - timedelta(microseconds=1))
    out = B.window_outcomes(ws.con, cut.to_pydatetime(), AS_OF.to_pydatetime())
    return cal.merge(out, on="customer_id", how="left").fillna({"days_after": 0.0})


def _oracle(monkeypatch, ws, bought, days):
    """Only the repeat model is a candidate, and its window predictions (the model learned on the window before,
    the first one fitted) are ``bought(b)`` and ``days(d)`` of the window's actual outcome; the model used at as_of
    is the real one."""
    cal = _window(ws)
    d = cal["days_after"].to_numpy(float)
    fitted = []

    class Oracle(B.RepeatModel):
        def fit(self, *a):
            fitted.append(self)
            return super().fit(*a)

        def predict(self, X, what):
            if self is fitted[0] and len(X) == len(d) and what in ("bought", "days"):
                return bought((d > 0).astype(float)) if what == "bought" else days(d)
            return super().predict(X, what)

    def fit(name, *a):
        raise B.CandidateError(f"{name}: left out by this test")

    proxy = SimpleNamespace(**{k: getattr(B, k) for k in dir(B) if not k.startswith("__")})
    proxy.RepeatModel = Oracle
    monkeypatch.setattr(S, "B", proxy)
    monkeypatch.setattr(S, "_fit", fit)
    return d


def _choices(ws):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = clv_table(ws, 1, AS_OF, save_models=False)
    return {ch.prediction: ch for ch in res.choices}


def _figure(text: str, what: str) -> float:
    return float(re.search(what + r" ([\d.e+-]+) vs the baseline's", text).group(1))


def test_a_candidate_ranking_better_with_its_level_off_is_not_used(shop, monkeypatch):
    """Bought: 0.9 + 0.1 b (a perfect ranking, P = 0.9 for those who did not buy): Brier 0.81 x the share who did
    not buy. Purchase days: 4 (d + 0.25) (a perfect ranking, 4 times the level and 1 for every non-buyer): Poisson
    deviance 2 for each non-buyer and 2 (d ln(d / (4d + 1)) + 3d + 1) for each buyer. Both rank better than the
    baselines in every resample; before session 18 both were used on that alone."""
    d = _oracle(monkeypatch, shop, lambda b: 0.9 + 0.1 * b, lambda d: 4 * (d + 0.25))
    by = _choices(shop)
    share = float((d > 0).mean())
    assert 0.1 < share < 0.9
    for pred in ("p_alive", "expected_purchases"):
        ch = by[pred]
        assert ch.candidate == "baseline", ch.decision
        assert re.search(r"repeat: repeat roc_auc 1\.000 vs the \w+ baseline \([^)]*\) 0\.\d+, better in 100% of 200 "
                         r"resamples", ch.decision), ch.decision
    p = by["p_alive"].decision
    assert _figure(p, 'Brier score of "bought in the window"') == pytest.approx(0.81 * (1 - share), rel=1e-3)
    assert "learned on the window before, it predicted a mean probability" in p
    pos = d[d > 0]
    dev = (2 * (len(d) - len(pos)) + (2 * (pos * np.log(pos / (4 * pos + 1)) + 3 * pos + 1)).sum()) / len(d)
    e = by["expected_purchases"].decision
    assert _figure(e, "Poisson deviance of the window's purchase days") == pytest.approx(dev, rel=1e-3)
    assert f"purchase days predicted {4 * (d + 0.25).sum():,.1f} vs" in e and f"actual {d.sum():,.0f}" in e
    assert "learned on the window before, it predicted" in e and "purchase days (Poisson deviance" in e


def test_a_candidate_better_on_ranking_and_level_is_used(shop, monkeypatch):
    """Bought: 0.05 + 0.9 b (Brier 0.0025 for everyone); purchase days d + 0.02 (deviance 0.04 per non-buyer):
    better than the baselines on both in every resample, so used, and the decision says both."""
    _oracle(monkeypatch, shop, lambda b: 0.05 + 0.9 * b, lambda d: d + 0.02)
    by = _choices(shop)
    assert by["p_alive"].candidate == "repeat"
    assert by["p_alive"].decision.startswith("repeat used: it beats the recency baseline on ranking and calibration: ")
    assert _figure(by["p_alive"].decision, 'Brier score of "bought in the window"') == pytest.approx(0.0025)
    assert by["expected_purchases"].candidate == "repeat"
    assert by["expected_purchases"].decision.startswith(
        "repeat used: it beats the frequency baseline on ranking and level: ")


def test_the_level_check_is_a_proper_score_by_hand():
    """200 customers, 40 of whom bought. A probability ranking the buyers exactly as well as the baseline (same
    order), at the observed level (0.2 for all but a perfect split: 0.8 and 0.05) against one at three times it:
    the Brier score takes the calibrated one; a count 4 times too high is refused (Poisson deviance)."""
    from shopseg.predict._clv_backtest import brier, compare, compare_level, resample_weights
    from shopseg.predict._clv_select import beats_on_level

    y = np.r_[np.ones(40), np.zeros(160)]
    w = resample_weights(200, 200, seed=0)
    calibrated = np.r_[np.full(40, 0.8), np.full(160, 0.05)]
    tripled = np.minimum(calibrated * 3, 1.0)  # 1.0 and 0.15: the same order
    rank = compare("roc_auc", y, calibrated, tripled, w)
    assert rank.model == rank.baseline == 1.0 and not rank.beats(0.95) and rank.not_worse(0.95)
    cal = compare_level(y, calibrated, tripled, w, "brier")
    # by hand: (0.2^2 x 40 + 0.05^2 x 160) / 200 = 0.01 against (0 x 40 + 0.15^2 x 160) / 200 = 0.018
    assert cal.model == pytest.approx(0.01) and cal.baseline == pytest.approx(0.018)
    assert cal.extra["model_total"] == pytest.approx(40.0) and cal.extra["n"] == 200
    assert beats_on_level(rank, cal, 0.95) and not beats_on_level(rank, compare_level(y, tripled, calibrated, w,
                                                                                       "brier"), 0.95)
    assert brier(np.array([0.8]), np.array([1.0]))[0] == pytest.approx(0.04)
    days = np.r_[np.full(40, 2.0), np.zeros(160)]
    rank = compare("roc_auc", y, days * 4 + 0.1, days + 0.1, w)  # the same order
    level = compare_level(days, days * 4 + 0.1, days + 0.1, w)
    assert level.extra["lose_share"] == 1.0
    assert not beats_on_level(rank, level, 0.95)


@pytest.mark.parametrize("model", [BGNBD.from_params(r=0.6, alpha=8.0, a=0.8, b=2.5),
                                   MBGNBD.from_params(r=0.6, alpha=8.0, a=0.8, b=2.5),
                                   ParetoNBD.from_params(r=0.6, alpha=8.0, s=0.8, beta=15.0)])
def test_a_transaction_models_probability_of_a_purchase(model):
    """P(a purchase in (T, T+t]) = P(alive) (1 - P(none | alive)), by numerical integration for Pareto/NBD (the
    lifetime may end before the first purchase) and the closed form for the BG/NBD family (dropout only at a
    purchase): in (0, P(alive)), 0 for t = 0, and increasing in t."""
    from scipy.integrate import quad

    x, tx, T = np.array([0.0, 1.0, 4.0]), np.array([0.0, 10.0, 28.0]), np.array([30.0, 30.0, 30.0])
    p = model.conditional_probability_of_purchase(20.0, x, tx, T)
    alive = model.conditional_probability_alive(x, tx, T)
    assert ((p > 0) & (p < alive)).all()
    assert model.conditional_probability_of_purchase(0.0, x, tx, T) == pytest.approx(np.zeros(3), abs=1e-12)
    assert (model.conditional_probability_of_purchase(40.0, x, tx, T) > p).all()
    r, alpha = model.params_["r"], model.params_["alpha"]
    if isinstance(model, ParetoNBD):
        s, beta = model.params_["s"], model.params_["beta"]
        for i in range(3):
            k, A, Bt = r + x[i], alpha + T[i], beta + T[i]
            died = quad(lambda u: s / Bt * (Bt / (Bt + u)) ** (s + 1) * (A / (A + u)) ** k, 0, 20.0)[0]
            none = (A / (A + 20.0)) ** k * (Bt / (Bt + 20.0)) ** s + died
            assert p[i] == pytest.approx(alive[i] * (1 - none), rel=1e-9)
    else:
        np.testing.assert_allclose(p, alive * (1 - ((alpha + T) / (alpha + T + 20.0)) ** (r + x)), rtol=1e-12)


def _simulated(kind: str, n: int, T: float, h: float, seed: int = 3):
    """(frequency, recency, bought in (T, T+h]) of ``n`` customers simulated from the process itself (not the
    models' ``sample``): Pareto/NBD with r=0.6, alpha=8, s=0.8, beta=15; BG/NBD with r=0.6, alpha=8, a=0.8, b=2.5."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.6, 1 / 8.0, n)
    if kind == "paretonbd":
        end = np.minimum(rng.exponential(1 / rng.gamma(0.8, 1 / 15.0, n)), T + h)  # the lifetime, cut at T + h
        k = rng.poisson(lam * end)
        who = np.repeat(np.arange(n), k)
        at = rng.uniform(0, 1, k.sum()) * end[who]
    else:  # purchases one at a time; after each, gone with probability p
        p, t, alive = rng.beta(0.8, 2.5, n), np.zeros(n), np.ones(n, bool)
        who, at = [], []
        while alive.any():
            t = t + rng.exponential(1 / lam)
            alive &= t <= T + h
            who.append(np.flatnonzero(alive))
            at.append(t[alive])
            alive &= rng.uniform(size=n) >= p
        who, at = np.concatenate(who), np.concatenate(at)
    early = at <= T
    x = np.bincount(who[early], minlength=n).astype(float)
    tx = np.zeros(n)
    np.maximum.at(tx, who[early], at[early])
    return x, tx, np.bincount(who[~early], minlength=n) > 0


@pytest.mark.parametrize("kind, model", [("paretonbd", ParetoNBD.from_params(r=0.6, alpha=8.0, s=0.8, beta=15.0)),
                                         ("bgnbd", BGNBD.from_params(r=0.6, alpha=8.0, a=0.8, b=2.5))])
def test_the_probability_of_a_purchase_matches_simulated_customers(kind, model):
    """40,000 customers simulated from each process: the predicted probability of a purchase in the next 20 time
    units agrees with the share who bought, overall and for 0, 1, 2 and 3 or more repeat purchases, within 4 binomial
    standard errors (seeded: the same draws every run)."""
    x, tx, bought = _simulated(kind, 40_000, 30.0, 20.0)
    p = model.conditional_probability_of_purchase(20.0, x, tx, np.full(len(x), 30.0))
    for sel in (x >= 0, x == 0, x == 1, x == 2, x >= 3):
        q = p[sel].mean()
        assert abs(q - bought[sel].mean()) < 4 * np.sqrt(q * (1 - q) / sel.sum()), (sel.sum(), q, bought[sel].mean())
