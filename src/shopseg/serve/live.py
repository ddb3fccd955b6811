"""The real-time path: append posted rows, then re-score the customers they touch.

One write = one DuckDB transaction on the service's writer connection:

1. check every row's references (``schema.Column.references``: a product,
   order or customer must exist in the workspace or in the same batch) and
   keys (an id already stored is refused), then append the rows;
2. for every customer the rows touch, recompute the features with the batch
   SQL restricted to that customer (:func:`shopseg.features.features_sql`
   with ``restricted=True``), as of ``live_as_of = max(run as_of, end of the
   day of the customer's latest posted row)``, with the stored run's top
   categories and outlier median / MAD (the SQL text is made once per run);
3. re-score the segments with the stored run's rules and reference
   population: RFM and value tiers against the run's sorted buyer values
   (:class:`~shopseg.serve._ranks.RunRanks`, made once per run: the batch rank
   rules with this customer's row replaced, by binary search), lifecycle by
   :func:`~shopseg.segment.lifecycle.assign_stages` with the run's stored
   windows, the behavioural cluster with the run's stored cluster model
   (nearest centroid); churn with the run's stored model (loaded once per run)
   by the restricted :func:`shopseg.predict.churn.score_customers`
   (O(the customer's rows)), CLV and P(alive) with the stored BG/NBD +
   Gamma-Gamma models (:func:`shopseg.predict.clv.score_clv`);
4. store the result in ``live_state`` / ``live_segments`` (one current row
   per customer, tied to the run it is based on) and every move in
   ``segment_changes`` (changed_at = the posted row's own timestamp);
5. after COMMIT, put the same answer in the in-memory live cache that
   ``GET /customers/{id}`` reads (:meth:`LiveUpdater.cached`).

Anything that fails rolls the whole write back: nothing is stored or cached.

What the live path cannot do exactly (see docs/service.md):

* the top categories, the outlier median / MAD and churn's shop median gap
  are the stored run's, not the shop's at ``live_as_of``;
* a run made before cluster models were stored keeps the run's cluster.
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import schema
from ..config import Config, load_config
from ..trust.pii import forgotten_among, pseudonymise_rows
from ..errors import DataContractError, ShopsegError
from ..features import _ordered_columns, features_sql, outlier_reference, top_categories
from .models import EVENT_TIME, POSTABLE
from .online import TABLES as STORE_TABLES, OnlineStore

LIVE_DDL = (
    """CREATE TABLE IF NOT EXISTS segment_changes (
        customer_id VARCHAR, scheme VARCHAR, "old" VARCHAR, "new" VARCHAR, changed_at TIMESTAMP,
        source VARCHAR, run_id BIGINT, recorded_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS live_state (
        customer_id VARCHAR, run_id BIGINT, as_of TIMESTAMP, updated_at TIMESTAMP,
        features VARCHAR, churn VARCHAR, clv VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS live_segments (
        customer_id VARCHAR, run_id BIGINT, scheme VARCHAR, segment VARCHAR, as_of TIMESTAMP)""",
)
LIVE_TABLES_DOC = {
    "segment_changes": "One row per segment move: customer_id, scheme, old, new, changed_at (the event's own "
    "timestamp), source (`live`), run_id (the run whose rules scored it), recorded_at (wall clock, bookkeeping).",
    "live_state": "Per customer re-scored live: the features, churn and CLV (JSON) as of as_of, based on run_id.",
    "live_segments": "Per customer re-scored live and scheme: the segment as of as_of, based on run_id.",
}
SHADOWED = ("customers", "orders", "order_lines", "events", "reviews")


class RowError(DataContractError):
    """A posted row breaks a reference or key rule: ``details`` names the table, row and column."""

    def __init__(self, message: str, details: list[dict], *, status: int = 422, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.details = details
        self.status = status


class _ConWs:
    """The bits of :class:`~shopseg.workspace.Workspace` the batch functions use, over one connection.

    Lets the batch code run on the writer connection (inside its transaction,
    seeing the rows just appended, and the shadow tables when they exist).
    """

    def __init__(self, con, path: Path):
        self.con = con
        self.path = path

    @property
    def models_dir(self) -> Path:
        return self.path / "models"

    def sql(self, query, params=None):
        return self.con.execute(query, params or []).fetchall()

    def scalar(self, query, params=None):
        rows = self.sql(query, params)
        return rows[0][0] if rows else None

    def df(self, query, params=None):
        return self.con.execute(query, params or []).df()

    def has_table(self, name: str) -> bool:
        return bool(self.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
                                "AND table_schema = 'main'", [name]))

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self.sql("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                                       "AND table_schema = 'main' ORDER BY ordinal_position", [table])]

    def count(self, table: str) -> int:
        return int(self.scalar(f'SELECT count(*) FROM "{table}"')) if self.has_table(table) else 0


class _StoreWs(_ConWs):
    """The same calls over the online store (serve/online.py): the input tables only, DuckDB SQL in."""

    def has_table(self, name: str) -> bool:
        return name in STORE_TABLES

    def columns(self, table: str) -> list[str]:
        return [c.name for c in schema.get_table(table).all_columns] if table in STORE_TABLES else []


def end_of_day(ts: datetime) -> datetime:
    return datetime(ts.year, ts.month, ts.day, 23, 59, 59, 999999)


def latest_run(con) -> tuple[int, datetime, Config] | None:
    """(run_id, as_of, config) of the latest done run, or None."""
    rows = con.execute("SELECT run_id, as_of, config FROM runs WHERE status = 'done' "
                       "ORDER BY run_id DESC LIMIT 1").fetchall()
    if not rows:
        return None
    rid, as_of, cfg = rows[0]
    try:
        config = load_config(overrides=json.loads(cfg)) if cfg else load_config()
    except (ShopsegError, ValueError):  # a run made under settings this version no longer knows
        config = load_config()
    return int(rid), as_of, config


def has_table(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
                            "AND table_schema = 'main'", [name]).fetchall()[0][0])


def table_run(con, table: str, at_most: int | None = None) -> int | None:
    """The latest done run that wrote ``table`` (at most ``at_most``), or None when the table is absent."""
    if not has_table(con, table):
        return None
    q = f'SELECT max(run_id) FROM "{table}" WHERE run_id IN (SELECT run_id FROM runs WHERE status = \'done\')'
    params: list = []
    if at_most is not None:
        q += " AND run_id <= ?"
        params.append(at_most)
    v = con.execute(q, params).fetchall()[0][0]
    return None if v is None else int(v)


@dataclass
class RunReference:
    """What the live path needs from the stored run, read once per run and cached."""

    run_id: int
    as_of: datetime
    config: Config
    population: pd.DataFrame | None  # stored customer_features of the run (RFM / value reference)
    windows: dict | None  # lifecycle windows of the run
    clv_models: tuple | None  # (transaction model, value model, settings) or None
    names: dict = field(default_factory=dict)  # (scheme, segment) -> name
    categories: list | None = None  # the run's top categories (at its as_of): the stored feature columns
    outlier_stats: dict | None = None  # the run's outlier median / MAD (features.outlier_reference)
    features_sql: str | None = None  # the restricted features SQL with both, made once per run
    churn_model: Any = None  # the run's stored churn model, loaded once (False: none usable)
    segments_run: int | None = None  # the latest done run (<= run_id) that wrote segments
    ranks: Any = None  # RunRanks: the population's sorted RFM / value inputs (cut points), made once per run
    cluster_model: Any = None  # the segments run's stored cluster model (None: none stored)


def load_reference(con, path: Path) -> RunReference | None:
    run = latest_run(con)
    if run is None:
        return None
    rid, as_of, cfg = run
    pop = None
    frun = table_run(con, "customer_features", rid)
    if frun is not None:
        pop = con.execute("SELECT * EXCLUDE (run_id) FROM customer_features WHERE run_id = ? ORDER BY customer_id",
                          [frun]).df()
    windows, names = None, {}
    prun = table_run(con, "segment_profiles", rid)
    if prun is not None:
        for scheme, seg, name, prof in con.execute(
                "SELECT scheme, segment, name, profile FROM segment_profiles WHERE run_id = ?", [prun]).fetchall():
            names[(scheme, seg)] = name
            if scheme == "lifecycle" and windows is None and prof:
                windows = json.loads(prof).get("windows")
    clv_models = None
    crun = table_run(con, "clv", rid)
    if crun is not None:
        from ..predict.clv import CLVModel

        c = cfg["clv"]
        try:
            tm = CLVModel.load(path / "models" / f"run-{crun}-clv-{c['model']}.json")
            vm = CLVModel.load(path / "models" / f"run-{crun}-clv-gammagamma.json")
            clv_models = (tm, vm, dict(c))
        except ShopsegError:
            clv_models = None
    ref = RunReference(rid, as_of, cfg, pop, windows, clv_models, names)
    ref.segments_run = table_run(con, "segments", rid)
    if pop is not None:
        from ._ranks import RunRanks

        scores = None
        if crun is not None and cfg["segments.value.basis"] in ("clv", "auto"):
            col = cfg["segments.value.clv_column"]
            scores = con.execute(f'SELECT customer_id, "{col}" AS v FROM clv WHERE run_id = ?',
                                 [crun]).df().set_index("customer_id")["v"]
        ref.ranks = RunRanks(pop, cfg, scores)
    if ref.segments_run is not None:
        from ..refit import cluster_model_path, load_cluster_model

        p = cluster_model_path(_ConWs(con, path), ref.segments_run)
        try:
            ref.cluster_model = load_cluster_model(p) if p.exists() else None
        except ShopsegError:
            ref.cluster_model = None
    w = _ConWs(con, path)
    ref.categories = top_categories(w, as_of, cfg["features.top_categories"])
    ref.outlier_stats = outlier_reference(w, frun) if frun is not None else None
    ref.features_sql = features_sql(w, as_of, cfg, restricted=True, categories=ref.categories,
                                    outlier_stats=ref.outlier_stats)
    return ref


class LiveUpdater:
    """Applies posted batches on one writer connection, serialised by a lock."""

    def __init__(self, ws_path: Path, writer_con, *, online_rows: int = 5_000_000):
        self.path = Path(ws_path)
        self.con = writer_con
        self.lock = threading.Lock()
        self._ref: RunReference | None = None
        # customer_id -> the committed live answer of the current run (what GET reads without SQL);
        # filled from live_state / live_segments by load_cache, updated after each write commits
        self._cache: dict[str, dict] = {}
        self._cache_run: int | None = None
        self._pending: dict[str, dict] = {}
        self._db = writer_con.execute("SELECT current_database()").fetchall()[0][0]
        for ddl in LIVE_DDL:
            self.con.execute(ddl)
        # the input tables as rows in SQLite, for re-scoring in milliseconds (serve/online.py);
        # None: a shop over ``online_rows`` input rows is re-scored in DuckDB itself
        self.store: OnlineStore | None = None
        if online_rows and OnlineStore.count_rows(self.con) <= online_rows:
            self.store = OnlineStore(self.con).load()

    def _reader(self):
        """Where the re-score reads the inputs: the online store, else the writer connection."""
        return _StoreWs(self.store, self.path) if self.store is not None else _ConWs(self.con, self.path)

    # -- the live cache ---------------------------------------------------------------
    def load_cache(self, cur, run_id: int) -> None:
        """Read the run's live rows into the cache (call under ``self.lock``)."""
        cache: dict[str, dict] = {}
        for cid, as_of, feats, churn, clv in cur.execute(
                "SELECT customer_id, as_of, features, churn, clv FROM live_state WHERE run_id = ?", [run_id]).fetchall():
            cache[cid] = {"run_id": run_id, "as_of": as_of, "features": json.loads(feats) if feats else None,
                          "churn": json.loads(churn) if churn else None, "clv": json.loads(clv) if clv else None,
                          "segments": []}
        for cid, scheme, seg in cur.execute("SELECT customer_id, scheme, segment FROM live_segments WHERE run_id = ? "
                                            "ORDER BY customer_id, scheme", [run_id]).fetchall():
            if cid in cache:
                cache[cid]["segments"].append({"scheme": scheme, "segment": seg})
        self._cache, self._cache_run = cache, run_id

    def cached(self, run_id: int | None, customer_id: str) -> dict | None:
        """The committed live answer for ``customer_id`` based on run ``run_id``, or None."""
        if run_id is None or self._cache_run != run_id:
            return None
        hit = self._cache.get(customer_id)
        return hit if hit is not None and hit["run_id"] == run_id else None

    # -- the stored run ----------------------------------------------------------------
    def reference(self) -> RunReference | None:
        rid = self.con.execute("SELECT max(run_id) FROM runs WHERE status = 'done'").fetchall()[0][0]
        if rid is None:
            return None
        if self._ref is None or self._ref.run_id != rid:
            self._ref = load_reference(self.con, self.path)
        return self._ref

    # -- validation ----------------------------------------------------------------------
    def _check(self, rows: dict[str, list[dict]]) -> None:
        con = self.con
        problems: list[dict] = []
        for table in POSTABLE:
            t = schema.get_table(table)
            data = rows.get(table) or []
            if not data:
                continue
            # keys: unique in the batch and not already stored
            key = t.key
            if all(k in data[0] for k in key) and not (table == "order_lines" and any(
                    r.get("line_no") is None for r in data)):
                seen: dict = {}
                for i, r in enumerate(data):
                    k = tuple(r[c] for c in key)
                    if k in seen:
                        problems.append({"table": table, "row": i, "column": key[-1], "status": 409,
                                         "message": f"{table} {', '.join(map(str, k))} appears twice in the batch "
                                                    f"(rows {seen[k]} and {i})."})
                    seen[k] = i
                if len(key) == 1:
                    found = self._stored_among(table, key[0], [k[0] for k in seen])
                    for i, r in enumerate(data):
                        if r[key[0]] in found:
                            problems.append({"table": table, "row": i, "column": key[0], "status": 409,
                                             "message": f"{table}.{key[0]} {r[key[0]]!r} is already stored; "
                                                        "rows are appended, never replaced."})
            # references: in the workspace or earlier in this batch
            for c in t.columns:
                if not c.references:
                    continue
                rt, rc = c.references.split(".")
                vals = sorted({r[c.name] for r in data if r.get(c.name) is not None})
                if not vals:
                    continue
                known = {r.get(rc) for r in rows.get(rt) or []}
                missing = [v for v in vals if v not in known]
                if missing:
                    known |= self._stored_among(rt, rc, missing)
                for i, r in enumerate(data):
                    v = r.get(c.name)
                    if v is not None and v not in known:
                        problems.append({"table": table, "row": i, "column": c.name, "status": 422,
                                         "message": f"{table}.{c.name} {v!r} is unknown: expected a value of "
                                                    f"{c.references} already stored or posted in the same batch."})
        # customers removed by `shopseg forget` are not re-created by a post (docs/security.md)
        posted = {r.get("customer_id") for t in POSTABLE for r in rows.get(t) or []}
        gone = forgotten_among(con, self.path, posted)
        for table in POSTABLE:
            for i, r in enumerate(rows.get(table) or []):
                if r.get("customer_id") in gone:
                    problems.append({"table": table, "row": i, "column": "customer_id", "status": 422,
                                     "message": f"{table}.customer_id is a forgotten customer."})
        if problems:
            status = 409 if all(p["status"] == 409 for p in problems) else 422
            first = problems[0]
            raise RowError(f"{len(problems)} row problem(s); first: {first['table']}[{first['row']}]."
                           f"{first['column']}: {first['message']}", problems, status=status,
                           hint="Nothing was stored. Post the referenced rows first or in the same batch.")

    def _stored_among(self, table: str, column: str, values: list) -> set:
        """The ``values`` already stored in ``table.column``: asked of the online store when there is one
        (it holds exactly the workspace's rows, indexed on every key), else of the workspace."""
        reader = self.store if self.store is not None else self.con
        return {x[0] for x in reader.execute(
            f'SELECT "{column}" FROM "{table}" WHERE "{column}" IN (SELECT unnest(?))', [values]).fetchall()}

    # -- writing -------------------------------------------------------------------------
    def _append(self, table: str, data: list[dict], ingest_id: int) -> int:
        t = schema.get_table(table)
        if table == "customers":  # privacy.pii of the stored run: pseudonyms, raw values apart or dropped
            ref = self.reference()
            policy = (ref.config if ref is not None else load_config())["privacy.pii"]
            data, raw = pseudonymise_rows(data, policy, self.path)
            if raw:
                self.con.execute(
                    "INSERT INTO customer_pii BY NAME SELECT r.*, ? AS ingest_id FROM (SELECT unnest(?::STRUCT("
                    "customer_id VARCHAR, email VARCHAR, phone VARCHAR, name VARCHAR, address VARCHAR)[], "
                    "recursive := true)) r WHERE r.customer_id NOT IN (SELECT customer_id FROM customer_pii)",
                    [ingest_id, raw])
        if len(data) <= 32:  # a few rows (one event, one order): bound values, no DataFrame round trip
            one = "(" + ", ".join(f"CAST(? AS {c.type})" for c in t.all_columns) + ")"
            names = ", ".join(f'"{c.name}"' for c in t.all_columns)
            params = [ingest_id if c.name == "ingest_id" else r.get(c.name) for r in data for c in t.all_columns]
            self._stored(table, self.con.execute(
                f'INSERT INTO "{table}" ({names}) VALUES {", ".join([one] * len(data))} RETURNING *', params))
            return len(data)
        cols = [c.name for c in t.columns]
        frame = pd.DataFrame({c: [r.get(c) for r in data] for c in cols})
        frame["ingest_id"] = ingest_id
        for c in t.columns:  # all-None columns come in as object: give DuckDB the schema type
            if frame[c.name].isna().all():
                frame[c.name] = pd.Series([None] * len(frame), dtype=object)
        view = f"_shopseg_live_{table}"
        self.con.register(view, frame)
        try:
            sel = ", ".join(f'CAST("{c.name}" AS {c.type}) AS "{c.name}"' for c in t.all_columns)
            self._stored(table, self.con.execute(f'INSERT INTO "{table}" BY NAME SELECT {sel} FROM "{view}" RETURNING *'))
        finally:
            self.con.unregister(view)
        return len(data)

    def _stored(self, table: str, res) -> None:
        """The rows DuckDB just stored (``RETURNING *``) go to the online store too (fetched either way)."""
        rows = res.fetchall()
        if self.store is not None:
            self.store.insert(table, [d[0] for d in res.description], rows)

    def apply(self, rows: dict[str, list[dict]]) -> dict:
        """Check, append and re-score in one transaction; returns what was done."""
        with self.lock:
            con = self.con
            self._pending = {}
            con.execute("BEGIN TRANSACTION")
            if self.store is not None:
                self.store.begin()
            try:
                self._check(rows)
                ingest_id = int(con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingest_log").fetchall()[0][0])
                added = {t: self._append(t, rows[t], ingest_id) for t in POSTABLE if rows.get(t)}
                n = sum(added.values())
                con.execute(
                    "INSERT INTO ingest_log (ingest_id, source, target, n_input, n_accepted, n_quarantined, "
                    "n_duplicate, rows_added, summary, loaded_at) VALUES (?, 'api:/events', ?, ?, ?, 0, 0, ?, '{}', "
                    "current_timestamp)", [ingest_id, ",".join(added), n, n, json.dumps(added)])
                touched = self._touched(rows)
                changes = self._rescore(touched) if touched else []
            except BaseException:
                con.execute("ROLLBACK")
                if self.store is not None:
                    self.store.rollback()
                self._pending = {}
                raise
            try:
                con.execute("COMMIT")
            except BaseException:
                if self.store is not None:
                    self.store.rollback()
                raise
            if self.store is not None:
                self.store.commit()
            for cid, entry in self._pending.items():  # visible to GET only once committed
                if entry["run_id"] == self._cache_run:
                    self._cache[cid] = entry
            self._pending = {}
        return {"ingest_id": ingest_id, "rows_added": added, "customers_rescored": sorted(touched),
                "changes": changes}

    def _touched(self, rows: dict[str, list[dict]]) -> dict[str, datetime | None]:
        """customer_id -> latest own timestamp of the posted rows about them."""
        out: dict[str, datetime | None] = {}

        def put(cid, ts):
            if cid is None:
                return
            prev = out.get(cid)
            out[cid] = ts if prev is None else (prev if ts is None else max(prev, ts))

        for table in ("customers", "orders", "events", "reviews"):
            for r in rows.get(table) or []:
                put(r.get("customer_id"), r.get(EVENT_TIME[table]))
        order_owner = {r["order_id"]: (r.get("customer_id"), r.get("ordered_at")) for r in rows.get("orders") or []}
        lines = rows.get("order_lines") or []
        missing = sorted({r["order_id"] for r in lines if r["order_id"] not in order_owner})
        if missing:
            for oid, cid, ts in self.con.execute("SELECT order_id, customer_id, ordered_at FROM orders "
                                                 "WHERE order_id IN (SELECT unnest(?))", [missing]).fetchall():
                order_owner[oid] = (cid, ts)
        for r in lines:
            cid, ts = order_owner.get(r["order_id"], (None, None))
            put(cid, ts)
        return out

    # -- re-scoring --------------------------------------------------------------------------
    def features(self, customer_id: str, as_of: datetime, cfg: Config, ref: RunReference | None = None) -> pd.DataFrame:
        """The batch features of one customer as of ``as_of`` (one row, or none for an unknown customer).

        The batch SQL restricted to the customer's rows (``features_sql(restricted=True)``),
        with the run's top categories and outlier median / MAD (so the columns are the
        stored run's and ``is_outlier`` is flagged against the run's population); the
        SQL text is made once per run.  Without a run: the shop's top categories at
        ``as_of`` and no population (``is_outlier`` False).
        """
        sql = ref.features_sql if ref is not None and ref.features_sql else features_sql(
            _ConWs(self.con, self.path), as_of, cfg, restricted=True)
        df = self._reader().con.execute(sql, {"as_of": as_of, "customers": [customer_id]}).df()
        df = df[_ordered_columns(list(df.columns))]
        return df[df["customer_id"] == customer_id].reset_index(drop=True)

    def _rescore(self, touched: dict[str, datetime | None]) -> list[dict]:
        ref = self.reference()
        if ref is None:
            return []  # no run yet: rows stored, nothing to re-score against
        changes: list[dict] = []
        for cid, ts in sorted(touched.items()):
            as_of = max(ref.as_of, end_of_day(ts)) if ts is not None else ref.as_of
            changed_at = ts if ts is not None else ref.as_of
            changes += self._rescore_one(ref, cid, as_of, changed_at)
        return changes

    def _rescore_one(self, ref: RunReference, cid: str, as_of: datetime, changed_at: datetime) -> list[dict]:
        con, cfg = self.con, ref.config
        feats = self.features(cid, as_of, cfg, ref)
        if feats.empty:
            return []
        if ref.outlier_stats is None:
            feats.loc[0, "is_outlier"] = False  # no stored population to be an outlier of

        segs = self._segments(ref, cid, feats, as_of)
        churn = self._churn(ref, cid, as_of, feats)
        clv = self._clv(ref, cid, as_of)
        if clv is not None and ref.ranks is not None and "value_tier" in cfg["segments.schemes"] \
                and self._value_basis(ref) == "clv" and ref.ranks.has_basis("clv"):
            segs["value_tier"] = self._value_tier(ref, cid, feats, clv.get(cfg["segments.value.clv_column"]))

        # previous segments: the live ones of this run, else the run's own
        old = dict(con.execute("SELECT scheme, segment FROM live_segments WHERE customer_id = ? AND run_id = ?",
                               [cid, ref.run_id]).fetchall())
        srun = ref.segments_run
        if srun is not None:
            for scheme, seg in con.execute("SELECT scheme, segment FROM segments WHERE run_id = ? AND customer_id = ?",
                                           [srun, cid]).fetchall():
                old.setdefault(scheme, seg)
        moves = [{"customer_id": cid, "scheme": s, "old": old.get(s), "new": new, "changed_at": changed_at,
                  "source": "live"} for s, new in segs.items() if old.get(s) != new]
        for m in moves:
            con.execute('INSERT INTO segment_changes VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp)',
                        [m["customer_id"], m["scheme"], m["old"], m["new"], m["changed_at"], m["source"], ref.run_id])
        con.execute("DELETE FROM live_segments WHERE customer_id = ?", [cid])
        if segs:  # one statement for every scheme
            con.execute("INSERT INTO live_segments VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * len(segs)),
                        [v for s, seg in segs.items() for v in (cid, ref.run_id, s, seg, as_of)])
        con.execute("DELETE FROM live_state WHERE customer_id = ?", [cid])
        fjson = _json_row(feats.iloc[0])
        cjson = json.dumps(churn, default=str) if churn is not None else None
        vjson = json.dumps(clv, default=str) if clv is not None else None
        con.execute("INSERT INTO live_state VALUES (?, ?, ?, ?, ?, ?, ?)", [
            cid, ref.run_id, as_of, changed_at, fjson, cjson, vjson])
        # what GET will read from the cache: the same values as from the table (JSON round trip)
        self._pending[cid] = {"run_id": ref.run_id, "as_of": as_of, "features": json.loads(fjson),
                              "churn": json.loads(cjson) if cjson else None, "clv": json.loads(vjson) if vjson else None,
                              "segments": [{"scheme": sc, "segment": sg} for sc, sg in sorted(segs.items())]}
        return moves

    def _segments(self, ref: RunReference, cid: str, feats: pd.DataFrame, as_of: datetime) -> dict[str, str]:
        """RFM, value tier (by money spent), lifecycle and cluster of one customer, by the run's rules.

        RFM and value tiers against the run's population through :class:`RunRanks` (the
        batch rank rules with this customer's row replaced, by binary search); lifecycle by
        :func:`assign_stages` over the batch per-customer SQL filtered to this customer, with
        the run's windows; the cluster by the run's stored cluster model (nearest centroid).
        """
        from ..segment.lifecycle import PER_CUSTOMER_SQL, assign_stages
        from ..workspace import only_customers

        cfg = ref.config
        schemes = cfg["segments.schemes"]
        out: dict[str, str] = {}
        row = feats.iloc[0]
        if ref.ranks is not None:
            if "rfm" in schemes:
                out["rfm"] = ref.ranks.rfm(cid, row)["segment"]
            if "value_tier" in schemes and self._value_basis(ref) == "monetary_net":
                out["value_tier"] = ref.ranks.value_tier(cid, bool(row["has_orders"]), float(row["monetary_net"]))
        if "lifecycle" in schemes and ref.windows is not None:
            per = self._reader().con.execute(f"SELECT days_since_first_order, last_gap_days FROM "
                                             f"({only_customers(PER_CUSTOMER_SQL)})",
                                             {"as_of": as_of, "customers": [cid]}).fetchall()
            first, gap = per[0] if per else (None, None)  # no sale before as_of: NULL, as the batch's left join
            df = pd.DataFrame({"customer_id": [cid], "has_orders": [bool(row["has_orders"])],
                               "recency_days": [float(row["recency_days"])],
                               "days_since_first_order": [np.nan if first is None else float(first)],
                               "last_gap_days": [np.nan if gap is None else float(gap)]})
            out["lifecycle"] = str(assign_stages(df, ref.windows)["stage"].iloc[0])
        if "cluster" in schemes and ref.cluster_model is not None:
            try:
                out["cluster"] = f"cluster_{int(ref.cluster_model.predict(feats)[0])}"
            except (KeyError, ValueError):  # features the stored model needs are missing: keep the run's
                pass
        return out

    @staticmethod
    def _value_basis(ref: RunReference) -> str:
        basis = ref.config["segments.value.basis"]
        if basis == "auto":  # as the batch: predicted value when the run has it
            return "clv" if ref.ranks is not None and ref.ranks.has_basis("clv") else "monetary_net"
        return basis

    def _value_tier(self, ref: RunReference, cid: str, feats: pd.DataFrame, clv_value) -> str:
        return ref.ranks.value_tier(cid, bool(feats["has_orders"].iloc[0]),
                                    None if clv_value is None else float(clv_value), basis="clv")

    def _churn(self, ref: RunReference, cid: str, as_of: datetime, feats: pd.DataFrame | None = None) -> dict | None:
        from ..predict.churn import load_churn_model, score_customers

        w = _ConWs(self.con, self.path)
        if ref.churn_model is None:  # loaded once per run (checked against the run's settings)
            model_file = self.path / "models" / f"churn_run{ref.run_id}.json"
            try:
                ref.churn_model = load_churn_model(w, ref.run_id, config=ref.config) if model_file.exists() else False
            except ShopsegError:
                ref.churn_model = False  # a model fitted under other settings: leave churn to the next run
        if ref.churn_model is False:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                s = score_customers(self._reader(), as_of, [cid], run_id=ref.run_id, config=ref.config, features=feats,
                                    model=ref.churn_model)
            except ShopsegError:
                return None  # a model fitted on other features: leave churn to the next run
        if s.empty:
            return None
        r = s.iloc[0]
        return {"probability": float(r["probability"]), "tier": str(r["tier"]),
                "reasons": [str(r[f"reason_{k}"]) for k in (1, 2, 3) if pd.notna(r[f"reason_{k}"])],
                "model": str(r["model"])}

    def _clv(self, ref: RunReference, cid: str, as_of: datetime) -> dict | None:
        if ref.clv_models is None:
            return None
        from ..predict.clv import score_clv, summary_from_orders

        tm, vm, c = ref.clv_models
        summ = summary_from_orders(self._reader(), as_of, time_unit=c.get("time_unit", "D"), customers=[cid])
        if summ.empty:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = score_clv(summ, tm, vm, as_of, horizon_days=c.get("horizon_days", 365),
                          discount_rate_annual=c.get("discount_rate_annual", 0.1),
                          min_p_alive=c.get("min_p_alive", 0.5))
        r = s.iloc[0]
        nxt = r["expected_next_order_at"]
        return {"clv": float(r["clv"]), "p_alive": float(r["p_alive"]),
                "expected_purchases_90d": float(r["expected_purchases_90d"]),
                "expected_order_value": float(r["expected_order_value"]),
                "expected_next_order_at": None if pd.isna(nxt) else pd.Timestamp(nxt).isoformat()}


def _json_row(row: pd.Series) -> str:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, (np.bool_, bool)):
            out[k] = bool(v)
        elif isinstance(v, (np.integer,)):
            out[k] = int(v)
        elif isinstance(v, (np.floating, float)):
            out[k] = None if np.isnan(v) else float(v)
        else:
            out[k] = v
    return json.dumps(out, default=str)


__all__ = ["LiveUpdater", "RowError", "LIVE_DDL", "LIVE_TABLES_DOC", "end_of_day", "latest_run", "table_run"]
