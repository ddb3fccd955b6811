"""Customer features of an incremental run: only the changed customers' computed, the rest moved by the date.

A run R as of a later date than the base run P (``shopseg run --incremental``, :mod:`shopseg.incremental`)
needs every customer's features as of R's date, equal row for row to what the batch SQL
(:func:`shopseg.features.customer_features`) computes.  A customer with no new row since P (no order,
return, event or review dated on or after P's as_of, no sign-up after it) has P's aggregates; only the
date-relative columns move, by the days between the two dates (:func:`shopseg.features.shifted_sql`).  So:

1. the **recomputed** customers: the touched ones (``touched``, the incremental run's set: a row dated on or
   after P's as_of, which P did not read, or a sign-up after it), customers known at R but absent from P's
   rows (a sign-up row without a date added since), and P's rows whose shift is ambiguous
   (:data:`shopseg.features.AMBIGUOUS_SHIFT`): the batch SQL restricted to their rows (``restricted=True``, the
   live service's path);
2. everyone else: P's stored rows, shifted in SQL;
3. ``is_outlier`` over the union by the batch's rule (median / MAD of the whole population:
   :func:`shopseg.features.outlier_flags_sql`).

It computes all of them with the batch SQL instead (and says why) when the carried rows cannot be exact:
P has no ``customer_features`` rows, the shop's top categories as of R differ from P's (every category
share moves), or a column R computes is missing or NULL in P's rows (P computed with other categories or
without the review-sentiment hook).  The settings are P's (an incremental run refuses others).  What it
assumes, as the incremental scoring does: the input tables grow by rows dated after P's as_of; a row
back-dated before it, or a product whose category or brand changed, is not seen (a full run sees it).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from .features import (AMBIGUOUS_SHIFT, _as_ts, features_sql, outlier_flags_sql, shifted_sql, stored_features,
                       top_categories_at)

def _full(ws, as_of, run_id, config, review_run, why: str) -> tuple[list[str], dict]:
    from .features import customer_features

    feats = customer_features(ws, as_of, run_id, config=config, review_run=review_run)
    return list(feats.columns), {"mode": "full", "computed": len(feats), "carried": 0, "why": why}


def refresh_features(ws, as_of: datetime, run_id: int, base: int, base_as_of: datetime, config, review_run,
                     touched: list[str]) -> tuple[list[str], dict]:
    """Run ``run_id``'s ``customer_features`` as of ``as_of`` from run ``base``'s (module docstring), stored;
    returns the columns :func:`shopseg.features.customer_features` returns, in its order (:func:`features_of`
    reads a few customers' rows back), and a note of how (``mode`` "incremental" or "full" with ``why``,
    customers ``computed`` and ``carried``)."""
    as_ts, base_ts = _as_ts(as_of), _as_ts(base_as_of)
    n_base = int(ws.scalar("SELECT count(*) FROM customer_features WHERE run_id = ?", [base])
                 if ws.has_table("customer_features") else 0)
    if not n_base:
        return _full(ws, as_of, run_id, config, review_run, f"run {base} has no customer_features rows")
    n = config["features.top_categories"]
    cats, base_cats = top_categories_at(ws, [as_ts, base_ts], n)
    if cats != base_cats:
        return _full(ws, as_of, run_id, config, review_run,
                     f"the top categories as of {as_ts:%Y-%m-%d} differ from run {base}'s")
    sql = features_sql(ws, as_ts, config, restricted=True, categories=cats, review_run=review_run)
    cols = [r[0] for r in ws.con.execute(f"DESCRIBE ({sql})", {"as_of": as_ts, "customers": []}).fetchall()
            if r[0] != "is_outlier"]
    have = set(ws.columns("customer_features"))
    missing = [c for c in cols if c not in have]
    if missing:
        return _full(ws, as_of, run_id, config, review_run, f"run {base}'s rows lack {', '.join(missing)}")
    nullable = [c for c in cols if c.startswith("cat_share_") or c == "avg_review_sentiment"]
    if nullable and ws.scalar("SELECT count(*) FROM customer_features WHERE run_id = ? AND ("
                              + " OR ".join(f'"{c}" IS NULL' for c in nullable) + ")", [base]):
        return _full(ws, as_of, run_id, config, review_run,
                     f"run {base}'s rows have no value in some of {', '.join(nullable)} (other settings or sources)")
    new_ids = ("UNION (SELECT customer_id FROM customers WHERE customer_id IS NOT NULL AND "
               "(signed_up_at IS NULL OR signed_up_at <= $as_of) EXCEPT SELECT customer_id FROM customer_features "
               "WHERE run_id = $base)") if ws.has_table("customers") else ""
    con = ws.con
    q = f"""CREATE OR REPLACE TEMP TABLE _feat_ids AS
        SELECT unnest($touched) AS customer_id
        UNION SELECT customer_id FROM customer_features WHERE run_id = $base AND ({AMBIGUOUS_SHIFT})
        {new_ids}"""
    params = {"touched": [str(c) for c in touched], "base": base, "as_of": as_ts}
    con.execute(q, {k: v for k, v in params.items() if f"${k}" in q})
    ids = [str(r[0]) for r in con.execute("SELECT customer_id FROM _feat_ids").fetchall()]
    carried = ("(SELECT * FROM customer_features WHERE run_id = $base "
               "AND customer_id NOT IN (SELECT customer_id FROM _feat_ids))")
    sel = ", ".join(f'"{c}"' for c in cols)
    days = (as_ts.date() - base_ts.date()).days
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _feat_union AS SELECT {sel} FROM ({sql}) "
                    f"UNION ALL {shifted_sql(cols, carried)}",
                    {"as_of": as_ts, "customers": ids, "base": base, "days": days})
        con.execute("CREATE OR REPLACE TEMP TABLE _shopseg_features AS "
                    + outlier_flags_sql("_feat_union", config["features.outlier_z"]))
        # a recomputed id may be unknown as of the date (no row)
        computed, total = con.execute("SELECT count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM "
                                      "_feat_ids)), count(*) FROM _shopseg_features").fetchone()
    finally:
        con.execute("DROP TABLE IF EXISTS _feat_union")
        con.execute("DROP TABLE IF EXISTS _feat_ids")
    columns = list(stored_features(ws, run_id, rows=False).columns)
    return columns, {"mode": "incremental", "computed": int(computed), "carried": int(total - computed)}


def features_of(ws, run_id: int, columns: list[str], customers: list[str]) -> pd.DataFrame:
    """The stored ``customer_features`` rows of run ``run_id`` of ``customers`` (those it has), ``columns``
    (the run's: the table may hold other runs' columns too), ordered by customer_id: the frame
    :func:`shopseg.features.customer_features` returned, the other customers' rows left out."""
    sel = ", ".join(f'"{c}"' for c in columns)
    return ws.con.execute(f"SELECT {sel} FROM customer_features WHERE run_id = $run AND customer_id IN "
                          "(SELECT unnest($customers)) ORDER BY customer_id",
                          {"run": run_id, "customers": [str(c) for c in customers]}).df()
