"""Views of one run's predictions and reviews, and of segments over runs: what ``shopseg predict clv`` /
``predict churn``, ``shopseg reviews``, ``shopseg history`` and ``shopseg diff`` print, read here (one read per
view) so that another surface (the API) can serve the same rows."""

from __future__ import annotations

import pandas as pd


def top_clv(ws, run_id: int, top: int) -> list[tuple]:
    """The ``top`` customers by CLV of run ``run_id``: customer_id, p_alive, expected purchases over the horizon,
    clv (rounded for display) and the expected next order."""
    return ws.sql("SELECT customer_id, round(p_alive, 3), round(expected_purchases_horizon, 2), round(clv, 2), "
                  "expected_next_order_at FROM clv WHERE run_id = ? ORDER BY clv DESC LIMIT ?", [run_id, top])


def churn_validation(ws, run_id: int) -> list[tuple]:
    """The churn models' validation figures of run ``run_id`` (model, metric, value), the headline metrics."""
    return ws.sql("SELECT model, metric, round(value, 3) FROM model_reports WHERE run_id = ? AND metric IN "
                  "('roc_auc','pr_auc','brier','lift_top_decile','gains_top_20') ORDER BY model, metric", [run_id])


def top_churn(ws, run_id: int, top: int) -> list[tuple]:
    """The ``top`` customers most likely to churn in run ``run_id``: customer_id, probability, tier, reasons."""
    return ws.sql("SELECT customer_id, round(probability, 3), tier, reason_1, reason_2, reason_3 FROM churn_scores "
                  "WHERE run_id = ? ORDER BY probability DESC, customer_id LIMIT ?", [run_id, top])


def reviews_by_language(ws, run_id: int) -> pd.DataFrame:
    """Run ``run_id``'s reviews per language: sentiment mode, count, mean sentiment."""
    return ws.df("SELECT language, sentiment_mode, count(*) AS n, round(avg(sentiment), 3) AS avg_sentiment "
                 "FROM review_insights WHERE run_id = ? GROUP BY ALL ORDER BY n DESC", [run_id])


def segment_sizes(ws, scheme: str) -> pd.DataFrame:
    """Segment sizes of ``scheme`` per run, as a segment x run_id table of customer counts (0 where absent)."""
    from ..segment.history import segment_history

    h = segment_history(ws, scheme)
    return h.pivot_table(index="segment", columns="run_id", values="n_customers", fill_value=0)


def migration_matrix(ws, run_a: int, run_b: int, scheme: str) -> pd.DataFrame:
    """Customers per (segment in ``run_a``, segment in ``run_b``) of ``scheme``."""
    from ..segment.history import migration

    return migration(ws, run_a, run_b, scheme)


__all__ = ["churn_validation", "migration_matrix", "reviews_by_language", "segment_sizes", "top_churn", "top_clv"]
