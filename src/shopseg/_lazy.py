"""Functions of heavy libraries imported at their first call, not when the module naming them is imported."""

from __future__ import annotations

import importlib


class LazyFunction:
    """``module.name``, imported at the first call and called directly after it: a module whose functions use
    a library only on some paths (a fit, a full mining) names it at the top without importing it for the
    others (an incremental refresh imports the CLV models' and the miner's modules and calls neither's SciPy)."""

    __slots__ = ("_fn", "_module", "_name")

    def __init__(self, module: str, name: str):
        self._module, self._name, self._fn = module, name, None

    def __call__(self, *args, **kwargs):
        fn = self._fn
        if fn is None:
            fn = self._fn = getattr(importlib.import_module(self._module), self._name)
        return fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{self._module}.{self._name}, imported at its first call>"


def lazy(module: str, *names: str) -> tuple[LazyFunction, ...]:
    """``LazyFunction(module, name)`` for each name, in order.

    >>> comb, = lazy("math", "comb")
    >>> comb(5, 2)
    10
    """
    return tuple(LazyFunction(module, n) for n in names)
