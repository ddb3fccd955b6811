"""Settings: one registry of defaults (``defaults.toml``), overridden by a user TOML file.

Business definitions (RFM segment names, lifecycle windows, risk thresholds,
campaign rules) are data in that file, not ``if`` chains in code.  Every
setting is documented in ``defaults.toml`` itself and in ``docs/config.md``
(``tests/test_docs.py`` checks they agree).

>>> cfg = load_config()
>>> cfg["ingest.max_quarantine_share"]
0.5
>>> load_config(overrides={"ingest": {"max_quarantine_share": 2}})
Traceback (most recent call last):
...
shopseg.errors.ConfigError: The 'ingest.max_quarantine_share' setting must be a number in [0, 1]. Got 2 instead.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import ConfigError


@dataclass(frozen=True)
class Constraint:
    """A check on one setting's value, with the words used in the error (or a function writing them)."""

    words: str | Callable[[], str]
    check: Callable[[Any], bool]

    def describe(self) -> str:
        return self.words() if callable(self.words) else self.words


def interval(lo: float | None, hi: float | None, *, integer: bool = False) -> Constraint:
    kind = "an int" if integer else "a number"
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    br = ")" if hi is None else "]"

    def ok(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if integer and not isinstance(v, int):
            return False
        return (lo is None or v >= lo) and (hi is None or v <= hi)

    return Constraint(f"{kind} in [{lo_s}, {hi_s}{br}", ok)


def iso_date() -> Constraint:
    def ok(v):
        try:
            return isinstance(v, str) and len(v) == 10 and date.fromisoformat(v) is not None
        except ValueError:
            return False

    return Constraint("a date written YYYY-MM-DD, in quotes", ok)


def one_of(*choices: str) -> Constraint:
    return Constraint("one of " + ", ".join(repr(c) for c in choices), lambda v: v in choices)


def scheme_names(*, many: bool) -> Constraint:
    """A setting naming segment schemes, checked against the registry (shopseg.segment._registry) only when
    the value differs from its default, so loading the config imports no segment module."""
    def ok(v):
        from .segment._registry import check_names

        return check_names(v, many=many)

    def words() -> str:
        from .segment._registry import names

        known = ", ".join(repr(n) for n in names())
        return f"a list of distinct names from {known}" if many else f"one of {known}"

    return Constraint(words, ok)


# Range and choice constraints beyond "same type as the default".  Each
# capability adds its own settings here and in defaults.toml.
CONSTRAINTS: dict[str, Constraint] = {
    "ingest.max_quarantine_share": interval(0, 1),
    "ingest.min_date": iso_date(),
    "ingest.max_date": iso_date(),
    "drift.bins": interval(2, 100, integer=True),
    "drift.psi_threshold": interval(0, None),
    "drift.refit_psi": interval(0, None),
    "shop.currency": Constraint('"auto" or a three-letter ISO 4217 code in capitals, such as "GBP"',
                                lambda v: isinstance(v, str) and (v == "auto" or (len(v) == 3 and v.isascii()
                                                                                  and v.isalpha() and v.isupper()))),
    # privacy (docs/security.md)
    "privacy.pii": one_of("keep", "hash", "separate"),
    "privacy.max_epsilon_total": Constraint(
        "a number in (0, inf)", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0),
    "privacy.dp.epsilon": Constraint(
        "a number in (0, inf)", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0),
    "privacy.dp.k_min": interval(0, None, integer=True),
    "privacy.dp.schemes": scheme_names(many=True),
    "privacy.dp.features": Constraint("a list of distinct feature names",
                                      lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)
                                      and len(set(v)) == len(v)),
    "privacy.dp.bounds": Constraint(
        "a table of feature = [lo, hi] with lo < hi",
        lambda t: isinstance(t, dict) and all(
            isinstance(b, list) and len(b) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                        for x in b) and b[0] < b[1] for b in t.values())),
    "ingest.csv_sample_size": interval(1, None, integer=True),
    "synth.customers": interval(1, None, integer=True),
    "synth.seed": interval(0, None, integer=True),
    "synth.history_days": interval(365, 3650, integer=True),
    "synth.horizon_days": interval(1, 1095, integer=True),
    "baskets.unit": one_of("order", "customer"),
    "baskets.algorithm": one_of("fpgrowth", "eclat", "apriori"),
    "baskets.min_support": Constraint(
        "a number in (0, 1]",
        lambda v: not isinstance(v, bool) and isinstance(v, (int, float)) and 0 < v <= 1,
    ),
    "baskets.min_confidence": interval(0, 1),
    "baskets.min_lift": interval(0, None),
    "baskets.max_len": interval(1, None, integer=True),
    "baskets.max_itemsets": interval(1, None, integer=True),
    # features and segments (docs/features.md, docs/segments.md)
    "features.top_categories": interval(0, 50, integer=True),
    "features.outlier_z": interval(0, None),
    "segments.schemes": scheme_names(many=True),
    "segments.rfm.method": one_of("quantile", "cuts"),
    **{
        f"segments.rfm.{k}_cuts": Constraint(
            "a list of 4 increasing numbers",
            lambda v: isinstance(v, list) and len(v) == 4
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
            and all(a < b for a, b in zip(v, v[1:])),
        )
        for k in ("recency", "frequency", "monetary")
    },
    "segments.rfm.monetary_column": one_of("monetary_net", "monetary_total"),
    "segments.rfm.min_customers": interval(1, None, integer=True),
    # raises its own ConfigError naming the bad pattern or the overlapping cell
    "segments.rfm.names": Constraint(
        'a table of segment name = list of "R:FM" patterns',
        lambda v: __import__("shopseg.segment.rfm", fromlist=["parse_names"]).parse_names(v) is not None,
    ),
    "segments.lifecycle.silent_days": interval(0, None),
    "segments.lifecycle.churned_days": interval(0, None),
    "segments.lifecycle.new_days": interval(0, None),
    "segments.lifecycle.silent_quantile": Constraint(
        "a number in (0, 1)", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1),
    "segments.lifecycle.churned_quantile": Constraint(
        "a number in (0, 1)", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1),
    "segments.lifecycle.min_gaps": interval(1, None, integer=True),
    "segments.lifecycle.fallback_silent_days": interval(1, None),
    "segments.lifecycle.fallback_churned_days": interval(1, None),
    "segments.interest.prior_weight": interval(0, None),
    "segments.interest.min_lift": interval(1, None),
    "segments.interest.max_interests": interval(1, 10, integer=True),
    "segments.interest.browse_weight": interval(0, None),
    "segments.interest.review_weight": interval(0, None),
    "segments.interest.topic_weight": interval(0, None),
    "segments.interest.derived_groups": interval(0, 500, integer=True),
    "segments.interest.derived_min_products": interval(1, None, integer=True),
    "segments.value.high_share": interval(0, 1),
    "segments.value.mid_share": interval(0, 1),
    "segments.value.basis": one_of("auto", "monetary_net", "clv"),
    "segments.geo.level": one_of("auto", "country"),
    "segments.geo.domestic_share": interval(0, 1),
    "segments.geo.region_coverage": interval(0, 1),
    "segments.geo.min_customers": interval(0, None, integer=True),
    "segments.buyer_type.min_bic_gain": interval(0, None),
    "segments.buyer_type.min_separation": interval(0, None),
    "segments.buyer_type.min_share": interval(0, 0.5),
    "segments.cluster.method": one_of("kmeans", "hierarchical"),
    "segments.cluster.n_clusters": interval(0, 100, integer=True),
    "segments.cluster.k_min": interval(2, 100, integer=True),
    "segments.cluster.k_max": interval(2, 100, integer=True),
    "segments.cluster.scaler": one_of("standard", "robust"),
    "segments.cluster.k_selection": one_of("silhouette", "elbow", "two_level"),
    "segments.cluster.winsorize_quantile": Constraint(
        "a number in (0.5, 1]", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0.5 < v <= 1),
    "segments.cluster.sample_size": interval(100, None, integer=True),
    "segments.cluster.minibatch_above": interval(1, None, integer=True),
    "segments.cluster.linkage": one_of("ward", "average", "complete"),
    "segments.cluster.metric": one_of("euclidean", "manhattan", "cosine"),
    "segments.cluster.random_state": interval(0, None, integer=True),
    "segments.classify.model": one_of("tree", "logistic", "forest", "linear_svm"),
    "segments.classify.max_depth": interval(0, 100, integer=True),
    "segments.classify.min_samples_leaf": interval(1, None, integer=True),
    "segments.classify.cv_folds": interval(2, 50, integer=True),
    "segments.classify.self_training_threshold": Constraint(
        "a number in (0, 1]", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1),
    "segments.classify.random_state": interval(0, None, integer=True),
    "segments.classify.rules": Constraint(
        "a list of tables with a 'label' and a 'when' SQL condition (no ';')",
        lambda v: isinstance(v, list) and all(
            isinstance(r, dict) and set(r) == {"label", "when"} and isinstance(r["when"], str)
            and r["when"].strip() != "" and ";" not in r["when"] and str(r["label"]).strip() != "" for r in v)),
    # customer lifetime value (docs/clv.md)
    "clv.model": one_of("bgnbd", "mbgnbd", "paretonbd"),
    "clv.time_unit": one_of("D", "W"),
    "clv.horizon_days": Constraint(
        "a number in (0, 3650]", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 3650),
    "clv.discount_rate_annual": interval(0, 1),
    "clv.penalizer_coef": interval(0, None),
    "clv.value_penalizer_coef": interval(0, None),
    "clv.min_p_alive": interval(0, 1),
    "clv.backtest_days": interval(7, 3650),
    "churn.backtest_resamples": interval(10, 10000, integer=True),
    "churn.backtest_confidence": interval(0.5, 1),
    "clv.backtest_resamples": interval(10, 10000, integer=True),
    "clv.backtest_confidence": interval(0.5, 1),
    # review intelligence (docs/reviews.md)
    "reviews.shop_model": one_of("auto", "off"),
    "reviews.shop_model_min_reviews": interval(2, None, integer=True),
    "reviews.shop_model_min_per_class": interval(1, None, integer=True),
    "reviews.negative_max_rating": interval(1, 5, integer=True),
    "reviews.positive_min_rating": interval(1, 5, integer=True),
    "reviews.complaint_max_rating": interval(0, 5, integer=True),
    "reviews.max_text_chars": interval(100, None, integer=True),
    "reviews.n_topics": interval(0, 50, integer=True),
    "reviews.max_topics": interval(2, 50, integer=True),
    "reviews.topics_min_reviews": interval(3, None, integer=True),
    "reviews.topics_max_fit_reviews": interval(10, None, integer=True),
    "reviews.topic_top_terms": interval(1, 20, integer=True),
    "reviews.competitor_brands": Constraint(
        "a list of non-empty strings",
        lambda v: isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v)),
    "reviews.mention_fuzzy_min_chars": interval(3, None, integer=True),
    "reviews.detractor_min_complaints": interval(1, None, integer=True),
    "reviews.detractor_min_complaint_share": interval(0, 1),
    # churn prediction (docs/churn.md)
    "churn.horizon_days": interval(0, 3650, integer=True),
    "churn.horizon_quantile": Constraint(
        "a number in (0, 1)", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1),
    "churn.min_horizon_days": interval(1, 3650, integer=True),
    "churn.max_horizon_days": interval(1, 3650, integer=True),
    "churn.min_gaps": interval(1, None, integer=True),
    "churn.fallback_horizon_days": interval(1, 3650, integer=True),
    "churn.model": one_of("lightgbm", "logistic", "decision_tree", "random_forest", "linear_svm"),
    "churn.calibration": one_of("isotonic", "platt", "none"),
    "churn.random_state": interval(0, None, integer=True),
    "churn.train_windows": interval(1, 24, integer=True),
    "churn.window_step_days": interval(0, 3650, integer=True),
    "churn.max_train_rows": interval(0, 10**9, integer=True),
    "churn.max_customers": interval(0, 10**9, integer=True),
    "churn.min_labelled_customers": interval(2, None, integer=True),
    "churn.min_class_count": interval(1, None, integer=True),
    "churn.complaint_max_rating": interval(0, 5),
    "churn.features": Constraint("a list of distinct feature names",
                                 lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)
                                 and len(set(v)) == len(v)),
    "churn.tiers.method": one_of("share", "probability", "precision"),
    "churn.tiers.high_share": interval(0, 1),
    "churn.tiers.mid_share": interval(0, 1),
    "churn.tiers.high_probability": interval(0, 1),
    "churn.tiers.mid_probability": interval(0, 1),
    "churn.tiers.high_precision": interval(0, 1),
    "churn.tiers.mid_precision": interval(0, 1),
    "churn.tiers": Constraint(
        "a table whose high_share + mid_share is at most 1 and whose mid_probability and mid_precision "
        "are at most high_probability and high_precision",
        lambda t: isinstance(t, dict) and all(isinstance(t.get(k), (int, float)) for k in (
            "high_share", "mid_share", "high_probability", "mid_probability", "high_precision", "mid_precision"))
        and t["high_share"] + t["mid_share"] <= 1 + 1e-12 and t["mid_probability"] <= t["high_probability"]
        and t["mid_precision"] <= t["high_precision"]),
    "churn.lightgbm.n_estimators": interval(1, 100000, integer=True),
    "churn.lightgbm.learning_rate": Constraint(
        "a number in (0, 1]", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1),
    "churn.lightgbm.num_leaves": interval(2, 131072, integer=True),
    "churn.lightgbm.min_child_samples": interval(1, None, integer=True),
    "churn.lightgbm.subsample": Constraint(
        "a number in (0, 1]", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1),
    "churn.lightgbm.colsample_bytree": Constraint(
        "a number in (0, 1]", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1),
    "churn.lightgbm.reg_lambda": interval(0, None),
    "churn.logistic.C": Constraint(
        "a number in (0, inf)", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0),
    "churn.decision_tree.max_depth": interval(1, 64, integer=True),
    "churn.decision_tree.min_samples_leaf": interval(1, None, integer=True),
    "churn.random_forest.n_estimators": interval(1, 10000, integer=True),
    "churn.random_forest.max_depth": interval(1, 64, integer=True),
    "churn.random_forest.min_samples_leaf": interval(1, None, integer=True),
    "churn.linear_svm.C": Constraint(
        "a number in (0, inf)", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0),
    # actions and recommendations (docs/action.md)
    "act.budget": interval(0, None),
    "act.stratify_by": scheme_names(many=False),
    "act.response_window_days": interval(1, 3650, integer=True),
    "act.uplift_model_min_group": interval(1, None, integer=True),
    "act.choose_by": one_of("priority", "value_per_cost"),
    "act.confidence_level": Constraint(
        "a number in (0, 1)", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1),
    "act.ci_method": one_of("newcombe", "wald"),
    "act.default_country_code": Constraint(
        "1 to 3 digits (a calling code without +)", lambda v: isinstance(v, str) and v.isdigit() and 1 <= len(v) <= 3),
    # raises its own ConfigError naming the campaign, the key and the bad value
    "act": Constraint(
        "a valid playbook", lambda v: __import__("shopseg.act.playbook", fromlist=["check_act"]).check_act(v)),
    "recommend.top_n": interval(1, 1000, integer=True),
    "recommend.collaborative": one_of("auto", "als", "cooccurrence"),
    **{f"recommend.weight_{k}": interval(0, None) for k in ("collaborative", "content", "rules", "popularity")},
    "recommend.als_factors": interval(1, 1024, integer=True),
    "recommend.als_iterations": interval(1, 1000, integer=True),
    "recommend.als_regularization": interval(0, None),
    "recommend.als_alpha": Constraint(
        "a number in (0, inf)", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0),
    "recommend.popularity_days": interval(0, None, integer=True),
    "recommend.group_size": interval(1, 1000, integer=True),
    **{f"recommend.{k}": Constraint("a number in (0, 1]", lambda v: isinstance(v, (int, float))
                                    and not isinstance(v, bool) and 0 < v <= 1) for k in ("within_decay", "group_decay")},
    "recommend.neighbours": interval(1, 100000, integer=True),
    "recommend.neighbour_pool": interval(2, 10**8, integer=True),
    "recommend.horizon_days": interval(1, 3650, integer=True),
    "recommend.mix_customers": interval(20, 10**7, integer=True),
    "recommend.never_repeat": Constraint("a list of product ids", lambda v: isinstance(v, list)
                                         and all(isinstance(x, (str, int)) for x in v)),
    "recommend.popularity_scheme": scheme_names(many=False),
    "recommend.content_max_features": interval(1, None, integer=True),
    "recommend.random_state": interval(0, None, integer=True),
}

# Sections whose keys are free (user-defined names), checked only for type.
OPEN_SECTIONS: set[str] = {"segments.rfm.names", "act.campaigns", "privacy.dp.bounds",
                           # a default campaign may take any campaign key (checked by shopseg.act.playbook)
                           *(f"act.campaigns.{c}" for c in ("win_back", "vip", "welcome", "coupon", "reactivation",
                                                            "last_chance", "cart_reminder", "replenishment"))}


def _defaults_text() -> str:
    return resources.files("shopseg").joinpath("defaults.toml").read_text(encoding="utf-8")


def defaults() -> dict:
    return tomllib.loads(_defaults_text())


def _type_name(v: Any) -> str:
    return {bool: "a boolean", int: "an int", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(v), type(v).__name__)


def _merge(base: dict, over: Mapping, prefix: str, source: str) -> None:
    for key, value in over.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            if prefix.rstrip(".") in OPEN_SECTIONS:
                base[key] = value
                continue
            known = ", ".join(sorted(base)) or "(none)"
            raise ConfigError(
                f"Unknown setting {dotted!r}{source}. Known settings here: {known}."
            )
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"The {dotted!r} setting must be a table. Got {value!r} instead.")
            _merge(default, value, dotted + ".", source)
            continue
        ok_type = (
            type(value) is type(default)
            or (isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool))
        )
        if not ok_type and dotted not in CONSTRAINTS:
            raise ConfigError(
                f"The {dotted!r} setting must be {_type_name(default)}. Got {value!r} instead."
            )
        base[key] = value


_MISSING = object()


def _lookup(cfg: dict, dotted: str):
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _check_constraints(cfg: dict, *, all_values: bool = False) -> None:
    """Check every constrained setting that differs from its default (defaults are checked by a test,
    ``all_values=True``), so loading the config never imports the capabilities some checks need."""
    base = None if all_values else defaults()
    for dotted, c in CONSTRAINTS.items():
        node = _lookup(cfg, dotted)
        if node is _MISSING or (base is not None and _lookup(base, dotted) == node):
            continue
        if not c.check(node):
            raise ConfigError(f"The {dotted!r} setting must be {c.describe()}. Got {node!r} instead.")


class Config(Mapping):
    """A validated, read-only view of all settings; ``cfg["rfm.n_bins"]`` reads one."""

    def __init__(self, data: dict):
        self._data = data

    def __getitem__(self, dotted: str):
        node: Any = self._data
        for part in dotted.split("."):
            try:
                node = node[part]
            except (KeyError, TypeError):
                raise KeyError(dotted) from None
        return copy.deepcopy(node) if isinstance(node, (dict, list)) else node

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def as_dict(self) -> dict:
        return copy.deepcopy(self._data)

    def to_json(self) -> str:
        return json.dumps(self._data, sort_keys=True, separators=(",", ":"))

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON: two runs with the same hash used the same settings."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def with_overrides(self, overrides: Mapping) -> "Config":
        data = self.as_dict()
        _merge(data, overrides, "", "")
        _check_constraints(data)
        return Config(data)


def load_config(path: str | Path | None = None, *, overrides: Mapping | None = None) -> Config:
    """Defaults, then the TOML file at ``path``, then ``overrides``; all validated."""
    data = defaults()
    if path is not None:
        p = Path(path)
        try:
            user = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Config file {p} does not exist.") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"Config file {p} is not valid TOML: {e}.") from None
        _merge(data, user, "", f" in {p}")
    if overrides:
        _merge(data, overrides, "", "")
    _check_constraints(data)
    return Config(data)


def config_markdown() -> str:
    """``docs/config.md``, written from ``defaults.toml`` and its comments (a test keeps them in step)."""
    from ._config_doc import config_markdown as markdown

    return markdown(_defaults_text())


if __name__ == "__main__":  # pragma: no cover
    print(config_markdown(), end="")
