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
(True, ['customer_id', 'segment_cluster', 'segment_lifecycle', 'segment_rfm', 'segment_value_tier'])
>>> ws.close()
"""

from __future__ import annotations

import pandas as pd

from .errors import ShopsegError

CLV_COLUMNS = ("clv", "p_alive", "expected_purchases_90d", "expected_next_order_at")


def customers(ws, run: int | None = None, *, top_recommendations: int = 3) -> pd.DataFrame:
    """One row per customer of the workspace: ``segment_<scheme>`` for every scheme of the run,
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
