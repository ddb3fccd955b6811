"""Hardening: SQL injection through ids, mapping column names, constants and config values changes nothing but
the rows it is meant to add: every value is bound or quoted, every name quoted."""

from __future__ import annotations

import warnings

import pytest

from shopseg import ConfigError, ShopsegError, WorkspaceError, ingest, schema
from shopseg.features import customer_features
from shopseg.workspace import Workspace, open_workspace
from tests.test_serve_api import HTTPX_WARNING, READ, WRITE, build_fixture_workspace

PAYLOADS = [
    "1'; DROP TABLE customers; --",
    "x\"; DROP TABLE orders; --",
    "' OR '1'='1",
    "'); DELETE FROM orders; --",
    "a'||(SELECT count(*) FROM customers)||'",
    "$$; ATTACH '/tmp/evil.db'; --",
    "\\'; COPY customers TO '/tmp/leak.csv'; --",
    "c1' UNION SELECT * FROM customers --",
]


def tables(ws) -> set[str]:
    return {r[0] for r in ws.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")}


def intact(ws, before_tables, before_counts):
    assert tables(ws) >= before_tables
    assert all(ws.count(t) >= n for t, n in before_counts.items())


def test_injection_ids_load_as_plain_text_and_round_trip(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        t0 = tables(ws)
        lines = ["customer_id,country"] + ['"' + p.replace('"', '""') + '",GB' for p in PAYLOADS]
        (tmp_path / "customers.csv").write_text("\n".join(lines) + "\n")
        r = ingest(ws, tmp_path / "customers.csv")
        assert r.n_accepted == len(PAYLOADS)
        orders = ["order_id,customer_id,ordered_at"] + [
            '"' + (p + "-o").replace('"', '""') + '","' + p.replace('"', '""') + '",2024-01-0' + str(i + 1)
            for i, p in enumerate(PAYLOADS)]
        (tmp_path / "orders.csv").write_text("\n".join(orders) + "\n")
        assert ingest(ws, tmp_path / "orders.csv").n_accepted == len(PAYLOADS)
        assert sorted(x for (x,) in ws.sql("SELECT customer_id FROM customers")) == sorted(PAYLOADS)
        assert tables(ws) == t0
        # the features SQL takes the ids as bound parameters
        f = customer_features(ws, "2024-02-01", customers=PAYLOADS[:3])
        assert sorted(f["customer_id"]) == sorted(PAYLOADS[:3])
        assert f["frequency"].tolist() == [1, 1, 1]


def test_quoted_mapping_column_names_and_constants_are_names_and_values(tmp_path):
    weird = ['id"; DROP TABLE orders; --', "when'); DELETE FROM customers; --", 'who" || (SELECT 1) || "']
    body = ",".join('"' + w.replace('"', '""') + '"' for w in weird) + "\n" + "o1,2024-01-01,c1\no2,2024-01-02,c2\n"
    (tmp_path / "export.csv").write_text(body)
    mapping = {"table": "orders",
               "columns": {weird[0]: "order_id", weird[1]: "ordered_at", weird[2]: "customer_id"},
               "constants": {"channel": "web'); DROP TABLE customers; --"},
               "formats": {"ordered_at": ["%Y-%m-%d", "%d'%m"]}}
    with open_workspace(tmp_path / "ws") as ws:
        t0 = tables(ws)
        r = ingest(ws, tmp_path / "export.csv", mapping=mapping)
        assert (r.n_accepted, r.n_quarantined) == (2, 0)
        assert ws.sql("SELECT order_id, customer_id, channel FROM orders ORDER BY 1") == [
            ("o1", "c1", "web'); DROP TABLE customers; --"), ("o2", "c2", "web'); DROP TABLE customers; --")]
        assert ws.count("customers") == 2 and tables(ws) == t0


def test_quoted_category_names_reach_feature_columns_safely(tmp_path):
    cat = "Toys'; DROP TABLE orders; --"
    with open_workspace(tmp_path / "ws") as ws:
        (tmp_path / "products.csv").write_text(f'product_id,category\np1,"{cat}"\n')
        (tmp_path / "orders.csv").write_text("order_id,customer_id,ordered_at\no1,c1,2024-01-01\n")
        (tmp_path / "order_lines.csv").write_text("order_id,product_id,quantity,unit_price\no1,p1,2,5.0\n")
        for f in ("products", "orders", "order_lines"):
            ingest(ws, tmp_path / f"{f}.csv")
        t0 = tables(ws)
        f = customer_features(ws, "2024-02-01")
        assert f.loc[0, "cat_share_toys_drop_table_orders"] == 1.0
        assert tables(ws) == t0 and ws.count("orders") == 1


@pytest.mark.parametrize("bad", [
    {"delimiter": "'"}, {"encoding": "utf-8'; DROP TABLE orders; --"}, {"format": "csv'); DROP TABLE orders; --"},
    {"table": "orders; DROP TABLE customers"}, {"columns": {"order_id": "order_id\"; DROP TABLE orders; --"}},
])
def test_injection_in_mapping_settings_is_refused_or_inert(tmp_path, bad):
    (tmp_path / "orders.csv").write_text("order_id,customer_id,ordered_at\no1,c1,2024-01-01\n")
    with open_workspace(tmp_path / "ws") as ws:
        ingest(ws, tmp_path / "orders.csv")
        t0, c0 = tables(ws), {t: ws.count(t) for t in schema.LOAD_ORDER}
        (tmp_path / "more.csv").write_text("order_id,customer_id,ordered_at\no2,c1,2024-01-02\n")
        try:
            ingest(ws, tmp_path / "more.csv", mapping={"table": "orders", **bad})
        except ShopsegError:
            assert {t: ws.count(t) for t in schema.LOAD_ORDER} == c0
        intact(ws, t0, c0)


def test_injection_in_config_values_is_refused(tmp_path, monkeypatch):
    with open_workspace(tmp_path / "ws") as ws:
        t0 = tables(ws)
    monkeypatch.setenv("SHOPSEG_MEMORY_LIMIT", "1GB'; DROP TABLE orders; --")
    with pytest.raises(WorkspaceError, match="SHOPSEG_MEMORY_LIMIT"):
        Workspace.open(tmp_path / "ws")
    monkeypatch.delenv("SHOPSEG_MEMORY_LIMIT")
    from shopseg.pipeline import parse_as_of
    with pytest.raises(ConfigError):
        parse_as_of("2024-01-01'; DROP TABLE runs; --")
    from shopseg.config import load_config
    with pytest.raises(ConfigError):
        load_config(overrides={"features": {"top_categories": "5; DROP TABLE orders"}})
    with open_workspace(tmp_path / "ws") as ws:
        assert tables(ws) == t0


def test_injection_ids_through_the_api_answer_404_and_change_nothing(tmp_path):
    from fastapi.testclient import TestClient

    from shopseg.serve import create_app
    build_fixture_workspace(tmp_path / "ws")
    app = create_app(tmp_path / "ws", READ, WRITE)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        client = TestClient(app)
    with client:
        ws = app.state.shopseg.ws
        t0, c0 = tables(ws), {t: ws.count(t) for t in (*schema.LOAD_ORDER, "segments", "runs")}
        for p in PAYLOADS:
            from urllib.parse import quote
            q = quote(p, safe="")
            assert client.get(f"/customers/{q}", headers={"X-API-Key": READ}).status_code == 404
            for path in (f"/segments/{q}/x/members", f"/segments/rfm/{q}/members", f"/segments/{q}/{q}/export"):
                assert client.get(path, headers={"X-API-Key": READ}).status_code in (404, 422)
            r = client.get("/changes", params={"since": p}, headers={"X-API-Key": READ})
            assert r.status_code == 422
            # an order for an unknown (injection) customer is stored as plain text or refused
            r = client.post("/events", headers={"X-API-Key": WRITE}, json={"orders": [
                {"order_id": p, "customer_id": p, "ordered_at": "2024-07-02T10:00:00"}]})
            assert r.status_code in (200, 409, 422), r.text
        assert tables(ws) >= t0
        assert all(ws.count(t) >= n for t, n in c0.items())
        assert ws.scalar("SELECT count(*) FROM orders WHERE order_id = ?", [PAYLOADS[0]]) in (0, 1)
