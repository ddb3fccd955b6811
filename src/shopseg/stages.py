"""The pipeline's stages, in order: each adapts one capability to :class:`shopseg.pipeline.RunContext`."""

from __future__ import annotations

from .pipeline import RunContext, Stage, register


def _baskets(ctx: RunContext) -> dict:
    from .basket import mine_baskets

    return mine_baskets(ctx.ws, ctx.run_id, as_of=ctx.as_of, config=ctx.config)


register(Stage("baskets", _baskets, needs=("orders", "order_lines"),
               doc="Frequent itemsets and association rules, overall and per segment."))
