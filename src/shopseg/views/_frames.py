"""One row per customer of a run (``ws.customers()``), and one customer's interests.

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

import pandas as pd

from ..errors import ShopsegError

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
