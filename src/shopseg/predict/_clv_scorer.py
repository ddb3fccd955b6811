"""What a CLV run learned, as one object that scores customers: the batch's composition and the live path's.

:class:`ClvScorer` holds, per prediction (P(alive), expected purchases, CLV), the candidate the backtest chose
(:mod:`shopseg.predict._clv_select`) and the fitted state it needs to score a customer from their own order
summary and total spend, and nothing of the population:

* a transaction model (BG/NBD, MBG/NBD, Pareto/NBD): its parameters;
* the repeat model (:class:`~shopseg.predict._clv_backtest.RepeatModel`): its window and its three LightGBM
  boosters (as LightGBM's text model) or constants;
* the baseline: the shop's typical gap between purchase days at as_of (the rates' prior tenure) and, when the
  run had a validation window, the isotonic calibration of each prediction it gives (the fitted steps) and the
  window's length;
* the value per purchase (the ``expected_order_value`` column and the transaction models' CLV): Gamma-Gamma's
  parameters, or, when Gamma-Gamma was degenerate, each customer's mean spend per purchase day with the shop's
  mean as the fill.

The batch (``clv_table``) scores every buyer with :meth:`ClvScorer.frame` and stores the scorer in the model
store (:meth:`save`: ``run-<id>-clv-<name>.json`` per model, ``run-<id>-clv-choices.json`` naming the model of
each prediction and of the value, with the run's settings in its metadata); the refresh and the live service load
it (:meth:`load`) and score touched customers with the very same code, so a customer scored at the run's as_of gets
the run's row.
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, ShopsegError
from . import _clv_backtest as B
from ._clv_base import TIME_UNITS

WINDOW_CANDIDATES = ("baseline", "repeat")  # candidates that are no transaction model
REPEAT_FORMAT = "shopseg.clv-repeat/1"
BASELINE_FORMAT = "shopseg.clv-baseline/1"
MEANSPEND_FORMAT = "shopseg.clv-meanspend/1"
SETTINGS = ("horizon_days", "discount_rate_annual", "min_p_alive", "time_unit")


def isotonic_steps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fitted steps (thresholds, values) of an increasing isotonic regression of ``y`` on ``x``
    (scikit-learn's), what :func:`isotonic_predict` maps a score with."""
    iso = B.isotonic(x, y)
    return np.asarray(iso.X_thresholds_, float), np.asarray(iso.y_thresholds_, float)


def isotonic_predict(steps: tuple[np.ndarray, np.ndarray], score: np.ndarray) -> np.ndarray:
    """The isotonic map at ``score``: linear between the steps, clipped at the ends (scikit-learn's
    ``out_of_bounds="clip"``).

    >>> isotonic_predict((np.array([0.0, 1.0]), np.array([0.2, 0.6])), np.array([-1.0, 0.5, 3.0])).tolist()
    [0.2, 0.4, 0.6]
    """
    xs, ys = steps
    s = np.asarray(score, float)
    if len(xs) == 1:
        return np.full(s.shape, ys[0])
    return np.interp(np.clip(s, xs[0], xs[-1]), xs, ys)


def next_order_at(p_alive: np.ndarray, expected_horizon: np.ndarray, ts: pd.Timestamp,
                  horizon_days: float) -> np.ndarray:
    """as_of plus the median wait to the next purchase of a customer still alive, from expected purchases that no
    transaction model gave (the repeat model or the baseline): alive, the customer buys at ``expected purchases /
    (p_alive x horizon)`` a day, and a Poisson process at rate ``l`` waits ``ln 2 / l`` in the median. No date
    (NaT) when the rate is 0 or the wait is past ten years."""
    alive = np.clip(np.asarray(p_alive, float), 1e-9, 1.0)
    rate = np.maximum(np.asarray(expected_horizon, float), 0.0) / (alive * float(horizon_days))
    with np.errstate(divide="ignore"):
        wait = np.where(rate > 0, np.log(2.0) / rate, np.inf)
    wait = np.where(wait <= 3650.0, wait, np.nan)
    return (pd.Timestamp(ts) + pd.to_timedelta(wait, unit="D")).as_unit("us").to_numpy()


@dataclass
class ClvScorer:
    """The models of one CLV run, per prediction, and the settings they score with (module docstring)."""

    choices: dict[str, str]  # prediction -> "bgnbd" / "mbgnbd" / "paretonbd" / "repeat" / "baseline"
    settings: dict  # horizon_days, discount_rate_annual, min_p_alive, time_unit
    value_name: str = "gammagamma"  # or "meanspend"
    tms: dict = field(default_factory=dict)  # transaction model name -> fitted model
    vm: object | None = None  # Gamma-Gamma, when value_name is "gammagamma"
    mean_fill: float = 0.0  # meanspend: the value of a customer without a positive mean spend
    repeat: B.RepeatModel | None = None
    gap_days: float | None = None  # the baseline's typical gap between purchase days at as_of
    window_days: float | None = None  # the baseline's calibration window (None: uncalibrated)
    calibration: dict = field(default_factory=dict)  # prediction -> isotonic steps (baseline predictions)
    level: dict = field(default_factory=dict)  # prediction -> factor of the uncalibrated heuristic (window_level)

    # -- what it needs --------------------------------------------------------------------------------
    @property
    def needs_spend(self) -> bool:
        """Whether scoring reads each customer's total spend (the repeat model, the baseline's CLV, mean spend)."""
        return (self.value_name != "gammagamma" or "repeat" in self.choices.values()
                or self.choices.get("clv") == "baseline")

    @property
    def label(self) -> str:
        """The ``clv`` table's ``model`` text: ``p_alive=...; purchases=...; clv=...``, naming the model of every
        figure of the row: a transaction model's CLV as ``clv=bgnbd+gammagamma`` (its purchases x the value model's
        order value), a window candidate's with ``; order_value=gammagamma`` after it (the order value is not part
        of that CLV: views.customer.clv_basis)."""
        c = self.choices
        if c["clv"] in WINDOW_CANDIDATES:
            clv_src = f"{c['clv']}; order_value={self.value_name}"
        else:
            clv_src = f"{c['clv']}+{self.value_name}"
        return f"p_alive={c['p_alive']}; purchases={c['expected_purchases']}; clv={clv_src}"

    def _value(self, f: np.ndarray, m: np.ndarray, spend: np.ndarray | None) -> np.ndarray:
        from ._clv_select import gamma_gamma_value, value_of_mean

        if self.value_name == "gammagamma":
            return gamma_gamma_value(self.vm, f, m)
        return value_of_mean(np.asarray(spend, float) / (f + 1), self.mean_fill)

    # -- scoring --------------------------------------------------------------------------------------
    def columns(self, f, r, T, m, spend, as_of) -> dict[str, np.ndarray]:
        """The predicted ``clv`` columns (arrays) for customers with order summary (frequency, recency, T, mean
        spend, in the settings' time unit) and total spend (``spend``; read only when :attr:`needs_spend`):
        the transaction model of the first of expected purchases, CLV and P(alive) that has one gives the
        columns, then each prediction is set from its own candidate; the next-order date comes from the
        expected-purchases model (or, from the repeat model or the baseline, the median wait at their rate) and
        is left out below ``min_p_alive``."""
        from ._clv_select import tm_prediction
        from ._clv_value import GammaGamma
        from .clv import _timestamp, clv_columns

        s = self.settings
        unit, H, rate = s["time_unit"], float(s["horizon_days"]), float(s["discount_rate_annual"])
        days, min_alive = TIME_UNITS[unit], float(s["min_p_alive"])
        ts = _timestamp(as_of)
        f, r, T, m = (np.asarray(x, float) for x in (f, r, T, m))
        n = len(f)
        value = self._value(f, m, spend)
        ch = self.choices
        ref = next((ch[p] for p in ("expected_purchases", "clv", "p_alive") if ch[p] not in WINDOW_CANDIDATES), None)
        cols: dict[str, np.ndarray] = {"frequency": f, "recency": r, "T": T}
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if ref is not None:
                vm = self.vm if self.vm is not None else GammaGamma.from_params(p=1.0, q=2.0, v=1.0)
                # no cut here: the date is left out below min_p_alive of the P(alive) shown (below), not of the
                # reference model's own, which another candidate may replace (CDNOW: P(alive) 0.68 from the
                # repeat model had no date because BG/NBD's P(alive) of the same buyer was under 0.5)
                cols.update(clv_columns(f, r, T, m, self.tms[ref], vm, ts, horizon_days=H,
                                        discount_rate_annual=rate, min_p_alive=0.0))
            else:
                cols["expected_next_order_at"] = np.full(n, np.datetime64("NaT", "us"))
            cols["expected_order_value"] = value
            base = (B.baseline_scores({"frequency": f, "recency": r, "T": T}, spend if spend is not None
                                      else np.zeros(n), 1.0, days, gap=self.gap_days)
                    if "baseline" in ch.values() else None)  # per day of window
            X = B.repeat_features({"frequency": f, "recency": r, "T": T, "monetary_value": m}, spend, days) \
                if "repeat" in ch.values() else None
            discount_mid = (1 + rate) ** (-H / 2 / 365.0)  # window candidates' spend, discounted at the middle
            for pred, cand in ch.items():
                if pred not in B.PREDICTIONS:
                    continue
                if cand == "repeat":
                    rm = self.repeat
                    scale = 1.0 / rm.window_days
                    if pred == "p_alive":
                        cols["p_alive"] = np.clip(rm.predict(X, "bought"), 0.0, 1.0)
                    elif pred == "expected_purchases":
                        per_day = np.maximum(rm.predict(X, "days"), 0.0) * scale
                        cols["expected_purchases_90d"] = per_day * 90.0
                        cols["expected_purchases_horizon"] = per_day * H
                    else:
                        cols["clv"] = np.maximum(rm.predict(X, "spend"), 0.0) * scale * H * discount_mid
                elif cand == "baseline":
                    if pred == "p_alive":
                        cols["p_alive"] = np.clip(self._baseline(base, pred, 1.0), 0.0, 1.0)
                    elif pred == "expected_purchases":
                        cols["expected_purchases_90d"] = self._baseline(base, pred, 90.0)
                        cols["expected_purchases_horizon"] = self._baseline(base, pred, H)
                    else:
                        cols["clv"] = self._baseline(base, pred, H) * discount_mid
                else:
                    tm_prediction(cols, pred, self.tms[cand], value, H, rate, unit)
            if ch["expected_purchases"] in WINDOW_CANDIDATES:
                cols["expected_next_order_at"] = next_order_at(cols["p_alive"], cols["expected_purchases_horizon"],
                                                               ts, H)
        nxt = np.asarray(cols["expected_next_order_at"], dtype="datetime64[us]")
        cols["expected_next_order_at"] = np.where(cols["p_alive"] >= min_alive, nxt, np.datetime64("NaT", "us"))
        for k in ("frequency", "recency", "T"):
            del cols[k]
        return cols

    def _baseline(self, base: dict, pred: str, horizon: float) -> np.ndarray:
        """The baseline's prediction ``pred`` over ``horizon`` days: the window's isotonic map of its score, or,
        without a window, the heuristics themselves (P(alive) exp(-silence x rate), the rates x horizon), times
        their factor to the level of a window too lopsided to rank on (:attr:`level`; 1 without)."""
        if self.window_days is None:
            rate = base["expected_purchases"]  # purchase days per day
            k = float(self.level.get(pred, 1.0))
            if pred == "p_alive":
                return np.exp(base["p_alive"] * rate) * k
            if pred == "expected_purchases":
                return rate * horizon * k
            return base["clv"] * horizon * k
        steps = self.calibration[pred]
        if pred == "p_alive":
            return isotonic_predict(steps, base[pred])
        # rates per day at as_of, mapped to the window's outcome, then scaled to the horizon
        W = self.window_days
        return isotonic_predict(steps, base[pred] * W) * horizon / W

    def frame(self, summary: pd.DataFrame, spend: np.ndarray | None, as_of) -> pd.DataFrame:
        """The ``clv`` table's rows (without run_id) for the customers of ``summary``
        (:func:`~shopseg.predict.clv.summary_from_orders`), ``spend`` their total spend in the same order."""
        cols = None
        if len(summary):
            cols = self.columns(*(summary[k].to_numpy(float) for k in ("frequency", "recency", "T", "monetary_value")),
                                spend, as_of)
        return self.rows(summary, cols)

    def rows(self, summary: pd.DataFrame, cols: dict | None) -> pd.DataFrame:
        """The ``clv`` table's rows of ``summary``'s customers from :meth:`columns`' arrays (None: no buyer)."""
        from .clv import clv_rows

        return clv_rows(summary, cols, float(self.settings["horizon_days"]), self.label)

    # -- the model store ------------------------------------------------------------------------------
    def save(self, ws, run_id: int, first: str | None = None) -> list:
        """Store the scorer as run ``run_id``'s models (``run-<id>-clv-<name>.json``: each transaction model used,
        ``first`` of them first, ``gammagamma`` second; or ``meanspend``; ``repeat``; ``baseline``; then
        ``choices``, naming the model of each prediction and the value model, the settings in its metadata file).
        Returns the paths."""
        from .. import models

        def keep(name: str, doc: dict, config_hash: str | None = None, meta: dict | None = None):
            return models.save(ws, f"clv-{name}", run_id, {".json": json.dumps(doc, indent=2, sort_keys=True) + "\n"},
                               meta, config_hash=config_hash)

        fitted = [(name, self.tms[name]) for name in sorted(self.tms, key=lambda x: (x != first, x))]
        if self.vm is not None:  # second, after the first transaction model (CLVResult.model_paths' order)
            fitted.insert(min(1, len(fitted)), ("gammagamma", self.vm))
        paths = [keep(name, m.to_dict(), m.config_hash) for name, m in fitted]
        if self.value_name == "meanspend":
            paths.append(keep("meanspend", {"format": MEANSPEND_FORMAT, "fill": float(self.mean_fill)}))
        if self.repeat is not None:
            paths.append(keep("repeat", repeat_to_dict(self.repeat)))
        if "baseline" in self.choices.values():
            paths.append(keep("baseline", {
                "format": BASELINE_FORMAT, "gap_days": self.gap_days, "window_days": self.window_days,
                "calibration": {p: {"x": s[0].tolist(), "y": s[1].tolist()} for p, s in self.calibration.items()},
                **({"level": self.level} if self.level else {})}))
        # names only in the file (a shopseg that knew transaction models only loads each name as one, and says it
        # cannot when the name is another model's); the settings in its metadata
        paths.append(keep("choices", {**self.choices, "value": self.value_name},
                          meta={"settings": {k: self.settings[k] for k in SETTINGS}}))
        return paths

    @classmethod
    def load(cls, ws, run_id: int, config_clv: dict) -> ClvScorer:
        """The scorer run ``run_id`` stored (:meth:`save`).  A run stored before the repeat model and the baseline
        were (its ``choices`` without ``value``) has transaction models and Gamma-Gamma only; one stored before
        ``choices`` used ``clv.model`` for all three.  ``config_clv``: the settings of a run that stored none.
        Raises NotFittedError / ConfigError when a file is missing or damaged: the caller says what stands."""
        from .. import models
        from ._store import read_model_json
        from .clv import CLVModel

        def read(name: str) -> dict:
            models.require(ws, f"clv-{name}", run_id)
            return read_model_json(models.path(ws, f"clv-{name}", run_id), "CLV", "clv")

        if models.exists(ws, "clv-choices", run_id):
            doc = read("choices")
        else:
            doc = {p: config_clv["model"] for p in B.PREDICTIONS}
        if any(p not in doc for p in B.PREDICTIONS):
            raise ConfigError(f"Stored CLV model 'choices' of run {run_id} does not name the model of each "
                              f"prediction ({', '.join(B.PREDICTIONS)}).", hint="Run `shopseg run` to fit it afresh.")
        choices = {p: doc[p] for p in B.PREDICTIONS}
        stored = models.require(ws, "clv-choices", run_id).get("settings") if "value" in doc else None
        settings = {**{k: config_clv[k] for k in SETTINGS}, **(stored or {})}
        value = doc.get("value", "gammagamma")
        sc = cls(choices, settings, value_name=value)
        sc.tms = {n: CLVModel.load(models.path(ws, f"clv-{n}", run_id)) for n in set(choices.values())
                  if n not in WINDOW_CANDIDATES}
        if value == "gammagamma":
            sc.vm = CLVModel.load(models.path(ws, "clv-gammagamma", run_id))
        else:
            sc.mean_fill = float(_checked(read("meanspend"), MEANSPEND_FORMAT, "meanspend")["fill"])
        if "repeat" in choices.values():
            sc.repeat = repeat_from_dict(_checked(read("repeat"), REPEAT_FORMAT, "repeat"))
        if "baseline" in choices.values():
            b = _checked(read("baseline"), BASELINE_FORMAT, "baseline")
            sc.gap_days, sc.window_days = b["gap_days"], b["window_days"]
            sc.calibration = {p: (np.asarray(s["x"], float), np.asarray(s["y"], float))
                              for p, s in b["calibration"].items()}
            sc.level = {p: float(k) for p, k in b.get("level", {}).items()}
        return sc


def _checked(doc: dict, fmt: str, name: str) -> dict:
    if doc.get("format") != fmt:
        raise ConfigError(f"Stored CLV model {name!r} is not a {fmt} document (format {doc.get('format')!r}).",
                          hint="Run `shopseg run` to fit it afresh.")
    return doc


def repeat_to_dict(rm: B.RepeatModel) -> dict:
    """The repeat model as JSON: its window, settings and each of its three models as LightGBM's text model
    (``Booster.model_to_string``) or the constant it predicts."""
    out = {}
    for name, m in rm.models_.items():
        out[name] = {"constant": float(m)} if isinstance(m, float) else {"lightgbm": m.text}
    return {"format": REPEAT_FORMAT, "window_days": float(rm.window_days), "random_state": int(rm.random_state),
            "n_estimators": int(rm.n_estimators), "models": out}


def repeat_from_dict(d: dict) -> B.RepeatModel:
    """The repeat model :func:`repeat_to_dict` wrote (its trees read back from LightGBM's text, scored in numpy)."""
    rm = B.RepeatModel(d["window_days"], random_state=d["random_state"], n_estimators=d["n_estimators"])
    rm.models_ = {name: float(m["constant"]) if "constant" in m else B.TreeOutput(m["lightgbm"])
                  for name, m in d["models"].items()}
    return rm


def load_stored(ws, run_id: int, config_clv: dict) -> tuple[ClvScorer | None, str | None]:
    """(the scorer run ``run_id`` stored, None) or (None, why not): a run of an older shopseg stored no model when
    the repeat model or the baseline won a prediction; a file may be damaged.

    Loaded once per run's files (~20 ms): the service's /health note (``serve._state.clv_note``) and its live
    re-score (``predict._score.clv_state``) share the answer; a file written, replaced or removed since (its
    size and time) loads again.  The scorer is not changed by scoring, so sharing it is safe."""
    folder = Path(ws.models_dir)
    key = (str(folder.resolve()), int(run_id), json.dumps(config_clv, sort_keys=True, default=str))
    with _LOADED_LOCK:
        stamp = _files_stamp(folder, int(run_id))
        hit = _LOADED.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        got = _load_stored(ws, run_id, config_clv)
        _LOADED[key] = (stamp, got)
        while len(_LOADED) > _LOADED_MAX:  # the oldest first: a process serves one run at a time
            _LOADED.pop(next(iter(_LOADED)))
        return got


# (models folder, run, settings) -> (the run's CLV files' stamp, load_stored's answer), the last few
_LOADED: dict[tuple, tuple] = {}
_LOADED_LOCK = threading.Lock()
_LOADED_MAX = 4


def _files_stamp(folder: Path, run_id: int) -> tuple:
    """(name, size, modification time in ns) of each stored CLV file of run ``run_id``."""
    out = []
    for p in sorted(folder.glob(f"run-{run_id}-clv-*")):
        try:
            st = p.stat()
        except FileNotFoundError:  # removed while listed
            continue
        out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _load_stored(ws, run_id: int, config_clv: dict) -> tuple[ClvScorer | None, str | None]:
    try:
        return ClvScorer.load(ws, run_id, config_clv), None
    except ShopsegError as e:
        return None, (f"run {run_id}'s CLV is not re-scored ({e.message.splitlines()[0]}): its clv rows stand until "
                      f"a full run (a run by an older shopseg stored no CLV model when the repeat model or the "
                      f"baseline won, the Spark engine none)")


__all__ = ["ClvScorer", "isotonic_predict", "isotonic_steps", "load_stored", "next_order_at"]
