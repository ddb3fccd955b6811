"""The churn estimator: one scikit-learn-style class over five model families."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..params import validate_params
from ._parameters import PARAMETER_CONSTRAINTS
from ._store import read_model_json
from ..models import package_version
from ..errors import ConfigError, DataContractError, ModelFitError, NotFittedError
from . import explain

# the [churn] settings' table: the config and this model check their values against the same constraints
MODELS = PARAMETER_CONSTRAINTS["churn.model"].choices
CALIBRATIONS = PARAMETER_CONSTRAINTS["churn.calibration"].choices
FORMAT = "shopseg-churn-model/1"
# a LightGBM model's TreeSHAP tables (_trees.TreeEnsemble.shap_tables), stored beside it: a process that scores
# the stored model reads them instead of computing them (0.1-0.15 CPU s at 500 trees)
SHAP_SUFFIX = ".shap.npz"

# Hyperparameters per model family; ChurnModel(params=...) and the [churn.<model>] config sections override.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "lightgbm": {"n_estimators": 500, "learning_rate": 0.01, "num_leaves": 7, "min_child_samples": 50,
                 "subsample": 0.8, "colsample_bytree": 0.7, "reg_lambda": 1.0},
    "logistic": {"C": 1.0},
    "decision_tree": {"max_depth": 5, "min_samples_leaf": 50},
    "random_forest": {"n_estimators": 300, "max_depth": 8, "min_samples_leaf": 20},
    "linear_svm": {"C": 0.1},
}


def _log_transform(X: np.ndarray) -> np.ndarray:
    """Signed log1p: tames long-tailed money and count features for the linear models."""
    return np.sign(X) * np.log1p(np.abs(X))


class ChurnModel:
    """Predicts the probability that a customer places no order within the horizon.

    ``model`` is one of ``lightgbm`` (default; gradient-boosted trees, Ke et
    al. 2017, trained deterministically: one thread, ``deterministic=True``,
    ``force_col_wise=True`` and seeds from ``random_state``), ``logistic``
    (logistic regression), ``decision_tree``, ``random_forest`` (Breiman
    2001) or ``linear_svm`` (linear support vector machine; its margins are
    turned into probabilities by Platt scaling, Platt 1999).  The linear
    models see signed-log, standardised inputs.  ``params`` overrides the
    family's hyperparameters (:data:`DEFAULT_PARAMS`).

    :meth:`calibrate` fits ``calibration`` (``isotonic``, Zadrozny & Elkan
    2002; ``platt``; or ``none``) on a later labelled window; after it,
    :meth:`predict_proba` returns calibrated probabilities.  :meth:`reasons`
    explains each customer with :mod:`shopseg.predict.explain`.

    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"recency_days": rng.uniform(0, 200, 400), "frequency": rng.integers(1, 9, 400)})
    >>> y = (X["recency_days"] + rng.normal(0, 30, 400) > 100).astype(int)
    >>> m = ChurnModel("logistic").fit(X, y)
    >>> m.predict_proba(X.iloc[:2]).shape
    (2, 2)
    >>> m.feature_names_in_
    ['recency_days', 'frequency']
    """

    def __init__(self, model: str = "lightgbm", *, calibration: str = "isotonic", random_state: int = 0,
                 params: dict | None = None, min_class_count: int = 10):
        self.model = model
        self.calibration = calibration
        self.random_state = random_state
        self.params = params
        self.min_class_count = min_class_count

    # -- settings ---------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        return {"model": self.model, "calibration": self.calibration, "random_state": self.random_state,
                "params": self.params, "min_class_count": self.min_class_count}

    def _check_settings(self) -> dict[str, Any]:
        validate_params({"model": self.model, "calibration": self.calibration, "random_state": self.random_state},
                        PARAMETER_CONSTRAINTS, "churn.", owner="ChurnModel")
        p = dict(DEFAULT_PARAMS[self.model])
        unknown = set(self.params or {}) - set(p)
        if unknown:
            raise ConfigError(f"Unknown {self.model} hyperparameter(s) {', '.join(sorted(unknown))}; "
                              f"expected some of {', '.join(sorted(p))}.")
        p.update(self.params or {})
        return p

    # -- inputs -----------------------------------------------------------------
    def _matrix(self, X, fitting: bool = False) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            if fitting:
                self.feature_names_in_ = [str(c) for c in X.columns]
            missing = [c for c in self.feature_names_in_ if c not in X.columns]
            if missing:
                raise DataContractError(
                    f"Churn model input: expected the feature column(s) the model was fitted on; "
                    f"missing {', '.join(missing)}.",
                    hint="Score with features computed the same way (shopseg.predict.churn.cutoff_frame).")
            A = X[self.feature_names_in_].to_numpy(dtype=float)
        else:
            A = np.asarray(X, dtype=float)
            if A.ndim != 2:
                raise DataContractError(f"Churn model input: expected a 2-D table of features; got shape {A.shape}.")
            if fitting:
                self.feature_names_in_ = [f"x{i}" for i in range(A.shape[1])]
            elif A.shape[1] != len(self.feature_names_in_):
                raise DataContractError(f"Churn model input: expected {len(self.feature_names_in_)} feature columns; "
                                        f"got {A.shape[1]}.")
        if not np.isfinite(A).all():
            bad = np.nonzero(~np.isfinite(A).all(axis=0))[0][0]
            raise DataContractError(f"Churn model input: feature {self.feature_names_in_[bad]!r} holds NaN or "
                                    f"infinite values; expected finite numbers.")
        return A

    def _check_fitted(self) -> None:
        if "_estimator" not in self.__dict__ and "model_string_" not in self.__dict__:
            raise NotFittedError("This ChurnModel is not fitted yet.", hint="Call fit(X, y) first.")

    # A LightGBM model's trees are evaluated in numpy (:mod:`shopseg.predict._trees`: LightGBM's raw scores bit for
    # bit, its TreeSHAP to ~1e-15), for a few rows and for a whole shop alike (faster than LightGBM's own predict at
    # 43k and 434k rows: docs/churn.md, "One TreeSHAP path"); a loaded model imports LightGBM only for what else needs
    # the Booster, and a model whose trees that module does not follow (None) is left to LightGBM.

    @property
    def estimator_(self):
        est = self.__dict__.get("_estimator")
        if est is None and "model_string_" in self.__dict__:
            import lightgbm as lgb

            est = self.__dict__["_estimator"] = lgb.Booster(model_str=self.model_string_)
        if est is None:
            raise AttributeError("estimator_")
        return est

    @estimator_.setter
    def estimator_(self, value) -> None:
        self.__dict__["_estimator"] = value
        self.__dict__.pop("trees_", None)  # a refit model's trees are read again
        self.__dict__.pop("shap_tables_", None)  # and its TreeSHAP tables computed again

    def _trees(self):
        """The numpy trees of a LightGBM model, or None (LightGBM scores them)."""
        if "trees_" not in self.__dict__:
            from ._trees import TreeEnsemble

            text = self.__dict__.get("model_string_")
            if text is None:
                text = self.estimator_.model_to_string()
            trees = self.__dict__["trees_"] = TreeEnsemble.from_model_string(text)
            stored = self.__dict__.pop("shap_tables_", None)  # the stored TreeSHAP tables (load)
            if trees is not None and stored is not None:
                with np.load(io.BytesIO(stored)) as f:
                    flat, shapes = f["values"], f["shapes"]
                ends = np.cumsum(shapes.prod(axis=1))
                trees.set_shap_tables([flat[e - a * b:e].reshape(a, b) for e, (a, b) in zip(ends, shapes)])
        return self.__dict__["trees_"]

    # -- fitting ---------------------------------------------------------------
    def fit(self, X, y) -> "ChurnModel":
        """Fit on features ``X`` (DataFrame or array) and labels ``y`` (1 = churned, 0 = stayed)."""
        p = self._check_settings()
        A = self._matrix(X, fitting=True)
        yv = np.asarray(y).astype(int).ravel()
        if len(yv) != len(A):
            raise DataContractError(f"Churn model: expected one label per row of X ({len(A)}); got {len(yv)}.")
        if not np.isin(yv, (0, 1)).all():
            raise DataContractError("Churn model labels: expected 0 (stayed) or 1 (churned).")
        n1 = int(yv.sum())
        n0 = len(yv) - n1
        if min(n0, n1) < self.min_class_count:
            raise ModelFitError(
                f"Cannot fit a churn model: {n1} churned and {n0} retained labelled customers; need at least "
                f"{self.min_class_count} of each (min_class_count).",
                hint="Use a longer history or a shorter churn.horizon_days, or lower churn.min_class_count.")
        self.n_features_in_ = A.shape[1]
        self.classes_ = np.array([0, 1])
        self.reference_ = explain.reference_values(pd.DataFrame(A, columns=self.feature_names_in_))
        rs = int(self.random_state)
        if self.model == "lightgbm":
            import lightgbm as lgb

            lp = {"objective": "binary", "learning_rate": p["learning_rate"], "num_leaves": p["num_leaves"],
                  "min_data_in_leaf": p["min_child_samples"], "bagging_fraction": p["subsample"],
                  "bagging_freq": 1 if p["subsample"] < 1 else 0, "feature_fraction": p["colsample_bytree"],
                  "lambda_l2": p["reg_lambda"], "seed": rs, "bagging_seed": rs + 1, "feature_fraction_seed": rs + 2,
                  "data_random_seed": rs + 3, "deterministic": True, "num_threads": 1, "force_col_wise": True,
                  "verbose": -1}
            data = lgb.Dataset(A, label=yv, feature_name=[f"f{i}" for i in range(A.shape[1])], free_raw_data=True)
            self.estimator_ = lgb.train(lp, data, num_boost_round=int(p["n_estimators"]))
        else:
            self.estimator_ = self._sklearn(p, rs).fit(self._linear_in(A), yv)
        self.params_ = p
        self.svm_platt_ = None
        if self.model == "linear_svm":  # margins -> probabilities, on the training data (refined by calibrate)
            self.svm_platt_ = _platt_fit(self.decision_function(A), yv)
        self.calibrator_ = None
        self.recency_floor_ = None  # set by fit_churn (predict.churn.recency_floor)
        return self

    def _sklearn(self, p: dict, rs: int):
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC
        from sklearn.tree import DecisionTreeClassifier

        if self.model == "logistic":
            return make_pipeline(StandardScaler(), LogisticRegression(C=p["C"], max_iter=5000))
        if self.model == "linear_svm":
            return make_pipeline(StandardScaler(), LinearSVC(C=p["C"], random_state=rs, max_iter=20000))
        if self.model == "decision_tree":
            return DecisionTreeClassifier(max_depth=p["max_depth"], min_samples_leaf=p["min_samples_leaf"],
                                          random_state=rs)
        return RandomForestClassifier(n_estimators=p["n_estimators"], max_depth=p["max_depth"],
                                      min_samples_leaf=p["min_samples_leaf"], random_state=rs, n_jobs=1)

    def _linear_in(self, A: np.ndarray) -> np.ndarray:
        return _log_transform(A) if self.model in ("logistic", "linear_svm") else A

    # -- scores ---------------------------------------------------------------
    def decision_function(self, X) -> np.ndarray:
        """The raw score: log-odds (lightgbm, logistic), margin (linear_svm), tree probability (trees)."""
        self._check_fitted()
        A = X if isinstance(X, np.ndarray) and X.dtype == float and X.ndim == 2 \
            and X.shape[1] == self.n_features_in_ else self._matrix(X)
        if self.model == "lightgbm":
            trees = self._trees()
            if trees is not None:
                return trees.raw_score(A)
            return np.asarray(self.estimator_.predict(A, raw_score=True, **explain.lightgbm_threads(len(A))),
                              dtype=float)
        Z = self._linear_in(A)
        if self.model in ("logistic", "linear_svm"):
            return np.asarray(self.estimator_.decision_function(Z), dtype=float)
        return np.asarray(self.estimator_.predict_proba(Z)[:, 1], dtype=float)

    def _uncalibrated(self, s: np.ndarray) -> np.ndarray:
        if self.model in ("lightgbm", "logistic"):
            return 1.0 / (1.0 + np.exp(-s))
        if self.model == "linear_svm":
            return _platt_apply(self.svm_platt_, s)
        return s

    def predict_proba(self, X) -> np.ndarray:
        """(n, 2) probabilities of [stay, churn]; calibrated once :meth:`calibrate` has run."""
        p = self.probability_of(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def probability_of(self, s: np.ndarray) -> np.ndarray:
        """The churn probability of raw scores ``s`` (:meth:`decision_function`'s): calibrated once
        :meth:`calibrate` has run.  Lets a caller holding the raw scores skip a second pass of the model."""
        p = _calibrate_apply(self.calibrator_, s) if self.calibrator_ else self._uncalibrated(s)
        return np.clip(p, 0.0, 1.0)

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def calibrate(self, X, y, *, raw: np.ndarray | None = None) -> "ChurnModel":
        """Fit the probability calibration (``self.calibration``) on a later labelled window.

        ``raw``: :meth:`decision_function` of ``X`` when the caller has it already."""
        self._check_fitted()
        s = self.decision_function(X) if raw is None else np.asarray(raw, dtype=float)
        self.calibrator_ = fit_calibrator(self.calibration, s, np.asarray(y).astype(int), self._uncalibrated)
        return self

    # -- explanations -----------------------------------------------------------
    def contributions(self, X) -> np.ndarray:
        """(n, p + 1) additive parts of :meth:`decision_function` per feature, the last column the bias."""
        self._check_fitted()
        A = self._matrix(X)
        if self.model == "lightgbm":
            trees = self._trees()
            # trees None: the model string was read and is not one _trees follows; not read again
            return explain.lightgbm_contributions(self.estimator_, A) if trees is None else trees.contributions(A)
        Z = self._linear_in(A)
        if self.model in ("logistic", "linear_svm"):
            scaler, lin = self.estimator_[0], self.estimator_[-1]
            Zs = scaler.transform(Z)
            return explain.linear_contributions(lin.coef_.ravel(), float(lin.intercept_[0]), Zs, np.zeros(Zs.shape[1]))
        trees = [self.estimator_] if self.model == "decision_tree" else self.estimator_.estimators_
        return sum(explain.saabas_tree(t, Z, A.shape[1]) for t in trees) / len(trees)

    def feature_importance(self, X) -> pd.Series:
        """Global importance: mean |contribution| of each feature over ``X`` (mean |SHAP| for lightgbm)."""
        return explain.global_importance(self.contributions(X), self.feature_names_in_)

    def reasons(self, X: pd.DataFrame, n: int = 3, horizon_days: int | None = None,
                contrib: np.ndarray | None = None) -> pd.DataFrame:
        """Top ``n`` reasons per row: ``reason_k`` (text), ``reason_feature_k``, ``contribution_k``.

        Reasons pushing towards churn come first; see :mod:`shopseg.predict.explain`.
        ``X`` may hold more columns than the features (templates can use them).
        ``contrib``: :meth:`contributions` of ``X`` when the caller has them already.
        """
        contrib = self.contributions(X) if contrib is None else contrib
        idx, parts = explain.top_reasons(contrib, self.feature_names_in_, n)
        h = int(horizon_days if horizon_days is not None else getattr(self, "horizon_days_", 0) or 0)
        texts = explain.reason_texts(X.reset_index(drop=True), self.feature_names_in_, idx, parts,
                                     self.reference_, h)
        out = {}
        names = np.asarray(self.feature_names_in_, dtype=object)
        for k in range(idx.shape[1]):
            out[f"reason_{k + 1}"] = texts[k]
            out[f"reason_feature_{k + 1}"] = names[idx[:, k]]
            out[f"contribution_{k + 1}"] = parts[:, k]
        return pd.DataFrame(out, index=X.index)

    # -- storage ------------------------------------------------------------------
    def files(self, stem_name: str, metadata: dict | None = None) -> dict[str, bytes]:
        """The stored form, suffix -> content: ``.lgb.txt`` (LightGBM ``model_to_string``) or ``.pkl``
        (scikit-learn pickle: load only files you wrote), then ``.json`` (metadata, calibration, features)
        naming the estimator file ``<stem_name><suffix>``."""
        self._check_fitted()
        extra: dict[str, bytes] = {}
        if self.model == "lightgbm":
            suffix, blob = ".lgb.txt", self.estimator_.model_to_string().encode("utf-8")
            trees = self._trees()
            if trees is not None:  # the TreeSHAP tables (computed once: a scoring of the run has them already)
                extra[SHAP_SUFFIX] = _tables_npz(trees.shap_tables())
        else:
            suffix, blob = ".pkl", pickle.dumps(self.estimator_)
        meta = {
            "format": FORMAT, "model": self.model, "settings": self.get_params(), "params": self.params_,
            "features": list(self.feature_names_in_), "reference": self.reference_,
            "calibrator": self.calibrator_, "svm_platt": self.svm_platt_, "estimator_file": stem_name + suffix,
            "recency_floor": getattr(self, "recency_floor_", None),
            "estimator_sha256": hashlib.sha256(blob).hexdigest(),
            **({"shap_file": stem_name + SHAP_SUFFIX, "shap_sha256": hashlib.sha256(extra[SHAP_SUFFIX]).hexdigest()}
               if extra else {}),
            "horizon_days": getattr(self, "horizon_days_", None),
            "versions": {"shopseg": package_version("shopseg"), "lightgbm": package_version("lightgbm"),
                         "scikit-learn": package_version("scikit-learn")},
            **(metadata or {}),
        }
        text = json.dumps(meta, indent=2, sort_keys=True, default=_json_default) + "\n"
        return {suffix: blob, **extra, ".json": text.encode("utf-8")}

    def save(self, stem: str | Path, metadata: dict | None = None) -> Path:
        """Write :meth:`files` as ``<stem>.json`` and the estimator beside it; returns the JSON path.

        (A run stores its model in the workspace's model store, :mod:`shopseg.models`, instead.)
        """
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        for suffix, data in self.files(stem.name, metadata).items():
            stem.with_name(stem.name + suffix).write_bytes(data)
        return stem.with_name(stem.name + ".json")

    @classmethod
    def load(cls, path: str | Path, *, expected_config_hash: str | None = None,
             expected_features: list[str] | None = None) -> "ChurnModel":
        """Read a model written by :meth:`save` (the ``.json`` path); check config hash and features.

        Raises ConfigError when the stored config hash differs from
        ``expected_config_hash`` and DataContractError when the stored feature
        list differs from ``expected_features``: a model must not silently
        score features it was not trained on.
        """
        p = Path(path)
        meta = read_model_json(p, "churn", "churn")
        if meta.get("format") != FORMAT or meta.get("model") not in MODELS:
            raise ConfigError(f"{p} is not a stored shopseg churn model: expected format {FORMAT!r}; "
                              f"got {meta.get('format')!r}.")
        if expected_config_hash is not None and meta.get("config_hash") != expected_config_hash:
            raise ConfigError(
                f"Stored churn model {p.name} was fitted with other churn settings: config hash "
                f"{str(meta.get('config_hash'))[:12]}..., expected {expected_config_hash[:12]}....",
                hint="Re-run the churn stage (`shopseg predict churn`) with the current config.")
        if expected_features is not None and list(expected_features) != meta["features"]:
            extra = sorted(set(expected_features) - set(meta["features"]))
            missing = sorted(set(meta["features"]) - set(expected_features))
            raise DataContractError(
                f"Stored churn model {p.name} was fitted on other features: missing now {missing or 'none'}, "
                f"new now {extra or 'none'}" + ("" if missing or extra else " (same names, other order)") + ".",
                hint="Re-run the churn stage so the model matches the current features.")
        est = p.with_name(meta["estimator_file"])
        try:
            blob = est.read_bytes()
        except FileNotFoundError:
            raise NotFittedError(f"Stored churn model {p.name} lacks its estimator file {est.name}.") from None
        if hashlib.sha256(blob).hexdigest() != meta.get("estimator_sha256"):
            raise ConfigError(f"Stored churn model file {est.name} does not match its metadata (checksum).",
                              hint="The file was edited or damaged; re-run the churn stage.")
        s = meta["settings"]
        m = cls(s["model"], calibration=s["calibration"], random_state=s["random_state"], params=s["params"],
                min_class_count=s["min_class_count"])
        if m.model == "lightgbm":
            m.model_string_ = blob.decode("utf-8")  # the Booster made when first needed (estimator_)
            shap = p.with_name(meta["shap_file"]) if meta.get("shap_file") else None
            if shap is not None and shap.exists():  # else computed when first needed
                data = shap.read_bytes()
                if hashlib.sha256(data).hexdigest() != meta.get("shap_sha256"):
                    raise ConfigError(f"Stored churn model file {shap.name} does not match its metadata (checksum).",
                                      hint="The file was edited or damaged; re-run the churn stage.")
                m.__dict__["shap_tables_"] = data
        else:
            m.estimator_ = pickle.loads(blob)
        m.feature_names_in_ = list(meta["features"])
        m.n_features_in_ = len(m.feature_names_in_)
        m.classes_ = np.array([0, 1])
        m.params_ = meta["params"]
        m.reference_ = {k: float(v) for k, v in meta["reference"].items()}
        m.calibrator_ = meta.get("calibrator")
        m.recency_floor_ = meta.get("recency_floor")  # None: a model stored before session 17
        m.svm_platt_ = meta.get("svm_platt")
        m.horizon_days_ = meta.get("horizon_days")
        m.metadata_ = meta
        return m


def _tables_npz(tables: list[np.ndarray]) -> bytes:
    """The TreeSHAP tables, one after the other, with their shapes (read back in :meth:`ChurnModel._trees`)."""
    buf = io.BytesIO()
    np.savez(buf, values=np.concatenate([t.ravel() for t in tables]) if tables else np.zeros(0),
             shapes=np.array([t.shape for t in tables], dtype=np.int64).reshape(-1, 2))
    return buf.getvalue()


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# -- calibration (stored as plain numbers so the model JSON holds it) -------------------

def _platt_fit(s: np.ndarray, y: np.ndarray) -> dict:
    """Platt scaling: P(churn) = 1 / (1 + exp(-(a * s + b))), fitted by (nearly unpenalised) logistic regression."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6, max_iter=1000).fit(s.reshape(-1, 1), y)
    return {"method": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def _platt_apply(c: dict, s: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(c["a"] * s + c["b"])))


def fit_calibrator(method: str, s: np.ndarray, y: np.ndarray, uncalibrated) -> dict | None:
    """A calibration map from raw scores ``s`` to probabilities, fitted on labels ``y``."""
    if method == "none":
        return None
    if len(np.unique(y)) < 2:
        raise ModelFitError("Cannot calibrate churn probabilities: the calibration window holds only one class.",
                            hint="Use churn.calibration = 'none' or a longer history.")
    if method == "platt":
        return _platt_fit(s, y)
    iso = _isotonic_shrunk(np.asarray(s, dtype=float), np.asarray(y, dtype=float))
    return {"method": "isotonic", "x": [float(v) for v in iso.X_thresholds_],
            "y": [float(v) for v in iso.y_thresholds_]}


def _isotonic_shrunk(s: np.ndarray, y: np.ndarray):
    """Isotonic regression of ``y`` on ``s`` whose blocks never say 0 or 1: each block of the plain fit (k churners
    of n) gets its Jeffreys estimate (k + 1/2) / (n + 1), and blocks that this puts out of order are pooled by a
    second isotonic fit weighted by n + 1.

    A block of 186 customers who all churned is evidence of a churn rate near 1, not of certainty: the plain fit
    said 1.0 and Olist's card "churn risk 100%" for 653 one-time buyers, where the shop's own history shows about
    1 in 500 of them buying again (docs/churn.md, "Olist: churn risk 100%").

    >>> iso = _isotonic_shrunk(np.arange(12.0), np.array([0] + [1] * 9 + [0, 1], dtype=float))
    >>> [round(float(v), 4) for v in iso.predict([0.0, 5.0, 11.0])]  # blocks 0/1, 9/10, 1/1: 1/4, 9.5/11, 1.5/2,
    [0.25, 0.8462, 0.8462]
    >>> round(11 / 13, 4)  # the last two out of order: pooled (9.5 + 1.5) / (11 + 2)
    0.8462
    """
    from sklearn.isotonic import IsotonicRegression

    plain = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(s, y).predict(s)
    _, block, n = np.unique(plain, return_inverse=True, return_counts=True)  # a block: one fitted value
    k = np.bincount(block, weights=y, minlength=len(n))
    shrunk = (k + 0.5) / (n + 1.0)
    return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
        s, shrunk[block], sample_weight=((n + 1.0) / n)[block])


def _calibrate_apply(c: dict, s: np.ndarray) -> np.ndarray:
    if c["method"] == "platt":
        return _platt_apply(c, s)
    return np.interp(s, np.asarray(c["x"]), np.asarray(c["y"]))  # what IsotonicRegression.predict does
