"""The online store: the batch SQL transpiled to SQLite gives DuckDB's answers and moves in step with the workspace."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

from shopseg.predict._churn_data import _EXTRAS_SQL
from shopseg.predict.clv import SUMMARY_SQL
from shopseg.segment.lifecycle import PER_CUSTOMER_SQL
from shopseg.workspace import only_customers
from shopseg.serve.live import LiveUpdater, RowError, load_reference
from shopseg.serve.online import TABLES, OnlineStore, to_sqlite
from shopseg.workspace import open_workspace

from .test_serve_synth import build_demo_workspace

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("online") / "ws"
    build_demo_workspace(path, customers=300, seed=3)
    return path


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same columns, dtypes and values (floats to 1e-9 relative: SQLite sums in another order)."""
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b) and len(a) > 0
    for c in a.columns:
        assert a[c].dtype == b[c].dtype, c
        if a[c].dtype.kind == "f":
            np.testing.assert_allclose(a[c].to_numpy(), b[c].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=c)
        else:
            assert a[c].tolist() == b[c].tolist(), c


def test_sqlite_gets_what_duckdb_lacks_there():
    """date_trunc('month'), IN (SELECT unnest(list)), stddev_samp and arg_max: hand-checked on five rows."""
    rows = [("a", "2024-01-05 10:00:00.000000", 1.0), ("a", "2024-01-20 00:00:00.000000", 3.0),
            ("a", "2024-03-01 00:00:00.000000", 8.0), ("b", "2024-02-02 00:00:00.000000", 5.0),
            ("c", "2024-02-03 00:00:00.000000", 7.0)]
    sql = ("SELECT customer_id, count(DISTINCT date_trunc('month', CAST(t AS DATE))) AS months, "
           "stddev_samp(v) AS sd, arg_max(v, t) AS last_v FROM x "
           "WHERE customer_id IN (SELECT unnest($ids)) GROUP BY 1 ORDER BY 1")
    duck = duckdb.connect()
    duck.execute("CREATE TABLE x (customer_id VARCHAR, t TIMESTAMP, v DOUBLE)")
    duck.executemany("INSERT INTO x VALUES (?, ?, ?)", rows)
    store = OnlineStore(duck)
    store.db.execute("CREATE TABLE x (customer_id TEXT, t TEXT, v REAL)")
    store.db.executemany("INSERT INTO x VALUES (?, ?, ?)", rows)
    got = store.execute(sql, {"ids": ["a", "b"]}).fetchall()
    # a: January (2 rows) and March; sd of 1, 3, 8 = sqrt(13); the latest value 8.  b: one row
    assert got == [("a", 2, pytest.approx(13 ** 0.5), 8.0), ("b", 1, None, 5.0)]
    assert got == duck.execute(sql, {"ids": ["a", "b"]}).fetchall()


def test_every_live_query_gives_duckdbs_answer_for_every_customer(demo):
    """Features, churn extras, CLV summary and lifecycle gaps: all 300 customers, two as_of dates."""
    ws = open_workspace(demo)
    try:
        store = OnlineStore(ws.con).load()
        assert store.rows == sum(ws.count(t) for t in TABLES)
        ref = load_reference(ws.con, ws.path)
        sql_f = ref.states["segments"].features_sql  # the segments stage's restricted features SQL
        ids = [r[0] for r in ws.sql("SELECT customer_id FROM customers ORDER BY 1")]
        extras = _EXTRAS_SQL.replace("/*only:o*/", " AND o.customer_id IN (SELECT unnest($customers))").replace(
            "/*only*/", " AND customer_id IN (SELECT unnest($customers))")
        summary = SUMMARY_SQL.format(customer_filter="AND customer_id IN (SELECT unnest($customers))")
        gaps = only_customers(PER_CUSTOMER_SQL) + " ORDER BY 1"
        for as_of in (ref.as_of, ref.as_of - dt.timedelta(days=100)):
            for sql, params in ((sql_f + " ORDER BY 1", {"as_of": as_of}),
                                (extras + " ORDER BY 1", {"cutoff": as_of, "h": 90.0, "max_rating": 2.0}),
                                (summary, {"as_of": as_of, "unit": 1.0}),
                                (gaps, {"as_of": as_of})):
                params = dict(params, customers=ids)
                _same(ws.con.execute(sql, params).df(), store.execute(sql, params).df())
        # one customer at a time, as the service asks
        one = {"as_of": ref.as_of, "customers": [ids[7]]}
        _same(ws.con.execute(sql_f, one).df(), store.execute(sql_f, one).df())
        assert "unnest" not in to_sqlite(sql_f).lower()
    finally:
        ws.close()


def _batch(ws):
    cid, pid = ws.sql("SELECT f.customer_id, (SELECT min(product_id) FROM products) FROM customer_features f "
                      "WHERE f.frequency >= 2 ORDER BY f.monetary_total, f.customer_id LIMIT 1")[0]
    when = dt.datetime(2025, 1, 4, 15, 30)
    return cid, {
        "orders": [{"order_id": "ON-1", "customer_id": cid, "ordered_at": when, "kind": "sale"}],
        "order_lines": [{"order_id": "ON-1", "product_id": pid, "line_no": 1, "quantity": 3, "unit_price": 45.5},
                        {"order_id": "ON-1", "product_id": pid, "line_no": 2, "quantity": 1, "unit_price": 9.99,
                         "discount_amount": 2.0}],
        "events": [{"event_id": "ON-E1", "customer_id": cid, "session_id": "ON-S1", "event_type": "add_to_cart",
                    "product_id": pid, "occurred_at": when - dt.timedelta(minutes=5), "duration_seconds": 40.0}],
        "reviews": [{"review_id": "ON-R1", "customer_id": cid, "product_id": pid, "order_id": "ON-1", "rating": 2,
                     "text": "late and broken", "reviewed_at": when + dt.timedelta(hours=1)}],
    }


def test_a_post_rescored_in_the_store_equals_the_same_post_rescored_in_duckdb(demo, tmp_path):
    """The same batch on two copies of the workspace, with and without the online store: same live answer."""
    answers = []
    for online_rows in (5_000_000, 0):
        path = tmp_path / f"ws{online_rows}"
        shutil.copytree(demo, path)
        ws = open_workspace(path)
        try:
            live = LiveUpdater(ws.path, ws.con.cursor(), online_rows=online_rows)
            assert (live.store is not None) == bool(online_rows)
            cid, batch = _batch(ws)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = live.apply(batch)
            assert res["customers_rescored"] == [cid]
            (feats, churn, clv), = ws.sql("SELECT features, churn, clv FROM live_state WHERE customer_id = ?", [cid])
            segs = dict(ws.sql("SELECT scheme, segment FROM live_segments WHERE customer_id = ?", [cid]))
            answers.append((json.loads(feats), json.loads(churn) if churn else None, json.loads(clv), segs))
        finally:
            ws.close()
    (f1, c1, v1, s1), (f0, c0, v0, s0) = answers
    assert f1["frequency"] == f0["frequency"] and f1["n_reviews"] == f0["n_reviews"]
    assert f1.keys() == f0.keys()
    for k, v in f0.items():
        assert f1[k] == (pytest.approx(v, rel=1e-9) if isinstance(v, float) else v), k
    assert s1 == s0 and set(s1) >= {"rfm", "lifecycle", "cluster"}
    assert v1.keys() == v0.keys()
    for k, v in v0.items():
        assert v1[k] == (pytest.approx(v, rel=1e-9) if isinstance(v, float) else v), k
    if c0 is not None:
        assert c1["tier"] == c0["tier"] and c1["reasons"] == c0["reasons"]
        assert c1["probability"] == pytest.approx(c0["probability"], rel=1e-9)


def test_the_store_moves_with_the_workspace_transaction(demo, tmp_path):
    """A refused batch leaves the store as it was; an accepted one adds exactly its rows."""
    path = tmp_path / "ws"
    shutil.copytree(demo, path)
    ws = open_workspace(path)
    try:
        live = LiveUpdater(ws.path, ws.con.cursor())

        def counts():
            return {t: live.store.db.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in TABLES}

        before = counts()
        cid, batch = _batch(ws)
        bad = json.loads(json.dumps(batch, default=str))
        bad["order_lines"][1]["product_id"] = "NO-SUCH-PRODUCT"  # refused after the orders row was checked
        with pytest.raises(RowError):
            live.apply(bad)
        assert counts() == before
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            live.apply(batch)
        after = counts()
        assert {t: after[t] - before[t] for t in TABLES} == {"customers": 0, "products": 0, "orders": 1,
                                                             "order_lines": 2, "events": 1, "reviews": 1}
        # the same batch again: its keys are found in the store (a 409), and nothing moves
        with pytest.raises(RowError) as again:
            live.apply(batch)
        assert again.value.status == 409 and counts() == after
        # what the store holds is what the workspace stored (timestamps as fixed-width text)
        assert live.store.db.execute("SELECT ordered_at FROM orders WHERE order_id = 'ON-1'").fetchall() == \
            [("2025-01-04 15:30:00.000000",)]
    finally:
        ws.close()


def test_a_query_sqlite_cannot_run_is_answered_by_duckdb():
    """median() has no SQLite counterpart (the features SQL holds it when no run gives the outlier reference)."""
    duck = duckdb.connect()
    duck.execute("CREATE TABLE x AS SELECT * FROM (VALUES (1.0), (2.0), (10.0)) t(v)")
    store = OnlineStore(duck)
    store.db.execute("CREATE TABLE x (v REAL)")  # empty here: the answer must come from DuckDB
    assert store.execute("SELECT median(v) AS m FROM x").fetchall() == [(2.0,)]
    assert store.execute("SELECT median(v) AS m FROM x").df()["m"].tolist() == [2.0]
