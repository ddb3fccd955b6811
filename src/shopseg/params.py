"""Parameter constraints, declared where a parameter is used and checked in one place (scikit-learn's way).

A module that uses settings declares what each may hold, as data, with this module's vocabulary
(:class:`Interval`, :class:`Options`, :class:`Check`), the way scikit-learn's estimators declare
``_parameter_constraints`` (``sklearn/utils/_param_validation.py``)::

    PARAMETER_CONSTRAINTS = {"churn.horizon_days": Interval(int, 0, 3650), "churn.model": Options("lightgbm", ...)}

The same table serves two checks with one message template: :func:`validate_setting` (the config: "The
'churn.model' setting must be ...") and :func:`validate_params` (an estimator's own parameters: "The 'model'
parameter must be ...").

Where each section's table lives is :data:`OWNERS`, the one neutral index (section -> module path, a string):
:mod:`shopseg.config` imports no domain module, and asks :func:`constraint` for a setting's constraint only when
its value differs from the default, which imports that section's owner then (loading the defaults imports
nothing). An owner module holds ``PARAMETER_CONSTRAINTS`` (full dotted names), or a function
``parameter_constraints(dotted)`` when its table is assembled from a registry (``segments``: each segment
scheme declares its own ``segments.<scheme>.*`` table on its :class:`~shopseg.segment.Scheme`, a plug-in's too).

>>> Interval(int, 1, None).describe(), Interval(float, 0, 1, closed="right").describe()
('an int in [1, inf)', 'a number in (0, 1]')
>>> validate_setting("ingest.csv_sample_size", 0, Interval(int, 1, None))
Traceback (most recent call last):
...
shopseg.errors.ConfigError: The 'ingest.csv_sample_size' setting must be an int in [1, inf). Got 0 instead.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Mapping

from .errors import ConfigError

# settings section -> the module declaring its constraints (imported only when one of its values differs from the
# default). One line per section of defaults.toml; tests/test_params.py checks that each owner declares only its
# own section and that every section has one.
OWNERS: dict[str, str] = {
    "shop": "shopseg._parameters",
    "features": "shopseg._parameters",
    "drift": "shopseg._parameters",
    "ingest": "shopseg.ingest._parameters",
    "privacy": "shopseg.trust._parameters",
    "synth": "shopseg.synth._parameters",
    "baskets": "shopseg.basket._parameters",
    "segments": "shopseg.segment._parameters",
    "clv": "shopseg.predict._parameters",
    "churn": "shopseg.predict._parameters",
    "reviews": "shopseg.text._parameters",
    "act": "shopseg.act._parameters",
    "recommend": "shopseg.recommend._parameters",
}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class Interval:
    """A number (``float``: ints accepted too) or an int, between ``lo`` and ``hi`` (None: unbounded), the ends
    ``closed`` as scikit-learn says them: "both", "left", "right" or "neither"."""

    kind: type
    lo: float | None
    hi: float | None
    closed: str = "both"

    def describe(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.lo is not None else "("
        right = "]" if self.closed in ("both", "right") and self.hi is not None else ")"
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        return f"{'an int' if self.kind is int else 'a number'} in {left}{lo}, {hi}{right}"

    def is_satisfied_by(self, v) -> bool:
        if not _is_number(v) or (self.kind is int and not isinstance(v, int)):
            return False
        if self.lo is not None and (v < self.lo or (v == self.lo and self.closed in ("right", "neither"))):
            return False
        return self.hi is None or not (v > self.hi or (v == self.hi and self.closed in ("left", "neither")))


@dataclass(frozen=True)
class Options:
    """One of a few values (scikit-learn's ``StrOptions``)."""

    choices: tuple

    def __init__(self, *choices):
        object.__setattr__(self, "choices", tuple(choices))

    def describe(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def is_satisfied_by(self, v) -> bool:
        return v in self.choices


@dataclass(frozen=True)
class Check:
    """Any other rule: the words said in the error (or a function writing them) and a predicate. ``open``: the
    setting is a table whose keys are the user's own names (``segments.rfm.names``, ``act.campaigns``), so
    unknown keys inside it are not an error. A predicate may raise its own ConfigError naming the fault."""

    words: str | Callable[[], str]
    check: Callable[[Any], bool]
    open: bool = False

    def describe(self) -> str:
        return self.words() if callable(self.words) else self.words

    def is_satisfied_by(self, v) -> bool:
        return bool(self.check(v))


Constraint = Interval | Options | Check

ISO_DATE = Check("a date written YYYY-MM-DD, in quotes",
                 lambda v: isinstance(v, str) and len(v) == 10 and _iso(v))
DISTINCT_NAMES = Check("a list of distinct feature names",
                       lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v) and len(set(v)) == len(v))


def _iso(v: str) -> bool:
    try:
        date.fromisoformat(v)
        return True
    except ValueError:
        return False


def validate_setting(dotted: str, value, c: Constraint, source: str = "") -> None:
    """The config's one message: the setting, where it came from, what it must be, what came."""
    if not c.is_satisfied_by(value):
        raise ConfigError(f"The {dotted!r} setting{source} must be {c.describe()}. Got {value!r} instead.")


def validate_params(params: Mapping[str, Any], table: Mapping[str, Constraint], prefix: str = "",
                    owner: str = "") -> None:
    """An estimator's own check of its parameters against the settings table it shares with the config:
    ``table[prefix + name]`` for each ``name`` of ``params`` that has one (scikit-learn's ``_validate_params``)."""
    of = f" of {owner}" if owner else ""
    for name, value in params.items():
        c = table.get(prefix + name)
        if c is not None and not c.is_satisfied_by(value):
            raise ConfigError(f"The {name!r} parameter{of} must be {c.describe()}. Got {value!r} instead.")


def _owner(section: str):
    return importlib.import_module(OWNERS[section]) if section in OWNERS else None


def constraint(dotted: str) -> Constraint | None:
    """The constraint declared for one setting (imports its section's owner), or None."""
    section, _, name = dotted.rpartition(".")
    if section in _PLUGGED:
        return _PLUGGED[section][1].get(name)
    mod = _owner(dotted.split(".", 1)[0])
    if mod is None:
        return None
    find = getattr(mod, "parameter_constraints", None)
    return find(dotted) if find is not None else mod.PARAMETER_CONSTRAINTS.get(dotted)


def is_open(dotted: str) -> bool:
    """True when the setting ``dotted`` is a table of the user's own keys (imports its section's owner)."""
    c = constraint(dotted)
    return isinstance(c, Check) and c.open


def all_constraints(defaults: Mapping) -> dict[str, Constraint]:
    """Every declared constraint of the settings in ``defaults`` (imports every owner: tests and docs)."""
    out: dict[str, Constraint] = {}

    def walk(node: Mapping, prefix: str) -> None:
        for key, value in node.items():
            dotted = prefix + key
            c = constraint(dotted)
            if c is not None:
                out[dotted] = c
            if isinstance(value, Mapping) and not (isinstance(c, Check) and c.open):
                walk(value, dotted + ".")

    walk(defaults, "")
    return out


# sections added at run time by a plug-in (a registered segment scheme): dotted section -> (defaults, constraints)
_PLUGGED: dict[str, tuple[dict, dict]] = {}


def plug(section: str, defaults: Mapping, constraints: Mapping[str, Constraint]) -> None:
    """Add a plug-in's settings section: its defaults join every config loaded from now on, and its constraints
    (keyed by setting name) are checked like the built-in ones."""
    _PLUGGED[section] = (dict(defaults), dict(constraints))


def unplug(section: str) -> None:
    _PLUGGED.pop(section, None)


def plugged_defaults() -> dict[str, dict]:
    """Dotted section -> default values of every plugged-in section."""
    return {s: dict(d) for s, (d, _) in _PLUGGED.items()}
