"""Customer features as of a date: one row per customer, computed in DuckDB.

Every feature is one SQL expression over the canonical tables restricted to
rows dated strictly before ``as_of`` (orders, events, reviews), so nothing
from the future leaks in.  The formulas are listed in :data:`FEATURE_DOCS`
and in ``docs/features.md``; this module is the only place they are written.

Customers known at ``as_of``: rows of ``customers`` signed up by then (or
with an unknown sign-up date), plus any customer id seen in orders or events
before ``as_of``.  Customers without orders or events get defined, non-NULL
values (see :data:`FEATURE_DOCS`), never NaN, and ``has_orders`` says which
convention applied.

>>> from shopseg.workspace import Workspace
>>> from shopseg.fixtures import load_fixture_shop, FIXTURE_AS_OF
>>> import tempfile, pathlib
>>> ws = Workspace.open(pathlib.Path(tempfile.mkdtemp()) / "ws"); load_fixture_shop(ws)
>>> f = customer_features(ws, FIXTURE_AS_OF).set_index("customer_id")
>>> [float(f.loc["c01", c]) for c in ("frequency", "recency_days", "monetary_total", "mean_days_between_orders")]
[5.0, 6.0, 290.0, 40.5]
>>> ws.close()
"""

from __future__ import annotations

import re
from datetime import date, datetime

import pandas as pd

from ._exact import EXACT, exact_avg, exact_sum
from .config import Config, load_config
from .workspace import CUSTOMER_FILTER

# name -> formula, in output order (category share columns are inserted
# where ``cat_share_<slug>`` stands).  docs/features.md repeats these.
FEATURE_DOCS: dict[str, str] = {
    "customer_id": "The customer.",
    "has_orders": "True when the customer has at least one sale order before as_of.",
    "frequency": "Number of sale orders before as_of (returns and adjustments not counted).",
    "recency_days": "Calendar days from the day of the last sale order to as_of; "
    "without orders: tenure_days.",
    "tenure_days": "Calendar days from the first known date (sign-up, first order or first event, "
    "whichever is earliest) to as_of; 0 when no date is known.",
    "monetary_total": "Sum over sale orders of sum(quantity * unit_price) - line discounts - order discount.",
    "monetary_net": "monetary_total minus the value of return orders (same formula) before as_of.",
    "avg_order_value": "monetary_total / frequency; 0 without orders.",
    "n_units": "Units bought: sum of quantity over sale order lines.",
    "mean_days_between_orders": "Mean gap in days between consecutive purchase days (orders on the same "
    "day merged); with one purchase day: recency_days (the still open gap); without orders: tenure_days.",
    "std_days_between_orders": "Sample standard deviation of those gaps; 0 with fewer than two gaps.",
    "n_sessions": "Distinct browsing sessions (events before as_of).",
    "browse_minutes": "sum(duration_seconds) / 60 over events.",
    "click_rate": "Click events / view events; 0 without views.",
    "cart_abandonment_rate": "Cart sessions (sessions with an add_to_cart) whose calendar day of the first "
    "add_to_cart has no sale order of the customer, divided by cart sessions; 0 without cart sessions.",
    "cat_share_<slug>": "Share of the customer's gross sale value (quantity * unit_price) in that category, "
    "for the top N categories by gross sale revenue before as_of (features.top_categories; ties by name); "
    "0 without orders.",
    "cat_share_other": "Share in all other categories and products without a category.",
    "brand_diversity": "Distinct non-NULL brands among products bought.",
    "discount_share": "(line discounts + order discounts) / gross value of sale orders; 0 without orders.",
    "return_rate": "Value of return orders / monetary_total; 0 when monetary_total is 0.",
    "n_reviews": "Reviews written before as_of.",
    "avg_rating": "Mean star rating of those reviews; 0 without rated reviews.",
    "avg_review_sentiment": "Hook for the Reviews capability: mean sentiment of the customer's reviews from "
    "table review_insights (columns review_id, sentiment); the column is present only when that table is.",
    "is_outlier": "Buyer whose robust z-score of log1p(monetary_total) or of log1p(n_units) exceeds "
    "features.outlier_z: z = (x - median) / (1.4826 * MAD), with 1.2533 * mean absolute deviation when "
    "MAD = 0 (Iglewicz & Hoaglin 1993). Only the high side (wholesale-like buyers) is flagged.",
}


def slug(name: str) -> str:
    """Column-safe lower-case slug of a category name.

    >>> slug("Home & Garden")
    'home_garden'
    """
    s = re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")
    return s or "unnamed"


def _lit(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def top_categories(ws, as_of, n: int) -> list[tuple[str, str]]:
    """The ``n`` categories with most gross sale revenue before ``as_of``, as (category, column slug)."""
    return top_categories_at(ws, [as_of], n)[0]


def top_categories_at(ws, dates: list, n: int) -> list[list[tuple[str, str]]]:
    """:func:`top_categories` before each of ``dates``, from one scan of the order lines."""
    ts = [_as_ts(d) for d in dates]
    sums = ", ".join(exact_sum("l.quantity * l.unit_price", "o.ordered_at < CAST(? AS TIMESTAMP)") for _ in ts)
    rows = ws.sql(
        f"""
        SELECT p.category, {sums}
        FROM orders o JOIN order_lines l USING (order_id) JOIN products p USING (product_id)
        WHERE o.kind = 'sale' AND o.ordered_at < CAST(? AS TIMESTAMP) AND p.category IS NOT NULL
        GROUP BY 1
        """,
        [*ts, max(ts)],
    )
    out = []
    for i in range(len(ts)):  # by revenue, ties by name (as ORDER BY revenue DESC, category)
        ranked = sorted(((r[1 + i], r[0]) for r in rows if r[1 + i] is not None), key=lambda x: (-x[0], x[1]))
        out.append(_slugged([cat for _, cat in ranked[: int(n)]]))
    return out


def _slugged(categories: list[str]) -> list[tuple[str, str]]:
    out, seen = [], {"other"}
    for cat in categories:
        s = slug(cat)
        base, i = s, 2
        while s in seen:
            s = f"{base}_{i}"
            i += 1
        seen.add(s)
        out.append((cat, s))
    return out


def _as_ts(as_of) -> datetime:
    if isinstance(as_of, datetime):
        return as_of
    if isinstance(as_of, date):
        return datetime(as_of.year, as_of.month, as_of.day)
    return pd.Timestamp(as_of).to_pydatetime()


LATEST = "latest"  # review_run default: the newest run of review_insights (callers outside a run)


def _sentiment_cte(ws, review_run: int | None | str = LATEST) -> tuple[str, str, str]:
    """(cte, join, column) for the review-sentiment hook, or empty strings.

    ``review_run``: the run of ``review_insights`` to read (the runner hands a stage its run: ``ctx.runs.of``),
    None for no run (sentiment 0), or ``"latest"``: the newest run's.
    """
    if not ws.has_table("review_insights"):
        return "", "", ""
    cols = set(ws.columns("review_insights"))
    if not {"review_id", "sentiment"} <= cols:
        return "", "", ""
    if "run_id" not in cols:
        latest = ""
    elif review_run == LATEST:
        latest = "WHERE ri.run_id = (SELECT max(run_id) FROM review_insights)"
    else:
        latest = f"WHERE ri.run_id = {int(review_run)}" if review_run is not None else "WHERE false"
    cte = f""",
    senti AS (
        SELECT r.customer_id, {exact_avg("ri.sentiment")} AS avg_review_sentiment
        FROM review_insights ri JOIN rv_in r USING (review_id) {latest}
        GROUP BY 1
    )"""
    return cte, "LEFT JOIN senti USING (customer_id)", ", coalesce(senti.avg_review_sentiment, 0.0) AS avg_review_sentiment"


# The outlier reference: median and spread of log1p(monetary_total) and log1p(n_units) over buyers.
# One definition, used by the whole-shop SQL (over ``base``) and by :func:`outlier_reference` (over a
# stored run's customer_features), whose numbers a restricted computation then plugs in.
_OUTLIER_STATS_SQL = f"""logs AS (
        SELECT customer_id, ln(1 + greatest(monetary_total, 0)) AS lm, ln(1 + greatest(n_units, 0)) AS lu
        FROM {{source}} WHERE has_orders
    ),
    med AS (SELECT median(lm) AS med_m, median(lu) AS med_u FROM logs),
    spread AS (
        SELECT median(abs(lm - med_m)) AS mad_m, {exact_avg("abs(lm - med_m)")} AS meanad_m,
               median(abs(lu - med_u)) AS mad_u, {exact_avg("abs(lu - med_u)")} AS meanad_u
        FROM logs, med
    )"""
# the sample standard deviation of the gaps (whole days) from exact integer sums, n * sum(g^2) - sum(g)^2 >= 0:
# stddev_samp merges per-thread partial means in the threads' order (its last bits vary), and NULL below 2 gaps
_EXACT_STD_GAP = ("CASE WHEN count(gap) > 1 THEN sqrt(CAST(count(gap) * sum(CAST(gap AS BIGINT) * CAST(gap AS BIGINT)) "
                  "- sum(CAST(gap AS BIGINT)) * sum(CAST(gap AS BIGINT)) AS DOUBLE) / (count(gap) * (count(gap) - 1))) END")
OUTLIER_STATS = ("med_m", "med_u", "mad_m", "meanad_m", "mad_u", "meanad_u")
_OUTLIER_Z_SQL = """z AS (
        SELECT customer_id,
               (lm - med_m) / CASE WHEN mad_m > 0 THEN 1.4826 * mad_m WHEN meanad_m > 0 THEN 1.2533 * meanad_m END AS z_m,
               (lu - med_u) / CASE WHEN mad_u > 0 THEN 1.4826 * mad_u WHEN meanad_u > 0 THEN 1.2533 * meanad_u END AS z_u
        FROM logs, med, spread
    )"""


def _outlier_flag(thr: float) -> str:
    return f"coalesce(greatest(z.z_m, z.z_u) > {float(thr)!r}, false)"


def outlier_flags_sql(source: str, thr: float) -> str:
    """The rows of ``source`` (a table holding feature columns but ``is_outlier``) with ``is_outlier`` flagged
    over them all by the batch's rule (:data:`FEATURE_DOCS`): what a union of recomputed and carried rows needs."""
    return (f"WITH {_OUTLIER_STATS_SQL.format(source=source)},\n    {_OUTLIER_Z_SQL}\n"
            f"    SELECT s.*, {_outlier_flag(thr)} AS is_outlier FROM {source} s LEFT JOIN z USING (customer_id)")


def outlier_reference(ws, run_id: int) -> dict[str, float | None]:
    """The outlier median / MAD of the population stored as run ``run_id`` of ``customer_features``.

    What :func:`customer_features` needs (``reference_run_id=``) to flag a few
    customers against the run's whole population, as the batch did.
    """
    stats = _OUTLIER_STATS_SQL.format(source="(SELECT * FROM customer_features WHERE run_id = $rid)")
    row = ws.con.execute(f"WITH {stats} SELECT {', '.join(OUTLIER_STATS)} FROM med, spread",
                         {"rid": int(run_id)}).fetchall()[0]
    return {k: (None if v is None else float(v)) for k, v in zip(OUTLIER_STATS, row)}


def reference_categories(ws, run_id: int, config: Config | None = None) -> list[tuple[str, str]]:
    """The top categories of run ``run_id``: :func:`top_categories` at that run's ``as_of``."""
    cfg = config or load_config()
    as_of = ws.scalar("SELECT as_of FROM runs WHERE run_id = ?", [int(run_id)])
    if as_of is None:
        from .errors import WorkspaceError

        raise WorkspaceError(f"No run {run_id} in table runs: expected the id of a stored run.",
                             hint="`shopseg runs` lists them.")
    return top_categories(ws, as_of, cfg["features.top_categories"])


# The columns that move with as_of alone, for a customer without a new row: their value ``days`` later.
# recency_days: the last order's (or, without orders, the first known date's) distance, so + days;
# tenure_days: + days (callers recompute tenure 0: "no date known" and "first date on as_of" look alike);
# mean_days_between_orders: the open gap (recency / tenure) when there is no closed gap: certain without
# orders or with one sale order; with more orders, a row whose mean equals its recency is ambiguous
# (:data:`AMBIGUOUS_SHIFT` says which rows to recompute instead).
_SHIFTED = {
    "recency_days": "recency_days + $days",
    "tenure_days": "tenure_days + $days",
    "mean_days_between_orders": "CASE WHEN NOT has_orders OR frequency < 2 THEN mean_days_between_orders + $days "
                                "ELSE mean_days_between_orders END",
}
AMBIGUOUS_SHIFT = ("tenure_days = 0 OR (has_orders AND frequency >= 2 "
                   "AND mean_days_between_orders = CAST(recency_days AS DOUBLE))")


def shifted_sql(columns: list[str], source: str) -> str:
    """A SELECT of ``columns`` from ``source`` (stored feature rows) as of ``$days`` days later, for customers
    without a new row since (and none of :data:`AMBIGUOUS_SHIFT`): the date-relative columns moved, the rest
    as stored.

    >>> print(shifted_sql(["customer_id", "tenure_days"], "p"))
    SELECT "customer_id", CAST(tenure_days + $days AS BIGINT) AS "tenure_days" FROM p
    """
    def col(c: str) -> str:
        if c not in _SHIFTED:
            return f'"{c}"'
        typ = "DOUBLE" if c == "mean_days_between_orders" else "BIGINT"
        return f'CAST({_SHIFTED[c]} AS {typ}) AS "{c}"'

    return f"SELECT {', '.join(col(c) for c in columns)} FROM {source}"


def _num(v) -> str:
    return "NULL" if v is None else f"CAST({float(v)!r} AS DOUBLE)"


def features_sql(ws, as_of, config: Config | None = None, *, restricted: bool = False,
                 categories: list[tuple[str, str]] | None = None,
                 outlier_stats: dict[str, float | None] | None = None, review_run: int | None | str = LATEST) -> str:
    """The SQL of :func:`customer_features` (parameter ``$as_of``), for inspection or reuse.

    ``restricted``: the SQL also takes ``$customers`` (a list of ids) and reads only
    their rows (orders, events, reviews, customers; every per-customer expression is
    unchanged).  ``categories`` ((category, slug) pairs) replaces the shop's top
    categories at ``as_of``; ``outlier_stats`` (:func:`outlier_reference`) replaces
    the median / MAD of the rows computed, so a restricted computation flags outliers
    against a stored population.  ``review_run``: the run of ``review_insights`` whose
    sentiment the features take (see :func:`_sentiment_cte`).
    """
    cfg = config or load_config()
    cats = categories if categories is not None else top_categories(ws, as_of, cfg["features.top_categories"])
    only = CUSTOMER_FILTER if restricted else ""
    thr = float(cfg["features.outlier_z"])
    cat_sums = "".join(
        f",\n            {exact_sum('gross', f'category = {_lit(c)}')} AS g_{s}" for c, s in cats
    )
    cat_list = ", ".join(_lit(c) for c, _ in cats) or "NULL"
    cat_cols = "".join(
        f",\n        coalesce(cs.g_{s} / nullif(cs.g_total, 0), 0.0) AS cat_share_{s}" for _, s in cats
    )
    senti_cte, senti_join, senti_col = _sentiment_cte(ws, review_run)
    # columns listed, not ``base.* EXCLUDE / REPLACE``: the same text then transpiles to Spark SQL (shopseg.spark)
    share_cols = "".join(f", base.cat_share_{s}" for _, s in cats)
    senti_out = ", base.avg_review_sentiment" if senti_col else ""
    outlier = _OUTLIER_STATS_SQL.format(source="base")
    if outlier_stats is not None:  # the reference population's numbers instead of the rows computed
        st = {k: _num(outlier_stats.get(k)) for k in OUTLIER_STATS}
        outlier = outlier.split("med AS")[0] + (
            f"med AS (SELECT {st['med_m']} AS med_m, {st['med_u']} AS med_u),\n    "
            f"spread AS (SELECT {st['mad_m']} AS mad_m, {st['meanad_m']} AS meanad_m, "
            f"{st['mad_u']} AS mad_u, {st['meanad_u']} AS meanad_u)")
    return f"""
    WITH
    o AS (  -- sale and return orders before as_of
        SELECT order_id, customer_id, ordered_at, kind, coalesce(discount_amount, 0.0) AS order_discount
        FROM orders WHERE ordered_at < $as_of AND kind IN ('sale', 'return'){only}
    ),
    li AS (  -- their lines, with category and brand; amounts exact (shopseg._exact: cast once, summed often)
        SELECT o.order_id, o.customer_id, o.kind, l.quantity,
               CAST(l.quantity * l.unit_price AS {EXACT}) AS gross,
               CAST(coalesce(l.discount_amount, 0.0) AS {EXACT}) AS line_discount,
               p.category, p.brand
        FROM o JOIN order_lines l USING (order_id) LEFT JOIN products p USING (product_id)
    ),
    ov AS (  -- one row per order: gross, discount, value, units
        SELECT o.order_id, o.customer_id, o.kind, o.ordered_at,
               coalesce(a.gross, 0.0) AS gross,
               coalesce(a.line_discount, 0.0) + o.order_discount AS discount,
               coalesce(a.gross, 0.0) - coalesce(a.line_discount, 0.0) - o.order_discount AS value,
               coalesce(a.units, 0.0) AS units
        FROM o LEFT JOIN (
            SELECT order_id, {exact_sum("gross")} AS gross, {exact_sum("line_discount")} AS line_discount,
                   {exact_sum("quantity")} AS units
            FROM li GROUP BY 1
        ) a USING (order_id)
        WHERE o.customer_id IS NOT NULL
    ),
    sales AS (
        SELECT customer_id, count(*) AS frequency, {exact_sum("value")} AS monetary_total, {exact_sum("gross")} AS gross,
               {exact_sum("discount")} AS discount, {exact_sum("units")} AS n_units,
               min(ordered_at) AS first_order_at, max(ordered_at) AS last_order_at
        FROM ov WHERE kind = 'sale' GROUP BY 1
    ),
    rets AS (SELECT customer_id, {exact_sum("value")} AS returned_value FROM ov WHERE kind = 'return' GROUP BY 1),
    pdays AS (SELECT DISTINCT customer_id, CAST(ordered_at AS DATE) AS d FROM ov WHERE kind = 'sale'),
    gaps AS (
        SELECT customer_id, CAST(date_diff('day', lag(d) OVER (PARTITION BY customer_id ORDER BY d), d) AS DOUBLE) AS gap
        FROM pdays
    ),
    gapstats AS (
        SELECT customer_id, count(gap) AS n_gaps, avg(gap) AS mean_gap, {_EXACT_STD_GAP} AS std_gap
        FROM gaps WHERE gap IS NOT NULL GROUP BY 1
    ),
    brands AS (
        SELECT customer_id, count(DISTINCT brand) AS brand_diversity
        FROM li WHERE kind = 'sale' AND customer_id IS NOT NULL GROUP BY 1
    ),
    cs AS (  -- gross sale value per top category
        SELECT customer_id, {exact_sum("gross")} AS g_total,
               {exact_sum("gross", f"category IS NULL OR category NOT IN ({cat_list})")} AS g_other{cat_sums}
        FROM li WHERE kind = 'sale' AND customer_id IS NOT NULL GROUP BY 1
    ),
    ev AS (SELECT * FROM events WHERE occurred_at < $as_of AND customer_id IS NOT NULL{only}),
    evs AS (
        SELECT customer_id, count(DISTINCT session_id) AS n_sessions,
               {exact_sum("coalesce(duration_seconds, 0.0)")} / 60.0 AS browse_minutes,
               count(*) FILTER (WHERE event_type = 'view') AS n_views,
               count(*) FILTER (WHERE event_type = 'click') AS n_clicks,
               min(occurred_at) AS first_event_at
        FROM ev GROUP BY 1
    ),
    carts AS (
        SELECT customer_id, session_id, CAST(min(occurred_at) AS DATE) AS cart_day
        FROM ev WHERE event_type = 'add_to_cart' GROUP BY 1, 2
    ),
    cartstats AS (
        SELECT c.customer_id, count(*) AS n_cart_sessions, count(*) FILTER (WHERE p.d IS NULL) AS n_abandoned
        FROM carts c LEFT JOIN pdays p ON p.customer_id = c.customer_id AND p.d = c.cart_day
        GROUP BY 1
    ),
    rv_in AS (SELECT * FROM reviews WHERE reviewed_at < $as_of AND customer_id IS NOT NULL{only}),
    rvs AS (SELECT customer_id, count(*) AS n_reviews, {exact_avg("rating")} AS avg_rating FROM rv_in GROUP BY 1){senti_cte},
    signup AS (
        SELECT customer_id, min(signed_up_at) AS signed_up_at FROM customers
        WHERE customer_id IS NOT NULL AND (signed_up_at IS NULL OR signed_up_at <= $as_of){only} GROUP BY 1
    ),
    ids AS (
        SELECT customer_id FROM signup UNION SELECT customer_id FROM ov UNION SELECT customer_id FROM evs
    ),
    base AS (
        SELECT ids.customer_id,
               sales.customer_id IS NOT NULL AS has_orders,
               coalesce(sales.frequency, 0) AS frequency,
               coalesce(date_diff('day', CAST(least(signup.signed_up_at, sales.first_order_at,
                   rets_first.first_return_at, evs.first_event_at) AS DATE), CAST($as_of AS DATE)), 0) AS tenure_days,
               date_diff('day', CAST(sales.last_order_at AS DATE), CAST($as_of AS DATE)) AS recency_raw,
               coalesce(sales.monetary_total, 0.0) AS monetary_total,
               coalesce(sales.monetary_total, 0.0) - coalesce(rets.returned_value, 0.0) AS monetary_net,
               coalesce(sales.monetary_total / sales.frequency, 0.0) AS avg_order_value,
               coalesce(sales.n_units, 0.0) AS n_units,
               gapstats.mean_gap, coalesce(gapstats.std_gap, 0.0) AS std_days_between_orders,
               coalesce(evs.n_sessions, 0) AS n_sessions,
               coalesce(evs.browse_minutes, 0.0) AS browse_minutes,
               coalesce(evs.n_clicks / nullif(evs.n_views, 0), 0.0) AS click_rate,
               coalesce(cartstats.n_abandoned / nullif(cartstats.n_cart_sessions, 0), 0.0) AS cart_abandonment_rate{cat_cols},
               coalesce(cs.g_other / nullif(cs.g_total, 0), 0.0) AS cat_share_other,
               coalesce(brands.brand_diversity, 0) AS brand_diversity,
               coalesce(sales.discount / nullif(sales.gross, 0), 0.0) AS discount_share,
               coalesce(rets.returned_value / nullif(sales.monetary_total, 0), 0.0) AS return_rate,
               coalesce(rvs.n_reviews, 0) AS n_reviews,
               coalesce(rvs.avg_rating, 0.0) AS avg_rating{senti_col}
        FROM ids
        LEFT JOIN signup USING (customer_id)
        LEFT JOIN sales USING (customer_id)
        LEFT JOIN rets USING (customer_id)
        LEFT JOIN (SELECT customer_id, min(ordered_at) AS first_return_at FROM ov WHERE kind = 'return' GROUP BY 1)
            rets_first USING (customer_id)
        LEFT JOIN gapstats USING (customer_id)
        LEFT JOIN evs USING (customer_id)
        LEFT JOIN cartstats USING (customer_id)
        LEFT JOIN cs USING (customer_id)
        LEFT JOIN brands USING (customer_id)
        LEFT JOIN rvs USING (customer_id)
        {senti_join}
    ),
    {outlier},
    {_OUTLIER_Z_SQL}
    SELECT base.customer_id, CAST(base.n_sessions AS BIGINT) AS n_sessions, base.browse_minutes,
        base.click_rate, base.cart_abandonment_rate{share_cols}, base.cat_share_other,
        CAST(base.brand_diversity AS BIGINT) AS brand_diversity, base.discount_share, base.return_rate,
        CAST(base.n_reviews AS BIGINT) AS n_reviews, base.avg_rating{senti_out},
        -- re-ordered: order and money columns first
        base.has_orders, CAST(base.frequency AS BIGINT) AS frequency,
        CAST(CASE WHEN base.has_orders THEN base.recency_raw ELSE base.tenure_days END AS BIGINT) AS recency_days,
        CAST(base.tenure_days AS BIGINT) AS tenure_days,
        base.monetary_total, base.monetary_net, base.avg_order_value, base.n_units,
        CAST(CASE WHEN base.mean_gap IS NOT NULL THEN base.mean_gap
             WHEN base.has_orders THEN base.recency_raw ELSE base.tenure_days END AS DOUBLE) AS mean_days_between_orders,
        base.std_days_between_orders,
        {_outlier_flag(thr)} AS is_outlier
    FROM base LEFT JOIN z USING (customer_id)
    """


def _ordered_columns(cols: list[str]) -> list[str]:
    head = [
        "customer_id", "has_orders", "frequency", "recency_days", "tenure_days", "monetary_total",
        "monetary_net", "avg_order_value", "n_units", "mean_days_between_orders", "std_days_between_orders",
        "n_sessions", "browse_minutes", "click_rate", "cart_abandonment_rate",
    ]
    cats = [c for c in cols if c.startswith("cat_share_") and c != "cat_share_other"] + ["cat_share_other"]
    tail = ["brand_diversity", "discount_share", "return_rate", "n_reviews", "avg_rating"]
    extra = [c for c in cols if c not in head + cats + tail + ["is_outlier"]]
    return head + cats + tail + extra + ["is_outlier"]


def customer_features(ws, as_of, run_id: int | None = None, *, config: Config | None = None,
                      customers=None, reference_run_id: int | None = None,
                      review_run: int | None | str = LATEST) -> pd.DataFrame:
    """One row per customer known at ``as_of`` with the features of :data:`FEATURE_DOCS`.

    Uses only rows dated strictly before ``as_of``.  When ``run_id`` is given
    the rows are also stored as that run of table ``customer_features``
    (``ws.write_output``).  Returns a pandas DataFrame ordered by customer_id.

    ``customers`` (ids) restricts the computation to those customers (the same
    SQL, reading only their rows: O(their rows), what the live service needs).
    ``reference_run_id`` takes the top categories (at that run's as_of) and the
    outlier median / MAD (of its stored ``customer_features``) from a stored run,
    so a restricted row equals that customer's row of a whole-shop computation
    against the run's population.  Without it a restricted computation uses the
    shop's top categories at ``as_of`` and flags outliers among the customers asked.
    ``review_run``: the run of ``review_insights`` to take sentiment from (a stage passes ``ctx.runs.of``).
    """
    as_ts = _as_ts(as_of)
    cats = stats = None
    if reference_run_id is not None:
        cats = reference_categories(ws, reference_run_id, config)
        stats = outlier_reference(ws, reference_run_id)
    sql = features_sql(ws, as_ts, config, restricted=customers is not None, categories=cats, outlier_stats=stats,
                       review_run=review_run)
    con = ws.con
    params: dict = {"as_of": as_ts}
    if customers is not None:
        params["customers"] = [str(c) for c in customers]
    con.execute(f"CREATE OR REPLACE TEMP TABLE _shopseg_features AS {sql}", params)
    return stored_features(ws, run_id)


def stored_features(ws, run_id: int | None, *, rows: bool = True) -> pd.DataFrame:
    """The rows of temp table ``_shopseg_features`` in the output's column order (dropped after): stored as run
    ``run_id`` of ``customer_features`` when given, and returned ordered by customer_id (``rows`` False: none
    returned, only the columns: an incremental run reads back the few it scores)."""
    con = ws.con
    cols = [r[0] for r in con.execute("SELECT * FROM _shopseg_features LIMIT 0").description]
    select = "SELECT " + ", ".join(f'"{c}"' for c in _ordered_columns(cols)) + \
        " FROM _shopseg_features ORDER BY customer_id"
    if run_id is not None:
        _ensure_columns(ws, "customer_features", select)
        ws.write_output("customer_features", run_id, select)
    df = con.execute(select if rows else f"{select} LIMIT 0").df()
    con.execute("DROP TABLE IF EXISTS _shopseg_features")
    return df


def _ensure_columns(ws, table: str, select: str) -> None:
    """Add to an existing output table the columns a new run brings (e.g. another top category).

    Older runs read NULL in them; ``INSERT BY NAME`` fills the columns the new run lacks with NULL.
    """
    if not ws.has_table(table):
        return
    have = set(ws.columns(table))
    desc = ws.con.execute(f"DESCRIBE {select}").fetchall()
    for name, typ, *_ in desc:
        if name not in have:
            ws.con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {typ}')
