"""How the command line prints: one place for tables or JSON, verbosity, and the config file found.

Commands hand raw values to :func:`table` (or :func:`record`) with a format per column; on a terminal they
become a rich table with those formats, and with the global ``--json`` one JSON document printed when the
command ends (:func:`flush`), holding the same values unformatted, so a script reads the numbers the table
shows.  ``-q`` keeps results and errors only; ``-v`` adds details (the config file used, stage timings).
"""

from __future__ import annotations

import json
import math
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

CONFIG_NAME = "shopseg.toml"
# flags of the main command that may also come after the subcommand (`shopseg summary --json`)
GLOBAL_FLAGS = ("--json", "--verbose", "-v", "--quiet", "-q")


class _Out:
    json: bool = False
    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose
    doc: dict[str, Any] = {}


out = _Out()


def reset(*, as_json: bool = False, verbose: bool = False, quiet: bool = False) -> None:
    out.json, out.verbosity, out.doc = as_json, (1 if verbose else -1 if quiet else 0), {}


def plain(value):
    """``value`` as JSON can hold it: numpy and pandas scalars as numbers, NaN as null, dates as ISO text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):  # numpy scalar
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (int,)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    if value != value:  # pandas NaT / NA
        return None
    return str(value)


def cell(value, spec: str | None = None) -> str:
    """One table cell: empty for a missing value, ``spec`` applied to a number, lists joined."""
    v = plain(value)
    if v is None:
        return ""
    if isinstance(v, list):
        return ", ".join(map(str, v))
    if spec and isinstance(v, (int, float)) and not isinstance(v, bool):
        return format(v, spec)
    return str(v)


def table(name: str, columns: list[str], rows, *, title: str | None = None, formats: dict[str, str] | None = None,
          sections: list[int] | None = None) -> None:
    """Print ``rows`` (sequences of raw values, in ``columns`` order) as a table, or add them to the JSON
    document under ``name`` (a list of objects keyed by column)."""
    formats = formats or {}
    rows = [tuple(r) for r in rows]
    if out.json:
        out.doc[name] = [dict(zip(columns, map(plain, r))) for r in rows]
        return
    t = Table(*columns, title=title)
    for i, r in enumerate(rows):
        if sections and i in sections:
            t.add_section()
        t.add_row(*(escape(cell(v, formats.get(c))) for c, v in zip(columns, r)))
    console.print(t)


def record(name: str, value) -> None:
    """A result that is not a table (a customer's card, a path written): in the JSON document under ``name``."""
    if out.json:
        out.doc[name] = plain(value)


def say(text: str) -> None:
    """A result line: on stdout, or (with --json, where stdout is the document) on stderr unless -q."""
    if out.json:
        if out.verbosity >= 0:
            err_console.print(text, highlight=False, soft_wrap=True, markup=False)
        return
    console.print(text, highlight=False, soft_wrap=True, markup=False)


def note(text: str) -> None:
    """Something to know that is not the result (a warning in words): stderr, silent with -q."""
    if out.verbosity >= 0:
        err_console.print(f"[yellow]Note:[/] {escape(text)}", highlight=False, soft_wrap=True)


def detail(text: str) -> None:
    """A detail printed only with -v (stderr)."""
    if out.verbosity > 0:
        err_console.print(text, highlight=False, soft_wrap=True, markup=False)


def flush() -> None:
    """End of a command: with --json, print the one document it built."""
    if out.json and out.doc:
        sys.stdout.write(json.dumps(out.doc, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()
    out.doc = {}


def stage_timings(stages: dict[str, dict]) -> str:
    """The run's stages, slowest first, for -v."""
    ranked = sorted(stages.items(), key=lambda kv: -float(kv[1].get("seconds") or 0))
    total = sum(float(s.get("seconds") or 0) for s in stages.values())
    return f"stage timings ({total:.2f} s in all): " + ", ".join(
        f"{name} {float(s.get('seconds') or 0):.2f} s" for name, s in ranked)


def find_config(explicit: Path | None, workspace: Path | None) -> Path | None:
    """The config file a command uses: ``--config`` if given, else ``shopseg.toml`` in the workspace folder,
    else ``shopseg.toml`` in the current folder, else none (the defaults).

    >>> find_config(Path("given.toml"), None)
    PosixPath('given.toml')
    """
    if explicit is not None:
        return explicit
    from .workspace import default_path

    for folder in (Path(workspace) if workspace else default_path(), Path.cwd()):
        f = folder / CONFIG_NAME
        if f.is_file():
            return f
    return None


def load(explicit: Path | None, workspace: Path | None, overrides: dict | None = None):
    """:func:`shopseg.config.load_config` of the file :func:`find_config` finds (said with -v)."""
    from .config import load_config

    path = find_config(explicit, workspace)
    detail(f"config: {path if path else 'defaults (no --config, no shopseg.toml in the workspace or here)'}"
           + (" (found, no --config given)" if path and explicit is None else ""))
    return load_config(path, overrides=overrides)


def hoist_flags(args: list[str]) -> list[str]:
    """``args`` with the global flags given after the command moved before it (the main command owns them).

    >>> hoist_flags(["summary", "--json"])
    ['--json', 'summary']
    >>> hoist_flags(["sql", "SELECT 1", "-q"])
    ['-q', 'sql', 'SELECT 1']
    >>> hoist_flags(["sql", "--", "--json"])
    ['sql', '--', '--json']
    """
    args = list(args)
    command = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    if command is None:
        return args
    end = args.index("--") if "--" in args else len(args)
    moved = [a for a in args[command + 1:end] if a in GLOBAL_FLAGS]
    rest = [a for i, a in enumerate(args) if not (command < i < end and a in GLOBAL_FLAGS)]
    return moved + rest
