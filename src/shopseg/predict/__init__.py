"""Predictions: customer lifetime value (``clv``)."""

from .clv import (
    BGNBD,
    CLVModel,
    CLVResult,
    GammaGamma,
    ParetoNBD,
    clv_table,
    customer_lifetime_value,
    score_clv,
    summary_from_orders,
)

__all__ = [
    "BGNBD",
    "CLVModel",
    "CLVResult",
    "GammaGamma",
    "ParetoNBD",
    "clv_table",
    "customer_lifetime_value",
    "score_clv",
    "summary_from_orders",
]
