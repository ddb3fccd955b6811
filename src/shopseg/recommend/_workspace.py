"""The recommend stage, the stored recommendations and the offline evaluation on a time split."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import sparse

from ..config import Config, load_config
from ..errors import ConfigError, ShopsegError
from ..workspace import duckdb_settings
from ._blend import REC_COLUMNS, Recommender
from ._nextbasket import (AS_TEXT, REASON_SQL, NextBasketRecommender, build_history, purchases_from_workspace,
                          relevance_matrix, release_arrow_memory, top_k)

REC_COLUMNS = {
    **REC_COLUMNS,
    "source": "Evidence contributing most: repeat (the customer's own repurchase), tifu_knn (customers with "
              "similar baskets), als or item_item (collaborative), content, cross_sell, popularity.",
    "product_name": "The product's name (from products), so surfaces show names, not ids.",
    "kind": "repeat (bought before) or new.",
    "is_due": "Due for reorder: a repeat whose cycle has elapsed, not three times over, that the customer "
              "bought on two days or more (or most of whose buyers re-buy).",
    "reason": "Why, in words (\"you buy this every ~30 days; last 34 days ago\").",
}


def interactions_from_workspace(ws, as_of, start=None) -> pd.DataFrame:
    """(customer_id, product_id, n_days): merchandise bought in sale orders in (start, as_of]."""
    return interactions_from_purchases(purchases_from_workspace(ws, as_of, start))


def interactions_from_purchases(purchases: pd.DataFrame) -> pd.DataFrame:
    return (purchases.groupby(["customer_id", "product_id"], sort=True).size().rename("n_days").reset_index())


def products_frame(ws) -> pd.DataFrame:
    return ws.df("SELECT product_id, name, category, brand, description, is_available, is_merchandise FROM products")


def _popular_pairs(purchases: pd.DataFrame, as_of, days: int) -> pd.DataFrame | None:
    if not days:
        return None
    start = pd.Timestamp(as_of).floor("D") - pd.Timedelta(days=days)
    return purchases[pd.to_datetime(purchases["day"]) > start][["customer_id", "product_id"]]


def _popular_matrix(hist, days: int):
    """:func:`_popular_pairs` from a history: the (customer, product) entries whose last purchase is in the
    last ``days`` days (``last_age``, 1 + days since, at most ``days``), as a customers x products matrix."""
    if not days:
        return None
    la = hist.last_age
    keep = la.data <= days  # the kept entries only (no copy of the whole matrix, then its zeros dropped)
    indptr = np.r_[0, np.cumsum(keep, dtype=la.indptr.dtype)][la.indptr]
    m = sparse.csr_matrix((np.ones(int(keep.sum())), la.indices[keep], indptr), shape=la.shape)
    m.has_sorted_indices = True
    return m


def _rules(ws, rid):
    """(the shop-wide rules of run ``rid`` (the runner names it) or None, what cross-sell does with them).

    None when the run's backtest (``model_decisions``, model ``rules``: :mod:`shopseg.basket._backtest`) found
    that popularity suggests the items bought with the others better than the rules do: they step aside and the
    blend's popularity stands in; a run without a backtest (an older run) keeps its rules, and says so."""
    if rid is None or not ws.has_table("association_rules"):
        return None, "no association rules"
    from ..refit import decisions

    d = decisions(ws, rid, "rules")
    if not d.empty and d["candidate"].iloc[0] == "baseline":
        return None, f"rules not used: {d['decision'].iloc[0]}"
    rules = ws.df("SELECT antecedent, consequent, confidence, lift, support FROM association_rules "
                  "WHERE run_id = ? AND scope = 'all'", [rid])
    how = (d["decision"].iloc[0] if not d.empty and d["decision"].iloc[0]
           else f"rules of run {rid} used, not backtested (that run recorded no backtest)")
    return rules, how


def next_basket_model(cfg: Config, purchases: pd.DataFrame, prods: pd.DataFrame, as_of, *, rules=None,
                      segments=None, **explore_overrides) -> NextBasketRecommender:
    """The next-basket model with its explore recommender, both fitted on ``purchases`` up to ``as_of``
    (the mix learned on the inner split, whose explore recommender is fitted without rules)."""
    rc = cfg["recommend"]

    def explore(purch, at, hist, rules=None, segments=None, content=None):
        # the interactions are the history's purchase days (no second pass over the purchases)
        return Recommender.from_config(cfg, **explore_overrides).fit(
            None, prods, rules=rules, segments=segments, n_days=(hist.users, hist.n_days),
            popularity=_popular_matrix(hist, rc["popularity_days"]), content=content)

    keys = ("top_n", "group_size", "within_decay", "group_decay", "neighbours", "neighbour_pool", "horizon_days",
            "learn_mix", "mix_customers", "never_repeat", "random_state")
    nb = NextBasketRecommender(**{k: (tuple(rc[k]) if k == "never_repeat" else rc[k]) for k in keys})
    hist = nb.history(purchases, prods, as_of)
    full = explore(purchases, as_of, hist, rules, segments)
    # the inner split's explore recommender reuses the products' TF-IDF (same products, same text)
    return nb.fit(purchases, prods, as_of, explore=full, history=hist,
                  explore_factory=lambda purch, at, h: explore(purch, at, h, content=full.content_))


# DuckDB's allocator keeps freed memory for reuse unless told to hand it back: at x100 Online Retail the purchases'
# aggregation (54M lines into 38M rows) left ~1 GB of the process's RSS idle for the rest of the stage
RETURN_MEMORY = {"allocator_flush_threshold": "0MB", "allocator_background_threads": "true"}


def memory_returned(con):
    """DuckDB hands freed memory back to the system as it goes (:data:`RETURN_MEMORY`) inside the block; the
    connection's settings as they were after it."""
    return duckdb_settings(con, RETURN_MEMORY)


def recommend_stage(ctx) -> dict:
    """Pipeline stage ``recommend``: table ``recommendations`` for every customer of the run."""
    with memory_returned(ctx.ws.con):
        return _recommend(ctx)


def _recommend(ctx) -> dict:
    ws, cfg = ctx.ws, ctx.config
    rc = cfg["recommend"]
    t0 = time.perf_counter()
    purchases = purchases_from_workspace(ws, ctx.as_of, categorical=True)
    rules, cross_sell = _rules(ws, ctx.runs.of("association_rules"))  # the input runs the runner names
    segs = None
    if ws.has_table("segments"):
        rid = ctx.runs.of("segments")
        if rid is not None:
            segs = ws.df("SELECT customer_id, segment FROM segments WHERE run_id = ? AND scheme = ?",
                         [rid, rc["popularity_scheme"]])
    if ws.has_table("customer_features") and ws.scalar(
            "SELECT count(*) FROM customer_features WHERE run_id = ?", [ctx.run_id]):
        customers = [r[0] for r in ws.sql("SELECT customer_id FROM customer_features WHERE run_id = ? ORDER BY 1",
                                          [ctx.run_id])]
    else:
        # the column's distinct values, then strings: a Python str per row of a 40M-row Arrow column is 5 GB
        customers = sorted(np.asarray(pd.unique(purchases["customer_id"]), dtype=object).astype(str).tolist())
    model = next_basket_model(cfg, purchases, products_frame(ws), ctx.as_of, rules=rules, segments=segs)
    del purchases  # the model keeps what it needs; scoring is the stage's peak
    release_arrow_memory()
    recs = model.recommend(customers, with_reasons=False)  # the reasons are written by DuckDB (below)
    learned = {"collaborative": model.explore_.collaborative_, "mix": model.mix_, "mix_from": model.mix_source_,
               "mix_ndcg": model.mix_ndcg_, "buy_again_ndcg": model.buy_again_ndcg_}
    del model  # released before DuckDB sorts and writes the table
    ws.con.execute("SELECT 1").fetchall()
    ws.con.register("_recs_out", recs)
    try:
        n = ws.write_output("recommendations", ctx.run_id,
                            "SELECT CAST(r.customer_id AS VARCHAR) AS customer_id, CAST(r.rank AS BIGINT) AS rank, "
                            "CAST(r.product_id AS VARCHAR) AS product_id, p.name AS product_name, "
                            "CAST(r.score AS DOUBLE) AS score, CAST(r.source AS VARCHAR) AS source, "
                            "CAST(r.kind AS VARCHAR) AS kind, CAST(r.is_due AS BOOLEAN) AS is_due, "
                            "CAST(r.reason AS VARCHAR) AS reason "
                            f"FROM (SELECT *, {REASON_SQL} AS reason FROM ({AS_TEXT} FROM _recs_out)) r "
                            "LEFT JOIN products p ON p.product_id = CAST(r.product_id AS VARCHAR) "
                            "ORDER BY 1, 2")
    finally:
        ws.con.unregister("_recs_out")
    return {"rows": n, "customers": len(customers), "collaborative": learned["collaborative"],
            "rules": 0 if rules is None else len(rules), "cross_sell": cross_sell, "sources": _counts(recs["source"]),
            "kinds": _counts(recs["kind"]), "due": int(recs["is_due"].sum()), "mix": learned["mix"],
            "mix_from": learned["mix_from"],
            # NDCG@10 of the learned mix and of "buy it again" on the inner split (the mix falls back to buy-again)
            "mix_ndcg": _round(learned["mix_ndcg"]), "buy_again_ndcg": _round(learned["buy_again_ndcg"]),
            "fit_seconds": round(time.perf_counter() - t0, 2)}


def _counts(col: pd.Series) -> dict:
    """Rows per value, most first (a categorical's absent values left out)."""
    return {k: int(v) for k, v in col.value_counts().items() if v}


def _round(v):
    return None if v is None else round(float(v), 4)


def recommendations_for(ws, customer_id: str, run_id: int | None = None) -> pd.DataFrame:
    """The stored recommendations of one customer (latest run by default), with product names."""
    if not ws.has_table("recommendations"):
        raise ShopsegError("No recommendations in the workspace yet.", hint="Run `shopseg run` (stage recommend).")
    if run_id is None:
        run_id = ws.scalar("SELECT max(run_id) FROM recommendations")
    cols = {r[0] for r in ws.sql("DESCRIBE recommendations")}
    extra = ", r.kind, r.is_due, r.reason" if {"kind", "is_due", "reason"} <= cols else ""
    df = ws.df(f"""SELECT r.rank, r.product_id, p.name, p.category, round(r.score, 4) AS score, r.source{extra}
                  FROM recommendations r LEFT JOIN products p USING (product_id)
                  WHERE r.run_id = ? AND r.customer_id = ? ORDER BY r.rank""", [run_id, str(customer_id)])
    if not len(df):
        raise ShopsegError(f"Customer {customer_id!r} has no recommendations in run {run_id}.",
                           hint="Check the id; customers first seen after the run's as_of have none.")
    return df


# -- offline evaluation -----------------------------------------------------------------------


def ranking_metrics(recs: pd.DataFrame, relevant: pd.DataFrame, k: int = 10, n_recommendable: int | None = None) -> dict:
    """precision@k, recall@k, NDCG@k and hit@k over the customers of ``relevant`` (customer_id,
    product_id), and coverage = distinct recommended products / ``n_recommendable``.

    >>> recs = pd.DataFrame({"customer_id": ["a"] * 3, "rank": [1, 2, 3], "product_id": ["x", "y", "z"]})
    >>> rel = pd.DataFrame({"customer_id": ["a", "a"], "product_id": ["y", "q"]})
    >>> m = ranking_metrics(recs, rel, k=3)
    >>> round(m["precision"], 4), m["recall"], round(m["ndcg"], 4), m["hit"]  # NDCG (1/log2 3) / (1 + 1/log2 3)
    (0.3333, 0.5, 0.3869, 1.0)
    """
    rel = relevant[["customer_id", "product_id"]].astype(str).drop_duplicates()
    users = rel["customer_id"].unique()
    r = recs[recs["rank"] <= k][["customer_id", "rank", "product_id"]].copy()
    r["customer_id"] = r["customer_id"].astype(str)
    r["product_id"] = r["product_id"].astype(str)
    r = r[r["customer_id"].isin(users)]
    hits = r.merge(rel.assign(hit=1), on=["customer_id", "product_id"], how="left")
    hits["hit"] = hits["hit"].fillna(0)
    hits["gain"] = hits["hit"] / np.log2(hits["rank"] + 1)
    per = pd.DataFrame(index=pd.Index(users, name="customer_id"))
    per["hits"] = hits.groupby("customer_id")["hit"].sum()
    per["dcg"] = hits.groupby("customer_id")["gain"].sum()
    per = per.fillna(0.0)
    n_rel = rel.groupby("customer_id").size().reindex(per.index)
    disc = np.cumsum(1 / np.log2(np.arange(2, k + 2)))
    idcg = disc[np.minimum(n_rel.to_numpy(), k) - 1]
    out = {"users": int(len(per)), "precision": float((per["hits"] / k).mean()),
           "recall": float((per["hits"] / n_rel).mean()), "ndcg": float((per["dcg"] / idcg).mean()),
           "hit": float((per["hits"] > 0).mean())}
    if n_recommendable:
        out["coverage"] = float(recs[recs["rank"] <= k]["product_id"].nunique() / n_recommendable)
    return out


class _Acc:
    """Sums of per-customer metrics over chunks."""

    def __init__(self):
        self.users = 0
        self.sums = np.zeros(4)  # precision, recall, ndcg, hit
        self.items: set = set()

    def add(self, scores: np.ndarray, relevant: np.ndarray, k: int) -> np.ndarray:
        has = relevant.any(axis=1)
        top, vals = top_k(scores, k)
        valid = np.isfinite(vals)
        self.items.update(np.unique(top[valid]).tolist())
        if has.any():
            t, v, rel = top[has], valid[has], relevant[has]
            hit = np.take_along_axis(rel, t, axis=1) & v
            n_rel = rel.sum(axis=1)
            disc = 1 / np.log2(np.arange(2, t.shape[1] + 2))
            idcg = np.cumsum(disc)[np.minimum(n_rel, t.shape[1]) - 1]
            nh = hit.sum(axis=1)
            self.sums += [(nh / k).sum(), (nh / n_rel).sum(), ((hit * disc).sum(axis=1) / idcg).sum(),
                          (nh > 0).sum()]
            self.users += int(has.sum())
        return top, valid

    def result(self, prefix: str, n_recommendable: int) -> dict:
        m = self.sums / max(self.users, 1)
        return {f"{prefix}users": self.users, f"{prefix}precision": m[0], f"{prefix}recall": m[1],
                f"{prefix}ndcg": m[2], f"{prefix}hit": m[3],
                f"{prefix}coverage": len(self.items) / max(n_recommendable, 1)}


EXPLORE_PRESETS = {
    "popularity_new": dict(weight_collaborative=0, weight_content=0, weight_rules=0, weight_popularity=1.0),
    "collaborative": dict(weight_collaborative=1.0, weight_content=0, weight_rules=0, weight_popularity=1e-6),
    "content": dict(weight_collaborative=0, weight_content=1.0, weight_rules=0, weight_popularity=1e-6),
    "rules": dict(weight_collaborative=0, weight_content=0, weight_rules=1.0, weight_popularity=1e-6),
    "blend": {},
}
METHODS = ("popularity", "buy_again", "tifu_knn", "next_basket", *EXPLORE_PRESETS)


def evaluate_time_split(ws, split_at, end=None, *, k: int = 10, config: Config | None = None,
                        methods=("popularity", "buy_again", "tifu_knn", "blend", "next_basket"),
                        with_rules: bool = True, collaborative: str | None = None,
                        chunk_size: int = 1000) -> pd.DataFrame:
    """Next-basket evaluation on a time split: one row per method.

    Train on sale orders up to ``split_at``; the target of each returning customer (bought before
    and after) is every product they bought in (split_at, end].  Columns ``users``, ``precision``,
    ``recall``, ``ndcg``, ``hit`` and ``coverage`` (distinct products recommended / recommendable)
    score each method's top ``k`` against that whole target; ``repeat_*`` score the method's ranking
    of the products the customer bought before against the repeat part of the target (customers
    with one), ``new_*`` its ranking of the products they never bought against the new part;
    ``repeat_share`` is the share of the top ``k`` that are repeats.

    Methods: ``popularity`` (buyers in the last ``popularity_days`` before the split, bought products
    not excluded), ``buy_again`` (the customer's products by purchase days, the latest first on ties,
    then popularity), ``tifu_knn`` (TIFU-KNN, alpha learned on the inner split), ``next_basket``
    (:class:`NextBasketRecommender`), and the explore recommender: ``blend`` (today's configured
    blend: bought products never recommended), ``collaborative``, ``content``, ``rules``,
    ``popularity_new`` (each source alone).
    """
    cfg = config if config is not None else load_config()
    rc = cfg["recommend"]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ConfigError(f"Unknown evaluation method {bad[0]!r}; expected some of {', '.join(METHODS)}.")
    train = purchases_from_workspace(ws, split_at)
    test = purchases_from_workspace(ws, end if end is not None else "9999-12-31", split_at)
    test = test[test["customer_id"].isin(set(train["customer_id"]))][["customer_id", "product_id"]].drop_duplicates()
    users = np.asarray(sorted(test["customer_id"].astype(str).unique()), dtype=object)
    prods = products_frame(ws)
    rules = None
    if with_rules and any(m in ("rules", "blend", "next_basket") for m in methods):
        from ..basket import association_rules

        try:
            rules = association_rules(ws, as_of=split_at, min_support=cfg["baskets.min_support"],
                                      min_confidence=cfg["baskets.min_confidence"], min_lift=cfg["baskets.min_lift"])
        except ShopsegError:
            rules = None
    over = {"collaborative": collaborative} if collaborative else {}
    inter = interactions_from_purchases(train)
    pop_pairs = _popular_pairs(train, split_at, rc["popularity_days"])
    nb = None
    if any(m in ("tifu_knn", "next_basket") for m in methods):
        t0 = time.perf_counter()
        nb = next_basket_model(cfg, train, prods, split_at, rules=rules, **over)
        nb_secs = time.perf_counter() - t0
    items = nb.items_ if nb is not None else Recommender().fit(inter.iloc[:0], prods).items_
    hist = nb.history_ if nb is not None else build_history(train, items, split_at)
    probe = Recommender(weight_collaborative=0, weight_content=0, weight_rules=0).fit(inter.iloc[:0], prods,
                                                                                     popularity=pop_pairs)
    recommendable = probe.recommendable_
    n_rec = int(recommendable.sum())
    pop = probe.popularity_ / max(probe.popularity_.max(), 1)
    rows = []
    for m in methods:
        t0 = time.perf_counter()
        model = None
        if m in EXPLORE_PRESETS:
            model = Recommender.from_config(cfg, **{**EXPLORE_PRESETS[m], **over}).fit(
                inter, prods, rules=rules if m in ("rules", "blend") else None, popularity=pop_pairs)
            chunks = model.iter_scores(pd.Series(users, dtype=object), chunk_size=chunk_size)
        elif m in ("next_basket", "tifu_knn"):
            chunks = nb.iter_components(users, chunk_size, neighbours=m == "tifu_knn" or None)
        accs = {"": _Acc(), "repeat_": _Acc(), "new_": _Acc()}
        n_top = n_rep = 0
        for lo in range(0, len(users), chunk_size):
            hi = min(lo + chunk_size, len(users))
            r = hist.rows(users[lo:hi])
            n_days = np.zeros((hi - lo, len(items)))
            ok = r >= 0
            n_days[ok] = hist.n_days[r[ok]].toarray()
            bought = n_days > 0
            if m == "popularity":
                s = np.tile(pop, (hi - lo, 1))
            elif m == "buy_again":
                since = np.zeros_like(n_days)
                since[ok] = hist.last_age[r[ok]].toarray()
                s = np.where(bought, n_days + 1.0 / (1.0 + since), 1e-3 * pop[None, :])
            elif m == "tifu_knn":
                _, _, comp = next(chunks)
                a = nb.tifu_alpha_
                s = a * comp.own + (1 - a) * comp.neighbours + 1e-9 * pop[None, :]
            elif m == "next_basket":
                _, _, comp = next(chunks)
                s = nb.scores(comp)
            else:
                _, _, s, _ = next(chunks)
            s = np.where(recommendable[None, :], s, -np.inf)
            rel = relevance_matrix(test[test["customer_id"].isin(set(users[lo:hi]))], users[lo:hi], items)
            top, valid = accs[""].add(s, rel, k)
            n_top += int(valid.sum())
            n_rep += int((np.take_along_axis(bought, top, axis=1) & valid).sum())
            accs["repeat_"].add(np.where(bought, s, -np.inf), rel & bought, k)
            accs["new_"].add(np.where(bought, -np.inf, s), rel & ~bought, k)
        secs = time.perf_counter() - t0 + (nb_secs if m in ("next_basket",) else 0.0)
        name = m if m != "collaborative" else f"collaborative ({model.collaborative_})"
        row = {"method": name}
        for prefix, acc in accs.items():
            row.update(acc.result(prefix, n_rec))
        row.update({"repeat_share": n_rep / max(n_top, 1), "seconds": round(secs, 2)})
        if m in ("next_basket", "tifu_knn"):
            row["learned"] = dict(nb.mix_) if m == "next_basket" else {"alpha": nb.tifu_alpha_}
        rows.append(row)
    return pd.DataFrame(rows)
