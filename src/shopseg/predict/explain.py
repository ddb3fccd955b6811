"""Why a customer is at risk: per-feature contributions and plain-word reasons.

Contributions split one customer's raw model score into a part per feature
(plus a bias that is the same for everyone), so the largest parts are the
reasons.  Three exact, additive decompositions, chosen by model family:

* gradient-boosted trees (LightGBM): TreeSHAP, exact Shapley values of the
  tree ensemble in log-odds (Lundberg, Erion & Lee 2018, "Consistent
  Individualized Feature Attribution for Tree Ensembles"), the values
  LightGBM's ``predict(X, pred_contrib=True)`` gives, computed from the
  model's trees in numpy (:mod:`shopseg.predict._trees`; no ``shap``
  package);
* linear models (logistic regression, linear SVM): ``coef * (z - mean(z))``
  on the model's own transformed, standardised inputs ``z`` (the training mean
  of ``z`` is 0 after standardising, so the bias is the intercept);
* scikit-learn trees and forests: Saabas path attribution (the
  "treeinterpreter" decomposition): each split on the path of a sample moves
  the predicted churn probability from the parent's value to the child's, and
  that move is credited to the split's feature; averaged over the trees of a
  forest.  Additive and exact for the probability, but not Shapley values.

Reasons are text from :data:`REASON_TEMPLATES`, a table (data, not code) of
feature -> reference + two templates: ``up`` when the feature pushes the
customer towards churn, ``down`` when it holds them back.  A template sees
``{value}`` (the customer's value), ``{ref}`` (a reference: another column of
the same customer such as their usual gap, or the shop median of the feature
at training time), ``{ratio}`` (value / ref), ``{horizon}`` (the churn horizon
in days) and any column of the customer's row by name.  Features without a
template get a generic sentence naming the feature.
"""

from __future__ import annotations

import string

import numpy as np
import pandas as pd

# the words for people (a probability, the status line) live in ._status; here for the callers that import them
from ._status import percent_words, probability_words, status_line  # noqa: F401

# feature -> (reference, template when it raises churn risk, template when it lowers it).
# reference: "median" (shop median at fit time) or the name of another column of the row.
REASON_TEMPLATES: dict[str, tuple[str, str, str]] = {
    "recency_days": (
        "usual_gap_days",
        "no order for {value:.0f} days, {ratio:.1f}x their usual gap of {ref:.0f} days",
        "last order {value:.0f} days ago, {ratio:.1f}x their usual gap of {ref:.0f} days",
    ),
    "recency_gap_ratio": (
        "median",
        "silent for {value:.1f}x their usual gap between orders (shop median {ref:.1f}x)",
        "silent for only {value:.1f}x their usual gap between orders (shop median {ref:.1f}x)",
    ),
    "usual_gap_days": (
        "median",
        "usually orders only every {value:.0f} days (shop median {ref:.0f})",
        "usually orders every {value:.0f} days (shop median {ref:.0f})",
    ),
    "mean_days_between_orders": (
        "median",
        "long gaps between orders: {value:.0f} days on average (shop median {ref:.0f})",
        "short gaps between orders: {value:.0f} days on average (shop median {ref:.0f})",
    ),
    "std_days_between_orders": (
        "median",
        "irregular ordering: gaps vary by {value:.0f} days (shop median {ref:.0f})",
        "regular ordering: gaps vary by {value:.0f} days (shop median {ref:.0f})",
    ),
    "frequency": (
        "median",
        "{value:.0f} order(s) so far (shop median {ref:.0f})",
        "{value:.0f} orders so far (shop median {ref:.0f})",
    ),
    "purchase_days": (
        "median",
        "bought on {value:.0f} day(s) so far (shop median {ref:.0f})",
        "bought on {value:.0f} different days so far (shop median {ref:.0f})",
    ),
    "purchase_days_recent": (
        "median",
        "{value:.0f} purchase day(s) in the last {horizon} days (shop median {ref:.0f})",
        "{value:.0f} purchase day(s) in the last {horizon} days (shop median {ref:.0f})",
    ),
    "purchase_days_prior": (
        "median",
        "{value:.0f} purchase day(s) in the {horizon} days before the latest {horizon} (shop median {ref:.0f})",
        "{value:.0f} purchase day(s) in the {horizon} days before the latest {horizon} (shop median {ref:.0f})",
    ),
    "activity_decayed": (
        "median",
        "little recent activity: decayed purchase count {value:.2f} (shop median {ref:.2f})",
        "steady recent activity: decayed purchase count {value:.2f} (shop median {ref:.2f})",
    ),
    "active_months_365d": (
        "median",
        "bought in {value:.0f} of the last 12 months (shop median {ref:.0f})",
        "bought in {value:.0f} of the last 12 months (shop median {ref:.0f})",
    ),
    "spend_trend": (
        "median",
        "spend fell from {spend_prior:,.2f} to {spend_recent:,.2f} between the last two {horizon}-day "
        "windows (trend {value:+.2f})",
        "spend went from {spend_prior:,.2f} to {spend_recent:,.2f} between the last two {horizon}-day "
        "windows (trend {value:+.2f})",
    ),
    "spend_recent": (
        "median",
        "spent {value:,.2f} in the last {horizon} days (shop median {ref:,.2f})",
        "spent {value:,.2f} in the last {horizon} days (shop median {ref:,.2f})",
    ),
    "spend_prior": (
        "median",
        "spent {value:,.2f} in the {horizon} days before the latest {horizon} (shop median {ref:,.2f})",
        "spent {value:,.2f} in the {horizon} days before the latest {horizon} (shop median {ref:,.2f})",
    ),
    "monetary_total": (
        "median",
        "has spent {value:,.2f} in all (shop median {ref:,.2f})",
        "has spent {value:,.2f} in all (shop median {ref:,.2f})",
    ),
    "monetary_net": (
        "median",
        "net spend after returns {value:,.2f} (shop median {ref:,.2f})",
        "net spend after returns {value:,.2f} (shop median {ref:,.2f})",
    ),
    "avg_order_value": (
        "median",
        "average order {value:,.2f} (shop median {ref:,.2f})",
        "average order {value:,.2f} (shop median {ref:,.2f})",
    ),
    "n_units": (
        "median",
        "{value:,.0f} units bought in all (shop median {ref:,.0f})",
        "{value:,.0f} units bought in all (shop median {ref:,.0f})",
    ),
    "tenure_days": (
        "median",
        "known for {value:.0f} days (shop median {ref:.0f})",
        "a customer for {value:.0f} days (shop median {ref:.0f})",
    ),
    "n_complaints": (
        "median",
        "{value:.0f} complaint(s) in reviews",
        "{value:.0f} complaints in reviews",
    ),
    "avg_rating": (
        "median",
        "average review rating {value:.1f} (shop median {ref:.1f}; 0 = no rated review)",
        "average review rating {value:.1f} (shop median {ref:.1f}; 0 = no rated review)",
    ),
    "n_reviews": (
        "median",
        "{value:.0f} review(s) written (shop median {ref:.0f})",
        "{value:.0f} review(s) written (shop median {ref:.0f})",
    ),
    "avg_review_sentiment": (
        "median",
        "negative tone in reviews: sentiment {value:+.2f} (shop median {ref:+.2f})",
        "positive tone in reviews: sentiment {value:+.2f} (shop median {ref:+.2f})",
    ),
    "return_rate": (
        "median",
        "returned {value:.0%} of what they bought (shop median {ref:.0%})",
        "returned {value:.0%} of what they bought (shop median {ref:.0%})",
    ),
    "discount_share": (
        "median",
        "{value:.0%} of their spend was discounted (shop median {ref:.0%})",
        "{value:.0%} of their spend was discounted (shop median {ref:.0%})",
    ),
    "n_sessions": (
        "median",
        "{value:.0f} browsing session(s) (shop median {ref:.0f})",
        "{value:.0f} browsing sessions (shop median {ref:.0f})",
    ),
    "browse_minutes": (
        "median",
        "{value:.0f} minutes of browsing (shop median {ref:.0f})",
        "{value:.0f} minutes of browsing (shop median {ref:.0f})",
    ),
    "click_rate": (
        "median",
        "clicks on {value:.0%} of the pages viewed (shop median {ref:.0%})",
        "clicks on {value:.0%} of the pages viewed (shop median {ref:.0%})",
    ),
    "cart_abandonment_rate": (
        "median",
        "abandoned {value:.0%} of carts (shop median {ref:.0%})",
        "abandoned {value:.0%} of carts (shop median {ref:.0%})",
    ),
    "brand_diversity": (
        "median",
        "bought {value:.0f} brand(s) (shop median {ref:.0f})",
        "bought {value:.0f} brands (shop median {ref:.0f})",
    ),
    "is_outlier": (
        "median",
        "wholesale-like buyer: {value:.0f} (1 = yes)",
        "wholesale-like buyer: {value:.0f} (1 = yes)",
    ),
}

# The gap features on thin evidence: with one purchase day the "usual gap" is the shop's (no gap of
# their own), with two it is the one gap between them (a 1-day gap made "silent for 372x their usual
# gap" out of two orders on consecutive days).  Keyed by (feature, purchase days: 1 or 2); the row's
# ``purchase_days`` column chooses, rows with three or more keep REASON_TEMPLATES.  ``{gap_days}`` is
# the row's ``usual_gap_days`` in words ("1 day", "9 days").
THIN_GAP_TEMPLATES: dict[tuple[str, int], tuple[str, str]] = {
    ("recency_days", 1): (
        "no order for {value:.0f} days after a single purchase day "
        "({ratio:.1f}x the shop's usual gap of {ref:.0f} days)",
        "last order {value:.0f} days ago, their only purchase day so far "
        "({ratio:.1f}x the shop's usual gap of {ref:.0f} days)",
    ),
    ("recency_days", 2): (
        "no order for {value:.0f} days; their two purchase days were {gap_days} apart",
        "last order {value:.0f} days ago; their two purchase days were {gap_days} apart",
    ),
    ("recency_gap_ratio", 1): (
        "silent for {recency_days:.0f} days after a single purchase day, {value:.1f}x the shop's usual gap",
        "silent for only {recency_days:.0f} days after a single purchase day",
    ),
    ("recency_gap_ratio", 2): (
        "silent for {recency_days:.0f} days; their two purchase days were {gap_days} apart",
        "silent for only {recency_days:.0f} days; their two purchase days were {gap_days} apart",
    ),
}

GENERIC_TEMPLATE = ("median", "{label} is {value:.3g} (shop median {ref:.3g})", "{label} is {value:.3g} (shop median {ref:.3g})")


def template_for(feature: str) -> tuple[str, str, str]:
    """The (reference, up, down) templates of ``feature``; a generic sentence naming it when none is written."""
    return REASON_TEMPLATES.get(feature, GENERIC_TEMPLATE)


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


# -- contributions -----------------------------------------------------------------

def tree_shap_lightgbm(booster, X: np.ndarray) -> np.ndarray:
    """Exact TreeSHAP of a binary LightGBM booster: (n, p + 1) log-odds, the last column the bias.

    The booster's trees in numpy (:mod:`shopseg.predict._trees`: the values once per tree and split pattern,
    looked up per row); LightGBM's own ``pred_contrib`` for trees that module does not follow (categorical
    splits, more than ``_trees.MAX_SPLITS`` splits).
    """
    from ._trees import TreeEnsemble

    X = np.asarray(X, dtype=float)
    trees = TreeEnsemble.from_model_string(booster.model_to_string())
    return lightgbm_contributions(booster, X) if trees is None else trees.contributions(X)


def lightgbm_contributions(booster, X: np.ndarray) -> np.ndarray:
    """LightGBM's own ``pred_contrib`` (TreeSHAP in C++): for trees :mod:`shopseg.predict._trees` does not follow."""
    return np.asarray(booster.predict(X, pred_contrib=True, **lightgbm_threads(len(X))), dtype=float)


def lightgbm_threads(n_rows: int) -> dict:
    """Prediction parameters for ``n_rows``: one thread for a few rows, else LightGBM's own setting."""
    return {"num_threads": 1} if n_rows < 1000 else {}


def linear_contributions(coef: np.ndarray, intercept: float, Z: np.ndarray, z_mean: np.ndarray) -> np.ndarray:
    """``coef * (z - z_mean)`` per feature and ``intercept + coef . z_mean`` as bias: rows sum to the score."""
    c = (Z - z_mean) * coef
    bias = np.full((Z.shape[0], 1), float(intercept + coef @ z_mean))
    return np.hstack([c, bias])


def saabas_tree(tree, X: np.ndarray, n_features: int) -> np.ndarray:
    """Saabas path attribution of one fitted scikit-learn classification tree, for class 1.

    Node value = share of class 1 among the training samples of the node; the
    move from a parent's value to its child's is credited to the parent's split
    feature.  Vectorised: ``decision_path`` (samples x nodes, sparse) times a
    (nodes x features) matrix of those moves.  Rows sum to the leaf value.
    """
    t = tree.tree_
    v = t.value[:, 0, :]
    p1 = v[:, 1] / v.sum(axis=1)  # value is class shares (sklearn >= 1.4) or counts: normalise both
    parent = np.full(t.node_count, -1)
    for side in (t.children_left, t.children_right):
        inner = side >= 0
        parent[side[inner]] = np.nonzero(inner)[0]
    moves = np.zeros((t.node_count, n_features + 1))
    child = np.nonzero(parent >= 0)[0]
    moves[child, t.feature[parent[child]]] = p1[child] - p1[parent[child]]
    moves[0, n_features] = p1[0]  # the bias: the root's value
    path = tree.decision_path(X)
    return np.asarray(path @ moves)


def reference_values(X: pd.DataFrame) -> dict[str, float]:
    """Shop medians of the features (the ``median`` reference of the templates)."""
    return {c: float(np.median(X[c].to_numpy(dtype=float))) if len(X) else 0.0 for c in X.columns}


def global_importance(contrib: np.ndarray, features: list[str]) -> pd.Series:
    """Mean |contribution| per feature (the bias left out), largest first."""
    imp = np.abs(contrib[:, : len(features)]).mean(axis=0) if len(contrib) else np.zeros(len(features))
    return importance_series(imp, features)


def importance_series(mean_abs: np.ndarray, features: list[str]) -> pd.Series:
    """Mean |contribution| per feature as a Series named ``mean_abs_contribution``, largest first."""
    return pd.Series(mean_abs, index=features, name="mean_abs_contribution").sort_values(ascending=False,
                                                                                       kind="stable")


# -- reasons ---------------------------------------------------------------------

def top_reasons(contrib: np.ndarray, features: list[str], n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rows x n) of the reason features and their contributions.

    The reasons explain where the customer's score sits against the average
    customer (the bias): for a customer scored above it, the features pushing
    towards churn, the largest first; below it, the features holding them
    back.  When fewer than ``n`` features point that way, the strongest of the
    others fill the rest.  Ties keep the feature order (stable sort).
    """
    c = contrib[:, : len(features)]
    n = min(n, len(features))
    direction = np.where(c.sum(axis=1, keepdims=True) >= 0, 1.0, -1.0)
    big = np.abs(c).max() + 1.0 if c.size else 1.0
    key = np.where(c * direction > 0, np.abs(c) + big, np.abs(c))  # the score's own direction ranks first
    idx = np.argsort(-key, axis=1, kind="stable")[:, :n]
    return idx, np.take_along_axis(c, idx, axis=1)


def reason_texts(rows: pd.DataFrame, features: list[str], idx: np.ndarray, contrib: np.ndarray,
                 reference: dict[str, float], horizon_days: int) -> list[list[str]]:
    """Plain-word reasons: one list per reason slot, one string per row of ``rows``.

    Strings are built with the templates of :data:`REASON_TEMPLATES`, grouped
    by (slot, feature, direction) so each group formats its rows in one pass.
    """
    n_rows, n_slots = idx.shape
    out = [np.empty(n_rows, dtype=object) for _ in range(n_slots)]
    days_of = rows["purchase_days"].to_numpy(dtype=float) if "purchase_days" in rows.columns else np.full(n_rows, 3.0)
    thin = np.clip(np.nan_to_num(days_of, nan=3.0), 1, 3).astype(int)
    cols = _Columns(rows)
    for k in range(n_slots):
        # one group per (feature, direction, thin evidence) present, from one stable sort of their codes
        code = (idx[:, k].astype(np.int64) * 2 + (contrib[:, k] > 0)) * 3 + (thin - 1)
        order = np.argsort(code, kind="stable")  # each group's rows stay in row order
        cs = code[order]
        starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]]) if n_rows else np.zeros(0, dtype=int)
        for lo, hi in zip(starts, np.r_[starts[1:], n_rows].astype(int)):
            j, rest = divmod(int(cs[lo]), 6)
            direction, days = rest >= 3, rest % 3 + 1
            feat = features[j]
            ref_spec, up, down = template_for(feat)
            tpl = up if direction else down
            t = THIN_GAP_TEMPLATES.get((feat, days), (up, down))[0 if direction else 1] if days < 3 else tpl
            pos = order[lo:hi]
            out[k][pos] = _format(cols.at(pos), feat, t, ref_spec, reference, horizon_days)
    return [list(o) for o in out]


class _Columns:
    """A frame's columns as arrays, read once; :meth:`at` gives some rows of them (no copy of the whole frame
    per group of reasons)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame, self.arrays, self.pos = frame, {}, None
        self.columns = set(frame.columns)

    def at(self, pos: np.ndarray) -> "_Columns":
        view = _Columns.__new__(_Columns)
        view.frame, view.arrays, view.columns, view.pos = self.frame, self.arrays, self.columns, pos
        return view

    def __len__(self) -> int:
        return len(self.pos)

    def get(self, column: str, dtype=None) -> np.ndarray:
        if column not in self.arrays:
            self.arrays[column] = self.frame[column].to_numpy()
        a = self.arrays[column][self.pos]
        return a if dtype is None else a.astype(dtype)


def _format(sub: "_Columns", feat: str, tpl: str, ref_spec: str, reference: dict[str, float],
            horizon_days: int) -> list[str]:
    """``tpl`` filled for every row of ``sub`` (value, ref, ratio, horizon, label and the row's own columns)."""
    value = sub.get(feat, float)
    if ref_spec != "median" and ref_spec in sub.columns:
        ref = sub.get(ref_spec, float)
    else:
        ref = np.full(len(sub), reference.get(feat, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ref > 0, value / np.where(ref > 0, ref, 1.0), np.nan)
    own = _fields(tpl) - {"value", "ref", "ratio", "horizon", "label"}
    cols = sub.columns | ({"gap_days"} if "usual_gap_days" in sub.columns else set())
    if own - cols:  # a template naming a column the frame lacks: fall back to the generic one
        tpl, own = GENERIC_TEMPLATE[1], set()
    extra = {f: sub.get(f) for f in own - {"gap_days"}}
    if "gap_days" in own:
        gap = np.round(sub.get("usual_gap_days", float))
        extra["gap_days"] = np.where(gap == 1, "1 day", np.char.add(gap.astype(int).astype(str), " days"))
    label = feat.replace("_", " ")
    rows = np.arange(len(value))
    codes = None
    if len(value) > DEDUPE_ROWS:  # many rows: each distinct (value, ref, own columns) formatted once
        bits = np.empty(len(value), dtype=[("value", "<i8"), ("ref", "<i8")])  # bits: -0.0 is not 0.0 in a text
        bits["value"], bits["ref"] = value.view(np.int64), ref.view(np.int64)
        if extra:  # own columns (text among them): pandas groups them
            keys = {"value": bits["value"], "ref": bits["ref"], **{f"own_{f}": np.asarray(c) for f, c in extra.items()}}
            codes = pd.DataFrame(keys).groupby(list(keys), sort=False, dropna=False).ngroup().to_numpy()
            rows = np.unique(codes, return_index=True)[1]  # the first row of each group, in group order
        else:
            _, rows, codes = np.unique(bits, return_index=True, return_inverse=True)
    texts = [tpl.format(value=value[i], ref=ref[i], ratio=ratio[i], horizon=horizon_days, label=label,
                        **{f: col[i] for f, col in extra.items()}) for i in rows]
    return texts if codes is None else np.asarray(texts, dtype=object)[codes].tolist()


# more rows than this in one template's group: the texts are formatted once per distinct input (a batch of a
# large shop repeats the same few thousand), not per row (a live re-score formats a row or two)
DEDUPE_ROWS = 64
