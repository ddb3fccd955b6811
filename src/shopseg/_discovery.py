"""The discovery file of a running `shopseg serve`: how a command finds the service that holds its workspace.

Standard library only, so a command reads it without importing the service (serve/_gate.py writes it).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

DISCOVERY = ".shopseg-serve.json"  # in the workspace folder while the service runs: pid, port, local token


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def new_token() -> str:
    return secrets.token_urlsafe(24)


def write_discovery(ws_path: Path, host: str, port: int, token: str) -> None:
    """Write the discovery file (owner-only) with the service's local token.

    The token lets a local command ask for the file; whoever can read the file can read ``shop.duckdb``
    beside it anyway, so it grants nothing the file system does not.
    """
    path = Path(ws_path) / DISCOVERY
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), "host": host, "port": port, "token": token, "started": time.time()}, f)
    os.replace(tmp, path)


def read_discovery(ws_path: Path) -> dict | None:
    """The running service's discovery record, or None (no file, unreadable, or its process is gone)."""
    try:
        d = json.loads((Path(ws_path) / DISCOVERY).read_text())
        pid = int(d["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return d if pid != os.getpid() and pid_alive(pid) else None


def remove_discovery(ws_path: Path, token: str) -> None:
    """Remove the discovery file if it is still this service's."""
    path = Path(ws_path) / DISCOVERY
    try:
        if json.loads(path.read_text()).get("token") == token:
            path.unlink()
    except (OSError, ValueError):
        pass
