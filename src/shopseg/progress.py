"""Progress inside long stages: how much is done, the rate and the time left, for whoever listens.

A stage that works in batches says so with :func:`track`; the CLI listens (``shopseg run`` shows it
beside the stage's name) and nothing is printed when nobody does::

    >>> seen = []
    >>> ticks = iter([0.0, 2.0, 4.0])
    >>> with listening(seen.append):
    ...     t = track("scoring", total=300, unit="customers", clock=lambda: next(ticks))
    ...     t.advance(100)
    ...     t.advance(100)
    >>> seen
    ['scoring 100/300 customers, 50/s, about 4 s left', 'scoring 200/300 customers, 50/s, about 2 s left']

Progress is for people watching; no result depends on it.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

_listener: ContextVar[Callable[[str], None] | None] = ContextVar("shopseg_progress", default=None)


@contextmanager
def listening(fn: Callable[[str], None]) -> Iterator[None]:
    """Send every progress line reported inside the block to ``fn``."""
    token = _listener.set(fn)
    try:
        yield
    finally:
        _listener.reset(token)


class Tracker:
    """``total`` units of work called ``what``; :meth:`advance` after each batch reports done, rate, ETA."""

    def __init__(self, what: str, total: int, unit: str, clock: Callable[[], float] = time.monotonic):
        self.what, self.total, self.unit, self.done = what, int(total), unit, 0
        self._clock = clock
        self._t0 = clock()

    def advance(self, n: int) -> None:
        self.done += int(n)
        fn = _listener.get()
        if fn is not None:
            fn(self.describe(self._clock()))

    def describe(self, now: float) -> str:
        elapsed = max(now - self._t0, 1e-9)
        rate = self.done / elapsed
        text = f"{self.what} {self.done:,}/{self.total:,} {self.unit}, {rate:,.0f}/s"
        if 0 < self.done < self.total and rate > 0:
            text += f", about {(self.total - self.done) / rate:,.0f} s left"
        return text


def track(what: str, total: int, unit: str, clock: Callable[[], float] = time.monotonic) -> Tracker:
    """A :class:`Tracker` for ``total`` ``unit`` of ``what``."""
    return Tracker(what, total, unit, clock)
