"""A generated demo shop with planted ground truth.

:func:`synthesize` fills a workspace's canonical tables (customers, products,
orders, order_lines, events, reviews) with a shop whose answers are known:
eight personas with different behaviour, purchases from a BG/NBD process
(Fader, Hardie & Lee 2005, "Counting your customers the easy way") with
known per-customer parameters and a simulated future, planted basket
associations, and reviews whose sentiment follows a planted satisfaction.
The truth is stored beside the data in ``ground_truth``,
``ground_truth_rules`` and ``ground_truth_reviews`` (see ``docs/synth.md``).

>>> import tempfile, pathlib
>>> from shopseg.workspace import Workspace
>>> ws = Workspace.open(pathlib.Path(tempfile.mkdtemp()) / "ws")
>>> summary = synthesize(ws, customers=300, seed=7)
>>> summary["customers"], ws.count("customers")
(300, 300)
>>> ws.close()
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa

from .. import schema
from ..errors import ConfigError, WorkspaceError
from ..workspace import size_bytes as _bytes  # DuckDB size strings (memory_limit)
from . import _write as W
from ._activity import PERSONA_NAMES, SENTENCES, seconds_of, simulate_events, simulate_returns, simulate_reviews
from ._catalogue import PLANTED_RULES
from ._personas import CATEGORIES, EVENT_KINDS, PERSONAS
from ._simulate import Catalogue, rank_in_group, simulate_baskets, simulate_customers, simulate_order_times
from ._text import ASPECTS, LABELS
from ._who import INTERESTS_SQL, PEOPLE_DDL, people_sql, people_tables, who_seed

__all__ = ["synthesize", "PERSONAS", "PLANTED_RULES", "CHUNK_SIZE"]

CHUNK_SIZE = 100_000  # customers per chunk; part of what a seed means (do not change lightly)
GROUND_TRUTH_TABLES = W.GROUND_TRUTH_TABLES
DUCKDB_MEMORY_LIMIT = "1GB"  # DuckDB's buffer pool while synthesising (a lower SHOPSEG_MEMORY_LIMIT wins)
STAGING_PREFIX = ".synth-staging-"  # Parquet staging folders inside the workspace; removed when synth ends


def _check(customers, seed, history_days, horizon_days) -> None:
    def bad(name, words, got):
        raise ConfigError(f"The {name!r} parameter of synthesize must be {words}. Got {got!r} instead.")

    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        bad("customers", "an int in [1, inf)", customers)
    if customers >= 10**9:
        bad("customers", "an int below 1e9", customers)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        bad("seed", "an int in [0, inf)", seed)
    if isinstance(history_days, bool) or not isinstance(history_days, int) or not 365 <= history_days <= 3650:
        bad("history_days", "an int in [365, 3650]", history_days)
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int) or not 1 <= horizon_days <= 1095:
        bad("horizon_days", "an int in [1, 1095]", horizon_days)


def _as_date(as_of) -> dt.date:
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    if isinstance(as_of, dt.date):
        return as_of
    try:
        return dt.date.fromisoformat(str(as_of)[:10])
    except ValueError:
        raise ConfigError(f"The 'as_of' parameter of synthesize must be a date like 2024-12-31. "
                          f"Got {as_of!r} instead.") from None


def synthesize(ws, customers: int = 20000, seed: int = 42, as_of="2024-12-31", history_days: int = 730,
               horizon_days: int = 180, *, replace: bool = False, repurchase: bool = False) -> dict:
    """Generate the demo shop into ``ws`` and return counts of what was written.

    Every timestamp in the canonical tables is before ``as_of`` (midnight);
    the ``horizon_days`` after it are simulated only for ``ground_truth``.
    The same arguments give identical tables.  Refuses a workspace that
    already holds data unless ``replace``, which empties the canonical and
    ground-truth tables first.  Runs in one transaction: each chunk is
    staged as Parquet files in a temporary folder of the workspace and
    inserted from there, so memory stays bounded whatever ``customers`` is;
    the folder is removed at the end, whether synth succeeds or fails.

    With ``repurchase`` each customer gets a staple consumable (grocery or beauty, by
    popularity) re-bought in the first order of every cycle (days per persona,
    ``REPURCHASE_CYCLE_DAYS``), on its own random stream so the rest of the shop is the same;
    the truth goes to ``ground_truth_repurchase``.
    """
    _check(customers, seed, history_days, horizon_days)
    as_of_d = _as_date(as_of)
    start_d = as_of_d - dt.timedelta(days=history_days)
    start = np.datetime64(start_d.isoformat(), "s")
    H = float(history_days)
    held = {t: ws.count(t) for t in (*schema.LOAD_ORDER, *GROUND_TRUTH_TABLES) if ws.count(t)}
    if held and not replace:
        raise WorkspaceError(
            "The workspace already holds data ("
            + ", ".join(f"{t}: {n} rows" for t, n in held.items())
            + "); synth writes into an empty workspace.",
            hint="Pass replace=True (`shopseg synth --replace`) to empty the tables first, "
                 "or use another --workspace.",
        )
    con = ws.con
    # DuckDB otherwise keeps the row groups it has written in its buffer pool,
    # up to 80% of RAM; cap it while synthesising (they are on disk already, so
    # evicting them costs nothing).  A lower limit set by the user is kept.
    old_limit = ws.scalar("SELECT current_setting('memory_limit')")
    if _bytes(old_limit) > _bytes(DUCKDB_MEMORY_LIMIT):
        con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    # A synth killed outright (SIGKILL, power loss) cannot clean up: its
    # transaction was never committed, so only its staging folder is left.
    # DuckDB's file lock means no other synth is writing to this workspace.
    for stale in ws.path.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=ws.path))
    try:
        return _synthesize(ws, con, customers, seed, as_of_d, history_days, horizon_days, replace, start, H,
                           staging, repurchase)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _restore_memory_limit(ws, old_limit)


def _restore_memory_limit(ws, old_limit: str) -> None:
    """Put ``memory_limit`` back exactly: DuckDB shows it rounded down (``'18.7 GiB'``), so re-setting
    that string would shrink it a little on every synth; the workspace's budget (default or
    SHOPSEG_MEMORY_LIMIT) is restored from its source instead."""
    from ..workspace import memory_limit_setting

    ws.con.execute("SET memory_limit = ?", [memory_limit_setting()])
    if ws.scalar("SELECT current_setting('memory_limit')") != old_limit:
        ws.con.execute("SET memory_limit = ?", [old_limit])


def _synthesize(ws, con, customers, seed, as_of_d, history_days, horizon_days, replace, start, H,
                staging: Path, repurchase: bool = False) -> dict:
    root = np.random.SeedSequence(seed)
    cat_seed, *chunk_seeds = root.spawn(1 + -(-customers // CHUNK_SIZE))
    plant_seeds = root.spawn(len(chunk_seeds)) if repurchase else [None] * len(chunk_seeds)
    cat = Catalogue.build(np.random.default_rng(cat_seed))
    S = W.Strings.build(cat)
    width = max(7, len(str(customers)))
    counts = dict.fromkeys(schema.LOAD_ORDER, 0)
    persona_counts = dict.fromkeys(PERSONA_NAMES.tolist(), 0)
    with ws.transaction():
        if replace:
            for t in reversed(schema.LOAD_ORDER):
                con.execute(f'DELETE FROM "{t}"')
        for t in GROUND_TRUTH_TABLES:
            con.execute(f'DROP TABLE IF EXISTS "{t}"')
        con.execute(W.GROUND_TRUTH_DDL)
        con.execute('DROP TABLE IF EXISTS "ground_truth_people"')
        con.execute(PEOPLE_DDL)
        con.execute('DROP TABLE IF EXISTS "ground_truth_repurchase"')
        if repurchase:
            con.execute(W.REPURCHASE_DDL)
        ingest_id = ws.next_id("ingest_log", "ingest_id")
        p = {"ingest_id": ingest_id}
        prod = cat.frame
        W.insert(con, "_synth_products", pa.Table.from_pandas(
            prod[["product_id", "name", "category", "brand", "price", "description", "is_merchandise",
                  "is_available"]], preserve_index=False),
            "INSERT INTO products BY NAME SELECT *, $ingest_id AS ingest_id FROM _synth_products", p)
        counts["products"] = len(prod)
        W.insert(con, "_synth_rules", pa.Table.from_pandas(cat.rules, preserve_index=False),
                 "INSERT INTO ground_truth_rules BY NAME SELECT * FROM _synth_rules")

        offs = dict(customer=0, order=0, event=0, session=0, review=0)
        # Simulate chunk i+1 while a writer thread stages and appends chunk i
        # (DuckDB, Parquet and most numpy kernels release the GIL); the writer
        # takes a chunk only when done with the last, so at most two are in memory.
        with _Writer(con, staging) as writer:
            for ci, css in enumerate(chunk_seeds):
                n = min(CHUNK_SIZE, customers - ci * CHUNK_SIZE)
                tables, inserts, got = _chunk(np.random.default_rng(css), n, offs, cat, S, start, H,
                                              float(horizon_days), width, p,
                                              np.random.default_rng(plant_seeds[ci]) if repurchase else None,
                                              np.random.default_rng(who_seed(seed, ci)))
                writer.put(ci, tables, inserts)
                del tables  # the writer drops each table once staged
                for key, v in got.items():
                    if key in counts:
                        counts[key] += v
                for name, v in got["personas"].items():
                    persona_counts[name] += v
        con.execute(W.RULE_STATS_SQL, p)
        con.execute(INTERESTS_SQL, p)
        summary = {"seed": seed, "customers": customers, "as_of": as_of_d.isoformat(),
                   "history_days": history_days, "horizon_days": horizon_days, "personas": persona_counts}
        total = sum(counts.values())
        con.execute(
            "INSERT INTO ingest_log (ingest_id, source, source_sha256, preset, target, n_input, n_accepted, "
            "n_quarantined, n_duplicate, rows_added, summary, loaded_at) "
            "VALUES (?, 'synth', NULL, NULL, ?, ?, ?, 0, 0, ?, ?, current_timestamp)",
            [ingest_id, ",".join(schema.LOAD_ORDER), total, total, _json(counts), _json(summary)])
    gt = {t: ws.count(t) for t in (*GROUND_TRUTH_TABLES, "ground_truth_people")}
    if repurchase:
        gt["ground_truth_repurchase"] = ws.count("ground_truth_repurchase")
    return {"ingest_id": ingest_id, **counts, **gt, "personas": persona_counts, "seed": seed,
            "as_of": as_of_d.isoformat()}


def _json(obj) -> str:
    return json.dumps(obj, sort_keys=True)


class _Writer:
    """Stages and appends chunks in a background thread, in order; re-raises its error in the caller.

    For each chunk it writes every Arrow table to a Parquet file in
    ``staging`` (dropping the table at once), runs the chunk's ``INSERT ...
    FROM read_parquet`` statements in the caller's open transaction, and
    deletes the files.
    """

    def __init__(self, con, staging: Path):
        self.con = con
        self.staging = staging
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="shopseg-synth-writer", daemon=True)

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self._write(*item)
                except BaseException as e:  # handed to the caller thread
                    self.error = e
            del item
            self.queue.task_done()
        self.queue.task_done()

    def _write(self, ci: int, tables: dict, inserts: list) -> None:
        files = {}
        for name in list(tables):
            files[name] = self.staging / f"{ci:05d}_{name}.parquet"
            W.stage(tables.pop(name), files[name])
        self.con.complete()  # DuckDB 2.0: an unfetched earlier result (ws.scalar) blocks the connection
        for name, sql, params in inserts:
            W.insert_staged(self.con, files[name], sql, params)
        for f in files.values():
            f.unlink()

    def put(self, ci: int, tables: dict, inserts: list) -> None:
        self.queue.join()  # wait until the writer is done with the previous chunk
        if self.error is not None:
            raise self.error
        self.queue.put((ci, tables, inserts))

    def __enter__(self) -> "_Writer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.queue.join()
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and exc[0] is None:
            raise self.error


def _chunk(rng, n, offs, cat: Catalogue, S: "W.Strings", start, H, horizon, width, p, plant_rng=None,
           who_rng=None):
    """Simulate ``n`` customers; advance ``offs``.  ``who_rng``: the people stream (``_who``).

    Returns the chunk's Arrow tables by name, the inserts to run over them as
    ``(table name, SQL, parameters)``, and the counts.
    """
    tables, inserts = {}, []
    cu = simulate_customers(rng, n, H)
    past_c, past_t, fut_c, fut_t, alive_end = simulate_order_times(rng, cu, H, horizon)
    all_c = np.concatenate([past_c, fut_c])
    all_t = np.concatenate([past_t, fut_t])
    o = np.lexsort((all_t, all_c))
    all_c, all_t = all_c[o], all_t[o]
    orders, lines = simulate_baskets(rng, cu, all_c, all_t, rank_in_group(all_c), cat, plant_rng)
    future = all_t >= H
    if orders["repurchase"] is not None:
        rp = orders["repurchase"]
        pl, past = rp["planted"], rp["planted"] & ~future
        last_t = np.full(n, -np.inf)
        np.maximum.at(last_t, all_c[past], all_t[past])
        tables["ground_truth_repurchase"] = pa.table({
            "i": np.arange(offs["customer"] + 1, offs["customer"] + 1 + n, dtype=np.int64),
            "product_id": pa.array(np.asarray(S.product_ids, dtype=object)[rp["staple"]], type=pa.string()),
            "cycle_days": rp["cycle"],
            "n_planted_observed": np.bincount(all_c[past], minlength=n),
            "days_since_last_planted": np.where(np.isfinite(last_t), np.round(H - last_t, 2), np.nan),
            "bought_in_horizon": np.bincount(all_c[pl & future], minlength=n) > 0,
        })
        inserts.append(("ground_truth_repurchase", W.repurchase_sql(width), None))
    value = orders["subtotal"] - orders["discount"]
    fut_orders = np.bincount(all_c[future], minlength=n)
    fut_rev = np.round(np.bincount(all_c[future], weights=value[future], minlength=n), 2)

    # past sale orders, numbered by time within the chunk
    past_idx = np.flatnonzero(~future)
    past_idx = past_idx[np.argsort(all_t[past_idx], kind="stable")]
    new_of = np.full(len(all_c), -1)
    new_of[past_idx] = np.arange(len(past_idx))
    sale_c, sale_t = all_c[past_idx], all_t[past_idx]
    channel = orders["channel"][past_idx]
    keep = ~future[lines["order"]]
    sl = {key: v[keep] for key, v in lines.items()}
    sl["order"] = new_of[sl["order"]]
    so = np.argsort(sl["order"], kind="stable")  # by new order number, line_no kept
    sl = {key: v[so] for key, v in sl.items()}
    sale_sec = seconds_of(rng, sale_t)

    returned, ret_t, rl = simulate_returns(rng, cu, sale_c, sale_t, sl, cat, H)
    first_product = sl["product"][np.r_[0, np.flatnonzero(np.diff(sl["order"])) + 1]] if len(sl["order"]) \
        else np.zeros(0, dtype=np.int64)
    rv = simulate_reviews(rng, cu, sale_c, sale_t, returned, first_product, channel, cat, H)
    ev, n_sessions = simulate_events(rng, cu, sale_c, sale_sec, sl, cat, H)

    c0, o0 = offs["customer"] + 1, offs["order"] + 1
    cust_tab, place = W.customers_table(rng, cu, c0, S, start)
    people, given = people_tables(who_rng, cu, place, S, c0, start, H)
    for col in ("region", "birth_date", "gender"):
        cust_tab = cust_tab.append_column(col, given[col])
    tables["customers"] = cust_tab
    tables["ground_truth_people"] = people
    inserts.append(("ground_truth_people", people_sql(width), None))
    inserts.append(("customers", W.customers_sql(width), p))
    countries = [pl[0] for pl in S.places]

    ret_idx = np.flatnonzero(returned)
    ret_sec = seconds_of(rng, ret_t[ret_idx])
    n_sale = len(sale_c)
    tables["orders"] = pa.table({
        "o": np.r_[np.arange(n_sale), ret_idx] + o0,
        "suffix": W.dict_col(np.r_[np.zeros(n_sale, int), np.ones(len(ret_idx), int)], ["", "-R"]),
        "c": np.r_[sale_c, sale_c[ret_idx]] + c0,
        "ordered_at": W.ts_col(start, np.r_[sale_sec, ret_sec]),
        "kind": W.dict_col(np.r_[np.zeros(n_sale, int), np.ones(len(ret_idx), int)], ["sale", "return"]),
        "channel": W.dict_col(np.r_[channel, channel[ret_idx]], W.CHANNELS),
        "country": W.dict_col(place[np.r_[sale_c, sale_c[ret_idx]]], countries),
        "discount_amount": np.r_[orders["discount"][past_idx], np.zeros(len(ret_idx))],
    })
    inserts.append(("orders", W.orders_sql(width), p))
    tables["order_lines"] = pa.table({
        "o": np.r_[sl["order"], rl["order"]] + o0,
        "suffix": W.dict_col(np.r_[np.zeros(len(sl["order"]), int), np.ones(len(rl["order"]), int)], ["", "-R"]),
        "line_no": np.r_[sl["line_no"], rl["line_no"]],
        "product_id": W.dict_col(np.r_[sl["product"], rl["product"]], S.product_ids),
        "quantity": np.r_[sl["quantity"], rl["quantity"]],
        "unit_price": np.r_[sl["unit_price"], rl["unit_price"]],
        "discount_amount": np.r_[sl["discount"], rl["discount"]],
    })
    inserts.append(("order_lines", W.LINES_SQL, p))

    m = len(ev["at"])
    tables["events"] = pa.table({
        "e": np.arange(offs["event"] + 1, offs["event"] + 1 + m, dtype=np.int64),
        "c": np.where(ev["cust"] >= 0, ev["cust"] + c0, -1),
        "s": ev["session"] + offs["session"] + 1,
        "event_type": W.dict_col(ev["etype"], EVENT_KINDS),
        "product_id": W.dict_col(ev["product"], S.product_ids),
        "occurred_at": W.ts_col(start, ev["at"]),
        "duration_seconds": ev["duration"],
        "search_query": W.dict_col(ev["query"], S.queries),
    })
    inserts.append(("events", W.events_sql(width), p))

    r_n = len(rv["order_idx"])
    lang = rv["lang"]
    brand_of = np.array(S.brand_mentions, dtype=object)[rv["product"] * 4]
    tables["reviews"] = pa.table({
        "r": np.arange(offs["review"] + 1, offs["review"] + 1 + r_n, dtype=np.int64),
        "c": sale_c[rv["order_idx"]] + c0,
        "o": rv["order_idx"] + o0,
        "product_id": W.dict_col(rv["product"], S.product_ids),
        "rating": rv["rating"],
        "opener": W.dict_col(rv["opener"], SENTENCES),
        "s1": W.dict_col(rv["s1"], SENTENCES),
        "s2": W.dict_col(rv["s2"], SENTENCES),
        "product_mention": W.dict_col(((rv["product"] * 4 + rv["spelling"]) * 2 + rv["form"]) * 2 + lang,
                                      S.mentions),
        "brand_mention": W.dict_col(rv["product"] * 4 + rv["spelling"], S.brand_mentions),
        "language": W.dict_col(lang, ["en", "zh"]),
        "reviewed_at": W.ts_col(start, seconds_of(rng, rv["at"])),
        "planted_sentiment": np.round(rv["senti"], 4),
        "planted_label": W.dict_col(rv["label"], LABELS),
        "mentioned_brand": pa.array(brand_of, type=pa.string()),
        "aspect_1": W.dict_col(rv["aspect1"], ASPECTS),
        "aspect_1_polarity": W.dict_col(rv["pol1"], ["negative", "positive"]),
        "aspect_2": W.dict_col(rv["aspect2"], ASPECTS),
        "aspect_2_polarity": W.dict_col(rv["pol2"], ["negative", "positive"]),
        "delivery_late": rv["late"],
        "order_returned": rv["returned"],
    })
    inserts.append(("reviews", W.reviews_sql(width), p))
    inserts.append(("reviews", W.ground_truth_reviews_sql(), None))

    lam, pdrop, alive = cu["lam"], cu["p"], cu["alive"]
    expected = np.where(alive, (1 - np.exp(-lam * pdrop * horizon)) / pdrop, 0.0)
    tables["ground_truth"] = pa.table({
        "i": np.arange(c0, c0 + n, dtype=np.int64),
        "persona": W.dict_col(cu["persona"], PERSONA_NAMES.tolist()),
        "lambda_per_day": np.round(lam, 6),
        "p_dropout": np.round(pdrop, 6),
        "alive_at_as_of": alive,
        "n_orders_observed": np.bincount(sale_c, minlength=n),
        "future_orders": fut_orders,
        "expected_future_orders": np.round(expected, 4),
        "future_revenue": fut_rev,
        "churned_in_horizon": fut_orders == 0,
        "alive_at_horizon_end": alive_end,
        "satisfaction": np.round(cu["sat"], 4),
        "price_sensitivity": np.round(cu["sens"], 4),
        "top_category": W.dict_col(np.argmax(cu["mix"], axis=1), CATEGORIES),
        "language": W.dict_col(cu["zh"].astype(int), ["en", "zh"]),
    })
    inserts.append(("ground_truth", W.ground_truth_sql(width), None))

    offs["customer"] += n
    offs["order"] += n_sale
    offs["event"] += m
    offs["session"] += n_sessions
    offs["review"] += r_n
    return tables, inserts, {
        "customers": n, "orders": n_sale + len(ret_idx), "order_lines": len(sl["order"]) + len(rl["order"]),
        "events": m, "reviews": r_n,
        "personas": dict(zip(PERSONA_NAMES.tolist(), np.bincount(cu["persona"], minlength=len(PERSONAS)).tolist())),
    }
