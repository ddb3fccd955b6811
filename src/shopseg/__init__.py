"""shopseg: turn a web shop's raw data into customer segments and targeted marketing.

>>> import shopseg
>>> sorted(shopseg.PRESETS)[:2]
['cdnow', 'online-retail']
"""

from __future__ import annotations

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
]
