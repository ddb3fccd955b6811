"""Lifecycle: prospect, new, active, silent, churned, by windows learned from the shop's own order gaps."""

from __future__ import annotations

from ...params import Interval
from .._registry import Scheme, SchemeContext, SchemeResult
from ..lifecycle import lifecycle_stages, lifecycle_windows


def compute(ctx: SchemeContext) -> SchemeResult:
    rfm = ctx.done.get("rfm")  # the rfm scheme computed them when it ran first (its recency reads them)
    windows = (rfm.state or {}).get("windows") if rfm is not None else None
    if windows is None:
        windows = lifecycle_windows(ctx.ws, ctx.as_of, ctx.config)
    lc = lifecycle_stages(ctx.ws, ctx.as_of, ctx.config, features=ctx.features, windows=windows)
    labels = lc["stage"].to_numpy()
    return SchemeResult(labels, extras={s: {"windows": windows} for s in set(labels)}, state={"windows": windows})


SCHEME = Scheme("lifecycle", "Prospect, new, active, silent or churned, by windows learned from the order gaps.",
                compute, spark=True,
                parameters={"silent_days": Interval(float, 0, None), "churned_days": Interval(float, 0, None),
                            "new_days": Interval(float, 0, None),
                            "silent_quantile": Interval(float, 0, 1, closed="neither"),
                            "churned_quantile": Interval(float, 0, 1, closed="neither"),
                            "min_gaps": Interval(int, 1, None), "fallback_silent_days": Interval(float, 1, None),
                            "fallback_churned_days": Interval(float, 1, None)})
