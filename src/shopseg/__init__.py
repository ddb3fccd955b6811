"""shopseg: turn a web shop's raw data into customer segments and targeted marketing.

The public API is re-exported here.  Heavy capabilities (baskets, segments,
models, text) load on first use, so ``import shopseg`` and the CLI start fast.

>>> import shopseg
>>> {"online-retail", "olist", "shopify-orders"} <= set(shopseg.PRESETS)
True
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .config import Config, load_config
from .errors import (
    ConfigError,
    DataContractError,
    IngestError,
    ModelFitError,
    NotFittedError,
    ShopsegError,
    WorkspaceError,
)
from .ingest import PRESETS, IngestResult, ingest
from .workspace import Workspace, open_workspace

# name -> module that defines it, imported on first access
_LAZY = {
    **dict.fromkeys(
        ["frequent_itemsets", "association_rules", "segment_rules", "mine_baskets", "cross_sell",
         "purchase_histories", "baskets_from_transactions", "baskets_from_workspace"], "shopseg.basket"),
    **dict.fromkeys(["run_pipeline", "RunResult"], "shopseg.pipeline"),
    **dict.fromkeys(["run_incremental"], "shopseg.incremental"),
    **dict.fromkeys(["review_insights", "customer_review_features", "segment_review_summary", "score_sentiment",
                     "detect_language"], "shopseg.text"),
    **dict.fromkeys(["BGNBD", "ParetoNBD", "GammaGamma", "summary_from_orders", "clv_table",
                     "customer_lifetime_value"], "shopseg.predict.clv"),
    **dict.fromkeys(["build_report"], "shopseg.report"),
    **dict.fromkeys(["synthesize"], "shopseg.synth"),
    **dict.fromkeys(["create_app"], "shopseg.serve"),
    **dict.fromkeys(["plan_actions", "plan_summary", "plan_totals", "measure", "export_audience", "normalize_phone",
                     "campaigns_from_config", "ThompsonSampler"], "shopseg.act"),
    **dict.fromkeys(["UpliftModel"], "shopseg.act.uplift_models"),
    **dict.fromkeys(["Recommender", "NextBasketRecommender", "evaluate_time_split", "recommendations_for"],
                    "shopseg.recommend"),
    **dict.fromkeys(["customer_features"], "shopseg.features"),
    **dict.fromkeys(["FIXTURE_AS_OF", "load_fixture_shop"], "shopseg.fixtures"),
    **dict.fromkeys(["BehaviourClusters", "SegmentWarning", "lifecycle_stages", "migration", "rfm_segments",
                     "segment_all", "segment_history", "value_tiers", "GroupClassifier", "classify_groups"],
                    "shopseg.segment"),
    **dict.fromkeys(["ChurnModel", "fit_churn", "load_churn_model", "score_customers"], "shopseg.predict.churn"),
    **dict.fromkeys(["forget", "pseudonymise_workspace"], "shopseg.trust"),
    **dict.fromkeys(["Coordinator", "Site", "Privacy"], "shopseg.federated"),
    **dict.fromkeys(["dp_segment_stats", "build_shareable_report"], "shopseg.trust.dp"),
}

__all__ = [
    "__version__",
    "Config",
    "load_config",
    "ShopsegError",
    "ConfigError",
    "DataContractError",
    "IngestError",
    "ModelFitError",
    "NotFittedError",
    "WorkspaceError",
    "PRESETS",
    "IngestResult",
    "ingest",
    "Workspace",
    "open_workspace",
    *_LAZY,
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shopseg' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
