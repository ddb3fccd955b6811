"""The report's sections on predictions and actions, in order after :mod:`._sections` (shop, segments):
churn model quality, lifetime value, association rules, reviews and the campaign plan."""

from __future__ import annotations

import html

import plotly.graph_objects as go

from ..errors import ShopsegError
from ._build import ReportContext, Section, figure_html, section, table_html
from ._sections import _run_df, _stage_note
from ._units import in_money


@section
def churn_quality(ctx: ReportContext) -> Section:
    val = _run_df(ctx, "churn_validation", "SELECT churned, probability FROM {t}")
    rep = _run_df(ctx, "model_reports", "SELECT model, metric, value, details FROM {t} "
                                        "WHERE json_extract_string(details, '$.task') = 'churn'")
    if val is None or rep is None:
        return Section("churn", "Churn risk: model quality and drivers",
                       missing=_stage_note(ctx, "churn", "the churn stage did not run"))
    import json

    import numpy as np
    from sklearn.metrics import roc_curve

    y, p = val.churned.to_numpy().astype(int), val.probability.to_numpy()
    fpr, tpr, _ = roc_curve(y, p)
    metrics = {(r.model, r.metric): r.value for r in rep.itertuples()}
    main = next(m for (m, k) in metrics if k == "roc_auc" and m not in ("rfm_logit", "bgnbd"))
    auc, base = metrics.get((main, "roc_auc")), metrics.get(("rfm_logit", "roc_auc"))
    roc = go.Figure()
    roc.add_scatter(x=fpr, y=tpr, name=f"{main} (AUC {auc:.3f})")
    roc.add_scatter(x=[0, 1], y=[0, 1], name="chance", line=dict(dash="dot", color="#999"))
    roc.update_layout(xaxis_title="false alarms (share of non-churners)", yaxis_title="churners caught", height=340)
    bins = np.clip((p * 10).astype(int), 0, 9)
    cal = val.assign(bin=bins).groupby("bin").agg(predicted=("probability", "mean"), observed=("churned", "mean"),
                                                  n=("churned", "size")).reset_index()
    calf = go.Figure()
    calf.add_scatter(x=cal.predicted, y=cal.observed, mode="lines+markers", name="observed",
                     text=cal.n, hovertemplate="predicted %{x:.2f}, observed %{y:.2f} (%{text} customers)")
    calf.add_scatter(x=[0, 1], y=[0, 1], name="perfect", line=dict(dash="dot", color="#999"))
    calf.update_layout(xaxis_title="predicted churn probability", yaxis_title="observed churn rate", height=340)
    gains_row = rep[(rep.metric == "gains_top_20") & (rep.model == main)]
    gains = json.loads(gains_row.details.iloc[0]).get("gains", []) if not gains_row.empty else []
    imp_row = rep[(rep.metric == "global_importance_top") & (rep.model == main)]
    drivers = json.loads(imp_row.details.iloc[0]).get("mean_abs_contribution", {}) if not imp_row.empty else {}
    top = sorted(drivers.items(), key=lambda kv: -kv[1])[:12]
    imp = go.Figure(go.Bar(x=[v for _, v in top][::-1], y=[k for k, _ in top][::-1], orientation="h"))
    imp.update_layout(xaxis_title="mean |contribution| to the churn score", height=360)
    body = "<div class='grid2'>" + figure_html(roc) + figure_html(calf) + "</div>"
    if gains:
        import pandas as pd

        g = pd.DataFrame(gains)
        gf = go.Figure(go.Scatter(x=[0, *g.contacted_share], y=[0, *g.churners_reached_share], mode="lines+markers",
                                  name="model"))
        gf.add_scatter(x=[0, 1], y=[0, 1], name="random", line=dict(dash="dot", color="#999"))
        gf.update_layout(xaxis_title="share of customers contacted (highest risk first)",
                         yaxis_title="share of churners reached", height=340, xaxis_tickformat=".0%",
                         yaxis_tickformat=".0%")
        body += "<div class='grid2'>" + figure_html(gf) + figure_html(imp) + "</div>"
    else:
        body += figure_html(imp)
    tiers = _run_df(ctx, "churn_scores", "SELECT tier, count(*) AS customers, avg(probability) AS mean_probability "
                                         "FROM {t} GROUP BY 1 ORDER BY 3 DESC")
    if tiers is not None:
        body += table_html(tiers)
    g20 = metrics.get((main, "gains_top_20"))
    take = (f"The {main} model separates churners with ROC-AUC {auc:.2f}"
            + (f" (baseline logistic on R, F, M: {base:.2f})" if base is not None else "")
            + (f"; contacting the riskiest 20% reaches {g20:.0%} of the churners" if g20 is not None else "")
            + (f". Strongest driver: {top[0][0]}." if top else "."))
    dec = _run_df(ctx, "model_decisions", "SELECT decision FROM {t} WHERE model = 'churn' AND decision IS NOT NULL")
    if dec is not None:  # which model scores the customers, and why (backtested against the baseline)
        take += f" Scores: {dec.decision.iloc[0]}."
    return Section("churn", "Churn risk: model quality and drivers", take, body)


def _clv_sources_and_disagreement(ctx: ReportContext, gone_share: float) -> str:
    """Which candidate each CLV prediction came from (model_decisions), and the lifecycle's view when the
    two disagree by more than 15 points."""
    out = ""
    d = _run_df(ctx, "model_decisions", "SELECT * FROM {t} WHERE model IN ('p_alive', 'expected_purchases', 'clv') "
                                        "ORDER BY model DESC")
    if d is not None and "candidate" in d.columns:
        words = {"p_alive": "P(alive)", "expected_purchases": "expected purchases", "clv": "CLV"}
        # a prediction the window could not test (no window, or too few of one outcome) has no metric: said so, with
        # the decision's reason, not "after a backtest" (Olist's 300-person slice, 100 wholesalers)
        tested = d["metric"].notna().tolist() if "metric" in d.columns else [True] * len(d)
        if all(tested):
            out += " Used, after a backtest against the naive baseline: " + "; ".join(
                f"{words[r.model]} from {r.candidate}" for r in d.itertuples()) + "."
        else:
            why = next(r.decision for r, ok in zip(d.itertuples(), tested) if not ok)
            out += " Used, not backtested against the naive baseline: " + "; ".join(
                f"{words[r.model]} from {r.candidate}" + ("" if ok else " (untested)")
                for r, ok in zip(d.itertuples(), tested)) + f". Why: {why}."
    out += _clv_not_a_product(ctx)
    lc = _run_df(ctx, "segments", "SELECT avg(CASE WHEN segment IN ('silent', 'churned') THEN 1.0 ELSE 0 END) AS g "
                                  "FROM {t} WHERE scheme = 'lifecycle' AND segment <> 'prospect'")
    if lc is not None and lc.g.notna().all() and abs(float(lc.g.iloc[0]) - gone_share) > 0.15:
        out += (f" The lifecycle puts {float(lc.g.iloc[0]):.0%} of buyers silent or churned: it reads the calendar "
                "(silence past the shop's usual gaps), P(alive) the chance of buying again, so the two disagree here.")
    return out


def _clv_not_a_product(ctx: ReportContext) -> str:
    """A sentence when the run's CLV is not expected purchases x expected order value (the models differ per figure:
    docs/clv.md, "One customer's figures"); empty when one transaction model gave both."""
    from ..views.customer import clv_is_product, clv_sources, model_words

    if not ctx.has("clv") or not ctx.ws.con.execute("SELECT count(*) FROM information_schema.columns WHERE "
                                                    "table_name = 'clv' AND column_name = 'model'").fetchone()[0]:
        return ""
    m = _run_df(ctx, "clv", "SELECT any_value(c.model) AS row_model FROM {t} c")
    src = clv_sources(m.row_model.iloc[0]) if m is not None else None
    if not src or not src.get("clv") or clv_is_product(src):
        return ""
    value = model_words("expected_order_value", src["expected_order_value"])
    return (f" So a customer's CLV is not their expected purchases x expected order value ({value}): each is its own "
            "model's forecast, and the customer view says which.")


@section
def lifetime_value(ctx: ReportContext) -> Section:
    # aggregated in DuckDB: the HTML carries 50 bin counts and the P(alive) matrix, not one value a customer
    # (at 437,000 customers the histogram's values were 3.5 of the report's 6 MB)
    tot = _run_df(ctx, "clv", "SELECT count(*) AS n, sum(clv) AS total, avg(CASE WHEN p_alive < 0.5 THEN 1.0 ELSE 0 "
                              "END) AS gone, min(log10(greatest(clv, 0) + 1)) AS lo, max(log10(greatest(clv, 0) + 1)) "
                              "AS hi FROM {t}")
    if tot is None:
        return Section("clv", "Customer lifetime value", missing=_stage_note(ctx, "clv", "the clv stage did not run"))
    n, total, gone = int(tot.n.iloc[0]), float(tot.total.fillna(0).iloc[0]), float(tot.gone.iloc[0])
    lo, hi = (float(v) if v is not None and v == v else 0.0 for v in (tot.lo.iloc[0], tot.hi.iloc[0]))
    width = (hi - lo) / HIST_BINS or 1.0
    bins = _run_df(ctx, "clv", f"SELECT least(floor((log10(greatest(clv, 0) + 1) - {lo!r}) / {width!r}), "
                               f"{HIST_BINS - 1}) AS b, count(*) AS customers FROM {{t}} WHERE clv IS NOT NULL "
                               "GROUP BY b ORDER BY b")
    bins = bins if bins is not None else _empty_bins()
    hist = go.Figure(go.Bar(x=lo + (bins.b + 0.5) * width, y=bins.customers, width=width,
                            hovertemplate="log10(CLV + 1) %{x:.2f}: %{y} customers<extra></extra>"))
    hist.update_layout(xaxis_title=f"log10(CLV{f' in {ctx.currency}' if ctx.currency else ''} + 1)",
                       yaxis_title="customers", height=340, bargap=0)
    # the P(alive) matrix: frequency (rows) by recency (columns), as in Fader & Hardie's plots
    cells = _run_df(ctx, "clv", "SELECT CAST(least(frequency, 20) AS INTEGER) AS f, least(CAST(floor(coalesce(recency "
                                "/ nullif(\"T\", 0), 0) * 10) AS INTEGER), 9) AS r, avg(p_alive) AS p FROM {t} "
                                "GROUP BY ALL")
    mat = cells.pivot(index="f", columns="r", values="p").sort_index().sort_index(axis=1)
    heat = go.Figure(go.Heatmap(z=mat.values, x=[f"{c / 10:.1f}" for c in mat.columns], y=[str(i) for i in mat.index],
                                colorscale="RdYlGn", zmin=0, zmax=1,
                                hovertemplate="repeat purchases %{y}, recency/T %{x}: P(alive) %{z:.2f}<extra></extra>"))
    heat.update_layout(xaxis_title="recency as a share of the customer's age (last purchase / T)",
                       yaxis_title="repeat purchases (20 = 20+)", height=340)
    top = _run_df(ctx, "clv", f"SELECT sum(clv) AS s FROM (SELECT clv FROM {{t}} WHERE clv IS NOT NULL "
                              f"ORDER BY clv DESC LIMIT {max(n // 5, 1)})")
    top_share = float(top.s.fillna(0).iloc[0]) / max(total, 1e-9)
    take = (f"Expected value over the horizon: {ctx.money(total)} in total; the top 20% of customers hold "
            f"{top_share:.0%} of it. {gone:.0%} of buyers are more likely gone than alive.")
    take += _clv_sources_and_disagreement(ctx, gone)
    return Section("clv", "Customer lifetime value and P(alive)", take,
                   "<div class='grid2'>" + figure_html(hist) + figure_html(heat) + "</div>")


HIST_BINS = 50


def _empty_bins():
    import pandas as pd

    return pd.DataFrame({"b": [], "customers": []})


@section
def association_rules(ctx: ReportContext) -> Section:
    df = _run_df(ctx, "association_rules",
                 "SELECT scope, array_to_string(antecedent_names, ' + ') AS if_bought, consequent_name AS then_buys, "
                 "support, confidence, lift FROM {t} WHERE scope = 'all' ORDER BY lift DESC, confidence DESC LIMIT 25")
    if df is None:
        return Section("rules", "What sells together",
                       missing=_stage_note(ctx, "baskets", "no association rule at the configured thresholds"))
    r = df.iloc[0]
    said, bt = _rules_backtest(ctx)
    take = (f"Customers who buy {r.if_bought} are {r.lift:.1f} times as likely as others to also buy {r.then_buys} "
            f"({r.confidence:.0%} of them do) in the baskets up to the run's date. " + said)
    body = table_html(df.drop(columns=["scope"]), floatfmt="{:,.4f}")
    if bt.get("held_out_rules"):  # the cutoff's rules, before and after it: how each held up
        import pandas as pd

        held = pd.DataFrame(bt["held_out_rules"]).rename(columns={
            "antecedent_baskets_out": "baskets with if_bought after"})
        body += (f"<h3>The top rules of {str(bt.get('cutoff', ''))[:10]} on the {bt.get('days', 0):g} days after"
                 "</h3>" + table_html(held, floatfmt="{:,.4f}"))
    return Section("rules", "What sells together (association rules)", take, body)


def _stage_record(ctx: ReportContext, run_id: int, stage: str) -> dict:
    """Run ``run_id``'s record of ``stage`` (``runs.stages``), or {}."""
    import json

    df = ctx.df(f"SELECT stages FROM runs WHERE run_id = {int(run_id)}")
    if df.empty or not df.stages.iloc[0]:
        return {}
    return (json.loads(df.stages.iloc[0]) or {}).get(stage) or {}


def _rules_backtest(ctx: ReportContext) -> tuple[str, dict]:
    """(what the rules' out-of-time backtest (model_decisions ``rules``; the baskets stage's figures) says: held
    up or not against popularity, or not tested and why (no claim without a test); the backtest's figures)."""
    d = _run_df(ctx, "model_decisions", "SELECT candidate, metric, model_value, baseline_value, decision, "
                                        "source_run_id FROM {t} WHERE model = 'rules'")
    if d is None:
        return "These rules were not backtested (the run recorded no backtest): no claim that they sell.", {}
    row = d.iloc[0]
    bt = ((ctx.run.get("stages") or {}).get("baskets") or {}).get("backtest") or {}
    import pandas as pd

    if not bt and not pd.isna(row.source_run_id):
        bt = _stage_record(ctx, int(row.source_run_id), "baskets").get("backtest") or {}  # an update's carried backtest
    if pd.isna(row.metric):  # untested: say why, claim nothing
        why = str(row.decision).split(": ", 1)[-1]
        return f"Not backtested: {why}; no claim that they would sell.", bt
    days = f"the last {bt['days']:g} days" if bt.get("days") else "the test window"
    conf = (f"confidence {bt['confidence_in']:.0%} in-sample, {bt['confidence_out']:.0%} out of time; "
            if bt.get("confidence_in") is not None and bt.get("confidence_out") is not None else "")
    k = str(row.metric).replace("hit_rate@", "")
    figs = (f"{conf}hit rate {row.model_value:.1%} vs popularity {row.baseline_value:.1%} (each item of a later "
            f"basket held out in turn: is it among the top {k} suggested for the rest?)")
    src = "" if pd.isna(row.source_run_id) else f" (backtest of run {int(row.source_run_id)})"
    if row.candidate == "rules":
        return f"Rules mined before {days} held up on them: {figs}. Recommendations use them{src}.", bt
    return (f"Rules mined before {days} did not hold up on them: {figs}. Recommendations suggest popular items "
            f"instead of the rules{src}."), bt


@section
def reviews(ctx: ReportContext) -> Section:
    df = _run_df(ctx, "review_insights", "SELECT language, sentiment_mode, count(*) AS reviews, "
                                         "avg(sentiment) AS avg_sentiment, avg((sentiment < -0.05)::INT) AS negative_share "
                                         "FROM {t} GROUP BY ALL ORDER BY reviews DESC")
    if df is None:
        return Section("reviews", "What customers say", missing=_stage_note(ctx, "reviews", "no reviews in the run"))
    aspects = ctx.df(f"""SELECT a.aspect, count(*) AS mentions, avg(a.sentiment) AS avg_sentiment
        FROM (SELECT unnest(aspects) AS a FROM review_insights WHERE run_id = {int(ctx.run_id)}) GROUP BY 1
        ORDER BY 2 DESC""") if "aspects" in ctx.ws.columns("review_insights") else None
    body = table_html(df)
    scored = df.dropna(subset=["avg_sentiment"])
    take = f"{int(df.reviews.sum()):,} reviews"
    if scored.empty:
        take += "; none could be scored for sentiment."
    else:
        take += (f"; average sentiment {(scored.avg_sentiment * scored.reviews).sum() / scored.reviews.sum():+.2f} "
                 f"over the {int(scored.reviews.sum()):,} scored.")
    by_lang = ((ctx.run.get("stages") or {}).get("reviews") or {}).get("by_language") or {}
    if by_lang:  # how each language was scored: model, coverage, held-out accuracy, or not analysed
        import pandas as pd

        langs = pd.DataFrame([{"language": lg, "model": d["mode"], "reviews with text": d["with_text"],
                               "rated": d["rated"], "scored": d["scored"], "coverage": f"{d['coverage']:.0%}",
                               "held-out accuracy": (f"{d['holdout_accuracy']:.3f} on {d['n_holdout']:,}"
                                                     if d.get("holdout_accuracy") is not None else "")}
                              for lg, d in by_lang.items() if d["with_text"]])
        if not langs.empty:
            body = "<h3>Sentiment by language</h3>" + table_html(langs) + body
        summary = ((ctx.run.get("stages") or {}).get("reviews") or {}).get("sentiment")
        if summary:
            take += f" Sentiment by language: {summary}."
    if aspects is not None and not aspects.empty:
        fig = go.Figure(go.Bar(x=aspects.aspect, y=aspects.avg_sentiment, text=aspects.mentions,
                               marker_color=["#c0392b" if v < 0 else "#27ae60" for v in aspects.avg_sentiment],
                               hovertemplate="%{x}: sentiment %{y:.2f}, %{text} mentions<extra></extra>"))
        fig.update_layout(yaxis_title="average sentiment where mentioned", height=320)
        scored = aspects.dropna(subset=["avg_sentiment"])
        if not scored.empty:  # aspects of reviews no model scored have no sentiment
            worst = scored.loc[scored.avg_sentiment.idxmin()]
            take += (f" Least liked aspect: {worst.aspect} ({worst.avg_sentiment:+.2f} over "
                     f"{int(worst.mentions):,} mentions).")
        body += figure_html(fig)
    if ctx.has("segments"):
        try:
            from ..text import segment_review_summary

            seg = segment_review_summary(ctx.ws, ctx.run_id, scheme="rfm")
            keep = [c for c in seg.columns if not isinstance(seg[c].iloc[0], (list, dict))] if not seg.empty else []
            if keep:
                body += "<h3>By RFM segment</h3>" + table_html(seg[keep])
        except ShopsegError as e:  # no such scheme in the run: the section stands without it
            body += f"<p class='missing'>Per-segment summary unavailable: {html.escape(str(e))}</p>"
    return Section("reviews", "What customers say (reviews)", take, body)


@section
def campaign_plan(ctx: ReportContext) -> Section:
    if ctx.run_id is None or not ctx.has("actions"):
        return Section("plan", "Campaign plan", missing=_stage_note(ctx, "act", "the act stage did not run"))
    import pandas as pd

    from ..views import plan_view

    plan = plan_view(ctx.ws.con, ctx.run_id)  # one row per campaign: the figures `shopseg plan` shows
    df, tot = plan["frame"], plan["totals"]
    if df is None or df.empty:
        return Section("plan", "Campaign plan", missing="no customer qualified for any campaign")
    cols = [c for c in ("campaign", "channel", "treatment", "control", "cost", "incremental_value", "expected_value",
                        "expected_roi", "uplift", "uplift_source") if c in df.columns]
    fig = go.Figure()
    fig.add_bar(x=df.campaign, y=df.cost, name="cost")
    fig.add_bar(x=df.campaign, y=df.incremental_value, name="expected incremental value")
    fig.update_layout(barmode="group", yaxis_title=ctx.currency or "amount", height=340)
    best = df.sort_values("expected_value", ascending=False).iloc[0]
    take = (f"{tot['treatment']:,} customers are contacted in {tot['campaigns']} campaigns ({tot['control']:,} held "
            f"out as control groups); total cost {ctx.money(tot['cost'])} for an expected "
            f"{ctx.money(tot['incremental_value'])} of incremental net value ({ctx.money(tot['expected_value'])} after "
            f"cost). Biggest expected value: "
            f"{best.campaign}.")
    if plan["priors"]:
        take += " " + plan["priors"]
    uplift = ""
    if ctx.has("uplift_reports", with_run=False):
        # uplift_reports' run_id is the run whose actions were measured
        u = ctx.df("SELECT run_id AS campaign_run, campaign, n_treatment, n_control, rate_treatment, rate_control, "
                   "uplift, uplift_low, uplift_high, roi FROM uplift_reports WHERE segment = 'all' AND variant = 'all' "
                   "AND run_id = (SELECT max(run_id) FROM uplift_reports WHERE run_id < ?)", [ctx.run_id])
        if not u.empty:
            uplift = "<h3>Measured uplift of the previous campaigns</h3>" + table_html(u, floatfmt="{:,.3f}")
    totals = pd.DataFrame([{"campaign": "total", "channel": "", "treatment": tot["treatment"], "control": tot["control"],
                            "cost": tot["cost"], "incremental_value": tot["incremental_value"],
                            "expected_value": tot["expected_value"], "expected_roi": tot["expected_roi"]}])
    money = ("cost", "incremental_value", "expected_value")
    return Section("plan", "Campaign plan", take,
                   figure_html(fig) + table_html(in_money(ctx, df[cols].assign(uplift=df.uplift.map("{:.2%}".format)),
                                                           money))
                   + "<h3>Total</h3>" + table_html(in_money(ctx, totals, money)) + uplift)
