"""The campaign playbook: campaigns as data, their eligibility rules, and the plan of one run.

A campaign (``[act.campaigns.<name>]`` in the config) says who is eligible
(``when``: conditions that must all hold), what they are offered (``offers``:
one or more variants), on which channel, at what cost, and what a response is
expected to be worth.  :func:`plan_actions` gives every customer at most one
action per run:

1. every (customer, campaign) pair whose conditions hold is a candidate, with
   ``cost = cost_per_contact + response_rate x incentive`` and
   ``expected_value = response_rate x value - cost``;
2. pairs with ``expected_value <= act.min_expected_value`` are dropped, and so
   are customers who had an action (treatment or control) fewer than the
   candidate campaign's ``cooldown_days`` before this run's as_of;
3. each customer keeps one campaign: the highest ``priority``, then the highest
   expected value (then the campaign name, so ties are deterministic); with
   ``act.choose_by = "value_per_cost"`` the highest expected value per unit of cost instead
   (priority only breaks ties), so the budget goes where a contact adds the most;
4. the pairs are ranked by expected value per cost (greedy knapsack, Dantzig
   1957); the longest prefix of that ranking whose *treatment* spend fits in
   ``act.budget`` is planned, with each campaign's control group drawn inside
   that prefix (:mod:`shopseg.act.holdout`), so control customers are the same
   kind of customer as the treated ones and cost nothing;
5. among a campaign's offer variants, Thompson sampling (:mod:`shopseg.act.bandit`)
   picks one per treated customer.

Every action carries a reason in plain words: the conditions it met with the
customer's own values, the expected value arithmetic and, for several
variants, why this offer.

Campaigns as data (keys, conditions, the config's check) live in :mod:`._campaigns`, the plan
added up per campaign in :mod:`._plan_summary`; both are re-exported here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from .._exact import exact_avg
from ..config import Config, load_config
from ..errors import ConfigError, ShopsegError
from ._campaigns import (  # noqa: F401 - re-exported: the playbook's public names
    BASES,
    CAMPAIGN_KEYS,
    LIST_FIELDS,
    OPS,
    SCORE_FIELDS,
    Campaign,
    Condition,
    _schemes,
    _sql_str,
    _text_fields,
    campaigns_from_act,
    campaigns_from_config,
    check_act,
    parse_condition,
)
from ._plan_summary import PLAN_COLUMNS, plan_summary, plan_totals, priors_note

ACTION_COLUMNS = {
    "customer_id": "The customer.",
    "campaign": "Campaign name (a key of [act.campaigns]).",
    "offer": "The offer as sent ({incentive} filled in); for control customers the offer they would have got.",
    "variant": "The offer variant (the template text); 'control' for the control group.",
    "channel": "Channel of the campaign.",
    "group": "'treatment' (contacted) or 'control' (held out to measure uplift). Quote it in SQL: \"group\".",
    "stratum": "The customer's segment in the act.stratify_by scheme (control groups are stratified by it).",
    "priority": "The campaign's priority.",
    "response_rate": "Expected share of contacted customers who respond and redeem the incentive.",
    "uplift": "Incremental response: the share of contacted customers who respond because of the contact "
              "(the campaign's prior, or the measured uplift of its past control groups).",
    "uplift_source": "Where the uplift comes from: 'prior: <source>' or 'measured: ...'.",
    "response_value": "Net value of one response: the customer's net average order (net of returns, "
                      "cancellations and discounts) or net-share of CLV, times the campaign's value; 0 when the "
                      "customer's net spend is <= 0.",
    "incentive": "Incentive a responder gets, in currency.",
    "contact_cost": "Cost of the contact (0 for control).",
    "expected_value": "uplift x response_value - cost: the expected incremental net value of contacting the "
                      "customer (0 for control: not contacted).",
    "cost": "contact_cost + response_rate x incentive: the expected spend (0 for control).",
    "reason": "Why this customer got this action, in plain words.",
}


FLOAT_COLUMNS = ("response_rate", "uplift", "response_value", "incentive", "contact_cost", "expected_value", "cost")


NET_COLUMNS = ("frequency", "monetary_total", "monetary_net")


# What a response is worth is measured net: returns and cancellations (monetary_net) and discounts
# (already out of monetary_total) come off.  A customer with no order has net spend 0 but is not a
# customer whose purchases were cancelled: _net_spend is NULL for them, so a fixed value (a first
# order, say) still applies; an ordering customer whose purchases net to <= 0 is worth nothing.
NET_SQL = """CASE WHEN coalesce(f.frequency, 0) > 0 THEN greatest(coalesce(f.monetary_net, 0), 0) / f.frequency
                  ELSE 0.0 END AS _net_aov,
             CASE WHEN coalesce(f.monetary_total, 0) > 0
                  THEN least(1.0, greatest(0.0, coalesce(f.monetary_net, 0) / f.monetary_total)) ELSE 1.0 END
                  AS _net_share,
             CASE WHEN coalesce(f.frequency, 0) > 0 THEN coalesce(f.monetary_net, 0) END AS _net_spend"""


def build_frame(ws, run_id: int, fields: set[str], *, name: str = "_act_frame", source_run=None) -> dict:
    """Create temp table ``name``: one row per customer of ``customer_features`` with segments,
    churn and CLV columns and the ``cluster_mean.<feature>`` columns in ``fields``.

    ``source_run(table)``: the run to read each input from (the act stage passes ``ctx.runs.of``, the runs the
    runner names); without it, the newest run up to ``run_id`` with rows (``ws.source_run``).
    Returns the run each source was read from (None when absent).
    """
    sql, runs = frame_sql(ws, run_id, fields, source_run=source_run)
    ws.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}").fetchall()
    return runs


def frame_sql(ws, run_id: int, fields: set[str], *, source_run=None, customer_id: str | None = None
              ) -> tuple[str, dict]:
    """The SELECT behind :func:`build_frame` (one row per customer; no table made: a read-only connection can
    run it) and the run each source is read from.  ``customer_id``: that customer's row only (the shop-wide
    columns, CLV quantile and cluster means, are still computed over every customer)."""
    if source_run is None:
        def source_run(table):
            return ws.source_run(table, run_id)
    runs = {t: source_run(t) for t in ("customer_features", "segments", "churn_scores", "clv")}
    if runs["customer_features"] is None:
        raise ShopsegError(
            f"No customer features for run {run_id} or before: actions need them.",
            hint="Run the segments stage first (shopseg run), which writes customer_features and segments.")
    feat_cols = [c for c in ws.columns("customer_features") if c not in ("run_id", "customer_id")]
    lacking = [c for c in NET_COLUMNS if c not in feat_cols]
    if lacking:
        raise ShopsegError(
            f"customer_features of run {runs['customer_features']} lacks {', '.join(lacking)}: the net value of a "
            f"response needs {', '.join(NET_COLUMNS)}.", hint="Re-run the segments stage with this version.")
    num = []
    for c in feat_cols:
        q = '"' + c.replace('"', '""') + '"'
        num.append(f"CAST({q} AS DOUBLE) AS {q}")
    schemes = _schemes()
    seg = ("SELECT customer_id, " + ", ".join(
        f"max(segment) FILTER (WHERE scheme = '{s}') AS {s}" for s in schemes)
        + f" FROM segments WHERE run_id = {runs['segments']} GROUP BY customer_id") if runs["segments"] is not None \
        else "SELECT NULL::VARCHAR AS customer_id, " + ", ".join(f"NULL::VARCHAR AS {s}" for s in schemes) + " LIMIT 0"
    ch = (f"SELECT customer_id, tier AS churn_tier, probability AS churn_probability FROM churn_scores "
          f"WHERE run_id = {runs['churn_scores']}") if runs["churn_scores"] is not None else \
        "SELECT NULL::VARCHAR AS customer_id, NULL::VARCHAR AS churn_tier, NULL::DOUBLE AS churn_probability LIMIT 0"
    cl = (f"SELECT customer_id, clv, p_alive, expected_purchases_90d, percent_rank() OVER (ORDER BY clv) AS clv_quantile "
          f"FROM clv WHERE run_id = {runs['clv']}") if runs["clv"] is not None else \
        ("SELECT NULL::VARCHAR AS customer_id, NULL::DOUBLE AS clv, NULL::DOUBLE AS p_alive, "
         "NULL::DOUBLE AS expected_purchases_90d, NULL::DOUBLE AS clv_quantile LIMIT 0")
    # due_reorders: the customer's recommended repeats whose cycle has elapsed (shopseg.recommend, is_due)
    rrun = source_run("recommendations")
    due = (f"SELECT customer_id, count(*) FILTER (WHERE is_due) AS due_reorders FROM recommendations "
           f"WHERE run_id = {rrun} GROUP BY customer_id") if rrun is not None and "is_due" in ws.columns(
        "recommendations") else "SELECT NULL::VARCHAR AS customer_id, 0 AS due_reorders LIMIT 0"
    ints = (f"SELECT customer_id, list(interest ORDER BY rank) AS interests FROM customer_interests "
            f"WHERE run_id = {runs['segments']} GROUP BY customer_id") \
        if runs["segments"] is not None and ws.has_table("customer_interests") else \
        "SELECT NULL::VARCHAR AS customer_id, NULL::VARCHAR[] AS interests LIMIT 0"
    means = []
    for f in sorted(x for x in fields if x.startswith("cluster_mean.")):
        feat = f.split(".", 1)[1]
        if feat not in feat_cols:
            raise ConfigError(f"Unknown feature {feat!r} in {f!r}: expected a column of customer_features "
                              f"({', '.join(feat_cols[:12])}...).")
        # exact (shopseg._exact): the rows' order within a cluster must not change the mean's last bits
        mean = exact_avg(f'CAST("{feat}" AS DOUBLE)', over="PARTITION BY cluster")
        means.append(f'CASE WHEN cluster IS NULL THEN NULL ELSE {mean} END AS "{f}"')
    # one customer: filter the features at the source unless a cluster mean needs every customer's row
    one = f" AND CAST(customer_id AS VARCHAR) = {_sql_str(str(customer_id))}" \
        if customer_id is not None and not means else ""
    sql = f"""
        WITH f AS (SELECT CAST(customer_id AS VARCHAR) AS customer_id, {', '.join(num)}
                   FROM customer_features WHERE run_id = {runs['customer_features']}{one}),
             seg AS ({seg}), ch AS ({ch}), cl AS ({cl}), due AS ({due}), ints AS ({ints})
        SELECT f.*, {NET_SQL}, {', '.join(f'seg.{s}' for s in schemes)}, ch.churn_tier, ch.churn_probability,
               cl.clv, cl.p_alive, cl.expected_purchases_90d, cl.clv_quantile,
               CAST(coalesce(due.due_reorders, 0) AS DOUBLE) AS due_reorders, ints.interests
               {''.join(', ' + m for m in means)}
        FROM f LEFT JOIN seg USING (customer_id) LEFT JOIN ch USING (customer_id) LEFT JOIN cl USING (customer_id)
               LEFT JOIN due USING (customer_id) LEFT JOIN ints USING (customer_id)
    """
    return sql, runs


def cooldown_sql(customer: str, run_id: int, days: str) -> str:
    """``FROM ... WHERE`` of the earlier actions (treatment or control, in runs other than ``run_id``) of
    ``customer`` (a SQL expression) fewer than ``days`` (a SQL expression) days before the as_of given twice as
    the query's next two parameters: what keeps a candidate out of a plan (the cooldown), one definition for the
    plan and for :func:`shopseg.act.why_not.why_not_planned`."""
    return (f"FROM actions a JOIN runs r ON r.run_id = a.run_id WHERE a.customer_id = {customer} "
            f"AND a.run_id <> {int(run_id)} AND r.as_of <= CAST(? AS TIMESTAMP) "
            f"AND date_diff('day', CAST(r.as_of AS DATE), CAST(CAST(? AS TIMESTAMP) AS DATE)) < ({days})")


def unit_hash_sql(*parts: str) -> str:
    """SQL for a number in [0, 1) from the MD5 of the parts joined by ':' (60 bits)."""
    joined = " || ':' || ".join(parts)
    return f"(CAST(('0x' || substr(md5({joined}), 1, 15)) AS BIGINT) / 1152921504606846976.0)"


def unit_hash(*parts) -> float:
    """The same number as :func:`unit_hash_sql` in Python (for a few values, e.g. a stratum's key)."""
    h = hashlib.md5(":".join(str(p) for p in parts).encode()).hexdigest()
    return int(h[:15], 16) / float(16 ** 15)


def stable_int(*parts) -> int:
    """A 63-bit integer from the MD5 of the parts: seeds for numpy that do not change between runs."""
    return int(hashlib.md5(":".join(str(p) for p in parts).encode()).hexdigest()[:15], 16)


@dataclass
class ActionPlan:
    """What :func:`plan_actions` decided (also written to ``actions`` when a run id is given)."""

    run_id: int | None
    actions: pd.DataFrame
    notes: dict

    def _repr_html_(self) -> str:
        """The plan in a notebook: one row per campaign (treated, control, cost, expected value after cost)."""
        from .._html import html_table

        a = self.actions
        if a.empty:
            return html_table(["campaign"], [], caption="No customer qualified for any campaign")
        treated = a[a["group"] == "treatment"]
        per = (a.groupby("campaign")["group"].value_counts().unstack(fill_value=0)
               .reindex(columns=["treatment", "control"], fill_value=0)
               .join(treated.groupby("campaign")[["cost", "expected_value"]].sum()).fillna(0.0))
        rows = [(c, int(r.treatment), int(r.control), float(r.cost), float(r.expected_value))
                for c, r in per.iterrows()]
        return html_table(["campaign", "treatment", "control", "cost", "expected value"], rows,
                          caption=f"Campaign plan{f' of run {self.run_id}' if self.run_id is not None else ''}: "
                                  f"{int((a['group'] == 'treatment').sum()):,} treated, "
                                  f"{int((a['group'] == 'control').sum()):,} in control groups")


def campaign_uplifts(ws, camps: list[Campaign], run_id: int | None) -> dict[str, tuple[float, str]]:
    """Campaign name -> (incremental response used for planning, its source).

    Before a campaign has been measured against a control group this is its prior (the playbook's
    ``uplift``, with ``uplift_source``).  Once earlier runs' actions of the campaign were measured
    (``uplift_reports``, all segments and variants), their treated and control counts are pooled
    and the measured difference ``d`` (standard error ``se``, Wald) is combined with the prior by
    precision: ``(u0 / s0^2 + d / se^2) / (1 / s0^2 + 1 / se^2)`` with ``s0`` the campaign's
    ``uplift_prior_sd`` (default 2 points: a prior from another shop's test says little about this
    one).  A big control group therefore moves the value to what was measured, a handful of
    customers barely.
    """
    out = {c.name: (c.uplift, "prior: " + (c.uplift_source or "the playbook's uplift setting")) for c in camps}
    sd = {c.name: c.uplift_prior_sd for c in camps}
    need = {"campaign", "segment", "variant", "n_treatment", "n_control", "responders_treatment",
            "responders_control"}
    if not ws.has_table("uplift_reports") or not need <= set(ws.columns("uplift_reports")):
        return out
    before = "" if run_id is None else f"AND run_id < {int(run_id)}"
    m = ws.df(f"""
        SELECT campaign, string_agg(DISTINCT CAST(run_id AS VARCHAR), ', ' ORDER BY CAST(run_id AS VARCHAR)) AS runs,
               sum(n_treatment) AS nt, sum(n_control) AS nc,
               sum(responders_treatment) AS xt, sum(responders_control) AS xc
        FROM uplift_reports WHERE segment = 'all' AND variant = 'all' AND n_control > 0 {before}
        GROUP BY campaign""")
    for r in m.itertuples(index=False):
        if r.campaign not in out or not r.nt:
            continue
        u0 = out[r.campaign][0]
        pt, pc = r.xt / r.nt, r.xc / r.nc
        d = pt - pc
        se2 = max(pt * (1 - pt) / r.nt + pc * (1 - pc) / r.nc, 1e-12)
        w0, w1 = 1 / sd[r.campaign] ** 2, 1 / se2
        u = (w0 * u0 + w1 * d) / (w0 + w1)
        out[r.campaign] = (float(u), (
            f"measured: run {r.runs}, {int(r.nt):,} treated at {pt:.2%} vs {int(r.nc):,} controls at {pc:.2%}: "
            f"{d:+.2%} +/- {1.96 * se2 ** 0.5:.2%}, combined with the prior {u0:.2%}"))
    return out


def _candidates_sql(camps: list[Campaign], stratify_by: str, frame: str,
                    uplifts: dict[str, tuple[float, str]]) -> str:
    parts = []
    for i, c in enumerate(camps):
        why = " || '; ' || ".join(f"({cond.reason_sql()})" for cond in c.when)
        up, src = uplifts[c.name]
        parts.append(f"""
            SELECT customer_id, {i} AS campaign_idx, {_sql_str(c.name)} AS campaign, {c.priority} AS priority,
                   {c.response_rate!r} AS response_rate, coalesce(u.uplift, {float(up)!r}) AS uplift,
                   coalesce(u.uplift_source, {_sql_str(src)}) AS uplift_source,
                   {c.value_sql()} AS response_value, {c.incentive_sql()} AS incentive,
                   {c.cost_per_contact!r} AS contact_cost, coalesce({stratify_by}, '(none)') AS stratum,
                   _net_spend AS net_spend, {_sql_str(c.name + ': ')} || {why} AS why
            FROM {frame} LEFT JOIN (SELECT customer_id, uplift, uplift_source FROM _act_uplift
                                    WHERE campaign = {_sql_str(c.name)}) u USING (customer_id)
            WHERE {' AND '.join(cond.sql() for cond in c.when)}""")
    return " UNION ALL ".join(parts)


def _check_fields(ws, camps: list[Campaign], frame: str) -> None:
    cols = set(ws.columns(frame)) if ws.has_table(frame) else {r[0] for r in ws.sql(f"DESCRIBE {frame}")}
    for c in camps:
        for cond in c.when:
            if cond.field not in cols:
                raise ConfigError(
                    f"The condition {cond.text!r} of campaign {c.name!r} uses the unknown field {cond.field!r}.",
                    hint=f"Fields: the segment schemes ({', '.join(_schemes())}), interests (any of the "
                         "customer's interests), churn_tier, "
                         "churn_probability, clv, clv_quantile, p_alive, expected_purchases_90d, "
                         "cluster_mean.<feature> and the columns of customer_features.")
            if cond.number is None and cond.field not in _text_fields():
                raise ConfigError(f"The condition {cond.text!r} of campaign {c.name!r} compares the number "
                                  f"{cond.field!r} with names; use >=, <=, >, <, == or !=.")


def plan_actions(ws, run_id: int | None, as_of, *, config: Config | None = None, seed: int = 0,
                 write: bool = True, source_run=None) -> ActionPlan:
    """Plan this run's actions (see the module docstring); write them as ``actions`` of ``run_id``.

    Reads ``customer_features``, ``segments``, ``churn_scores`` and ``clv`` of ``run_id`` (or the
    latest earlier run that has them; ``source_run(table)`` names the run instead: the act stage passes
    ``ctx.runs.of``), earlier runs' ``actions`` (cooldown) and ``uplift_reports`` (Thompson sampling).
    The same inputs and seed give the same actions and control groups.
    """
    from .bandit import choose_variants
    from .holdout import budget_prefix

    cfg = config if config is not None else load_config()
    act = cfg["act"]
    camps = [c for c in campaigns_from_act(act) if c.enabled]
    as_ts = pd.Timestamp(as_of).to_pydatetime() if not isinstance(as_of, datetime) else as_of
    notes: dict = {"campaigns_enabled": len(camps)}
    empty = pd.DataFrame({k: pd.Series(dtype="float64" if k in FLOAT_COLUMNS else
                                      "int64" if k == "priority" else "object") for k in ACTION_COLUMNS})
    if not camps:
        return _finish(ws, run_id, empty, notes, write)
    fields = {cond.field for c in camps for cond in c.when}
    runs = build_frame(ws, run_id if run_id is not None else 10**12, fields, source_run=source_run)
    notes["inputs"] = runs
    missing = [t for t in ("segments", "churn_scores", "clv") if runs[t] is None]
    if missing:
        notes["missing_inputs"] = missing
    _check_fields(ws, camps, "_act_frame")
    stratify_by = act["stratify_by"]
    uplifts = campaign_uplifts(ws, camps, run_id)
    notes["uplift_sources"] = {k: v[1] for k, v in uplifts.items()}
    per_customer = None
    if run_id is not None:
        from .shop_uplift import customer_uplifts

        per_customer, model_notes = customer_uplifts(
            ws, [c.name for c in camps], run_id, as_ts, window_days=int(act["response_window_days"]),
            min_group=int(act["uplift_model_min_group"]), seed=seed)
        if model_notes:
            notes["uplift_models"] = model_notes
    ws.con.execute("SELECT 1").fetchall()
    ws.con.register("_act_uplift_df", per_customer if per_customer is not None else pd.DataFrame(
        {"customer_id": pd.Series(dtype=object), "campaign": pd.Series(dtype=object),
         "uplift": pd.Series(dtype=float), "uplift_source": pd.Series(dtype=object)}))
    try:
        ws.con.execute("CREATE OR REPLACE TEMP TABLE _act_uplift AS SELECT CAST(customer_id AS VARCHAR) AS customer_id, "
                       "CAST(campaign AS VARCHAR) AS campaign, CAST(uplift AS DOUBLE) AS uplift, "
                       "CAST(uplift_source AS VARCHAR) AS uplift_source FROM _act_uplift_df").fetchall()
    finally:
        ws.con.unregister("_act_uplift_df")
    ws.con.execute(f"CREATE OR REPLACE TEMP TABLE _act_candidates AS "
                   f"{_candidates_sql(camps, stratify_by, '_act_frame', uplifts)}").fetchall()
    notes["eligible_pairs"] = int(ws.scalar("SELECT count(*) FROM _act_candidates"))
    cooldown = ""
    if ws.has_table("actions") and run_id is not None:
        cds = " ".join(f"WHEN {_sql_str(c.name)} THEN {c.cooldown_days}" for c in camps)
        cooldown = f"AND NOT EXISTS (SELECT 1 {cooldown_sql('c.customer_id', run_id, f'CASE c.campaign {cds} END')})"
        notes["skipped_cooldown"] = int(ws.scalar(
            f"SELECT count(DISTINCT customer_id) FROM _act_candidates c WHERE NOT (TRUE {cooldown})", [as_ts, as_ts]))
    choose_order = {
        "priority": "priority DESC, expected_value DESC, campaign",
        # the campaign that adds the most per unit of cost (free contacts first), then the most in total
        "value_per_cost": "CASE WHEN cost > 0 THEN expected_value / cost ELSE 'Infinity'::DOUBLE END DESC, "
                          "expected_value DESC, priority DESC, campaign",
    }[act["choose_by"]]
    df = ws.df(f"""
        WITH c AS (
            SELECT *, contact_cost + response_rate * incentive AS cost,
                   uplift * response_value - (contact_cost + response_rate * incentive) AS expected_value
            FROM _act_candidates c WHERE TRUE {cooldown}),
        ok AS (SELECT * FROM c WHERE expected_value > ?),
        best AS (SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY {choose_order}) AS k FROM ok)
        SELECT customer_id, campaign_idx, campaign, priority, response_rate, uplift, uplift_source, response_value,
               incentive, contact_cost, cost, expected_value, stratum, net_spend, why, {unit_hash_sql("CAST(? AS VARCHAR)", "campaign", "customer_id")} AS u
        FROM best WHERE k = 1 ORDER BY customer_id
    """, ([as_ts, as_ts] if cooldown else []) + [float(act["min_expected_value"]), str(seed)])
    ws.con.execute("DROP TABLE IF EXISTS _act_candidates").fetchall()
    ws.con.execute("DROP TABLE IF EXISTS _act_uplift").fetchall()
    ws.con.execute("DROP TABLE IF EXISTS _act_frame").fetchall()
    notes["chosen"] = len(df)
    if not len(df):
        return _finish(ws, run_id, empty, notes, write)

    # greedy order: expected value per cost (free contacts first), then expected value, then the hash
    cost = df["cost"].to_numpy(float)
    ev = df["expected_value"].to_numpy(float)
    ratio = np.where(cost > 0, ev / np.where(cost > 0, cost, 1.0), np.inf)
    order = np.lexsort((df["u"].to_numpy(float), -ev, -ratio))
    df = df.iloc[order].reset_index(drop=True)
    shares = np.array([c.control_share for c in camps], float)
    camp_idx = df["campaign_idx"].to_numpy(np.int64)
    strata, strat_idx = np.unique(df["stratum"].to_numpy(str), return_inverse=True)
    u = df["u"].to_numpy(float)
    cost = df["cost"].to_numpy(float)
    budget = float(act["budget"])
    n_keep, control = budget_prefix(cost, camp_idx, strat_idx, u, shares, budget)
    df = df.iloc[:n_keep].copy()
    df["group"] = np.where(control[:n_keep], "control", "treatment")
    notes["dropped_by_budget"] = int(len(order) - n_keep)
    if not n_keep:
        notes.update(treatment=0, control=0, spend=0.0, expected_value=0.0)
        return _finish(ws, run_id, empty, notes, write)

    # offers: Thompson sampling among variants for the treated customers
    df["variant"] = ""
    df["variant_why"] = ""
    for i, c in enumerate(camps):
        sel = (df["campaign_idx"].to_numpy() == i) & (df["group"].to_numpy() == "treatment")
        if not sel.any():
            continue
        sub = df.loc[sel, ["customer_id", "stratum"]]
        chosen, why = choose_variants(ws, c, sub, run_id=run_id, scheme=stratify_by, seed=seed,
                                      thompson=bool(act["thompson_sampling"]))
        df.loc[sel, "variant"] = chosen
        df.loc[sel, "variant_why"] = why
    is_ctrl = df["group"].to_numpy() == "control"
    first_offer = np.array([camps[i].offers[0] for i in df["campaign_idx"]], dtype=object)
    template = np.where(is_ctrl, first_offer, df["variant"].to_numpy(object))
    amount = np.char.mod("%.2f", df["incentive"].to_numpy(float))
    df["offer"] = [t.replace("{incentive}", a) for t, a in zip(template, amount)]
    df["variant"] = np.where(is_ctrl, "control", df["variant"].to_numpy(object))
    df["channel"] = [camps[i].channel for i in df["campaign_idx"]]
    ev_txt = (df["expected_value"].map("{:.2f}".format) + " = uplift " + (df["uplift"] * 100).map("{:.2f}".format)
              + "% (" + df["uplift_source"].str.split(":").str[0] + ") x net value " + df["response_value"].map("{:.2f}".format)
              + " - cost " + df["cost"].map("{:.2f}".format))
    share_txt = np.array([f"{camps[i].control_share:.0%}" for i in df["campaign_idx"]], dtype=object)
    ns = df["net_spend"].to_numpy(float)
    net_txt = np.where(ns <= 0, np.char.mod("; net spend %.2f <= 0 (returns and cancellations took back the "
                                            "purchases): a response is worth nothing", np.nan_to_num(ns)), "")
    treat_reason = df["why"] + net_txt + "; expected value " + ev_txt + df["variant_why"].map(lambda s: f"; {s}" if s else "")
    ctrl_reason = (df["why"] + "; held out in the control group (" + share_txt + " of the audience, stratified by "
                   + stratify_by + " '" + df["stratum"] + "') to measure the uplift: not contacted")
    df["reason"] = np.where(is_ctrl, ctrl_reason, treat_reason)
    df.loc[is_ctrl, ["contact_cost", "expected_value", "cost"]] = 0.0
    df["priority"] = df["priority"].astype("int64")
    out = df[list(ACTION_COLUMNS)].sort_values(["campaign", "customer_id"]).reset_index(drop=True)
    notes["treatment"] = int((out["group"] == "treatment").sum())
    notes["control"] = int((out["group"] == "control").sum())
    notes["spend"] = round(float(out["cost"].sum()), 2)
    notes["expected_value"] = round(float(out["expected_value"].sum()), 2)
    notes["per_campaign"] = out.groupby("campaign")["group"].value_counts().unstack(fill_value=0).to_dict("index")
    return _finish(ws, run_id, out, notes, write)


def _finish(ws, run_id, out: pd.DataFrame, notes: dict, write: bool) -> ActionPlan:
    notes["campaigns"] = int(out["campaign"].nunique()) if len(out) else 0
    if write and run_id is not None:
        ws.con.execute("SELECT 1").fetchall()
        if ws.has_table("actions"):  # a table from an older version: add the columns it lacks
            have = set(ws.columns("actions"))
            for c in ACTION_COLUMNS:
                if c not in have:
                    typ = "DOUBLE" if c in FLOAT_COLUMNS else "BIGINT" if c == "priority" else "VARCHAR"
                    ws.con.execute(f'ALTER TABLE actions ADD COLUMN "{c}" {typ}').fetchall()
        ws.con.register("_act_out", out)
        try:
            cols = ", ".join(
                f'CAST("{c}" AS {"DOUBLE" if c in FLOAT_COLUMNS else "BIGINT" if c == "priority" else "VARCHAR"}) AS "{c}"'
                for c in ACTION_COLUMNS)
            notes["rows"] = ws.write_output("actions", run_id, f"SELECT {cols} FROM _act_out")
        finally:
            ws.con.unregister("_act_out")
    return ActionPlan(run_id, out, notes)


__all__ = ["ACTION_COLUMNS", "BASES", "CAMPAIGN_KEYS", "LIST_FIELDS", "OPS", "PLAN_COLUMNS", "SCORE_FIELDS", "ActionPlan",
           "Campaign", "Condition", "build_frame", "campaign_uplifts", "campaigns_from_act", "campaigns_from_config",
           "check_act", "parse_condition", "plan_actions", "plan_summary", "plan_totals", "priors_note", "stable_int",
           "unit_hash", "unit_hash_sql"]
