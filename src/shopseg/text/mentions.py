"""Brands, products and competitors mentioned in reviews: exact and close (one-typo) matches.

Exact matching compiles every name into one regular expression shaped like a
trie (names sharing a prefix share a branch, as in Aho & Corasick 1975), so a
text is scanned once whatever the size of the catalogue.  Latin names match
whole words only, case-insensitively; names holding Chinese characters match
as substrings.

Close matches correct the text first: every distinct word of the texts is
compared with the words of the names (words of at least ``fuzzy_min_chars``
letters) through their one-deletion variants (the symmetric-delete scheme of
SymSpell: two words within one edit share a variant), each candidate pair is
confirmed with an optimal-string-alignment edit distance (substitution,
insertion, deletion or swap of neighbours), and words that are themselves
ordinary English words (VADER's lexicon, scikit-learn's stop words) are
never corrected.  Names found only in the corrected text are reported with
``how = "fuzzy"``.

>>> mf = MentionFinder().fit(brands=["Anker", "Xiaomi"], products={"P1": "PowerCore 10000"})
>>> mf.find(["My anker powercore 10000 died", "xaomi is better", "华为很好"])[["doc", "kind", "key", "how"]].values.tolist()
[[0, 'brand', 'Anker', 'exact'], [0, 'product', 'P1', 'exact'], [1, 'brand', 'Xiaomi', 'fuzzy']]
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .language import _as_series

KINDS = ("brand", "product", "competitor")
_HAN_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WS_RE = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    return _WS_RE.sub(" ", str(name)).strip().lower()


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: edits counting a swap of neighbours as one.

    >>> osa_distance("xiaomi", "xaomi"), osa_distance("anker", "nakers"), osa_distance("sony", "snoy")
    (1, 2, 1)
    """
    la, lb = len(a), len(b)
    prev2 = None
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        for j in range(1, lb + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[lb]


def _deletes(word: str) -> set[str]:
    return {word} | {word[:i] + word[i + 1:] for i in range(len(word))}


def trie_regex(words: Iterable[str]) -> str:
    """One regular expression matching any of ``words``, branching like a trie.

    >>> re.fullmatch(trie_regex(["sony", "son", "samsung"]), "sony") is not None
    True
    """
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        end = "" in node
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if end:
            body = "(?:" + body + ")?"
        return body

    return build(trie)


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from .sentiment import default_en_scorer

    return frozenset(ENGLISH_STOP_WORDS) | frozenset(w for w in default_en_scorer().lexicon_ if w.isalpha())


class MentionFinder:
    """Finds catalogue brands, products and competitor brands in texts.

    ``fit(brands=..., products={product_id: name}, competitors=...)`` builds
    the matcher; ``find(texts)`` returns one row per (text, name) found:
    ``doc`` (position of the text), ``kind`` (brand / product / competitor),
    ``key`` (the brand as written in the catalogue, the product_id, or the
    competitor), ``how`` (exact / fuzzy).
    """

    def __init__(self, *, fuzzy: bool = True, fuzzy_min_chars: int = 5, max_edits: int = 1,
                 strip_brand_from_product: bool = True):
        self.fuzzy = fuzzy
        self.fuzzy_min_chars = fuzzy_min_chars
        self.max_edits = max_edits
        self.strip_brand_from_product = strip_brand_from_product

    def fit(self, brands: Sequence[str] = (), products: Mapping[str, str] | None = None,
            competitors: Sequence[str] = (), product_brands: Mapping[str, str] | None = None) -> "MentionFinder":
        """Names to look for.  ``product_brands`` (product_id -> brand) lets "Anker PowerCore 10000"
        also be found as "PowerCore 10000"."""
        rows = []
        for b in brands:
            if isinstance(b, str) and b.strip():
                rows.append(("brand", b.strip(), normalise_name(b)))
        for c in competitors:
            if isinstance(c, str) and c.strip():
                rows.append(("competitor", c.strip(), normalise_name(c)))
        product_brands = dict(product_brands or {})
        self.product_brands_ = {str(k): v.strip() for k, v in product_brands.items()
                                if isinstance(v, str) and v.strip()}
        for pid, name in (products or {}).items():
            if not isinstance(name, str) or not name.strip():
                continue
            surf = normalise_name(name)
            rows.append(("product", str(pid), surf))
            brand = normalise_name(product_brands.get(pid) or "")
            if self.strip_brand_from_product and brand and surf.startswith(brand + " "):
                rest = surf[len(brand) + 1:]
                if len(rest) >= 6:
                    rows.append(("product", str(pid), rest))
        names = pd.DataFrame(rows, columns=["kind", "key", "surface"]).drop_duplicates()
        names = names[names["surface"].str.len() >= 2].reset_index(drop=True)
        self.names_ = names
        surfaces = sorted(set(names["surface"]), key=len, reverse=True)
        latin = [s for s in surfaces if not _HAN_RE.search(s)]
        han = [s for s in surfaces if _HAN_RE.search(s)]
        parts = []
        if latin:
            parts.append(r"(?<![a-z0-9])(?:" + trie_regex(latin) + r")(?![a-z0-9])")
        if han:
            parts.append("(?:" + trie_regex(han) + ")")
        self.pattern_ = re.compile("|".join(parts)) if parts else None
        words = {w for s in latin for w in re.findall(r"[a-z]+", s) if len(w) >= self.fuzzy_min_chars}
        self.name_words_ = frozenset(words)
        index: dict[str, set[str]] = {}
        for w in words:
            for d in _deletes(w):
                index.setdefault(d, set()).add(w)
        self._delete_index = index
        return self

    def _scan(self, lower: pd.Series) -> pd.DataFrame:
        """Exact matches of the surfaces in lower-cased texts: ``doc, surface`` (distinct)."""
        if self.pattern_ is None or len(lower) == 0:
            return pd.DataFrame({"doc": np.zeros(0, dtype=np.int64), "surface": np.zeros(0, dtype=object)})
        found = lower.astype(object).str.findall(self.pattern_)
        ex = found.explode().dropna()
        out = pd.DataFrame({"doc": ex.index.to_numpy(dtype=np.int64), "surface": ex.to_numpy(dtype=object)})
        out["surface"] = out["surface"].map(normalise_name)
        return out.drop_duplicates().reset_index(drop=True)

    def corrections(self, lower: pd.Series) -> dict[str, str]:
        """``typo -> name word`` for the distinct words of ``lower`` within ``max_edits`` of a name word."""
        if not self.fuzzy or not self.name_words_:
            return {}
        arr = pa.array(lower.to_numpy(dtype=object, na_value=""), type=pa.string())
        toks = pc.unique(pc.list_flatten(pc.split_pattern_regex(arr, "[^a-z]+"))).to_pylist()
        common = _common_words()
        lo = self.fuzzy_min_chars - self.max_edits
        fixes = {}
        for t in toks:
            if not t or len(t) < lo or t in self.name_words_ or t in common:
                continue
            cands = set()
            for d in _deletes(t):
                cands |= self._delete_index.get(d, set())
            best = [(osa_distance(t, c), c) for c in cands]
            best = [bc for bc in best if bc[0] <= self.max_edits]
            if best:
                fixes[t] = min(best)[1]
        return fixes

    def find(self, texts: Iterable[str | None] | pd.Series) -> pd.DataFrame:
        if not hasattr(self, "names_"):
            from ..errors import NotFittedError

            raise NotFittedError("This MentionFinder is not fitted yet.", hint="Call fit(brands=..., products=...).")
        lower = _as_series(texts).str.lower()
        exact = self._scan(lower)
        exact["how"] = "exact"
        parts = [exact]
        fixes = self.corrections(lower)
        if fixes:
            typo_re = re.compile(r"(?<![a-z])(?:" + trie_regex(sorted(fixes)) + r")(?![a-z])")
            has = lower.str.contains(typo_re.pattern.replace("(?<![a-z])", "(?:^|[^a-z])")
                                     .replace("(?![a-z])", "(?:[^a-z]|$)"), regex=True).to_numpy(dtype=bool)
            idx = np.flatnonzero(has)
            if len(idx):
                fixed = pd.Series([typo_re.sub(lambda m: fixes[m.group(0)], t) for t in lower.iloc[idx]],
                                  index=idx, dtype=object)
                fz = self._scan(fixed.reset_index(drop=True))
                fz["doc"] = idx[fz["doc"].to_numpy(dtype=np.int64)]
                fz["how"] = "fuzzy"
                parts.append(fz)
        hits = pd.concat(parts, ignore_index=True).drop_duplicates(["doc", "surface"], keep="first")
        out = hits.merge(self.names_, on="surface", how="inner")
        # A product named with its brand ("anker powercore 10000") also mentions the brand.
        pb = out[out["kind"] == "product"]
        if len(pb) and self.product_brands_:
            brand = pb["key"].map(self.product_brands_)
            named = [isinstance(b, str) and normalise_name(b) in s for b, s in zip(brand, pb["surface"])]
            implied = pd.DataFrame({"doc": pb["doc"].to_numpy()[named], "kind": "brand",
                                    "key": brand.to_numpy()[named], "how": pb["how"].to_numpy()[named]})
            out = pd.concat([out, implied], ignore_index=True)
        out = out[["doc", "kind", "key", "how"]]
        kind_order = {k: i for i, k in enumerate(KINDS)}
        out["_k"] = out["kind"].map(kind_order)
        out = out.sort_values(["doc", "_k", "how"], kind="stable").drop(columns="_k")
        return out.drop_duplicates(["doc", "kind", "key"], keep="first").reset_index(drop=True)

    def as_lists(self, found: pd.DataFrame, n_docs: int, kind: str) -> pa.ListArray:
        """One list of distinct keys of ``kind`` per text (empty when none), in order of first appearance."""
        f = found[found["kind"] == kind].sort_values("doc", kind="stable")
        counts = np.bincount(f["doc"].to_numpy(dtype=np.int64), minlength=n_docs)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()),
                                        pa.array(f["key"].to_numpy(dtype=object), type=pa.string()))
