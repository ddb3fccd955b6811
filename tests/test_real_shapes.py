"""Shops unlike the textbook: every surface completes on each shape (issue #16, item 6).

Each shape is a hand-made shop of a few dozen rows, written below so a reader can see what it holds:

* ``tiny``        8 customers, 19 orders over six months, one product category, no browsing, no reviews
* ``one_order``   24 customers with exactly one order each (nobody came back)
* ``zero_spend``  12 customers, every price 0 (a shop whose export has no money column)
* ``single_day``  15 customers, every order on the same day
* ``reviews_pt``  the tiny shop plus 12 reviews in Portuguese: too few to learn a model, so not analysed
* ``cdnow``       17 lines of CDNOW's raw purchase log (8 customers): no products file, events or reviews

For each: ``shopseg run`` exits 0 with every stage done or skipped with its reason, the report has no section
that failed, and ``customer`` (every customer), ``segments``, ``plan``, ``export`` and the service's main
GETs complete without a traceback.
"""

from __future__ import annotations

import csv
import json
import warnings
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from shopseg.cli import app
from shopseg.ingest import ingest
from shopseg.report._build import SECTION_FAILED
from shopseg.workspace import open_workspace

D0 = date(2024, 1, 1)
PRODUCTS = [("p1", "Mug", "Kitchen", 8.0), ("p2", "Teapot", "Kitchen", 25.0), ("p3", "Candle", "Home", 5.0)]


def _orders_tiny():
    # customer -> day offsets of their orders (from 2024-01-01); c7 and c8 bought once, early
    days = {"c1": [0, 20, 41, 60, 95, 130, 170], "c2": [10, 70, 150], "c3": [5, 100], "c4": [30, 33, 36],
            "c5": [140], "c6": [160, 175], "c7": [2], "c8": [15]}
    rows, n = [], 0
    for c, offs in days.items():
        for k, d in enumerate(offs):
            n += 1
            rows.append((f"o{n}", c, D0 + timedelta(days=d), PRODUCTS[(n + k) % 3][0], 1 + n % 3, None))
    return rows


def _shape(name):
    """(customers, orders as (order_id, customer, day, product, quantity, price or None = catalogue), reviews)."""
    if name in ("tiny", "reviews_pt"):
        orders = _orders_tiny()
    elif name == "one_order":
        orders = [(f"o{i}", f"c{i}", D0 + timedelta(days=4 * i), PRODUCTS[i % 3][0], 1, None) for i in range(24)]
    elif name == "zero_spend":
        orders = [(f"o{i}", f"c{i % 12}", D0 + timedelta(days=7 * i), PRODUCTS[i % 3][0], 2, 0.0) for i in range(30)]
    elif name == "single_day":
        orders = [(f"o{i}", f"c{i % 15}", D0, PRODUCTS[i % 3][0], 1, None) for i in range(20)]
    else:
        raise ValueError(name)
    customers = sorted({o[1] for o in orders})
    reviews = []
    if name == "reviews_pt":
        texts = ["Produto muito bom, chegou antes do prazo", "Não recebi o produto", "Ótimo, recomendo",
                 "A entrega atrasou muito", "Qualidade excelente", "Veio quebrado, péssimo"]
        reviews = [(f"r{i}", orders[i][1], orders[i][3], 5 if i % 2 == 0 else 1, texts[i % 6],
                    orders[i][2] + timedelta(days=3)) for i in range(12)]
    return customers, orders, reviews


def _write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


# CDNOW's raw purchase log (Fader & Hardie's layout): customer, yyyymmdd, CDs, dollars; nothing else
CDNOW = """\
 00001 19970101  1   11.77
 00002 19970112  1   12.00
 00002 19970112  5   77.00
 00003 19970102  2   20.76
 00003 19970330  2   20.76
 00003 19970402  2   19.54
 00003 19971115  5   57.45
 00004 19970101  2   29.33
 00004 19970118  2   29.73
 00004 19970802  1   14.96
 00005 19970101  2   29.33
 00005 19970114  1   13.97
 00005 19970204  3   38.90
 00006 19970101  1   20.99
 00007 19970101  2   28.74
 00008 19970101  1    9.77
 00008 19970213  1   13.97
"""


def _build(tmp_path, name):
    if name == "cdnow":
        ws_path = tmp_path / "ws"
        (tmp_path / "CDNOW_tiny.txt").write_text(CDNOW, encoding="latin-1")
        with open_workspace(ws_path) as ws:
            ingest(ws, tmp_path / "CDNOW_tiny.txt", preset="cdnow")
        return ws_path, [str(i) for i in range(1, 9)]
    customers, orders, reviews = _shape(name)
    price = {p: v for p, _, _, v in PRODUCTS}
    ws_path = tmp_path / "ws"
    ws = open_workspace(ws_path)
    try:
        ingest(ws, _write(tmp_path / "customers.csv", ["customer_id"], [(c,) for c in customers]), table="customers")
        ingest(ws, _write(tmp_path / "products.csv", ["product_id", "name", "category", "price"], PRODUCTS),
               table="products")
        ingest(ws, _write(tmp_path / "orders.csv", ["order_id", "customer_id", "ordered_at"],
                          [(o, c, f"{d:%Y-%m-%d} 10:00:00") for o, c, d, *_ in orders]), table="orders")
        ingest(ws, _write(tmp_path / "order_lines.csv", ["order_id", "product_id", "quantity", "unit_price"],
                          [(o, p, q, price[p] if v is None else v) for o, _, _, p, q, v in orders]),
               table="order_lines")
        if reviews:
            ingest(ws, _write(tmp_path / "reviews.csv",
                              ["review_id", "customer_id", "product_id", "rating", "text", "reviewed_at"],
                              [(*r[:5], f"{r[5]:%Y-%m-%d} 12:00:00") for r in reviews]), table="reviews")
    finally:
        ws.close()
    return ws_path, customers


def _login(client) -> None:
    """Log the test client into the dashboard with the read key (the login form posts it)."""
    r = client.post("/dashboard/login", content="key=r", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (200, 303), r.status_code


def _cli(ws_path, *args):
    res = CliRunner().invoke(app, ["-w", str(ws_path), *args])
    assert "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res


SHAPES = ["tiny", "one_order", "zero_spend", "single_day", "reviews_pt", "cdnow"]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_surface_completes_on_the_shape(tmp_path, shape):
    ws_path, customers = _build(tmp_path, shape)
    res = _cli(ws_path, "run")
    assert res.exit_code == 0, res.output
    assert "Run 1 as of" in res.output and ": done" in res.output
    # shopseg's own warnings once each, in words; none of the numerical libraries'
    notes_printed = [ln for ln in res.output.splitlines() if ln.startswith("Note:")]
    assert len(notes_printed) == len(set(notes_printed))
    assert "RuntimeWarning" not in res.output and "ConvergenceWarning" not in res.output
    with open_workspace(ws_path, create=False, read_only=True) as ws:
        stages = ws.scalar("SELECT stages FROM runs WHERE run_id = 1")
        report = sorted(ws.reports_dir.glob("report-run1.html"))
        assert report, "the run wrote no report"
        assert SECTION_FAILED not in report[0].read_text(encoding="utf-8")
        schemes = [s for (s,) in ws.sql("SELECT DISTINCT scheme FROM segments WHERE run_id = 1")]
        campaigns = [c for (c,) in ws.sql("SELECT DISTINCT campaign FROM actions WHERE run_id = 1")] \
            if ws.has_table("actions") else []
    notes = json.loads(stages)
    for name, st in notes.items():  # every stage done, or skipped with its reason
        assert st["status"] in ("done", "skipped"), (name, st)
        assert st["status"] == "done" or len(st["note"]) > len("skipped: "), (name, st)
    if shape == "cdnow":  # one product ('CD'): nothing sells together, nothing to recommend, said so
        assert notes["baskets"]["status"] == notes["recommend"]["status"] == "skipped"
        assert notes["baskets"]["note"] == "skipped: 1 product(s) sold by as_of; baskets need at least two"
    if shape == "reviews_pt":  # 12 Portuguese reviews: no default model, too few to learn one; said with counts
        assert notes["reviews"]["by_language"] == {"pt": {
            "reviews": 12, "with_text": 12, "rated": 12, "scored": 0, "coverage": 0.0, "mode": "none"}}
        assert notes["reviews"]["sentiment"].startswith("pt: not analysed (12 reviews with text, 12 rated")
    for c in customers:
        assert _cli(ws_path, "customer", c).exit_code == 0
    assert schemes
    for s in schemes:
        assert _cli(ws_path, "segments", "--scheme", s).exit_code == 0
    assert _cli(ws_path, "plan").exit_code == 0  # "No campaign planned yet" when the act stage chose nobody
    if campaigns:
        assert _cli(ws_path, "export", campaigns[0]).exit_code == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's TestClient warns about plain httpx (ENVIRONMENT.md)
        from fastapi.testclient import TestClient

        from shopseg.serve import create_app

        client = TestClient(create_app(ws_path, "r", "w"))
        for path in ("/health", "/segments", f"/customers/{customers[0]}", "/campaign", "/churn/threshold-curve"):
            assert client.get(path, headers={"X-API-Key": "r"}).status_code < 500, path
        _login(client)  # the dashboard's pages, logged in
        for path in ("/dashboard", f"/dashboard/customer?id={customers[0]}", f"/dashboard/customer?id={customers[-1]}",
                     "/dashboard/campaign", "/dashboard/churn"):
            r = client.get(path)
            assert r.status_code == 200 and "/dashboard/login" not in str(r.url), path


def test_a_buyer_without_clv_or_churn_figures_is_shown_not_a_crash(tmp_path):
    """A model that gave no figure (NULL CLV, P(alive), churn probability, as Olist's degenerate BG/NBD did)
    is shown as n/a by `shopseg customer` and the dashboard."""
    ws_path, customers = _build(tmp_path, "cdnow")
    assert _cli(ws_path, "run", "--no-report").exit_code == 0
    with open_workspace(ws_path) as ws:
        rid = ws.latest_run_id()
        # this shop is too small for BG/NBD: write the clv rows a degenerate fit left (every figure NULL)
        ws.write_output("clv", rid, "SELECT '3' AS customer_id, CAST(NULL AS DOUBLE) AS p_alive, "
                        "CAST(NULL AS DOUBLE) AS clv, CAST(NULL AS DOUBLE) AS expected_purchases_90d, "
                        "CAST(NULL AS DOUBLE) AS expected_order_value, CAST(NULL AS TIMESTAMP) AS expected_next_order_at")
    res = _cli(ws_path, "customer", "3")
    assert res.exit_code == 0 and "CLV         n/a" in res.output and "P(alive)    n/a" in res.output
    assert _cli(ws_path, "report").exit_code == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

        from shopseg.serve import create_app

        client = TestClient(create_app(ws_path, "r", "w"))
        _login(client)
        r = client.get("/dashboard/customer?id=3")
        assert r.status_code == 200 and "CLV n/a, P(alive) n/a" in r.text
        assert client.get("/customers/3", headers={"X-API-Key": "r"}).status_code == 200


def test_only_shopseg_warnings_are_printed_once_each_in_words():
    import warnings as w

    from click.testing import CliRunner as Runner

    from shopseg.cli import _warnings_in_words, err_console
    from shopseg.segment._common import SegmentWarning

    def noisy():
        with _warnings_in_words():
            for _ in range(3):
                w.warn("RFM: ties leave the frequency score with only 2 distinct value(s)", SegmentWarning)
                w.warn("invalid value encountered in divide", RuntimeWarning)
                w.warn("Number of distinct clusters (3) found smaller than n_clusters (6)", UserWarning)

    with Runner().isolation() as (out, err, *_):
        err_console.file = None  # rich resolves sys.stderr at print time
        noisy()
        text = err.getvalue().decode() if err is not None else out.getvalue().decode()
    assert text.count("Note: RFM: ties leave the frequency score") == 1
    assert "invalid value" not in text and "distinct clusters" not in text


def test_a_plain_user_warning_is_ours_only_when_raised_in_the_package(tmp_path):
    """Not any file under a folder named 'shopseg': a checkout cloned into .../shopseg/ holds the tests too (this
    test's own UserWarning was printed as shopseg's from such a clone)."""
    import warnings as w

    import shopseg.segment
    from shopseg.cli._common import _is_ours

    def msg(filename):
        return w.WarningMessage("x", UserWarning, filename, 1)

    assert _is_ours(msg(shopseg.segment.__file__))
    assert not _is_ours(msg(str(tmp_path / "shopseg" / "tests" / "test_x.py")))
    assert not _is_ours(msg("<string>"))
