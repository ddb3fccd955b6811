"""Chinese review sentiment: character n-gram TF-IDF + logistic regression, scored in bulk, and the default model
shipped with the package (:mod:`shopseg.text.sentiment` scores every language through it and VADER)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import ModelFitError, NotFittedError
from .language import _as_series


def _data_path(name: str):
    return resources.files("shopseg.text").joinpath("data", name)


# --- Chinese: character n-gram TF-IDF + logistic regression ------------------------


class CharNgramModel:
    """A fitted linear model over TF-IDF of character 1- and 2-grams, scored in bulk.

    Reproduces ``TfidfVectorizer(analyzer="char", ngram_range=(1, 2),
    sublinear_tf=True)`` followed by a linear decision function, without a
    Python loop over texts: all texts are joined into one array of code
    points, unigrams are looked up in a dense table and bigrams (two code
    points packed in one 64-bit key) by binary search, and the counts per
    text are one sparse matrix.  ``score`` returns ``2 p - 1`` where ``p`` is
    the model's probability of a positive review.

    Build one with :meth:`from_sklearn` or :meth:`load`.
    """

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray, coef: np.ndarray, intercept: float):
        self.vocabulary = list(vocabulary)
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        if not (len(self.vocabulary) == len(self.idf) == len(self.coef)):
            raise ModelFitError(
                f"Character model has {len(self.vocabulary)} terms, {len(self.idf)} idf weights and "
                f"{len(self.coef)} coefficients; expected the same number of each."
            )
        uni_cp, uni_id, bi_key, bi_id = [], [], [], []
        for i, t in enumerate(self.vocabulary):
            if len(t) == 1:
                uni_cp.append(ord(t))
                uni_id.append(i)
            elif len(t) == 2:
                bi_key.append((ord(t[0]) << 21) | ord(t[1]))
                bi_id.append(i)
            else:
                raise ModelFitError(f"Character model term {t!r} has {len(t)} characters; expected 1 or 2.")
        self._uni = dict(zip(uni_cp, uni_id))
        self._uni_table = np.full(0x110000, -1, dtype=np.int32)
        self._uni_table[np.asarray(uni_cp, dtype=np.int64)] = np.asarray(uni_id, dtype=np.int32)
        order = np.argsort(np.asarray(bi_key, dtype=np.uint64), kind="stable")
        self._bi_key = np.asarray(bi_key, dtype=np.uint64)[order]
        self._bi_id = np.asarray(bi_id, dtype=np.int64)[order]

    @classmethod
    def from_sklearn(cls, vectorizer, classifier) -> "CharNgramModel":
        """From a fitted ``TfidfVectorizer(analyzer='char', ngram_range=(1, 2), sublinear_tf=True)``
        and a fitted linear classifier."""
        vocab = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
        return cls(vocab, vectorizer.idf_, classifier.coef_.ravel(), float(classifier.intercept_[0]))

    def transform(self, texts: Iterable[str | None] | pd.Series) -> sp.csr_matrix:
        """The (l2-normalised, sublinear) TF-IDF matrix of ``texts``, lower-cased."""
        s = _as_series(texts).str.lower()
        n = len(s)
        lengths = s.str.len().to_numpy(dtype=np.int64)
        joined = "\x00".join(s.to_numpy(dtype=object, na_value=""))
        cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        doc = np.repeat(np.arange(n, dtype=np.int64), lengths + 1)[: len(cp)]
        is_sep = np.zeros(len(cp), dtype=bool)
        ends = np.cumsum(lengths + 1)[:-1] - 1
        is_sep[ends] = True
        uni = self._uni_table[cp]
        ok_u = (uni >= 0) & ~is_sep
        rows = [doc[ok_u]]
        cols = [uni[ok_u].astype(np.int64)]
        if len(cp) > 1 and len(self._bi_key):
            key = ((cp[:-1] << 21) | cp[1:]).astype(np.uint64)
            idx = np.searchsorted(self._bi_key, key)
            idx = np.minimum(idx, len(self._bi_key) - 1)
            ok_b = (self._bi_key[idx] == key) & ~is_sep[:-1] & ~is_sep[1:]
            rows.append(doc[:-1][ok_b])
            cols.append(self._bi_id[idx[ok_b]])
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        X = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, len(self.vocabulary)))
        X.sum_duplicates()
        X.data = (np.log(X.data) + 1.0) * self.idf[X.indices]
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        X = sp.diags(1.0 / norms) @ X
        return X.tocsr()

    def decision_function(self, texts) -> np.ndarray:
        return self.transform(texts) @ self.coef + self.intercept

    def predict_proba_positive(self, texts) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.decision_function(texts)))

    def score(self, texts) -> np.ndarray:
        """``2 p - 1`` in [-1, 1]; 0 for a text with no known character."""
        X = self.transform(texts)
        z = X @ self.coef + self.intercept
        out = 2.0 / (1.0 + np.exp(-z)) - 1.0
        out[X.getnnz(axis=1) == 0] = 0.0
        return out

    # -- storage ---------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """A compressed ``.npz``: terms joined by newlines, idf and coefficients as float32."""
        np.savez_compressed(
            path,
            vocabulary=np.frombuffer("\n".join(self.vocabulary).encode("utf-8"), dtype=np.uint8),
            idf=self.idf.astype(np.float32),
            coef=self.coef.astype(np.float32),
            intercept=np.array([self.intercept], dtype=np.float64),
        )

    @classmethod
    def load(cls, path) -> "CharNgramModel":
        with np.load(path) as z:
            vocab = z["vocabulary"].tobytes().decode("utf-8").split("\n")
            return cls(vocab, z["idf"], z["coef"], float(z["intercept"][0]))


ZH_MODEL_FILE = "zh_sentiment.npz"


@lru_cache(maxsize=1)
def default_zh_model() -> CharNgramModel:
    """The Chinese default model shipped in ``shopseg/text/data/zh_sentiment.npz``."""
    res = _data_path(ZH_MODEL_FILE)
    if not res.is_file():
        raise NotFittedError(
            f"The Chinese default sentiment model {ZH_MODEL_FILE} is missing from the shopseg package.",
            hint="Regenerate it with `python evals/train_zh_default.py`.",
        )
    with resources.as_file(res) as p:
        return CharNgramModel.load(p)
