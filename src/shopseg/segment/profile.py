"""Segment profiles (size, share, feature means, z-scores, top categories) and cluster names.

The z-score of a feature in a segment is ``(segment mean - overall mean) /
overall std`` of the feature after ``log1p`` for the skewed money / count /
day features (the same transform clustering uses), so a handful of large
buyers does not swamp it.  A cluster's name is generated from its z-scores
by :func:`cluster_name`: a spending noun, frequency and recency adjectives and
up to two clauses, e.g. "frequent recent high spenders, rarely use discounts".
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ._cluster_space import LOG_FEATURES

# Features whose z-scores profiles keep (and names are made from), plus every cat_share_* column.
Z_FEATURES = (
    "recency_days", "tenure_days", "frequency", "monetary_net", "avg_order_value", "n_units",
    "mean_days_between_orders", "n_sessions", "browse_minutes", "click_rate", "cart_abandonment_rate",
    "brand_diversity", "discount_share", "return_rate",
)

# Feature means shown in every profile (when present).
PROFILE_MEANS = (
    "frequency", "recency_days", "tenure_days", "monetary_total", "monetary_net", "avg_order_value",
    "mean_days_between_orders", "n_sessions", "browse_minutes", "click_rate", "cart_abandonment_rate",
    "brand_diversity", "discount_share", "return_rate", "n_reviews", "avg_rating",
)
THRESHOLD = 0.5  # |z| from which a feature is worth a word in a name

# feature -> (words when high, words when low); None: nothing to say
_CLAUSES = {
    "discount_share": ("discount-driven", "rarely use discounts"),
    "return_rate": ("return often", None),
    "browse_minutes": ("browse a lot", "rarely browse"),
    "n_sessions": ("visit often", None),
    "cart_abandonment_rate": ("often abandon carts", None),
    "click_rate": ("click a lot", None),
    "brand_diversity": ("try many brands", None),
}


def _transformed(features: pd.DataFrame, cols: list[str]) -> np.ndarray:
    A = np.nan_to_num(features[cols].to_numpy(dtype=float), nan=0.0)
    mask = np.array([c in LOG_FEATURES for c in cols], dtype=bool)
    A[:, mask] = np.log1p(np.clip(A[:, mask], 0, None))
    return A


def segment_profiles(features: pd.DataFrame, segment: pd.Series, scheme: str,
                     extra: dict | None = None) -> pd.DataFrame:
    """One row per segment: scheme, segment, n_customers, share, profile (JSON), name.

    ``segment`` is aligned with ``features`` rows.  ``profile`` holds ``means``
    (PROFILE_MEANS), ``z`` (default clustering features), ``top_categories``
    (largest mean category shares) and whatever ``extra[segment]`` adds.
    ``name`` is the segment itself for rule schemes; clusters are named by the caller.
    """
    seg = pd.Series(np.asarray(segment), index=features.index, name="segment").astype(str)
    n = len(features)
    # the segments as integer codes, factorised once: every group-by below is then over ints, not strings
    # (the same rows in each group in the same order, so the same means); indexed back by segment name
    codes, names = pd.factorize(seg, sort=True)
    by = pd.Series(codes, index=features.index)
    named = pd.Index(np.asarray(names, dtype=object), name="segment")

    def mean_by(frame: pd.DataFrame | pd.Series):
        out = frame.groupby(by).mean()
        out.index = named[out.index.to_numpy()]
        return out

    zcols = [c for c in Z_FEATURES if c in features.columns] + \
        [c for c in features.columns if c.startswith("cat_share_")]
    T = _transformed(features, zcols)
    mu, sd = T.mean(axis=0), T.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Tz = mean_by(pd.DataFrame((T - mu) / sd, columns=zcols, index=features.index))
    mcols = [c for c in PROFILE_MEANS if c in features.columns]
    means = mean_by(features[mcols].astype(float))
    cat_cols = [c for c in features.columns if c.startswith("cat_share_")]
    cats = mean_by(features[cat_cols].astype(float)) if cat_cols else None
    has = mean_by(features["has_orders"].astype(float)) if "has_orders" in features else None
    counts = np.bincount(codes, minlength=len(names))
    sizes = pd.Series(counts[counts > 0], index=named[np.flatnonzero(counts > 0)])
    rows = []
    for s in sorted(sizes.index):
        prof = {
            "means": {c: round(float(v), 4) for c, v in means.loc[s].items()},
            "z": {c: round(float(v), 4) for c, v in Tz.loc[s].items()},
            "share_with_orders": None if has is None else round(float(has.loc[s]), 4),
        }
        if cats is not None:
            top = cats.loc[s].sort_values(ascending=False)
            prof["top_categories"] = [
                {"category": c.removeprefix("cat_share_"), "share": round(float(v), 4)}
                for c, v in top.items() if v > 0
            ][:3]
        if extra and s in extra:
            prof.update(extra[s])
        rows.append((scheme, s, int(sizes.loc[s]), float(sizes.loc[s]) / n if n else 0.0,
                     json.dumps(prof, sort_keys=True), s))
    return pd.DataFrame(rows, columns=["scheme", "segment", "n_customers", "share", "profile", "name"])


def cluster_name(z: dict, share_with_orders: float | None = None, top_categories=None) -> str:
    """A human-readable name from a cluster's z-scores.

    >>> cluster_name({"frequency": 1.2, "monetary_net": 0.9, "recency_days": -0.8, "discount_share": -0.7})
    'frequent recent high spenders, rarely use discounts'
    >>> cluster_name({"frequency": -0.9, "monetary_net": -1.1, "recency_days": 1.3, "return_rate": 2.0})
    'one-time lapsed low spenders, return often'
    """
    def zed(c):
        return float(z.get(c, 0.0))

    if share_with_orders is not None and share_with_orders < 0.5:
        noun = "browsers without orders" if zed("browse_minutes") > THRESHOLD or zed("n_sessions") > THRESHOLD \
            else "sign-ups without orders"
        adjs = []
    else:
        m = zed("monetary_net")
        noun = "high spenders" if m > THRESHOLD else "low spenders" if m < -THRESHOLD else "mid spenders"
        adjs = []
        f = zed("frequency")
        if f > THRESHOLD:
            adjs.append("frequent")
        elif f < -THRESHOLD:
            adjs.append("one-time")
        r = zed("recency_days")
        if r < -THRESHOLD:
            adjs.append("recent")
        elif r > THRESHOLD:
            adjs.append("lapsed")
    clauses = []
    for c, (hi, lo) in sorted(_CLAUSES.items(), key=lambda kv: (-abs(zed(kv[0])), kv[0])):
        v = zed(c)
        words = hi if v > THRESHOLD else lo if v < -THRESHOLD else None
        if words and words not in clauses and not (noun.startswith(("browsers", "sign-ups")) and c in
                                                    ("discount_share", "return_rate")):
            clauses.append(words)
        if len(clauses) == 2:
            break
    if top_categories and top_categories[0]["share"] >= 0.5 and top_categories[0]["category"] != "other":
        clauses.append("mostly " + top_categories[0]["category"].replace("_", " "))
    name = " ".join(adjs + [noun])
    return name + (", " + ", ".join(clauses) if clauses else "")


def name_clusters(profiles: pd.DataFrame) -> list[str]:
    """Names for the rows of a cluster ``segment_profiles`` table; duplicates get " (2)", " (3)"..."""
    names, seen = [], {}
    for prof in profiles["profile"]:
        p = json.loads(prof)
        nm = cluster_name(p["z"], p.get("share_with_orders"), p.get("top_categories"))
        seen[nm] = seen.get(nm, 0) + 1
        names.append(nm if seen[nm] == 1 else f"{nm} ({seen[nm]})")
    return names
