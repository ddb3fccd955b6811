"""Read views over a workspace's runs, for people and programs (the Python API; the CLI and the service read the
same tables).

>>> import tempfile, warnings
>>> import shopseg
>>> from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
>>> from shopseg.pipeline import run_pipeline
>>> ws = shopseg.open_workspace(tempfile.mkdtemp() + "/ws")
>>> load_fixture_shop(ws)
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     _ = run_pipeline(ws, FIXTURE_AS_OF, stages=["segments"])
>>> df = ws.customers()
>>> len(df) == ws.count("customers"), list(df.columns[:5])
(True, ['customer_id', 'segment_cluster', 'segment_geo', 'segment_interest', 'segment_lifecycle'])
>>> ws.close()
"""

from __future__ import annotations

import json

import pandas as pd

from .errors import ShopsegError

CLV_COLUMNS = ("clv", "p_alive", "expected_purchases_90d", "expected_next_order_at")


def customers(ws, run: int | None = None, *, top_recommendations: int = 3) -> pd.DataFrame:
    """One row per customer of the workspace: ``segment_<scheme>`` for every scheme of the run, ``interests``
    (the names of the customer's interests, best first; NULL without one),
    ``churn_probability``, ``churn_tier``, the CLV columns (``clv``, ``p_alive``, ``expected_purchases_90d``,
    ``expected_next_order_at``) and ``recommendations`` (a list of the top product names).

    Each output table is read at ``run`` or, when that run did not write it, the latest earlier run that did
    (:meth:`Workspace.source_run`). A customer without a row in a table has NULL there (a prospect has no CLV).
    """
    run = run if run is not None else ws.latest_run_id()
    if run is None:
        raise ShopsegError("No finished run yet: there are no segments or scores to show.",
                           hint="Run `shopseg run` first.")
    out = ws.df("SELECT CAST(customer_id AS VARCHAR) AS customer_id FROM customers ORDER BY 1")
    if (r := ws.source_run("segments", run)) is not None:
        seg = ws.df("SELECT customer_id, 'segment_' || scheme AS scheme, segment FROM segments WHERE run_id = ?", [r])
        wide = seg.pivot(index="customer_id", columns="scheme", values="segment")
        out = out.merge(wide[sorted(wide.columns)], left_on="customer_id", right_index=True, how="left")
    if (r := _interests_run(ws, run)) is not None:
        ints = ws.df("SELECT customer_id, list(name ORDER BY rank) AS interests FROM customer_interests "
                     "WHERE run_id = ? GROUP BY 1", [r])
        out = out.merge(ints, on="customer_id", how="left")
    if (r := ws.source_run("churn_scores", run)) is not None:
        out = out.merge(ws.df("SELECT customer_id, probability AS churn_probability, tier AS churn_tier "
                              "FROM churn_scores WHERE run_id = ?", [r]), on="customer_id", how="left")
    if (r := ws.source_run("clv", run)) is not None:
        out = out.merge(ws.df(f"SELECT customer_id, {', '.join(CLV_COLUMNS)} FROM clv WHERE run_id = ?", [r]),
                        on="customer_id", how="left")
    if (r := ws.source_run("recommendations", run)) is not None:
        name = "coalesce(product_name, product_id)" if "product_name" in ws.columns("recommendations") \
            else "product_id"
        recs = ws.df(f"SELECT customer_id, list({name} ORDER BY rank) AS recommendations FROM recommendations "
                     f"WHERE run_id = ? AND rank <= ? GROUP BY 1", [r, int(top_recommendations)])
        out = out.merge(recs, on="customer_id", how="left")
    return out.reset_index(drop=True)


def _interests_run(ws, run: int) -> int | None:
    """The run whose ``customer_interests`` go with the segments read at ``run`` (the same run, or None)."""
    r = ws.source_run("segments", run)
    if r is None or not ws.has_table("customer_interests"):
        return None
    has = ws.scalar("SELECT count(*) FROM segments WHERE run_id = ? AND scheme = 'interest'", [r])
    return r if has else None


def customer_interests(ws, customer_id: str, run: int | None = None) -> list[dict]:
    """One customer's interests at ``run`` (default: the latest), best first: ``rank``, ``interest``, ``name``
    and ``lift`` (how many times the shop's share of their evidence is in it; see docs/segments.md)."""
    run = run if run is not None else ws.latest_run_id()
    r = _interests_run(ws, run) if run is not None else None
    if r is None:
        return []
    rows = ws.sql("SELECT rank, interest, name, lift FROM customer_interests WHERE run_id = ? AND customer_id = ? "
                  "ORDER BY rank", [r, str(customer_id)])
    return [{"rank": int(k), "interest": i, "name": n, "lift": round(float(lf), 3)} for k, i, n, lf in rows]


FIGURES = ("customers", "buyers", "revenue", "avg_order_value", "repeat_rate", "churn_risk", "clv")


def segment_figures_sql(tables: dict, scheme: str) -> tuple[str, list]:
    """SQL (and parameters) of :func:`segment_figures` over ``tables``: output table -> the run to read it at
    (``segments``, ``customer_features``, ``churn_scores``, ``clv``; a missing one gives NULL figures)."""
    def part(table: str, cols: str, empty: str) -> tuple[str, list]:
        run = tables.get(table)
        if run is None:
            return f"SELECT NULL::VARCHAR AS customer_id, {empty} LIMIT 0", []
        return f"SELECT CAST(customer_id AS VARCHAR) AS customer_id, {cols} FROM {table} WHERE run_id = ?", [run]

    run = tables.get("segments")
    s, ps = ("SELECT CAST(customer_id AS VARCHAR) AS customer_id, segment FROM segments WHERE run_id = ? "
             "AND scheme = ?", [run, scheme]) if run is not None else \
        ("SELECT NULL::VARCHAR AS customer_id, NULL::VARCHAR AS segment LIMIT 0", [])
    f, pf = part("customer_features", "has_orders, frequency, monetary_total, monetary_net",
                 "NULL::BOOLEAN AS has_orders, NULL::DOUBLE AS frequency, NULL::DOUBLE AS monetary_total, "
                 "NULL::DOUBLE AS monetary_net")
    ch, pc = part("churn_scores", "probability", "NULL::DOUBLE AS probability")
    cl, pl = part("clv", "clv", "NULL::DOUBLE AS clv")
    sql = f"""
        WITH s AS ({s}), f AS ({f}), ch AS ({ch}), cl AS ({cl})
        SELECT s.segment, count(*) AS customers, count(*) FILTER (WHERE f.has_orders) AS buyers,
               coalesce(sum(f.monetary_net), 0) AS revenue,
               coalesce(sum(f.monetary_total) / nullif(sum(f.frequency), 0), 0) AS avg_order_value,
               coalesce(count(*) FILTER (WHERE f.has_orders AND f.frequency >= 2)
                        / nullif(count(*) FILTER (WHERE f.has_orders), 0), 0) AS repeat_rate,
               avg(ch.probability) AS churn_risk, avg(cl.clv) AS clv
        FROM s LEFT JOIN f USING (customer_id) LEFT JOIN ch USING (customer_id) LEFT JOIN cl USING (customer_id)
        GROUP BY 1 ORDER BY 2 DESC, 1"""
    return sql, [*ps, *pf, *pc, *pl]


def suppress_small(rows: list[dict], k_min: int) -> list[dict]:
    """Figures of a segment under ``k_min`` customers withheld (None; its size stays, as in every listing),
    flagged ``suppressed``; in place."""
    for r in rows:
        r["suppressed"] = bool(r["customers"] < k_min)
        if r["suppressed"]:
            r.update({k: None for k in FIGURES if k != "customers"})
    return rows


def segment_figures(ws, run: int | None, scheme: str, *, k_min: int | None = None) -> pd.DataFrame:
    """Per segment of ``scheme`` at ``run`` (default: the latest): customers, buyers, revenue (net of returns),
    average order value (sales / orders), repeat rate (buyers with 2+ orders / buyers), churn risk (mean churn
    probability of the scored customers) and CLV (mean predicted CLV); each table read at ``run`` or the latest
    earlier run that wrote it. A segment under ``k_min`` customers (default: ``privacy.dp.k_min`` of the
    run's config) has its figures withheld.

    Churn and CLV run after segments, so they are joined here (the read layer), not stored with the profiles.
    """
    from .config import load_config

    run = run if run is not None else ws.latest_run_id()
    if run is None:
        raise ShopsegError("No finished run yet: there are no segments to describe.", hint="Run `shopseg run` first.")
    tables = {t: ws.source_run(t, run) for t in ("segments", "customer_features", "churn_scores", "clv")}
    sql, params = segment_figures_sql(tables, scheme)
    rows = ws.df(sql, params).to_dict(orient="records")
    if k_min is None:
        stored = ws.scalar("SELECT config FROM runs WHERE run_id = ?", [run])
        k_min = (json.loads(stored) if stored else load_config().as_dict())["privacy"]["dp"]["k_min"]
    return pd.DataFrame(suppress_small(rows, int(k_min)), columns=["segment", *FIGURES, "suppressed"])
