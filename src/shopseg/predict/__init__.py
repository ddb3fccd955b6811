"""Predictions: customer lifetime value (``clv``)."""

from .clv import (
    BGNBD,
    CLVModel,
    GammaGamma,
    ParetoNBD,
    clv_table,
    customer_lifetime_value,
    summary_from_orders,
)

__all__ = [
    "BGNBD",
    "CLVModel",
    "GammaGamma",
    "ParetoNBD",
    "clv_table",
    "customer_lifetime_value",
    "summary_from_orders",
]
