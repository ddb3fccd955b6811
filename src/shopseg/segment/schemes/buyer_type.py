"""Buyer type: business or consumer, learned from order sizes where the data show two kinds of buyer.

The statistic is a buyer's median units per order line (sale orders up to as_of, merchandise only): a consumer
takes one or two of a thing, a trade buyer a case. A 2-component Gaussian mixture is fitted to its logarithm; the
split is used only when the data are bimodal in it: the two-component fit beats one component by BIC (by more than
``segments.buyer_type.min_bic_gain``), the components are separated by Ashman's D >= ``min_separation`` (2 is the
usual bar for two distinct populations; Ashman, Bird & Zepf 1994) and the smaller one holds at least
``min_share`` of buyers. The rule is then a threshold: "business when median units per line >= T", T where the
two components' posteriors cross; it is shown in every segment's profile (a buyer of non-merchandise only is
``unknown``). Otherwise every buyer is in one segment, ``all``, whose profile says why (the statistic's D and
weights), and no type is claimed. Customers without a sale get ``segments.no_orders_segment``.

Live (:func:`score`): a customer's statistic is recomputed from their own lines and labelled by the run's
learned split (threshold or none); the split itself is relearned by the next run.
"""

from __future__ import annotations

import numpy as np

from ...params import Interval
from .._registry import Scheme, SchemeContext, SchemeResult

STATISTIC = "median units per order line"
BUSINESS, CONSUMER, ALL, UNKNOWN = "business", "consumer", "all", "unknown"


def _lines_sql(ws, select: str, only: str = "") -> str:
    merch = "AND coalesce(p.is_merchandise, TRUE)" if ws.has_table("products") else ""
    join = "LEFT JOIN products p USING (product_id)" if merch else ""
    return f"""
        SELECT CAST(o.customer_id AS VARCHAR) AS customer_id, {select}
        FROM orders o JOIN order_lines l USING (order_id) {join}
        WHERE o.kind = 'sale' AND o.customer_id IS NOT NULL AND o.ordered_at <= $as_of AND l.quantity > 0 {merch}{only}"""


def units_per_line(ws, as_of, customer_ids) -> np.ndarray:
    """Median units per order line of each customer (NaN without a sale line), aligned with ``customer_ids``."""
    df = ws.con.execute(_lines_sql(ws, "median(l.quantity) AS upl") + " GROUP BY 1", {"as_of": as_of}).df()
    return df.set_index("customer_id")["upl"].reindex(customer_ids).to_numpy(dtype=float)


def _label(v: np.ndarray, buyer: np.ndarray, split: dict, no_orders: str) -> np.ndarray:
    """The segment of each customer from the statistic ``v``, whether they bought and the learned ``split``."""
    has = buyer & np.isfinite(v)
    labels = np.full(len(v), no_orders, dtype=object)
    if split["split"]:
        labels[has] = np.where(v[has] >= split["threshold"], BUSINESS, CONSUMER)
        labels[buyer & ~has] = UNKNOWN  # sales of non-merchandise only (postage, fees): no order size to read
    else:
        labels[buyer] = ALL
    return labels


def learn_split(values: np.ndarray, *, min_bic_gain: float, min_separation: float, min_share: float,
                random_state: int = 0) -> dict:
    """Fit 1 and 2 Gaussian components to log(values); the threshold and the evidence, or why there is none.

    >>> rng = np.random.default_rng(0)
    >>> v = np.r_[rng.lognormal(0.3, 0.3, 300), rng.lognormal(3.5, 0.4, 100)]  # ~1.4 units vs ~33 a line
    >>> s = learn_split(v, min_bic_gain=10, min_separation=2, min_share=0.05)
    >>> s["split"], 3 < s["threshold"] < 15, round(s["business_share"], 2)
    (True, True, 0.25)
    >>> learn_split(rng.lognormal(1.0, 0.8, 400), min_bic_gain=10, min_separation=2, min_share=0.05)["split"]
    False
    """
    from sklearn.mixture import GaussianMixture

    x = np.log(values[np.isfinite(values) & (values > 0)]).reshape(-1, 1)
    out = {"statistic": STATISTIC, "n_buyers": int(len(x)), "split": False}
    if len(x) < 20 or np.ptp(x) == 0:
        return {**out, "why": f"{len(x)} buyer(s) with {'one value' if len(x) else 'no value'}: nothing to split"}
    # quantities are whole numbers: a component may sit on one value (all 1s) and its variance collapse; a
    # floor of 0.01 on the log scale (about +-10%) keeps such a component a population, not a spike
    one = GaussianMixture(1, reg_covar=0.01, random_state=random_state).fit(x)
    two = GaussianMixture(2, reg_covar=0.01, random_state=random_state, n_init=5).fit(x)
    order = np.argsort(two.means_.ravel())
    m, sd = two.means_.ravel()[order], np.sqrt(two.covariances_.ravel()[order])
    w = two.weights_[order]
    d = float(np.sqrt(2) * (m[1] - m[0]) / np.sqrt(sd[0] ** 2 + sd[1] ** 2))
    gain = float(one.bic(x) - two.bic(x))
    out.update(bic_gain=round(gain, 1), ashman_d=round(d, 3), weights=[round(float(v), 4) for v in w],
               component_medians=[round(float(np.exp(v)), 3) for v in m])
    fails = [why for ok, why in ((gain > min_bic_gain, f"BIC gain {gain:.0f} <= {min_bic_gain:g}"),
                                 (d >= min_separation, f"Ashman's D {d:.2f} < {min_separation:g}"),
                                 (w.min() >= min_share, f"smaller component {w.min():.1%} < {min_share:.0%}"))
             if not ok]
    if fails:
        return {**out, "why": "no business/consumer split in the data: " + "; ".join(fails)}
    grid = np.linspace(m[0], m[1], 2001).reshape(-1, 1)
    post = two.predict_proba(grid)[:, order[1]]
    t = float(np.exp(grid[np.argmax(post >= 0.5), 0]))
    biz = float(np.mean(np.exp(x.ravel()) >= t))
    return {**out, "split": True, "threshold": round(t, 3), "business_share": biz,
            "rule": f"business when {STATISTIC} >= {t:.3g}"}


def compute(ctx: SchemeContext) -> SchemeResult:
    cfg = ctx.config
    bt = cfg["segments.buyer_type"]
    v = units_per_line(ctx.ws, ctx.as_of, ctx.features["customer_id"])
    buyer = ctx.features["has_orders"].to_numpy(dtype=bool)
    has = buyer & np.isfinite(v)
    split = learn_split(v[has], min_bic_gain=bt["min_bic_gain"], min_separation=bt["min_separation"],
                        min_share=bt["min_share"], random_state=cfg["segments.cluster.random_state"])
    labels = _label(v, buyer, split, cfg["segments.no_orders_segment"])
    extras = {s: {"rule": split} for s in set(labels)}
    names = {ALL: "all buyers (no business/consumer split in the data)"} if not split["split"] else None
    return SchemeResult(labels, extras=extras, names=names, state={"buyer_type": split})


def state(ws, runs) -> dict | None:
    """The run's learned split (from its segment_profiles) and no-orders segment, or None without them."""
    import json

    rid = runs.of("segment_profiles")
    rows = ws.sql("SELECT profile FROM segment_profiles WHERE run_id = ? AND scheme = 'buyer_type' LIMIT 1",
                  [rid]) if rid is not None else []
    split = json.loads(rows[0][0] or "{}").get("rule") if rows else None
    if not isinstance(split, dict) or "split" not in split:
        return None
    return {"split": split, "no_orders": runs.config["segments.no_orders_segment"]}


def score(st, reader, customers, as_of):
    """The run's rule on each customer's own lines: their median units per line (numpy's median, DuckDB's
    interpolated one) and whether they have a sale order before ``as_of`` (the features' ``has_orders``)."""
    if st is None:
        return None
    from ...workspace import CUSTOMER_FILTER

    ids = [str(c) for c in customers]
    params = {"as_of": as_of, "customers": ids}
    qty: dict[str, list] = {}
    for cid, q in reader.con.execute(_lines_sql(reader, "l.quantity", CUSTOMER_FILTER.replace(
            "customer_id", "o.customer_id")), params).fetchall():
        qty.setdefault(cid, []).append(float(q))
    buyers = {r[0] for r in reader.con.execute(
        "SELECT DISTINCT CAST(customer_id AS VARCHAR) FROM orders WHERE kind = 'sale' AND customer_id IS NOT NULL "
        "AND ordered_at < $as_of" + CUSTOMER_FILTER, params).fetchall()}
    v = np.array([np.median(qty[c]) if c in qty else np.nan for c in ids], dtype=float)
    return list(_label(v, np.array([c in buyers for c in ids], dtype=bool), st["split"], st["no_orders"]))


SCHEME = Scheme("buyer_type", "Business or consumer buyers, by a threshold on units per order line learned where "
                "the data are bimodal (else one segment).", compute, state=state, score=score,
                parameters={"min_bic_gain": Interval(float, 0, None), "min_separation": Interval(float, 0, None),
                            "min_share": Interval(float, 0, 0.5)})
