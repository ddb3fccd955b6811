"""Hardening: concurrent POST /events from many threads: every accepted event is stored exactly once, every
refused one not at all, and no request fails with a server error."""

from __future__ import annotations

import shutil
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.test_serve_api import HTTPX_WARNING, READ, WRITE, build_fixture_workspace

THREADS = 6
BATCHES = 24  # POSTs in all; every fourth re-sends an earlier order (a retry) so keys collide across threads


@pytest.fixture
def client(tmp_path_factory, tmp_path):
    from fastapi.testclient import TestClient

    from shopseg.serve import create_app
    built = tmp_path_factory.mktemp("conc") / "ws"
    build_fixture_workspace(built)
    shutil.copytree(built, tmp_path / "ws")
    app = create_app(tmp_path / "ws", READ, WRITE)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        c = TestClient(app, raise_server_exceptions=False)
    with c:
        yield c


def batch(i: int) -> dict:
    j = i - 3 if i % 4 == 3 else i  # a retry of batch i - 3: the very same order and event
    customer = f"c0{1 + j % 9}"
    return {
        "orders": [{"order_id": f"T{j}", "customer_id": customer, "ordered_at": f"2024-07-02T10:{j % 60:02d}:00"}],
        "order_lines": [{"order_id": f"T{j}", "line_no": 1, "product_id": "p01", "quantity": 1, "unit_price": 10.0}],
        "events": [{"event_id": f"E{j}", "customer_id": customer, "occurred_at": f"2024-07-02T11:{j % 60:02d}:00",
                    "event_type": "view", "session_id": f"S{j}"}],
    }


def test_concurrent_event_posts_store_each_accepted_event_exactly_once(client):
    ws = client.app.state.shopseg.ws
    before = {t: ws.count(t) for t in ("orders", "order_lines", "events")}
    barrier = threading.Barrier(THREADS)

    def post(i):
        if i < THREADS:
            barrier.wait()  # the first wave starts together
        return i, client.post("/events", json=batch(i), headers={"X-API-Key": WRITE})

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(post, range(BATCHES)))
    codes = [r.status_code for _, r in results]
    assert all(c < 500 for c in codes), [(i, r.status_code, r.text[:200]) for i, r in results if r.status_code >= 500]
    assert set(codes) <= {200, 409}, codes
    distinct = {i - 3 if i % 4 == 3 else i for i in range(BATCHES)}
    added = {t: ws.count(t) - n for t, n in before.items()}
    # every distinct order and event is stored once, whatever the interleaving: a retry adds nothing
    assert added == {"orders": len(distinct), "order_lines": len(distinct), "events": len(distinct)}
    assert ws.scalar("SELECT count(*) - count(DISTINCT order_id) FROM orders") == 0
    assert ws.scalar("SELECT count(*) - count(DISTINCT event_id) FROM events") == 0
    stored = {r[0] for r in ws.sql("SELECT order_id FROM orders WHERE order_id LIKE 'T%'")}
    assert stored == {f"T{j}" for j in distinct}
    accepted_rows = sum(r.json()["rows_added"].get("orders", 0) for _, r in results if r.status_code == 200)
    assert accepted_rows == len(distinct)
