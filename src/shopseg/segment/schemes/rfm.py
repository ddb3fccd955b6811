"""RFM: recency, frequency and monetary quintile scores, named by the ``segments.rfm.names`` grid."""

from __future__ import annotations

from .._registry import Scheme, SchemeContext, SchemeResult
from ..rfm import PARAMETER_CONSTRAINTS, rfm_segments


def compute(ctx: SchemeContext) -> SchemeResult:
    rfm = rfm_segments(ctx.features, ctx.config)
    return SchemeResult(rfm["segment"].to_numpy(), tables={"rfm_scores": rfm.drop(columns="segment")})


SCHEME = Scheme("rfm", "Recency, frequency and monetary scores named by the RFM grid (Champions, At Risk...).",
                compute, spark=True, parameters=PARAMETER_CONSTRAINTS)
