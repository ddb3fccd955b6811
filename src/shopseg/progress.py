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
        self.reach(self.done + int(n))

    def reach(self, done: int) -> None:
        """``done`` units finished so far (for work that reports how far it is rather than each batch)."""
        self.done = int(done)
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


@contextmanager
def sql_progress(con, what: str, total: int, unit: str, every: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> Iterator[Callable[[int, int], None]]:
    """Progress of the DuckDB statements run on ``con`` inside the block, as ``total`` ``unit`` of ``what``.

    A thread asks DuckDB how far its running statement is (``query_progress``, the share of the input its
    scans have read) every ``every`` seconds and reports that share of ``total``; nothing runs when nobody
    listens.  The share is DuckDB's own count of rows read, so the rate and time left follow the work.
    The block gets a function ``cover(lo, hi)``: a block that runs its work as several statements (rows
    in chunks) says which units the next statement covers, so its share counts from ``lo`` to ``hi``.
    """
    import threading

    part = [0, total]  # the units the running statement covers: all of them, unless the block says otherwise

    def cover(lo: int, hi: int) -> None:
        part[:] = [lo, hi]

    fn = _listener.get()
    if fn is None or total <= 0:
        yield cover
        return
    tracker = Tracker(what, total, unit, clock)
    stop = threading.Event()

    def poll() -> None:
        last = -1.0
        while not stop.wait(every):
            try:
                share = con.query_progress()
            except Exception:  # noqa: BLE001 - the connection between statements; progress is for people only
                continue
            if share > last and share >= 0:  # -1 between statements; a new statement starts again from 0
                last = share
                lo, hi = part
                with_listener(fn, tracker.reach, lo + int((hi - lo) * min(share, 100.0) / 100))
            elif share < last and share >= 0:
                last = share

    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    thread = threading.Thread(target=poll, name="shopseg-progress", daemon=True)
    thread.start()
    try:
        yield cover
    finally:
        stop.set()
        thread.join()
        con.execute("SET enable_progress_bar = false")
    tracker.reach(total)


def with_listener(fn: Callable[[str], None], call: Callable, *args) -> None:
    """``call(*args)`` with ``fn`` listening (a thread does not inherit the caller's context)."""
    token = _listener.set(fn)
    try:
        call(*args)
    finally:
        _listener.reset(token)
