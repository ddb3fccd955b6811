"""Hardening of the service: edge inputs get a 4xx with a JSON body, never a 500; a prospect's event is stored
and the prospect answered, not a ZeroDivisionError inside LightGBM."""

from __future__ import annotations

import warnings

import pytest

from .test_serve_synth import HTTPX_WARNING, R, W, build_demo_workspace

pytest.importorskip("fastapi")
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=HTTPX_WARNING)
    from fastapi.testclient import TestClient

from shopseg.serve import create_app  # noqa: E402

JSON = {**W, "content-type": "application/json"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    path = tmp_path_factory.mktemp("hard") / "ws"
    build_demo_workspace(path)  # with a stored churn model: the prospect's re-score reaches LightGBM
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        c = TestClient(create_app(path, "r", "w"), raise_server_exceptions=False)
    with c:
        yield c


def test_an_event_of_a_customer_without_orders_is_stored_and_the_prospect_answered(client):
    batch = {"customers": [{"customer_id": "NEW-1"}],
             "events": [{"customer_id": "NEW-1", "event_id": "ev-new-1", "session_id": "s1", "event_type": "view",
                         "occurred_at": "2024-12-30T10:00:00"}]}
    r = client.post("/events", json=batch, headers=W)
    assert r.status_code == 200, r.text
    assert r.json()["rows_added"] == {"customers": 1, "events": 1}
    body = client.get("/customers/NEW-1", headers=R).json()
    assert body["segments"]["lifecycle"]["segment"] == "prospect" and body["segments"]["rfm"]["segment"] == "Prospect"
    assert body["churn"] is None and body["features"]["frequency"] == 0  # no purchase: nothing to churn from
    # an event for a known prospect (no customers row in the batch) too
    r = client.post("/events", json={"events": [{**batch["events"][0], "event_id": "ev-new-2"}]}, headers=W)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("name, body, words", [
    ("nested 5,000 deep", b'{"orders":' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deep"),
    ("a 5,000-digit integer", b'{"order_lines":[{"order_id":"o","product_id":"p","quantity":' + b"9" * 5000 + b"}]}",
     "5,000 digits is out of range"),
    ("NaN", b'{"order_lines":[{"order_id":"o","product_id":"p","quantity":1,"unit_price":NaN}]}',
     "NaN is not a JSON number"),
    ("1e999", b'{"order_lines":[{"order_id":"o","product_id":"p","quantity":1,"unit_price":1e999}]}',
     "1e999 is out of range"),
    ("-Infinity", b'{"order_lines":[{"order_id":"o","product_id":"p","quantity":-Infinity,"unit_price":1}]}',
     "-Infinity is not a JSON number"),
])
def test_edge_bodies_get_a_400_json_error_and_store_nothing(client, name, body, words):
    ws = client.app.state.shopseg.ws
    before = ws.count("order_lines")
    r = client.post("/events", content=body, headers=JSON)
    assert r.status_code == 400, (name, r.status_code, r.text[:200])
    assert r.json()["error"] == "malformed_json" and words in r.json()["message"], r.text[:300]
    assert ws.count("order_lines") == before


def test_a_page_past_any_offset_is_a_422_not_a_500(client):
    r = client.get("/segments/rfm/Champions/members?page=9223372036854775807", headers=R)
    assert r.status_code == 422 and "less than or equal to 1000000000" in r.json()["message"]
    r = client.get("/segments/rfm/Champions/members?page=1000000000", headers=R)
    assert r.status_code == 200 and r.json()["customer_ids"] == [] and r.json()["total"] > 0


def test_a_segment_export_never_holds_a_formula(client):
    cur = client.app.state.shopseg.ws
    scheme, segment, cid = cur.sql("SELECT scheme, segment, min(customer_id) FROM segments WHERE scheme = 'rfm' "
                                   "GROUP BY ALL ORDER BY 2 LIMIT 1")[0]
    cur.con.execute("UPDATE customers SET name = '=1+1' WHERE customer_id = ?", [cid])
    r = client.get(f"/segments/{scheme}/{segment}/export", headers=W)
    assert r.status_code == 200
    row = next(line for line in r.text.splitlines() if line.startswith(cid + ","))
    assert ",'=1+1," in row + "," and "=1+1" not in row.replace("'=1+1", "")
