"""What every preset is made of: the :class:`Preset` record and the column finders the preset modules share.

Kept apart from ``presets`` (the registry, which imports the preset modules) so that the preset modules import
these without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb

from ..errors import IngestError
from ._plan import Plan, missing_column_message
from ._read import ReadOptions, SourceInfo
from ._sql import ident


@dataclass(frozen=True)
class Preset:
    name: str
    doc: str
    build: Callable[[SourceInfo, Path], Plan]
    read: Callable[[Path], ReadOptions] | None = None
    summary: Callable[[duckdb.DuckDBPyConnection, SourceInfo], dict] | None = None
    # presets for multi-file exports: the files of a folder to load, in load order
    files: Callable[[Path], list[Path]] | None = None
    # recognise: True when a file's column names are this preset's export (``shopseg ingest FILE`` without
    # --preset); None for presets whose files cannot be told by their header (CDNOW has none)
    recognise: Callable[[list[str]], bool] | None = None
    # ISO 4217 code of the money in this preset's files, when the format fixes it (the report's currency under
    # shop.currency = "auto"; docs/presets.md "Currency and product codes")
    currency: str | None = None


def _pick(info: SourceInfo, path: Path, table: str, wanted: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Find each wanted column under any of its known spellings (case-insensitive)."""
    lower = {c.lower().replace(" ", ""): c for c in info.columns}
    found, missing = {}, []
    for key, names in wanted.items():
        for n in names:
            if n.lower().replace(" ", "") in lower:
                found[key] = ident(lower[n.lower().replace(" ", "")])
                break
        else:
            missing.append(f"{key} (as {' or '.join(names)})")
    if missing:
        raise IngestError(missing_column_message(path, table, missing, info.columns),
                          hint="Is this the right preset for the file? See `shopseg presets`.")
    return found


def _has_any(columns: list[str], *groups: tuple[str, ...]) -> bool:
    """True when the columns hold one name of each group (case-insensitive, spaces ignored)."""
    have = {c.lower().lstrip("\ufeff").replace(" ", "") for c in columns}
    return all(any(n.lower().replace(" ", "") in have for n in g) for g in groups)
