"""Settings: one registry of defaults (``defaults.toml``), overridden by a user TOML file.

Business definitions (RFM segment names, lifecycle windows, risk thresholds,
campaign rules) are data in that file, not ``if`` chains in code.  Every
setting is documented in ``defaults.toml`` itself and in ``docs/config.md``
(``tests/test_docs.py`` checks they agree).

>>> cfg = load_config()
>>> cfg["ingest.max_quarantine_share"]
1.0
>>> load_config(overrides={"ingest": {"max_quarantine_share": 2}})
Traceback (most recent call last):
...
shopseg.errors.ConfigError: The 'ingest.max_quarantine_share' setting must be a number in [0, 1]. Got 2 instead.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import ConfigError


@dataclass(frozen=True)
class Constraint:
    """A check on one setting's value, with the words used in the error."""

    words: str
    check: Callable[[Any], bool]


def interval(lo: float | None, hi: float | None, *, integer: bool = False) -> Constraint:
    kind = "an int" if integer else "a number"
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    br = ")" if hi is None else "]"

    def ok(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if integer and not isinstance(v, int):
            return False
        return (lo is None or v >= lo) and (hi is None or v <= hi)

    return Constraint(f"{kind} in [{lo_s}, {hi_s}{br}", ok)


def one_of(*choices: str) -> Constraint:
    return Constraint("one of " + ", ".join(repr(c) for c in choices), lambda v: v in choices)


# Range and choice constraints beyond "same type as the default".  Each
# capability adds its own settings here and in defaults.toml.
CONSTRAINTS: dict[str, Constraint] = {
    "ingest.max_quarantine_share": interval(0, 1),
    "ingest.csv_sample_size": interval(1, None, integer=True),
    "synth.customers": interval(1, None, integer=True),
    "baskets.unit": one_of("order", "customer"),
    "baskets.algorithm": one_of("fpgrowth", "apriori"),
    "baskets.min_support": Constraint(
        "a number in (0, 1]",
        lambda v: not isinstance(v, bool) and isinstance(v, (int, float)) and 0 < v <= 1,
    ),
    "baskets.min_confidence": interval(0, 1),
    "baskets.min_lift": interval(0, None),
    "baskets.max_len": interval(1, None, integer=True),
    "baskets.max_itemsets": interval(1, None, integer=True),
}

# Sections whose keys are free (user-defined names), checked only for type.
OPEN_SECTIONS: set[str] = set()


def _defaults_text() -> str:
    return resources.files("shopseg").joinpath("defaults.toml").read_text(encoding="utf-8")


def defaults() -> dict:
    return tomllib.loads(_defaults_text())


def _type_name(v: Any) -> str:
    return {bool: "a boolean", int: "an int", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(v), type(v).__name__)


def _merge(base: dict, over: Mapping, prefix: str, source: str) -> None:
    for key, value in over.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            if prefix.rstrip(".") in OPEN_SECTIONS:
                base[key] = value
                continue
            known = ", ".join(sorted(base)) or "(none)"
            raise ConfigError(
                f"Unknown setting {dotted!r}{source}. Known settings here: {known}."
            )
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"The {dotted!r} setting must be a table. Got {value!r} instead.")
            _merge(default, value, dotted + ".", source)
            continue
        ok_type = (
            type(value) is type(default)
            or (isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool))
        )
        if not ok_type and dotted not in CONSTRAINTS:
            raise ConfigError(
                f"The {dotted!r} setting must be {_type_name(default)}. Got {value!r} instead."
            )
        base[key] = value


def _check_constraints(cfg: dict) -> None:
    for dotted, c in CONSTRAINTS.items():
        node: Any = cfg
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            if not c.check(node):
                raise ConfigError(f"The {dotted!r} setting must be {c.words}. Got {node!r} instead.")


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
        data = self.as_dict()
        _merge(data, overrides, "", "")
        _check_constraints(data)
        return Config(data)


def load_config(path: str | Path | None = None, *, overrides: Mapping | None = None) -> Config:
    """Defaults, then the TOML file at ``path``, then ``overrides``; all validated."""
    data = defaults()
    if path is not None:
        p = Path(path)
        try:
            user = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Config file {p} does not exist.") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"Config file {p} is not valid TOML: {e}.") from None
        _merge(data, user, "", f" in {p}")
    if overrides:
        _merge(data, overrides, "", "")
    _check_constraints(data)
    return Config(data)
