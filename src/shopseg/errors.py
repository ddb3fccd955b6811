"""The one exception tree of shopseg.

::

    ShopsegError                 anything shopseg raises on purpose
     +-- ConfigError             a setting is missing, unknown or out of range
     +-- DataContractError       input data does not meet a column contract
     |    +-- IngestError        a file cannot be ingested (whole-file problem)
     +-- WorkspaceError          the workspace is missing, locked or inconsistent
     +-- NotFittedError          a model was used before it was fitted or stored
     +-- ModelFitError           a model fit failed (with a hint to fix it)

Every surface translates these once: the CLI prints the message and the hint
and exits non-zero; the API answers with a JSON error body.
"""

from __future__ import annotations


class ShopsegError(Exception):
    """Base class. ``hint`` is a short suggestion of what to do next."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # message and hint together, as users see them
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"


class ConfigError(ShopsegError, ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


class DataContractError(ShopsegError, ValueError):
    """Data does not meet the column contract of a canonical table."""


class IngestError(DataContractError):
    """A whole file cannot be ingested: unreadable, empty, missing columns..."""


class WorkspaceError(ShopsegError):
    """The workspace is missing, not a shopseg workspace, or inconsistent."""


class NotFittedError(ShopsegError, AttributeError):
    """A model was used before ``fit`` (or before a stored model existed)."""


class ModelFitError(ShopsegError, RuntimeError):
    """A model fit did not converge or produced invalid parameters."""


__all__ = [
    "ShopsegError",
    "ConfigError",
    "DataContractError",
    "IngestError",
    "WorkspaceError",
    "NotFittedError",
    "ModelFitError",
]
