"""Settings: one registry of defaults (``defaults.toml``), overridden by a user TOML file.

Business definitions (RFM segment names, lifecycle windows, risk thresholds,
campaign rules) are data in that file, not ``if`` chains in code.  Every
setting is documented in ``defaults.toml`` itself and in ``docs/config.md``
(``tests/test_docs.py`` checks they agree).

>>> cfg = load_config()
>>> cfg["ingest.max_quarantine_share"]
0.5
>>> load_config(overrides={"ingest": {"max_quarantine_share": 2}})
Traceback (most recent call last):
...
shopseg.errors.ConfigError: The 'ingest.max_quarantine_share' setting must be a number in [0, 1]. Got 2 instead.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import pickle
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from . import params
from .errors import ConfigError


def _defaults_text() -> str:
    return resources.files("shopseg").joinpath("defaults.toml").read_text(encoding="utf-8")


@functools.cache
def _parsed_defaults() -> bytes:
    """``defaults.toml`` parsed once per process (5-13 ms a parse; a command loads the settings two or three
    times), pickled: each :func:`defaults` call unpickles its own copy (~0.05 ms) for the caller to change."""
    return pickle.dumps(tomllib.loads(_defaults_text()))


def defaults() -> dict:
    """The default settings: ``defaults.toml``, plus the sections plug-ins added (:func:`shopseg.params.plug`)."""
    data = pickle.loads(_parsed_defaults())
    for section, values in params.plugged_defaults().items():
        *parents, last = section.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = {**values, **node.get(last, {})}
    return data


def _type_name(v: Any) -> str:
    return {bool: "a boolean", int: "an int", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(v), type(v).__name__)


def _merge(base: dict, over: Mapping, prefix: str, source: str, given: dict[str, str]) -> None:
    """Merge ``over`` into ``base``; every setting given is noted in ``given`` (dotted -> where it came from)."""
    for key, value in over.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            if prefix and params.is_open(prefix.rstrip(".")):
                base[key] = value
                given[dotted] = source
                continue
            known = ", ".join(sorted(base)) or "(none)"
            raise ConfigError(
                f"Unknown setting {dotted!r}{source}. Known settings here: {known}."
            )
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"The {dotted!r} setting{source} must be a table. Got {value!r} instead.")
            _merge(default, value, dotted + ".", source, given)
            continue
        ok_type = (
            type(value) is type(default)
            or (isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool))
        )
        if not ok_type and params.constraint(dotted) is None:  # a declared constraint says what is expected
            raise ConfigError(
                f"The {dotted!r} setting{source} must be {_type_name(default)}. Got {value!r} instead."
            )
        base[key] = value
        given[dotted] = source


_MISSING = object()


def _lookup(cfg: dict, dotted: str):
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _check_constraints(cfg: dict, given: Mapping[str, str] | None = None) -> None:
    """Check the constraint of every setting ``given`` (and of each table holding one: ``churn.tiers``), in one
    place and with one message; without ``given``, every declared constraint (the defaults, in a test).

    The constraints are declared where the settings are used (:mod:`shopseg.params`), so only the sections
    given import their owners: loading the defaults imports no capability."""
    if given is None:
        for dotted, c in params.all_constraints(cfg).items():
            params.validate_setting(dotted, _lookup(cfg, dotted), c)
        return
    checked: set[str] = set()
    for dotted, source in given.items():
        parts = dotted.split(".")
        for n in range(len(parts), 0, -1):  # the setting first, then the tables holding it
            name = ".".join(parts[:n])
            if name in checked:
                continue
            checked.add(name)
            c = params.constraint(name)
            if c is not None:
                params.validate_setting(name, _lookup(cfg, name), c, source)


def is_open(dotted: str) -> bool:
    """True when ``dotted`` is, or lies inside, a table of the user's own keys (``segments.rfm.names``)."""
    parts = dotted.split(".")
    return any(params.is_open(".".join(parts[:n])) for n in range(1, len(parts) + 1))


class Config(Mapping):
    """A validated, read-only view of all settings; ``cfg["rfm.n_bins"]`` reads one."""

    def __init__(self, data: dict):
        self._data = data

    def __getitem__(self, dotted: str):
        node: Any = self._data
        for part in dotted.split("."):
            try:
                node = node[part]
            except (KeyError, TypeError):
                raise KeyError(dotted) from None
        return copy.deepcopy(node) if isinstance(node, (dict, list)) else node

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def as_dict(self) -> dict:
        return copy.deepcopy(self._data)

    def to_json(self) -> str:
        return json.dumps(self._data, sort_keys=True, separators=(",", ":"))

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON: two runs with the same hash used the same settings."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def with_overrides(self, overrides: Mapping) -> "Config":
        data, given = self.as_dict(), {}
        _merge(data, overrides, "", "", given)
        _check_constraints(data, given)
        return Config(data)


def load_config(path: str | Path | None = None, *, overrides: Mapping | None = None) -> Config:
    """Defaults, then the TOML file at ``path``, then ``overrides``; all validated."""
    data, given = defaults(), {}
    if path is not None:
        p = Path(path)
        try:
            user = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Config file {p} does not exist.") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"Config file {p} is not valid TOML: {e}.") from None
        _merge(data, user, "", f" in {p}", given)
    if overrides:
        _merge(data, overrides, "", "", given)
    _check_constraints(data, given)
    return Config(data)


def config_markdown() -> str:
    """``docs/config.md``, written from ``defaults.toml`` and its comments (a test keeps them in step)."""
    from ._config_doc import config_markdown as markdown

    return markdown(_defaults_text())


if __name__ == "__main__":  # pragma: no cover
    print(config_markdown(), end="")
