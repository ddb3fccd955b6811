"""Customer segments: a registry of schemes (RFM, lifecycle, value tiers, behavioural clusters...) and predefined
groups (docs/segments.md).

>>> from shopseg.workspace import Workspace
>>> from shopseg.fixtures import load_fixture_shop, FIXTURE_AS_OF
>>> from shopseg.config import load_config
>>> import tempfile, pathlib
>>> ws = Workspace.open(pathlib.Path(tempfile.mkdtemp()) / "ws"); load_fixture_shop(ws)
>>> cfg = load_config(overrides={"segments": {"cluster": {"sample_size": 100}}})
>>> run = segment_all(ws, 1, FIXTURE_AS_OF, cfg)
>>> run.segments.set_index("customer_id").loc["c01", ["rfm", "lifecycle", "value_tier"]].tolist()
['Champions', 'active', 'mid']
>>> ws.close()
"""

from ._common import SegmentWarning, validate_segments_config
from .classify import GroupClassifier, classify_groups
from .cluster import BehaviourClusters
from .history import migration, migration_long, segment_history
from .lifecycle import STAGES, lifecycle_stages, lifecycle_windows
from .profile import cluster_name, segment_profiles
from .rfm import parse_names, rfm_scores, rfm_segments
from ._registry import Scheme, SchemeContext, SchemeResult, register, unregister
from ._registry import get as get_scheme
from ._registry import names as scheme_names
from .stage import SegmentRun, segment_all
from .value import TIERS, value_tiers

__all__ = [
    "BehaviourClusters", "GroupClassifier", "STAGES", "Scheme", "SchemeContext", "SchemeResult", "SegmentRun",
    "SegmentWarning", "TIERS",
    "classify_groups", "cluster_name", "get_scheme", "register", "scheme_names", "unregister",
    "lifecycle_stages", "lifecycle_windows", "migration", "migration_long", "parse_names", "rfm_scores",
    "rfm_segments", "segment_all", "segment_history", "segment_profiles", "validate_segments_config",
    "value_tiers",
]
