"""Commands about segments and customers: segment, segments, schemes, classify, diff, history, customer."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from .. import _cli_out as out
from .._cli_out import console
from ..errors import ShopsegError
from ._common import _fmt, _load_config, _open, _run_stage, app, handles_errors


@app.command()
@handles_errors
def segment(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date the run describes (default: the last sale order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    seed: int = typer.Option(0, help="Random seed (sampling and K-means)."),
):
    """Compute customer features and every configured segment scheme (segments.schemes) as a new run."""
    with _open() as ws:
        _run_stage(ws, "segments", as_of, _load_config(config), seed=seed)


@app.command()
@handles_errors
def segments(
    scheme: str = typer.Option("rfm", "--scheme", "-s", help="Segment scheme (`shopseg schemes` lists them)."),
    run_id: Optional[int] = typer.Option(None, "--run", help="Run to show (default: the latest)."),
    segment: Optional[str] = typer.Option(None, "--segment", help="Export the customers of this segment."),
    export: Optional[Path] = typer.Option(None, "--export", help="CSV file for --segment's customer ids."),
):
    """Show the segments of a run (size, share, name), or export one segment's customers to CSV."""
    from ..views import read_runs, segment_listing, segment_run

    with _open(create=False, read_only=export is None) as ws:
        runs = read_runs(ws.con, run_id)
        if runs["run_id"] is None:
            raise ShopsegError(f"No segments of scheme {scheme!r} yet: no run has made them." if run_id is None
                               else f"No finished run {run_id}.",
                               hint="Run `shopseg run` (or `shopseg segment`) first, with the scheme in "
                                    "[segments] schemes.")
        if segment is not None:
            rid = segment_run(ws.con, runs, scheme, segment)
            dest = export or (ws.exports_dir / f"run{rid}_{scheme}_{segment.replace(' ', '_')}.csv")
            ws.con.execute(
                f"COPY (SELECT customer_id FROM segments WHERE run_id = ? AND scheme = ? AND segment = ? "
                f"ORDER BY customer_id) TO '{str(dest).replace(chr(39), chr(39) * 2)}' (HEADER)",
                [rid, scheme, segment])
            out.say(f"Exported to {dest}")
            out.record("exported", dest)
            return
        (listing,) = segment_listing(ws.con, runs, scheme)
    rows = [(s["segment"], s["name"] if s["name"] != s["segment"] else None, s["n_customers"], s["share"])
            for s in listing["segments"]]
    out.table("segments", ["segment", "name", "customers", "share"], rows,
              title=f"run {runs['tables']['segments']}: {scheme}", formats={"customers": ",", "share": ".1%"})


@app.command()
@handles_errors
def schemes():
    """List the segment schemes (the registry): name, whether the default config runs it, what it does."""
    from ..config import load_config
    from ..segment._registry import get, names

    on = load_config()["segments.schemes"]
    out.table("schemes", ["scheme", "default", "what it does"],
              [(n, "yes" if n in on else "no", get(n).doc) for n in names()], title="segment schemes")


@app.command()
@handles_errors
def classify(
    labels: Optional[Path] = typer.Option(None, "--labels", help="CSV of customer_id,label (else [segments.classify] labels or rules)."),
    run_id: Optional[int] = typer.Option(None, "--run", help="Run whose features to use (default: the latest)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
):
    """Learn predefined groups from labelled customers (or rules) and place the rest (scheme 'group')."""
    from ..segment.classify import classify_groups

    with _open() as ws:
        rid = run_id or ws.latest_run_id()
        if rid is None:
            raise ShopsegError("No run yet.", hint="Run `shopseg segment` (or `shopseg run`) first.")
        as_of = ws.scalar("SELECT as_of FROM runs WHERE run_id = ?", [rid])
        with ws.transaction():
            res = classify_groups(ws, rid, as_of, _load_config(config), labels=str(labels) if labels else None)
    out.record("classify", {k: v for k, v in res.items() if k != "groups"})
    if "note" in res:
        out.say(res["note"])
        return
    out.table("groups", ["group", "customers"], res["groups"].items(),
              title=f"run {rid}: groups ({res['model']}, from {res['source']})", formats={"customers": ","})
    acc = res["cv_accuracy"]
    out.say(f"labelled {res['labelled']:,}, placed {res['placed']:,}; cross-validated accuracy "
            f"{'n/a' if acc is None else f'{acc:.3f}'} ({res['cv_folds']} folds)")
    for rule in res["rules"] or []:
        out.say(f"  {rule}")


@app.command()
@handles_errors
def diff(
    run_a: int = typer.Argument(..., help="Earlier run."),
    run_b: int = typer.Argument(..., help="Later run."),
    scheme: str = typer.Option("lifecycle", "--scheme", "-s", help="Segment scheme (`shopseg schemes` lists them)."),
):
    """Migration matrix between two runs: customers per (segment in RUN_A, segment in RUN_B)."""
    from ..views.outputs import migration_matrix

    with _open(create=False, read_only=True) as ws:
        m = migration_matrix(ws, run_a, run_b, scheme)
    cols = [f"run {run_a} \\ run {run_b}", *map(str, m.columns)]
    out.table("migration", cols, [(str(seg), *row) for seg, row in m.iterrows()], title=f"{scheme} migration",
              formats=dict.fromkeys(cols[1:], ","))


@app.command()
@handles_errors
def history(scheme: str = typer.Option("rfm", "--scheme", "-s", help="Segment scheme (`shopseg schemes` lists them).")):
    """Segment sizes over runs."""
    from ..views.outputs import segment_sizes

    with _open(create=False, read_only=True) as ws:
        p = segment_sizes(ws, scheme)
    cols = ["segment", *(f"run {c}" for c in p.columns)]
    out.table("history", cols, [(str(seg), *(int(v) for v in row)) for seg, row in p.iterrows()],
              title=f"{scheme} sizes", formats=dict.fromkeys(cols[1:], ","))


@app.command("customer")
@handles_errors
def customer(
    customer_id: str = typer.Argument(..., help="The customer's id."),
):
    """Show one customer as of the latest run: segments, interests, churn risk and reasons, lifetime value,
    recommendations and the next action (the API's customer view, in words)."""
    from ..predict._status import p_alive_name
    from ..predict.explain import percent_words, probability_words
    from ..views import customer_view, next_action_words, not_planned, recommendation_words

    with _open(create=False, read_only=True) as ws:
        view = customer_view(ws.con, customer_id)
        why_not = not_planned(ws.con, customer_id) if view is not None and view["next_action"] is None else None
    if view is None:
        raise ShopsegError(f"No customer {customer_id!r} in the workspace.",
                           hint="Customer ids are text and case-sensitive.")
    out.record("customer", view)
    if out.out.json:
        return

    def say(text: str) -> None:
        console.print(text, highlight=False, markup=False, soft_wrap=True)

    console.print(f"[bold]{escape(customer_id)}[/]", highlight=False)
    if view["status"]:
        say(f"  {view['status']}")
    for scheme, seg in view["segments"].items():
        name = f" ({seg['name']})" if seg["name"] and seg["name"] != seg["segment"] else ""
        say(f"  {scheme:<11} {seg['segment']}{name}")
    if view["interests"]:
        say("  interests   " + "; ".join(f"{i['name']} ({i['lift']:.1f}x the shop)" for i in view["interests"]))
    c = view["churn"]
    if c:
        say(f"  churn risk  {percent_words(c['probability'])} ({c['tier']}, {c['model']})")
        for reason in c["reasons"]:
            say(f"    - {reason}")
    elif view["run_id"] is not None:
        say("  churn risk  not scored (no churn stage in the run, or no sale order before it)")
    if view["clv"]:
        c = view["clv"]
        # a window model's P(alive) is P(an order in the next W days): its name says W, as the status line does
        alive = p_alive_name(c.get("p_alive_days"))
        src = c.get("sources") or {}

        def by(figure: str) -> str:  # the model of one figure: the run chose one per figure (docs/clv.md)
            return f" ({src[figure]})" if src.get(figure) else ""

        say(f"  {alive:<11} {probability_words(c['p_alive'])}{by('p_alive')}")
        if c.get("expected_purchases_horizon") is not None:
            say(f"  purchases   {_fmt(c['expected_purchases_horizon'], ',.2f')} expected in the CLV's horizon"
                f"{by('expected_purchases')}")
        if c.get("expected_order_value") is not None:
            say(f"  order value {_fmt(c['expected_order_value'], ',.2f')}{by('expected_order_value')}")
        say(f"  CLV         {_fmt(c['clv'], ',.2f')}{by('clv')}")
        if c.get("basis"):
            say(f"    - {c['basis']}")
        say(f"  next order  {_day(c['expected_next_order_at'])}")
    if view["recommendations"]:
        say("  recommended")
        for k, r in enumerate(view["recommendations"][:5], 1):
            say(f"    {k}. {recommendation_words(r)}")
    if view["next_action"] is not None or view["run_id"] is not None:
        say(f"  next action {next_action_words(view['next_action'])}")
        for sentence in why_not or ():
            say(f"    - {sentence}")


def _day(when) -> str:
    """A next-order date as its day: a median wait's estimate, not a time to the microsecond ("2012-01-19
    16:26:00.310456" was printed); "not expected" when there is none.

    >>> _day("2012-01-19 16:26:00.310456"), _day(None)
    ('2012-01-19', 'not expected')
    """
    return str(when)[:10] if when else "not expected"
