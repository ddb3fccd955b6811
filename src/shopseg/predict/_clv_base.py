"""Shared machinery of the CLV models: input checks, row collapsing, the
maximum-likelihood driver and save/load.  Users import from
:mod:`shopseg.predict.clv`; nothing here is public API.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd

from ._store import read_model_json
from ..models import package_version
from ..errors import ConfigError, DataContractError, ModelFitError, NotFittedError

FORMAT = "shopseg.clv/1"
TIME_UNITS = {"D": 1.0, "W": 7.0}  # days per model time unit
# Fitted parameters (in the time-scaled space the optimiser works in) outside
# this range mean the likelihood ran off to a boundary: not a usable fit.
_PARAM_RANGE = (1e-7, 1e7)


def as_column(name: str, values, n: int | None = None) -> np.ndarray:
    """``values`` as a 1-d float array; NaN, inf and wrong lengths are errors naming ``name``."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0:
        arr = arr.reshape(1) if n is None else np.full(n, float(arr))
    if arr.ndim != 1:
        raise DataContractError(f"Column {name!r}: expected a 1-d array of numbers; got shape {arr.shape}.")
    if n is not None and len(arr) != n:
        raise DataContractError(
            f"Column {name!r}: expected {n} values (one per customer, like the first column); got {len(arr)}."
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataContractError(f"Column {name!r}: expected finite numbers; got {arr[i]} at row {i}.")
    return arr


def _first_bad(mask: np.ndarray) -> int | None:
    return int(np.flatnonzero(mask)[0]) if mask.any() else None


def check_rfm(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the (frequency, recency, T) summary the transaction models use.

    frequency: repeat purchases, whole numbers >= 0; recency: age at the last
    purchase, 0 when frequency is 0; T: age at the end of observation, >= recency.
    Scalars broadcast against the longest column.
    """
    lens = [np.size(v) for v in (frequency, recency, T)]
    n = max(lens)
    for name, v, ln in zip(("frequency", "recency", "T"), (frequency, recency, T), lens):
        if np.ndim(v) > 0 and ln != n:
            raise DataContractError(
                f"Column {name!r}: expected {n} values (frequency, recency and T must have the same "
                f"length); got {ln}."
            )
    x = as_column("frequency", frequency, n)
    tx = as_column("recency", recency, n)
    t = as_column("T", T, n)
    checks = (
        ("frequency", (x < 0) | (x != np.floor(x)), "whole numbers >= 0", x),
        ("recency", tx < 0, "numbers >= 0", tx),
        ("T", t < 0, "numbers >= 0", t),
    )
    for name, mask, words, arr in checks:
        i = _first_bad(mask)
        if i is not None:
            raise DataContractError(f"Column {name!r}: expected {words}; got {arr[i]:g} at row {i}.")
    i = _first_bad(tx > t * (1 + 1e-12) + 1e-12)
    if i is not None:
        raise DataContractError(
            f"Column 'recency': expected recency <= T (a last purchase cannot come after the end of "
            f"observation); got recency={tx[i]:g} > T={t[i]:g} at row {i}."
        )
    i = _first_bad((x == 0) & (tx != 0))
    if i is not None:
        raise DataContractError(
            f"Column 'recency': expected 0 when frequency is 0 (no repeat purchase); got {tx[i]:g} at row {i}."
        )
    return x, tx, t


def check_weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = as_column("weights", weights, n)
    i = _first_bad(w < 0)
    if i is not None:
        raise DataContractError(f"Column 'weights': expected counts >= 0; got {w[i]:g} at row {i}.")
    return w


def collapse(weights: np.ndarray, *cols: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Merge identical rows of ``cols``, adding their ``weights``.

    Fader and Hardie fit on the distinct (x, t_x, T) patterns with counts; the
    likelihood is the same and the work shrinks by the duplication factor.
    Skipped when more than half of the rows are distinct (continuous times:
    nothing to gain).
    """
    key = distinct_rows(*cols)
    if key is None:
        return list(cols), weights
    inverse, first = key
    return [c[first] for c in cols], np.bincount(inverse, weights=weights, minlength=len(first))


def distinct_rows(*cols: np.ndarray, max_share: float = 0.5) -> tuple[np.ndarray, np.ndarray] | None:
    """(inverse, first) indices of the distinct rows of ``cols``, so that ``cols[j][first][inverse]``
    gives ``cols[j]`` back; None when more than ``max_share`` of the rows are distinct (no gain).
    Hash-based (pandas.factorize), linear time."""
    n = len(cols[0])
    if n < 1000:
        return None
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for c in cols:
        codes, uniq = pd.factorize(c)
        if len(uniq) > max_share * n:
            return None
        if span * len(uniq) >= 2**62:  # keep the combined code inside int64
            key, first_uniq = pd.factorize(key)
            span = len(first_uniq)
        key = key * len(uniq) + codes
        span *= len(uniq)
    key = pd.factorize(key)[0].astype(np.int64)
    m = int(key.max()) + 1
    if m > max_share * n:
        return None
    first = np.empty(m, dtype=np.int64)
    first[key[::-1]] = np.arange(n - 1, -1, -1)
    return key, first


WARM_START_ROWS = 20_000


def _hessian(nll, theta: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Hessian by central differences of the analytic gradient (2k gradient calls)."""
    k = len(theta)
    H = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h
        H[:, i] = (nll(theta + e)[1] - nll(theta - e)[1]) / (2 * h)
    return (H + H.T) / 2


def _newton(nll, theta: np.ndarray, H: np.ndarray, max_steps: int = 30) -> np.ndarray | None:
    """Newton steps with a fixed Hessian ``H`` (from a subset of the data) and step halving.

    Converges linearly at a rate set by how well ``H`` matches the full data's
    Hessian (close for a 20,000-row subset).  Returns None when ``H`` is not
    positive definite or the steps do not settle: the caller falls back to L-BFGS-B.
    """
    try:
        np.linalg.cholesky(H)
        Hinv = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return None
    f, g = nll(theta)
    for _ in range(max_steps):
        step = Hinv @ g
        if not np.all(np.isfinite(step)):
            return None
        if np.max(np.abs(step)) < 1e-9:
            return theta
        t = 1.0
        while True:
            cand = theta - t * step
            f_new, g_new = nll(cand)
            if np.isfinite(f_new) and f_new <= f + 1e-13 * abs(f):
                break
            t /= 2
            if t < 1e-3:
                return None
        theta, f, g = cand, f_new, g_new
    return None


def config_hash(model: str, config: dict) -> str:
    """SHA-256 of the canonical JSON of the model name and its settings."""
    text = json.dumps({"model": model, "config": config}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class CLVModel:
    """Base class of the CLV models (scikit-learn style).

    The constructor stores settings only; ``fit`` returns ``self`` and sets
    ``params_`` (a dict named as the paper names them), ``log_likelihood_``
    (total, unpenalised, at the optimum), ``n_customers_`` and ``n_iter_``.
    Models are saved as JSON (:meth:`save`, :meth:`load`) with a hash of
    their settings so a service can reuse the model of a run and refuse one
    fitted under other settings.
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    _registry: ClassVar[dict[str, type["CLVModel"]]] = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.param_names:
            CLVModel._registry[cls.__name__] = cls

    def __init__(self, penalizer_coef: float = 0.0, time_unit: str = "D", max_iter: int = 1000):
        self.penalizer_coef = penalizer_coef
        self.time_unit = time_unit
        self.max_iter = max_iter

    # -- settings ------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        return {"penalizer_coef": self.penalizer_coef, "time_unit": self.time_unit, "max_iter": self.max_iter}

    def _check_settings(self) -> None:
        p = self.penalizer_coef
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not np.isfinite(p) or p < 0:
            raise ConfigError(f"The 'penalizer_coef' parameter of {type(self).__name__} must be a number "
                              f"in [0, inf). Got {p!r} instead.")
        if self.time_unit not in TIME_UNITS:
            raise ConfigError(f"The 'time_unit' parameter of {type(self).__name__} must be one of "
                              f"{', '.join(map(repr, TIME_UNITS))}. Got {self.time_unit!r} instead.")

    @property
    def config_hash(self) -> str:
        return config_hash(type(self).__name__, self.get_params())

    def __repr__(self) -> str:
        if hasattr(self, "params_"):
            inner = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            return f"{type(self).__name__}(fitted: {inner})"
        inner = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({inner})"

    # -- parameters ----------------------------------------------------------
    @classmethod
    def from_params(cls, **params: float) -> "CLVModel":
        """A model with known parameters (to simulate from, or to score with)."""
        missing = [p for p in cls.param_names if p not in params]
        extra = [p for p in params if p not in cls.param_names]
        if missing or extra:
            raise ConfigError(f"{cls.__name__} takes parameters {', '.join(cls.param_names)}; "
                              f"missing {missing or 'none'}, unknown {extra or 'none'}.")
        bad = [p for p in cls.param_names if not (np.isfinite(params[p]) and params[p] > 0)]
        if bad:
            raise ConfigError(f"{cls.__name__} parameters must be finite numbers > 0; got "
                              + ", ".join(f"{p}={params[p]!r}" for p in bad) + ".")
        m = cls()
        m.params_ = {p: float(params[p]) for p in cls.param_names}
        return m

    def _p(self) -> tuple[float, ...]:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet.",
                                 hint="Call fit(...) first, or build one with from_params(...) or load(path).")
        return tuple(self.params_[p] for p in self.param_names)

    # -- the maximum-likelihood driver ----------------------------------------
    def _maximise(self, make_nll: Callable[[Any], Callable], n_rows: int, x0: np.ndarray,
                  jac: bool | str, what: str) -> np.ndarray:
        """Minimise the mean negative log-likelihood over log-parameters.

        ``make_nll(rows)`` returns the objective on a subset of the rows
        (``slice(None)`` for all).  With an analytic gradient and many rows the
        optimum of an evenly spaced subset of WARM_START_ROWS rows is polished
        on all rows by Newton steps with the subset's Hessian (a handful of
        full passes instead of ~20); L-BFGS-B is the fallback and the plain path.
        Returns the log-parameters at the optimum or raises ModelFitError with
        a hint: a non-finite objective, no convergence, or a parameter that
        ran to 0 or infinity (the data cannot identify it).
        """
        hint = (f"Raise penalizer_coef (now {self.penalizer_coef:g}; try 0.001 to 0.1) to keep the "
                f"parameters finite, or check the {what} for data problems.")
        name = type(self).__name__
        nll = make_nll(slice(None))
        with np.errstate(all="ignore"):
            f0 = nll(x0)
        f0 = f0[0] if jac is True else f0
        if not np.isfinite(f0):
            raise ModelFitError(f"{name}: the log-likelihood is not finite at the start values ({f0}).", hint=hint)
        self.n_iter_ = 0
        if jac is True:
            theta = self._analytic(make_nll, nll, n_rows, x0, name, hint)
        else:
            with np.errstate(all="ignore"):
                res = self._lbfgs(nll, x0, jac)
            self.n_iter_ = int(res.nit)
            grad = getattr(res, "jac", None)
            ok_grad = grad is not None and bool(np.all(np.abs(grad) < 1e-6))
            if not np.isfinite(res.fun) or not np.all(np.isfinite(res.x)):
                raise ModelFitError(f"{name}: the fit ended on a non-finite likelihood ({res.message}).", hint=hint)
            if not (res.success or ok_grad):
                raise ModelFitError(f"{name}: the fit did not converge in {res.nit} iterations "
                                    f"({res.message}).", hint=hint)
            theta = res.x
        p = np.exp(theta)
        lo, hi = _PARAM_RANGE
        off = [f"{n}={v:.3g}" for n, v in zip(self.param_names, p) if not lo < v < hi]
        if off:
            raise ModelFitError(f"{name}: parameter(s) {', '.join(off)} ran to the edge of "
                                f"their range: the {what} cannot identify them.", hint=hint)
        return theta

    def _lbfgs(self, nll, x0, jac):
        # scipy's L-BFGS-B calls BLAS on tiny vectors; its threads only add overhead here
        from scipy.optimize import minimize  # here: fitting only (scoring a stored model needs no optimiser)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return minimize(nll, x0, jac=jac, method="L-BFGS-B",
                            options={"maxiter": self.max_iter, "ftol": 1e-15, "gtol": 1e-9})

    def _analytic(self, make_nll, nll, n_rows, x0, name, hint):
        """BFGS to the optimum, then Newton steps that certify it (step < 1e-9 in log-parameters).

        Many rows: BFGS on an evenly spaced subset, whose Hessian then drives the
        Newton steps on all rows: a handful of full passes instead of ~20-50.
        """
        big = n_rows > 1.5 * WARM_START_ROWS
        first = make_nll(np.linspace(0, n_rows - 1, WARM_START_ROWS).astype(np.int64)) if big else nll
        from scipy.optimize import minimize

        with np.errstate(all="ignore"):
            res = minimize(first, x0, jac=True, method="BFGS", options={"maxiter": self.max_iter, "gtol": 1e-8})
        self.n_iter_ = int(res.nit)
        if not np.all(np.isfinite(res.x)) or not np.isfinite(res.fun):
            raise ModelFitError(f"{name}: the fit ended on a non-finite likelihood ({res.message}).", hint=hint)
        if np.any(np.abs(res.x) > np.log(_PARAM_RANGE[1])):
            return res.x  # ran to an edge: reported by the caller's range check
        with np.errstate(all="ignore"):
            theta = _newton(nll, res.x, _hessian(first, res.x))
        if theta is not None:
            return theta
        with np.errstate(all="ignore"):
            res = self._lbfgs(nll, res.x, True)
        self.n_iter_ += int(res.nit)
        if not np.isfinite(res.fun) or not (res.success or np.all(np.abs(res.jac) < 1e-6)):
            raise ModelFitError(f"{name}: the fit did not converge ({res.message}).", hint=hint)
        return res.x

    # -- persistence ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._p()
        return {
            "format": FORMAT,
            "model": type(self).__name__,
            "params": dict(self.params_),
            "config": self.get_params(),
            "config_hash": self.config_hash,
            "log_likelihood": getattr(self, "log_likelihood_", None),
            "n_customers": getattr(self, "n_customers_", None),
            "shopseg_version": package_version(),
        }

    def save(self, path: str | Path) -> Path:
        """Write the fitted model as JSON to ``path`` (parameters, settings and their hash)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return p

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, expected_config_hash: str | None = None) -> "CLVModel":
        name = d.get("model")
        if d.get("format") != FORMAT or name not in CLVModel._registry:
            raise ConfigError(f"Not a stored shopseg CLV model: expected format {FORMAT!r} and a model among "
                              f"{', '.join(CLVModel._registry)}; got format {d.get('format')!r}, model {name!r}.")
        klass = CLVModel._registry[name]
        if cls is not CLVModel and klass is not cls:
            raise ConfigError(f"Expected a stored {cls.__name__} model; got {name}.")
        stored = d.get("config_hash")
        if stored != config_hash(name, d.get("config", {})):
            raise ConfigError(f"Stored {name} model is inconsistent: its settings do not match its config hash.",
                              hint="The file was edited or damaged; refit the model.")
        if expected_config_hash is not None and stored != expected_config_hash:
            raise ConfigError(f"Stored {name} model was fitted with other settings: config hash "
                              f"{stored[:12]}..., expected {expected_config_hash[:12]}....",
                              hint="Refit the model with the current settings (run the clv stage again).")
        m = klass.from_params(**d["params"])
        for k, v in d.get("config", {}).items():
            setattr(m, k, v)
        if d.get("log_likelihood") is not None:
            m.log_likelihood_ = float(d["log_likelihood"])
        if d.get("n_customers") is not None:
            m.n_customers_ = int(d["n_customers"])
        return m

    @classmethod
    def load(cls, path: str | Path, *, expected_config_hash: str | None = None) -> "CLVModel":
        """Read a model written by :meth:`save`; ``CLVModel.load`` returns whichever model it holds."""
        return cls.from_dict(read_model_json(path, "CLV", "clv"), expected_config_hash=expected_config_hash)
