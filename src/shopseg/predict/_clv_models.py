"""The purchase-count models of the CLV family: BG/NBD and Pareto/NBD.

Everything is vectorised numpy/scipy; fits are maximum likelihood over the
logarithms of the parameters.  Users import from :mod:`shopseg.predict.clv`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._lazy import lazy
from ..errors import ConfigError, DataContractError, ModelFitError
from ._clv_base import TIME_UNITS, CLVModel, as_column, check_rfm, check_weights, collapse, distinct_rows

# SciPy's special functions at their first call (a fit or a score): a process that only imports the models (an
# incremental refresh whose CLV rows are the base run's) does not load scipy.special (~0.15 s)
digamma, expit, gammaln, hyp2f1 = lazy("scipy.special", "digamma", "expit", "gammaln", "hyp2f1")


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """Weighted sum without BLAS (its threads cost more than they save on vectors)."""
    return float(np.einsum("i,i->", u, v))


def _out(arr: np.ndarray, *inputs):
    """A float when every input was a scalar, else the array."""
    return float(arr[0]) if all(np.ndim(v) == 0 for v in inputs) else arr


def _horizon_and_rfm(t, frequency, recency, T):
    """Broadcast a horizon ``t`` against the customers (one horizon for all, or one per customer,
    or several horizons for one customer) and validate both."""
    sizes = {"t": np.size(t), "frequency": np.size(frequency), "recency": np.size(recency), "T": np.size(T)}
    n = max(sizes.values())
    for name, size in sizes.items():
        if size not in (1, n):
            raise DataContractError(f"Column {name!r}: expected 1 or {n} values; got {size}.")
    cols = [np.broadcast_to(np.asarray(v, dtype=float).reshape(-1), n) for v in (frequency, recency, T)]
    x, tx, T_ = check_rfm(*cols)
    h = as_column("t", np.broadcast_to(np.asarray(t, dtype=float).reshape(-1), n), n)
    if np.any(h < 0):
        raise DataContractError(f"Argument 't': expected a horizon >= 0; got {h.min():g}.")
    return h, x, tx, T_


def _no_repeaters(name: str) -> ModelFitError:
    return ModelFitError(
        f"{name}: nobody made a repeat purchase (every frequency is 0), so the purchase and dropout "
        "rates cannot be estimated.",
        hint="Use a longer history (a later as_of or data from further back), or check that "
        "returning customers keep the same customer_id.",
    )


class _TransactionModel(CLVModel):
    """What BG/NBD and Pareto/NBD share: both have a Gamma(r, alpha) purchase rate."""

    def _prepare(self, frequency, recency, T, weights):
        self._check_settings()
        x, tx, t = check_rfm(frequency, recency, T)
        w = check_weights(weights, len(x))
        if len(x) == 0 or w.sum() <= 0:
            raise ModelFitError(f"{type(self).__name__}: no customers to fit on.",
                                hint="Check as_of: are there sales on or before it?")
        if not np.any((x > 0) & (w > 0)):
            raise _no_repeaters(type(self).__name__)
        if t.max() <= 0:
            raise ModelFitError(f"{type(self).__name__}: every customer's T is 0 (all first purchases fall "
                                "on as_of): there is no time to observe.", hint="Use a later as_of.")
        (x, tx, t), w = collapse(w, x, tx, t)
        self.n_customers_ = int(round(w.sum()))
        return x, tx, t, w

    def conditional_probability_alive(self, frequency, recency, T):
        raise NotImplementedError

    def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T):
        """E[purchases in (T, T+t] | x, t_x, T] = P(alive) x E[purchases | alive at T] (see subclasses)."""
        h, x, tx, T_ = _horizon_and_rfm(t, frequency, recency, T)
        p_alive = np.atleast_1d(self.conditional_probability_alive(x, tx, T_))
        return _out(p_alive * self._if_alive(h, x, T_), t, frequency, recency, T)

    def _if_alive(self, h: np.ndarray, x: np.ndarray, T: np.ndarray, dedupe: bool = True) -> np.ndarray:
        """E[purchases in (T, T+h] | x, T, alive at T]; ``dedupe`` evaluates it once per distinct row."""
        raise NotImplementedError

    def conditional_probability_of_purchase(self, t, frequency, recency, T):
        """P(at least one purchase in (T, T+t] | x, t_x, T) = P(alive) x (1 - P(none in t | alive at T)): what
        P(alive) says about the next ``t`` (model time units), which a window's "bought or not" can check (the CLV
        stage's calibration check of P(alive), docs/clv.md).  Given alive at T the purchase rate's posterior is
        Gamma(r + x, alpha + T) (see subclasses for the dropout).

        >>> from shopseg.predict.clv import BGNBD
        >>> m = BGNBD.from_params(r=1.0, alpha=10.0, a=1.0, b=1.0)
        >>> round(m.conditional_probability_of_purchase(10.0, 0.0, 0.0, 10.0), 6)  # 1 x (1 - (20 / 30) ^ 1)
        0.333333
        """
        h, x, tx, T_ = _horizon_and_rfm(t, frequency, recency, T)
        p_alive = np.atleast_1d(self.conditional_probability_alive(x, tx, T_))
        return _out(p_alive * -np.expm1(self._log_none_if_alive(h, x, T_)), t, frequency, recency, T)

    def _log_none_if_alive(self, h: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """ln P(no purchase in (T, T+h] | x, T, alive at T)."""
        raise NotImplementedError

    def expected_purchases(self, t, frequency, recency, T):
        """Short name of :meth:`conditional_expected_number_of_purchases_up_to_time`."""
        return self.conditional_expected_number_of_purchases_up_to_time(t, frequency, recency, T)

    predict = expected_purchases  # the name lifetimes' CLV helper calls

    def expected_time_to_next_purchase(self, frequency, recency, T, statistic: str = "median"):
        """Time from T to the next purchase of a customer who is still alive, in model time units.

        Given alive at T, the purchase rate's posterior is Gamma(r + x, alpha + T)
        and the wait is exponential given the rate, so the wait is Lomax
        (Pareto II) with shape r + x and scale alpha + T: median
        (alpha + T)(2^(1/(r+x)) - 1); mean (alpha + T)/(r + x - 1), infinite
        when r + x <= 1.  Exact for BG/NBD (dropout happens only at a
        purchase); for Pareto/NBD it ignores dropout during the wait.  The
        approximation is to condition on being alive: weigh it with
        :meth:`conditional_probability_alive`.
        """
        r, alpha = self._p()[:2]
        x, _, t = check_rfm(frequency, recency, T)
        k, scale = r + x, alpha + t
        if statistic == "median":
            out = scale * np.expm1(np.log(2.0) / k)
        elif statistic == "mean":
            with np.errstate(divide="ignore"):
                out = np.where(k > 1, scale / np.maximum(k - 1, 1e-300), np.inf)
        else:
            raise ConfigError(f"statistic must be 'median' or 'mean'. Got {statistic!r} instead.")
        return _out(out, frequency, recency, T)

    def expected_next_purchase_at(self, frequency, recency, T, as_of, statistic: str = "median"):
        """``as_of`` plus :meth:`expected_time_to_next_purchase`, as timestamps (unit from ``time_unit``)."""
        wait = np.atleast_1d(self.expected_time_to_next_purchase(frequency, recency, T, statistic))
        days = np.where(np.isfinite(wait), wait * TIME_UNITS[self.time_unit], np.nan)
        # to the second: a forecast has no use for nanoseconds; waits capped at 100 years
        return pd.Timestamp(as_of) + pd.to_timedelta(np.minimum(days, 36500.0), unit="D").round("s")


class BGNBD(_TransactionModel):
    """BG/NBD: "buy till you die" with dropout only right after a purchase.

    Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An
    Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284.
    While alive a customer buys as a Poisson process with rate lambda ~
    Gamma(r, alpha); after each repeat purchase they drop out with
    probability p ~ Beta(a, b).  Inputs are the literature's summary:
    ``frequency`` (repeat purchases x), ``recency`` (t_x, age at the last
    one) and ``T`` (age at the end of observation), in one time unit.

    Fitted by maximum likelihood (section 7 of the paper) over log
    parameters, on time scaled so that max T = 1 (as lifetimes does; the
    penaliser, ``penalizer_coef * sum(params**2)`` added to the mean negative
    log-likelihood, acts on those scaled parameters, so its values mean the
    same as in lifetimes).  Identical (x, t_x, T) rows are fitted once with a
    weight.

    >>> m = BGNBD.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> round(m.conditional_probability_alive(2, 30.43, 38.86), 4)
    0.7266
    >>> m.conditional_probability_alive(0, 0.0, 38.86)
    1.0
    """

    param_names = ("r", "alpha", "a", "b")

    def fit(self, frequency, recency, T, weights=None) -> "BGNBD":
        x, tx, t, w = self._prepare(frequency, recency, T, weights)
        scale = 1.0 / t.max()
        pen = float(self.penalizer_coef)

        def objective(sel):
            data = self._data(x[sel], tx[sel] * scale, t[sel] * scale, w[sel])
            W = data["W"]

            def nll(theta):
                p = np.exp(theta)
                ll, g = self._loglik(p, data)
                return -ll / W + pen * np.sum(p**2), -g * p / W + 2 * pen * p**2

            return nll

        theta = self._maximise(objective, len(x), np.zeros(4), True, "frequency/recency/T summary")
        p = np.exp(theta)
        p[1] /= scale
        self.params_ = dict(zip(self.param_names, map(float, p)))
        self.log_likelihood_ = float(self._loglik(p, self._data(x, tx, t, w))[0])
        return self

    @staticmethod
    def _data(x, tx, t, w):
        xu, inv = np.unique(x, return_inverse=True)
        rep = x > 0
        return {"xu": xu, "Wx": np.bincount(inv, weights=w), "x": x, "t": t, "w": w, "wx": w * x,
                "W": w.sum(), "xr": x[rep], "txr": tx[rep], "tr": t[rep], "wr": w[rep]}

    @staticmethod
    def _loglik(params, d):
        """Total weighted log-likelihood and its gradient in (r, alpha, a, b).

        Per customer: ln L = A1 + A2 + ln(exp(A3) + [x > 0] exp(A4)) with
        A1 = lnG(r+x) - lnG(r) + r ln(alpha), A2 = lnB(a, b+x) - lnB(a, b),
        A3 = -(r+x) ln(alpha+T), A4 = ln a - ln(b+x-1) - (r+x) ln(alpha+t_x);
        computed as A3 + softplus(A4 - A3).  Terms that depend on x alone are
        evaluated once per distinct x.
        """
        r, alpha, a, b = params
        xu, Wx = d["xu"], d["Wx"]
        W = d["W"]
        # A1 + A2, per distinct x
        c = (gammaln(r + xu) - gammaln(r) + gammaln(a + b) + gammaln(b + xu) - gammaln(b) - gammaln(a + b + xu))
        ll = _dot(Wx, c) + W * r * np.log(alpha)
        dr = _dot(Wx, digamma(r + xu) - digamma(r)) + W * np.log(alpha)
        dal = W * r / alpha
        da = _dot(Wx, digamma(a + b) - digamma(a + b + xu))
        db = _dot(Wx, digamma(b + xu) - digamma(b) + digamma(a + b) - digamma(a + b + xu))
        # A3 for everyone
        lT = np.log(alpha + d["t"])
        ll -= r * _dot(d["w"], lT) + _dot(d["wx"], lT)
        dr -= _dot(d["w"], lT)
        dal -= _dot(r * d["w"] + d["wx"], 1.0 / (alpha + d["t"]))
        # softplus(A4 - A3) for repeaters
        xr, txr, tr, wr = d["xr"], d["txr"], d["tr"], d["wr"]
        if len(xr):
            dl = np.log(alpha + txr) - np.log(alpha + tr)
            bx = b + xr - 1
            D = np.log(a) - np.log(bx) - (r + xr) * dl
            ll += _dot(wr, np.logaddexp(0.0, D))
            ws = wr * expit(D)
            dr -= _dot(ws, dl)
            dal -= _dot(ws, (r + xr) * (1.0 / (alpha + txr) - 1.0 / (alpha + tr)))
            da += ws.sum() / a
            db -= _dot(ws, 1.0 / bx)
        return ll, np.array([dr, dal, da, db])

    def conditional_probability_alive(self, frequency, recency, T):
        """P(alive at T | x, t_x, T); 1 for customers with no repeat purchase.

        1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))  (Fader,
        Hardie & Lee 2008 note "Computing P(alive) using the BG/NBD model").
        """
        r, alpha, a, b = self._p()
        x, tx, t = check_rfm(frequency, recency, T)
        log_div = (r + x) * (np.log(alpha + t) - np.log(alpha + tx)) + np.log(a) - np.log(b + np.maximum(x, 1) - 1)
        return _out(np.where(x == 0, 1.0, expit(-log_div)), frequency, recency, T)

    def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T):
        """E[purchases in (T, T+t] | x, t_x, T], equation (10) of the paper.

        (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)] P(alive),
        z = t/(alpha+T+t).  The bracket is evaluated after Euler's transformation
        as 1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), which does not overflow
        for heavy buyers.  Undefined at exactly a = 1.
        """
        return super().conditional_expected_number_of_purchases_up_to_time(t, frequency, recency, T)

    def _if_alive(self, h, x, T, dedupe: bool = True):
        r, alpha, a, b = self._p()
        # The hypergeometric part depends on (x, T, t) only: with day-resolution data far fewer
        # combinations than customers, so evaluate it once per combination.
        key = distinct_rows(x, T, h) if dedupe else None
        xu, Tu, hu = (x, T, h) if key is None else (x[key[1]], T[key[1]], h[key[1]])
        z = hu / (alpha + Tu + hu)
        part = (a + b + xu - 1) / (a - 1) * (1.0 - (1.0 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + xu - 1, z))
        return part if key is None else part[key[0]]

    def _log_none_if_alive(self, h, x, T):
        # dropout only right after a purchase: alive at T, none in h is exp(-lambda h), lambda ~ Gamma(r+x, alpha+T)
        r, alpha = self._p()[:2]
        return -(r + x) * np.log1p(h / (alpha + T))

    def expected_number_of_purchases_up_to_time(self, t):
        """E[X(t)] for a customer just acquired (equation 9): the conditional one at x = t_x = T = 0."""
        return self.conditional_expected_number_of_purchases_up_to_time(t, 0.0 * np.asarray(t), 0.0, 0.0)

    def sample(self, n: int, T, random_state=None) -> pd.DataFrame:
        """Draw ``n`` customers' (frequency, recency, T) from the model with ``params_``.

        lambda ~ Gamma(r, 1/alpha), p ~ Beta(a, b); the customer dies after the
        N-th repeat purchase, N ~ Geometric(p); M ~ Poisson(lambda T) purchases
        fall in (0, T]; x = min(N, M) and t_x is the x-th of M uniform order
        statistics on (0, T), i.e. T * Beta(x, M - x + 1).
        """
        r, alpha, a, b = self._p()
        rng = np.random.default_rng(random_state)
        t = as_column("T", T, n)
        lam = rng.gamma(r, 1.0 / alpha, n)
        p = np.clip(rng.beta(a, b, n), 1e-12, 1.0)
        N = rng.geometric(p)
        M = rng.poisson(lam * t)
        x = np.minimum(N, M)
        tx = np.where(x > 0, t * rng.beta(np.maximum(x, 1), M - x + 1), 0.0)
        return pd.DataFrame({"frequency": x.astype(float), "recency": tx, "T": t})


class MBGNBD(BGNBD):
    """MBG/NBD: BG/NBD where a customer may also drop out right after the first purchase.

    Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison
    of models for customer base analysis", International Journal of Research
    in Marketing 24(3).  Same Gamma(r, alpha) purchase rate and Beta(a, b)
    dropout as BG/NBD, but the dropout chance also applies at time 0, so a
    customer who never came back is not certain to be alive (BG/NBD gives
    them P(alive) = 1).  Per customer, with B the Beta function:
    L = B(a, b+x+1)/B(a, b) G(r+x) alpha^r / G(r) [(alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x)];
    P(alive) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)); the conditional expectation
    is lifetimes' ``ModifiedBetaGeometricNBDFitter`` formula after Euler's transformation.
    Fitted with the analytic gradient (as BG/NBD), on time scaled to max T = 1.

    >>> m = MBGNBD.from_params(r=0.5, alpha=10.0, a=0.5, b=2.0)
    >>> round(m.conditional_probability_alive(0, 0.0, 10.0), 4)   # 1 / (1 + 0.25 * 2^0.5)
    0.7388
    """

    def fit(self, frequency, recency, T, weights=None) -> "MBGNBD":
        x, tx, t, w = self._prepare(frequency, recency, T, weights)
        scale = 1.0 / t.max()
        pen = float(self.penalizer_coef)

        def objective(sel):
            xs, txs, ts, ws = x[sel], tx[sel] * scale, t[sel] * scale, w[sel]
            W = ws.sum()

            def nll(theta):
                p = np.exp(theta)
                ll, g = self._loglik_grad(p, xs, txs, ts, ws)
                return -ll / W + pen * np.sum(p**2), -g * p / W + 2 * pen * p**2

            return nll

        theta = self._maximise(objective, len(x), np.zeros(4), True, "frequency/recency/T summary")
        p = np.exp(theta)
        p[1] /= scale
        self.params_ = dict(zip(self.param_names, map(float, p)))
        self.log_likelihood_ = _dot(w, self._loglik_rows(p, x, tx, t))
        return self

    @classmethod
    def _loglik_grad(cls, params, x, tx, t, w):
        """Total weighted log-likelihood and its gradient in (r, alpha, a, b).

        With s = the weight of the "died" term, sigmoid(died - alive): d/dr = psi(r+x) - psi(r) + ln alpha
        - (1-s) ln(alpha+T) - s ln(alpha+t_x); d/dalpha = r/alpha - (r+x) [(1-s)/(alpha+T) + s/(alpha+t_x)];
        d/da = psi(a+b) - psi(a+b+x+1) + s/a; d/db = psi(a+b) + psi(b+x+1) - psi(b) - psi(a+b+x+1) - s/(b+x).
        """
        r, alpha, a, b = params
        lT, ltx = np.log(alpha + t), np.log(alpha + tx)
        alive = -(r + x) * lT
        died = np.log(a) - np.log(b + x) - (r + x) * ltx
        sg = expit(died - alive)
        ll = _dot(w, cls._loglik_rows(params, x, tx, t))
        g = np.array([
            _dot(w, digamma(r + x) - digamma(r) + np.log(alpha) - (1 - sg) * lT - sg * ltx),
            _dot(w, r / alpha - (r + x) * ((1 - sg) / (alpha + t) + sg / (alpha + tx))),
            _dot(w, digamma(a + b) - digamma(a + b + x + 1) + sg / a),
            _dot(w, digamma(a + b) + digamma(b + x + 1) - digamma(b) - digamma(a + b + x + 1) - sg / (b + x)),
        ])
        return ll, g

    @staticmethod
    def _loglik_rows(params, x, tx, t):
        r, alpha, a, b = params
        c = (gammaln(a + b) + gammaln(b + x + 1) - gammaln(b) - gammaln(a + b + x + 1)
             + gammaln(r + x) - gammaln(r) + r * np.log(alpha))
        alive = -(r + x) * np.log(alpha + t)
        died = np.log(a) - np.log(b + x) - (r + x) * np.log(alpha + tx)
        return c + np.logaddexp(alive, died)

    def conditional_probability_alive(self, frequency, recency, T):
        """P(alive at T | x, t_x, T) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)), also for x = 0."""
        r, alpha, a, b = self._p()
        x, tx, t = check_rfm(frequency, recency, T)
        log_div = (r + x) * (np.log(alpha + t) - np.log(alpha + tx)) + np.log(a) - np.log(b + x)
        return _out(expit(-log_div), frequency, recency, T)

    def _if_alive(self, h, x, T, dedupe: bool = True):
        r, alpha, a, b = self._p()
        key = distinct_rows(x, T, h) if dedupe else None
        xu, Tu, hu = (x, T, h) if key is None else (x[key[1]], T[key[1]], h[key[1]])
        z = hu / (alpha + Tu + hu)
        # (a+b+x)/(a-1) [1 - 2F1(r+x, b+x+1; a+b+x; z) (1-z)^(r+x)], Euler-transformed
        part = (a + b + xu) / (a - 1) * (1.0 - (1.0 - z) ** (a - 1) * hyp2f1(a + b - r, a - 1, a + b + xu, z))
        return part if key is None else part[key[0]]

    def sample(self, n: int, T, random_state=None) -> pd.DataFrame:
        """Draw ``n`` customers: as BG/NBD, but the dropout coin is also tossed at the first purchase."""
        r, alpha, a, b = self._p()
        rng = np.random.default_rng(random_state)
        t = as_column("T", T, n)
        lam = rng.gamma(r, 1.0 / alpha, n)
        p = np.clip(rng.beta(a, b, n), 1e-12, 1.0)
        N = rng.geometric(p) - 1  # repeat purchases before dropout (0: gone right after the first)
        M = rng.poisson(lam * t)
        x = np.minimum(N, M)
        tx = np.where(x > 0, t * rng.beta(np.maximum(x, 1), M - x + 1), 0.0)
        return pd.DataFrame({"frequency": x.astype(float), "recency": tx, "T": t})


class ParetoNBD(_TransactionModel):
    """Pareto/NBD: Poisson purchases at rate lambda ~ Gamma(r, alpha) while alive,
    exponential lifetime with rate mu ~ Gamma(s, beta).

    Schmittlein, Morrison & Colombo (1987), "Counting Your Customers: Who Are
    They and What Will They Do Next?", Management Science 33(1).  Likelihood,
    P(alive) and conditional expectation from Fader & Hardie (2005), "A Note
    on Deriving the Pareto/NBD Model and Related Expressions" (equations 18-20,
    36-37, 41).  The Gauss hypergeometric terms of A0 are rewritten with
    Euler's transformation so each becomes (alpha+t)^-(r+x) (beta+t)^-s times
    a bounded 2F1(1, .; r+s+x+1; z) factor: no overflow for heavy buyers and
    the difference A0 is taken in log space.  Fitted without an analytic
    gradient (there is none in scipy for 2F1), so slower than BG/NBD.
    """

    param_names = ("r", "alpha", "s", "beta")

    def fit(self, frequency, recency, T, weights=None) -> "ParetoNBD":
        x, tx, t, w = self._prepare(frequency, recency, T, weights)
        scale = 1.0 / t.max()
        xs, ts = tx * scale, t * scale
        W = w.sum()
        pen = float(self.penalizer_coef)

        def nll(theta):
            p = np.exp(theta)
            ll = _dot(w, self._loglik_rows(p, x, xs, ts))
            return -ll / W + pen * np.sum(p**2)

        theta = self._maximise(lambda rows: nll, len(x), np.zeros(4), "2-point", "frequency/recency/T summary")
        p = np.exp(theta)
        p[1] /= scale
        p[3] /= scale
        self.params_ = dict(zip(self.param_names, map(float, p)))
        self.log_likelihood_ = _dot(w, self._loglik_rows(p, x, tx, t))
        return self

    @staticmethod
    def _log_term(params, x, t):
        """ln[(alpha+t)^-(r+x) (beta+t)^-s G(t)]: one end of the A0 integral, times (r+s+x)."""
        r, alpha, s, beta = params
        c = r + s + x + 1
        if alpha >= beta:
            g = np.log(hyp2f1(1.0, r + x, c, (alpha - beta) / (alpha + t)))
        else:
            z = (beta - alpha) / (beta + t)
            g = np.log1p(-z) + np.log(hyp2f1(1.0, s + 1, c, z))
        return -(r + x) * np.log(alpha + t) - s * np.log(beta + t) + g

    @classmethod
    def _parts(cls, params, x, tx, t):
        """(A1, ln of the alive-at-T term, ln of the died-in-(t_x, T] term)."""
        r, alpha, s, beta = params
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + x) * np.log(alpha + t) - s * np.log(beta + t)
        lo, hi = cls._log_term(params, x, tx), cls._log_term(params, x, t)
        with np.errstate(divide="ignore"):
            log_a0 = lo + np.log1p(-np.exp(np.minimum(hi - lo, 0.0)))
        died = np.log(s) - np.log(r + s + x) + log_a0
        return a1, alive, died

    @classmethod
    def _loglik_rows(cls, params, x, tx, t):
        a1, alive, died = cls._parts(params, x, tx, t)
        return a1 + np.logaddexp(alive, died)

    def conditional_probability_alive(self, frequency, recency, T):
        """P(alive at T | x, t_x, T) = alive term / (alive term + died term) (equation 36)."""
        p = self._p()
        x, tx, t = check_rfm(frequency, recency, T)
        _, alive, died = self._parts(p, x, tx, t)
        return _out(expit(alive - died), frequency, recency, T)

    def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T):
        """E[purchases in (T, T+t] | x, t_x, T] (equation 41):
        P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)],
        with the s -> 1 limit ln(1 + t/(beta+T)) handled.
        """
        return super().conditional_expected_number_of_purchases_up_to_time(t, frequency, recency, T)

    def _log_none_if_alive(self, h, x, T):
        """Alive at T with rates lambda ~ Gamma(r+x, alpha+T), mu ~ Gamma(s, beta+T): no purchase in h when the
        lifetime ends at u < h before one (density E[mu e^(-mu u)] E[e^(-lambda u)]) or goes past h without one:
        ((alpha+T)/(alpha+T+h))^(r+x) ((beta+T)/(beta+T+h))^s + int_0^h s (beta+T)^s / (beta+T+u)^(s+1)
        ((alpha+T)/(alpha+T+u))^(r+x) du (32-point Gauss-Legendre)."""
        r, alpha, s, beta = self._p()
        node, weight = np.polynomial.legendre.leggauss(32)
        u = (h[:, None] / 2) * (node[None, :] + 1)
        dens = s / (beta + T[:, None]) * np.exp(-(s + 1) * np.log1p(u / (beta + T[:, None]))
                                                - (r + x[:, None]) * np.log1p(u / (alpha + T[:, None])))
        survive = np.exp(-(r + x) * np.log1p(h / (alpha + T)) - s * np.log1p(h / (beta + T)))
        return np.log(survive + h / 2 * (dens @ weight))

    def _if_alive(self, h, x, T, dedupe: bool = True):
        r, alpha, s, beta = self._p()
        u = np.log1p(h / (beta + T))
        g = u if abs(s - 1) < 1e-10 else -np.expm1(-(s - 1) * u) / (s - 1)
        return (r + x) * (beta + T) / (alpha + T) * g

    def sample(self, n: int, T, random_state=None) -> pd.DataFrame:
        """Draw ``n`` customers: lambda ~ Gamma(r, 1/alpha), mu ~ Gamma(s, 1/beta), lifetime
        tau ~ Exp(mu); x ~ Poisson(lambda min(tau, T)); t_x = min(tau, T) * Beta(x, 1)."""
        r, alpha, s, beta = self._p()
        rng = np.random.default_rng(random_state)
        t = as_column("T", T, n)
        lam = rng.gamma(r, 1.0 / alpha, n)
        mu = rng.gamma(s, 1.0 / beta, n)
        obs = np.minimum(rng.exponential(1.0 / np.maximum(mu, 1e-300)), t)
        x = rng.poisson(lam * obs)
        tx = np.where(x > 0, obs * rng.beta(np.maximum(x, 1), 1.0), 0.0)
        return pd.DataFrame({"frequency": x.astype(float), "recency": tx, "T": t})
