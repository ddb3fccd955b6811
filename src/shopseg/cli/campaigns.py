"""Commands about campaigns: plan, measure, export."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .. import _cli_out as out
from ._common import _load_config, _open, app, handles_errors


@app.command("plan")
@handles_errors
def plan_cmd(
    run_id: Optional[int] = typer.Option(None, "--run", help="Run whose actions to summarise (default: the latest)."),
):
    """Treatment and control counts, cost and expected incremental value per campaign of a run's actions."""
    from ..views import plan_view

    with _open(create=False) as ws:
        plan = plan_view(ws.con, run_id)
    if not plan["summary"]:
        out.say(plan["note"][0].upper() + plan["note"][1:] + " (the run's summary and `shopseg report` say why).")
        out.record("plan", [])
        return
    tot = plan["totals"]
    cols = ["campaign", "channel", "treatment", "control", "cost", "incremental value", "expected value", "ROI",
            "uplift"]
    rows = [(r["campaign"], r["channel"], r["treatment"], r["control"], r["cost"], r["incremental_value"],
             r["expected_value"], r["expected_roi"], r["uplift"]) for r in plan["summary"]]
    rows.append(("total", None, tot["treatment"], tot["control"], tot["cost"], tot["incremental_value"],
                 tot["expected_value"], tot["expected_roi"], None))
    money = dict.fromkeys(["cost", "incremental value", "expected value", "ROI"], ",.2f")
    out.table("plan", cols, rows, title=f"Plan of run {plan['run_id']}", sections=[len(rows) - 1],
              formats={"treatment": ",", "control": ",", **money, "uplift": ".2%"})
    if plan["priors"]:
        out.say(plan["priors"])


@app.command("measure")
@handles_errors
def measure_cmd(
    run_id: Optional[int] = typer.Option(None, "--run", help="Run whose actions to measure (default: the latest)."),
    responses: Optional[Path] = typer.Option(None, "--responses", help="CSV or Parquet with customer_id, responded[, revenue][, campaign]; default: orders after the run's as_of."),
    window_days: Optional[int] = typer.Option(None, "--window-days", help="Days after as_of that count (default act.response_window_days)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    by_segment: bool = typer.Option(False, "--by-segment", help="Also show each segment and offer variant."),
):
    """Measured uplift per campaign: response rates of treatment and control, interval, incremental revenue, ROI."""
    from ..act import measure

    with _open(create=False) as ws:
        df = measure(ws, run_id, responses=responses, window_days=window_days, config=_load_config(config))
    if not by_segment:
        df = df[(df["segment"] == "all") & (df["variant"] == "all")]
    cols = ["campaign", "segment", "variant", "treated", "control", "rate T", "rate C", "uplift", "uplift low",
            "uplift high", "incremental revenue", "ROI"]

    def controlled(r, v):  # no control group: no rate, uplift or revenue to show
        return None if r.n_control == 0 else v

    rows = [(r.campaign, r.segment, r.variant, r.n_treatment, r.n_control, r.rate_treatment,
             controlled(r, r.rate_control), controlled(r, r.uplift), controlled(r, r.uplift_low),
             controlled(r, r.uplift_high), controlled(r, r.incremental_revenue), r.roi)
            for r in df.itertuples(index=False)]
    out.table("measure", cols, rows,
              title=f"Uplift ({df['ci_method'].iloc[0]}, {df['confidence_level'].iloc[0]:.0%})",
              formats={"treated": ",", "control": ",", "rate T": ".1%", "rate C": ".1%", "uplift": "+.1%",
                       "uplift low": "+.1%", "uplift high": "+.1%", "incremental revenue": ",.2f", "ROI": ".2f"})


@app.command("export")
@handles_errors
def export_cmd(
    campaign: str = typer.Argument(..., help="Campaign name (see `shopseg plan`)."),
    format: str = typer.Option("csv", "--format", help="csv or parquet."),
    include_pii: bool = typer.Option(False, "--include-pii", help="Also write raw e-mail, phone (E.164) and name."),
    run_id: Optional[int] = typer.Option(None, "--run", help="Run (default: the latest with actions)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Write the upload file of meta, google (hashed "
                                           "identifiers), klaviyo or mailchimp (raw contacts: needs --include-pii)."),
):
    """Write a campaign's audience (treatment only, never the control group) with SHA-256 hashed e-mail and phone."""
    from ..act import export_audience

    with _open(create=False) as ws:
        path = export_audience(ws, campaign, format=format, run_id=run_id, include_pii=include_pii,
                               config=_load_config(config), platform=platform)
        n = ws.scalar(f"SELECT count(*) FROM read_{'csv_auto' if format == 'csv' else 'parquet'}(?)", [str(path)])
    out.say(f"{n:,} customers -> {path}")
    out.record("export", {"customers": n, "path": path})
