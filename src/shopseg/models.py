"""The workspace's model store: every learned model a run keeps, under one file convention.

A stored model is named (``clusters``, ``churn``, ``clv-bgnbd``, ``clv-gammagamma``, ``clv-meanspend``,
``clv-repeat``, ``clv-baseline``, ``clv-choices``, ``review-sentiment``) and belongs to the run that stored it.
Its files sit in the workspace's ``models/`` folder as ``run-<run_id>-<name><suffix>`` (``run-3-churn.json``
+ ``run-3-churn.lgb.txt``), beside one metadata file ``run-<run_id>-<name>.meta.json``: name, run, config hash, the shopseg version that wrote it,
``fitted_run_id`` (the run that fitted it, when a run reused an earlier run's model), and each file's SHA-256.
Every file is written to a temporary name and renamed (a crash leaves no half file under the final name); the
metadata is written last.  A failed run's models are discarded with it (:func:`discard`), and the loaders take
a run id; :func:`latest_run` only ever answers a finished (``done``) run.

Workspaces written before this store named the churn and sentiment models ``churn_run<id>.json`` and
``review_sentiment_run<id>.pkl``: :func:`require` says so and what to do (a fresh ``shopseg run``) instead of
failing on a missing file.

>>> import pathlib, tempfile, types
>>> ws = types.SimpleNamespace(models_dir=pathlib.Path(tempfile.mkdtemp()))
>>> save(ws, "demo", 3, {".json": '{"k": 2}'}, config_hash="abc").name
'run-3-demo.json'
>>> require(ws, "demo", 3)["config_hash"], read_text(ws, "demo", 3)
('abc', '{"k": 2}')
>>> [(e["name"], e["run_id"]) for e in entries(ws)], [p.name for p in discard(ws, [3])]
([('demo', 3)], ['run-3-demo.json', 'run-3-demo.meta.json'])
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

from .errors import ConfigError, NotFittedError

META = ".meta.json"
_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_META_FILE = re.compile(r"run-(\d+)-([a-z0-9-]+)\.meta\.json")
# the names an older shopseg gave models of the same kind (before this store)
_LEGACY = {"churn": ("churn_run{run}.json",), "review-sentiment": ("review_sentiment_run{run}.pkl",)}
_STAGE = {"churn": "churn", "clusters": "segments", "review-sentiment": "reviews"}


def _dir(ws) -> Path:
    return Path(ws.models_dir)


def _check(name: str, run_id) -> int:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"A stored model's name must be lower-case words joined by '-' (e.g. 'clv-bgnbd'). "
                          f"Got {name!r} instead.")
    return int(run_id)


def path(ws, name: str, run_id: int, suffix: str = ".json") -> Path:
    """Where file ``suffix`` of model ``name`` of run ``run_id`` lives: ``models/run-<run_id>-<name><suffix>``."""
    return _dir(ws) / f"run-{_check(name, run_id)}-{name}{suffix}"


@lru_cache(maxsize=None)  # each look-up scans the installed distributions (~3 ms); they do not change in a process
def package_version(pkg: str = "shopseg") -> str:
    """The installed version of ``pkg`` (stored beside a model), "unknown" when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:  # pragma: no cover - source tree without install
        return "unknown"


def _write(p: Path, data: bytes) -> None:
    """Write ``data`` to ``p`` through a temporary file in the same folder and a rename."""
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save(ws, name: str, run_id: int, files: Mapping[str, bytes | str], metadata: Mapping | None = None, *,
         config_hash: str | None = None, fitted_run_id: int | None = None) -> Path:
    """Store model ``name`` of run ``run_id``: ``files`` (suffix -> content) and its metadata file.

    Returns the path of the first file.  ``metadata`` adds keys to the metadata file; ``fitted_run_id``
    defaults to ``run_id`` (the run fitted the model itself).
    """
    rid = _check(name, run_id)
    if not files:
        raise ConfigError(f"Storing model {name!r} of run {rid} needs at least one file. Got none.")
    folder = _dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    sums: dict[str, str] = {}
    first = None
    for suffix, content in files.items():
        if not suffix.startswith(".") or suffix == META:
            raise ConfigError(f"A stored model's file suffix must start with '.' and not be {META!r}. "
                              f"Got {suffix!r} instead.")
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        p = path(ws, name, rid, suffix)
        _write(p, data)
        sums[p.name] = hashlib.sha256(data).hexdigest()
        first = first or p
    _write_meta(ws, name, rid, metadata or {}, config_hash, rid if fitted_run_id is None else fitted_run_id, sums)
    return first


def _write_meta(ws, name: str, rid: int, extra: Mapping, config_hash: str | None, fitted_run_id: int,
                sums: dict[str, str]) -> None:
    """Write model ``name`` of run ``rid``'s metadata file: ``extra``'s keys, then the store's own (which win)."""
    meta = {**extra, "name": name, "run_id": rid, "config_hash": config_hash, "fitted_run_id": int(fitted_run_id),
            "shopseg_version": package_version(), "files": sums}
    _write(path(ws, name, rid, META), (json.dumps(meta, indent=1, sort_keys=True, default=str) + "\n").encode())


def carry(ws, name: str, run_id: int, to_run: int) -> list[Path]:
    """Store model ``name`` of run ``run_id`` as run ``to_run``'s too, as :func:`save` would store the same files
    (same bytes, same SHA-256, ``fitted_run_id`` kept): each file linked (a hard link: no copy, no new bytes to
    write; copied where the file system has none), then the metadata file written.  Returns the files: none
    when run ``run_id`` stored no file of it (a model from before the metadata files).  A link is safe: the
    store never writes a file in place (:func:`save` writes a new file and renames it over, :func:`discard`
    unlinks), so neither run's file changes with the other's."""
    meta = require(ws, name, run_id)
    rid = _check(name, to_run)
    prefix = f"run-{int(run_id)}-{name}"
    sums, carried = {}, []
    for fname, digest in meta.get("files", {}).items():
        suffix = fname[len(prefix):]
        src, dst = path(ws, name, run_id, suffix), path(ws, name, rid, suffix)
        tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
        try:
            os.link(src, tmp)
            os.replace(tmp, dst)
        except OSError:  # no hard links here (or across devices): a copy, written as save writes
            tmp.unlink(missing_ok=True)
            _write(dst, src.read_bytes())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        sums[dst.name] = digest
        carried.append(dst)
    if not sums:
        return []
    _write_meta(ws, name, rid, meta, meta.get("config_hash"), meta.get("fitted_run_id", run_id), sums)
    return carried


def exists(ws, name: str, run_id: int) -> bool:
    """Whether run ``run_id`` stored model ``name`` (its metadata file, or a file from before the store)."""
    return path(ws, name, run_id, META).exists() or path(ws, name, run_id).exists()


def require(ws, name: str, run_id: int) -> dict:
    """The metadata of model ``name`` of run ``run_id``; a clear error when it is absent or from an older shopseg.

    A model from before the metadata files (the same file names, no ``.meta.json``) is read as it is: the
    returned metadata then holds only name and run.
    """
    rid = _check(name, run_id)
    meta = path(ws, name, rid, META)
    if meta.exists():
        try:
            return json.loads(meta.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(f"The metadata of stored model {name!r} of run {rid} ({meta}) is not valid JSON: "
                              f"{e}.", hint="Run `shopseg run` to fit it afresh.") from None
    if path(ws, name, rid).exists():
        return {"name": name, "run_id": rid, "config_hash": None, "fitted_run_id": rid, "files": {}}
    legacy = [p for p in (_dir(ws) / t.format(run=rid) for t in _LEGACY.get(name, ())) if p.exists()]
    if legacy:
        raise ConfigError(f"The {name} model of run {rid} was stored by an older shopseg ({legacy[0].name}); "
                          f"this version reads {path(ws, name, rid).name} and {path(ws, name, rid, META).name}.",
                          hint="Run `shopseg run` once: it fits and stores the model under the current names.")
    stage = _STAGE.get(name, name.split("-")[0])
    raise NotFittedError(f"No stored {name} model of run {rid} in {_dir(ws)}.",
                         hint=f"Run the {stage} stage first (`shopseg run`).")


def read_text(ws, name: str, run_id: int, suffix: str = ".json") -> str:
    """File ``suffix`` of model ``name`` of run ``run_id`` (checked to exist, see :func:`require`)."""
    require(ws, name, run_id)
    return path(ws, name, run_id, suffix).read_text(encoding="utf-8")


def read_bytes(ws, name: str, run_id: int, suffix: str) -> bytes:
    """File ``suffix`` of model ``name`` of run ``run_id`` as bytes; checked against its stored SHA-256."""
    meta = require(ws, name, run_id)
    p = path(ws, name, run_id, suffix)
    data = p.read_bytes()
    want = meta.get("files", {}).get(p.name)
    if want is not None and hashlib.sha256(data).hexdigest() != want:
        raise ConfigError(f"Stored model file {p} does not match the SHA-256 in its metadata "
                          f"(expected {want[:12]}...).", hint="Run `shopseg run` to fit it afresh.")
    return data


def entries(ws, name: str | None = None) -> list[dict]:
    """The metadata of every stored model (of ``name`` when given), oldest run first."""
    folder = _dir(ws)
    out = []
    for p in folder.glob(f"run-*-{name or '*'}{META}") if folder.exists() else []:
        m = _META_FILE.fullmatch(p.name)
        if m and (name is None or m.group(2) == name):
            out.append((int(m.group(1)), m.group(2), p))
    return [{**json.loads(p.read_text(encoding="utf-8")), "name": n, "run_id": r} for r, n, p in sorted(out)]


def latest_run(ws, name: str, *, before: int | None = None) -> int | None:
    """The newest finished (``done``) run that stored model ``name`` (before run ``before`` when given), or None.

    A failed or unfinished run's model is never answered, even if a discard that did not get through left it.
    """
    if not ws.has_table("runs"):
        return None
    done = sorted((int(r) for (r,) in ws.sql("SELECT run_id FROM runs WHERE status = 'done'")), reverse=True)
    return next((r for r in done if (before is None or r < before) and exists(ws, name, r)), None)


def discard(ws, run_ids: Iterable[int]) -> list[Path]:
    """Delete every model file of runs ``run_ids`` (temporary and older-named ones too); returns them."""
    from .workspace import run_of_file

    ids = {int(r) for r in run_ids}
    folder = _dir(ws)
    gone = []
    for p in sorted(folder.iterdir()) if folder.exists() and ids else []:
        if p.is_file() and run_of_file(p.name) in ids:
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


__all__ = ["carry", "discard", "entries", "exists", "latest_run", "path", "read_bytes", "read_text", "require", "save"]
