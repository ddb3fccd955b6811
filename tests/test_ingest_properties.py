"""Property tests: an ingest never loses or invents a row, and nothing is loaded twice."""

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopseg import IngestError, ingest
from shopseg.config import load_config
from shopseg.workspace import open_workspace

LENIENT = load_config(overrides={"ingest": {"max_quarantine_share": 1.0}})  # any share of bad rows loads

ids = st.sampled_from(["o1", "o2", "o3", "o4", "", " o5 "])
dates = st.sampled_from(["2024-01-01", "2024-02-30", "2024-03-04 10:00:00", "", "soon", "2023-12-31 23:59"])
kinds = st.sampled_from(["sale", "return", "RETURN", "gift", ""])
amounts = st.sampled_from(["0", "1.5", "-2", "abc", "", "1e3"])
rows = st.lists(st.tuples(ids, st.sampled_from(["c1", "c2", ""]), dates, kinds, amounts), min_size=1, max_size=25)


def write_csv(path, body):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["order_id", "customer_id", "ordered_at", "kind", "discount_amount"])
    w.writerows(body)
    path.write_text(buf.getvalue())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=rows, second=rows)
def test_ingest_never_loses_or_invents_a_row(tmp_path_factory, first, second):
    d = tmp_path_factory.mktemp("prop")
    with open_workspace(d / "ws") as ws:
        total_accepted = 0
        for i, body in enumerate((first, second, first + second)):
            path = d / f"orders{i}.csv"
            write_csv(path, body)
            before_orders, before_q = ws.count("orders"), ws.count("quarantine")
            r = ingest(ws, path, config=LENIENT)
            assert r.n_input == len(body)
            assert r.n_input == r.n_accepted + r.n_quarantined + r.n_duplicate
            assert ws.count("orders") - before_orders == r.n_accepted
            assert ws.count("quarantine") - before_q == r.n_quarantined
            total_accepted += r.n_accepted
        # nothing loaded twice: one row per key, and every stored row came from an accepted input row
        assert ws.scalar("SELECT count(*) = count(DISTINCT order_id) FROM orders")
        assert ws.count("orders") == total_accepted
        # the third file repeats the first two: it adds nothing new
        assert r.n_accepted == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=0, max_size=400), suffix=st.sampled_from([".csv", ".jsonl", ".parquet"]))
def test_random_bytes_give_a_clear_error_or_a_reconciled_load(tmp_path_factory, data, suffix):
    d = tmp_path_factory.mktemp("fuzz")
    path = d / f"customers{suffix}"
    path.write_bytes(data)
    with open_workspace(d / "ws") as ws:
        try:
            r = ingest(ws, path)
        except IngestError as e:
            assert str(path) in e.message or "customers" in e.message
            assert ws.count("customers") == 0 and ws.count("ingest_log") == 0
        else:
            assert r.n_input == r.n_accepted + r.n_quarantined + r.n_duplicate
            assert ws.count("customers") == r.n_accepted
