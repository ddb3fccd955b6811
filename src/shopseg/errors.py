"""The one exception tree of shopseg.

::

    ShopsegError                 anything shopseg raises on purpose
     +-- ConfigError             a setting is missing, unknown or out of range
     +-- DataContractError       input data does not meet a column contract
     |    +-- IngestError        a file cannot be ingested (whole-file problem)
     +-- WorkspaceError          the workspace is missing, locked or inconsistent
     +-- NotFittedError          a model was used before it was fitted or stored
     +-- ModelFitError           a model fit failed (with a hint to fix it)
     +-- NotFoundError           a customer, scheme, segment or run output asked for is not there

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


class NotFoundError(ShopsegError, LookupError):
    """What was asked for (a customer, a scheme, a segment, a run's outputs) is not in the workspace."""


_DISK_FULL = ("No space left on device", "Disk quota exceeded", "disk is full", "Disk full")  # OS, DuckDB, SQLite


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"


def disk_full_error(exc: BaseException, workspace, *, need: int | None = None,
                    need_why: str = "") -> WorkspaceError | None:
    """A clear error for a full disk (``ENOSPC`` from Python, or DuckDB's I/O error saying so), else None.

    Names the file being written, the free and total space of its disk and, when the caller can tell,
    how much the operation needs (``need`` bytes, ``need_why`` saying what that estimate is).

    >>> import errno
    >>> e = disk_full_error(OSError(errno.ENOSPC, "No space left on device", "/nonexistent/x/report.html"), "/")
    >>> e.message.startswith("The disk is full: writing /nonexistent/x/report.html failed")
    True
    >>> disk_full_error(ValueError("bad"), "/") is None
    True
    """
    import errno
    import re
    import shutil
    from pathlib import Path

    text = str(exc)
    if not ((isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))
            or any(s in text for s in _DISK_FULL)):
        return None
    quoted = re.search(r'"([^"]+)"', text)
    target = getattr(exc, "filename", None) or (quoted.group(1) if quoted else None) or str(workspace)
    probe = Path(target)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
        space = f"{human_bytes(usage.free)} free of {human_bytes(usage.total)} on the disk holding {probe}"
    except OSError:
        space = f"the free space on the disk holding {probe} could not be read"
    needs = f"; {need_why} needs about {human_bytes(need)}" if need else ""
    return WorkspaceError(
        f"The disk is full: writing {target} failed ({space}{needs}). Nothing was half-written: the ingest or "
        "stage that failed was rolled back and the workspace is as it was before it.",
        hint="Free space on that disk (or move the workspace to a disk with room), then run the command again.")


__all__ = [
    "ShopsegError",
    "ConfigError",
    "DataContractError",
    "IngestError",
    "WorkspaceError",
    "NotFittedError",
    "ModelFitError",
]
