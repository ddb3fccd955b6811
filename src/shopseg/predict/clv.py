"""Customer lifetime value: "buy till you die" purchase models and a spend model.

* :class:`BGNBD` (Fader, Hardie & Lee 2005) or :class:`ParetoNBD`
  (Schmittlein, Morrison & Colombo 1987) predict how many purchases a
  customer will still make and the probability that they are still "alive";
* :class:`GammaGamma` (Fader & Hardie 2013) predicts the value of those
  purchases;
* :func:`customer_lifetime_value` joins them into a discounted value.

The models work on the literature's per-customer summary, built in SQL from
the workspace by :func:`summary_from_orders`: ``frequency`` (repeat purchase
days), ``recency`` (age at the last purchase), ``T`` (age at ``as_of``) and
``monetary_value`` (mean value of the repeat purchases).  :func:`clv_table`
fits and scores a run and writes the ``clv`` output table; :func:`score_clv`
scores customers with stored models (what the live service calls).
See ``docs/clv.md``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._exact import exact_sum
from ..errors import ConfigError, DataContractError
from ..workspace import CUSTOMER_FILTER, reading_lines
from ._clv_base import TIME_UNITS, CLVModel
from ._clv_models import BGNBD, MBGNBD, ParetoNBD
from ._clv_value import MONTH_IN_UNITS, GammaGamma, customer_lifetime_value

TRANSACTION_MODELS: dict[str, type[CLVModel]] = {"bgnbd": BGNBD, "mbgnbd": MBGNBD, "paretonbd": ParetoNBD}
# the fallback chain after the configured model (docs/clv.md, "Which model a run uses"); Pareto/NBD is
# tried only when configured: without an analytic gradient its fit takes about a minute on 4,000 buyers
CHAIN = ("bgnbd", "mbgnbd")

# The columns of the ``clv`` output table (after ``run_id``), with their meaning.
CLV_COLUMNS: dict[str, str] = {
    "customer_id": "Customer with at least one sale on or before as_of.",
    "frequency": "Repeat purchase days: days with a sale, minus the first (same-day orders merged).",
    "recency": "Time from the first to the last purchase day, in time_unit (days by default).",
    "T": "Time from the first purchase day to as_of, in time_unit.",
    "monetary_value": "Mean value of the repeat purchase days (first excluded); 0 when frequency is 0.",
    "p_alive": "Probability the customer is still active at as_of, from the candidate that won the backtest: "
    "a transaction model's P(alive), or (repeat model, recency baseline) the probability of a purchase in "
    "the clv.backtest_days after as_of, pooled with the same run's churn to at most 1 - churn: their mean, or "
    "1 - the churn model's recency floor where the mean would take churn below it (docs/churn.md).",
    "expected_purchases_90d": "Expected purchase days in the 90 days after as_of.",
    "expected_purchases_horizon": "Expected purchase days in the horizon_days after as_of.",
    "expected_order_value": "Expected value per future purchase (Gamma-Gamma); population mean when "
    "frequency is 0 or monetary_value <= 0. clv is expected_purchases_horizon x this, discounted, only when one "
    "transaction model gave both (the model column says).",
    "clv": "Discounted expected value of the purchases in the horizon: sum over months of "
    "expected_order_value x expected purchases in the month / (1 + monthly rate)^month.",
    "expected_next_order_at": "as_of plus the median wait to the next purchase of a customer still alive (from "
    "the transaction model, or, when expected purchases come from the repeat model or the baseline, ln 2 over "
    "their rate while alive: expected purchases / (p_alive x horizon)); NULL when p_alive < min_p_alive or the "
    "wait is over ten years.",
    "horizon_days": "The horizon used for expected_purchases_horizon and clv.",
    "model": "Source of each prediction, e.g. 'p_alive=baseline; purchases=bgnbd; clv=bgnbd+gammagamma', or "
    "'...; clv=baseline; order_value=gammagamma' when CLV is not expected purchases x expected order value "
    "(model_decisions says why; docs/clv.md, \"One customer's figures\").",
}


def _con(ws_or_con):
    return getattr(ws_or_con, "con", ws_or_con)


def _timestamp(as_of) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(as_of)
    except (ValueError, TypeError):
        ts = None
    if ts is None or ts is pd.NaT:
        raise DataContractError(f"as_of: expected a date or timestamp (e.g. '2011-12-09'); got {as_of!r}.")
    return ts.tz_localize(None) if ts.tzinfo else ts


def _unit(time_unit: str) -> float:
    if time_unit not in TIME_UNITS:
        raise ConfigError(f"time_unit must be one of {', '.join(map(repr, TIME_UNITS))}. Got {time_unit!r} instead.")
    return TIME_UNITS[time_unit]


# the sums are exact (shopseg._exact): the same rows give the same bits whatever DuckDB's threads
SUMMARY_SQL = f"""
WITH sales AS (
    SELECT order_id, customer_id, ordered_at, coalesce(discount_amount, 0) AS order_discount
    FROM orders
    WHERE kind = 'sale' AND customer_id IS NOT NULL AND ordered_at <= $as_of {{customer_filter}}
), order_value AS (  -- one row per order: lines net of line discounts, minus the order discount
    SELECT s.customer_id, CAST(s.ordered_at AS DATE) AS day,
           coalesce({exact_sum("l.quantity * l.unit_price - coalesce(l.discount_amount, 0)")}, 0)
             - any_value(s.order_discount) AS revenue
    FROM sales s LEFT JOIN order_lines l ON l.order_id = s.order_id
    GROUP BY s.order_id, s.customer_id, s.ordered_at
), purchase_days AS (  -- same-day orders merged into one transaction
    SELECT customer_id, day, {exact_sum("revenue")} AS value,
           min(day) OVER (PARTITION BY customer_id) AS first_day
    FROM order_value GROUP BY customer_id, day
)
SELECT customer_id,
       CAST(count(*) - 1 AS DOUBLE) AS frequency,
       date_diff('day', min(day), max(day)) / $unit AS recency,
       date_diff('day', min(day), CAST($as_of AS DATE)) / $unit AS "T",
       CASE WHEN count(*) > 1
            THEN {exact_sum("value", "day > first_day")} / (count(*) - 1)
            ELSE 0.0 END AS monetary_value
FROM purchase_days
GROUP BY customer_id
ORDER BY customer_id
"""


def _with_spend(sql: str) -> str:
    """SUMMARY_SQL with a last column ``spend_before``: the customer's spend on purchase days before ``$as_of`` (a day
    with an order at ``$as_of`` itself not counted: :func:`~shopseg.predict._clv_backtest.spend_totals`' figure),
    for a re-score that reads both (the repeat model, the baseline's CLV, the mean spend) in one query."""
    parts = [("SELECT s.customer_id, CAST(s.ordered_at AS DATE) AS day,",
              "SELECT s.customer_id, CAST(s.ordered_at AS DATE) AS day, s.ordered_at < $as_of AS before_as_of,"),
             (f"SELECT customer_id, day, {exact_sum('revenue')} AS value,",
              f"SELECT customer_id, day, {exact_sum('revenue')} AS value, bool_and(before_as_of) AS before_as_of,"),
             ("            ELSE 0.0 END AS monetary_value\n",
              "            ELSE 0.0 END AS monetary_value,\n"
              f"       coalesce({exact_sum('value', 'before_as_of')}, 0.0) AS spend_before\n")]
    for old, new in parts:
        assert old in sql, old
        sql = sql.replace(old, new)
    return sql


SUMMARY_SPEND_SQL = _with_spend(SUMMARY_SQL)


# the order values of SUMMARY_SQL, made once for a stage that reads several summaries and windows
# (the lines summed per order first, then joined to the orders: one row per order meets one per line, not a
# join of every line grouped again; 2-3x faster on Online Retail x10, the same values: the sums are exact)
ORDER_VALUES_SQL = f"""
CREATE OR REPLACE TEMP TABLE {{table}} AS
WITH line_value AS (
    SELECT order_id, {exact_sum("quantity * unit_price - coalesce(discount_amount, 0)")} AS value
    FROM order_lines GROUP BY order_id
)
SELECT s.customer_id, s.ordered_at, coalesce(lv.value, 0) - coalesce(s.discount_amount, 0) AS value
FROM orders s LEFT JOIN line_value lv ON lv.order_id = s.order_id
WHERE s.kind = 'sale' AND s.customer_id IS NOT NULL AND s.ordered_at <= $as_of
"""
# SUMMARY_SQL over such a table: its purchase days and summary, unchanged
_SUMMARY_FROM_VALUES = ("WITH order_value AS (\n    SELECT customer_id, CAST(ordered_at AS DATE) AS day, value AS revenue "
                        "FROM {table} WHERE ordered_at <= $as_of {customer_filter}\n"
                        + SUMMARY_SQL[SUMMARY_SQL.index("), purchase_days AS"):])


@contextmanager
def order_values(ws_or_con, as_of, table: str = "_clv_order_values"):
    """A temporary table of every sale order's value up to ``as_of`` (customer_id, ordered_at, value), for
    the duration of the block: the summaries and windows of a CLV run read it instead of joining the
    order lines again for each cutoff (the join is the cost; one row per order is small)."""
    con = _con(ws_or_con)
    con.execute(ORDER_VALUES_SQL.format(table=table), {"as_of": _timestamp(as_of).to_pydatetime()})
    try:
        yield table
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def summary_from_orders(ws_or_con, as_of, *, time_unit: str = "D", customers=None,
                        values: str | None = None, spend: bool = False) -> pd.DataFrame:
    """Per customer (frequency, recency, T, monetary_value) as of ``as_of``, in SQL.

    Uses ``orders`` of kind 'sale' with a customer_id and ``ordered_at <= as_of``
    (pass the end of a day to include that day's orders), valued from
    ``order_lines`` as sum(quantity * unit_price - discount_amount) minus the
    order's own ``discount_amount``.  All orders of a customer on one calendar
    day are one transaction, as in the literature.  ``frequency`` = purchase
    days - 1; ``recency`` = last minus first purchase day; ``T`` = as_of's date
    minus the first purchase day; ``monetary_value`` = mean value of the repeat
    purchase days (0 when frequency is 0).  Times are in days (``time_unit``
    "D") or weeks ("W", days / 7 as in Hardie's CDNOW files).  This mirrors
    ``lifetimes.utils.summary_data_from_transaction_data`` with
    ``freq="D"`` (and ``freq_multiplier=7`` for weeks).  ``customers``
    restricts the result to those ids (for re-scoring a few customers).
    Customers without a sale on or before as_of are absent.  ``values``: a table
    made by :func:`order_values` up to a date on or after ``as_of`` (the same
    summary without joining the order lines again).  ``spend``: with a column ``spend_before``, the spend on
    purchase days before ``as_of`` (what the repeat model and the baseline read; not with ``values``).
    """
    unit = _unit(time_unit)
    ts = _timestamp(as_of).to_pydatetime()
    params: dict = {"as_of": ts, "unit": unit}
    customer_filter = ""
    if customers is not None:
        customer_filter = CUSTOMER_FILTER
        params["customers"] = [str(c) for c in customers]
    sql = (SUMMARY_SPEND_SQL if spend else SUMMARY_SQL).format(customer_filter=customer_filter) if values is None \
        else _SUMMARY_FROM_VALUES.format(table=values, customer_filter=customer_filter)
    if customers is not None:  # their lines from the reader's table of them where it has one (Workspace.with_lines)
        sql = reading_lines(sql, ws_or_con)
    return _con(ws_or_con).execute(sql, params).df()


@dataclass
class CLVResult:
    """What :func:`clv_table` did: the models used, rows written, where the models went and the choices."""

    transaction_model: CLVModel | None
    value_model: GammaGamma | None
    n_customers: int
    model_paths: list[Path] = field(default_factory=list)
    choices: list = field(default_factory=list)  # one _clv_select.Choice per prediction
    notes: list = field(default_factory=list)


def _month_days(time_unit: str) -> float:
    return MONTH_IN_UNITS[time_unit] * TIME_UNITS[time_unit]


def clv_columns(f: np.ndarray, r: np.ndarray, T: np.ndarray, m: np.ndarray, transaction_model,
                value_model: GammaGamma, as_of, *, horizon_days: float, discount_rate_annual: float,
                min_p_alive: float) -> dict[str, np.ndarray]:
    """The predicted ``clv`` columns as arrays, from the summary's frequency, recency, T and mean spend (at
    least one customer): what :func:`score_clv` puts in its frame, and the live score reads without one."""
    unit = transaction_model.time_unit
    days = TIME_UNITS[unit]
    out: dict[str, np.ndarray] = {}
    p_alive = np.atleast_1d(transaction_model.conditional_probability_alive(f, r, T))
    out["p_alive"] = p_alive
    out["expected_purchases_90d"] = transaction_model.expected_purchases(90.0 / days, f, r, T)
    out["expected_purchases_horizon"] = transaction_model.expected_purchases(horizon_days / days, f, r, T)
    # a non-positive mean spend carries no information about spend: use the population mean
    fv = np.where(m > 0, f, 0.0)
    value = np.atleast_1d(value_model.conditional_expected_average_profit(fv, np.where(m > 0, m, 0.0)))
    out["expected_order_value"] = value
    month = _month_days(unit)
    monthly_rate = (1 + discount_rate_annual) ** (month / 365.0) - 1
    out["clv"] = customer_lifetime_value(transaction_model, f, r, T, value, time=horizon_days / month,
                                         discount_rate=monthly_rate, freq=unit)
    nxt = pd.DatetimeIndex(transaction_model.expected_next_purchase_at(f, r, T, _timestamp(as_of))).as_unit("us")
    out["expected_next_order_at"] = np.where(p_alive >= min_p_alive, nxt.to_numpy(), np.datetime64("NaT", "us"))
    return out


def score_clv(summary: pd.DataFrame, transaction_model, value_model: GammaGamma, as_of, *,
              horizon_days: float = 365, discount_rate_annual: float = 0.1,
              min_p_alive: float = 0.5, model_name: str | None = None) -> pd.DataFrame:
    """The ``clv`` columns for the customers of ``summary`` (from :func:`summary_from_orders`).

    Times in ``summary`` must be in ``transaction_model.time_unit``.  The CLV
    sums months (30 days, or 4.345 weeks when the unit is weeks, as lifetimes
    does) up to ``horizon_days``, discounted at the monthly equivalent of
    ``discount_rate_annual`` so a purchase d days ahead is worth
    (1 + rate)^(-d/365).
    """
    if not horizon_days > 0:
        raise ConfigError(f"horizon_days must be > 0. Got {horizon_days!r} instead.")
    if not discount_rate_annual > -1:
        raise ConfigError(f"discount_rate_annual must be > -1. Got {discount_rate_annual!r} instead.")
    f = summary["frequency"].to_numpy(float)
    r = summary["recency"].to_numpy(float)
    T = summary["T"].to_numpy(float)
    m = summary["monetary_value"].to_numpy(float)
    cols = None if len(f) == 0 else clv_columns(f, r, T, m, transaction_model, value_model, as_of,
                                                horizon_days=horizon_days, discount_rate_annual=discount_rate_annual,
                                                min_p_alive=min_p_alive)
    return clv_rows(summary, cols, horizon_days, model_name or clv_model_name(transaction_model))


def clv_model_name(transaction_model) -> str:
    """The ``clv`` table's ``model`` label of a transaction model with Gamma-Gamma values: ``"bgnbd+gammagamma"``."""
    return f"{type(transaction_model).__name__.lower()}+gammagamma"


def clv_rows(summary: pd.DataFrame, columns: dict | None, horizon_days: float, model_name: str) -> pd.DataFrame:
    """The ``clv`` table's frame: the summary's columns, then ``columns`` (:func:`clv_columns`' arrays; None: no
    customer), the horizon and the model's name."""
    out = pd.DataFrame({"customer_id": summary["customer_id"].to_numpy(),
                        "frequency": summary["frequency"].to_numpy(float).astype(np.int64),
                        **{k: summary[k].to_numpy(float) for k in ("recency", "T", "monetary_value")}})
    if columns is None:
        for c in ("p_alive", "expected_purchases_90d", "expected_purchases_horizon", "expected_order_value", "clv"):
            out[c] = np.zeros(0)
        out["expected_next_order_at"] = pd.Series([], dtype="datetime64[us]")
    else:
        for c, v in columns.items():
            out[c] = v
    out["horizon_days"] = float(horizon_days)
    out["model"] = model_name
    return out


def fit_clv_models(summary: pd.DataFrame, *, model: str = "bgnbd", penalizer_coef: float = 0.0,
                   value_penalizer_coef: float = 0.0, time_unit: str = "D") -> tuple[CLVModel, GammaGamma]:
    """(transaction model, Gamma-Gamma) fitted on a :func:`summary_from_orders` frame.

    The transaction model on every customer; Gamma-Gamma on the repeat customers
    with a positive mean spend.  (The Spark engine fits on the summary it computed.)
    """
    f, r, T, m = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    tm = TRANSACTION_MODELS[model](penalizer_coef=penalizer_coef, time_unit=time_unit).fit(f, r, T)
    rep = (f > 0) & (m > 0)
    vm = GammaGamma(penalizer_coef=value_penalizer_coef, time_unit=time_unit).fit(f[rep], m[rep])
    return tm, vm


def clv_table(ws, run_id: int, as_of, *, horizon_days: float = 365, discount_rate_annual: float = 0.1,
              model: str = "bgnbd", penalizer_coef: float = 0.0, value_penalizer_coef: float = 0.0,
              time_unit: str = "D", min_p_alive: float = 0.5, backtest_days: float = 90,
              backtest_resamples: int = 200, backtest_confidence: float = 0.95, max_customers: int = 50_000,
              seed: int = 0, save_models: bool = True) -> CLVResult:
    """Choose, per prediction (P(alive), expected purchases, CLV), the candidate that beats its naive
    baseline on a validation window before ``as_of``, score every buyer and write output table ``clv``.

    Candidates: ``model`` ("bgnbd", "mbgnbd" or "paretonbd") first, then the rest of
    :data:`CHAIN`, finally the baseline itself (see :mod:`shopseg.predict._clv_backtest` and
    ``docs/clv.md``).  A degenerate fit is never used.  Every buyer gets a value: no NULL ``clv`` or
    expected purchases.  Columns are documented in :data:`CLV_COLUMNS`.  The models of every prediction
    are saved as JSON in the workspace's model store (:mod:`shopseg.models`, ``run-<run_id>-clv-<name>.json``:
    each transaction model used, ``gammagamma`` or ``meanspend`` for the value per purchase, ``repeat``,
    ``baseline``, and ``choices``: prediction -> model, with the settings; :class:`~shopseg.predict._clv_scorer.
    ClvScorer`), so the refresh and the live service re-score customers with the same model per prediction.
    ``max_customers``: above this many buyers in the validation window (0: no cap), the candidates' window fits
    and the backtest use a seeded sample of that many of them; every buyer is still scored.
    """
    if model not in TRANSACTION_MODELS:
        raise ConfigError(f"The 'clv.model' setting must be one of {', '.join(map(repr, TRANSACTION_MODELS))}. "
                          f"Got {model!r} instead.")
    _unit(time_unit)
    with order_values(ws, as_of) as values:
        return _clv_table(ws, run_id, as_of, values, horizon_days=horizon_days,
                          discount_rate_annual=discount_rate_annual, model=model, penalizer_coef=penalizer_coef,
                          value_penalizer_coef=value_penalizer_coef, time_unit=time_unit, min_p_alive=min_p_alive,
                          backtest_days=backtest_days, backtest_resamples=backtest_resamples,
                          backtest_confidence=backtest_confidence, max_customers=max_customers, seed=seed,
                          save_models=save_models)


def _clv_table(ws, run_id: int, as_of, values: str, *, horizon_days, discount_rate_annual, model, penalizer_coef,
               value_penalizer_coef, time_unit, min_p_alive, backtest_days, backtest_resamples, backtest_confidence,
               max_customers, seed, save_models) -> CLVResult:
    from ._clv_select import choose_and_score

    summary = summary_from_orders(ws, as_of, time_unit=time_unit, values=values)
    settings = {"model": model, "time_unit": time_unit, "horizon_days": horizon_days,
                "discount_rate_annual": discount_rate_annual, "penalizer_coef": penalizer_coef,
                "value_penalizer_coef": value_penalizer_coef, "min_p_alive": min_p_alive,
                "backtest_days": backtest_days, "backtest_resamples": backtest_resamples,
                "backtest_confidence": backtest_confidence, "max_customers": max_customers}
    scorer = None
    if len(summary) == 0:
        scores = score_clv(summary, BGNBD.from_params(r=1, alpha=1, a=1, b=1), GammaGamma.from_params(p=1, q=2, v=1),
                           as_of, horizon_days=horizon_days)
        choices, notes = [], ["no buyer on or before as_of"]
    else:
        scores, choices, scorer, notes = choose_and_score(ws, as_of, summary, settings, seed=seed, values=values)
    view = f"_shopseg_clv_scores_{run_id}"
    con = _con(ws)
    con.register(view, scores)
    try:
        cols = ", ".join(f'"{c}"' for c in CLV_COLUMNS)
        n = ws.write_output("clv", run_id, f'SELECT {cols} FROM "{view}" ORDER BY customer_id')
    finally:
        # Workspace.scalar leaves its result unfinished (fetchone), and DuckDB 2.0 refuses
        # unregister() until a result is complete: finish a trivial query first.
        con.execute("SELECT 1").fetchall()
        con.unregister(view)
    # every prediction's model, whichever won (a transaction model, the repeat model, the baseline): the refresh
    # and the live service re-score customers with the same model per prediction (_clv_scorer.ClvScorer)
    paths = scorer.save(ws, run_id, first=model) if save_models and scorer is not None else []
    used = scorer.tms if scorer is not None else {}
    main = used.get(model) or next(iter(used.values()), None)
    return CLVResult(main, scorer.vm if scorer is not None else None, n, paths, choices, notes)


__all__ = [
    "BGNBD",
    "CLVModel",
    "CLVResult",
    "CLV_COLUMNS",
    "GammaGamma",
    "MBGNBD",
    "ParetoNBD",
    "clv_table",
    "customer_lifetime_value",
    "fit_clv_models",
    "clv_columns",
    "score_clv",
    "summary_from_orders",
]
