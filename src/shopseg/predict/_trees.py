"""A LightGBM binary model evaluated in numpy: raw scores and TreeSHAP values, the one path for every row count.

:class:`TreeEnsemble` reads the model string LightGBM stores (``Booster.model_to_string``: per tree the split
features, thresholds, decision types, children, leaf values and the data counts of nodes and leaves) and gives

* :meth:`TreeEnsemble.raw_score`: ``Booster.predict(X, raw_score=True)``, **bit for bit**: each row's side at
  every split follows LightGBM's ``NumericalDecision`` (NaN -> 0 unless the split's missing type is NaN;
  "zero" and NaN missing values take the default side; ``x <= threshold`` goes left; |x| <= kZeroThreshold is
  read as 0, as LightGBM's dense-row reader drops it), and the leaf values are added tree by tree from 0.0 in
  LightGBM's order;
* :meth:`TreeEnsemble.contributions`: ``Booster.predict(X, pred_contrib=True)`` (path-dependent TreeSHAP,
  Lundberg et al. 2020) to float rounding (~1e-15): per tree, the Shapley values of the value function LightGBM's
  TreeSHAP computes (a split on a feature in the coalition follows the row, any other split weighs its children
  by their data counts), over the subsets of the tree's own features (<= 2**6 for 7 leaves), once for every
  split pattern (the row's side at each split: <= 2**6 patterns) and looked up per row; the bias column is
  LightGBM's ``ExpectedValue`` summed the same way.

Rows are evaluated in blocks of :data:`CHUNK_ROWS`, per tree on whole feature columns (a comparison per split
gives each row's pattern, then one lookup of its leaf value and one per feature of the tree's table).  This is
the only TreeSHAP path of the churn model, for a live re-score of one customer and for a whole shop: it costs no
time against the path it replaced (session 10's ``_treeshap.py``: LightGBM's ``pred_contrib`` of each tree on one
row per pattern, looked up per row), measured on Online Retail x10's stored model (500 trees, 30 features; CPU
seconds for raw scores and contributions together): 0.45-0.53 s against 0.67-0.79 s for the contributions alone
at 43,380 rows, 3.6-3.9 s against 5.4-5.5 s at 433,800 rows (docs/churn.md, "One TreeSHAP path").  It also
keeps LightGBM out of a process that only scores a stored model (its import loads scikit-learn and SciPy,
about a CPU second: an incremental run, the live service).

A tree this module does not follow (a categorical split, a linear tree, more than :data:`MAX_SPLITS` splits)
makes :meth:`TreeEnsemble.from_model_string` return None: the caller then uses LightGBM itself.
tests/test_light_scoring.py compares both with LightGBM on data with NaN, zeros and values equal to the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np

MAX_SPLITS = 10  # a tree's pattern table has 2**splits rows
TABLE_BYTES = 64 << 20  # the TreeSHAP tables are built for as many trees at a time as fit in this
CHUNK_ROWS = 65_536  # rows evaluated at a time: a block's columns and results stay in the CPU's caches
FEW_ROWS = 64  # up to this many rows, raw scores of all trees at once (TreeEnsemble._raw_few)
ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (declared as the float literal 1e-35f)
_MISSING = {0: 0, 1: 1, 2: 2}  # decision_type bits 2-3: None, Zero, NaN


@dataclass
class _Tree:
    feature: np.ndarray  # (k,) split feature
    threshold: np.ndarray  # (k,)
    default_left: np.ndarray  # (k,) bool
    missing: np.ndarray  # (k,) 0 None, 1 Zero, 2 NaN
    left: np.ndarray  # (k,) child: a split index, or ~leaf
    right: np.ndarray
    leaf_value: np.ndarray  # (L,)
    leaf_count: np.ndarray  # (L,)
    internal_count: np.ndarray  # (k,)
    leaf_of_code: np.ndarray | None = None  # (2**k,) the leaf each split pattern reaches
    value_of_code: np.ndarray | None = None  # (2**k,) its value
    bias: float = 0.0  # LightGBM's ExpectedValue of the tree
    rules: list | None = None  # per split (feature, threshold, default left, missing type) as Python scalars
    features: np.ndarray | None = None  # the tree's distinct split features


def _values(fields: dict, key: str, kind=float) -> np.ndarray:
    return np.array(fields[key].split(), dtype=kind) if fields.get(key, "").strip() else np.zeros(0, dtype=kind)


class TreeEnsemble:
    """The trees of a binary LightGBM model, from its model string (see the module docstring)."""

    def __init__(self, trees: list[_Tree], n_features: int):
        self.trees, self.n_features = trees, n_features
        self._tables: list[np.ndarray] | None = None  # per tree (its features, 2**k) TreeSHAP values by pattern
        bias = 0.0
        for t in trees:  # LightGBM's order: the trees' ExpectedValues added from 0.0
            bias += t.bias
        self._bias = bias

    @classmethod
    def from_model_string(cls, text: str, objectives: tuple[str, ...] = ("binary",)) -> "TreeEnsemble | None":
        """The model's trees, or None when one of them is of a kind this module does not evaluate.  ``objectives``:
        the LightGBM objectives accepted (one raw score per row: the CLV repeat model's ``poisson`` and ``tweedie``
        too, whose raw score is the log of the prediction)."""
        head, _, body = text.partition("\nTree=")
        meta = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
        if meta.get("num_class", "1") != "1" or meta.get("num_tree_per_iteration", "1") != "1" \
                or meta.get("objective", "").split(" ")[0] not in objectives:
            return None
        n_features = int(meta["max_feature_idx"]) + 1
        trees = []
        for block in ("Tree=" + body).split("\nTree="):
            fields = dict(line.split("=", 1) for line in block.split("end of trees", 1)[0].splitlines() if "=" in line)
            if "num_leaves" not in fields:
                continue
            if int(fields.get("num_cat", "0")) or int(fields.get("is_linear", "0")):
                return None
            dt = _values(fields, "decision_type", int)
            if (dt & 1).any() or len(dt) > MAX_SPLITS:  # categorical, or too many splits for a pattern table
                return None
            t = _Tree(feature=_values(fields, "split_feature", int), threshold=_values(fields, "threshold"),
                      default_left=(dt & 2).astype(bool), missing=((dt >> 2) & 3).astype(np.int8),
                      left=_values(fields, "left_child", int), right=_values(fields, "right_child", int),
                      leaf_value=_values(fields, "leaf_value"), leaf_count=_values(fields, "leaf_count"),
                      internal_count=_values(fields, "internal_count"))
            if len(t.leaf_value) != int(fields["num_leaves"]):
                return None
            trees.append(t)
        if not trees:
            return None
        _patterns(trees)
        for t in trees:
            _prepare(t)
        return cls(trees, n_features)

    def shap_tables(self) -> list[np.ndarray]:
        """Each tree's TreeSHAP values of its split patterns, (its features, 2**splits): what :meth:`scores` looks
        up; computed at the first call (or given: :meth:`set_shap_tables`)."""
        if self._tables is None:
            # trees a group at a time: a group's coalition values are (trees, 2**splits, 2**features) floats
            k = max(len(t.feature) for t in self.trees)
            d = max(len(t.features) for t in self.trees)
            group = max(1, TABLE_BYTES // (8 << (k + d)))
            self._tables = []
            for lo in range(0, len(self.trees), group):
                trees = self.trees[lo:lo + group]
                values, _ = _shap_tables(trees, self.n_features)
                self._tables += [np.ascontiguousarray(v[:1 << len(t.feature), :len(t.features)].T)
                                 for v, t in zip(values, trees)]
        return self._tables

    def set_shap_tables(self, tables: list[np.ndarray]) -> bool:
        """Take :meth:`shap_tables` computed before (stored with the model) when they fit these trees (one per
        tree, its features x its patterns); returns whether they did (else they are computed when needed)."""
        if len(tables) != len(self.trees) or any(
                np.shape(v) != (len(t.features), 1 << len(t.feature)) for v, t in zip(tables, self.trees)):
            return False
        self._tables = [np.ascontiguousarray(v, dtype=float) for v in tables]
        return True

    def _chunks(self, X: np.ndarray, rows: int):
        """``rows`` rows at a time: (first row, one contiguous column per feature as LightGBM's row reader sees it
        (|x| <= kZeroThreshold is 0) with NaN as 0, the NaN mask per feature or None)."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a 2-D array of {self.n_features} feature columns; got shape {X.shape}")
        for lo in range(0, len(X), rows):
            x = X[lo:lo + rows]
            x = np.where(np.abs(x) <= ZERO, 0.0, x)
            isnan = np.isnan(x)
            if isnan.any():
                yield lo, np.ascontiguousarray(np.where(isnan, 0.0, x).T), np.ascontiguousarray(isnan.T)
            else:
                yield lo, np.ascontiguousarray(x.T), None

    @staticmethod
    def _code(t: _Tree, cols: np.ndarray, nans: np.ndarray | None, code: np.ndarray, bit: np.ndarray) -> None:
        """Each row's split pattern in tree ``t`` into ``code`` (bit j: the row goes left at split j,
        :func:`_goes_left`)."""
        code[:] = 0
        for j, (f, threshold, default_left, missing) in enumerate(t.rules):
            _goes_left(cols[f], threshold, default_left, missing, None if nans is None else nans[f], out=bit)
            code |= bit.astype(np.uint16) << np.uint16(j)

    def scores(self, X: np.ndarray, contributions: bool = True,
               rows: int = CHUNK_ROWS) -> tuple[np.ndarray, np.ndarray | None]:
        """(raw scores, TreeSHAP values or None): one pass over the trees, per block of ``rows`` rows and per
        tree on whole columns (each row's pattern once, then its leaf value and its table row looked up)."""
        tables = self.shap_tables() if contributions else None
        n, p = len(X), self.n_features
        raw = np.zeros(n)
        contrib = np.zeros((n, p + 1)) if contributions else None
        for lo, cols, nans in self._chunks(X, rows):
            m = cols.shape[1]
            code, bit = np.empty(m, dtype=np.uint16), np.empty(m, dtype=bool)
            r = np.zeros(m)
            out = np.zeros((p + 1, m)) if contributions else None
            for i, t in enumerate(self.trees):
                if not len(t.feature):
                    r += t.leaf_value[0]
                    continue
                self._code(t, cols, nans, code, bit)
                r += t.value_of_code.take(code)
                if contributions:
                    table = tables[i]
                    for c, f in enumerate(t.features):  # only the tree's own features move
                        out[f] += table[c].take(code)
            raw[lo:lo + m] = r
            if contributions:
                out[p] = self._bias
                contrib[lo:lo + m] = out.T
        return raw, contrib

    def raw_score(self, X: np.ndarray) -> np.ndarray:
        """``Booster.predict(X, raw_score=True)``: the leaf values added tree by tree, as LightGBM adds them.  Up to
        :data:`FEW_ROWS` rows (a live re-score) all trees at once (:meth:`_raw_few`: a few array operations instead
        of a few per split of every tree), the same sums."""
        if 0 < len(X) <= FEW_ROWS:
            return self._raw_few(X)
        return self.scores(X, contributions=False)[0]

    def _stacked(self):
        """The trees as padded arrays (trees, most splits): feature, threshold, default side, missing type, a real
        split; and each tree's pattern values one after the other with their offsets."""
        if getattr(self, "_stack", None) is None:
            n, k = len(self.trees), max(len(t.feature) for t in self.trees)
            feat, real = np.zeros((n, k), dtype=np.intp), np.zeros((n, k), dtype=bool)
            thr, left, miss = np.zeros((n, k)), np.zeros((n, k), dtype=bool), np.zeros((n, k), dtype=np.int8)
            values, offsets, at = [], np.zeros(n, dtype=np.intp), 0
            for i, t in enumerate(self.trees):
                m = len(t.feature)
                feat[i, :m], thr[i, :m], left[i, :m], miss[i, :m], real[i, :m] = \
                    t.feature, t.threshold, t.default_left, t.missing, True
                v = t.value_of_code if m else t.leaf_value[:1]
                offsets[i], at = at, at + len(v)
                values.append(v)
            self._stack = (feat, thr, left, miss, real, np.concatenate(values), offsets,
                           (np.uint32(1) << np.arange(k, dtype=np.uint32)))
        return self._stack

    def _raw_few(self, X: np.ndarray) -> np.ndarray:
        """:meth:`scores`' raw scores, every tree at once: each row's side at every split (:func:`_goes_left` on
        (trees, splits, rows) arrays), its pattern per tree, the pattern's value, and the values added in tree
        order from 0.0 (a cumulative sum: the sequential sums LightGBM makes)."""
        feat, thr, left, miss, real, values, offsets, powers = self._stacked()
        out = np.empty(len(X))
        for lo, cols, nans in self._chunks(X, FEW_ROWS):
            bit = _goes_left(cols[feat], thr[..., None], left[..., None], miss[..., None],  # (trees, splits, rows)
                             None if nans is None else nans[feat])
            bit &= real[..., None]
            code = np.einsum("tkr,k->tr", bit.astype(np.uint32), powers)
            v = values[offsets[:, None] + code]  # (trees, rows)
            out[lo:lo + v.shape[1]] = np.cumsum(v, axis=0)[-1]
        return out

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(n, p + 1) TreeSHAP values (``pred_contrib``), the last column the bias."""
        return self.scores(X)[1]


def _goes_left(x: np.ndarray, threshold, default_left, missing, isnan: np.ndarray | None,
               out: np.ndarray | None = None) -> np.ndarray:
    """Whether each value of ``x`` goes left at its split, as LightGBM's ``NumericalDecision`` decides:
    ``x <= threshold`` goes left; NaN (0 in ``x``, ``isnan`` its mask, None: no NaN) is 0 unless the split's
    missing type is NaN (2), where it takes the default side; 0 (and so NaN) takes it for missing type Zero (1).
    ``x`` one split's column with that split's scalars (:meth:`TreeEnsemble._code`), or the columns of stacked
    splits with their arrays broadcast to it (:meth:`TreeEnsemble._raw_few`)."""
    out = np.less_equal(x, threshold, out=out)
    stacked = isinstance(missing, np.ndarray)  # else one split's Python scalars: no array op where none is due
    zero, nan = missing == 1, missing == 2
    if zero.any() if stacked else zero:
        _default_side(out, x == 0.0, zero, default_left, stacked)
    if isnan is not None and (nan.any() if stacked else nan):
        _default_side(out, isnan, nan, default_left, stacked)
    return out


def _default_side(out: np.ndarray, hit: np.ndarray, of_type, default_left, stacked: bool) -> None:
    """``out`` set to the default side where ``hit`` (a 0, a NaN) at a split of that missing type (``of_type``)."""
    if stacked:
        np.copyto(out, default_left, where=hit & of_type)
    else:
        out[hit] = default_left


def _patterns(trees: list[_Tree]) -> None:
    """Every tree's leaf for each split pattern (``leaf_of_code``, ``value_of_code``), all trees at once: from the
    root, a pattern goes left at split j when its bit j is 1, until a leaf (a negative child); the trees padded to
    the most splits (a shorter tree's walk never reads the padding, its patterns are the first 2**splits)."""
    ks = [len(t.feature) for t in trees]
    k = max(ks)
    if k == 0:
        return
    n = len(trees)
    left, right = np.full((n, k), -1, dtype=np.int64), np.full((n, k), -1, dtype=np.int64)
    for i, t in enumerate(trees):
        left[i, :ks[i]], right[i, :ks[i]] = t.left, t.right
    codes = np.arange(1 << k, dtype=np.int64)[None, :]
    node = np.zeros((n, 1 << k), dtype=np.int64)
    for _ in range(k):
        on = node >= 0
        at = np.where(on, node, 0)
        go_left = (codes >> at) & 1
        step = np.where(go_left == 1, np.take_along_axis(left, at, 1), np.take_along_axis(right, at, 1))
        node = np.where(on, step, node)
    for i, t in enumerate(trees):
        if ks[i]:
            t.leaf_of_code = ~node[i, :1 << ks[i]]
            t.value_of_code = t.leaf_value[t.leaf_of_code]


def _prepare(t: _Tree) -> None:
    """The tree's features, its splits' rules and its ExpectedValue (LightGBM's sum order); its patterns' leaves
    come from :func:`_patterns`."""
    t.rules = list(zip(t.feature.tolist(), t.threshold.tolist(), t.default_left.tolist(), t.missing.tolist()))
    k = len(t.feature)
    if k == 0:
        t.bias, t.features = float(t.leaf_value[0]), np.zeros(0, dtype=np.intp)
        return
    total, bias = float(t.internal_count[0]), 0.0
    for count, value in zip(t.leaf_count.tolist(), t.leaf_value.tolist()):
        bias += (count / total) * value
    t.bias = bias
    t.features = np.unique(t.feature)


def _leaf_paths(t: _Tree) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per leaf, its path from the root, padded: (split, 1 when it goes left, the child's share of the node's
    data, a real step), each (leaves, depth)."""
    paths: list[list[tuple[int, int, float]]] = [[] for _ in t.leaf_value]
    stack: list[tuple[int, list]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        for child, left in ((t.left[node], 1), (t.right[node], 0)):
            share = (t.internal_count[child] if child >= 0 else t.leaf_count[~child]) / t.internal_count[node]
            step = path + [(node, left, share)]
            if child >= 0:
                stack.append((child, step))
            else:
                paths[~child] = step
    depth = max(len(p) for p in paths)
    node, left, share = (np.zeros((len(paths), depth), dtype=kind) for kind in (np.int64, np.int64, float))
    real = np.zeros((len(paths), depth), dtype=bool)
    for i, p in enumerate(paths):
        node[i, :len(p)], left[i, :len(p)], share[i, :len(p)], real[i, :len(p)] = (*zip(*p), True) if p else 0
    return node, left, share, real


_WEIGHTS: dict[int, np.ndarray] = {}


def _shapley_weights(d: int) -> np.ndarray:
    """(2**d, d): phi = V @ W, V the value of each coalition (bit u: feature u in it)."""
    if d not in _WEIGHTS:
        W = np.zeros((1 << d, d))
        for s in range(1 << d):
            size = bin(s).count("1")
            for u in range(d):
                if not s >> u & 1:
                    w = factorial(size) * factorial(d - size - 1) / factorial(d)
                    W[s | 1 << u, u] += w
                    W[s, u] -= w
        _WEIGHTS[d] = W
    return _WEIGHTS[d]


def _shap_tables(trees: list[_Tree], trees_n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Every tree's TreeSHAP values of every split pattern, (trees, 2**k, d), and the feature of each of the d
    columns, (trees, d): Shapley values of the path-dependent value function, all trees at once.

    The value of coalition S for pattern P: the sum over leaves of the leaf value times, along its path, 1 or 0
    at a split on a feature in S (P goes that way or not) and the child's data share at any other split; so a
    leaf counts when S holds none of the features whose splits P leaves the path at (``off``), weighted by the
    shares of the path's splits outside S.  Trees are padded to the largest (more leaves of value 0, more
    features in no split: null players, whose presence changes no other player's Shapley value)."""
    paths = [_leaf_paths(t) for t in trees]
    T = len(trees)
    k = max(len(t.feature) for t in trees)
    d = max(1, max(len(t.features) for t in trees))
    L = max(p[0].shape[0] for p in paths)
    D = max(p[0].shape[1] for p in paths)
    node, left, fbit = (np.zeros((T, L, D), dtype=np.int64) for _ in range(3))
    share, real = np.ones((T, L, D)), np.zeros((T, L, D), dtype=bool)
    value = np.zeros((T, L))
    features = np.full((T, d), trees_n_features + 1, dtype=np.intp)  # padding: a scratch column (distinct)
    for i, (t, (n_, l_, s_, r_)) in enumerate(zip(trees, paths)):
        a, b = n_.shape
        node[i, :a, :b], left[i, :a, :b], share[i, :a, :b], real[i, :a, :b] = n_, l_, s_, r_
        if len(t.feature):
            fbit[i, :a, :b] = 1 << np.searchsorted(t.features, t.feature)[n_]
            value[i, :a] = t.leaf_value
            features[i, :len(t.features)] = t.features
    P, S = np.arange(1 << k), np.arange(1 << d)
    leaves_p = (((P >> node[..., None]) & 1) != left[..., None]) & real[..., None]  # (T, L, D, P)
    off = np.bitwise_or.reduce(np.where(leaves_p, fbit[..., None], 0), axis=2)  # (T, L, P)
    outside = ((S & fbit[..., None]) == 0) & real[..., None]  # (T, L, D, S)
    weight = np.where(outside, share[..., None], 1.0).prod(axis=2) * value[..., None]  # (T, L, S)
    V = np.zeros((T, len(P), len(S)))
    for leaf in range(L):
        V += ((off[:, leaf, :, None] & S) == 0) * weight[:, leaf, None, :]
    return V @ _shapley_weights(d), features


__all__ = ["MAX_SPLITS", "TreeEnsemble"]
