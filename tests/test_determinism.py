"""Same rows, same bits: the sums behind stored outputs do not depend on DuckDB's threads.

DuckDB adds a DOUBLE ``sum`` in one partial aggregate per thread and merges them in the order the threads
finish, so a plain float sum over more than one row group (122,880 rows) can differ in its last bits between
runs and machine loads. The shop below has ~300,000 order lines, their order scattered, so that one thread and
four threads take different partial sums; every frame that feeds a stored table must still be equal bit for bit
(shopseg._exact).
"""

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from shopseg.config import load_config
from shopseg.features import customer_features
from shopseg.predict._churn_data import _EXTRAS_SQL
from shopseg.predict._clv_backtest import window_outcomes
from shopseg.predict.clv import order_values, summary_from_orders

AS_OF = datetime(2024, 1, 1)
N_LINES = 300_000


@pytest.fixture(scope="module")
def big_ws(tmp_path_factory):
    from shopseg.workspace import open_workspace

    ws = open_workspace(tmp_path_factory.mktemp("det") / "ws")
    con = ws.con
    # 30,000 orders of 3,000 customers over two years; 10 lines per order on average, prices with 2 decimals
    con.execute("""
        INSERT INTO orders BY NAME
        SELECT 'o' || i AS order_id, 'c' || (hash(i) % 3000) AS customer_id,
               TIMESTAMP '2022-01-01' + to_seconds(CAST(hash(i, 1) % (730 * 86400) AS BIGINT)) AS ordered_at,
               CASE WHEN hash(i, 2) % 20 = 0 THEN 'return' ELSE 'sale' END AS kind,
               CASE WHEN hash(i, 3) % 5 = 0 THEN (hash(i, 4) % 500) / 100 ELSE 0 END AS discount_amount
        FROM range(30000) t(i)""")
    con.execute("""
        INSERT INTO products BY NAME
        SELECT 'p' || i AS product_id, 'cat' || (i % 7) AS category, 'brand' || (i % 11) AS brand
        FROM range(200) t(i)""")
    con.execute(f"""
        INSERT INTO order_lines BY NAME
        SELECT 'o' || (hash(i) % 30000) AS order_id, i AS line_no, 'p' || (hash(i, 5) % 200) AS product_id,
               CAST(1 + hash(i, 6) % 12 AS DOUBLE) AS quantity, (hash(i, 7) % 10000) / 100 AS unit_price,
               CASE WHEN hash(i, 8) % 7 = 0 THEN (hash(i, 9) % 300) / 100 ELSE 0 END AS discount_amount
        FROM range({N_LINES}) t(i)""")
    yield ws
    ws.close()


def _with_threads(ws, n: int, fn):
    ws.con.execute(f"SET threads = {n}")
    try:
        return fn()
    finally:
        ws.con.execute("RESET threads")


def _assert_bitwise_equal(a: pd.DataFrame, b: pd.DataFrame):
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype.kind == "f":
            bad = ~((x == y) | (np.isnan(x) & np.isnan(y)))
            assert not bad.any(), (c, int(bad.sum()), x[bad][:3], y[bad][:3])
        else:
            assert (a[c].astype(str) == b[c].astype(str)).all(), c


def _by_customer(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("customer_id", kind="stable").reset_index(drop=True)


def test_the_shop_is_big_enough_for_several_partial_sums(big_ws):
    """Without several row groups DuckDB takes one partial sum whatever the threads: the tests below could not fail."""
    groups = big_ws.con.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('order_lines')").fetchone()[0]
    assert groups >= 2


@pytest.mark.parametrize("what", ["features", "clv_summary", "clv_summary_spend", "clv_summary_values",
                                  "clv_window", "churn_extras"])
def test_one_thread_and_four_give_the_same_bits(big_ws, what):
    cfg = load_config()

    def run():
        if what == "features":
            return _by_customer(customer_features(big_ws, AS_OF, config=cfg))
        if what == "clv_summary":
            return summary_from_orders(big_ws, AS_OF)
        if what == "clv_summary_spend":
            return summary_from_orders(big_ws, AS_OF, spend=True)
        if what == "clv_summary_values":
            with order_values(big_ws, AS_OF) as t:
                return summary_from_orders(big_ws, AS_OF, values=t)
        if what == "clv_window":
            return window_outcomes(big_ws.con, datetime(2023, 7, 1), AS_OF)
        # the churn frame's own sums before numeric_features rounds them to 1e-6 (which hides most differences)
        return _by_customer(big_ws.con.execute(_EXTRAS_SQL.replace("/*only:o*/", "").replace("/*only*/", ""),
                                               {"cutoff": datetime(2023, 7, 1), "h": 90.0, "max_rating": 2.0}).df())

    one = _with_threads(big_ws, 1, run)
    for _ in range(3):  # the merge order is the threads' finishing order: a few tries
        _assert_bitwise_equal(one, _with_threads(big_ws, 4, run))


def test_amounts_past_the_bounds_are_quarantined_and_the_largest_accepted_sum_exactly(tmp_path):
    """The exact sums hold |total| < 1e28 (DECIMAL(38, 10)): a unit price of 1e30 in a file used to load and then
    stop the run with DuckDB's 'Could not cast value ... to DECIMAL(38,10)'.  Amounts past schema.MAX_MONEY and
    quantities past schema.MAX_QUANTITY are quarantined with their reason; a line at both bounds (1e21) sums."""
    from shopseg import ingest
    from shopseg.workspace import open_workspace

    path = tmp_path / "lines.csv"
    path.write_text("order_id,customer_id,ordered_at,product_id,quantity,unit_price\n"
                    "O1,C1,2023-06-01,P1,2,1.25\n"
                    "O2,C1,2023-07-01,P1,1e9,1e12\n"       # at both bounds: accepted
                    "O3,C2,2023-07-02,P1,1,1e30\n"         # row 3: a price past MAX_MONEY
                    "O4,C2,2023-07-03,P1,1000000001,1\n"   # row 4: a quantity past MAX_QUANTITY
                    "O5,C2,2023-07-04,P1,1,3.5\n")
    ws = open_workspace(tmp_path / "ws")
    mapping = {"tables": {"orders": ["order_id", "customer_id", "ordered_at"], "products": ["product_id"],
                          "order_lines": ["order_id", "product_id", "quantity", "unit_price"]}}
    r = ingest(ws, path, mapping=mapping, config=load_config(overrides={"ingest": {"max_quarantine_share": 1.0}}))
    assert (r.n_accepted, r.n_quarantined) == (3, 2)
    assert ws.sql("SELECT row_number, reason FROM quarantine ORDER BY 1") == [
        (3, "unit_price: expected a number from 0 to 1,000,000,000,000, got '1e30'"),
        (4, "quantity: expected a number greater than 0 and at most 1,000,000,000, got '1000000001'")]
    summary = summary_from_orders(ws, AS_OF, spend=True).set_index("customer_id")
    feats = customer_features(ws, AS_OF, config=load_config()).set_index("customer_id")
    ws.close()
    assert feats.loc["C1", "monetary_total"] == 1e21 + 2.5
    assert feats.loc["C2", "monetary_total"] == 3.5
    assert summary.loc["C1", "frequency"] == 1
