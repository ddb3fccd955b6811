"""Aspects of a review (delivery, quality, price, service, size, packaging) and their sentiment.

Aspects come from editable word lists (``data/aspects.toml``, overridable
with ``[reviews].aspects_path``).  A review is split into clauses (at
punctuation and before "but"/但是, see :func:`shopseg.text.language.split_clauses`);
a clause holding a term of an aspect mentions that aspect, and the aspect's
sentiment in the review is the mean sentiment of those clauses, scored by the
same model as the whole review.  This is the lexicon-plus-local-context
approach of Hu & Liu (2004, "Mining and Summarizing Customer Reviews", KDD),
with the clause as the context window.

Matching runs over all clauses at once: one regular expression per aspect
and language, executed by pyarrow (RE2) over the clause column.

>>> lex = load_aspect_lexicon()
>>> sorted(lex["en"])
['delivery', 'packaging', 'price', 'quality', 'service', 'size']
>>> sorted(lex)
['en', 'pt', 'zh']
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import ConfigError
from .language import _as_series, split_clauses

ASPECTS = ("delivery", "quality", "price", "service", "size", "packaging")
ASPECT_TYPE = pa.list_(pa.struct([("aspect", pa.string()), ("sentiment", pa.float64())]))


def load_aspect_lexicon(path: str | Path | None = None) -> dict[str, dict[str, list[str]]]:
    """``language -> aspect -> terms``: the built-in lists, updated from the TOML file at ``path``.

    The file has one table per language (``[en]``, ``[zh]``, ``[pt]``) and one list of
    strings per aspect; the lists it gives replace the built-in lists of the
    same aspect, new aspect names are added.
    """
    text = resources.files("shopseg.text").joinpath("data", "aspects.toml").read_text(encoding="utf-8")
    lex = tomllib.loads(text)
    if path:
        p = Path(path)
        try:
            user = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"Aspect word list {p} does not exist.",
                hint='Set [reviews].aspects_path to a TOML file, or to "" for the built-in lists.',
            ) from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"Aspect word list {p} is not valid TOML: {e}.") from None
        for lang, table in user.items():
            if not isinstance(table, Mapping):
                raise ConfigError(f"Aspect word list {p}: [{lang}] must be a table of aspect = [terms]. "
                                  f"Got {table!r} instead.")
            for aspect, terms in table.items():
                if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
                    raise ConfigError(f"Aspect word list {p}: {lang}.{aspect} must be a list of non-empty "
                                      f"strings. Got {terms!r} instead.")
                lex.setdefault(lang, {})[aspect] = list(terms)
    return lex


def _en_pattern(terms: Sequence[str]) -> str:
    alts = []
    for t in sorted({t.strip().lower() for t in terms}, key=len, reverse=True):
        prefix = t.endswith("*")
        words = t.rstrip("*").split()
        body = "[ -]+".join(re.escape(w) for w in words)
        alts.append(body + ("[a-z\u00e0-\u00ff]*" if prefix else "(?:s|es)?"))
    # Whole words without lookaround (RE2 has none): a non-letter or an end on each side (accented
    # letters are letters, for the Latin-script languages that share this matcher).
    return "(?:^|[^a-z\u00e0-\u00ff])(?:" + "|".join(alts) + ")(?:[^a-z\u00e0-\u00ff]|$)"


def _zh_pattern(terms: Sequence[str]) -> str:
    return "|".join(re.escape(t.strip()) for t in sorted(set(terms), key=len, reverse=True))


class AspectMatcher:
    """Finds which aspects each clause mentions, given ``language -> aspect -> terms``."""

    def __init__(self, lexicon: Mapping[str, Mapping[str, Sequence[str]]] | None = None):
        self.lexicon = load_aspect_lexicon() if lexicon is None else lexicon
        names: list[str] = []
        for table in self.lexicon.values():
            for a in table:
                if a not in names:
                    names.append(a)
        order = {a: i for i, a in enumerate(ASPECTS)}
        self.aspects_ = sorted(names, key=lambda a: (order.get(a, len(order)), a))
        self.patterns_ = {
            lang: {a: (_zh_pattern(t) if lang == "zh" else _en_pattern(t)) for a, t in table.items() if t}
            for lang, table in self.lexicon.items()
        }

    def match(self, clauses: pd.Series, languages: np.ndarray) -> np.ndarray:
        """Boolean matrix ``clauses x aspects_``.

        A clause is matched only against the word lists of its own language: English words say
        nothing about a Portuguese clause ("material", "email" are words of both), so a language
        without a word list has no aspects.
        """
        c = _as_series(clauses)
        lang = np.asarray(languages, dtype=object)
        hits = np.zeros((len(c), len(self.aspects_)), dtype=bool)
        for lg in np.unique(lang):
            rows = np.flatnonzero(lang == lg)
            pats = self.patterns_.get(lg)
            if not pats:
                continue
            sub = c.iloc[rows]
            if lg != "zh":
                sub = sub.str.lower()
            for j, a in enumerate(self.aspects_):
                if a in pats:
                    hits[rows, j] = sub.str.contains(pats[a], regex=True).to_numpy(dtype=bool)
        return hits


def aspect_sentiments(texts: Sequence[str] | pd.Series, languages: Sequence[str],
                      score: Callable[[pd.Series, np.ndarray, np.ndarray], np.ndarray],
                      matcher: AspectMatcher | None = None) -> pd.DataFrame:
    """Long table of aspects mentioned: ``doc, aspect, sentiment, n_clauses``.

    ``score(clauses, languages, docs)`` returns the sentiment of each clause
    (``docs`` says which review each clause comes from, so a caller can
    score it with that review's model).  A clause with no sentiment (NaN)
    still counts as a mention; the aspect's sentiment is then NaN.
    """
    m = matcher or AspectMatcher()
    lang = np.asarray(languages, dtype=object)
    cl = split_clauses(texts)
    empty = pd.DataFrame({"doc": np.zeros(0, dtype=np.int64), "aspect": np.zeros(0, dtype=object),
                          "sentiment": np.zeros(0), "n_clauses": np.zeros(0, dtype=np.int64)})
    if cl.empty:
        return empty
    doc = cl["doc"].to_numpy(dtype=np.int64)
    hits = m.match(cl["clause"], lang[doc])
    keep = hits.any(axis=1)
    if not keep.any():
        return empty
    doc_k = doc[keep]
    clause_k = cl["clause"][keep].reset_index(drop=True)
    s = np.asarray(score(clause_k, lang[doc_k], doc_k), dtype=float)
    r, j = np.nonzero(hits[keep])
    long = pd.DataFrame({"doc": doc_k[r], "aspect_idx": j, "sentiment": s[r]})
    g = long.groupby(["doc", "aspect_idx"], sort=True)["sentiment"]
    out = pd.DataFrame({"sentiment": g.mean(), "n_clauses": g.size()}).reset_index()
    out["aspect"] = np.asarray(m.aspects_, dtype=object)[out["aspect_idx"].to_numpy()]
    return out[["doc", "aspect", "sentiment", "n_clauses"]]


def aspects_as_lists(long: pd.DataFrame, n_docs: int) -> pa.ListArray:
    """One list of ``{aspect, sentiment}`` per review (empty when none), for the output table."""
    long = long.sort_values(["doc"], kind="stable")
    counts = np.bincount(long["doc"].to_numpy(dtype=np.int64), minlength=n_docs)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    sent = long["sentiment"].to_numpy(dtype=float)
    values = pa.StructArray.from_arrays(
        [pa.array(long["aspect"].to_numpy(dtype=object), type=pa.string()),
         pa.array(sent, type=pa.float64(), mask=np.isnan(sent))],
        names=["aspect", "sentiment"],
    )
    return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), values, type=ASPECT_TYPE)
