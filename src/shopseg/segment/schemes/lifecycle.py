"""Lifecycle: prospect, new, active, silent, churned, by windows learned from the shop's own order gaps."""

from __future__ import annotations

from ...params import Interval
from .._registry import Scheme, SchemeContext, SchemeResult
from ..lifecycle import lifecycle_stages, lifecycle_windows


def windows_of(ctx: SchemeContext) -> dict:
    """The lifecycle's windows of the run: those a scheme that ran before computed (the rfm scheme's recency reads
    them; each hands them on in its result's state), else computed here."""
    for name in ("lifecycle", "rfm"):
        got = ctx.done.get(name)
        if got is not None and (got.state or {}).get("windows") is not None:
            return got.state["windows"]
    return lifecycle_windows(ctx.ws, ctx.as_of, ctx.config)


def compute(ctx: SchemeContext) -> SchemeResult:
    windows = windows_of(ctx)
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
