"""Who holds ``shop.duckdb`` while the service runs: the service, or a command it lent the file to.

DuckDB lets one process open a database file when that process writes, and refuses every other
open, read-only ones included (checked on DuckDB 2.0.1: ``Could not set lock on file ... Conflicting
lock is held``). So the service and a command (``shopseg run``, ``summary``, ``sql``, ``forget`` ...)
take turns: the command asks the running service to lend it the file (``POST /_local/lend``, found
through the discovery file :data:`DISCOVERY` in the workspace), the service lets the SQL work in
flight finish, closes its connection and answers; the command opens the file, works, closes it and
says so (``POST /_local/return``); the service opens it again, reads the run afresh and applies the
posted batches it journaled meanwhile (docs/service.md, "Sharing the workspace").

:class:`Gate` is the turn-taking in the service: every piece of SQL work enters it (:meth:`Gate.use`),
which refuses with :class:`Lent` while the file is lent, and :meth:`Gate.lend` waits for the work in
flight to leave before it closes the file.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from .._discovery import DISCOVERY, new_token, pid_alive, read_discovery, remove_discovery, write_discovery


@dataclass
class Lease:
    """The command the file is lent to."""

    pid: int
    command: str
    since: float = field(default_factory=time.time)
    returning: bool = False  # the command is done; the service is opening the file and reading the run again

    def words(self) -> str:
        if self.returning:
            return f"`shopseg {self.command}` (pid {self.pid}) is done; the service is reading the workspace again"
        return (f"`shopseg {self.command}` (pid {self.pid}) since "
                f"{time.strftime('%H:%M:%S', time.localtime(self.since))}")


class Lent(Exception):
    """The workspace is lent to a command: SQL work must wait or be journaled."""

    def __init__(self, lease: Lease):
        super().__init__(f"The workspace is lent to {lease.words()}." if not lease.returning else
                         f"{lease.words()[0].upper()}{lease.words()[1:]}.")
        self.lease = lease


class Gate:
    """Counts the SQL work inside the service's workspace connection; lends the file when none is."""

    def __init__(self):
        self.cond = threading.Condition()
        self.users = 0
        self.lease: Lease | None = None

    @contextmanager
    def use(self):
        """Work on the workspace's connection; raises :class:`Lent` at once while the file is lent."""
        with self.cond:
            if self.lease is not None:
                raise Lent(self.lease)
            self.users += 1
        try:
            yield
        finally:
            with self.cond:
                self.users -= 1
                self.cond.notify_all()

    def lend(self, lease: Lease, timeout: float) -> None:
        """Refuse new work, then wait (up to ``timeout`` s) for the work in flight to finish.

        Raises :class:`Lent` when the file is already lent, TimeoutError when the work in flight did not
        finish in time (the lease is withdrawn: nothing changed).
        """
        with self.cond:
            if self.lease is not None:
                raise Lent(self.lease)
            self.lease = lease
            if not self.cond.wait_for(lambda: self.users == 0, timeout):
                self.lease = None
                self.cond.notify_all()
                raise TimeoutError(f"SQL work in the service did not finish within {timeout:g} s.")

    def back(self) -> None:
        """The file is the service's again (call with ``self.cond`` held or not)."""
        with self.cond:
            self.lease = None
            self.cond.notify_all()


__all__ = ["DISCOVERY", "Gate", "Lease", "Lent", "new_token", "pid_alive", "read_discovery", "remove_discovery",
           "write_discovery"]
