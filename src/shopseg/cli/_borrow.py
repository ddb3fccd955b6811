"""A command opening a workspace that a running `shopseg serve` holds: borrow it, saying so.

DuckDB refuses a second process's open (read-only too) while the service holds ``shop.duckdb``. On that
refusal the command reads the service's discovery file (``.shopseg-serve.json``: pid, port, local token),
asks the service to lend it the file (``POST /_local/lend``), opens it, and gives it back when the
workspace is closed (``POST /_local/return``; if the command dies, the service notices its pid is gone).
Every wait is said on stderr; a service that does not answer leaves DuckDB's own error, in words.
"""

from __future__ import annotations

import json
import os
import time

from .._cli_out import err_console
from ..errors import WorkspaceError

WAIT_ENV = "SHOPSEG_LEND_TIMEOUT"  # seconds a command waits for another command that borrowed the workspace
DEFAULT_WAIT = 3600.0


def lock_conflict(e: WorkspaceError) -> bool:
    """True when DuckDB refused the open because another process holds the file."""
    return "lock" in str(e.message).lower()


def _post(svc: dict, path: str, body: dict, timeout: float) -> tuple[int, dict]:
    import urllib.error  # here: a command that finds no service (most) does not load http and ssl
    import urllib.request

    host = svc.get("host") or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    req = urllib.request.Request(f"http://{host}:{int(svc['port'])}{path}", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json",
                                                         "X-Shopseg-Local": svc["token"]})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}


def _say(text: str) -> None:
    err_console.print(text, highlight=False, soft_wrap=True, markup=False)


def borrow(svc: dict, command: str, *, wait: float | None = None, poll: float = 0.5) -> None:
    """Ask the service for the file; wait, saying so, while another command has it. Raises WorkspaceError."""
    wait = float(os.environ.get(WAIT_ENV) or DEFAULT_WAIT) if wait is None else wait
    deadline = time.monotonic() + wait
    said = None
    _say(f"The shopseg service (pid {svc['pid']}, port {svc['port']}) holds the workspace; "
         f"it lends it to `{command}` while the command runs (its API keeps answering, POST /events are queued).")
    while True:
        try:
            status, body = _post(svc, "/_local/lend", {"pid": os.getpid(), "command": command}, timeout=90)
        except (OSError, ValueError) as e:
            raise WorkspaceError(f"The shopseg service (pid {svc['pid']}) holds the workspace and did not answer "
                                 f"on port {svc['port']}: {e}.",
                                 hint="Wait for it to start, or stop it, and run the command again.") from None
        if status == 200:
            return
        if status == 409 and time.monotonic() < deadline:
            msg = body.get("message", "")
            if msg != said:
                _say(f"Waiting: {msg} (up to {wait:g} s; {WAIT_ENV} sets how long)")
                said = msg
            time.sleep(poll)
            continue
        raise WorkspaceError(f"The shopseg service (pid {svc['pid']}) did not lend the workspace: "
                             f"{body.get('message') or f'HTTP {status}'}",
                             hint=body.get("hint") or "Run the command again once the other one has finished.")


def give_back(svc: dict) -> None:
    """Tell the service the file is free again (it also notices when this process ends)."""
    try:
        _post(svc, "/_local/return", {"pid": os.getpid()}, timeout=10)
    except (OSError, ValueError):
        pass


def open_borrowing(open_fn, path, command: str, *, retry_seconds: float = 30.0):
    """``open_fn()``; when a running service holds the file, borrow it from the service first."""
    from .._discovery import read_discovery
    from ..workspace import default_path

    try:
        return open_fn()
    except WorkspaceError as e:
        if not lock_conflict(e):
            raise
        svc = read_discovery(path if path is not None else default_path())
        if svc is None:
            raise
    borrow(svc, command)
    deadline = time.monotonic() + retry_seconds
    while True:  # the service closes its connection before it answers; retry briefly all the same
        try:
            ws = open_fn()
            break
        except WorkspaceError as e:
            if not lock_conflict(e) or time.monotonic() > deadline:
                give_back(svc)
                raise
            time.sleep(0.1)
    ws.on_close.append(lambda: give_back(svc))
    return ws
