"""Interests: what each customer buys, browses and writes about, more than the shop's customers do.

Evidence per customer and item (a product category or a brand), before ``as_of``:

- every merchandise product of a sale order counts 1 for its category and brand (products bought, not units,
  lines or money: a case of 24 mugs or one laptop is one purchase of the item, and so are two lines of the same
  product in one order, as Olist writes two units);
- every product event other than a search (view, click, add to cart, wishlist) counts ``browse_weight``;
- every review brand mention (``review_insights.brand_mentions`` of the run, when the reviews stage ran)
  counts ``review_weight`` for that brand;
- every review of the run with a topic (``review_insights.topic``, NMF topics of the reviews stage) counts
  ``topic_weight`` for that topic, an item of its own kind ``topic`` named from the topic's first two words
  ("battery / life").

The **affinity** of customer *c* for item *i* of a kind (category or brand) is the lift of the customer's
share over the shop's, shrunk towards 1 for customers with little evidence. The lift is an observed over
expected ratio: ``O = w_ci`` against ``E = w_c * shop_share_i`` (what the customer would show on *i* if they
followed the shop's mix), and the ratio is shrunk as relative risks are in disease mapping (Clayton & Kaldor
1987): with a Gamma(k, k) prior on it (mean 1), its posterior mean is ::

    shop_share_i = W_i / W            (all customers' weight on i over all weight of its kind)
    lift_ci      = (w_ci + k) / (w_c * shop_share_i + k)

``k = segments.interest.prior_weight`` (2, in purchase lines). One purchase of even the rarest category gives
(1 + 2) / (0 + 2) = 1.5 at most, so a single purchase alone never makes an interest at ``min_lift`` 1.5 (with
a few views it can); two purchases of a category holding 10% of the shop's lines, out of two, give
(2 + 2) / (0.2 + 2) = 1.8. Unshrunk (``k = 0``) that is the raw share over the shop's (10). ``k`` matters
for the customers with little evidence and fades as it grows.

A customer's **interests** are the categories (and review topics) with lift >= ``min_lift``, by lift, at most
``max_interests`` (3); a topic's lift is over the shop's mix of topics, so a topic most reviewers write about
(delivery) lifts little. Each is named from the category and the customer's most lifted brand in it when that
brand also reaches ``min_lift`` ("home, Hearthly"). Shops without categories use brands as the interests; shops
with neither, groups derived from the product names (:mod:`shopseg.segment.product_groups`). The ``interest``
scheme's segment is the primary (first) interest, ``no clear interest`` for customers with none; a shop whose
products have neither category nor brand has no ``interest`` segments (the run's summary says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._exact import exact_sum
from ._common import index_in
from .product_groups import derived_categories

NO_INTEREST = "no clear interest"
BROWSE_EVENTS = ("view", "click", "add_to_cart", "wishlist")


TOPIC_WORDS = 2  # a topic interest is named from this many of its top words


# The sale lines that count as purchases: one definition for the live SQL below and the batch's counts in numpy
# (:func:`purchase_evidence`), which take their (order, product) pairs from it.
_SALE_ORDERS = "o.kind = 'sale' AND o.customer_id IS NOT NULL AND o.ordered_at < $as_of"
_SALES_FROM = f"""FROM orders o JOIN order_lines l ON l.order_id = o.order_id
            WHERE {_SALE_ORDERS}"""


def _lines_sql(has_events: bool, sales: bool = True) -> str:
    """(customer_id, product_id, w): a product of a sale order counts 1, a browse event ``$browse_weight``; the
    ``/*only*/`` markers restrict it to ``$customers`` on the live path (:func:`shopseg.workspace.only_customers`).
    ``sales=False``: the browse events only (the batch counts the purchases in numpy: :func:`purchase_evidence`)."""
    parts = [f"""
        SELECT customer_id, product_id, 1.0 AS w FROM (
            SELECT DISTINCT o.customer_id, o.order_id, l.product_id
            {_SALES_FROM}/*only:o*/)"""] if sales else []
    if has_events:
        parts.append(f"""
        SELECT customer_id, product_id, $browse_weight AS w FROM events
        WHERE customer_id IS NOT NULL AND product_id IS NOT NULL AND occurred_at < $as_of/*only*/
          AND event_type IN ({", ".join(f"'{e}'" for e in BROWSE_EVENTS)})""")
    return " UNION ALL ".join(parts)


def _review_sql(has_topics: bool) -> str:
    """(customer_id, kind, item, weight, reviewed_at): the review evidence of run ``$run_id`` before ``$as_of``."""
    sql = """
        SELECT customer_id, 'brand' AS kind, b AS item, $review_weight AS weight, reviewed_at
        FROM (SELECT customer_id, unnest(brand_mentions) AS b, reviewed_at FROM review_insights
              WHERE run_id = $run_id AND customer_id IS NOT NULL AND reviewed_at < $as_of)
        WHERE b IS NOT NULL AND b IN (SELECT brand FROM products)"""
    if has_topics:
        sql += f"""
        UNION ALL
        SELECT customer_id, 'topic' AS kind,
               array_to_string(string_split(topic, ' / ')[1:{TOPIC_WORDS}], ' / ') AS item,
               $topic_weight AS weight, reviewed_at
        FROM review_insights
        WHERE run_id = $run_id AND customer_id IS NOT NULL AND reviewed_at < $as_of AND topic IS NOT NULL"""
    return sql


def _evidence_sql(has_events: bool, has_reviews: bool, has_topics: bool = False, derived: bool = False,
                  sales: bool = True) -> str:
    reviews = f"""
        UNION ALL
        SELECT customer_id, kind, item, weight FROM ({_review_sql(has_topics)})""" if has_reviews else ""
    if not sales and not has_events:  # the reviews alone (or nothing): no line evidence to join with products
        return f"""SELECT customer_id, kind, item, {exact_sum("weight")} AS weight FROM (
            SELECT NULL::VARCHAR AS customer_id, NULL::VARCHAR AS kind, NULL::VARCHAR AS item, 0.0 AS weight
            WHERE false{reviews}) GROUP BY ALL ORDER BY customer_id, kind, item"""
    return f"""
    WITH ev AS ({_lines_sql(has_events, sales)}),
    item AS (
        SELECT ev.customer_id, {"coalesce(p.category, d.category)" if derived else "p.category"} AS category,
               p.brand, {exact_sum("ev.w")} AS w
        FROM ev JOIN products p USING (product_id)
        {"LEFT JOIN _interest_groups d USING (product_id)" if derived else ""}
        WHERE coalesce(p.is_merchandise, TRUE)
        GROUP BY ALL
    )
    SELECT customer_id, kind, item, {exact_sum("weight")} AS weight FROM (
        SELECT customer_id, 'category' AS kind, category AS item, w AS weight FROM item WHERE category IS NOT NULL
        UNION ALL
        SELECT customer_id, 'brand' AS kind, brand AS item, w AS weight FROM item WHERE brand IS NOT NULL{reviews}
    ) GROUP BY ALL ORDER BY customer_id, kind, item
    """


def _sources(ws, run_id, topic_weight) -> tuple[bool, bool, bool]:
    """Whether the shop has browse events, run ``run_id`` review evidence, and review topics."""
    has_events = ws.has_table("events") and bool(ws.scalar("SELECT count(*) FROM events"))
    has_reviews = run_id is not None and ws.has_table("review_insights") and bool(
        ws.scalar("SELECT count(*) FROM review_insights WHERE run_id = ?", [int(run_id)]))
    has_topics = has_reviews and topic_weight > 0 and "topic" in ws.columns("review_insights")
    return has_events, has_reviews, has_topics


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct non-None values, each value's position in them, -1 for None): codes in name order."""
    has = np.array([v is not None for v in values], dtype=bool)
    names, pos = np.unique(values[has].astype(str), return_inverse=True)
    codes = np.full(len(values), -1, dtype=np.int64)
    codes[has] = pos
    return names.astype(object), codes


CHUNK_LINES = 1 << 25  # order lines per fetch of purchase_evidence (an int64 each: 256 MB)


def _count_pairs(key: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """(each distinct key, its count), keys ascending; ``n_cells``: the number of possible keys."""
    if not len(key):
        return key, key
    if n_cells <= 1 << 26:  # a dense count (<= 512 MB) costs less than a sort
        counts = np.bincount(key, minlength=0)
        key = np.flatnonzero(counts)
        return key, counts[key]
    key = np.sort(key)
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return key[first], np.diff(np.r_[first, len(key)])


def _add_counts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The counts of several :func:`_count_pairs` results added per key, keys ascending."""
    if len(parts) == 1:
        return parts[0]
    key, n = np.concatenate([k for k, _ in parts]), np.concatenate([c for _, c in parts])
    order = np.argsort(key, kind="stable")
    key, n = key[order], n[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
    return key[first], np.add.reduceat(n, first) if len(first) else n


def purchase_evidence(ws, as_of, groups: pd.DataFrame | None = None) -> pd.DataFrame:
    """The purchase part of :func:`interest_evidence` (customer_id, kind, item, weight), in that order: per
    customer, the distinct (sale order, merchandise product) pairs of each category (``groups``' derived one where
    a product has none) and of each brand.

    The same counts as :func:`_lines_sql`'s ``DISTINCT`` over every line (which the live path runs for a few
    customers), without a hash table of every (customer, order, product): DuckDB hands over each line's order and
    product as one integer (from their row numbers in ``orders`` and ``products``, one to one with the keys), numpy
    sorts it to drop the repeats of a product within an order and counts the rest per customer and item. At Online
    Retail x100 (39M lines) that is a sort of 312 MB instead of a 39M-group aggregate; past :data:`CHUNK_LINES`
    lines it goes by ranges of orders, so its memory does not grow with the shop.
    """
    params = {"as_of": pd.Timestamp(as_of).to_pydatetime()}
    prod = ws.con.execute("SELECT rowid AS pi, CAST(product_id AS VARCHAR) AS product_id, category, brand "
                          "FROM products WHERE coalesce(is_merchandise, TRUE) ORDER BY pi").df()
    empty = pd.DataFrame({"customer_id": pd.Series(dtype=object), "kind": pd.Series(dtype=object),
                          "item": pd.Series(dtype=object), "weight": pd.Series(dtype=float)})
    if not len(prod):
        return empty
    category = prod["category"].to_numpy(dtype=object)
    if groups is not None and len(groups):
        derived = prod["product_id"].map(dict(zip(groups["product_id"].astype(str), groups["category"])))
        category = np.where(pd.isna(category), derived.to_numpy(dtype=object), category)
        category = np.where(pd.isna(category), None, category)
    n_prod = int(prod["pi"].max()) + 1
    kinds = []
    for kind, values in (("brand", prod["brand"].to_numpy(dtype=object)), ("category", category)):
        names, codes = _codes(np.where(pd.isna(values), None, values))
        if len(names):
            lut = np.full(n_prod, -1, dtype=np.int64)
            lut[prod["pi"].to_numpy(np.int64)] = codes
            kinds.append((kind, names, lut))
    if not kinds:
        return empty
    # each sale order's customer as a code in customer_id order (the rows _SALES_FROM joins its lines to)
    orders = ws.con.execute(f"SELECT o.rowid AS oi, dense_rank() OVER (ORDER BY o.customer_id) - 1 AS c "
                            f"FROM orders o WHERE {_SALE_ORDERS}", params).fetchnumpy()
    if not len(orders["oi"]):
        return empty
    customers = np.array([r[0] for r in ws.con.execute(
        f"SELECT DISTINCT o.customer_id FROM orders o WHERE {_SALE_ORDERS} ORDER BY 1", params).fetchall()],
        dtype=object)
    cust_of = np.full(int(orders["oi"].max()) + 1, -1, dtype=np.int32)
    cust_of[orders["oi"].astype(np.int64)] = orders["c"]
    del orders
    # one int64 a line, made by DuckDB: order row x products + product row (8 bytes a line in Python), fetched in
    # ranges of order rows of at most ~CHUNK_LINES lines (a product repeats only within an order, so each range's
    # distinct pairs are final): the memory stays ~CHUNK_LINES x 8 bytes however large the shop
    n_lines = int(ws.scalar("SELECT count(*) FROM order_lines"))
    bounds = np.linspace(0, len(cust_of), max(1, -(-n_lines // CHUNK_LINES)) + 1).astype(np.int64)
    counted: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in kinds]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        key = ws.con.execute(
            f"SELECT o.rowid * {n_prod} + p.rowid AS k FROM orders o JOIN order_lines l ON l.order_id = o.order_id "
            f"JOIN products p ON p.product_id = l.product_id WHERE {_SALE_ORDERS} "
            f"AND coalesce(p.is_merchandise, TRUE) AND o.rowid >= {int(lo)} AND o.rowid < {int(hi)}",
            params).fetchnumpy()["k"]
        key = np.asarray(key, dtype=np.int64)
        key.sort()  # the distinct (order, product) pairs: a sort (np.unique hashes, several times slower here)
        key = key[np.r_[True, key[1:] != key[:-1]]] if len(key) else key
        cust, pi = cust_of[key // n_prod], key % n_prod
        del key
        for j, (_, names, lut) in enumerate(kinds):
            item = lut[pi]
            has = item >= 0
            counted[j].append(_count_pairs(cust[has].astype(np.int64) * len(names) + item[has],
                                           len(customers) * len(names)))
    # items of both kinds numbered together (brand names first), kinds as 0 = brand, 1 = category: name order
    parts, kind_names, item_names = [], np.array([k for k, _, _ in kinds], dtype=object), []
    for j, (kind, names, lut) in enumerate(kinds):
        pair, n = _add_counts(counted[j])
        c, i = pair // len(names), pair % len(names)
        parts.append((c, np.full(len(c), j, dtype=np.int64), i + sum(len(x) for x in item_names), n))
        item_names.append(names)
    item_names = np.concatenate(item_names)
    c, k, i, n = (np.concatenate(a) for a in zip(*parts))
    order = np.argsort(c, kind="stable")  # customer, then kind (brand < category), then item
    return pd.DataFrame({"customer_id": _strings(customers, c[order]), "kind": _strings(kind_names, k[order]),
                         "item": _strings(item_names, i[order]), "weight": n[order].astype(float)})


def _strings(names: np.ndarray, codes: np.ndarray) -> pd.Series:
    """``names[codes]`` as a pandas string column (what DuckDB's ``.df()`` gives), decoded by Arrow: building it
    from Python strings costs ~5x more at millions of rows."""
    import pyarrow as pa

    arr = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(names, type=pa.string()))
    return pd.Series(arr.dictionary_decode(), dtype="str")


def interest_evidence(ws, as_of, *, browse_weight: float = 0.2, review_weight: float = 1.0,
                      topic_weight: float = 1.0, run_id: int | None = None, derived_groups: int = 0,
                      derived_min_products: int = 5, groups: pd.DataFrame | None = None) -> pd.DataFrame:
    """Weighted evidence (customer_id, kind, item, weight) before ``as_of`` (see the module doc).

    ``derived_groups`` > 0: when no product has a category, products are grouped from their names
    (:func:`shopseg.segment.product_groups.derived_categories`, or ``groups`` when given) and the groups count as
    categories.
    """
    has_events, has_reviews, has_topics = _sources(ws, run_id, topic_weight)
    params = {"as_of": pd.Timestamp(as_of).to_pydatetime()}
    if has_events:
        params["browse_weight"] = float(browse_weight)
    if has_reviews:
        params |= {"review_weight": float(review_weight), "run_id": int(run_id)}
    if has_topics:
        params["topic_weight"] = float(topic_weight)
    if groups is None:
        groups = derived_categories(ws, n_groups=derived_groups, min_products=derived_min_products)
    bought = purchase_evidence(ws, as_of, groups)
    if has_events or has_reviews:  # browsing and reviews by SQL, added to the purchases' counts
        if not len(groups):
            other = ws.df(_evidence_sql(has_events, has_reviews, has_topics, sales=False), params)
        else:
            ws.con.register("_interest_groups", groups)
            try:
                other = ws.df(_evidence_sql(has_events, has_reviews, has_topics, derived=True, sales=False), params)
            finally:
                ws.con.unregister("_interest_groups")
        if len(other):
            bought = pd.concat([bought, other], ignore_index=True).groupby(
                ["customer_id", "kind", "item"], as_index=False, sort=True)["weight"].sum()
    if len(groups):
        bought.attrs["derived_groups"] = int(groups["category"].nunique())  # the profiles say where categories came from
    return bought


def _encode(col: pd.Series) -> tuple[np.ndarray | None, int]:
    """(each value's code, number of distinct values) by Arrow's dictionary encoding; (None, 0) with a missing value."""
    import pyarrow as pa

    enc = pa.array(col.astype(str) if col.dtype == object else col, from_pandas=True).dictionary_encode()
    if enc.null_count:
        return None, 0
    return np.asarray(enc.indices, dtype=np.int64), len(enc.dictionary)


def affinities(evidence: pd.DataFrame, prior_weight: float = 2.0) -> pd.DataFrame:
    """Shares and shrunk lifts per (customer, kind, item) from :func:`interest_evidence`'s frame.

    >>> ev = pd.DataFrame({"customer_id": ["a", "a", "b"], "kind": "category", "item": ["home", "toys", "toys"],
    ...                    "weight": [2.0, 2.0, 6.0]})
    >>> print(affinities(ev)[["customer_id", "item", "share", "shop_share", "lift"]].round(4).to_string(index=False))
    customer_id item  share  shop_share   lift
              a home    0.5         0.2 1.4286
              a toys    0.5         0.8 0.7692
              b toys    1.0         0.8 1.1765

    a, home: (2 + 2) / (4 x 0.2 + 2) = 4 / 2.8; unshrunk 0.5 / 0.2 = 2.5 (:func:`interest_score` applies the
    same formula to a few customers with a stored run's shop mix).
    """
    ev = evidence.loc[evidence["weight"] > 0] if (evidence["weight"] <= 0).any() else evidence
    ev = ev.copy()
    keys = [_encode(ev[c]) for c in ("customer_id", "kind", "item")]
    if any(codes is None for codes, _ in keys):  # a missing key: pandas' groupby, which leaves such rows out
        kind_total = ev.groupby("kind")["weight"].transform("sum")
        ev["shop_share"] = ev.groupby(["kind", "item"])["weight"].transform("sum") / kind_total
        ev["customer_weight"] = ev.groupby(["customer_id", "kind"])["weight"].transform("sum")
    else:  # the same sums over integer codes (Arrow's dictionary encoding): no string hashing per group-by
        (cc, nc), (kc, nk), (ic, ni) = keys
        w = ev["weight"].to_numpy(dtype=float)
        pair = kc * ni + ic
        ev["shop_share"] = np.bincount(pair, w, minlength=nk * ni)[pair] / np.bincount(kc, w, minlength=nk)[kc]
        per = cc * nk + kc
        ev["customer_weight"] = np.bincount(per, w, minlength=nc * nk)[per]
    k = float(prior_weight)
    ev["share"] = ev["weight"] / ev["customer_weight"]
    ev["lift"] = (ev["weight"] + k) / (ev["customer_weight"] * ev["shop_share"] + k)
    return ev.reset_index(drop=True)


def customer_interests(aff: pd.DataFrame, *, min_lift: float = 1.5, max_interests: int = 3) -> pd.DataFrame:
    """Up to ``max_interests`` interests per customer: customer_id, rank (1..), interest, name, lift, weight.

    Interests are categories (brands when the evidence has no category) and review topics; ``name`` adds the
    customer's most lifted brand within the category when it reaches ``min_lift`` too.
    """
    base = "category" if (aff["kind"] == "category").any() else "brand"
    top = aff.loc[aff["kind"].isin([base, "topic"]) & (aff["lift"] >= min_lift)]
    top = top.sort_values(["customer_id", "lift", "weight", "item"], ascending=[True, False, False, True])
    top = top.assign(rank=top.groupby("customer_id").cumcount() + 1)
    top = top.loc[top["rank"] <= max_interests]
    out = top[["customer_id", "rank", "item", "lift", "weight"]].rename(columns={"item": "interest"})
    out["name"] = out["interest"]
    if base == "category":
        out["name"] = _with_brand(out, aff, min_lift)
    return out.reset_index(drop=True)[["customer_id", "rank", "interest", "name", "lift", "weight"]]


def _with_brand(out: pd.DataFrame, aff: pd.DataFrame, min_lift: float) -> pd.Series:
    """``category, Brand`` where the customer's most lifted brand of that category reaches ``min_lift``."""
    brands = aff.loc[(aff["kind"] == "brand") & (aff["lift"] >= min_lift), ["customer_id", "item", "lift"]]
    if not len(brands) or "brand_category" not in aff.attrs:
        return out["interest"]
    bc = aff.attrs["brand_category"]  # brand -> its main category
    brands = brands.assign(category=brands["item"].map(bc)).dropna(subset=["category"])
    best = brands.sort_values(["customer_id", "category", "lift", "item"], ascending=[True, True, False, True])
    best = best.drop_duplicates(["customer_id", "category"])
    named = out.merge(best.rename(columns={"category": "interest", "item": "brand"})[
        ["customer_id", "interest", "brand"]], on=["customer_id", "interest"], how="left")
    return pd.Series(np.where(named["brand"].notna(), named["interest"] + ", " + named["brand"].fillna(""),
                              named["interest"]), index=out.index)


def brand_categories(ws) -> dict:
    """Each brand's main category (most products; ties by name)."""
    df = ws.df("SELECT brand, category, count(*) AS n FROM products WHERE brand IS NOT NULL AND category IS NOT "
               "NULL GROUP BY ALL ORDER BY brand, n DESC, category")
    return dict(zip(*df.drop_duplicates("brand")[["brand", "category"]].T.to_numpy()))


@dataclass
class InterestResult:
    """What :func:`interests` found for a run's customers.

    ``rows``: the ``customer_interests`` rows (customer_id, rank, interest, name, lift, weight);
    ``segment``: the primary interest of each customer asked for, in order (``no clear interest``);
    ``names``: segment -> display name; ``extras``: segment -> profile extras; ``note``: None, or why there is
    nothing to go on (every customer is then in ``no clear interest``; the scheme is skipped).
    """

    rows: pd.DataFrame
    segment: pd.Series
    names: dict
    extras: dict
    note: str | None = None
    mix: dict | None = None  # the shop mix the live score needs (:func:`shop_mix`), stored with the run


def interests(ws, as_of, customer_ids, cfg, run_id: int | None = None) -> InterestResult:
    """Affinities, interests and the ``interest`` segment of ``customer_ids`` (see the module doc)."""
    groups = derived_categories(ws, n_groups=cfg["segments.interest.derived_groups"],
                                min_products=cfg["segments.interest.derived_min_products"])
    ev = interest_evidence(ws, as_of, browse_weight=cfg["segments.interest.browse_weight"],
                           review_weight=cfg["segments.interest.review_weight"],
                           topic_weight=cfg["segments.interest.topic_weight"], run_id=run_id, groups=groups)
    ids = pd.Series(customer_ids, dtype=object).astype(str).reset_index(drop=True)
    if not len(ev):
        note = "no product of the shop has a category or a brand"
        return InterestResult(pd.DataFrame(columns=["customer_id", "rank", "interest", "name", "lift", "weight"]),
                              pd.Series(NO_INTEREST, index=ids.index, dtype=object), {}, {}, note)
    min_lift = cfg["segments.interest.min_lift"]
    aff = affinities(ev, cfg["segments.interest.prior_weight"])
    mix = shop_mix(ev, aff, groups, _sources(ws, run_id, cfg["segments.interest.topic_weight"])[0])
    aff.attrs["brand_category"] = brand_categories(ws)
    ci = customer_interests(aff, min_lift=min_lift, max_interests=cfg["segments.interest.max_interests"])
    ci = ci.loc[index_in(ci["customer_id"], ids) >= 0].reset_index(drop=True)
    seg = ids.map(ci.loc[ci["rank"] == 1].set_index("customer_id")["interest"]).astype(object)
    seg = seg.where(seg.notna(), NO_INTEREST)
    names, extras = segment_descriptions(aff, ci, seg, ids, min_lift)
    if ev.attrs.get("derived_groups"):
        for s in seg.unique():
            extras.setdefault(s, {})["categories"] = (f"derived from product names: {ev.attrs['derived_groups']} "
                                                     "groups (docs/segments.md)")
    return InterestResult(ci, seg, names, extras, mix=mix)


def shop_mix(ev: pd.DataFrame, aff: pd.DataFrame, groups: pd.DataFrame, has_events: bool) -> dict:
    """What the live score needs of a run's evidence, as plain JSON values: each item's shop share (the batch's
    floats), each kind's total weight, the base kind, the derived product groups, whether browsing counts."""
    (kc, _), (ic, ni) = _encode(aff["kind"]), _encode(aff["item"])
    if kc is None or ic is None:
        one = aff.drop_duplicates(["kind", "item"])
    else:  # drop_duplicates by codes: each (kind, item)'s first row, in row order
        _, first = np.unique(kc * ni + ic, return_index=True)
        one = aff.iloc[np.sort(first)]
    return {"shop": [[k, i, float(s)] for k, i, s in zip(one["kind"], one["item"], one["shop_share"])],
            "totals": {k: float(v) for k, v in ev.groupby("kind")["weight"].sum().items()},
            "base": "category" if (ev["kind"] == "category").any() else "brand",
            "groups": dict(zip(groups["product_id"].astype(str), groups["category"])), "has_events": bool(has_events)}


def segment_descriptions(aff: pd.DataFrame, ci: pd.DataFrame, seg: pd.Series, ids: pd.Series,
                         min_lift: float, top: int = 2) -> tuple[dict, dict]:
    """Each interest segment's name and profile extras.

    The name is the interest followed by the (at most ``top``) brands of the interest's category (when brands
    have one) most lifted in its members' evidence over the shop's (lift >= ``min_lift``): "home: Hearthly,
    Casamora". Extras: ``top_brands`` ({brand, share, lift}),
    ``also_interested_in`` (share of the segment holding each other interest, top 3).
    """
    names, extras = {}, {}
    members = pd.DataFrame({"customer_id": ids, "segment": seg})
    br = aff.loc[aff["kind"] == "brand", ["customer_id", "item", "weight", "shop_share"]].merge(
        members, on="customer_id")
    if len(br):
        g = br.groupby(["segment", "item"], as_index=False).agg(weight=("weight", "sum"),
                                                                shop_share=("shop_share", "first"))
        g["share"] = g["weight"] / g.groupby("segment")["weight"].transform("sum")
        g["lift"] = g["share"] / g["shop_share"]
        bc = aff.attrs.get("brand_category", {})
        own = g["item"].map(bc).fillna(g["segment"]) == g["segment"]  # a brand of the interest's own category
        g = g.loc[own & (g["lift"] >= min_lift)].sort_values(["segment", "lift", "item"],
                                                             ascending=[True, False, True])
        g = g.groupby("segment").head(top)
        for s, part in g.groupby("segment", sort=False):
            extras.setdefault(s, {})["top_brands"] = [
                {"brand": b, "share": round(float(sh), 4), "lift": round(float(lf), 3)}
                for b, sh, lf in zip(part["item"], part["share"], part["lift"])]
    other = ci.loc[ci["rank"] > 1, ["customer_id", "interest"]].merge(members, on="customer_id")
    if len(other):
        size = members["segment"].value_counts()
        also = other.groupby(["segment", "interest"]).size().reset_index(name="n")
        also["share"] = also["n"] / also["segment"].map(size)
        also = also.sort_values(["segment", "share", "interest"], ascending=[True, False, True])
        for s, part in also.groupby("segment", sort=False):
            extras.setdefault(s, {})["also_interested_in"] = [
                {"interest": i, "share": round(float(v), 4)} for i, v in zip(part["interest"][:3], part["share"][:3])]
    for s in seg.unique():
        brands = [b["brand"] for b in extras.get(s, {}).get("top_brands", [])]
        names[s] = f"{s}: {', '.join(brands)}" if brands and s != NO_INTEREST else s
    return names, extras


# -- the live score ---------------------------------------------------------------------------------------------

@dataclass
class InterestState:
    """What a stored run left for scoring a few customers' interest (the scheme's ``state``): the run's shop mix
    (each item's share of its kind, and each kind's total weight), its base kind, the run's review evidence per
    customer (reviews are mined by the run, not live), the derived product groups and the settings."""

    config: object
    as_of: object
    shop: dict  # (kind, item) -> shop share
    totals: dict  # kind -> total weight
    base: str
    reviews: pd.DataFrame  # customer_id, kind, item, weight, reviewed_at
    groups: dict  # product_id -> derived category (a shop without categories or brands)
    has_events: bool


def interest_state(ws, as_of, cfg, review_run: int | None, mix: dict | None = None) -> InterestState | None:
    """The live score's state for a run as of ``as_of``: its shop mix ``mix`` as the run stored it
    (:func:`shop_mix`; without it, the batch's evidence is read again over every customer) and its review
    evidence; None when the run had nothing to go on."""
    g = cfg["segments.interest"]
    if mix is None:
        groups = derived_categories(ws, n_groups=g["derived_groups"], min_products=g["derived_min_products"])
        ev = interest_evidence(ws, as_of, browse_weight=g["browse_weight"], review_weight=g["review_weight"],
                               topic_weight=g["topic_weight"], run_id=review_run, groups=groups)
        if not len(ev):
            return None
        mix = shop_mix(ev, affinities(ev, g["prior_weight"]), groups, _sources(ws, review_run, g["topic_weight"])[0])
    _, has_reviews, has_topics = _sources(ws, review_run, g["topic_weight"])
    reviews = ws.df(_review_sql(has_topics), {"as_of": pd.Timestamp(as_of).to_pydatetime(), "run_id": int(review_run),
                                              "review_weight": float(g["review_weight"]),
                                              **({"topic_weight": float(g["topic_weight"])} if has_topics else {})}) \
        if has_reviews else pd.DataFrame(columns=["customer_id", "kind", "item", "weight", "reviewed_at"])
    reviews["customer_id"] = reviews["customer_id"].astype(str)
    return InterestState(cfg, as_of, {(k, i): s for k, i, s in mix["shop"]}, mix["totals"], mix["base"], reviews,
                         mix["groups"], mix["has_events"])


def _objects(a) -> np.ndarray:
    """A fetched column as an object array with None for NULL (what the row tuples held)."""
    if isinstance(a, np.ma.MaskedArray):
        out = a.data.astype(object)
        out[np.ma.getmaskarray(a)] = None
        return out
    return np.asarray(a, dtype=object)


def interest_score(st: InterestState, reader, customers: list[str], as_of) -> list[str]:
    """Each customer's primary interest as of ``as_of``: their purchases and browsing read now (``reader``: the
    live service's store or the workspace; the batch's SQL text), their reviews' evidence as the run mined it,
    lifted over the run's shop mix with the batch's formula (:func:`affinities`) and ranked by its rule (lift,
    then weight, then name). An item the run never saw counts as the customer's own weight over the run's total
    of its kind. Arrays, not frames: a POST scores one customer, an incremental run a few thousand."""
    from ..workspace import only_customers, reading_lines

    g = st.config["segments.interest"]
    ids = [str(c) for c in customers]
    params = {"as_of": as_of, "customers": ids, **({"browse_weight": float(g["browse_weight"])} if st.has_events
                                                   else {})}
    res = reader.con.execute(
        f"SELECT CAST(ev.customer_id AS VARCHAR) AS c, CAST(ev.product_id AS VARCHAR) AS p, ev.w, p.category, "
        f"p.brand FROM ({reading_lines(only_customers(_lines_sql(st.has_events)), reader)}) ev "
        f"JOIN products p ON p.product_id = ev.product_id "
        f"WHERE coalesce(p.is_merchandise, TRUE)", params)
    if hasattr(res, "fetchnumpy"):  # DuckDB: columns as arrays, no row tuples (an incremental run's many lines)
        got = res.fetchnumpy()
        cid, pid, w, cat, brand = (_objects(got[k]) for k in ("c", "p", "w", "category", "brand"))
    else:  # the live service's store: a few rows
        rows = res.fetchall()
        cid, pid, w, cat, brand = (np.array(c, dtype=object) for c in zip(*rows)) if rows else [np.array([], object)] * 5
    w = w.astype(float)
    if st.groups and len(cat):  # a product without a category: its derived group (each product looked up once)
        none = pd.isna(cat)
        codes, products = pd.factorize(pid[none])
        cat[none] = np.array([st.groups.get(p) for p in products], dtype=object)[codes]
    keys, kinds, items, weights = [], [], [], []
    for kind, col in (("category", cat), ("brand", brand)):
        has = pd.notna(col)
        keys.append(cid[has]), kinds.append(np.full(int(has.sum()), kind, dtype=object))
        items.append(col[has]), weights.append(w[has])
    rv = st.reviews
    if len(rv):
        rv = rv.loc[rv["customer_id"].isin(set(ids)) & (rv["reviewed_at"] < pd.Timestamp(as_of))]
        keys.append(rv["customer_id"].to_numpy(object)), kinds.append(rv["kind"].to_numpy(object))
        items.append(rv["item"].to_numpy(object)), weights.append(rv["weight"].to_numpy(float))
    c, k, i, wt = (np.concatenate(a) for a in (keys, kinds, items, weights))
    if not len(c):
        return [NO_INTEREST] * len(ids)
    # the evidence per (customer, kind, item), in the batch's order (the strings' order, as integer codes), and
    # each customer's total per kind
    (cc, cu), (kc, ku), (ic, iu) = (_ordered_codes(a) for a in (c, k, i))
    order = np.lexsort((ic, kc, cc))
    cc, kc, ic, wt = cc[order], kc[order], ic[order], wt[order]
    same_ck = (cc[1:] == cc[:-1]) & (kc[1:] == kc[:-1])
    first = np.r_[True, ~(same_ck & (ic[1:] == ic[:-1]))]
    grp = np.cumsum(first) - 1
    weight = np.bincount(grp, weights=wt)
    cc, kc, ic = cc[first], kc[first], ic[first]
    pstart = np.r_[True, (cc[1:] != cc[:-1]) | (kc[1:] != kc[:-1])]
    customer_weight = np.bincount(np.cumsum(pstart) - 1, weights=weight)[np.cumsum(pstart) - 1]
    total = np.array([st.totals.get(x, 0.0) for x in ku], dtype=float)[kc]
    pair, at = np.unique(kc.astype(np.int64) * len(iu) + ic, return_inverse=True)  # the shop share of each (kind, item)
    share = np.array([st.shop.get((ku[p // len(iu)], iu[p % len(iu)]), np.nan) for p in pair], dtype=float)[at]
    share = np.where(np.isnan(share), weight / (total + weight), share)
    prior = float(g["prior_weight"])
    lift = (weight + prior) / (customer_weight * share + prior)
    ok = np.isin(ku[kc], [st.base, "topic"]) & (lift >= g["min_lift"])
    cc, ic, lift, weight = cc[ok], ic[ok], lift[ok], weight[ok]
    best = np.lexsort((ic, -weight, -lift, cc))
    cc, ic = cc[best], ic[best]
    top = np.r_[True, cc[1:] != cc[:-1]] if len(cc) else np.zeros(0, dtype=bool)
    primary = dict(zip(cu[cc[top]], iu[ic[top]]))
    return [primary.get(x, NO_INTEREST) for x in ids]


def _ordered_codes(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, values) of string array ``a``: ``values[codes] == a`` with the codes in the strings' order (what
    sorting by the strings gives, as integers: hashing, then sorting the distinct values only).

    >>> _ordered_codes(np.array(["b", "a", "b", "c"], dtype=object))
    (array([1, 0, 1, 2]), array(['a', 'b', 'c'], dtype=object))
    """
    codes, values = pd.factorize(a)
    values = np.asarray(values, dtype=object)
    order = np.argsort(values.astype(str), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], values[order]
