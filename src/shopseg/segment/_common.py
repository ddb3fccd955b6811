"""Shared bits of the segment schemes: the warning class and the cross-setting checks."""

from __future__ import annotations

from ..config import Config, load_config
from ..errors import ConfigError


class SegmentWarning(UserWarning):
    """The data cannot fully support a scheme (tiny shop, ties); a fallback was used."""


def get_config(config: Config | None) -> Config:
    cfg = config if config is not None else load_config()
    validate_segments_config(cfg)
    return cfg


def validate_segments_config(cfg: Config) -> None:
    """Checks that involve two settings at once (single-setting ranges: each scheme's parameters, checked by the config)."""
    lc = cfg["segments.lifecycle"]
    if lc["silent_days"] and lc["churned_days"] and lc["churned_days"] <= lc["silent_days"]:
        raise ConfigError(
            "The 'segments.lifecycle.churned_days' setting must be greater than 'silent_days' "
            f"({lc['silent_days']!r}). Got {lc['churned_days']!r} instead."
        )
    if lc["churned_quantile"] <= lc["silent_quantile"]:
        raise ConfigError(
            "The 'segments.lifecycle.churned_quantile' setting must be greater than 'silent_quantile' "
            f"({lc['silent_quantile']!r}). Got {lc['churned_quantile']!r} instead."
        )
    if lc["fallback_churned_days"] <= lc["fallback_silent_days"]:
        raise ConfigError(
            "The 'segments.lifecycle.fallback_churned_days' setting must be greater than "
            f"'fallback_silent_days' ({lc['fallback_silent_days']!r}). Got {lc['fallback_churned_days']!r} instead."
        )
    v = cfg["segments.value"]
    if v["high_share"] + v["mid_share"] > 1:
        raise ConfigError(
            "The 'segments.value.high_share' and 'mid_share' settings must add up to at most 1. "
            f"Got {v['high_share']!r} + {v['mid_share']!r} instead."
        )
    c = cfg["segments.cluster"]
    if c["k_min"] > c["k_max"]:
        raise ConfigError(
            f"The 'segments.cluster.k_min' setting must be at most 'k_max' ({c['k_max']!r}). "
            f"Got {c['k_min']!r} instead."
        )
    if c["linkage"] == "ward" and c["metric"] != "euclidean":
        raise ConfigError(
            "The 'segments.cluster.metric' setting must be 'euclidean' when linkage is 'ward'. "
            f"Got {c['metric']!r} instead.",
            hint="Use linkage = \"average\" or \"complete\" with manhattan or cosine distances.",
        )
