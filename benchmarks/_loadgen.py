"""An open-loop HTTP/1.1 load generator on raw sockets, one process, for loopback benchmarks.

Why not httpx threads: an httpx client spends ~1 ms of CPU per request, so a Python
generator sending 800 req/s takes most of a core, and on a 2-core machine it
competes with the server it measures (its GIL waits also count as latency).
This one pre-encodes every request, keeps ``conns`` keep-alive connections and
parses only the status line and Content-Length: a few tens of microseconds per
request, so the server keeps a core to itself.

Open loop, as wrk2 and vegeta do it: request i is *due* at ``start + i / rate``
whatever happened before, and its latency counts from that due time, so a
stalled server is not flattered (no coordinated omission).  A due request waits
in the generator when every connection is busy; that wait counts too.
"""

from __future__ import annotations

import collections
import selectors
import socket
import time

import numpy as np


def request_bytes(host: str, path: str, headers: dict[str, str]) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode("ascii")


class _Conn:
    __slots__ = ("buf", "inflight", "sock")

    def __init__(self, addr: tuple[str, int]):
        self.sock = socket.create_connection(addr)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf = bytearray()
        self.inflight = -1


def _response_end(buf: bytearray) -> tuple[int, int] | None:
    """(status, bytes of the first complete response in ``buf``) or None while it is incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).lower()
    status = int(head[9:12])
    i = head.find(b"\r\ncontent-length:")
    if i < 0:
        raise RuntimeError("response without Content-Length: " + head[:200].decode("latin-1"))
    j = head.find(b"\r\n", i + 2)
    length = int(head[i + 17:j if j >= 0 else len(head)])
    total = end + 4 + length
    return (status, total) if len(buf) >= total else None


def open_loop(host: str, port: int, requests: list[bytes], rate: float, *, conns: int = 32,
              start: float | None = None, timeout: float = 5.0) -> tuple[np.ndarray, int, float]:
    """Send ``requests`` at ``rate`` per second; (latencies in ms from each due time, errors, elapsed s).

    An error is a status other than 200, a closed connection or a response slower than
    ``timeout`` (its latency is then NaN and the run stops waiting for it).
    """
    addr = (host, port)
    pool = [_Conn(addr) for _ in range(conns)]
    sel = selectors.DefaultSelector()
    for c in pool:
        sel.register(c.sock, selectors.EVENT_READ, c)
    free = collections.deque(pool)
    pending: collections.deque[int] = collections.deque()
    total = len(requests)
    lat = np.full(total, np.nan)
    errors = 0
    done = 0
    nxt = 0
    start = time.monotonic() + 0.1 if start is None else start
    hard_stop = start + total / rate + timeout + 5
    while done < total:
        now = time.monotonic()
        if now > hard_stop:
            errors += total - done
            break
        while nxt < total and start + nxt / rate <= now:
            pending.append(nxt)
            nxt += 1
        while pending and free:
            c = free.popleft()
            i = pending.popleft()
            c.inflight = i
            c.sock.sendall(requests[i])  # ~150 bytes on loopback: never blocks with one request in flight
        if nxt < total:
            wait = max(0.0, start + nxt / rate - time.monotonic())
        else:
            wait = 0.05
        for key, _ in sel.select(wait if not pending or free else 0.05):
            c = key.data
            try:
                data = c.sock.recv(262144)
            except (BlockingIOError, InterruptedError):
                continue
            now = time.monotonic()
            if not data:  # the server closed the connection: the request in flight failed
                sel.unregister(c.sock)
                c.sock.close()
                if c.inflight >= 0:
                    errors += 1
                    done += 1
                new = _Conn(addr)
                sel.register(new.sock, selectors.EVENT_READ, new)
                free.append(new)
                continue
            c.buf += data
            got = _response_end(c.buf)
            if got is None:
                continue
            status, n = got
            del c.buf[:n]
            i = c.inflight
            c.inflight = -1
            lat[i] = 1000.0 * (now - (start + i / rate))
            if status != 200:
                errors += 1
            done += 1
            free.append(c)
    elapsed = time.monotonic() - start
    for c in list(pool) + [k.data for k in sel.get_map().values()]:
        try:
            c.sock.close()
        except OSError:
            pass
    sel.close()
    late = np.nan_to_num(lat, nan=0.0) > 1000.0 * timeout
    errors += int(late.sum())
    return lat, errors, elapsed
