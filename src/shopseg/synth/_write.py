"""Turn a chunk's arrays into rows of the canonical tables, through Arrow and Parquet, in DuckDB.

Strings are never built row by row in Python: small dictionaries (names,
product mentions, search texts, review sentences) are indexed with integer
arrays and passed as Arrow dictionary columns, and identifiers, e-mail
addresses, phone numbers and review texts are assembled by DuckDB SQL.

A chunk's Arrow tables are staged as Parquet files (:func:`stage`) and read
back by ``INSERT ... SELECT ... FROM read_parquet($file)`` (:func:`insert_staged`).
Measured on DuckDB 2.0: inside one long transaction, inserting from
registered Arrow tables grows memory outside DuckDB's buffer pool by about
1 GB per 100,000 customers (it is not released until the transaction ends),
while the same inserts from Parquet files stay within ``memory_limit``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import _people as P
from ._simulate import Catalogue
from ._text import typo_variants

CHANNELS = ("web", "app", "marketplace")


def dict_col(indices: np.ndarray, dictionary) -> pa.DictionaryArray:
    """Arrow dictionary column; negative indices become NULL."""
    idx = np.asarray(indices, dtype=np.int32)
    mask = idx < 0
    arr = pa.array(np.where(mask, 0, idx), type=pa.int32(), mask=mask if mask.any() else None)
    return pa.DictionaryArray.from_arrays(arr, pa.array(list(dictionary), type=pa.string()))


def ts_col(start: np.datetime64, seconds: np.ndarray) -> np.ndarray:
    return start + np.asarray(seconds, dtype=np.int64).astype("timedelta64[s]")


@dataclass
class Strings:
    """Every small string dictionary the writer indexes into."""

    names: list[str]
    email_bases: list[str]  # [name_combo * 4 + format]
    n_en: int  # name combos in English; Chinese combos follow
    places: list[tuple[str, str, str, bool]]  # (country, city, calling code, zh)
    place_w_en: np.ndarray
    place_w_zh: np.ndarray
    product_ids: list[str]
    mentions: list[str]  # [((product * 4 + spelling) * 2 + form) * 2 + lang]
    brand_mentions: list[str]  # [product * 4 + spelling]
    queries: list[str]  # [product * 4 + form]

    @classmethod
    def build(cls, cat: Catalogue) -> "Strings":
        f_en, l_en = P.FIRST_EN, P.LAST_EN
        names = [f"{f} {l}" for f in f_en for l in l_en]
        bases = []
        for f in f_en:
            for l in l_en:
                fl, ll = f.lower(), l.lower().replace(" ", "")
                bases += [f"{fl}.{ll}", f"{fl[0]}{ll}", f"{fl}_", f"{ll}.{fl}"]
        n_en = len(names)
        zh_chars, zh_pinyin = [], []
        for sc, sp in P.SURNAME_ZH:
            for gc, gp in P.GIVEN_ZH:
                zh_chars.append(sc + gc)
                zh_pinyin.append(f"{gp} {sp}")
                g, s = gp.lower(), sp.lower()
                bases += [f"{g}.{s}", f"{s}{g}", f"{g}_", f"{s}.{g}"]
        names += zh_chars + zh_pinyin
        places, w_en, w_zh = [], [], []
        for group, weights, zh in ((P.COUNTRIES_EN, P.COUNTRY_WEIGHTS_EN, False),
                                   (P.COUNTRIES_ZH, P.COUNTRY_WEIGHTS_ZH, True)):
            for (country, code, cities), w in zip(group, weights):
                for city in cities:
                    places.append((country, city, code, zh))
                    w_en.append(0.0 if zh else w / len(cities))
                    w_zh.append(w / len(cities) if zh else 0.0)
        f = cat.frame
        brands = f["brand"].fillna("").tolist()
        spell = [[b, *typo_variants(b)] if b else ["", "", "", ""] for b in brands]
        mentions, brand_mentions, queries = [], [], []
        cols = [f[c].fillna("").astype(str).tolist() for c in ("type_en", "type_zh", "variant", "variant_zh")]
        for i, (te, tz, ve, vz) in enumerate(zip(*cols)):  # the catalogue: a few hundred products
            for s in spell[i]:
                brand_mentions.append(s)
                for form in (0, 1):
                    en = f"{s} {te} {ve}" if form == 0 else f"{s} {te.lower()}"
                    zh = f"{s}{tz}{vz}" if form == 0 else f"{s}{tz}"
                    mentions += [en, zh]
            tl = te.lower()
            cut = max(1, len(tl) // 2)
            queries += [tl, f"{brands[i].lower()} {tl}", tz, tl[:cut] + tl[cut + 1:]]
        return cls(names, bases, n_en, places, np.array(w_en), np.array(w_zh),
                   f["product_id"].tolist(), mentions, brand_mentions, queries)


def insert(con, view: str, table: pa.Table, sql: str, params: list | None = None) -> int:
    """Register ``table`` as ``view``, run ``INSERT ... SELECT`` ``sql`` over it, unregister."""
    con.complete()  # DuckDB 2.0 refuses register() while an earlier result (ws.scalar) is unfetched
    con.register(view, table)
    try:
        con.execute(sql, params or []).fetchall()
    finally:
        con.unregister(view)
    return table.num_rows


def stage(table: pa.Table, path) -> None:
    """Write ``table`` to the Parquet file ``path``, as cheaply as possible: it is read once.

    LZ4; Parquet dictionaries only for the columns that are Arrow dictionaries
    already (hashing millions of numeric ids buys nothing); no statistics.
    This halves the CPU of the default settings (1.7 s instead of 3.7 s for a
    100,000-customer chunk).
    """
    dict_cols = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    pq.write_table(table, str(path), compression="lz4", use_dictionary=dict_cols, write_statistics=False)


def insert_staged(con, path, sql: str, params: dict | None = None) -> None:
    """Run ``sql`` (an ``INSERT ... SELECT ... FROM read_parquet($file)``) over the staged file ``path``."""
    con.execute(sql, {**(params or {}), "file": str(path)}).fetchall()


def customers_sql(width: int) -> str:
    return f"""
    INSERT INTO customers (customer_id, email, phone, name, country, region, city, signed_up_at, birth_date,
                           gender, ingest_id)
    SELECT 'C' || lpad(CAST(i AS VARCHAR), {width}, '0'),
           CASE WHEN no_email THEN NULL
                WHEN upper_email THEN upper(email_base || CAST(i AS VARCHAR) || '@' || domain)
                ELSE email_base || CAST(i AS VARCHAR) || '@' || domain END,
           CASE phone_form
                WHEN 0 THEN '+' || code || ' ' || printf('%03d %03d %04d', pa, pb, pc)
                WHEN 1 THEN printf('(%03d) %03d-%04d', pa, pb, pc)
                WHEN 2 THEN '0' || printf('%03d %03d %04d', pa, pb, pc)
                WHEN 3 THEN '+' || code || printf('%03d%03d%04d', pa, pb, pc)
                ELSE NULL END,
           name, country, region, city, signed_up_at, birth_date, gender, $ingest_id
    FROM read_parquet($file)"""


def customers_table(rng, cu, first: int, S: Strings, start) -> pa.Table:
    n = len(cu["persona"])
    zh = cu["zh"]
    n_zh = len(P.SURNAME_ZH) * len(P.GIVEN_ZH)
    en_combo = rng.integers(0, S.n_en, n)
    zh_combo = rng.integers(0, n_zh, n)
    chars = rng.random(n) < 0.5
    name_idx = np.where(zh, S.n_en + zh_combo + np.where(chars, 0, n_zh), en_combo)
    combo = np.where(zh, S.n_en + zh_combo, en_combo)
    email_idx = combo * 4 + rng.integers(0, 4, n)
    w_en, w_zh = S.place_w_en / S.place_w_en.sum(), S.place_w_zh / S.place_w_zh.sum()
    place = np.where(zh, rng.choice(len(w_zh), n, p=w_zh), rng.choice(len(w_en), n, p=w_en))
    signup_sec = np.floor(cu["signup"] * 86400).astype(np.int64)
    return pa.table({
        "i": np.arange(first, first + n, dtype=np.int64),
        "email_base": dict_col(email_idx, S.email_bases),
        "domain": dict_col(rng.integers(0, len(P.EMAIL_DOMAINS), n), P.EMAIL_DOMAINS),
        "no_email": rng.random(n) < 0.02,
        "upper_email": rng.random(n) < 0.03,
        "phone_form": np.where(rng.random(n) < 0.12, -1, rng.integers(0, 4, n)),
        "pa": rng.integers(200, 1000, n), "pb": rng.integers(200, 1000, n), "pc": rng.integers(0, 10000, n),
        "code": dict_col(place, [p[2] for p in S.places]),
        "name": dict_col(name_idx, S.names),
        "country": dict_col(place, [p[0] for p in S.places]),
        "city": dict_col(np.where(rng.random(n) < 0.03, -1, place), [p[1] for p in S.places]),
        "signed_up_at": ts_col(start, signup_sec),
    }), place


def orders_sql(width: int) -> str:
    return f"""
    INSERT INTO orders (order_id, customer_id, ordered_at, kind, channel, country, discount_amount,
                        shipping_amount, ingest_id)
    SELECT 'O' || lpad(CAST(o AS VARCHAR), 9, '0') || suffix, 'C' || lpad(CAST(c AS VARCHAR), {width}, '0'),
           ordered_at, kind, channel, country, discount_amount, 0.0, $ingest_id
    FROM read_parquet($file)"""


LINES_SQL = """
    INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price, discount_amount, ingest_id)
    SELECT 'O' || lpad(CAST(o AS VARCHAR), 9, '0') || suffix, line_no, product_id, quantity, unit_price,
           discount_amount, $ingest_id
    FROM read_parquet($file)"""


def events_sql(width: int) -> str:
    return f"""
    INSERT INTO events (event_id, customer_id, session_id, event_type, product_id, occurred_at,
                        duration_seconds, search_query, ingest_id)
    SELECT 'E' || lpad(CAST(e AS VARCHAR), 10, '0'),
           CASE WHEN c >= 0 THEN 'C' || lpad(CAST(c AS VARCHAR), {width}, '0') END,
           'S' || lpad(CAST(s AS VARCHAR), 9, '0'), event_type, product_id, occurred_at,
           duration_seconds, search_query, $ingest_id
    FROM read_parquet($file)"""


def reviews_sql(width: int) -> str:
    return f"""
    INSERT INTO reviews (review_id, customer_id, product_id, order_id, rating, text, language, reviewed_at,
                         ingest_id)
    SELECT 'RV' || lpad(CAST(r AS VARCHAR), 8, '0'), 'C' || lpad(CAST(c AS VARCHAR), {width}, '0'),
           product_id, 'O' || lpad(CAST(o AS VARCHAR), 9, '0'), rating,
           replace(replace(CASE WHEN language = 'zh' THEN concat(opener, s1, coalesce(s2, ''))
                                ELSE concat_ws(' ', opener, s1, s2) END,
                           '{{product}}', product_mention), '{{brand}}', brand_mention),
           language, reviewed_at, $ingest_id
    FROM read_parquet($file)"""


def ground_truth_reviews_sql() -> str:
    return """
    INSERT INTO ground_truth_reviews
    SELECT 'RV' || lpad(CAST(r AS VARCHAR), 8, '0'), planted_sentiment, planted_label, mentioned_brand,
           product_id, brand_mention, brand_mention <> mentioned_brand, language, aspect_1, aspect_1_polarity,
           aspect_2, aspect_2_polarity, delivery_late, order_returned
    FROM read_parquet($file)"""


def ground_truth_sql(width: int) -> str:
    return f"""
    INSERT INTO ground_truth
    SELECT 'C' || lpad(CAST(i AS VARCHAR), {width}, '0'), persona, lambda_per_day, p_dropout, alive_at_as_of,
           n_orders_observed, future_orders, expected_future_orders, future_revenue, churned_in_horizon,
           alive_at_horizon_end, satisfaction, price_sensitivity, top_category, language
    FROM read_parquet($file)"""


GROUND_TRUTH_DDL = """
CREATE TABLE ground_truth (
  customer_id VARCHAR, persona VARCHAR, lambda_per_day DOUBLE, p_dropout DOUBLE, alive_at_as_of BOOLEAN,
  n_orders_observed BIGINT, future_orders BIGINT, expected_future_orders DOUBLE, future_revenue DOUBLE,
  churned_in_horizon BOOLEAN, alive_at_horizon_end BOOLEAN, satisfaction DOUBLE, price_sensitivity DOUBLE,
  top_category VARCHAR, language VARCHAR
);
CREATE TABLE ground_truth_reviews (
  review_id VARCHAR, planted_sentiment DOUBLE, planted_label VARCHAR, mentioned_brand VARCHAR,
  mentioned_product_id VARCHAR, brand_spelling VARCHAR, brand_misspelt BOOLEAN, language VARCHAR,
  aspect_1 VARCHAR, aspect_1_polarity VARCHAR, aspect_2 VARCHAR, aspect_2_polarity VARCHAR,
  delivery_late BOOLEAN, order_returned BOOLEAN
);
CREATE TABLE ground_truth_rules (
  rule_id BIGINT, antecedent_product_id VARCHAR, antecedent_name VARCHAR, consequent_product_ids VARCHAR,
  consequent_names VARCHAR, planted_probability DOUBLE, support DOUBLE, confidence DOUBLE, lift DOUBLE
);
"""
GROUND_TRUTH_TABLES = ("ground_truth", "ground_truth_reviews", "ground_truth_rules")
# only with synthesize(..., repurchase=True)
REPURCHASE_DDL = """
CREATE TABLE ground_truth_repurchase (
  customer_id VARCHAR, product_id VARCHAR, cycle_days DOUBLE, n_planted_observed BIGINT,
  days_since_last_planted DOUBLE, bought_in_horizon BOOLEAN
)"""


def repurchase_sql(width: int) -> str:
    return f"""
    INSERT INTO ground_truth_repurchase
    SELECT 'C' || lpad(CAST(i AS VARCHAR), {width}, '0'), product_id, cycle_days, n_planted_observed,
           days_since_last_planted, bought_in_horizon
    FROM read_parquet($file)"""

# Realised support, confidence and lift of each planted rule, over sale orders'
# merchandise baskets (the rule's whole consequent set on the right-hand side).
RULE_STATS_SQL = """
UPDATE ground_truth_rules g SET support = s.support, confidence = s.confidence, lift = s.lift
FROM (
  WITH baskets AS (
    SELECT DISTINCT l.order_id, l.product_id
    FROM order_lines l JOIN orders o USING (order_id) JOIN products p USING (product_id)
    WHERE o.kind = 'sale' AND p.is_merchandise AND o.ingest_id = $ingest_id
  ),
  n AS (SELECT count(DISTINCT order_id) AS n FROM baskets),
  r AS (SELECT rule_id, antecedent_product_id AS a, string_split(consequent_product_ids, ',') AS cons
        FROM ground_truth_rules),
  per_order AS (
    SELECT r.rule_id, b.order_id, bool_or(b.product_id = r.a) AS has_a,
           count(DISTINCT b.product_id) FILTER (list_contains(r.cons, b.product_id)) = len(any_value(r.cons))
             AS has_c
    FROM r JOIN baskets b ON b.product_id = r.a OR list_contains(r.cons, b.product_id)
    GROUP BY r.rule_id, b.order_id
  ),
  c AS (
    SELECT rule_id, count(*) FILTER (has_a) AS n_a, count(*) FILTER (has_c) AS n_c,
           count(*) FILTER (has_a AND has_c) AS n_ac
    FROM per_order GROUP BY rule_id
  )
  SELECT rule_id, n_ac / n.n AS support, n_ac / nullif(n_a, 0) AS confidence,
         (n_ac / nullif(n_a, 0)) / nullif(n_c / n.n, 0) AS lift
  FROM c, n
) s
WHERE g.rule_id = s.rule_id
"""


