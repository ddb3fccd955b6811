"""Uplift learners and their metrics: hand-checked Qini numbers, a planted uplift recovered, errors that say why."""

from __future__ import annotations

import numpy as np
import pytest

from shopseg.act.uplift_models import (LEARNERS, UpliftModel, make_learner, qini_auc, qini_curve, stratified_split,
                                       uplift_at_k)
from shopseg.errors import ConfigError, DataContractError, NotFittedError


def test_qini_curve_by_hand():
    # ranked: (y=1, treated), (y=0, control), (y=1, control), (y=0, treated)
    x, q = qini_curve([1, 0, 1, 0], [0.9, 0.8, 0.2, 0.1], [1, 0, 0, 1])
    # k=1: 1 - 0; k=2: 1 - 0 x 1/1; k=3: 1 - 1 x 1/2; k=4: 1 - 1 x 2/2
    assert x.tolist() == [0, 1, 2, 3, 4]
    assert q.tolist() == [0.0, 1.0, 1.0, 0.5, 0.0]


def test_the_perfect_ranking_scores_one_and_its_reverse_scores_below_zero():
    y = np.array([1, 0, 0, 1, 1, 0, 0, 0])
    t = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    perfect = y * t - y * (1 - t)
    assert qini_auc(y, perfect, t) == pytest.approx(1.0)
    assert qini_auc(y, -perfect, t) < 0


def test_uplift_at_k_by_hand():
    # top half by score: (1, T), (0, C), (1, T): treated mean 1, control mean 0
    assert uplift_at_k([1, 0, 1, 0, 0, 0], [6, 5, 4, 3, 2, 1], [1, 0, 1, 0, 1, 0], k=0.5) == 1.0
    # a top slice with one group only has no uplift to report
    assert np.isnan(uplift_at_k([1, 0, 1, 0], [4, 3, 2, 1], [1, 1, 0, 0], k=0.5))


def test_the_split_keeps_the_test_share_in_each_group():
    t = np.array([0] * 10 + [1] * 30)
    tr, te = stratified_split(t, 0.3, random_state=0)
    assert (t[te] == 0).sum() == 3 and (t[te] == 1).sum() == 9
    assert len(set(tr) | set(te)) == 40 and not set(tr) & set(te)


def planted(n=3000, seed=0):
    """Customers whose response rises by 0.3 with a contact when x0 > 0, by nothing otherwise; base rate 0.2."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    t = rng.integers(0, 2, n)
    p = 0.2 + 0.3 * t * (X[:, 0] > 0)
    return X, t, (rng.random(n) < p).astype(float)


@pytest.mark.parametrize("name", LEARNERS)
def test_every_learner_finds_who_the_contact_moves(name):
    X, t, y = planted()
    Xt, tt, yt = planted(seed=1)
    s = make_learner(name, n_estimators=40).fit(X, t, y).predict(Xt)
    # the planted uplift is 0.3 for x0 > 0 and 0 otherwise: the learner's mean must show it
    assert s[Xt[:, 0] > 0].mean() - s[Xt[:, 0] <= 0].mean() > 0.15
    # ranking by the planted uplift itself scores about 0.17 (random: about 0); the perfect ranking of
    # the normalised Qini AUC knows each outcome, so no model gets near 1
    oracle = qini_auc(yt, 0.3 * (Xt[:, 0] > 0), tt)
    assert qini_auc(yt, s, tt) > 0.85 * oracle


def test_auto_picks_a_learner_by_validation_and_refits():
    X, t, y = planted()
    m = UpliftModel(n_estimators=30).fit(X, t, y)
    assert m.learner_ in LEARNERS and set(m.validation_) == set(LEARNERS)
    assert m.validation_[m.learner_] == max(m.validation_.values())
    spend = y * 40.0  # a continuous outcome goes through the same learners
    assert UpliftModel("class_transformation", n_estimators=30).fit(X, t, spend).predict(X[:5]).shape == (5,)


def test_bad_input_says_what_was_expected():
    X, t, y = planted(n=100)
    with pytest.raises(DataContractError, match="both groups"):
        make_learner("two_model").fit(X, np.zeros(100), y)
    with pytest.raises(DataContractError, match="treatment must be 0/1"):
        make_learner("two_model").fit(X, t * 2, y)
    with pytest.raises(ConfigError, match="'learner' parameter must be one of"):
        make_learner("magic")
    with pytest.raises(NotFittedError):
        UpliftModel().predict(X)
