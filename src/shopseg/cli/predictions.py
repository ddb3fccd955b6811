"""Commands about predictions and baskets: rules, reviews, predict clv / churn, recommend."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from .. import _cli_out as out
from .._cli_out import err_console
from ._common import _load_config, _open, _run_stage, app, handles_errors, predict_app


@app.command("rules")
@handles_errors
def rules_cmd(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Use sale orders up to this date (default: the last sale order's day)."),
    min_support: Optional[float] = typer.Option(None, "--min-support", help="Share of baskets, in (0, 1]."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence", help="In [0, 1]."),
    min_lift: Optional[float] = typer.Option(None, "--min-lift", help=">= 0 (1 keeps positive associations)."),
    max_len: Optional[int] = typer.Option(None, "--max-len", help="Items per rule, both sides."),
    with_items: Optional[list[str]] = typer.Option(None, "--with", help="Antecedent holds this product id (repeatable): what goes with X?"),
    to_items: Optional[list[str]] = typer.Option(None, "--to", help="Consequent is this product id (repeatable)."),
    unit: Optional[str] = typer.Option(None, "--unit", help="order or customer."),
    segments: Optional[str] = typer.Option(None, "--segments", help="Mine within each segment of this scheme."),
    keep_redundant: bool = typer.Option(False, "--keep-redundant", help="Keep rules a more general rule covers."),
    algorithm: Optional[str] = typer.Option(None, "--algorithm", help="eclat, fpgrowth or apriori (same result)."),
    top: int = typer.Option(20, "--top", help="Rules to print."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write every rule to this CSV."),
):
    """Association rules (arules' convention), overall or per segment, by lift; then the run's backtest verdict.

    The verdict: what the newest run's out-of-time backtest of its own rules against popularity decided (rules or
    popularity for cross-sell)."""
    from ..basket import association_rules, segment_rules
    from ..pipeline import default_as_of, parse_as_of

    with _open(create=False) as ws:
        when = parse_as_of(as_of) if as_of else default_as_of(ws)
        kw = dict(as_of=when, min_support=min_support, min_confidence=min_confidence, min_lift=min_lift,
                  max_len=max_len, antecedent_items=with_items or None, consequent_items=to_items or None,
                  unit=unit, algorithm=algorithm, prune_redundant=False if keep_redundant else None)
        df = segment_rules(ws, scheme=segments, **kw) if segments else association_rules(ws, **kw)
        hint = _no_rules_hint(ws, [*(with_items or []), *(to_items or [])]) if df.empty else None
        backtest = _rules_backtest(ws)  # whether rules beat popularity on this shop's later baskets
    if output:
        from ..act.export import csv_safe

        df.map(csv_safe).to_csv(output, index=False)  # product names as text, never a formula
    cols = [c for c in ("scope", "antecedent_names", "consequent_name", "support", "confidence", "lift") if c in df.columns]
    out.table("rules", cols, df.head(top)[cols].itertuples(index=False),
              title=f"{len(df):,} rules" + (f" (top {top} by lift)" if len(df) > top else ""),
              formats=dict.fromkeys(("support", "confidence", "lift"), ".4f"))
    out.record("n_rules", len(df))
    if backtest:
        run_id, sentence = backtest
        out.record("rules_backtest", {"run_id": run_id, "decision": sentence})
        err_console.print(f"[dim]Out of time (run {run_id}, the baskets stage's own thresholds):[/] {escape(sentence)}",
                          highlight=False, soft_wrap=True)
    if hint:
        err_console.print(f"[yellow]Hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)


def _rules_backtest(ws) -> tuple[int, str] | None:
    """The newest finished run's backtest of its basket rules against popularity (its ``model_decisions`` row
    ``rules``): (run id, the decision in one sentence), or None when no run has one."""
    if not ws.has_table("model_decisions"):
        return None
    got = ws.sql("SELECT d.run_id, d.decision FROM model_decisions d JOIN runs r USING (run_id) WHERE d.model = 'rules' "
                 "AND r.status = 'done' AND d.decision IS NOT NULL ORDER BY d.run_id DESC LIMIT 1")
    return (int(got[0][0]), str(got[0][1])) if got else None


def _no_rules_hint(ws, ids: list[str]) -> str:
    """Why a rules query about ``ids`` found nothing: an unknown id (with its near spellings) or the thresholds."""
    if not ids:
        return "No rule passes the thresholds: lower --min-support, --min-confidence or --min-lift."
    parts = []
    for pid in ids:
        known = ws.scalar("SELECT count(*) FROM products WHERE product_id = ?", [pid])
        near = [r[0] for r in ws.sql("SELECT product_id FROM products WHERE lower(product_id) = lower(?) "
                                     "AND product_id <> ? ORDER BY 1 LIMIT 3", [pid, pid])]
        if not known:
            parts.append(f"no product {pid!r}" + (f" (did you mean {', '.join(map(repr, near))}?)" if near else ""))
        elif near:
            parts.append(f"{pid!r} and {', '.join(map(repr, near))} are different products in this shop")
    return ("; ".join(parts) + ". " if parts else "") + (
        "No rule passes the thresholds with these products: lower --min-confidence (a rule from a popular "
        "product rarely reaches 0.25) or --min-support.")


@app.command()
@handles_errors
def reviews(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Only reviews written on or before this date (default: the last sale order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings ([reviews])."),
    seed: int = typer.Option(0, help="Random seed (topics)."),
):
    """Analyse reviews (sentiment, aspects, topics, mentions) as a run of the reviews stage; print a summary."""
    from ..views.outputs import reviews_by_language

    with _open() as ws:
        result = _run_stage(ws, "reviews", as_of, _load_config(config), seed=seed)
        df = reviews_by_language(ws, result.run_id)
        out.table("reviews", list(df.columns), df.itertuples(index=False), title="Reviews by language")


@predict_app.command("clv")
@handles_errors
def predict_clv(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date the prediction is made at (default: the last sale order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    model: Optional[str] = typer.Option(None, "--model", help="bgnbd or paretonbd (default clv.model)."),
    horizon_days: Optional[float] = typer.Option(None, "--horizon-days", help="Days ahead for expected purchases and CLV."),
    discount_rate: Optional[float] = typer.Option(None, "--discount-rate", help="Yearly discount rate."),
    top: int = typer.Option(10, help="Show the customers with the highest CLV."),
):
    """Fit BG/NBD (or Pareto/NBD) + Gamma-Gamma and write table clv for a new run."""
    over = {k: v for k, v in {"model": model, "horizon_days": horizon_days,
                              "discount_rate_annual": discount_rate}.items() if v is not None}
    cfg = _load_config(config, overrides={"clv": over} if over else None)
    from ..views.outputs import top_clv

    with _open() as ws:
        result = _run_stage(ws, "clv", as_of, cfg)
        rows = top_clv(ws, result.run_id, top)
        out.table("clv", ["customer_id", "p_alive", "purchases (horizon)", "clv", "next order"], rows)


@predict_app.command("churn")
@handles_errors
def predict_churn(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date the prediction is made at (default: the last sale order's day)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML file overriding default settings."),
    model: Optional[str] = typer.Option(None, "--model", help="lightgbm, logistic, decision_tree, random_forest or linear_svm (default churn.model)."),
    horizon_days: Optional[int] = typer.Option(None, "--horizon-days", help="Days without an order that count as churn (0: derived from purchase gaps)."),
    top: int = typer.Option(10, help="Show the customers most likely to churn."),
):
    """Fit, validate and calibrate the churn model; write churn_scores and model_reports for a new run."""
    over = {k: v for k, v in {"model": model, "horizon_days": horizon_days}.items() if v is not None}
    cfg = _load_config(config, overrides={"churn": over} if over else None)
    from ..views.outputs import churn_validation, top_churn

    with _open() as ws:
        result = _run_stage(ws, "churn", as_of, cfg)
        if result.stages.get("churn", {}).get("status") != "done" or not ws.has_table("model_reports"):
            return  # skipped: the run's line above says why (too few customers, one class ...)
        out.table("validation", ["model", "metric", "value"], churn_validation(ws, result.run_id),
                  title="validation window (as_of - horizon)")
        out.table("churn", ["customer_id", "probability", "tier", "reason_1", "reason_2", "reason_3"],
                  top_churn(ws, result.run_id, top))


@app.command("recommend")
@handles_errors
def recommend_cmd(
    customer_id: str = typer.Argument(..., help="The customer."),
    run_id: Optional[int] = typer.Option(None, "--run", help="Run (default: the latest with recommendations)."),
):
    """A customer's stored recommendations, best first: product names, repeat or new, and why."""
    from ..recommend import recommendations_for

    with _open(create=False) as ws:
        df = recommendations_for(ws, customer_id, run_id)
    why = ["kind", "reason"] if "reason" in df else []
    cols = ["rank", "name", "product", "category", "score", "source", *why]
    out.table("recommendations", cols,
              [(r.rank, r.name, r.product_id, r.category, r.score, r.source, *([r.kind, r.reason] if why else []))
               for r in df.itertuples(index=False)],
              title=f"Recommendations for {customer_id}", formats={"score": ".4f"})
