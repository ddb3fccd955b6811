"""What every command shares: the Typer app, the global options, error translation, warnings in words, opening
the workspace and running one stage."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from typer.exceptions import TyperException

from .. import __version__
from .. import _cli_out as out
from .._cli_out import console, err_console
from ..errors import ShopsegError, disk_full_error

app = typer.Typer(
    name="shopseg",
    help="Turn a web shop's raw data into customer segments, predictions and targeted marketing.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


class _State:
    workspace: Optional[Path] = None
    disk_need: Optional[tuple[int, str]] = None  # (bytes, what) the command needs free, for a full disk's message
    command: str = ""  # the command running (for a service that lends it the workspace)
    own_process: bool = False  # run by main(): the process is shopseg's alone and ends with the command


state = _State()


def settle() -> None:
    """In shopseg's own process (:func:`shopseg.cli.main`; not when another program, a test or a notebook, runs
    the commands), move every object alive now to the collector's permanent generation (``gc.freeze``): mostly
    the imported libraries' (pandas, NumPy, SciPy, DuckDB), which live until the process ends anyway.  The
    cyclic collections during the command and the one at the interpreter's exit then no longer walk them: at
    exit 0.19-0.27 CPU s down to 0.03, during an incremental refresh ~0.1 s less (docs/incremental.md, "Cost").
    Objects made later are collected as before."""
    if state.own_process:
        import gc

        gc.freeze()


def _fail(e: ShopsegError) -> None:
    # messages quote data and TOML ("[columns]"): printed as text, not as rich markup
    err_console.print(f"[bold red]Error:[/] {escape(e.message)}", highlight=False, soft_wrap=True)
    if e.hint:
        err_console.print(f"[yellow]Hint:[/] {escape(e.hint)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def handles_errors(fn):
    """Translate shopseg's exception tree into a short message, a hint and exit code 2.

    Anything else is a bug: one line naming it and exit code 1, not a traceback (``SHOPSEG_DEBUG=1``
    shows the traceback).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import os

        state.command = fn.__name__.removesuffix("_cmd").replace("_", "-")
        try:
            result = fn(*args, **kwargs)
            out.flush()  # with --json: the one document the command built
            return result
        except ShopsegError as e:
            _fail(e)
        except (typer.Exit, typer.Abort, TyperException):  # typer's own (it vendors click): not a bug
            raise
        except Exception as e:
            if os.environ.get("SHOPSEG_DEBUG"):
                raise
            need, why = state.disk_need or (None, "")
            full = disk_full_error(e, state.workspace or ".", need=need, need_why=why)
            if full is not None:
                _fail(full)
            err_console.print(f"[bold red]Error:[/] unexpected {type(e).__name__} in `shopseg {fn.__name__}`: {e}",
                              highlight=False, soft_wrap=True)
            err_console.print("[yellow]Hint:[/] This is a bug in shopseg, not in your data; run again with "
                              "SHOPSEG_DEBUG=1 for the traceback and report it.", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None

    return wrapper


def _fmt(value, spec: str, missing: str = "n/a") -> str:
    """``value`` formatted with ``spec``, or ``missing`` for a NULL / NaN (a model that gave no figure)."""
    if value is None or (isinstance(value, float) and value != value):
        return missing
    return format(value, spec)


@contextlib.contextmanager
def _warnings_in_words():
    """Collect the warnings of a command; print shopseg's own (which say what to change) once each, in words.

    Numerical libraries' warnings (RuntimeWarning on an empty mean, scikit-learn's ConvergenceWarning on
    duplicate points...) are not something a shop owner can act on: shopseg handles those cases itself (a
    stage without signal is skipped with its reason), so they are not printed.
    """
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen: set[str] = set()
            for w in caught:
                if not _is_ours(w):
                    continue
                msg = str(w.message).strip()
                if msg not in seen:
                    seen.add(msg)
                    out.note(msg)


def _is_ours(w) -> bool:
    """A warning shopseg raised for the user (a UserWarning from shopseg's code), not a library's."""
    if not issubclass(w.category, UserWarning):
        return False
    if w.category.__module__.split(".")[0] == "shopseg":
        return True
    return w.category is UserWarning and _in_package(str(w.filename))


def _in_package(filename: str) -> bool:
    """Whether ``filename`` is a module of the installed shopseg package (not any path with a folder named
    'shopseg' in it: a checkout cloned into ``.../shopseg/`` holds the tests too)."""
    try:
        return Path(filename).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        return False


_PACKAGE = Path(__file__).resolve().parents[1]


def _open(create: bool = True, read_only: bool = False):
    """The workspace; borrowed from a running `shopseg serve` that holds it (cli/_borrow.py, saying so)."""
    from ..workspace import open_workspace
    from ._borrow import open_borrowing

    return open_borrowing(lambda: open_workspace(state.workspace, create=create, read_only=read_only),
                          state.workspace, f"shopseg {state.command}")


def _run_stage(ws, stage: str, as_of, cfg, seed: int = 0):
    """Run one pipeline stage as a new run and print its line; the single-stage commands share this."""
    from ..pipeline import run_pipeline

    with _warnings_in_words():
        result = run_pipeline(ws, as_of, config=cfg, seed=seed, stages=[stage])
    _said_run(result)
    return result


def _said_run(result) -> None:
    """A run's lines (-q: the first only; -v: and its timings), and the run in the JSON document."""
    text = result.describe()
    note = getattr(result, "note", None)  # the default date left later non-sale orders out: said even with -q
    out.say("\n".join(text.split("\n")[:2 if note else 1]) if out.out.verbosity < 0 else text)
    out.detail(out.stage_timings(result.stages))
    out.record("run", {"run_id": result.run_id, "as_of": result.as_of, "status": result.status,
                       "stages": result.stages, **({"note": note} if note else {})})


def _load_config(path: Optional[Path] = None, overrides: Optional[dict] = None):
    """The settings: --config, else shopseg.toml in the workspace folder, else in the current folder."""
    return out.load(path, state.workspace, overrides)


def _version(value: bool):
    if value:
        console.print(f"shopseg {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    workspace: Optional[Path] = typer.Option(
        None, "--workspace", "-w", envvar="SHOPSEG_WORKSPACE",
        help="Workspace folder (default ./shopseg-workspace).", show_default=False),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    as_json: bool = typer.Option(False, "--json", help="Print the command's data as one JSON document "
                                 "(the table's values, unformatted); may also follow the command."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Add details: the config file used, stage "
                                 "timings, how a file was read."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print results and errors only (no notes)."),
):
    """shopseg: customer segments and targeted marketing from a shop's exports."""
    state.workspace = workspace
    out.reset(as_json=as_json, verbose=verbose, quiet=quiet)


predict_app = typer.Typer(help="Predictions: customer lifetime value and churn risk.", no_args_is_help=True)


app.add_typer(predict_app, name="predict")
