"""RFM: recency, frequency and monetary quintile scores, named by the ``segments.rfm.names`` grid."""

from __future__ import annotations

from .._registry import Scheme, SchemeContext, SchemeResult
from ..rfm import PARAMETER_CONSTRAINTS, rfm_segments
from .lifecycle import windows_of


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
