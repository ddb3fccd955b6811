"""The plan of a run added up: per campaign (:func:`plan_summary`) and in total (:func:`plan_totals`), and which
values rest on priors (:func:`priors_note`). ``shopseg plan``, the API, the dashboard and the report show these
(through :func:`shopseg.views.plan_view`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ShopsegError

PLAN_COLUMNS = {
    "campaign": "Campaign name.",
    "channel": "Its channel.",
    "treatment": "Customers contacted.",
    "control": "Customers held out as the control group (not contacted, cost nothing).",
    "control_share": "control / (treatment + control).",
    "cost": "Expected spend: contact costs plus expected incentives of the treatment group.",
    "incremental_value": "Expected incremental net value of the responses: sum of uplift x response_value "
                         "over the treatment group.",
    "expected_value": "incremental_value - cost.",
    "expected_roi": "expected_value / cost (NaN when cost is 0).",
    "uplift": "Mean incremental response used for the treatment group.",
    "uplift_source": "Where the uplift comes from ('prior: ...' or 'measured: ...').",
}


_PLAN_SQL = """
    SELECT campaign, any_value(channel) AS channel,
           count(*) FILTER (WHERE "group" = 'treatment') AS treatment,
           count(*) FILTER (WHERE "group" = 'control') AS control,
           coalesce(sum(cost) FILTER (WHERE "group" = 'treatment'), 0) AS cost,
           coalesce(sum(expected_value + cost) FILTER (WHERE "group" = 'treatment'), 0) AS incremental_value,
           coalesce(sum(expected_value) FILTER (WHERE "group" = 'treatment'), 0) AS expected_value,
           avg(uplift) FILTER (WHERE "group" = 'treatment') AS uplift,
           coalesce(min(uplift_source) FILTER (WHERE "group" = 'treatment'), min(uplift_source)) AS uplift_source
    FROM actions WHERE run_id = ? GROUP BY campaign ORDER BY campaign"""


def _query(source, sql: str, params: list) -> pd.DataFrame:
    """Rows of ``sql`` from a Workspace or a DuckDB connection / cursor (the service's)."""
    if hasattr(source, "con"):
        return source.df(sql, params)
    return source.execute(sql, params).df()


def plan_summary(source, run_id: int | None = None) -> pd.DataFrame:
    """The plan's figures per campaign of a run's ``actions`` (the latest run by default).

    The one place the plan is added up: ``shopseg plan``, the report, the dashboard and the API
    format these rows (and :func:`plan_totals` of them), so they agree on every count and sum.
    ``source`` is a Workspace or a DuckDB connection.  Columns: ``run_id`` and :data:`PLAN_COLUMNS`;
    one row per campaign, no total row.
    """
    cols = {r[0] for r in _query(source, "SELECT table_name AS name FROM information_schema.tables "
                                         "WHERE table_name = 'actions'", []).itertuples(index=False)}
    if "actions" not in cols:
        raise ShopsegError("No actions in the workspace yet.", hint="Run `shopseg run` (stage act) first.")
    if run_id is None:
        run_id = _query(source, "SELECT max(run_id) AS r FROM actions", [])["r"].iloc[0]
        if run_id is None or run_id != run_id:
            raise ShopsegError("No actions in the workspace yet.", hint="Run `shopseg run` (stage act) first.")
    have = set(_query(source, "SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'actions'",
                      [])["c"])
    sql = _PLAN_SQL if "uplift" in have else (  # actions written before uplift was planned with
        _PLAN_SQL.replace("avg(uplift)", "avg(NULL::DOUBLE)").replace(
            "coalesce(min(uplift_source) FILTER (WHERE \"group\" = 'treatment'), min(uplift_source))",
            "'response rate x gross value (before uplift)'"))
    df = _query(source, sql, [int(run_id)])
    for c in ("treatment", "control"):
        df[c] = df[c].astype("int64")
    n = df["treatment"] + df["control"]
    df["control_share"] = np.where(n > 0, df["control"] / n.where(n > 0, 1), 0.0)
    df["expected_roi"] = np.where(df["cost"] > 0, df["expected_value"] / df["cost"].where(df["cost"] > 0, 1.0), np.nan)
    df.insert(0, "run_id", int(run_id))
    df = df[["run_id", *PLAN_COLUMNS]]
    df.attrs["run_id"] = int(run_id)  # also when the run planned nothing (no rows)
    return df


def plan_totals(summary: pd.DataFrame) -> dict:
    """The plan's totals from :func:`plan_summary`'s rows: treatment, control, cost, incremental_value,
    expected_value, expected_roi, campaigns and whether any uplift is a prior."""
    t = {k: (int(summary[k].sum()) if k in ("treatment", "control") else float(summary[k].sum()))
         for k in ("treatment", "control", "cost", "incremental_value", "expected_value")}
    t["expected_roi"] = t["expected_value"] / t["cost"] if t["cost"] > 0 else float("nan")
    t["campaigns"] = int(len(summary))
    src = summary["uplift_source"].fillna("")
    t["priors"] = sorted(set(summary.loc[src.str.startswith("prior"), "campaign"]))
    return t


def priors_note(summary: pd.DataFrame) -> str:
    """A sentence saying which campaigns' values rest on priors and where those come from ('' when none)."""
    src = summary["uplift_source"].fillna("")
    pri = summary[src.str.startswith("prior")]
    if pri.empty:
        return ""
    by = pri.groupby("uplift_source")["campaign"].apply(lambda s: ", ".join(s))
    parts = [f"{camps}: uplift {summary.loc[summary.uplift_source == srcs, 'uplift'].mean():.2%} from "
             f"{srcs.removeprefix('prior: ')}" for srcs, camps in by.items()]
    return ("Expected values are priors (no campaign measured against its control group yet) - "
            + "; ".join(parts) + ".")
