"""The registry of segment schemes: one :class:`Scheme` per scheme, the one list every surface reads.

A scheme is one module. The built-in ones are the modules of the ``shopseg.segment.schemes`` package, each
holding ``SCHEME = Scheme(...)``; their names are known without importing them (the file names), so the config
can check a name (``segments.schemes``, ``act.stratify_by``, ``recommend.popularity_scheme``,
``privacy.dp.schemes``) without loading pandas. Anything else, a plug-in or a test, calls :func:`register`.

The segments stage (:func:`shopseg.segment.segment_all`) runs the schemes named in ``segments.schemes``, in that
order, each through its ``compute(ctx)``: labels for the run's customers (one per row of ``ctx.features``) and,
optionally, profile extras, display names and extra output tables. Everything downstream (the ``segments`` and
``segment_profiles`` tables, ``shopseg segments --scheme``, ``GET /segments?scheme=``, the report's sizes,
campaign conditions and control-group strata) reads the stored tables by scheme name, so a registered scheme
shows up there without edits elsewhere.

This module imports nothing heavy: ``names()`` and ``describe()`` are safe at config load.

>>> "rfm" in names() and "cluster" in names()
True
>>> try:
...     get("astrology")
... except ConfigError as e:
...     print(str(e).split(".")[0])
No segment scheme 'astrology'
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .. import params
from ..errors import ConfigError

_PACKAGE = "shopseg.segment.schemes"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass
class SchemeContext:
    """What a scheme's ``compute`` gets: the run's workspace, run id (None: computed, not stored), as_of,
    validated config, the run's customer features (one row per customer, the order labels follow), what the
    caller hands in (``inputs``: e.g. ``cluster_model``, a stored model to reuse) and the results of the schemes
    computed before it in this run (``done``: name -> :class:`SchemeResult`)."""

    ws: Any
    run_id: int | None
    as_of: Any  # pandas Timestamp
    config: Any  # shopseg.config.Config
    features: Any  # pandas DataFrame
    inputs: dict = field(default_factory=dict)
    done: dict = field(default_factory=dict)


@dataclass
class SchemeResult:
    """A scheme's output for one run.

    ``labels``: one segment per row of ``ctx.features`` (array-like of str).
    ``extras``: segment -> dict merged into that segment's profile JSON (bounds, windows, per-place figures).
    ``names``: segment -> display name (default: the segment itself).
    ``profiles``: a complete ``segment_profiles`` frame, when the scheme builds its own (clusters).
    ``tables``: extra output tables, name -> DataFrame (``rfm_scores``); the stage writes the ones it knows.
    ``state``: what the stage reports or hands on (``windows``, ``model``, ``note``).
    """

    labels: Any
    extras: dict | None = None
    names: dict | None = None
    profiles: Any = None
    tables: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Scheme:
    """One segment scheme.

    ``name``: lower-case identifier (it becomes a column in campaign conditions). ``doc``: one sentence for
    ``shopseg schemes`` and the docs. ``compute(ctx) -> SchemeResult``. ``dimension``: when true, every other
    scheme's profiles also carry this scheme's shares (``profile["by_<name>"]``, top places: "Champions are 71%
    UK"). ``spark``: the Spark engine computes it itself (the others are computed on the imported run).
    ``state(ws, runs)`` and ``score(state, reader, customer_ids, as_of) -> labels`` (optional): what a stored run
    left for the scheme, and a few customers' labels by it without a fit (the live path: the segments stage's
    score, :mod:`shopseg.segment._score`); a scheme without them keeps the run's label live. ``rows_only``: the
    score reads only the customer's own rows before as_of and the run's state, not the date itself, so a
    customer with no row since the run keeps the run's label (an incremental run does not score them again).
    ``parameters``: the constraints of the scheme's settings, ``[segments.<section>]`` (``section`` defaults to
    the name), keyed by setting name (``{"min_size": Interval(int, 1, None)}``, :mod:`shopseg.params`); the config
    checks them through the registry. ``defaults``: that section's default values, for a scheme whose settings
    are not in ``defaults.toml`` (a plug-in's): the config adds them under ``[segments.<section>]``.
    """

    name: str
    doc: str
    compute: Callable[[SchemeContext], SchemeResult]
    dimension: bool = False
    spark: bool = False
    state: Callable[..., Any] | None = None
    score: Callable[..., Any] | None = None
    rows_only: bool = False
    parameters: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    section: str | None = None

    @property
    def settings(self) -> str:
        """The settings section the scheme reads: ``segments.<section or name>``."""
        return f"segments.{self.section or self.name}"

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError("A segment scheme's name must be a lower-case identifier (letters, digits, _; "
                              f"at most 40 characters, starting with a letter). Got {self.name!r} instead.")
        if not callable(self.compute):
            raise ConfigError(f"The compute of segment scheme {self.name!r} must be callable. "
                              f"Got {self.compute!r} instead.")


_REGISTERED: dict[str, Scheme] = {}


def builtin_names() -> list[str]:
    """The built-in schemes: the modules of ``shopseg.segment.schemes`` (read from the folder, not imported)."""
    spec = importlib.util.find_spec(_PACKAGE)
    paths = list(spec.submodule_search_locations or []) if spec is not None else []
    return sorted(m.name for m in pkgutil.iter_modules(paths) if not m.name.startswith("_"))


def names() -> list[str]:
    """Every scheme name: the built-in ones (sorted), then the registered ones in registration order."""
    built = builtin_names()
    return built + [n for n in _REGISTERED if n not in built]


def register(scheme: Scheme, *, replace: bool = False) -> Scheme:
    """Add ``scheme`` to the registry (a plug-in or a test); refuses to shadow a built-in or another scheme."""
    if not isinstance(scheme, Scheme):
        raise ConfigError(f"register() takes a shopseg.segment.Scheme. Got {type(scheme).__name__} instead.")
    if not replace and (scheme.name in builtin_names() or scheme.name in _REGISTERED):
        raise ConfigError(f"A segment scheme named {scheme.name!r} is already registered.",
                          hint="Choose another name, or pass replace=True to replace a registered one.")
    _REGISTERED[scheme.name] = scheme
    if scheme.parameters or scheme.defaults:  # the config checks (and defaults) the plug-in's settings from now on
        params.plug(scheme.settings, scheme.defaults, scheme.parameters)
    return scheme


def unregister(name: str) -> None:
    """Remove a registered (not built-in) scheme; a no-op when it is not registered."""
    scheme = _REGISTERED.pop(name, None)
    if scheme is not None:
        params.unplug(scheme.settings)


def get(name: str) -> Scheme:
    """The scheme called ``name`` (imports a built-in scheme's module on first use)."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in builtin_names():
        scheme = importlib.import_module(f"{_PACKAGE}.{name}").SCHEME
        if scheme.name != name:
            raise ConfigError(f"Module {_PACKAGE}.{name} must define SCHEME named {name!r}. "
                              f"Got {scheme.name!r} instead.")
        return scheme
    raise ConfigError(f"No segment scheme {name!r}. Known schemes: {', '.join(names())}.")


def registered() -> list[Scheme]:
    """The schemes added by :func:`register` (in memory: listing them imports nothing)."""
    return list(_REGISTERED.values())


def check_names(value, *, many: bool) -> bool:
    """The config's check of a setting naming schemes (a list of distinct names, or one name)."""
    known = set(names())
    if many:
        return isinstance(value, list) and len(set(value)) == len(value) and all(x in known for x in value)
    return value in known


def scheme_names_constraint(*, many: bool) -> params.Check:
    """The constraint of a setting naming schemes (``segments.schemes``, ``act.stratify_by``,
    ``recommend.popularity_scheme``, ``privacy.dp.schemes``): a list of distinct known names, or one."""
    def words() -> str:
        known = ", ".join(repr(n) for n in names())
        return f"a list of distinct names from {known}" if many else f"one of {known}"

    return params.Check(words, lambda v: check_names(v, many=many))
