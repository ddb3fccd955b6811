"""RFM: recency, frequency and monetary quintile scores, named by the ``segments.rfm.names`` grid."""

from __future__ import annotations

from .._registry import Scheme, SchemeContext, SchemeResult
from ..lifecycle import lifecycle_windows
from ..rfm import PARAMETER_CONSTRAINTS, rfm_segments


def windows_of(ctx: SchemeContext) -> dict:
    """The lifecycle's windows of the run: the lifecycle scheme's when it ran before, else computed here (and handed
    on in the rfm result's state, so the lifecycle scheme does not compute them again)."""
    for name in ("lifecycle", "rfm"):
        got = ctx.done.get(name)
        if got is not None and (got.state or {}).get("windows") is not None:
            return got.state["windows"]
    return lifecycle_windows(ctx.ws, ctx.as_of, ctx.config)


def compute(ctx: SchemeContext) -> SchemeResult:
    # a buyer past the lifecycle's churn window scores R = 1 (segment/rfm.py): no "Champions" on a dormant shop
    windows = windows_of(ctx)
    rfm = rfm_segments(ctx.features, ctx.config, windows)
    labels = rfm["segment"].to_numpy()
    # the windows in the profiles too: the live score caps R with the run's windows (segment/_score.py)
    return SchemeResult(labels, extras={s: {"windows": windows} for s in set(labels)},
                        tables={"rfm_scores": rfm.drop(columns="segment")}, state={"windows": windows})


SCHEME = Scheme("rfm", "Recency, frequency and monetary scores named by the RFM grid (Champions, At Risk...).",
                compute, spark=True, parameters=PARAMETER_CONSTRAINTS)
