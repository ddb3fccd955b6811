"""The campaign plan of a run: what ``shopseg plan``, ``GET /campaign``, the dashboard's campaign page and the
report's plan section show, added up once (:func:`shopseg.act.plan_summary` and :func:`shopseg.act.plan_totals`)."""

from __future__ import annotations

import math


def _plain(v):
    """A cell as JSON takes it: numpy scalars as Python numbers, NaN as None."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def plan_view(con, run_id: int | None = None, *, first_actions: int = 0) -> dict:
    """The plan of ``run_id`` (default: the latest done run that wrote actions): ``run_id``, ``summary`` (one dict
    per campaign: channel, treatment, control, cost, incremental and expected value, ROI, uplift and its source),
    ``totals``, ``priors`` (a sentence when values rest on priors, else ''), ``frame`` (the summary as a
    DataFrame, for charts), ``note`` (why there is nothing to show, else None) and, with ``first_actions``, the
    first ``rows`` of the actions table with their ``columns``.

    ``con``: the workspace's DuckDB connection or a cursor of it.
    """
    from ..act import plan_summary, plan_totals, priors_note

    empty = {"run_id": None, "columns": [], "summary": [], "totals": None, "priors": "", "rows": [], "frame": None}
    if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'actions' "
                       "AND table_schema = 'main'").fetchall()[0][0]:
        return {**empty, "note": "no campaign planned yet: no run's act stage chose a customer"}
    if run_id is None:
        run_id = con.execute("SELECT max(run_id) FROM actions WHERE run_id IN "
                             "(SELECT run_id FROM runs WHERE status = 'done')").fetchall()[0][0]
        if run_id is None:
            return {**empty, "note": "no campaign planned yet: no run's act stage chose a customer"}
    df = plan_summary(con, int(run_id))
    out = {**empty, "run_id": int(run_id), "frame": df, "note": None}
    if df.empty:
        out["note"] = (f"run {run_id} planned no actions: no customer's expected value was above "
                       "act.min_expected_value")
        return out
    out["summary"] = [{k: _plain(v) for k, v in r.items()} for r in df.drop(columns="run_id").to_dict("records")]
    out["totals"] = {k: _plain(v) for k, v in plan_totals(df).items()}
    out["priors"] = priors_note(df)
    if first_actions:
        res = con.execute("SELECT * EXCLUDE (run_id) FROM actions WHERE run_id = ? ORDER BY customer_id LIMIT ?",
                          [int(run_id), int(first_actions)])
        out["columns"] = [d[0] for d in res.description]
        out["rows"] = [{c: _plain(v) for c, v in zip(out["columns"], r)} for r in res.fetchall()]
    return out
