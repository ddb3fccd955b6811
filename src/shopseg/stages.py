"""The pipeline's stages, in order: each adapts one capability to :class:`shopseg.pipeline.RunContext`."""

from __future__ import annotations

from .pipeline import RunContext, Stage, register


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
