"""Action: the campaign playbook, control groups, measured uplift, audiences and offer optimisation.

See docs/action.md.  The pipeline stages (register them in ``shopseg.stages``):

* :func:`act_stage` plans the run's ``actions`` (after segments, churn, clv);
* :func:`measure_stage` measures earlier runs whose response window has passed
  by this run's as_of (``uplift_reports``), which feeds Thompson sampling;
* :func:`shopseg.recommend.recommend_stage` writes ``recommendations``.

>>> from shopseg.act import parse_condition
>>> print(parse_condition("lifecycle in new, active").sql())
("lifecycle" IS NOT NULL AND "lifecycle" IN ('new', 'active'))
"""

from __future__ import annotations

from .bandit import ThompsonSampler, choose_variants, variant_history
from .export import (
    CALLING_CODES,
    PLATFORMS,
    email_sha256_sql,
    export_audience,
    normalize_phone,
    phone_e164_sql,
)
from .holdout import budget_prefix, control_share_by, stratified_control
from .playbook import (
    ACTION_COLUMNS,
    PLAN_COLUMNS,
    ActionPlan,
    Campaign,
    Condition,
    campaign_uplifts,
    campaigns_from_config,
    check_act,
    parse_condition,
    plan_actions,
    plan_summary,
    plan_totals,
    priors_note,
)
from .uplift import (
    REPORT_COLUMNS,
    customer_outcomes,
    measure,
    newcombe_interval,
    uplift_table,
    wald_interval,
    wilson_interval,
)


def act_stage(ctx) -> dict:
    """Pipeline stage ``act``: plan the run's actions (table ``actions``)."""
    from .._memory import release_memory

    release_memory()  # what the stages before freed (recommend's frames) goes back to the OS first
    plan = plan_actions(ctx.ws, ctx.run_id, ctx.as_of, config=ctx.config, seed=ctx.seed, source_run=ctx.runs.of)
    n = plan.notes
    return {k: n[k] for k in ("campaigns", "campaigns_enabled", "eligible_pairs", "chosen", "treatment", "control", "spend",
                              "expected_value", "dropped_by_budget", "skipped_cooldown", "missing_inputs")
            if k in n}


def measure_stage(ctx) -> dict:
    """Pipeline stage ``measure``: measure earlier runs whose response window ended by this as_of.

    A run is measured once from the orders (``uplift_reports``); runs measured before, or
    measured from a responses file with ``shopseg measure``, are left alone.
    """
    ws = ctx.ws
    if not ws.has_table("actions"):
        return {"note": "no actions yet"}
    window = int(ctx.config["act.response_window_days"])
    done = ("AND a.run_id NOT IN (SELECT DISTINCT run_id FROM uplift_reports)"
            if ws.has_table("uplift_reports") else "")
    # a run with no order after its as_of in the workspace (the shop's orders end before it; a run as of long after
    # the last order) has nothing to measure yet: left for a later run, said, not an error that fails this run
    rows = ws.sql(f"""
        SELECT DISTINCT a.run_id, r.as_of, r.as_of < (SELECT max(ordered_at) FROM orders) AS has_orders
        FROM actions a JOIN runs r ON r.run_id = a.run_id
        WHERE a.run_id < ? AND r.as_of + to_days(CAST(? AS INTEGER)) <= CAST(? AS TIMESTAMP) {done}
        ORDER BY 1""", [ctx.run_id, window, ctx.as_of])
    due = [rid for rid, _, has_orders in rows if has_orders]
    for rid in due:
        measure(ws, rid, window_days=window, config=ctx.config)
    out: dict = {"measured_runs": due}
    waiting = [(rid, as_of) for rid, as_of, has_orders in rows if not has_orders]
    if waiting:
        out["not_measured"] = "; ".join(f"run {rid}: no order after its as_of ({as_of:%Y-%m-%d}) in the workspace yet"
                                        for rid, as_of in waiting)
    return out


__all__ = [
    "ACTION_COLUMNS", "PLAN_COLUMNS", "PLATFORMS", "ActionPlan", "CALLING_CODES", "Campaign", "Condition", "REPORT_COLUMNS", "ThompsonSampler",
    "act_stage", "budget_prefix", "campaign_uplifts", "campaigns_from_config", "check_act", "choose_variants", "control_share_by",
    "customer_outcomes", "email_sha256_sql", "export_audience", "measure", "measure_stage", "newcombe_interval",
    "normalize_phone", "parse_condition", "phone_e164_sql", "plan_actions", "plan_summary", "plan_totals", "priors_note",
    "stratified_control",
    "uplift_table", "variant_history", "wald_interval", "wilson_interval",
]
