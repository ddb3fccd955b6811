"""Baskets as integer-coded transactions, built in DuckDB; parameter checks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..config import Config, load_config
from ..errors import ConfigError, DataContractError
from ..workspace import duckdb_settings

UNITS = ("order", "customer")
ALGORITHMS = ("fpgrowth", "eclat", "apriori")


# -- parameters ----------------------------------------------------------------

def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))


_HINT = "See docs/baskets.md for what each setting means; defaults are in the [baskets] config section."


def check_param(name: str, value: Any) -> Any:
    """Raise :class:`ConfigError` naming ``name``, the expected range and ``value`` if out of range."""
    ok: bool
    if name == "min_support":
        words, ok = "a number in (0, 1]", _is_number(value) and 0 < value <= 1
    elif name == "min_confidence":
        words, ok = "a number in [0, 1]", _is_number(value) and 0 <= value <= 1
    elif name == "min_lift":
        words, ok = "a number in [0, inf)", _is_number(value) and 0 <= value < math.inf
    elif name in ("max_len", "max_itemsets", "min_len", "top_n"):
        lo = 1
        words = f"an int in [{lo}, inf)"
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= lo
    elif name == "algorithm":
        words, ok = "one of " + ", ".join(map(repr, ALGORITHMS)), value in ALGORITHMS
    elif name == "unit":
        words, ok = "one of " + ", ".join(map(repr, UNITS)), value in UNITS
    else:  # pragma: no cover - programming error
        raise KeyError(name)
    if not ok:
        raise ConfigError(f"The {name!r} parameter must be {words}. Got {value!r} instead.", hint=_HINT)
    return value


def setting(name: str, value: Any, config: Config | Mapping | None) -> Any:
    """``value`` if given, else ``baskets.<name>`` from ``config`` (default: the shipped defaults)."""
    if value is None:
        cfg = config if config is not None else load_config()
        value = cfg[f"baskets.{name}"] if isinstance(cfg, Config) else cfg["baskets"][name]
    return value


def min_count(min_support: float, n: int) -> int:
    """Smallest basket count ``c`` with ``c / n >= min_support`` (as arules compares), at least 1."""
    c = max(1, math.ceil(min_support * n))
    while c > 1 and (c - 1) / n >= min_support:
        c -= 1
    while c / n < min_support:
        c += 1
    return c


# -- baskets ---------------------------------------------------------------------

@dataclass(frozen=True)
class Baskets:
    """Transactions with items coded 0..n_items-1 (codes in item-id order).

    ``codes[offsets[b]:offsets[b + 1]]`` are the distinct items of basket
    ``b`` (sorted).  ``item_ids[c]`` is the item (product_id) of code ``c``
    and ``item_names[c]`` its catalogue name (the id when unnamed).
    ``groups``/``group_offsets`` optionally cut the baskets into consecutive
    groups (segments).
    """

    codes: np.ndarray
    offsets: np.ndarray
    item_ids: np.ndarray
    item_names: np.ndarray
    groups: tuple[str, ...] = ()
    group_offsets: np.ndarray | None = None
    # baskets holding each item code, when the build counted them already (:meth:`item_counts`)
    counts: np.ndarray | None = field(default=None, repr=False, compare=False)
    # one basket per order from a workspace: each basket's order row (``orders.rowid``), ascending; the rules'
    # backtest splits the baskets by their orders' dates with it (basket/_backtest.py)
    keys: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def n_baskets(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def item_counts(self) -> np.ndarray:
        """Baskets holding each item code."""
        if self.counts is not None:
            return self.counts
        return np.bincount(self.codes, minlength=self.n_items).astype(np.int64)

    def to_lists(self) -> list[list[int]]:
        """Python lists of codes, as pyfim reads them."""
        flat = self.codes.tolist()
        off = self.offsets.tolist()
        return [flat[a:b] for a, b in zip(off[:-1], off[1:])]

    def group(self, name: str) -> "Baskets":
        """The baskets of one group (segment), same item coding."""
        i = self.groups.index(name)
        lo, hi = int(self.group_offsets[i]), int(self.group_offsets[i + 1])
        a, b = int(self.offsets[lo]), int(self.offsets[hi])
        return Baskets(self.codes[a:b], self.offsets[lo:hi + 1] - a, self.item_ids, self.item_names)

    def item_codes(self, items, *, what: str) -> np.ndarray:
        """Codes of ``items`` (ids); an item in no basket is a DataContractError (likely a typo)."""
        items = [str(x) for x in ([items] if isinstance(items, str) else items)]
        pos = np.searchsorted(self.item_ids, items)
        pos = np.minimum(pos, self.n_items - 1)
        bad = [x for x, p in zip(items, pos) if self.n_items == 0 or self.item_ids[p] != x]
        if bad:
            raise DataContractError(
                f"{what}: item(s) {', '.join(map(repr, bad[:5]))} are in no basket; "
                f"expected item ids such as {', '.join(map(repr, self.item_ids[:3].tolist()))}.",
                hint="Items are given by id (product_id), not by name.",
            )
        return pos.astype(np.int32)


def _no_baskets(what: str) -> DataContractError:
    return DataContractError(
        f"No basket to mine in {what}: every basket is empty (or there are none).",
        hint="Check the data: baskets need at least one item (and, from a workspace, "
        "sale orders with merchandise lines up to as_of).",
    )


def _item_names(item_ids: np.ndarray, names: pa.Table | None) -> np.ndarray:
    """The catalogue name of each item id (the id itself when ``names`` has none for it)."""
    out = item_ids.copy()
    if names is None or names.num_rows == 0:
        return out
    names = names.filter(pc.is_valid(names["name"]))
    pos = pc.index_in(names["item"].cast(pa.string()), value_set=pa.array(item_ids, pa.string()))
    found = pc.is_valid(pos).to_numpy(zero_copy_only=False)
    out[pos.to_numpy(zero_copy_only=False)[found].astype(np.int64)] = (
        names["name"].cast(pa.string()).to_numpy(zero_copy_only=False)[found])
    return out


_WS_PAIRS = """
SELECT {grp} AS grp, {basket} AS basket_id, ol.product_id AS item, p.name AS name
FROM order_lines ol
JOIN orders o ON o.order_id = ol.order_id
LEFT JOIN products p ON p.product_id = ol.product_id
{seg_join}
WHERE o.kind = 'sale' AND coalesce(p.is_merchandise, TRUE) AND o.ordered_at <= CAST(? AS TIMESTAMP)
  {extra}
"""


def baskets_from_workspace(ws, *, as_of, unit: str | None = None, config=None) -> Baskets:
    """One basket per sale order (or per customer) up to ``as_of``, from the workspace.

    Lines of non-merchandise products (postage, fees) are left out; guest
    orders (NULL customer_id) are kept for ``unit='order'``.  Items are
    product ids, named by ``products.name``.
    """
    unit = check_param("unit", setting("unit", unit, config))
    basket = "o.order_id" if unit == "order" else "o.customer_id"
    extra = "" if unit == "order" else "AND o.customer_id IS NOT NULL"
    sql = _WS_ORDERS.format(grp="NULL", basket=basket, seg_join="", extra=extra)
    return _ws_build(ws, sql, [as_of], f"the workspace up to as_of={as_of}", by_row=unit == "order")


# the smallest name of each product (products holds one row per product; byte order, as Python's)
_PRODUCT_NAMES_SQL = """
SELECT CAST(product_id AS VARCHAR) AS item, min(CAST(name AS VARCHAR)) AS name
FROM products WHERE product_id IS NOT NULL AND name IS NOT NULL GROUP BY ALL
"""


# The orders whose merchandise lines make the baskets: one row per (group, basket id, order).
_WS_ORDERS = """
SELECT {grp} AS grp, {basket} AS basket_id, o.order_id, o.rowid AS row_id
FROM orders o
{seg_join}
WHERE o.kind = 'sale' AND o.ordered_at <= CAST(? AS TIMESTAMP)
  {extra}
"""


# Codes made in DuckDB from the small tables, so one pass over the lines hands Python one int64 a line
# (basket code << 32 | item code) and no string per line: baskets numbered in (group, basket id) order over
# the orders, or, one basket per order, by the order's row (no sort of the ids; an order without a merchandise
# line has no key, so no basket), items ranked by id (byte order, as Python sorts str) over the catalogue (a
# product in no basket drops out in numpy; a line whose product is not in `products` comes as NULL, then its id
# joins the items and the pass runs again).  Each order carries its code already shifted (``k``), so a line
# costs one OR (a shift and a coalesce per line were ~15 % of the pass).  One basket per order, the orders' codes
# are a subquery the pass builds its hash table from (x100: 0.2-0.6 CPU s less than writing them to a table
# first); ranked, a table (the groups' ends are read from it too).
_CODE_SQL = (
    "SELECT order_id, grp, code, code << 32 AS k FROM ("
    "SELECT order_id, grp, {code} AS code FROM ({orders}) WHERE basket_id IS NOT NULL AND order_id IS NOT NULL)",
    "CREATE OR REPLACE TEMP TABLE {t}_items AS SELECT item, bool_or(merch) AS merch, "
    "row_number() OVER (ORDER BY item) - 1 AS code FROM ("
    "SELECT CAST(product_id AS VARCHAR) AS item, coalesce(is_merchandise, TRUE) AS merch FROM products "
    "UNION ALL SELECT item, TRUE FROM {t}_extra) WHERE item IS NOT NULL GROUP BY item",
)
# A line's item code is its product id cast to a temporary ENUM of the items in code order (``{t}_item``; NULL
# when the product is not among them) instead of a join with the items' table: x100, 52M lines, the pass
# 1.8-2.7 -> 1.5-1.9 CPU s.  Lines of a product that is not merchandise are left out by their codes ({not_merch}).
_ITEM_ENUM = "CREATE OR REPLACE TEMP TYPE {t}_item AS ENUM (SELECT item FROM {t}_items ORDER BY code)"
_CODES = ("SELECT k | i AS k FROM (SELECT b.k, enum_code(TRY_CAST(ol.product_id AS {t}_item)) AS i "
          "FROM order_lines ol JOIN {orders} b ON b.order_id = ol.order_id "
          "WHERE ol.product_id IS NOT NULL){not_merch}")
_MISSING = ("INSERT INTO {t}_extra SELECT DISTINCT CAST(ol.product_id AS VARCHAR) FROM order_lines ol "
            "JOIN {orders} b ON b.order_id = ol.order_id ANTI JOIN {t}_items i ON i.item = ol.product_id "
            "WHERE ol.product_id IS NOT NULL")
# the optimizers that would reorder the codes' joins (see _ws_build); the query lists the big table first
_AS_WRITTEN = "join_order,build_side_probe_side"
_RANKED = "CAST(dense_rank() OVER (ORDER BY grp, basket_id) - 1 AS BIGINT)"
# rows of one chunk: the keys are streamed from DuckDB and packed this many at a time.  1M keys: a chunk's Arrow
# batch (8 MB) and the pack's masks and copies stay small enough for the allocators to reuse, where at 4M each
# was fresh memory from the kernel (x100 build: 1.3-2.2 -> 1.0-1.2 system CPU s, 209k -> 129-145k page faults)
CHUNK_ROWS = 1 << 20


def _fill(batches, n: int) -> np.ndarray | None:
    """The int64 keys of a stream of one-column Arrow batches, in one buffer of ``n`` (grown if short); None
    when a key is NULL (the stream is read to its end all the same)."""
    key = np.empty(n, np.int64)
    at = 0
    for batch in batches:
        if key is None or batch.column(0).null_count:
            key = None
            continue
        a = batch.column(0).to_numpy()
        if at + len(a) > len(key):  # an order in two groups: its lines come twice
            grown = np.empty(max(2 * len(key), at + len(a)), np.int64)
            grown[:at] = key[:at]
            key = grown
        key[at:at + len(a)] = a
        at += len(a)
    return None if key is None else key[:at]


def _pack_keys(key: np.ndarray, n_items: int, chunk: int = CHUNK_ROWS):
    """(item codes, offsets, basket code of each basket, baskets holding each item) from sorted keys
    ``basket << 32 | item``: an item twice in a basket once, a basket code without a key (an empty basket) not a
    basket.  Packed ``chunk`` keys at a time, so memory is the keys, the codes and one chunk's masks; each basket's
    start found where the chunk's basket code changes (no array per basket code)."""
    codes = np.empty(len(key), np.int32)
    counts = np.zeros(n_items, np.int64)
    starts, baskets = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    at, prev = 0, -1
    for lo in range(0, len(key), chunk):
        k = key[lo:lo + chunk]
        keep = np.empty(len(k), bool)
        keep[0] = k[0] != prev
        np.not_equal(k[1:], k[:-1], out=keep[1:])
        kept = k[keep]
        prev_basket, prev = prev >> 32, k[-1]
        if not len(kept):
            continue
        c = codes[at:at + len(kept)]
        np.bitwise_and(kept, 0xFFFFFFFF, out=c, casting="unsafe")
        counts += np.bincount(c, minlength=n_items)
        b = kept >> 32
        new = np.empty(len(b), bool)
        new[0] = b[0] != prev_basket
        np.not_equal(b[1:], b[:-1], out=new[1:])
        first = np.flatnonzero(new)
        starts.append(first + at)
        baskets.append(b[first])
        at += len(kept)
    if at < len(codes):  # a view when few keys were repeats (no copy of ~4 bytes a line; the rest held)
        codes = codes[:at].copy() if at < 0.9 * len(codes) else codes[:at]
    return codes, np.append(np.concatenate(starts), at), np.concatenate(baskets), counts


def _drop_unused(codes: np.ndarray, item_ids: np.ndarray, counts: np.ndarray):
    """(codes, item ids, baskets of each item) without the items in no basket: codes renumbered in place (their
    order kept)."""
    present = counts > 0
    if not present.all():
        lut = (np.cumsum(present) - 1).astype(np.int32)
        np.take(lut, codes, out=codes, mode="clip")  # every code is in range; "raise" would buffer a copy
        item_ids, counts = item_ids[present], counts[present]
    return codes, item_ids, counts


def _ws_build(ws, orders: str, params: list, what: str, *, allow_empty: bool = False,
              by_row: bool = False) -> Baskets:
    """Baskets of the merchandise lines of the workspace's orders ``orders`` (a query of grp, basket_id,
    order_id, and row_id with ``by_row``): coded in DuckDB, packed in numpy.  Baskets in (grp, basket_id)
    order, or with ``by_row`` (one basket per order, no group) in row_id order.  No basket is an error unless
    ``allow_empty`` (then no basket, no item)."""
    # The small tables by execute(); the keys are read by a relation's Arrow reader (it streams, where an
    # execute() result's reader copies every row first), after the finished results above.
    t = "_shopseg_basket"
    con = ws.con
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {t}_extra (item VARCHAR)")
        codes_of = _CODE_SQL[0].format(orders=orders, code="row_id" if by_row else _RANKED)
        if by_row:
            b_src, b_params, groups = f"({codes_of})", list(params), []
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {t}_orders AS {codes_of}", params)
            b_src, b_params = f"{t}_orders", []
            groups = con.execute(f"SELECT grp, max(code) + 1 FROM {t}_orders WHERE grp IS NOT NULL "
                                 "GROUP BY grp ORDER BY grp").fetchall()
        n_lines = con.execute("SELECT count(*) FROM order_lines").fetchall()[0][0]
        for _ in range(2):  # twice when a line's product is not in `products`
            con.execute(_CODE_SQL[1].format(t=t))
            con.execute(_ITEM_ENUM.format(t=t))
            not_merch = [r[0] for r in con.execute(f"SELECT code FROM {t}_items WHERE NOT merch ORDER BY code").fetchall()]
            nm = f" WHERE i IS NULL OR i NOT IN ({', '.join(map(str, not_merch))})" if not_merch else ""
            # The join as written: the lines probe, the orders' codes are built (DuckDB may otherwise build
            # its hash table on the lines, ~65 bytes a line, where the stream needs a chunk).
            with duckdb_settings(con, {"disabled_optimizers": _AS_WRITTEN}):
                reader = con.sql(_CODES.format(t=t, orders=b_src, not_merch=nm),
                                 params=b_params or None).to_arrow_reader(CHUNK_ROWS)
                key = _fill(reader, int(n_lines))
                del reader
            if key is not None:
                key.sort(kind="stable")  # timsort: the lines come in runs of one order each
                break
            con.execute(_MISSING.format(t=t, orders=b_src), b_params)
        if key is None:  # pragma: no cover - every product of a line joined the items above
            raise RuntimeError("A line's product is still not among the items after they were added.")
        item_ids = con.sql(f"SELECT item FROM {t}_items ORDER BY code").to_arrow_table()["item"]
        item_ids = item_ids.to_numpy(zero_copy_only=False).astype(object)
        names = con.sql(_PRODUCT_NAMES_SQL).to_arrow_table()
    finally:
        con.execute("SELECT 1").fetchall()  # the reader's result, if an error left it open
        for suffix in ("_extra", "_orders", "_items"):
            con.execute(f"DROP TABLE IF EXISTS {t}{suffix}")
        con.execute(f"DROP TYPE IF EXISTS {t}_item")
    if not len(key):
        if allow_empty:
            empty = np.zeros(0, object)
            return Baskets(np.zeros(0, np.int32), np.zeros(1, np.int64), empty, empty)
        raise _no_baskets(what)
    codes, offsets, basket_codes, counts = _pack_keys(key, len(item_ids))
    del key
    codes, item_ids, counts = _drop_unused(codes, item_ids, counts)
    # each group's baskets: those whose code is under the group's last + 1; a group left without one dropped
    before = np.r_[0, np.searchsorted(basket_codes, np.array([int(n) for _, n in groups], np.int64))]
    has = np.diff(before) > 0
    gofs = np.r_[0, before[1:][has]]
    kept = tuple(str(g) for (g, _), h in zip(groups, has) if h)
    return Baskets(codes, offsets, item_ids, _item_names(item_ids, names), kept, gofs if groups else None,
                   counts, basket_codes if by_row else None)


def segment_baskets(ws, *, scheme: str, as_of, unit: str, segment_run_id: int | None) -> tuple[Baskets, int]:
    """Baskets of the customers of each segment of ``scheme`` (grouped by segment), and the run used."""
    if not ws.has_table("segments"):
        raise DataContractError(
            "There is no `segments` table in the workspace, so rules per segment cannot be mined.",
            hint="Run a segmentation first (e.g. `shopseg segment ...`), then mine rules per segment.",
        )
    from ..schema import check_columns

    check_columns("segments", ws.columns("segments"), ["run_id", "customer_id", "scheme", "segment"])
    if segment_run_id is None:  # called outside a run: the newest finished run with this scheme
        segment_run_id = ws.source_run("segments", None, "scheme = ?", [scheme])
        if segment_run_id is None:
            known = [r[0] for r in ws.sql("SELECT DISTINCT scheme FROM segments ORDER BY 1")]
            raise DataContractError(
                f"No segments of scheme {scheme!r} in `segments`; schemes found: "
                f"{', '.join(known) if known else '(none)'}."
            )
    basket = "o.order_id" if unit == "order" else "o.customer_id"
    sql = _WS_ORDERS.format(
        grp="s.segment",
        basket=basket,
        seg_join="JOIN segments s ON s.customer_id = o.customer_id AND s.scheme = ? AND s.run_id = ?",
        extra="",
    )
    b = _ws_build(ws, sql, [scheme, segment_run_id, as_of],
                  f"segments of scheme {scheme!r} (run {segment_run_id}) up to as_of={as_of}")
    return b, int(segment_run_id)
