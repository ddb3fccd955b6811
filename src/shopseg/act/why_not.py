"""Why the plan left a customer out: per enabled campaign of the plan's run, the first eligibility condition the
customer fails (with their own value), or, when they were eligible, what else kept them out (a cooldown, a net
spend that makes a response worth nothing, an expected value too low, or the budget).

The conditions are the campaigns of the config the plan's run was made with (``runs.config``), evaluated by the
same SQL the plan uses (:meth:`Condition.sql` over :func:`frame_sql`'s customer frame), so the words cannot
disagree with the plan.
"""

from __future__ import annotations

import json

from ..config import Config, load_config
from ._campaigns import LIST_FIELDS, campaigns_from_act
from .playbook import cooldown_sql, frame_sql


def _value_words(field: str, value) -> str:
    if value is None:
        return f"this customer has no {field}"
    if field in LIST_FIELDS:
        return f"theirs: {', '.join(value) if value else 'none'}"
    if isinstance(value, float):
        return f"theirs is {value:.3g}"
    return f"theirs is {value}"


def why_not_planned(ws, run_id: int, customer_id: str, config: Config | None = None) -> list[str]:
    """One sentence per enabled campaign of run ``run_id``'s plan saying why it did not choose ``customer_id``
    (those the customer was eligible for first, then the others by name).

    ``config``: the campaigns to explain (default: the config stored with the run, else the defaults).
    An empty list when the run's config enables no campaign.
    """
    as_of, raw = ws.con.execute("SELECT as_of, config FROM runs WHERE run_id = ?", [int(run_id)]).fetchone()
    if config is None:
        config = Config(json.loads(raw)) if raw else load_config()
    camps = [c for c in campaigns_from_act(config["act"]) if c.enabled]
    if not camps:
        return []
    fields = {cond.field for c in camps for cond in c.when}
    sql, _ = frame_sql(ws, run_id, fields, customer_id=str(customer_id))
    conds = [cond for c in camps for cond in c.when]
    cols = ", ".join(f"coalesce({cond.sql()}, FALSE) AS _ok{i}, {cond.column} AS _v{i}" for i, cond in enumerate(conds))
    row = ws.con.execute(f"SELECT _net_spend, {cols} FROM ({sql}) WHERE customer_id = ?",
                         [str(customer_id)]).fetchone()
    if row is None:
        return ["No features for this customer in the plan's run, so no campaign could consider them."]
    net_spend, rest = row[0], row[1:]
    out, eligible, k = [], [], 0
    for c in camps:
        failed = None
        for cond in c.when:
            ok, value = rest[2 * k], rest[2 * k + 1]
            k += 1
            if failed is None and not ok:
                failed = f"{c.name}: needs {cond.text.strip()}; {_value_words(cond.field, value)}."
        if failed is not None:
            out.append(failed)
            continue
        last = ws.con.execute(f"SELECT max(r.as_of) {cooldown_sql('?', run_id, str(int(c.cooldown_days)))}",
                              [str(customer_id), as_of, as_of]).fetchone()[0] if ws.has_table("actions") else None
        if last is not None:
            eligible.append(f"{c.name}: eligible, but had an action (treatment or control) on {last:%Y-%m-%d}, "
                            f"inside its {c.cooldown_days}-day cooldown.")
        elif net_spend is not None and net_spend <= 0:
            eligible.append(f"{c.name}: eligible, but their net spend is {net_spend:,.2f} (returns and "
                            "cancellations took back the purchases): a response is worth nothing.")
        else:
            budget = float(config["act.budget"])
            spent = "" if budget <= 0 else (f", or the budget (act.budget {budget:,.2f}) went to customers worth "
                                            "more per unit of cost")
            eligible.append(f"{c.name}: eligible, but not planned: its expected value for this customer (uplift x "
                            f"net value of a response - cost) was at most act.min_expected_value "
                            f"({float(config['act.min_expected_value']):g}){spent}.")
    return eligible + out  # the campaigns they were eligible for first
