"""Topics of reviews, per language: NMF over TF-IDF, labelled by their top terms.

Non-negative matrix factorisation (Lee & Seung 1999, "Learning the parts of
objects by non-negative matrix factorization", Nature) splits the TF-IDF
matrix ``X ~ W H``; each row of ``H`` is a topic (its largest weights name
it), each row of ``W`` how much of each topic a review holds.  A review's
topic is its largest weight.  English is tokenised into words (scikit-learn's
English stop words removed), other Latin-script languages into words (their
common words removed), Chinese with jieba (a short list of function words
removed).

The number of topics is ``n_topics`` or, when that is 0, the elbow ("knee")
of the reconstruction error over ``min_topics..max_topics`` (the point
farthest below the straight line joining the two ends of the curve; Satopää
et al. 2011, "Finding a 'Kneedle' in a Haystack", ICDCS workshops).
``init="nndsvd"`` makes the factorisation deterministic.

>>> texts = ["fast delivery great", "delivery was fast", "quick delivery"] * 5 + \\
...         ["battery life short", "battery died fast", "poor battery"] * 5
>>> tm = TopicModel(n_topics=2, min_df=1).fit(texts)
>>> sorted(label.split(" / ")[0] for label in tm.topic_labels_)
['battery', 'delivery']
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from ..errors import ModelFitError, NotFittedError
from .language import tokenize_zh

ZH_STOP_WORDS = frozenset(
    """的 了 是 我 也 很 都 就 在 有 和 不 这 还 没 人 一个 说 要 买 但 但是 就是 非常 比较 没有 我们 你 他 她 它 吧 啊
    呢 吗 个 这个 那 会 可以 还是 感觉 东西 觉得 一 上 到 去 给 用 看 着 过 又 被 让 与 及 对 而 从 等 最 太 挺 真 好像
    一下 一些 这么 那么 什么 自己 如果 因为 所以 已经 而且 还有 不是 不过 可能 时候 一直 现在 真的 这样 一样 下 后 里
    再 能 才 多 呀 哦 嗯 么 啦 得 地 之 其 或 并 把 将 为 以 于 所 之后 之前 一次 一点 有点 只是 只 更 已 该""".split()
)


def _zh_analyzer(text: str) -> list[str]:
    return [w for w in tokenize_zh(text) if w not in ZH_STOP_WORDS and not w.isdigit()]


def _stop_words(language: str):
    """scikit-learn's English list; for another Latin-script language its common words
    (:data:`shopseg.text.language.FUNCTION_WORDS`, those the word pattern keeps whole); none otherwise."""
    if language == "en":
        return "english"
    from .language import FUNCTION_WORDS

    words = [w for w in FUNCTION_WORDS.get(language, ()) if re.fullmatch(r"[^\W\d_]{2,}", w)]
    return words or None


def knee(ks: list[int], errors: list[float]) -> int:
    """The k farthest below the chord from the first to the last point (the elbow).

    >>> knee([2, 3, 4, 5, 6], [10.0, 6.0, 5.0, 4.6, 4.4])
    3
    """
    k = np.asarray(ks, dtype=float)
    e = np.asarray(errors, dtype=float)
    if len(k) < 3 or e[0] == e[-1]:
        return int(k[0])
    x = (k - k[0]) / (k[-1] - k[0])
    y = (e - e[-1]) / (e[0] - e[-1])
    gap = (1.0 - x) - y  # chord minus curve, both scaled to [0, 1]
    return int(k[int(np.argmax(gap))])


class TopicModel:
    """NMF topics of one language's reviews (scikit-learn estimator style).

    Learned attributes: ``n_topics_``, ``vectorizer_``, ``nmf_``,
    ``topic_terms_`` (top terms per topic), ``topic_labels_`` ("a / b / c"),
    ``reconstruction_errors_`` (``k -> error`` when ``n_topics`` was 0).
    """

    def __init__(self, n_topics: int = 0, *, language: str = "en", min_topics: int = 2, max_topics: int = 8,
                 n_top_terms: int = 3, max_features: int = 5000, min_df: int = 2, max_df: float = 0.5,
                 random_state: int = 0):
        self.n_topics = n_topics
        self.language = language
        self.min_topics = min_topics
        self.max_topics = max_topics
        self.n_top_terms = n_top_terms
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.random_state = random_state

    def _vectorizer(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        if self.language == "zh":
            return TfidfVectorizer(analyzer=_zh_analyzer, max_features=self.max_features, min_df=self.min_df,
                                   max_df=self.max_df, sublinear_tf=True)
        return TfidfVectorizer(stop_words=_stop_words(self.language),
                               token_pattern=r"(?u)(?<!')\b[^\W\d_][^\W\d_]+\b",
                               max_features=self.max_features, min_df=self.min_df, max_df=self.max_df,
                               sublinear_tf=True)

    def _nmf(self, k: int):
        from sklearn.decomposition import NMF

        return NMF(n_components=k, init="nndsvd", random_state=self.random_state, max_iter=200)

    def _fit_nmf(self, k: int, X):
        # 200 iterations settle the top terms; full convergence is not needed
        # to name a topic, so the convergence warning is not an error here.
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            # a k above the rank of X leaves a tiny negative squared error (sqrt -> nan)
            warnings.simplefilter("ignore", ConvergenceWarning)
            return self._nmf(k).fit(X)

    def fit(self, texts) -> "TopicModel":
        texts = [t if isinstance(t, str) else "" for t in texts]
        vec = self._vectorizer()
        try:
            X = vec.fit_transform(texts)
        except ValueError as e:  # empty vocabulary
            raise ModelFitError(
                f"Cannot find topics in {len(texts)} {self.language} reviews: {e}.",
                hint="Topics need reviews with words in common; lower [reviews].topics_min_reviews "
                     "only if the reviews are long enough.",
            ) from e
        n_terms = X.shape[1]
        n_distinct = len(set(texts))
        hi = int(min(self.max_topics, n_distinct - 1, n_terms - 1))
        self.reconstruction_errors_ = {}
        if self.n_topics:
            k = int(max(1, min(self.n_topics, X.shape[0], n_terms)))
        elif hi <= self.min_topics:
            k = max(1, hi)
        else:
            ks = list(range(self.min_topics, hi + 1))
            for kk in ks:
                self.reconstruction_errors_[kk] = float(np.nan_to_num(self._fit_nmf(kk, X).reconstruction_err_))
            k = knee(ks, [self.reconstruction_errors_[kk] for kk in ks])
        nmf = self._fit_nmf(k, X)
        terms = np.asarray(vec.get_feature_names_out(), dtype=object)
        top = np.argsort(-nmf.components_, axis=1, kind="stable")[:, : self.n_top_terms]
        self.vectorizer_ = vec
        self.nmf_ = nmf
        self.n_topics_ = k
        self.topic_terms_ = [list(terms[row]) for row in top]
        self.topic_labels_ = [" / ".join(t) for t in self.topic_terms_]
        return self

    def transform(self, texts) -> np.ndarray:
        """Topic weights ``W`` (reviews x topics)."""
        if not hasattr(self, "nmf_"):
            raise NotFittedError("This TopicModel is not fitted yet.", hint="Call fit(texts) first.")
        from sklearn.exceptions import ConvergenceWarning

        texts = [t if isinstance(t, str) else "" for t in texts]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return self.nmf_.transform(self.vectorizer_.transform(texts))

    def predict(self, texts) -> np.ndarray:
        """Index of each review's main topic, -1 when it has no known term."""
        W = self.transform(texts)
        out = np.argmax(W, axis=1).astype(np.int64)
        out[W.max(axis=1) <= 0] = -1
        return out
