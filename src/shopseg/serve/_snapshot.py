"""The latest run's per-customer output rows in memory (the hot path of ``GET /customers/{id}``): the same parts
the read layer reads with SQL (:data:`shopseg.views.VIEW_PARTS`), looked up in O(log n)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..views import VIEW_PARTS
from ..views.customer import MANY_ROWS, ordered_by_rank


def _cell(v):
    """A value of a snapshot column as the JSON path would give it (None for NULL / NaN / NaT)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(v)
    if isinstance(v, np.datetime64):
        return None if np.isnat(v) else pd.Timestamp(v).to_pydatetime()
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v


class _SnapTable:
    """One run's rows of an output table, in memory, ordered by customer_id: O(log n) look-ups.

    The rows are one numpy structured array, so a row becomes Python values in one C call
    (``.item()``) rather than one conversion per cell; text columns are dictionary-encoded
    (int32 codes + values), so 1M customers x a few schemes stay a few hundred MB;
    customer_id is not stored per row.
    """

    def __init__(self, df: pd.DataFrame, limit: int):
        self.limit = limit
        ids = df["_shopseg_id"].to_numpy(dtype=str) if len(df) else np.array([], dtype=str)
        if len(ids):  # first row of each customer (rows come ordered by customer_id)
            self.starts = np.concatenate([[0], np.flatnonzero(ids[1:] != ids[:-1]) + 1, [len(ids)]])
            self.ids = ids[self.starts[:-1]]
        else:
            self.starts, self.ids = np.array([0]), ids
        self.names: list[str] = []
        self.id_pos: list[int] = []  # where customer_id goes
        self.float_pos: list[int] = []  # NaN -> None
        self.text: list[tuple[int, list]] = []  # (position, values by code); code -1 -> None
        self.obj_pos: list[int] = []  # anything else: _cell per value
        fields, arrays = [], []
        for c in df.columns:
            if c == "_shopseg_id":
                continue
            pos = len(self.names)
            self.names.append(c)
            col = df[c]
            if c == "customer_id":
                self.id_pos.append(pos)
                arr = np.zeros(len(df), dtype=np.int8)
            elif isinstance(col.dtype, np.dtype) and col.dtype.kind in "biuf":
                arr = col.to_numpy()
                if arr.dtype.kind == "f":
                    self.float_pos.append(pos)
            elif isinstance(col.dtype, np.dtype) and col.dtype.kind == "M":  # tz-naive: .item() gives datetime
                arr = col.to_numpy().astype("datetime64[us]")
            elif pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col) \
                    or pd.api.types.is_datetime64_any_dtype(col):  # nullable / tz-aware: object cells
                arr = col.to_numpy(dtype=object)
                self.obj_pos.append(pos)
            else:
                codes, uniques = pd.factorize(col, use_na_sentinel=True)
                arr = codes.astype(np.int32)
                self.text.append((pos, [_cell(u) for u in uniques]))
            fields.append((f"f{pos}", arr.dtype))
            arrays.append(arr)
        self.rec = np.empty(len(df), dtype=fields)
        for (name, _), arr in zip(fields, arrays):
            self.rec[name] = arr

    def rows(self, j: int, customer_id: str) -> list[dict]:
        """The rows of the ``j``-th customer of :attr:`ids` (who is ``customer_id``), at most ``limit``."""
        lo, hi = int(self.starts[j]), int(self.starts[j + 1])
        out = []
        for rec in self.rec[lo:min(hi, lo + self.limit)].tolist():
            vals = list(rec)
            for p in self.id_pos:
                vals[p] = customer_id
            for p in self.float_pos:
                if math.isnan(vals[p]):
                    vals[p] = None
            for p, uniq in self.text:
                k = vals[p]
                vals[p] = None if k < 0 else uniq[k]
            for p in self.obj_pos:
                vals[p] = _cell(vals[p])
            out.append(dict(zip(self.names, vals)))
        return out


class _Snapshot:
    """The latest run's per-customer output rows in memory, read once per run.

    GET /customers/{id} then needs no SQL for a customer the run knows: the live
    part comes from :meth:`LiveUpdater.cached` (updated when a write commits).
    """

    def __init__(self, cur, runs: dict):
        self.tables: dict[str, _SnapTable] = {}
        for table, (sel, many) in VIEW_PARTS.items():
            rid = runs["tables"].get(table)
            if rid is None:
                continue
            order = "customer_id, rank" if ordered_by_rank(runs, table) else "customer_id"
            keyed = sel.replace("SELECT ", "SELECT customer_id AS _shopseg_id, ", 1)
            df = cur.execute(f"{keyed} WHERE run_id = ? AND customer_id IS NOT NULL ORDER BY {order}",
                             [int(rid)]).df()
            self.tables[table] = _SnapTable(df, MANY_ROWS if many else 1)
        # one sorted index of every customer any table knows, and per table where each is in it (-1: absent):
        # a look-up is one binary search, not one per table
        ids = [t.ids for t in self.tables.values()]
        self.ids = np.unique(np.concatenate(ids)) if ids else np.array([], dtype=str)
        self.slots: list[tuple[str, bool, _SnapTable, np.ndarray]] = []
        for t, tab in self.tables.items():
            pos = tab.ids.searchsorted(self.ids)
            found = pos < len(tab.ids)
            found[found] = tab.ids[pos[found]] == self.ids[found]
            self.slots.append((t, VIEW_PARTS[t][1], tab, np.where(found, pos, -1).astype(np.int32)))

    def lookup(self, customer_id: str, live: dict | None) -> dict | None:
        """The parts of a customer's view, or None when the run does not know them (the SQL path decides)."""
        got: dict[str, Any] = {t: None for t in VIEW_PARTS}
        i = int(self.ids.searchsorted(customer_id))
        if i < len(self.ids) and self.ids[i] == customer_id:
            for t, many, tab, slot in self.slots:
                j = int(slot[i])
                if j >= 0:
                    rows = tab.rows(j, customer_id)
                    got[t] = rows if many else rows[0]
        if got["customer_features"] is None and live is None:
            return None
        got["live"] = live
        got["live_segments"] = live["segments"] if live is not None else None
        got["n_customer_rows"] = 1
        return got
