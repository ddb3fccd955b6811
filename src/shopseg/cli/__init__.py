"""The ``shopseg`` command line: parse, call one library function, format the result.

No business logic here: every command is a thin wrapper over the Python API. The commands live in one
module per product area (data, runs, segments, predictions, campaigns); importing them registers them on
``app``.
"""

from __future__ import annotations

import sys

import typer

from .. import _cli_out as out
from .._cli_out import console, err_console

# importing the command modules registers their commands on app, in this order (`shopseg --help`, docs/cli.md)
# isort: off
from . import data, runs, segments, predictions, campaigns  # noqa: F401
# isort: on
from ._common import _warnings_in_words, app, handles_errors, predict_app, settle, state
from .data import QUERY_STATEMENTS, lock_down

__all__ = ["QUERY_STATEMENTS", "app", "cli_markdown", "console", "err_console", "handles_errors", "hoist_workspace",
           "lock_down", "main", "predict_app", "state", "_warnings_in_words"]


def hoist_workspace(args: list[str]) -> list[str]:
    """``args`` with a ``--workspace``/``-w`` given after the command moved before it, where the option lives
    (``shopseg summary --workspace X`` said "No such option").

    >>> hoist_workspace(["summary", "--workspace", "ws"])
    ['--workspace', 'ws', 'summary']
    >>> hoist_workspace(["sql", "--workspace=ws", "SELECT 1"])
    ['--workspace=ws', 'sql', 'SELECT 1']
    >>> hoist_workspace(["-w", "ws", "summary"])
    ['-w', 'ws', 'summary']
    """
    args = list(args)
    command = next((i for i, a in enumerate(args) if not a.startswith("-")), None)  # (a value before it: none)
    if command is None:
        return args
    for i in range(command + 1, len(args)):
        if args[i] in ("--workspace", "-w") and i + 1 < len(args):
            return [args[i], args[i + 1], *args[:i], *args[i + 2:]]
        if args[i].startswith("--workspace="):
            return [args[i], *args[:i], *args[i + 1:]]
    return args


def main() -> None:  # console-script entry point
    state.own_process = True
    try:
        app(args=out.hoist_flags(hoist_workspace(sys.argv[1:])), prog_name="shopseg")
    finally:  # the interpreter's exit then skips its last collection over every object (cli._common.settle)
        settle()


def cli_markdown() -> str:
    """``docs/cli.md``, written from the commands' own help (a test keeps them in step)."""
    import click

    group = typer.main.get_command(app)
    out = ["# Command line", "",
           "Generated from the commands' help (`python -c 'from shopseg.cli import cli_markdown as m; print(m(), end=\"\")'"
           " > docs/cli.md`); `tests/test_docs.py` fails when the two disagree. Every command takes the global",
           "option `--workspace PATH` / `-w` (or `SHOPSEG_WORKSPACE`; default `./shopseg-workspace`), before or after "
           "its name.",
           "Errors print a message and a hint and exit with code 2.", "",
           "Global flags, before or after the command's name:", "",
           "- `--json`: the command's data as one JSON document on stdout (each table a list of objects with the "
           "table's values, unformatted: a share printed `12.3%` is `0.123`); messages go to stderr. "
           "`shopseg sql --json` is `--format json`.",
           "- `-q` / `--quiet`: results and errors only (no notes, no progress bar; a run prints its first line).",
           "- `-v` / `--verbose`: details on stderr: the config file used, each stage's time, how a file was read.",
           "",
           "Settings: `--config FILE` where a command takes it; without it, `shopseg.toml` in the workspace folder, "
           "else `shopseg.toml` in the current folder, else the defaults (docs/config.md). The first found is used "
           "whole (files are not merged); `-v` says which.",
           "",
           "Shell completion: `shopseg --install-completion` installs it for the current shell (bash, zsh, fish, "
           "PowerShell); `shopseg --show-completion` prints the script to install by hand.", ""]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        out += [f"## `shopseg {name}`", "", (cmd.help or "").strip().split("\n")[0], ""]
        rows = []
        for p in cmd.params:
            if p.param_type_name == "argument":  # not isinstance: typer vendors its own click
                rows.append(f"| `{p.name.upper()}` | argument | {getattr(p, 'help', '') or ''} |")
            elif p.name != "help":
                opts = " / ".join(f"`{o}`" for o in p.opts + p.secondary_opts)
                default = "" if p.default in (None, False, ()) or p.required else f" (default: `{p.default}`)"
                rows.append(f"| {opts} | option | {(p.help or '').replace('|', '/')}{default} |")
        if rows:
            out += ["| name | kind | meaning |", "|---|---|---|", *rows, ""]
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
