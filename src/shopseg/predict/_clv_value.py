"""The spend side of the CLV family: the Gamma-Gamma model and the discounted lifetime
value that joins it with a purchase-count model.  Users import from
:mod:`shopseg.predict.clv`.
"""

from __future__ import annotations

import numpy as np

from .._lazy import lazy
from ..errors import ConfigError, DataContractError, ModelFitError
from ._clv_base import CLVModel, as_column, check_rfm, check_weights, collapse, distinct_rows
from ._clv_models import _TransactionModel, _dot, _out

digamma, gammaln = lazy("scipy.special", "digamma", "gammaln")  # at the first call (_clv_models)


class GammaGamma(CLVModel):
    """Gamma-Gamma model of spend per transaction.

    Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note
    025); Colombo & Jiang (1999).  Each transaction's value z ~ Gamma(p, nu),
    nu ~ Gamma(q, v) across customers, independent of the purchase process.
    Fitted on repeat customers only: ``frequency`` x > 0 and their mean repeat
    spend ``monetary_value`` m > 0.  No time scaling: the penaliser acts on
    (p, q, v) directly, as in lifetimes (v is in currency units).

    >>> gg = GammaGamma.from_params(p=6.25, q=3.74, v=15.44)
    >>> round(gg.expected_order_value(0, 0.0), 2)    # nobody repeated: the population mean
    35.22
    >>> round(gg.expected_order_value(2, 40.0), 2)   # p (v + x m) / (p x + q - 1)
    39.14
    """

    param_names = ("p", "q", "v")

    def _xm(self, frequency, monetary_value):
        x = as_column("frequency", frequency)
        m = as_column("monetary_value", monetary_value, len(x))
        return x, m

    def fit(self, frequency, monetary_value, weights=None) -> "GammaGamma":
        self._check_settings()
        x, m = self._xm(frequency, monetary_value)
        w = check_weights(weights, len(x))
        for name, bad, arr in (("frequency", (x <= 0) | (x != np.floor(x)), x), ("monetary_value", m <= 0, m)):
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise DataContractError(
                    f"Column {name!r}: expected values > 0 (the Gamma-Gamma model is fitted on repeat "
                    f"customers with a positive mean repeat spend); got {arr[i]:g} at row {i}.",
                    hint="Keep rows with frequency > 0 and monetary_value > 0 before fitting.")
        if (w > 0).sum() < 2:
            raise ModelFitError("GammaGamma: fewer than 2 repeat customers to fit on.",
                                hint="Use a longer history, or skip the spend model.")
        (x, m), w = collapse(w, x, m)
        self.n_customers_ = int(round(w.sum()))
        pen = float(self.penalizer_coef)

        def loglik(p, q, v, x, m, w):
            px, lm, lx = p * x, np.log(m), np.log(x)
            lv = np.log(x * m + v)
            ll = _dot(w, gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * lm + px * lx
                      - (px + q) * lv)
            d = digamma(px + q)
            g = np.array([
                _dot(w, x * (d - digamma(px) + lm + lx - lv)),
                _dot(w, d - digamma(q) + np.log(v) - lv),
                _dot(w, q / v - (px + q) / (x * m + v)),
            ])
            return ll, g

        def objective(rows):
            xs, ms, ws = x[rows], m[rows], w[rows]
            W = ws.sum()

            def nll(theta):
                pr = np.exp(theta)
                ll, g = loglik(*pr, xs, ms, ws)
                return -ll / W + pen * np.sum(pr**2), -g * pr / W + 2 * pen * pr**2

            return nll

        # start v at the scale of the data so the optimiser starts near the basin
        x0 = np.array([0.0, 0.0, np.log(np.average(m, weights=w))])
        theta = self._maximise(objective, len(x), x0, True, "frequency/monetary_value data")
        p = np.exp(theta)
        self.params_ = dict(zip(self.param_names, map(float, p)))
        self.log_likelihood_ = float(loglik(*p, x, m, w)[0])
        return self

    def conditional_expected_average_profit(self, frequency, monetary_value):
        """E[spend per transaction | x, m] = (p (v + x m)) / (p x + q - 1)  (note 025, eq. 5).

        A weighted mean of the population mean p v / (q - 1) and the
        customer's own mean m; for x = 0 it is the population mean (m is
        ignored).  NaN where p x + q - 1 <= 0 (q <= 1: the mean spend is
        infinite under the model).
        """
        p, q, v = self._p()
        x, m = self._xm(frequency, monetary_value)
        if np.any(x < 0):
            i = int(np.flatnonzero(x < 0)[0])
            raise DataContractError(f"Column 'frequency': expected whole numbers >= 0; got {x[i]:g} at row {i}.")
        m = np.where(x > 0, m, 0.0)
        den = p * x + q - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(den > 0, p * (v + x * m) / den, np.nan)
        return _out(out, frequency, monetary_value)

    expected_order_value = conditional_expected_average_profit

    def sample(self, frequency, random_state=None) -> np.ndarray:
        """Mean repeat spend for customers with the given ``frequency`` (0 where frequency is 0):
        nu ~ Gamma(q, 1/v) per customer; the mean of x Gamma(p, 1/nu) values is Gamma(p x, 1/(nu x))."""
        p, q, v = self._p()
        rng = np.random.default_rng(random_state)
        x = as_column("frequency", frequency)
        nu = rng.gamma(q, 1.0 / v, len(x))
        xs = np.maximum(x, 1)
        return np.where(x > 0, rng.gamma(p * xs, 1.0 / (nu * xs)), 0.0)

    def customer_lifetime_value(self, transaction_model, frequency, recency, T, monetary_value,
                                time: float = 12, discount_rate: float = 0.01, freq: str | None = None):
        """Discounted expected value over ``time`` months (see :func:`customer_lifetime_value`),
        with the spend per purchase from :meth:`conditional_expected_average_profit`."""
        value = self.conditional_expected_average_profit(frequency, monetary_value)
        return customer_lifetime_value(transaction_model, frequency, recency, T, value,
                                       time=time, discount_rate=discount_rate, freq=freq)


MONTH_IN_UNITS = {"D": 30.0, "W": 4.345, "M": 1.0, "H": 720.0}  # lifetimes' month per time unit


def customer_lifetime_value(transaction_model, frequency, recency, T, value_per_purchase,
                            time: float = 12, discount_rate: float = 0.01, freq: str | None = None):
    """Sum over months k = 1..time of value * E[purchases in month k] / (1 + discount_rate)^k.

    As lifetimes' ``_customer_lifetime_value``: ``time`` in months,
    ``discount_rate`` per month, ``freq`` the model's time unit ("D": a month
    is 30 days, "W": 4.345 weeks; default the model's ``time_unit``).  A
    fractional ``time`` ends with a partial month discounted at its end.
    """
    unit = freq or getattr(transaction_model, "time_unit", "D")
    if unit not in MONTH_IN_UNITS:
        raise ConfigError(f"freq must be one of {', '.join(MONTH_IN_UNITS)}. Got {unit!r} instead.")
    if not (time > 0 and discount_rate > -1):
        raise ConfigError(f"time must be > 0 and discount_rate > -1. Got time={time!r}, "
                          f"discount_rate={discount_rate!r} instead.")
    factor = MONTH_IN_UNITS[unit]
    x, tx, t = check_rfm(frequency, recency, T)
    val = as_column("value_per_purchase", value_per_purchase, len(x))
    ends = np.minimum(np.arange(1, int(np.ceil(time)) + 1, dtype=float), time)
    clv = np.zeros(len(x))
    prev = np.zeros(len(x))
    ours = isinstance(transaction_model, _TransactionModel)
    if ours:  # P(alive) does not depend on the horizon, and the rest only on (x, T): once each
        p_alive = np.atleast_1d(transaction_model.conditional_probability_alive(x, tx, t))
        key = distinct_rows(x, t)
        inverse, xu, tu = (None, x, t) if key is None else (key[0], x[key[1]], t[key[1]])
    for k in ends:  # a dozen steps, each vectorised over all customers
        if ours:
            part = transaction_model._if_alive(np.full(len(xu), k * factor), xu, tu, dedupe=False)
            cum = p_alive * (part if inverse is None else part[inverse])
        else:  # any model with the lifetimes method (lifetimes' own fitters, for comparison)
            cum = np.atleast_1d(transaction_model.conditional_expected_number_of_purchases_up_to_time(k * factor, x, tx, t))
        clv += val * (cum - prev) / (1 + discount_rate) ** k
        prev = cum
    return _out(clv, frequency, recency, T, value_per_purchase)
