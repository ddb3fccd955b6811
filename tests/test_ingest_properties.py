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


line_rows = st.lists(st.tuples(st.sampled_from(["O1", "O2", "O3", ""]), st.sampled_from(["P1", "P2"]),
                               st.sampled_from(["1", "2", "0"])), min_size=1, max_size=20)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=line_rows, recompute=st.booleans(), chunk=st.sampled_from([1, 2, 3, 10**6]))
def test_line_numbers_are_row_number_in_file_order_on_either_path(tmp_path_factory, monkeypatch, body, recompute,
                                                                  chunk):
    """Order lines without numbers in the file: each accepted line gets its position among its order's accepted lines
    in file order, and the table keeps the file's order, whether the checked rows are stored (a small file) or read
    again in chunks of file rows in file order (a file past the memory budget): interleaved orders, exact duplicates
    (a later copy is dropped) and quarantined rows (quantity 0, no order id) between an order's lines."""
    from shopseg.ingest import _load, _write

    monkeypatch.setattr(_load, "materialise_checked", lambda con, n_rows, n_columns: not recompute)
    monkeypatch.setattr(_write, "MIN_CHUNK_ROWS", chunk)
    monkeypatch.setattr(_write, "SORT_BYTES_PER_ROW", 2**62)
    path = tmp_path_factory.mktemp("lines") / "lines.csv"
    path.write_text("order_id,customer_id,ordered_at,product_id,quantity,unit_price\n"
                    + "".join(f"{o},C1,2024-01-01,{p},{q},2\n" for o, p, q in body))
    ws = open_workspace(tmp_path_factory.mktemp("ws"))
    mapping = {"tables": {"orders": ["order_id", "customer_id", "ordered_at"], "products": ["product_id"],
                          "order_lines": ["order_id", "product_id", "quantity", "unit_price"]}}
    ingest(ws, path, mapping=mapping, config=LENIENT)
    seen, expected, counts = set(), [], {}
    for o, p, q in body:  # the rule in plain Python: first copies of rows with an order id and a quantity above 0
        if (o, p, q) in seen:
            continue
        seen.add((o, p, q))
        if o and q != "0":
            counts[o] = counts.get(o, 0) + 1
            expected.append((o, counts[o], p))
    assert ws.sql("SELECT order_id, line_no, product_id FROM order_lines") == expected
    ws.close()

