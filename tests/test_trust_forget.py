"""Right to be forgotten: a forgotten customer is gone from every table, export and file, stays gone at the
next ingest, and the next run equals a run on a shop that never had them."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from shopseg import fixtures
from shopseg.cli import app
from shopseg.errors import ShopsegError
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.ingest import ingest
from shopseg.pipeline import run_pipeline
from shopseg.trust import forget
from shopseg.trust.pii import pseudonym, workspace_secret
from shopseg.workspace import open_workspace

GONE = "c09"  # Ivy: orders o23, o24, o25 (one line each); no events, no reviews
GONE_ORDERS = {"o23", "o24", "o25"}


def text_values(ws) -> set[str]:
    """Every non-NULL text value of every table (JSON values of quarantine.raw included)."""
    out = set()
    for t, c in ws.sql("SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_schema = 'main' AND data_type = 'VARCHAR'"):
        out |= {r[0] for r in ws.sql(f'SELECT DISTINCT "{c}" FROM "{t}" WHERE "{c}" IS NOT NULL')}
    for (raw,) in ws.sql("SELECT raw FROM quarantine WHERE raw IS NOT NULL"):
        out |= {str(v) for v in json.loads(raw).values()}
    return out


def tables_with_customers(ws) -> list[str]:
    return [r[0] for r in ws.sql("SELECT DISTINCT table_name FROM information_schema.columns "
                                 "WHERE table_schema = 'main' AND column_name = 'customer_id'")]


def outputs(ws, run_id: int) -> dict[str, pd.DataFrame]:
    """The per-customer outputs of a run, without run_id, in a stable order."""
    out = {}
    for t, order in (("customer_features", "customer_id"), ("rfm_scores", "customer_id"),
                     ("segments", "scheme, customer_id")):
        df = ws.df(f'SELECT * EXCLUDE (run_id) FROM "{t}" WHERE run_id = ? ORDER BY {order}', [run_id])
        out[t] = df.reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def forgotten_and_never(tmp_path_factory):
    """Workspace A: the fixture shop, a run, an export and a quarantined row, then `forget c09`, then a second
    run (same as_of and seed).  Workspace B: the fixture shop without c09's rows, one run."""
    root = tmp_path_factory.mktemp("forget")
    a = open_workspace(root / "a")
    load_fixture_shop(a)
    run_pipeline(a, FIXTURE_AS_OF, seed=7, stages=["segments"])
    before = {t: a.scalar(f'SELECT count(*) FROM "{t}" WHERE customer_id = ?', [GONE])
              for t in tables_with_customers(a)}
    a.exports_dir.joinpath("audience.csv").write_text("customer_id,segment\nc01,Champions\nc09,At Risk\n")
    a.con.execute("INSERT INTO quarantine VALUES (1, 'orders.csv', 4, 'orders', 'kind', 'kind: expected ...', "
                  "'{\"Customer\": \"c09\", \"Order\": \"o99\"}')")
    a.con.execute("INSERT INTO quarantine VALUES (1, 'lines.csv', 2, 'order_lines', 'quantity', 'quantity: ...', "
                  "'{\"order\": \"o24\", \"qty\": \"-1\"}')")
    a.con.execute("INSERT INTO quarantine VALUES (1, 'orders.csv', 5, 'orders', 'kind', 'kind: expected ...', "
                  "'{\"Customer\": \"c01\", \"Order\": \"o98\"}')")
    result = forget(a, [GONE])
    run_pipeline(a, FIXTURE_AS_OF, seed=7, stages=["segments"])

    b = open_workspace(root / "b")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fixtures, "CUSTOMERS", [c for c in fixtures.CUSTOMERS if c[0] != GONE])
        mp.setattr(fixtures, "ORDERS", [o for o in fixtures.ORDERS if o[1] != GONE])
        load_fixture_shop(b)
    run_pipeline(b, FIXTURE_AS_OF, seed=7, stages=["segments"])
    yield a, b, result, before
    a.close()
    b.close()


def test_forget_removes_the_customer_from_every_table(forgotten_and_never):
    a, _, result, before = forgotten_and_never
    assert before["customers"] == 1 and before["segments"] == 6 and before["customer_features"] == 1  # 6 schemes ran
    values = text_values(a)
    assert GONE not in values and not GONE_ORDERS & values
    for t in tables_with_customers(a):
        assert a.scalar(f'SELECT count(*) FROM "{t}" WHERE customer_id = ?', [GONE]) == 0, t
    assert result.rows_removed["orders"] == 3 and result.rows_removed["order_lines"] == 3
    assert result.rows_removed["quarantine"] == 2  # the row naming c09 and the line of its order o24
    assert a.scalar("SELECT count(*) FROM quarantine") == 1  # c01's row stays


def test_forget_rewrites_exports_without_the_customer(forgotten_and_never):
    a, _, result, _ = forgotten_and_never
    assert result.files_rewritten == ["exports/audience.csv"]
    assert a.exports_dir.joinpath("audience.csv").read_text() == "customer_id,segment\nc01,Champions\n"


def test_forget_deletes_models_fitted_on_the_customer_so_the_next_run_refits(forgotten_and_never):
    a, _, result, _ = forgotten_and_never
    assert "models/run-1-clusters.json" in result.files_deleted
    assert a.scalar("SELECT action FROM model_decisions WHERE run_id = 2 AND model = 'cluster'") == "refitted"


def test_forget_log_keeps_a_keyed_pseudonym_and_counts_not_the_id(forgotten_and_never):
    a, _, _, _ = forgotten_and_never
    rows = a.df("SELECT * FROM forget_log")
    assert len(rows) == 1
    assert rows.loc[0, "id_hmac"] == pseudonym(GONE, workspace_secret(a))
    counts = json.loads(rows.loc[0, "rows_removed"])
    assert counts["customers"] == 1 and counts["orders"] == 3 and counts["segments"] == 6
    # the id is in no field, as a value or a word of one (the pseudonym's hex digits may hold 'c09' by chance: the
    # workspace's secret is random, so a substring test failed about one run in 60)
    words = {w for v in rows.iloc[0].tolist() for w in re.findall(r"[A-Za-z0-9_]+", str(v))}
    assert GONE not in words


def test_next_run_equals_a_run_on_a_shop_that_never_had_the_customer(forgotten_and_never):
    a, b, _, _ = forgotten_and_never
    got, want = outputs(a, 2), outputs(b, 1)
    assert len(want["customer_features"]) == 10  # 11 customers known at as_of, less c09
    for t in want:
        pd.testing.assert_frame_equal(got[t], want[t], check_exact=False, rtol=1e-12, obj=t)


def test_reingesting_a_forgotten_customer_quarantines_the_rows_without_a_raw_copy(ws, tmp_path):
    load_fixture_shop(ws)
    forget(ws, [GONE])
    p = tmp_path / "orders.csv"
    p.write_text("order_id,customer_id,ordered_at\no23,c09,2023-01-20\no90,c01,2024-06-30\n", encoding="utf-8")
    r = ingest(ws, p, table="orders")
    assert (r.n_accepted, r.n_quarantined) == (1, 1)
    assert ws.sql("SELECT reason, raw FROM quarantine") == [("customer_id: forgotten customer", None)]
    assert ws.scalar("SELECT count(*) FROM customers WHERE customer_id = ?", [GONE]) == 0
    assert ws.scalar("SELECT count(*) FROM orders WHERE order_id = 'o90'") == 1


def test_forget_command_prints_counts_and_needs_an_id(tmp_path):
    w = open_workspace(tmp_path / "ws")
    load_fixture_shop(w)
    w.close()
    runner = CliRunner()
    res = runner.invoke(app, ["--workspace", str(tmp_path / "ws"), "forget", "c07", "nobody"])
    assert res.exit_code == 0, res.output
    assert "2 customer(s), 1 known" in res.output and "orders -3" in res.output  # Gus: 2 sales and a return
    assert "no such customer (nothing removed): nobody" in res.output
    w = open_workspace(tmp_path / "ws")
    try:
        assert w.scalar("SELECT count(*) FROM forget_log") == 1  # the unknown id is not logged
        assert w.scalar("SELECT count(*) FROM reviews WHERE customer_id = 'c07'") == 0
    finally:
        w.close()


def test_the_service_refuses_posts_about_a_forgotten_customer(tmp_path):
    import warnings

    from .test_serve_api import HTTPX_WARNING, W, build_fixture_workspace

    build_fixture_workspace(tmp_path / "ws")
    w = open_workspace(tmp_path / "ws")
    forget(w, [GONE])
    w.close()
    from fastapi.testclient import TestClient

    from shopseg.serve import create_app

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        client = TestClient(create_app(tmp_path / "ws", "read-key-1", "write-key-1"))
        with client:
            r = client.post("/events", headers=W, json={
                "customers": [{"customer_id": GONE}],
                "orders": [{"order_id": "L9", "customer_id": GONE, "ordered_at": "2024-07-02T10:00:00"}]})
            assert r.status_code == 422
            assert "forgotten customer" in r.text
            ok = client.post("/events", headers=W, json={"customers": [{"customer_id": "c77"}]})
            assert ok.status_code == 200, ok.text


def test_forget_of_an_id_nobody_has_says_so_and_changes_nothing(tmp_path):
    """`forget 1` used to delete every quarantined row holding a 1 anywhere (a quantity), the report and every
    model file; `forget run` deleted the report (the word 'run' in it)."""
    w = open_workspace(tmp_path / "ws")
    load_fixture_shop(w)
    run_pipeline(w, FIXTURE_AS_OF, seed=7, stages=["segments"])
    w.con.execute("INSERT INTO quarantine VALUES (1, 'lines.csv', 2, 'order_lines', 'unit_price', 'unit_price: ...', "
                  "'{\"order\": \"o01\", \"qty\": \"1\", \"note\": \"run\"}')")
    w.reports_dir.joinpath("report-run1.html").write_text("<p>run 1: 1 customer</p>")
    files = sorted(str(p) for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".wal")
    counts = {t: w.count(t) for t in ("customers", "orders", "quarantine", "segments", "forget_log")}
    for ids in (["1"], ["run"], ["1", "run", "o01"]):
        with pytest.raises(ShopsegError, match="No such customer: .*nothing was changed"):
            forget(w, ids)
        assert {t: w.count(t) for t in counts} == counts
        assert sorted(str(p) for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".wal") == files
    res = CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "forget", "1"]) if w.close() is None else None
    assert res.exit_code == 2 and "No such customer: 1" in res.output


def test_forget_removes_only_quarantined_rows_that_hold_the_id_as_a_customer_or_their_order(ws):
    load_fixture_shop(ws)
    rows = [  # (row_number, raw): c01's id under customer-like names, one of c01's orders, and look-alikes
        (1, {"CustomerID": "c01", "qty": "x"}), (2, {"customer_unique_id": "c01"}), (3, {"Client ID": "c01"}),
        (4, {"InvoiceNo": "o01", "qty": "-1"}), (5, {"note": "c01", "qty": "2"}), (6, {"CustomerID": "c02"}),
        (7, {"StockCode": "o01"}),
    ]
    for n, raw in rows:
        ws.con.execute("INSERT INTO quarantine VALUES (9, 'f.csv', ?, 'orders', 'x', 'x', ?)", [n, json.dumps(raw)])
    res = forget(ws, ["c01"])
    assert res.rows_removed["quarantine"] == 4
    assert [r for (r,) in ws.sql("SELECT row_number FROM quarantine WHERE ingest_id = 9 ORDER BY 1")] == [5, 6, 7]


def test_forget_leaves_no_byte_of_the_customer_in_the_database_file(tmp_path):
    from shopseg.synth import synthesize

    w = open_workspace(tmp_path / "ws")
    synthesize(w, customers=200, seed=3, history_days=365)
    run_pipeline(w, stages=["segments"], seed=1)
    cid, email, phone, name = w.sql("SELECT customer_id, email, phone, name FROM customers "
                                    "ORDER BY customer_id LIMIT 1")[0]
    secrets = [v.encode() for v in (cid, email, phone, name)]
    w.con.execute("CHECKPOINT")
    data = w.db_path.read_bytes()
    assert all(s in data for s in secrets)  # the check can see them: stored as plain bytes before
    forget(w, [cid])
    w.con.execute("CHECKPOINT")
    data = w.db_path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.rglob("*.wal"))
    assert [s for s in secrets if s in data] == []
    assert w.count("customers") == 199 and w.scalar("SELECT count(*) FROM segments") > 0  # the rest is there
    run_pipeline(w, stages=["segments"], seed=1)  # and the workspace works on
    w.close()
