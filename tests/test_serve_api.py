"""The service on the hand-written fixture shop: look-ups, keys, bad input, and a live update checked by hand.

The run is as of FIXTURE_AS_OF (2024-07-01 00:00) with the segments stage only
(no churn or CLV: those parts of a customer must come back null, not fail).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
import shutil
import warnings

import pytest

from shopseg.config import load_config
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.pipeline import start_run
from shopseg.segment import segment_all
from shopseg.workspace import open_workspace

fastapi = pytest.importorskip("fastapi")
HTTPX_WARNING = "Using `httpx` with `starlette.testclient` is deprecated"
with warnings.catch_warnings():
    # starlette's TestClient warns that plain httpx is deprecated in favour of httpx2 (ENVIRONMENT.md)
    warnings.filterwarnings("ignore", message=HTTPX_WARNING)
    from fastapi.testclient import TestClient

from shopseg.serve import create_app  # noqa: E402

READ, WRITE = "read-key-1", "write-key-1"
R, W = {"X-API-Key": READ}, {"X-API-Key": WRITE}


def build_fixture_workspace(path):
    ws = open_workspace(path)
    load_fixture_shop(ws)
    cfg = load_config(overrides={"segments": {"cluster": {"sample_size": 100}}})
    rid = start_run(ws, FIXTURE_AS_OF, cfg, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SegmentWarning: 12 customers are few for quantiles
        segment_all(ws, rid, FIXTURE_AS_OF, cfg)
    ws.con.execute("UPDATE runs SET status = 'done' WHERE run_id = ?", [rid])
    ws.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "ws"
    build_fixture_workspace(path)
    return path


@pytest.fixture
def client(built, tmp_path):
    shutil.copytree(built, tmp_path / "ws")  # every test writes: each gets its own copy
    app = create_app(tmp_path / "ws", READ, WRITE)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        c = TestClient(app)
    with c:
        yield c


def counts(client) -> dict:
    ws = client.app.state.shopseg.ws
    return {t: ws.count(t) for t in ("orders", "order_lines", "events", "reviews", "customers",
                                      "segment_changes", "live_state", "ingest_log")}


LIVE_ORDER = {
    "orders": [{"order_id": "L1", "customer_id": "c04", "ordered_at": "2024-07-02T10:00:00"}],
    "order_lines": [{"order_id": "L1", "line_no": 1, "product_id": "p01", "quantity": 1, "unit_price": 80.0}],
}


def test_customer_lookup_returns_features_and_segments_of_the_run(client):
    r = client.get("/customers/c01", headers=R)
    assert r.status_code == 200
    body = r.json()
    f = body["features"]
    # docs/features.md works c01 out by hand: 5 orders, last 2024-06-25, 290 spent
    assert (f["frequency"], f["recency_days"], f["monetary_total"]) == (5, 6, 290.0)
    assert body["segments"]["rfm"]["segment"] == "Champions"
    assert body["segments"]["lifecycle"]["segment"] == "active"
    assert body["live"] is False and body["run_id"] == 1
    # no churn, CLV, actions or recommendations tables in this workspace: null, not an error
    assert body["churn"] is None and body["clv"] is None
    assert body["next_action"] is None and body["recommendations"] is None
    # the one status line: the lifecycle with its evidence (value tier by monetary_net here)
    assert body["status"] == "Active: no order for 6 days; value tier mid."


def test_unknown_customer_is_a_404_json(client):
    r = client.get("/customers/nobody", headers=R)
    assert r.status_code == 404
    assert r.json()["error"] == "not_found" and "nobody" in r.json()["message"]


def test_missing_key_is_401_and_wrong_key_403(client):
    assert client.get("/customers/c01").status_code == 401
    assert client.get("/customers/c01", headers={"X-API-Key": "guess"}).status_code == 403
    assert client.get("/customers/c01", headers={"X-API-Key": "guess"}).json()["error"] == "forbidden"


def test_read_key_cannot_post_events_and_nothing_is_stored(client):
    before = counts(client)
    r = client.post("/events", json=LIVE_ORDER, headers=R)
    assert r.status_code == 403
    assert client.post("/events", json=LIVE_ORDER).status_code == 401
    assert counts(client) == before


def test_segments_list_sizes_add_up_to_every_customer_per_scheme(client):
    body = client.get("/segments", headers=R).json()
    schemes = {s["scheme"]: s["segments"] for s in body["schemes"]}
    assert set(schemes) == {"rfm", "lifecycle", "value_tier", "cluster", "geo", "interest"}
    for segs in schemes.values():
        assert sum(s["n_customers"] for s in segs) == 11  # c12 signs up after as_of
    lc = {s["segment"]: s["n_customers"] for s in schemes["lifecycle"]}
    assert lc["prospect"] == 2  # c10 and c11 never ordered


def test_members_are_paged_in_customer_id_order(client):
    p1 = client.get("/segments/lifecycle/prospect/members?page=1&size=1", headers=R).json()
    p2 = client.get("/segments/lifecycle/prospect/members?page=2&size=1", headers=R).json()
    assert (p1["total"], p1["customer_ids"], p2["customer_ids"]) == (2, ["c10"], ["c11"])
    assert client.get("/segments/lifecycle/nosuch/members", headers=R).status_code == 404
    assert client.get("/segments/lifecycle/prospect/members?size=0", headers=R).status_code == 422


def test_export_holds_pii_only_with_the_write_key(client):
    read = client.get("/segments/lifecycle/prospect/export", headers=R)
    assert read.status_code == 200 and read.headers["content-type"].startswith("text/csv")
    assert read.text.splitlines() == ["customer_id,country", "c10,GB", "c11,DE"]
    write = client.get("/segments/lifecycle/prospect/export", headers=W).text.splitlines()
    assert write[0] == "customer_id,country,email,phone,name"
    assert write[1].startswith("c10,GB,") and write[1].endswith(",Jo")


def test_a_new_order_moves_a_churned_customer_to_reactivated_within_the_request(client):
    before = client.get("/customers/c04", headers=R).json()
    # by hand: orders 2023-04-01 (100), 2023-06-15 (80), 2023-09-01 (130); as of 2024-07-01: 304 days silent
    assert (before["features"]["frequency"], before["features"]["recency_days"]) == (3, 304)
    assert before["features"]["monetary_total"] == 310.0
    assert before["segments"]["lifecycle"]["segment"] == "churned"  # 304 > churned_days 216
    r = client.post("/events", json=LIVE_ORDER, headers=W)
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["rows_added"] == {"orders": 1, "order_lines": 1} and res["customers_rescored"] == ["c04"]
    after = client.get("/customers/c04", headers=R).json()
    f = after["features"]
    assert after["live"] is True
    assert after["as_of"].startswith("2024-07-02T23:59:59")  # end of the event's day
    assert (f["frequency"], f["recency_days"], f["monetary_total"]) == (4, 0, 390.0)
    # tenure: sign-up 2023-03-15 to 2024-07-02 = 366 + 109 days; gaps 75, 78 and now 305 days
    assert f["tenure_days"] == 475
    assert f["mean_days_between_orders"] == pytest.approx((75 + 78 + 305) / 3)
    # the last gap (305 days) is longer than churned_days (216): back after having churned
    assert after["segments"]["lifecycle"] == {"segment": "reactivated", "name": "reactivated", "source": "live"}
    # the cluster is kept from the run (no stored cluster model to re-score with)
    assert after["segments"]["cluster"]["source"] == "run"
    moves = {m["scheme"]: m for m in res["changes"]}
    assert moves["lifecycle"]["old"] == "churned" and moves["lifecycle"]["new"] == "reactivated"
    assert moves["lifecycle"]["changed_at"] == "2024-07-02T10:00:00"  # the event's own time
    changes = client.get("/changes?since=2024-07-01", headers=R).json()
    assert {(c["customer_id"], c["scheme"], c["old"], c["new"], c["source"]) for c in changes} >= {
        ("c04", "lifecycle", "churned", "reactivated", "live")}
    assert client.get("/changes?since=2024-07-03", headers=R).json() == []


def test_live_rfm_scores_the_customer_against_the_runs_buyers(client):
    # 9 buyers; after the order c04 has recency 0 (best of all: R = 5), frequency 4 (rank 7 of 9 from the
    # worst by minimum rank: 1 + floor(5 * 6 / 9) = 4), monetary_total 390 (rank 8: 1 + floor(5 * 7 / 9) = 4),
    # FM = round_half_up((4 + 4) / 2) = 4, so cell R5:FM4 -> "Champions" in the default table.
    client.post("/events", json=LIVE_ORDER, headers=W)
    assert client.get("/customers/c04", headers=R).json()["segments"]["rfm"]["segment"] == "Champions"


def test_unknown_product_is_refused_naming_the_field_and_nothing_is_stored(client):
    before = counts(client)
    bad = json.loads(json.dumps(LIVE_ORDER))
    bad["order_lines"][0]["product_id"] = "p99"
    r = client.post("/events", json=bad, headers=W)
    assert r.status_code == 422
    body = r.json()
    assert body["details"][0]["table"] == "order_lines" and body["details"][0]["column"] == "product_id"
    assert "p99" in body["message"]
    assert counts(client) == before


@pytest.mark.parametrize("payload, field", [
    ({"orders": [{"order_id": "X", "customer_id": "c01", "ordered_at": "not a date"}]}, "orders.0.ordered_at"),
    ({"orders": [{"order_id": "X", "customer_id": "c01", "ordered_at": "2024-07-02", "kind": "gift"}]},
     "orders.0.kind"),
    ({"order_lines": [{"order_id": "o01", "product_id": "p01", "quantity": 0, "unit_price": 1}]},
     "order_lines.0.quantity"),
    ({"order_lines": [{"order_id": "o01", "product_id": "p01", "quantity": "two", "unit_price": 1}]},
     "order_lines.0.quantity"),
    ({"reviews": [{"review_id": "r9", "customer_id": "c01", "rating": 6, "reviewed_at": "2024-07-02"}]},
     "reviews.0.rating"),
    ({"events": [{"event_id": "e9", "session_id": "s", "event_type": "view"}]}, "events.0.occurred_at"),
    ({"orders": [{"order_id": 17, "customer_id": "c01", "ordered_at": "2024-07-02"}]}, "orders.0.order_id"),
    ({"orders": [{"order_id": "X", "customer_id": "c01", "ordered_at": "2024-07-02", "colour": "red"}]},
     "orders.0.colour"),
    ({"baskets": []}, "baskets"),
])
def test_wrong_values_are_a_422_naming_the_field_and_nothing_is_stored(client, payload, field):
    before = counts(client)
    r = client.post("/events", json=payload, headers=W)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "validation" and body["message"].startswith(field + ":")
    assert counts(client) == before


def test_malformed_json_is_a_400_json_and_nothing_is_stored(client):
    before = counts(client)
    r = client.post("/events", content=b'{"orders": [', headers={**W, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "malformed_json"
    assert counts(client) == before


def test_oversized_payloads_are_a_413_and_nothing_is_stored(client):
    before = counts(client)
    many = {"events": [{"event_id": f"e{i}", "session_id": "s", "event_type": "view",
                        "occurred_at": "2024-07-02T00:00:00"} for i in range(10_001)]}
    assert client.post("/events", json=many, headers=W).status_code == 413
    huge = b'{"customers": [{"customer_id": "' + b"x" * 1_100_000 + b'"}]}'
    r = client.post("/events", content=huge, headers={**W, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert counts(client) == before


def test_a_stored_id_is_a_409_and_a_bad_row_late_in_a_batch_stores_nothing(client):
    before = counts(client)
    dup = {"orders": [{"order_id": "o01", "customer_id": "c01", "ordered_at": "2024-07-02T00:00:00"}]}
    assert client.post("/events", json=dup, headers=W).status_code == 409
    mixed = json.loads(json.dumps(LIVE_ORDER))
    mixed["events"] = [{"event_id": "e-new", "customer_id": "nobody", "session_id": "s", "event_type": "view",
                        "occurred_at": "2024-07-02T00:00:00"}]
    r = client.post("/events", json=mixed, headers=W)
    assert r.status_code == 422 and r.json()["details"][0]["column"] == "customer_id"
    assert counts(client) == before


def test_a_new_customer_posted_with_an_order_gets_segments(client):
    batch = {"customers": [{"customer_id": "c99", "name": "Zed", "signed_up_at": "2024-07-02T09:00:00"}],
             "orders": [{"order_id": "L9", "customer_id": "c99", "ordered_at": "2024-07-02T10:00:00"}],
             "order_lines": [{"order_id": "L9", "product_id": "p05", "quantity": 1, "unit_price": 20.0}]}
    r = client.post("/events", json=batch, headers=W)
    assert r.status_code == 200, r.text
    body = client.get("/customers/c99", headers=R).json()
    assert body["features"]["frequency"] == 1 and body["features"]["monetary_total"] == 20.0
    assert body["segments"]["lifecycle"]["segment"] == "new"
    assert "cluster" not in body["segments"]  # the run never clustered c99
    lines = client.app.state.shopseg.ws.sql("SELECT line_no, discount_amount FROM order_lines WHERE order_id = 'L9'")
    assert lines == [(None, 0.0)]  # the schema default filled in


def test_openapi_docs_list_the_endpoints_and_the_generated_row_models(client):
    spec = client.get("/openapi.json").json()
    assert {"/customers/{customer_id}", "/segments", "/events", "/changes"} <= set(spec["paths"])
    body = spec["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "order_lines" in json.dumps(body) or "order_lines" in body.get("properties", {})
    assert client.get("/docs").status_code == 200


def test_row_models_follow_the_schema_contracts():
    from shopseg import schema
    from shopseg.serve.models import ROW_MODELS

    for table, model in ROW_MODELS.items():
        t = schema.get_table(table)
        assert list(model.model_fields) == [c.name for c in t.columns]
        assert [n for n, f in model.model_fields.items() if f.is_required()] == t.required


def _dump(view):
    return None if view is None else view.model_dump(mode="json")


def test_in_memory_answer_equals_the_sql_answer_for_every_customer_before_and_after_a_post(client):
    from shopseg.serve.app import _MISS, customer_view, fast_customer_view

    state = client.app.state.shopseg
    cur = state.cursor()
    ids = [r[0] for r in state.ws.sql("SELECT DISTINCT customer_id FROM customers ORDER BY 1")]
    assert len(ids) == 12
    for cid in ids:
        assert _dump(customer_view(state, cur, cid)) == _dump(customer_view(state, cur, cid, use_snapshot=False))
    assert client.post("/events", json=LIVE_ORDER, headers=W).status_code == 200
    for cid in ids:
        assert _dump(customer_view(state, cur, cid)) == _dump(customer_view(state, cur, cid, use_snapshot=False))
    # c04's live answer is served from memory (no SQL) and is the posted order's: frequency 3 -> 4
    state._runs_checked = __import__("time").monotonic()  # the run stamp was just read
    fast = fast_customer_view(state, "c04")
    assert fast is not _MISS and fast.live is True and fast.features["frequency"] == 4
    assert fast_customer_view(state, "nobody") is _MISS  # unknown ids fall through to SQL (a 404)


def test_the_fast_path_answers_the_same_bytes_as_the_route(client):
    """GET /customers/{id} with the key header is answered before routing (serve.app._App); the cookie goes
    through FastAPI's route.  Same status, content type and bytes, before and after a live write."""
    app = client.app
    state = app.state.shopseg
    taken = []
    fast = app._fast_body
    app._fast_body = lambda scope: taken.append(fast(scope)) or taken[-1]
    ids = [r[0] for r in state.ws.sql("SELECT DISTINCT customer_id FROM customers ORDER BY 1")]

    def compare():
        for cid in ids:
            for key in (READ, WRITE):
                a = client.get(f"/customers/{cid}", headers={"X-API-Key": key})
                assert client.post("/dashboard/login", data={"key": key}, follow_redirects=False).status_code == 303
                b = client.get(f"/customers/{cid}")
                client.cookies.clear()
                assert (a.status_code, a.headers["content-type"], a.content) == \
                    (b.status_code, b.headers["content-type"], b.content), cid

    compare()
    assert client.post("/events", json=LIVE_ORDER, headers=W).status_code == 200
    state._runs_checked = __import__("time").monotonic()
    compare()
    # every header request took the fast path but those of the customer the run has no rows for (SQL path)
    unknown = [c for c in ids if c not in set(state.runs(state.cursor())["snapshot"].ids)]
    assert len(unknown) == 1
    assert sum(t is not None for t in taken) == 2 * 2 * (len(ids) - 1)
    assert json.loads(client.get("/customers/c04", headers=R).content)["features"]["frequency"] == 4
    # what the fast path leaves to the route: a wrong key, an unknown id, a nested path
    n = len(taken)
    assert client.get("/customers/c04", headers={"X-API-Key": "nope"}).status_code == 403
    assert client.get("/customers/nobody", headers=R).status_code == 404
    assert client.get("/customers/c04/x", headers=R).status_code == 404
    assert taken[n:] == [None, None, None]


def test_snapshot_rows_convert_every_column_kind_as_the_sql_path_does():
    import numpy as np
    import pandas as pd

    from shopseg.serve.app import _SnapTable

    df = pd.DataFrame({
        "_shopseg_id": ["a", "a", "b"],
        "customer_id": ["a", "a", "b"],
        "n": np.array([3, 4, 5], dtype=np.int64),
        "x": [1.5, float("nan"), 2.0],
        "flag": [True, False, True],
        "at": pd.to_datetime(["2024-01-02 03:04:05.123456", None, "2024-12-31 00:00:00.000000"]),
        "label": ["hi", None, "hi"],
        "maybe": pd.array([1, None, 2], dtype="Int64"),
        "utc": pd.to_datetime(["2024-01-01", "2024-01-02", None], utc=True),
    })
    tab = _SnapTable(df, limit=20)
    assert list(tab.ids) == ["a", "b"]
    a = tab.rows(0, "a")
    assert a == [
        {"customer_id": "a", "n": 3, "x": 1.5, "flag": True, "at": datetime(2024, 1, 2, 3, 4, 5, 123456),
         "label": "hi", "maybe": 1, "utc": datetime(2024, 1, 1, tzinfo=UTC)},
        {"customer_id": "a", "n": 4, "x": None, "flag": False, "at": None, "label": None, "maybe": None,
         "utc": datetime(2024, 1, 2, tzinfo=UTC)},
    ]
    assert [type(v) for v in a[0].values()] == [str, int, float, bool, datetime, str, int, datetime]
    assert tab.rows(1, "b")[0]["utc"] is None and tab.rows(1, "b")[0]["at"] == datetime(2024, 12, 31)
    assert _SnapTable(df, limit=1).rows(0, "a") == a[:1]


def test_a_rejected_post_leaves_the_in_memory_answer_unchanged(client):
    before = client.get("/customers/c04", headers=R).json()
    bad = {"orders": LIVE_ORDER["orders"], "order_lines": [{**LIVE_ORDER["order_lines"][0], "product_id": "nope"}]}
    assert client.post("/events", json=bad, headers=W).status_code == 422
    assert client.get("/customers/c04", headers=R).json() == before


def test_a_posted_time_with_an_offset_is_stored_in_utc_whatever_the_session_zone(client):
    """The one time-zone rule of every ingest route (docs/ingest.md): 10:00-08:00 is 18:00 UTC."""
    ws = client.app.state.shopseg.ws
    ws.con.execute("SET TimeZone = 'Asia/Tokyo'")  # DuckDB's session zone must not decide what is stored
    body = {"orders": [{**LIVE_ORDER["orders"][0], "ordered_at": "2024-07-02T10:00:00-08:00"}],
            "order_lines": LIVE_ORDER["order_lines"]}
    assert client.post("/events", json=body, headers=W).status_code == 200
    assert str(ws.con.execute("SELECT ordered_at FROM orders WHERE order_id = 'L1'").fetchone()[0]) == \
        "2024-07-02 18:00:00"


def test_a_full_disk_while_posting_events_is_a_507_with_the_reason_and_nothing_stored(client, monkeypatch):
    import sqlite3

    before = counts(client)
    from shopseg.serve import live as live_mod

    def full(self, rows):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(live_mod.LiveUpdater, "apply", full)
    r = client.post("/events", json=LIVE_ORDER, headers=W)
    assert r.status_code == 507, r.text
    body = r.json()
    assert body["error"] == "disk_full" and body["message"].startswith("The disk is full: writing ")
    assert "free of" in body["message"] and "Free space on that disk" in body["hint"]
    assert counts(client) == before


def test_the_dashboard_session_cookie_holds_a_token_not_the_key_and_ends_at_logout(client):
    r = client.post("/dashboard/login", data={"key": READ}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("shopseg_session=") and READ not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=28800" in cookie
    token = client.cookies.get("shopseg_session")
    assert len(token) >= 40  # 32 random bytes, URL-safe
    assert client.get("/customers/c01").status_code == 200  # the session reads
    assert client.post("/events", json={"events": []}).status_code == 401  # and never writes
    assert client.post("/dashboard/logout", follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set("shopseg_session", token)  # the ended session's token, replayed
    r = client.get("/customers/c01")
    assert r.status_code == 401 and "ended or expired" in r.json()["message"]
    client.cookies.set("shopseg_session", READ)  # the key itself is no session
    assert client.get("/customers/c01").status_code == 401
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/dashboard/login"
    client.cookies.clear()
