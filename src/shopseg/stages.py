"""The pipeline's stages, in order: each adapts one capability to :class:`shopseg.pipeline.RunContext`."""

from __future__ import annotations

from .pipeline import RunContext, Stage, register


def _reviews(ctx: RunContext) -> dict:
    from .text import customer_review_features, review_insights

    res = review_insights(ctx.ws, ctx.run_id, ctx.as_of, ctx.config, seed=ctx.seed)
    n_cust = customer_review_features(ctx.ws, ctx.run_id, ctx.config)
    return {"reviews": res.n_reviews, "customers": n_cust,
            "shop_model": ",".join(res.shop_model_languages) or "none", "languages": res.languages}


# reviews first: customer features take review sentiment when the run has it
register(Stage("reviews", _reviews, needs=("reviews",), doc="Sentiment, aspects, topics, mentions of reviews."))


def _baskets(ctx: RunContext) -> dict:
    from .basket import mine_baskets

    return mine_baskets(ctx.ws, ctx.run_id, as_of=ctx.as_of, config=ctx.config)


register(Stage("baskets", _baskets, needs=("orders", "order_lines"),
               doc="Frequent itemsets and association rules, overall and per segment."))


def _clv(ctx: RunContext) -> dict:
    from .predict.clv import clv_table

    res = clv_table(ctx.ws, ctx.run_id, ctx.as_of, **ctx.config["clv"])
    return {"rows": res.n_customers, "model": ctx.config["clv.model"],
            **{k: round(v, 4) for k, v in res.transaction_model.params_.items()}}


register(Stage("clv", _clv, needs=("orders",),
               doc="BG/NBD (or Pareto/NBD) + Gamma-Gamma lifetime value -> table clv"))
