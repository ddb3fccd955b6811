"""Lifecycle: prospect, new, active, silent, churned, by windows learned from the shop's own order gaps."""

from __future__ import annotations

from .._registry import Scheme, SchemeContext, SchemeResult
from ..lifecycle import lifecycle_stages, lifecycle_windows


def compute(ctx: SchemeContext) -> SchemeResult:
    windows = lifecycle_windows(ctx.ws, ctx.as_of, ctx.config)
    lc = lifecycle_stages(ctx.ws, ctx.as_of, ctx.config, features=ctx.features, windows=windows)
    labels = lc["stage"].to_numpy()
    return SchemeResult(labels, extras={s: {"windows": windows} for s in set(labels)}, state={"windows": windows})


SCHEME = Scheme("lifecycle", "Prospect, new, active, silent or churned, by windows learned from the order gaps.",
                compute, spark=True)
