"""Review intelligence over the workspace: per review, per customer, per segment.

* :func:`review_insights` writes output table ``review_insights``: language,
  sentiment (and the mode that produced it), aspects with their sentiment,
  topic, brand / product / competitor mentions, for every review written on
  or before ``as_of``.
* :func:`customer_review_features` rolls it up per customer into
  ``customer_review_features`` (reviews, average sentiment, complaints,
  detractor flag).
* :func:`segment_review_summary` summarises it per segment of the
  ``segments`` table, for the report.

Columns are documented in ``docs/reviews.md``; settings live in
``[reviews]`` of ``defaults.toml``.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .._exact import exact_avg
from ..config import Config, load_config
from ..errors import ModelFitError
from .aspects import AspectMatcher, aspect_sentiments, aspects_as_lists, load_aspect_lexicon
from .language import clean_text, resolve_language
from .mentions import MentionFinder
from .sentiment import NEGATIVE_AT, ShopSentimentModel, default_sentiment, label_of, score_sentiment
from .topics import TopicModel

REVIEW_INSIGHTS = "review_insights"
CUSTOMER_REVIEW_FEATURES = "customer_review_features"


@dataclass
class ReviewInsightsResult:
    """What :func:`review_insights` did: rows written and the models it used."""

    n_reviews: int
    languages: dict[str, int]
    modes: dict[str, int]
    shop_model_languages: list[str]
    topics: dict[str, list[str]] = field(default_factory=dict)
    shop_model_path: str | None = None
    # per language: reviews, with_text, rated, scored, coverage (scored / with_text), mode
    # (default / shop / none), and for a shop model its held-out accuracy and test size
    by_language: dict[str, dict] = field(default_factory=dict)

    def sentiment_summary(self) -> str:
        """One line per language: how its sentiment was scored, or that it was not analysed and why."""
        parts = []
        for lg, d in self.by_language.items():
            if d["with_text"] == 0:
                continue
            if d["mode"] == "none":
                parts.append(f"{lg}: not analysed ({d['with_text']:,} reviews with text, {d['rated']:,} rated "
                             "positive or negative; no default model and too few rated reviews to learn one)")
            elif d["mode"] == "shop":
                acc = d.get("holdout_accuracy")
                parts.append(f"{lg}: shop-trained model, {d['coverage']:.0%} of {d['with_text']:,} reviews scored"
                             + (f", held-out accuracy {acc:.3f} on {d['n_holdout']:,} rated reviews"
                                if acc is not None else ""))
            else:
                parts.append(f"{lg}: default model, {d['coverage']:.0%} of {d['with_text']:,} reviews scored")
        return "; ".join(parts)


def _settle(con) -> None:
    """Finish any half-read result: DuckDB 2.0 refuses ``register`` while one is pending
    (``Workspace.scalar`` reads only one row)."""
    con.execute("SELECT 1").fetchall()


def _settings(config: Config | dict | None) -> dict[str, Any]:
    if config is None:
        config = load_config()
    if isinstance(config, Config):
        return config["reviews"]
    return load_config(overrides=config)["reviews"] if "reviews" in config else load_config()["reviews"]


def _load_reviews(ws, as_of) -> pd.DataFrame:
    return ws.df(
        "SELECT review_id, customer_id, product_id, rating, text, language, reviewed_at "
        "FROM reviews WHERE reviewed_at <= CAST(? AS TIMESTAMP) ORDER BY reviewed_at, review_id",
        [str(as_of)],
    )


def _mention_finder(ws, r: dict) -> MentionFinder:
    cat = ws.df("SELECT product_id, name, brand FROM products")
    brands = sorted({b.strip() for b in cat["brand"].dropna().astype(str) if b.strip()})
    products = dict(zip(cat["product_id"].astype(str), cat["name"]))
    product_brands = dict(zip(cat["product_id"].astype(str), cat["brand"]))
    mf = MentionFinder(fuzzy=r["mention_fuzzy"], fuzzy_min_chars=r["mention_fuzzy_min_chars"])
    return mf.fit(brands=brands, products=products, competitors=r["competitor_brands"],
                  product_brands={k: v for k, v in product_brands.items() if isinstance(v, str)})


def _topics(texts: pd.Series, lang: np.ndarray, r: dict, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    topic_id = np.full(len(texts), None, dtype=object)
    topic = np.full(len(texts), None, dtype=object)
    labels: dict[str, list[str]] = {}
    nonempty = (texts.str.len() > 0).to_numpy(dtype=bool)
    for lg in sorted({str(x) for x in lang} - {"other", "und"}):  # "other" lumps languages together
        idx = np.flatnonzero((lang == lg) & nonempty)
        if len(idx) < r["topics_min_reviews"]:
            continue
        fit_idx = idx
        if len(idx) > r["topics_max_fit_reviews"]:
            fit_idx = np.sort(np.random.default_rng(seed).choice(idx, r["topics_max_fit_reviews"], replace=False))
        tm = TopicModel(n_topics=r["n_topics"], language=lg, max_topics=r["max_topics"],
                        n_top_terms=r["topic_top_terms"], random_state=seed)
        try:
            tm.fit(texts.iloc[fit_idx].tolist())
        except ModelFitError:
            continue
        k = tm.predict(texts.iloc[idx].tolist())
        lab = np.asarray(tm.topic_labels_, dtype=object)
        has = k >= 0
        topic_id[idx[has]] = np.char.add(f"{lg}:", k[has].astype(str)).astype(object)
        topic[idx[has]] = lab[k[has]]
        labels[lg] = list(tm.topic_labels_)
    return topic_id, topic, labels


def review_insights(ws, run_id: int, as_of, config: Config | dict | None = None, *,
                    seed: int = 0) -> ReviewInsightsResult:
    """Analyse every review written on or before ``as_of`` and store output table ``review_insights``.

    Sentiment uses the shop-trained model for a language once the shop has
    ``[reviews].shop_model_min_reviews`` rated reviews in it (with at least
    ``shop_model_min_per_class`` negative and positive ones) and
    ``[reviews].shop_model = "auto"``; the default models otherwise.  The
    fitted shop model is pickled to the model store (``models/run-<run_id>-review-sentiment.pkl``).
    Before that fit, a model with the same settings is fitted on 80% of the
    rated reviews and scored on the other 20% (seeded by ``seed``): its
    accuracy per language is in the result's ``by_language``, with each
    language's coverage; a language with neither a default model nor enough
    rated reviews is left unscored (mode ``none``) and counted there.
    Only reviews on or before ``as_of`` are read, for training too.
    """
    r = _settings(config)
    df = _load_reviews(ws, as_of)
    n = len(df)
    text = clean_text(df["text"], max_chars=r["max_text_chars"])
    lang = resolve_language(df["language"], text)
    rating = pd.to_numeric(df["rating"], errors="coerce").to_numpy(dtype=float)

    shop = None
    shop_path = None
    holdout: dict[str, dict] = {}
    if r["shop_model"] == "auto" and n:
        candidate = ShopSentimentModel(min_reviews=r["shop_model_min_reviews"],
                                       min_per_class=r["shop_model_min_per_class"],
                                       negative_max_rating=r["negative_max_rating"],
                                       positive_min_rating=r["positive_min_rating"])
        if candidate.eligible(rating, lang):
            holdout = candidate.holdout_accuracy(text, rating, lang, random_state=seed)
            shop = candidate.fit(text, rating, lang)
            from .. import models

            digest = hashlib.sha256(json.dumps(r, sort_keys=True, default=str).encode()).hexdigest()
            shop_path = str(models.save(ws, "review-sentiment", run_id, {".pkl": pickle.dumps(shop)},
                                        config_hash=digest))
    sentiment, mode = score_sentiment(text, lang, shop)

    def clause_score(clauses, clause_lang, docs):
        out = default_sentiment(clauses, clause_lang)
        if shop is not None:
            m = mode[docs] == "shop"
            if m.any():
                out[m] = shop.score(clauses[m], clause_lang[m])
        return out

    matcher = AspectMatcher(load_aspect_lexicon(r["aspects_path"] or None))
    long = aspect_sentiments(text, lang, clause_score, matcher)
    aspects = aspects_as_lists(long, n)
    topic_id, topic, topic_labels = _topics(text, lang, r, seed)
    mf = _mention_finder(ws, r)
    found = mf.find(text)

    is_complaint = (np.nan_to_num(sentiment, nan=0.0) <= NEGATIVE_AT) | (
        np.nan_to_num(rating, nan=99) <= r["complaint_max_rating"])
    sent_mask = np.isnan(sentiment)
    table = pa.table({
        "review_id": pa.array(df["review_id"].astype(object).to_numpy(), type=pa.string()),
        "customer_id": pa.array(df["customer_id"].astype(object).where(df["customer_id"].notna(), None).to_numpy(),
                                type=pa.string()),
        "product_id": pa.array(df["product_id"].astype(object).where(df["product_id"].notna(), None).to_numpy(),
                               type=pa.string()),
        "rating": pa.array(rating, type=pa.float64(), mask=np.isnan(rating)).cast(pa.int64()),
        "reviewed_at": pa.array(df["reviewed_at"].to_numpy(dtype="datetime64[us]"), type=pa.timestamp("us")),
        "language": pa.array(lang, type=pa.string()),
        "sentiment": pa.array(sentiment, type=pa.float64(), mask=sent_mask),
        "sentiment_label": pa.array(label_of(sentiment), type=pa.string()),
        "sentiment_mode": pa.array(mode, type=pa.string()),
        "is_complaint": pa.array(is_complaint, type=pa.bool_()),
        "aspects": aspects,
        "topic_id": pa.array(topic_id, type=pa.string()),
        "topic": pa.array(topic, type=pa.string()),
        "brand_mentions": mf.as_lists(found, n, "brand"),
        "product_mentions": mf.as_lists(found, n, "product"),
        "competitor_mentions": mf.as_lists(found, n, "competitor"),
    })
    view = f"_review_insights_{int(run_id)}"
    _settle(ws.con)
    ws.con.register(view, table)
    try:
        ws.write_output(REVIEW_INSIGHTS, run_id, f'SELECT * FROM "{view}"')
    finally:
        _settle(ws.con)
        ws.con.unregister(view)
    langs, lcounts = np.unique(lang.astype(str), return_counts=True)
    modes, mcounts = np.unique(mode.astype(str), return_counts=True)
    has_text = (text.str.strip().str.len() > 0).to_numpy(dtype=bool)
    labelled = (rating <= r["negative_max_rating"]) | (rating >= r["positive_min_rating"])
    by_language = {}
    for lg in langs.tolist():
        m = lang.astype(str) == lg
        with_text, scored = int((m & has_text).sum()), int((m & ~sent_mask).sum())
        used = mode[m & ~sent_mask]
        d = {"reviews": int(m.sum()), "with_text": with_text, "rated": int((m & has_text & labelled).sum()),
             "scored": scored, "coverage": round(scored / with_text, 4) if with_text else 0.0,
             "mode": "shop" if (used == "shop").any() else ("default" if len(used) else "none")}
        if lg in holdout:
            d.update(holdout_accuracy=round(holdout[lg]["accuracy"], 4), n_holdout=holdout[lg]["n_test"])
        by_language[lg] = d
    return ReviewInsightsResult(
        n_reviews=n,
        languages=dict(zip(langs.tolist(), lcounts.tolist())),
        modes=dict(zip(modes.tolist(), mcounts.tolist())),
        shop_model_languages=list(getattr(shop, "languages_", [])),
        topics=topic_labels,
        shop_model_path=shop_path,
        by_language=by_language,
    )


def customer_review_features(ws, run_id: int, config: Config | dict | None = None) -> int:
    """Store ``customer_review_features`` for run ``run_id`` from its ``review_insights``; rows written.

    Per customer with at least one review: ``n_reviews``, ``n_rated``,
    ``avg_rating``, ``avg_sentiment`` (NULL when no review could be scored),
    ``min_sentiment``, ``complaint_count`` (reviews with sentiment <= -0.05
    or rating <= ``complaint_max_rating``), ``complaint_share``,
    ``last_reviewed_at``, ``last_review_is_complaint`` and ``is_detractor``:
    at least ``detractor_min_complaints`` complaints making up at least
    ``detractor_min_complaint_share`` of the customer's reviews.
    """
    r = _settings(config)
    sql = f"""
        SELECT customer_id,
               count(*) AS n_reviews,
               count(rating) AS n_rated,
               {exact_avg("rating")} AS avg_rating,
               {exact_avg("sentiment")} AS avg_sentiment,
               min(sentiment) AS min_sentiment,
               CAST(count(*) FILTER (WHERE is_complaint) AS BIGINT) AS complaint_count,
               count(*) FILTER (WHERE is_complaint) / count(*) AS complaint_share,
               max(reviewed_at) AS last_reviewed_at,
               arg_max(is_complaint, reviewed_at) AS last_review_is_complaint,
               (count(*) FILTER (WHERE is_complaint) >= ?
                AND count(*) FILTER (WHERE is_complaint) >= ? * count(*)) AS is_detractor
        FROM review_insights
        WHERE run_id = ? AND customer_id IS NOT NULL
        GROUP BY customer_id
        ORDER BY customer_id
    """
    params = [int(r["detractor_min_complaints"]), float(r["detractor_min_complaint_share"]), int(run_id)]
    if not ws.has_table(REVIEW_INSIGHTS):
        raise ModelFitError(f"Table {REVIEW_INSIGHTS!r} does not exist; expected it to hold run {run_id}.",
                            hint="Run review_insights(ws, run_id, as_of) first (`shopseg reviews`).")
    return ws.write_output(CUSTOMER_REVIEW_FEATURES, run_id, sql, params)


def segment_review_summary(ws, run_id: int, *, scheme: str | None = None, segments_run_id: int | None = None,
                           top_n: int = 3) -> pd.DataFrame:
    """Reviews per segment of ``segments``: sentiment, complaints, top aspects and topics.

    One row per ``(scheme, segment)``: ``n_customers``, ``n_reviewers``,
    ``n_reviews``, ``avg_sentiment``, ``complaint_rate``, ``n_detractors``
    (when ``customer_review_features`` exists for the run), ``top_aspects``
    (up to ``top_n`` most mentioned, each ``{aspect, n_mentions,
    avg_sentiment}``) and ``top_topics`` (``{topic, n_reviews}``).
    Segments come from ``segments_run_id`` (default: ``run_id``).
    """
    seg_run = run_id if segments_run_id is None else segments_run_id
    where = "WHERE s.run_id = ?" + (" AND s.scheme = ?" if scheme else "")
    params: list = [seg_run] + ([scheme] if scheme else [])
    det = ws.has_table(CUSTOMER_REVIEW_FEATURES)
    sql = f"""
        WITH seg AS (SELECT s.scheme, s.segment, s.customer_id FROM segments s {where}),
        ri AS (SELECT * FROM review_insights WHERE run_id = ?),
        base AS (
            SELECT seg.scheme, seg.segment,
                   count(DISTINCT seg.customer_id) AS n_customers,
                   count(DISTINCT ri.customer_id) AS n_reviewers,
                   count(ri.review_id) AS n_reviews,
                   avg(ri.sentiment) AS avg_sentiment,
                   avg(CASE WHEN ri.is_complaint THEN 1.0 ELSE 0.0 END) FILTER (WHERE ri.review_id IS NOT NULL)
                       AS complaint_rate
            FROM seg LEFT JOIN ri ON ri.customer_id = seg.customer_id
            GROUP BY ALL
        ),
        asp AS (
            SELECT scheme, segment, a.aspect AS aspect, count(*) AS n_mentions, avg(a.sentiment) AS avg_sentiment
            FROM (SELECT seg.scheme, seg.segment, unnest(ri.aspects) AS a
                  FROM seg JOIN ri ON ri.customer_id = seg.customer_id)
            GROUP BY ALL
        ),
        asp_top AS (
            SELECT scheme, segment,
                   list({{'aspect': aspect, 'n_mentions': n_mentions, 'avg_sentiment': avg_sentiment}}
                        ORDER BY n_mentions DESC, aspect)[1:{int(top_n)}] AS top_aspects
            FROM asp GROUP BY ALL
        ),
        top AS (
            SELECT seg.scheme, seg.segment, ri.topic, count(*) AS n_reviews
            FROM seg JOIN ri ON ri.customer_id = seg.customer_id
            WHERE ri.topic IS NOT NULL GROUP BY ALL
        ),
        top_top AS (
            SELECT scheme, segment,
                   list({{'topic': topic, 'n_reviews': n_reviews}} ORDER BY n_reviews DESC, topic)[1:{int(top_n)}]
                       AS top_topics
            FROM top GROUP BY ALL
        )
        {", det AS (SELECT customer_id, is_detractor FROM customer_review_features WHERE run_id = ?)" if det else ""}
        SELECT b.*, {"(SELECT count(*) FROM seg s2 JOIN det USING (customer_id) WHERE s2.scheme = b.scheme "
                     "AND s2.segment = b.segment AND det.is_detractor) AS n_detractors," if det else ""}
               a.top_aspects, t.top_topics
        FROM base b
        LEFT JOIN asp_top a USING (scheme, segment)
        LEFT JOIN top_top t USING (scheme, segment)
        ORDER BY b.scheme, b.segment
    """
    params += [run_id] + ([run_id] if det else [])
    return ws.df(sql, params)
