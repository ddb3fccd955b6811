"""Customer segments: a registry of schemes (RFM, lifecycle, value tiers, behavioural clusters...) and predefined
groups (docs/segments.md).

>>> from shopseg.workspace import Workspace
>>> from shopseg.fixtures import load_fixture_shop, FIXTURE_AS_OF
>>> from shopseg.config import load_config
>>> from shopseg.segment import segment_all
>>> import tempfile, pathlib
>>> ws = Workspace.open(pathlib.Path(tempfile.mkdtemp()) / "ws"); load_fixture_shop(ws)
>>> cfg = load_config(overrides={"segments": {"cluster": {"sample_size": 100}}})
>>> run = segment_all(ws, 1, FIXTURE_AS_OF, cfg)
>>> run.segments.set_index("customer_id").loc["c01", ["rfm", "lifecycle", "value_tier"]].tolist()
['Champions', 'active', 'mid']
>>> ws.close()
"""

import importlib

# The public names, each loaded from its module on first use (PEP 562), so that the scheme registry
# (``shopseg.segment._registry``, which the config's checks read) imports without pandas or scikit-learn.
_LAZY = {
    "SegmentWarning": "_common", "validate_segments_config": "_common",
    "GroupClassifier": "classify", "classify_groups": "classify", "BehaviourClusters": "cluster",
    "migration": "history", "migration_long": "history", "segment_history": "history",
    "STAGES": "lifecycle", "lifecycle_stages": "lifecycle", "lifecycle_windows": "lifecycle",
    "cluster_name": "profile", "segment_profiles": "profile",
    "parse_names": "rfm", "rfm_scores": "rfm", "rfm_segments": "rfm",
    "Scheme": "_registry", "SchemeContext": "_registry", "SchemeResult": "_registry", "register": "_registry",
    "unregister": "_registry", "get_scheme": ("_registry", "get"), "scheme_names": ("_registry", "names"),
    "SegmentRun": "stage", "segment_all": "stage", "TIERS": "value", "value_tiers": "value",
}


def __getattr__(name: str):
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'shopseg.segment' has no attribute {name!r}")
    module, attr = where if isinstance(where, tuple) else (where, name)
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BehaviourClusters", "GroupClassifier", "STAGES", "Scheme", "SchemeContext", "SchemeResult", "SegmentRun",
    "SegmentWarning", "TIERS",
    "classify_groups", "cluster_name", "get_scheme", "register", "scheme_names", "unregister",
    "lifecycle_stages", "lifecycle_windows", "migration", "migration_long", "parse_names", "rfm_scores",
    "rfm_segments", "segment_all", "segment_history", "segment_profiles", "validate_segments_config",
    "value_tiers",
]
