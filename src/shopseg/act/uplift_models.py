"""Uplift models: who responds *because of* a contact, learned from randomised treatment and control groups.

Four meta-learners on LightGBM, scikit-learn style (``fit(X, treatment, y)`` returns self,
``predict(X)`` gives the estimated uplift ``E[y | x, treated] - E[y | x, control]``):

* :class:`OneModelUplift` ("S-learner", scikit-uplift's SoloModel): one model with the treatment as a
  feature, the difference of its predictions with the flag set to 1 and to 0.
* :class:`TwoModelUplift` ("T-learner"): one model per group, the difference of their predictions.
* :class:`XLearnerUplift` (Kuenzel, Sekhon, Bickel & Yu 2019, "Metalearners for estimating
  heterogeneous treatment effects using machine learning", PNAS): the T-learner's models impute each
  customer's effect (``y - mu0(x)`` for the treated, ``mu1(x) - y`` for the controls), a second model
  per group learns those, and the two are mixed by the propensity ``g``: ``g tau0 + (1 - g) tau1``.
  With randomised groups the propensity is the treated share.
* :class:`ClassTransformationUplift`: for a 0/1 outcome the class transformation of Jaskowski &
  Jaroszewicz (2012), ``z = y t + (1 - y)(1 - t)`` with the groups reweighted to equal size, uplift
  ``2 P(z = 1 | x) - 1``; for a continuous outcome its generalisation, the transformed outcome
  ``y (t - p) / (p (1 - p))`` (Athey & Imbens 2016), regressed directly.

:class:`UpliftModel` chooses among them by validation: a hold-out stratified by treatment, the
learner with the largest Qini AUC (:func:`qini_auc`) on it is refitted on everything.

:func:`qini_curve`, :func:`qini_auc` and :func:`uplift_at_k` follow scikit-uplift's definitions
(Qini curve ``Y_t(k) - Y_c(k) N_t(k) / N_c(k)`` over the customers ranked by predicted uplift, the
area between it and the random line divided by the same area for the perfect ranking), extended to
continuous outcomes with the same formulas.  ``evals/hillstrom_uplift.py`` checks these learners
against scikit-uplift's and causalml's on Hillstrom's randomised e-mail test (docs/action.md).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataContractError, NotFittedError

LEARNERS = ("one_model", "two_model", "x_learner", "class_transformation")


def _lgbm_params(random_state: int, n_estimators: int, **extra) -> dict:
    # uplift is a small difference of noisy means: shallow trees with big leaves, a modest learning rate
    return {"n_estimators": n_estimators, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 100,
            "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "random_state": random_state,
            "n_jobs": 1, "verbose": -1, **extra}


def _is_binary(y: np.ndarray) -> bool:
    return bool(np.isin(np.unique(y), [0.0, 1.0]).all())


def _check(X, treatment, y):
    X = np.asarray(X, float)
    t = np.asarray(treatment)
    y = np.asarray(y, float)
    if X.ndim != 2 or len(X) != len(t) or len(t) != len(y):
        raise DataContractError(f"Uplift data: X must be 2-D with one row per treatment and outcome value. Got X of "
                                f"shape {X.shape}, {len(t)} treatment and {len(y)} outcome values instead.")
    if not np.isin(t, [0, 1, True, False]).all():
        raise DataContractError("Uplift data: treatment must be 0/1. Got values "
                                f"{sorted(set(np.unique(t).tolist()))[:5]} instead.")
    t = t.astype(int)
    if t.sum() == 0 or t.sum() == len(t):
        raise DataContractError(f"Uplift data: both groups are needed. Got {int(t.sum())} treated of {len(t)}.")
    return X, t, y


class _Base:
    def __init__(self, n_estimators: int = 200, random_state: int = 0):
        self.n_estimators = n_estimators
        self.random_state = random_state

    def _model(self, binary: bool, seed_offset: int = 0):
        import lightgbm as lgb

        p = _lgbm_params(self.random_state + seed_offset, self.n_estimators)
        return lgb.LGBMClassifier(**p) if binary else lgb.LGBMRegressor(**p)

    @staticmethod
    def _mean(model, X, binary: bool) -> np.ndarray:
        return model.predict_proba(X)[:, 1] if binary else model.predict(X)

    def _fitted(self):
        if not hasattr(self, "binary_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call fit(X, treatment, y) first.")


class OneModelUplift(_Base):
    """S-learner: one LightGBM model on ``[X, treatment]``; uplift ``mu(x, 1) - mu(x, 0)``."""

    def fit(self, X, treatment, y):
        X, t, y = _check(X, treatment, y)
        self.binary_ = _is_binary(y)
        self.model_ = self._model(self.binary_).fit(np.column_stack([X, t]), y)
        return self

    def predict(self, X) -> np.ndarray:
        self._fitted()
        X = np.asarray(X, float)
        one, zero = np.column_stack([X, np.ones(len(X))]), np.column_stack([X, np.zeros(len(X))])
        return self._mean(self.model_, one, self.binary_) - self._mean(self.model_, zero, self.binary_)


class TwoModelUplift(_Base):
    """T-learner: ``mu1(x) - mu0(x)`` from one LightGBM model per group."""

    def fit(self, X, treatment, y):
        X, t, y = _check(X, treatment, y)
        self.binary_ = _is_binary(y)
        self.model_c_ = self._model(self.binary_).fit(X[t == 0], y[t == 0])
        self.model_t_ = self._model(self.binary_, 1).fit(X[t == 1], y[t == 1])
        return self

    def predict(self, X) -> np.ndarray:
        self._fitted()
        X = np.asarray(X, float)
        return self._mean(self.model_t_, X, self.binary_) - self._mean(self.model_c_, X, self.binary_)


class XLearnerUplift(_Base):
    """X-learner (Kuenzel et al. 2019) with the treated share as the propensity."""

    def fit(self, X, treatment, y):
        X, t, y = _check(X, treatment, y)
        self.binary_ = _is_binary(y)
        mu0 = self._model(self.binary_).fit(X[t == 0], y[t == 0])
        mu1 = self._model(self.binary_, 1).fit(X[t == 1], y[t == 1])
        d1 = y[t == 1] - self._mean(mu0, X[t == 1], self.binary_)
        d0 = self._mean(mu1, X[t == 0], self.binary_) - y[t == 0]
        self.tau1_ = self._model(False, 2).fit(X[t == 1], d1)
        self.tau0_ = self._model(False, 3).fit(X[t == 0], d0)
        self.propensity_ = float(t.mean())
        return self

    def predict(self, X) -> np.ndarray:
        self._fitted()
        X = np.asarray(X, float)
        g = self.propensity_
        return g * self.tau0_.predict(X) + (1 - g) * self.tau1_.predict(X)


class ClassTransformationUplift(_Base):
    """Class transformation (Jaskowski & Jaroszewicz 2012) for 0/1 outcomes; transformed outcome
    (Athey & Imbens 2016) for continuous ones."""

    def fit(self, X, treatment, y):
        X, t, y = _check(X, treatment, y)
        self.binary_ = _is_binary(y)
        p = float(t.mean())
        if self.binary_:
            z = (y * t + (1 - y) * (1 - t)).astype(int)
            w = np.where(t == 1, 0.5 / p, 0.5 / (1 - p))  # equal groups: then 2 P(z=1|x) - 1 is the uplift
            self.model_ = self._model(True).fit(X, z, sample_weight=w)
        else:
            self.model_ = self._model(False).fit(X, y * (t - p) / (p * (1 - p)))
        return self

    def predict(self, X) -> np.ndarray:
        self._fitted()
        X = np.asarray(X, float)
        if self.binary_:
            return 2 * self.model_.predict_proba(X)[:, 1] - 1
        return self.model_.predict(X)


def make_learner(name: str, **kw):
    """The learner called ``name`` (one of :data:`LEARNERS`)."""
    classes = {"one_model": OneModelUplift, "two_model": TwoModelUplift, "x_learner": XLearnerUplift,
               "class_transformation": ClassTransformationUplift}
    if name not in classes:
        raise ConfigError(f"The 'learner' parameter must be one of {', '.join(map(repr, LEARNERS))} or 'auto'. "
                          f"Got {name!r} instead.")
    return classes[name](**kw)


def stratified_split(treatment, test_size: float, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train index, test index): a random split with the same test share in each treatment group."""
    t = np.asarray(treatment)
    rng = np.random.default_rng(random_state)
    test = np.zeros(len(t), bool)
    for g in np.unique(t):
        idx = np.flatnonzero(t == g)
        rng.shuffle(idx)
        test[idx[:int(round(test_size * len(idx)))]] = True
    return np.flatnonzero(~test), np.flatnonzero(test)


class UpliftModel:
    """An uplift learner chosen by validation: the one with the largest Qini AUC on a hold-out
    (``validation_size`` of the rows, stratified by treatment), then refitted on all rows.

    ``learner``: 'auto' (choose) or one of :data:`LEARNERS`.  After fit: ``learner_`` (the
    chosen name), ``validation_`` (name -> Qini AUC on the half of the hold-out that chose), ``model_``,
    and with 'auto' ``holdout_`` (the other half's outcomes, treatment and the chosen learner's
    predictions), which :meth:`beats_random` resamples.
    """

    def __init__(self, learner: str = "auto", validation_size: float = 0.25, n_estimators: int = 200,
                 random_state: int = 0):
        self.learner = learner
        self.validation_size = validation_size
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X, treatment, y):
        X, t, y = _check(X, treatment, y)
        kw = {"n_estimators": self.n_estimators, "random_state": self.random_state}
        if self.learner != "auto":
            make_learner(self.learner)  # validates the name
            names = [self.learner]
            self.validation_ = {}
        else:
            names = list(LEARNERS)
            tr, va = stratified_split(t, self.validation_size, self.random_state)
            # half the hold-out chooses the learner, the other half judges the choice (a check on the rows that
            # chose it would favour it: the best of four on the same rows)
            sel, judge = (va[i] for i in stratified_split(t[va], 0.5, self.random_state + 1))
            preds = {n: make_learner(n, **kw).fit(X[tr], t[tr], y[tr]).predict(X[va]) for n in names}
            pos = {r: k for k, r in enumerate(va)}
            si, ji = [pos[r] for r in sel], [pos[r] for r in judge]
            self.validation_ = {n: qini_auc(y[sel], preds[n][si], t[sel]) for n in names}
            names = [max(names, key=lambda n: self.validation_[n])]  # ties: the first in LEARNERS order
            self.holdout_ = (y[judge], t[judge], preds[names[0]][ji])
        self.learner_ = names[0]
        self.model_ = make_learner(self.learner_, **kw).fit(X, t, y)
        return self

    def beats_random(self, n_resamples: int = 200, random_state: int = 0) -> float:
        """Share of bootstrap resamples of the hold-out where the chosen learner's Qini AUC is above 0, the
        Qini AUC of random targeting (what a campaign-level uplift amounts to: the same value for everyone).
        A model that does not rank customers better than that in 95% of resamples should step aside."""
        if not hasattr(self, "holdout_"):
            raise NotFittedError("beats_random needs a model fitted with learner='auto' (it keeps a hold-out).")
        y, t, pred = self.holdout_
        rng = np.random.default_rng(random_state)
        wins = 0
        for _ in range(n_resamples):  # resamples, not rows: each qini_auc is vectorised
            i = rng.integers(0, len(y), len(y))
            wins += qini_auc(y[i], pred[i], t[i]) > 0
        return wins / n_resamples

    def predict(self, X) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise NotFittedError("This UpliftModel is not fitted yet: call fit(X, treatment, y) first.")
        return self.model_.predict(X)


# -- metrics ---------------------------------------------------------------------------------------


def qini_curve(y, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """(customers targeted, incremental outcome) at each distinct predicted uplift, best first,
    starting at (0, 0): ``Y_t(k) - Y_c(k) N_t(k) / N_c(k)`` (scikit-uplift's ``qini_curve``).

    >>> x, q = qini_curve([1, 0, 1, 0], [0.9, 0.8, 0.2, 0.1], [1, 0, 0, 1])
    >>> x.tolist(), q.tolist()
    ([0, 1, 2, 3, 4], [0.0, 1.0, 1.0, 0.5, 0.0])
    """
    y = np.asarray(y, float)
    s = np.asarray(uplift, float)
    t = np.asarray(treatment).astype(int)
    order = np.argsort(s, kind="mergesort")[::-1]
    y, s, t = y[order], s[order], t[order]
    ends = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    n_t = np.cumsum(t)[ends].astype(float)
    y_t = np.cumsum(y * t)[ends]
    y_c = np.cumsum(y * (1 - t))[ends]
    n = ends + 1
    n_c = n - n_t
    q = y_t - y_c * np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return np.r_[0, n], np.r_[0.0, q]


def qini_auc(y, uplift, treatment) -> float:
    """Normalised Qini AUC: (area under the Qini curve - the random line's) / (the perfect ranking's - the
    random line's); 1 for the perfect ranking, 0 for random (scikit-uplift's ``qini_auc_score`` with
    negative effects, for 0/1 and continuous outcomes alike)."""
    y = np.asarray(y, float)
    t = np.asarray(treatment).astype(int)
    x, q = qini_curve(y, uplift, t)
    xp, qp = qini_curve(y, y * t - y * (1 - t), t)
    base = 0.5 * xp[-1] * qp[-1]
    perfect = np.trapezoid(qp, xp) - base
    return float((np.trapezoid(q, x) - base) / perfect) if perfect != 0 else float("nan")


def uplift_at_k(y, uplift, treatment, k: float = 0.3) -> float:
    """Mean outcome of the treated minus that of the controls among the top ``k`` share of customers by
    predicted uplift (scikit-uplift's ``uplift_at_k``, strategy 'overall').

    >>> uplift_at_k([1, 0, 1, 0, 0, 0], [6, 5, 4, 3, 2, 1], [1, 0, 1, 0, 1, 0], k=0.5)
    1.0
    """
    y = np.asarray(y, float)
    t = np.asarray(treatment).astype(int)
    order = np.argsort(np.asarray(uplift, float), kind="mergesort")[::-1][:int(len(y) * k)]
    yt, tt = y[order], t[order]
    if tt.sum() == 0 or tt.sum() == len(tt):
        return float("nan")
    return float(yt[tt == 1].mean() - yt[tt == 0].mean())
