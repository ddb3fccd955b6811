"""Recommendations: what each customer buys next, repeats included.

* :mod:`._nextbasket` — the next-basket recommender: personal repurchase (time-decayed frequency,
  per-product repurchase share and cycle, "due" items first), TIFU-KNN neighbours (Hu et al.,
  SIGIR 2020) and the explore blend for new products, mixed with weights learned per shop on an
  inner time split;
* :mod:`._mix` — the per-chunk evidence (:class:`~._mix.Components`), the mix's scoring and its
  search on the inner split ("buy it again" as a candidate it can fall back to);
* :mod:`._settled` — the customers whose top products are repeats whatever the other terms, ranked on
  the history's sparse entries (no dense customers x products chunk);
* :mod:`._history` — the purchase history it reads (purchase days, last purchase, cycles, TIFU
  vectors) and the nearest-neighbour search over the TIFU vectors;
* :mod:`._blend` — the explore recommender for products the customer never bought: ALS or
  item-item, content, association-rule cross-sell and segment popularity, blended;
* :mod:`._workspace` — the pipeline stage (table ``recommendations``: kind repeat/new and a reason
  per row), the stored recommendations of a customer, and :func:`evaluate_time_split`, which
  scores every product bought after a split and its repeat and new parts separately against
  popularity, "buy it again" and TIFU-KNN.
"""

from ._blend import SOURCE_NAMES, SOURCES, Recommender, has_implicit
from ._nextbasket import (MIX_GRID, NextBasketRecommender, build_history, neighbour_vectors,
                          purchases_from_workspace)
from ._workspace import (METHODS, REC_COLUMNS, evaluate_time_split, interactions_from_workspace,
                         next_basket_model, products_frame, ranking_metrics, recommend_stage, recommendations_for)

__all__ = ["METHODS", "MIX_GRID", "REC_COLUMNS", "SOURCES", "SOURCE_NAMES", "NextBasketRecommender", "Recommender",
           "build_history", "evaluate_time_split", "has_implicit", "interactions_from_workspace", "neighbour_vectors",
           "next_basket_model", "products_frame", "purchases_from_workspace", "ranking_metrics", "recommend_stage",
           "recommendations_for"]
