"""Predictions: customer lifetime value (``clv``) and churn risk (``churn``)."""

from .clv import (
    BGNBD,
    CLVModel,
    CLVResult,
    MBGNBD,
    GammaGamma,
    ParetoNBD,
    clv_table,
    customer_lifetime_value,
    score_clv,
    summary_from_orders,
)

from .churn import ChurnModel, churn_stage, fit_churn, load_churn_model, score_customers

__all__ = [
    "ChurnModel",
    "churn_stage",
    "fit_churn",
    "load_churn_model",
    "score_customers",
    "BGNBD",
    "CLVModel",
    "CLVResult",
    "GammaGamma",
    "MBGNBD",
    "ParetoNBD",
    "clv_table",
    "customer_lifetime_value",
    "score_clv",
    "summary_from_orders",
]
