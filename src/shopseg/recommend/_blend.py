"""Personalised product recommendations: four sources blended, evaluated on a time split.

Sources (each scored for every (customer, product) pair, then blended):

* ``als`` — collaborative filtering on implicit feedback: alternating least squares with
  confidence weights (Hu, Koren & Volinsky 2008, "Collaborative Filtering for Implicit
  Feedback Datasets"), from the ``implicit`` package; the feedback is
  ``als_alpha x log1p(purchase days of the product)``.  Without ``implicit`` (or with
  ``collaborative = "cooccurrence"``) the source is
* ``item_item`` — item-item co-occurrence: cosine similarity of the products' buyer sets
  (Sarwar et al. 2001; Linden, Smith & York 2003, "Amazon.com recommendations: item-to-item
  collaborative filtering"), a customer's score for a product being the sum of its
  similarities to the products they bought (top 200 neighbours kept per product);
* ``content`` — TF-IDF of name, description, category and brand; the customer's profile is
  the purchase-weighted mean of the bought products' vectors; score = cosine;
* ``cross_sell`` — association rules (``shopseg.basket.cross_sell``: the best rule whose
  antecedent is in the customer's history; score = its confidence);
* ``popularity`` — buyers of each product in the last ``popularity_days``, within the
  customer's segment (``popularity_scheme``), else in the whole shop: the only source for
  customers without purchases (cold start).

Blending: each source's scores are divided by the customer's largest score from that source
(so every source is in [0, 1] for every customer), multiplied by its weight
(``weight_collaborative``, ``weight_content``, ``weight_rules``, ``weight_popularity``) and
summed.  A recommendation's ``source`` is the source that contributed most to its score.
Never recommended: products the customer already bought, products with ``is_available``
false and non-merchandise (``is_merchandise`` false).

Offline evaluation (:func:`shopseg.recommend.evaluate_time_split`): the blend is one of the
methods judged against every product each returning customer bought after a split, and on the
new part of that target (products they never bought), where it is meant to compete.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
from scipy import sparse

from ..config import Config, load_config
from ..errors import ConfigError, NotFittedError
from ..params import validate_params
from ._parameters import PARAMETER_CONSTRAINTS

SOURCES = ("collaborative", "content", "rules", "popularity")
SOURCE_NAMES = ["als", "item_item", "content", "cross_sell", "popularity"]
REC_COLUMNS = {
    "customer_id": "The customer.",
    "rank": "1 = best.",
    "product_id": "Recommended product.",
    "score": "Blended score (sum of weighted, per-customer scaled source scores).",
    "source": "Source contributing most: als or item_item (collaborative), content, cross_sell, popularity.",
}


def has_implicit() -> bool:
    try:
        import implicit  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    return True


def _row_normalize(m: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms) @ m


def _top_k_per_row(m: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Keep the ``k`` largest entries of each row (vectorised)."""
    m = m.tocsr()
    counts = np.diff(m.indptr)
    if counts.max(initial=0) <= k:
        return m
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((-m.data, rows))
    start = np.repeat(m.indptr[:-1], counts)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order)) - start
    keep = rank < k
    return sparse.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)


def catalogue(products: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(the merchandise, one row per product sorted by id, ids as text; which of them can be recommended now)."""
    prods = products.copy()
    prods["product_id"] = prods["product_id"].astype(str)
    merch = prods["is_merchandise"].fillna(True).astype(bool) if "is_merchandise" in prods else True
    prods = prods[merch].drop_duplicates("product_id").sort_values("product_id").reset_index(drop=True)
    avail = prods["is_available"].fillna(True).astype(bool).to_numpy() if "is_available" in prods \
        else np.ones(len(prods), bool)
    return prods, avail


class Recommender:
    """Blended recommender (see the module docstring): a scikit-learn-style estimator.

    ``fit(interactions, products, rules=None, segments=None, popularity=None)``:

    * ``interactions``: customer_id, product_id, n_days (purchase days of the product);
    * ``products``: product_id, name, category, brand, description, is_available, is_merchandise;
    * ``rules``: association rules of one scope (antecedent, consequent, confidence, lift);
    * ``segments``: customer_id, segment (for segment popularity);
    * ``popularity``: customer_id, product_id pairs counted for popularity (default: interactions), or (with
      ``n_days``) a sparse matrix customers x products whose stored non-zero entries are the pairs.

    Learned attributes: ``items_``, ``users_``, ``user_items_``, ``collaborative_`` (``"als"`` or
    ``"item_item"``), ``item_factors_``/``user_factors_`` or ``item_similarity_``, ``content_``,
    ``popularity_``, ``segment_popularity_``.
    """

    def __init__(self, top_n: int = 10, collaborative: str = "auto", weight_collaborative: float = 1.0,
                 weight_content: float = 0.2, weight_rules: float = 0.3, weight_popularity: float = 0.1,
                 als_factors: int = 32, als_iterations: int = 15, als_regularization: float = 0.1,
                 als_alpha: float = 5.0, als_customers: int = 0, content_max_features: int = 5000,
                 neighbours: int = 200, random_state: int | None = 0):
        self.top_n = top_n
        self.collaborative = collaborative
        self.weight_collaborative = weight_collaborative
        self.weight_content = weight_content
        self.weight_rules = weight_rules
        self.weight_popularity = weight_popularity
        self.als_factors = als_factors
        self.als_iterations = als_iterations
        self.als_regularization = als_regularization
        self.als_alpha = als_alpha
        self.als_customers = als_customers
        self.content_max_features = content_max_features
        self.neighbours = neighbours
        self.random_state = random_state

    @classmethod
    def from_config(cls, config: Config | None = None, **overrides) -> "Recommender":
        cfg = config if config is not None else load_config()
        r = cfg["recommend"]
        keys = ("top_n", "collaborative", "weight_collaborative", "weight_content", "weight_rules",
                "weight_popularity", "als_factors", "als_iterations", "als_regularization", "als_alpha",
                "als_customers", "content_max_features", "random_state")
        return cls(**{**{k: r[k] for k in keys}, **overrides})

    # -- fitting ---------------------------------------------------------------------------
    def _check(self) -> None:
        validate_params({"collaborative": self.collaborative, **{f"weight_{k}": getattr(self, f"weight_{k}")
                                                                 for k in SOURCES}},
                        PARAMETER_CONSTRAINTS, "recommend.", owner="Recommender")
        if isinstance(self.top_n, bool) or not isinstance(self.top_n, int) or self.top_n < 1:
            raise ConfigError(f"The 'top_n' parameter of Recommender must be an int in [1, inf). Got {self.top_n!r} instead.")

    def fit(self, interactions: pd.DataFrame, products: pd.DataFrame, *, rules: pd.DataFrame | None = None,
            segments: pd.DataFrame | None = None, popularity: pd.DataFrame | None = None,
            content: sparse.csr_matrix | None = None, n_days=None) -> "Recommender":
        """``content``: the ``content_`` of a Recommender fitted on the same products, reused (the TF-IDF
        of the products does not depend on the purchases).  ``n_days``: the interactions already as
        (sorted customer ids, CSR customers x the catalogue's products of purchase days), e.g. a
        next-basket history's ``(users, n_days)``; ``interactions`` is then not read (None)."""
        self._check()
        prods, self.recommendable_ = catalogue(products)
        self.items_ = prods["product_id"].to_numpy(object)
        item_pos = pd.Series(np.arange(len(self.items_)), index=self.items_)
        if n_days is not None:  # the same matrix as below, without the string work
            users, m = n_days
            if m.shape[1] != len(self.items_):
                raise ConfigError(f"n_days has {m.shape[1]} product columns; the catalogue has {len(self.items_)}.")
            self.users_ = np.asarray(users, dtype=object)
            self.user_items_ = sparse.csr_matrix((np.log1p(m.data, dtype=np.float64), m.indices, m.indptr), shape=m.shape)
            it = None
        else:
            it = interactions[["customer_id", "product_id", "n_days"]].copy()
            it["customer_id"] = it["customer_id"].astype(str)
            it["product_id"] = it["product_id"].astype(str)
            it = it[it["product_id"].isin(item_pos.index)]
            self.users_ = np.unique(it["customer_id"].to_numpy(str)).astype(object)
            ui = pd.Series(np.arange(len(self.users_)), index=self.users_).reindex(it["customer_id"]).to_numpy()
            ii = item_pos.reindex(it["product_id"]).to_numpy()
            w = np.log1p(it["n_days"].to_numpy(float))
            self.user_items_ = sparse.csr_matrix((w, (ui, ii)), shape=(len(self.users_), len(self.items_)))
            self.user_items_.sum_duplicates()
        user_pos = pd.Series(np.arange(len(self.users_)), index=self.users_)
        n_u, n_i = len(self.users_), len(self.items_)
        self._user_pos = user_pos
        self._item_pos = item_pos
        # collaborative
        self.item_similarity_ = self.user_factors_ = self.item_factors_ = None
        use_als = self.collaborative == "als" or (self.collaborative == "auto" and has_implicit())
        if self.collaborative == "als" and not has_implicit():
            raise ConfigError("The 'collaborative' setting is 'als' but the `implicit` package is not installed.",
                              hint="pip install implicit, or use collaborative = \"cooccurrence\" (or \"auto\").")
        if self.weight_collaborative > 0 and n_u > 0:
            if use_als:
                self._fit_als()
            else:
                self._fit_item_item()
        self.collaborative_ = "als" if use_als else "item_item"
        # content
        self.content_ = None
        if self.weight_content > 0 and n_i > 0:
            if content is not None and content.shape[0] == n_i:
                self.content_ = content
            else:
                self._fit_content(prods)
        # popularity: buyers per product, overall and per segment
        if popularity is None and it is None:  # every buyer of the history
            popularity = self.user_items_
        self.segment_popularity_ = {}
        self.segments_ = None
        seg = None
        if segments is not None and len(segments):
            seg = segments[["customer_id", "segment"]].astype(str)
            self.segments_ = pd.Series(seg["segment"].to_numpy(), index=seg["customer_id"].to_numpy())
        if sparse.issparse(popularity):
            self._popularity_from_matrix(popularity, seg)
        else:
            pop = popularity if popularity is not None else it
            pop = pop[["customer_id", "product_id"]].astype(str).drop_duplicates()
            pop = pop[pop["product_id"].isin(item_pos.index)]
            self.popularity_ = np.bincount(item_pos.reindex(pop["product_id"]).to_numpy(), minlength=n_i).astype(float)
            if seg is not None:
                for s, g in pop.merge(seg, on="customer_id").groupby("segment"):
                    self.segment_popularity_[s] = np.bincount(item_pos.reindex(g["product_id"]).to_numpy(),
                                                              minlength=n_i).astype(float)
        self.rules_ = rules if rules is not None and len(rules) and self.weight_rules > 0 else None
        return self

    def _popularity_from_matrix(self, m: sparse.spmatrix, seg: pd.DataFrame | None) -> None:
        """Buyers per product (and per segment of ``seg``) from ``m``, customers ``users_`` x products: a stored
        non-zero entry is a counted (customer, product) pair; the same counts as from the pairs as a frame."""
        if m.shape != (len(self.users_), len(self.items_)):
            raise ConfigError(f"The popularity matrix is {m.shape[0]} x {m.shape[1]}; expected customers x products "
                              f"{len(self.users_)} x {len(self.items_)}.")
        m = m.tocsr(copy=True)
        m.eliminate_zeros()
        n_i = len(self.items_)
        self.popularity_ = np.bincount(m.indices, minlength=n_i).astype(float)
        if seg is None:
            return
        rows = self._user_pos.reindex(seg["customer_id"]).to_numpy()
        ok = ~np.isnan(rows)
        for s, r in pd.Series(rows[ok].astype(np.int64)).groupby(seg["segment"].to_numpy()[ok]):
            if m[r.to_numpy()].nnz:  # as a merge of the pairs with the segments: segments with a pair only
                self.segment_popularity_[s] = np.bincount(m[r.to_numpy()].indices, minlength=n_i).astype(float)

    def _fit_als(self) -> None:
        """ALS on every customer, or, with more customers than ``als_customers`` (> 0), on a seeded sample of
        that many: the product factors are learned from the sample, and a customer's factors are then the
        exact least-squares solve against them (:meth:`user_factors`), for the customers scored only."""
        from threadpoolctl import threadpool_limits

        from implicit.cpu.als import AlternatingLeastSquares

        n_u = self.user_items_.shape[0]
        sample = None
        if self.als_customers and n_u > self.als_customers:
            sample = np.sort(np.random.default_rng(self.random_state).choice(n_u, self.als_customers, replace=False))
        # implicit checks the BLAS thread count when the model is built: limit it first (its advice).  One thread:
        # the factors are the same bit for bit with two (each solve is independent), but on a 2-core machine
        # shared with other work two OpenMP threads were slower (Online Retail x10: 12.2 s with one, 15.5-17.9 s
        # with two, load average ~4; docs/history/benchmarks.md, "Recommend stage", session 8)
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(factors=self.als_factors, regularization=self.als_regularization,
                                            alpha=self.als_alpha, iterations=self.als_iterations, num_threads=1,
                                            random_state=self.random_state)
            train = self.user_items_ if sample is None else self.user_items_[sample]
            model.fit(train.astype(np.float32).tocsr(), show_progress=False)
        self.item_factors_ = np.asarray(model.item_factors)
        self.als_sample_ = sample
        self._als = None if sample is None else model
        self.user_factors_ = np.asarray(model.user_factors) if sample is None else None

    def user_factors(self, rows: np.ndarray) -> np.ndarray:
        """The ALS factors of the customers at train rows ``rows`` (-1: zeros): the fit's own, or (ALS fitted on
        a sample) each customer's least-squares solve against the product factors (implicit's Cholesky solve,
        ``recalculate_user``: the user half of one more ALS sweep), computed here for these rows only."""
        out = np.zeros((len(rows), self.item_factors_.shape[1]), self.item_factors_.dtype)
        ok = rows >= 0
        if not ok.any():
            return out
        if self.user_factors_ is not None:
            out[ok] = self.user_factors_[rows[ok]]
            return out
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            out[ok] = self._als.recalculate_user(np.flatnonzero(ok), self.user_items_[rows[ok]].astype(np.float32))
        return out

    def _fit_item_item(self) -> None:
        b = self.user_items_.copy()
        b.data[:] = 1.0
        c = (b.T @ b).tocsr().astype(np.float64)
        d = np.sqrt(c.diagonal())
        d[d == 0] = 1.0
        s = sparse.diags(1.0 / d) @ c @ sparse.diags(1.0 / d)
        s = s.tocsr()
        s.setdiag(0.0)
        s.eliminate_zeros()
        self.item_similarity_ = _top_k_per_row(s, self.neighbours).T.tocsr()  # column j: j's neighbours

    def _fit_content(self, prods: pd.DataFrame) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        def col(c):
            return prods[c].fillna("").astype(str) if c in prods else pd.Series([""] * len(prods))

        def tag(c):
            v = col(c).str.lower().str.replace(r"[^0-9a-z]+", "_", regex=True)
            return np.where(v.str.len() > 0, f"{c}_" + v, "")

        text = (col("name") + " " + col("description") + " " + tag("category") + " " + tag("category") + " "
                + tag("brand"))
        if not text.str.strip().str.len().any():
            return
        vec = TfidfVectorizer(max_features=self.content_max_features, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
        self.content_ = _row_normalize(vec.fit_transform(text.to_numpy()).tocsr())

    # -- scoring ---------------------------------------------------------------------------
    def _sources(self, rows: np.ndarray, hist: sparse.csr_matrix, rule_scores: sparse.csr_matrix | None):
        """[(source name, weight, dense scores m x items)] for users at train rows ``rows`` (-1 = cold),
        popularity aside (see :meth:`iter_scores`)."""
        m, n_i = hist.shape
        out = []
        if self.weight_collaborative > 0:
            if self.item_factors_ is not None:
                ok = rows >= 0
                if ok.all() and self.user_factors_ is not None:
                    s = self.user_factors_[rows] @ self.item_factors_.T
                else:
                    s = np.zeros((m, n_i), self.item_factors_.dtype)
                    if ok.any():
                        s[ok] = self.user_factors(rows[ok]) @ self.item_factors_.T
                out.append(("als", self.weight_collaborative, np.maximum(s, 0, out=s)))
            elif self.item_similarity_ is not None:
                out.append(("item_item", self.weight_collaborative, (hist @ self.item_similarity_).toarray()))
        if self.weight_content > 0 and self.content_ is not None:
            prof = _row_normalize((hist @ self.content_).tocsr())
            c = (prof @ self.content_.T).toarray()
            out.append(("content", self.weight_content, np.maximum(c, 0, out=c)))
        if rule_scores is not None:
            out.append(("cross_sell", self.weight_rules, rule_scores.toarray()))
        return out

    def recommend(self, customer_ids, *, top_n: int | None = None, histories: pd.DataFrame | None = None,
                  chunk_size: int = 2000) -> pd.DataFrame:
        """Top ``top_n`` products for each of ``customer_ids``: customer_id, rank, product_id, score, source.

        ``histories`` (customer_id, product_id): what to exclude and to score from for customers
        (default: the training interactions).  Customers without a history get segment popularity.
        """
        if not hasattr(self, "items_"):
            raise NotFittedError("Recommender is not fitted yet: call fit(...) first.")
        k = int(top_n or self.top_n)
        cust = pd.Series(pd.unique(pd.Series(list(customer_ids), dtype=object).astype(str)))
        n_i = len(self.items_)
        if not len(cust) or n_i == 0:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "rank" else "float64" if c == "score"
                                              else "object") for c in REC_COLUMNS})
        res_c, res_p, res_s, res_src = [], [], [], []
        kk = min(k, n_i)
        for lo, hi, total, source_at in self.iter_scores(cust, histories=histories, chunk_size=chunk_size):
            top = np.argpartition(-total, kk - 1, axis=1)[:, :kk]
            ts = np.take_along_axis(total, top, axis=1)
            order = np.argsort(-ts, axis=1, kind="stable")
            top = np.take_along_axis(top, order, axis=1)
            ts = np.take_along_axis(ts, order, axis=1)
            valid = np.isfinite(ts)
            r_idx = np.repeat(np.arange(hi - lo), kk).reshape(-1, kk)
            res_c.append(cust.to_numpy()[lo:hi][r_idx[valid]])
            res_p.append(top[valid])
            res_s.append(ts[valid])
            res_src.append(source_at(r_idx[valid], top[valid]))
        c = np.concatenate(res_c)
        out = pd.DataFrame({"customer_id": c, "product_id": self.items_[np.concatenate(res_p)],
                            "score": np.concatenate(res_s), "source": np.asarray(SOURCE_NAMES, dtype=object)[np.concatenate(res_src)]})
        out.insert(1, "rank", out.groupby("customer_id", sort=False).cumcount().astype("int64") + 1)
        return out

    def iter_scores(self, cust: pd.Series, *, histories: pd.DataFrame | None = None, chunk_size: int = 2000):
        """Blended scores in chunks of customers: (lo, hi, total, source_at) with ``total`` the dense
        (hi - lo) x items score matrix (-inf: bought, unavailable) and ``source_at(rr, tt)`` the index in
        ``SOURCE_NAMES`` of the source contributing most at entries (``rr``, ``tt``) of the chunk (the
        first of equal contributions in SOURCE_NAMES' order; popularity when none is positive), worked
        out for the recommended entries only."""
        n_i = len(self.items_)
        rows_all = self._user_pos.reindex(cust).fillna(-1).astype(np.int64).to_numpy()
        if histories is None:
            idx = np.where(rows_all >= 0, rows_all, 0)
            hist_all = self.user_items_[idx].tocsr()
            hist_all = sparse.diags((rows_all >= 0).astype(float)) @ hist_all
        else:
            h = histories.iloc[:, :2].astype(str)
            h.columns = ["customer_id", "product_id"]
            h = h[h["product_id"].isin(self._item_pos.index) & h["customer_id"].isin(cust)]
            cpos = pd.Series(np.arange(len(cust)), index=cust.to_numpy())
            hist_all = sparse.csr_matrix((np.ones(len(h)), (cpos.reindex(h["customer_id"]).to_numpy(),
                                                           self._item_pos.reindex(h["product_id"]).to_numpy())),
                                         shape=(len(cust), n_i))
            hist_all.sum_duplicates()
        hist_all = hist_all.tocsr()
        rule_all = self._rule_scores(cust, hist_all) if self.rules_ is not None else None
        gpop = self.popularity_ / self.popularity_.max() if self.popularity_.max() > 0 else self.popularity_
        # popularity: one scaled, weighted vector per segment (row 0: the shop's), each customer's by index
        segs = list(self.segment_popularity_)
        seg_of = self.segments_.reindex(cust).to_numpy() if self.segments_ is not None else np.full(len(cust), None)
        seg_idx = np.zeros(len(cust), np.int64)
        for j, sname in enumerate(segs):
            seg_idx[seg_of == sname] = j + 1
        table = np.vstack([self.popularity_, *(self.segment_popularity_[sname] for sname in segs)]) \
            if n_i else np.zeros((1 + len(segs), 0))
        mx = table.max(axis=1, keepdims=True) if n_i else np.zeros((len(table), 1))
        pop_contrib = np.divide(table, np.where(mx > 0, mx, 1.0), dtype=float)
        pop_contrib[(mx <= 0)[:, 0]] = 0.0
        pop_contrib *= self.weight_popularity
        i_pop = np.int8(SOURCE_NAMES.index("popularity"))
        for lo in range(0, len(cust), chunk_size):
            hi = min(lo + chunk_size, len(cust))
            rows = rows_all[lo:hi]
            hist = hist_all[lo:hi]
            total = np.zeros((hi - lo, n_i))
            parts = []
            for name, w, sc in self._sources(rows, hist, rule_all[lo:hi] if rule_all is not None else None):
                # w x (sc / the row's max), 0 on rows whose max is not positive (in sc's buffer when float64)
                mx = sc.max(axis=1, keepdims=True)
                pos = mx > 0
                contrib = np.divide(sc, np.where(pos, mx, 1.0), dtype=float,
                                    out=sc if sc.dtype == np.float64 else None)
                if not pos.all():
                    contrib[~pos[:, 0]] = 0.0
                contrib *= w
                total += contrib
                parts.append((np.int8(SOURCE_NAMES.index(name)), contrib))
            si = seg_idx[lo:hi]
            if self.weight_popularity > 0:
                if (si == si[0]).all() if len(si) else True:
                    total += pop_contrib[si[0] if len(si) else 0]
                else:
                    total += pop_contrib[si]
            total += 1e-9 * gpop  # ties and products with no signal: most popular first
            total[:, ~self.recommendable_] = -np.inf
            hh = hist.tocoo()
            total[hh.row, hh.col] = -np.inf
            yield lo, hi, total, self._source_at(parts, pop_contrib if self.weight_popularity > 0 else None, si,
                                                 i_pop)

    @staticmethod
    def _source_at(parts: list, pop_contrib, seg_idx: np.ndarray, i_pop):
        def source_at(rr: np.ndarray, tt: np.ndarray) -> np.ndarray:
            best = np.full(len(rr), i_pop, np.int8)
            best_val = np.zeros(len(rr))
            terms = [(i, c[rr, tt]) for i, c in parts]
            if pop_contrib is not None:
                terms.append((i_pop, pop_contrib[seg_idx[rr], tt]))
            for i, v in terms:  # in SOURCE_NAMES' order: a later source wins only when strictly larger
                best[v > best_val] = i
                np.maximum(best_val, v, out=best_val)
            return best
        return source_at

    def _rule_scores(self, cust: pd.Series, hist: sparse.csr_matrix) -> sparse.csr_matrix | None:
        from ..basket import cross_sell

        h = hist.tocoo()
        if not len(h.data):
            return None
        frame = pd.DataFrame({"customer_id": cust.to_numpy()[h.row], "item": self.items_[h.col]})
        r = getattr(self, "_catalogue_rules", None)
        if r is None or r[0] is not self.rules_:  # the rules suggesting a product of the catalogue, once per fit
            r = (self.rules_, self.rules_[self.rules_["consequent"].astype(str).isin(self._item_pos.index)])
            self._catalogue_rules = r
        r = r[1]
        if not len(r):
            return None
        cs = cross_sell(r, frame, top_n=50)
        if not len(cs):
            return None
        cpos = pd.Series(np.arange(len(cust)), index=cust.to_numpy())
        return sparse.csr_matrix((cs["confidence"].to_numpy(float),
                                  (cpos.reindex(cs["customer_id"].astype(str)).to_numpy(),
                                   self._item_pos.reindex(cs["item"].astype(str)).to_numpy())),
                                 shape=(len(cust), len(self.items_)))
