"""The pipeline's stages: each adapts one capability to the stage contract (:mod:`shopseg.runner`).

``after`` orders them (the runner sorts topologically, keeping this file's order among free stages); the
stages the live service re-scores (clv, segments, churn) also give ``state`` and ``score``.
"""

from __future__ import annotations

from .pipeline import RunContext, Stage, register


def _lazy(module: str, name: str):
    """``module.name``, imported on first call (registering a stage imports nothing heavy)."""
    def call(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(module, __package__), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def _reviews(ctx: RunContext) -> dict:
    from .text import customer_review_features, review_insights

    res = review_insights(ctx.ws, ctx.run_id, ctx.as_of, ctx.config, seed=ctx.seed)
    n_cust = customer_review_features(ctx.ws, ctx.run_id, ctx.config)
    return {"reviews": res.n_reviews, "customers": n_cust,
            "shop_model": ",".join(res.shop_model_languages) or "none", "languages": res.languages,
            "sentiment": res.sentiment_summary(), "by_language": res.by_language}


# reviews first: customer features take review sentiment when the run has it
register(Stage("reviews", _reviews, needs=("reviews",), doc="Sentiment, aspects, topics, mentions of reviews."))



def _clv(ctx: RunContext) -> dict:
    from .predict._clv_select import one_sentence
    from .predict.clv import clv_table
    from .refit import CLV_REASON, Decision, record

    res = clv_table(ctx.ws, ctx.run_id, ctx.as_of, **ctx.config["clv"], seed=ctx.seed)
    out = {"rows": res.n_customers, "used": one_sentence(res.choices) if res.choices else "nothing to predict"}
    if res.transaction_model is not None:
        out.update(model=type(res.transaction_model).__name__.lower(),
                   **{k: round(v, 4) for k, v in res.transaction_model.params_.items()})
    for ch in res.choices:
        note = record(ctx.ws, ctx.run_id, Decision(ch.prediction, "refitted", CLV_REASON, candidate=ch.candidate,
                                                   metric=ch.metric, model_value=ch.model_value,
                                                   baseline_value=ch.baseline_value, decision=ch.decision))
        out["fit"] = note["fit"]
    if res.notes:
        out["notes"] = "; ".join(res.notes)
    return out


register(Stage("clv", _clv, needs=("orders",), after=(),
               doc="BG/NBD (or Pareto/NBD) + Gamma-Gamma lifetime value -> table clv",
               state=_lazy(".predict._score", "clv_state"), score=_lazy(".predict._score", "clv_score")))


def _segments(ctx: RunContext) -> dict:
    from .features import customer_features
    from .refit import cluster_decision, record, store_cluster_model
    from .segment import segment_all

    cfg = ctx.config.with_overrides({"segments": {"cluster": {"random_state": ctx.seed}}})
    feats = customer_features(ctx.ws, ctx.as_of, ctx.run_id, config=cfg, review_run=ctx.runs.of("review_insights"))
    decision, stored = (None, None)
    if "cluster" in cfg["segments.schemes"] and len(feats):  # reuse the stored model while inputs hold still
        decision, stored = cluster_decision(ctx.ws, ctx.run_id, cfg, refit=ctx.refit)
    ctx.frames["customer_features"] = feats  # the run's features, for the stages after (churn)
    from .segment.schemes.cluster import PREVIOUS

    run = segment_all(ctx.ws, ctx.run_id, ctx.as_of, cfg, features=feats, cluster_model=stored,
                      previous_cluster_run=ctx.runs.before("segment_profiles", PREVIOUS))
    out = {"customers": len(run.segments)}
    if run.model is not None:
        out.update(k=int(run.model.n_clusters_), elbow_k=int(run.model.elbow_k_))
        if getattr(run.model, "fit_customers_", None):
            from .segment.schemes.cluster import cluster_sample_note

            out["cluster_sample"] = cluster_sample_note(run.model.fit_customers_, len(run.segments))
        reused = decision is not None and decision.action == "reused"
        fitted = decision.source_run_id if reused else ctx.run_id
        cap = run.model.metadata_.get("max_customers") if reused else cfg["segments.cluster.max_customers"]
        store_cluster_model(ctx.ws, ctx.run_id, run.model, {"run_id": ctx.run_id, "fitted_run_id": int(fitted),
                                                            "as_of": f"{ctx.as_of:%Y-%m-%d %H:%M:%S}",
                                                            "max_customers": cap})
        if decision is not None:
            out.update(record(ctx.ws, ctx.run_id, decision))
    if run.windows is not None:
        out.update(silent_days=run.windows["silent_days"], churned_days=run.windows["churned_days"])
    notes = [f"{k} {v}" for k, v in run.state.get("skipped", {}).items()]
    if notes:
        out["notes"] = "; ".join(notes)
    from .segment.classify import classify_groups

    groups = classify_groups(ctx.ws, ctx.run_id, ctx.as_of, cfg)  # scheme 'group', when labels or rules are set
    if "note" not in groups:
        out.update(groups_labelled=groups["labelled"], groups_placed=groups["placed"],
                   groups_cv_accuracy=groups["cv_accuracy"])
    return out


# after clv (value tiers rank by predicted value) and before baskets (rules per segment)
register(Stage("segments", _segments, needs=("customers",), after=("reviews", "clv"),
               doc="Customer features, RFM, lifecycle, value tiers and behavioural clusters.",
               state=_lazy(".segment._score", "segments_state"), score=_lazy(".segment._score", "segments_score")))


def _drift(ctx: RunContext) -> dict:
    from .drift import drift_stage

    return drift_stage(ctx.ws, ctx.run_id, ctx.config, previous=ctx.runs.before("customer_features"))


# right after segments wrote this run's customer_features
register(Stage("drift", _drift, needs=("customers",), after=("segments",),
               doc="Population stability index of every customer feature against the previous run -> feature_drift"))


def _churn(ctx: RunContext) -> dict:
    from .predict._churn_stage import churn_run

    return churn_run(ctx)


register(Stage("churn", _churn, needs=("orders",), after=("segments",),
               doc="Churn probability, risk tier and three reasons -> churn_scores, model_reports",
               state=_lazy(".predict._score", "churn_state"), score=_lazy(".predict._score", "churn_score")))


_SOLD = ("SELECT count(DISTINCT product_id) FROM (SELECT l.product_id FROM order_lines l "
         "WHERE l.product_id IS NOT NULL AND l.order_id IN (SELECT order_id FROM orders "
         "WHERE kind = 'sale' AND ordered_at <= CAST(? AS TIMESTAMP){limit}){limit})")


def _products_sold(ctx: RunContext) -> int:
    """Distinct products in sale orders up to as_of (exact below 2; 2 or more when at least two): baskets and
    recommendations need at least two.  A few orders' lines answer for almost every shop (the full count, a pass
    over every line joined with the orders, took 2.2 CPU s at Online Retail x100); the full count otherwise."""
    for limit in (" LIMIT 1000", ""):
        n = int(ctx.ws.scalar(_SOLD.format(limit=limit), [str(ctx.as_of)]) or 0)
        if n >= 2:
            break
    return n


def _baskets(ctx: RunContext) -> dict:
    from .basket import mine_baskets

    n = _products_sold(ctx)
    if n < 2:  # one product (CDNOW's log): nothing can sell together
        return {"note": f"skipped: {n} product(s) sold by as_of; baskets need at least two"}
    return mine_baskets(ctx.ws, ctx.run_id, as_of=ctx.as_of, config=ctx.config,
                        segment_run_id=ctx.runs.of("segments"), seed=ctx.seed)


register(Stage("baskets", _baskets, needs=("orders", "order_lines"), after=("segments",),
               doc="Frequent itemsets and association rules, overall and per segment; the rules backtested out of "
                   "time against popularity -> model_decisions (rules)"))


def _recommend(ctx: RunContext) -> dict:
    from .recommend import recommend_stage

    n = _products_sold(ctx)
    if n < 2:
        return {"note": f"skipped: {n} product(s) sold by as_of; nothing to recommend beside it"}
    return recommend_stage(ctx)


def _measure(ctx: RunContext) -> dict:
    from .act import measure_stage

    return measure_stage(ctx)


def _act(ctx: RunContext) -> dict:
    from .act import act_stage

    return act_stage(ctx)


register(Stage("recommend", _recommend, needs=("orders", "order_lines"), after=("segments", "baskets"),
               doc="next basket: repeats (decayed frequency, cycles) + TIFU-KNN + ALS / item-item, content, "
                   "cross-sell, popularity -> table recommendations (kind, reason)"))
register(Stage("measure", _measure, needs=("orders",), after=(),
               doc="Uplift of earlier runs whose response window ended by as_of -> table uplift_reports"))
register(Stage("act", _act, needs=("orders",), after=("segments", "churn", "clv", "recommend", "measure"),
               doc="Campaign playbook: one action per customer, control groups, budget -> table actions"))
