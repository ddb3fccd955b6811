"""Cleaning, language detection and tokenisation of review texts.

Everything here works on a whole column of texts at once (pandas string
methods backed by pyarrow, numpy), because a shop has hundreds of thousands
of reviews and a Python loop per review would dominate the run time.

Language detection is a script heuristic, not a model: a review is ``zh``
when its Han characters outweigh its Latin letters (one Han character counts
as much as three Latin letters: a Chinese word is one or two characters, an
English word about five letters), ``en`` when Latin letters dominate with
few accents and no more common French / German / Spanish / Italian / Dutch
function words ("le", "und", "para"...) than English ones, ``und``
(undetermined) when it has no letters at all (empty, digits, emoji only) and
``other`` for every other script (Cyrillic, Arabic, kana, Hangul...) and
other Latin-script languages.  All patterns stay within RE2 so that pyarrow
runs them over the column, not Python's ``re`` row by row.

>>> detect_language(["Great phone, fast delivery", "物流很快，质量不错", "😀😀", "Très bien reçu"]).tolist()
['en', 'zh', 'und', 'other']
"""

from __future__ import annotations

import logging
import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

LANGUAGES = ("en", "zh", "other", "und")

# Han ideographs (CJK Unified, Extension A, Compatibility).
_HAN = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
_ASCII_LETTER = r"[A-Za-z]"
# Latin letters with diacritics (Latin-1 Supplement and Extended-A/B).
_LATIN_ACCENTED = "[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]"
# Letters of other scripts: Greek, Cyrillic, Hebrew, Arabic, Indic, Thai,
# Hangul, kana.
_OTHER_LETTER = (
    "[\u0370-\u03ff\u0400-\u04ff\u0590-\u05ff\u0600-\u06ff\u0900-\u0dff"
    "\u0e00-\u0e7f\u1100-\u11ff\u3040-\u30ff\uac00-\ud7af]"
)
# One Han character weighs as much as this many Latin letters.
HAN_WEIGHT = 3.0

_TAG = "<[^>]{0,500}>"
_WS = "[ \t\n\r\f\v\u00a0\u3000]"
_ENTITIES = {"&nbsp;": " ", "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'", "&apos;": "'"}


# Frequent function words that are not English words (and English ones), to tell
# English from other Latin-script languages without a model.
_EN_FUNCTION_WORDS = ("the", "and", "is", "it", "to", "for", "this", "was", "with", "my", "but", "very",
                      "of", "not", "you", "are", "have", "they", "that", "its", "it's")
_OTHER_FUNCTION_WORDS = ("le", "la", "les", "des", "est", "et", "pour", "que", "une", "c'est", "pas", "tres",
                         "der", "und", "ist", "nicht", "sehr", "ein", "eine", "mit", "das",
                         "el", "los", "las", "muy", "para", "con", "por", "una", "pero", "del",
                         "il", "di", "che", "non", "per", "sono", "molto", "een", "het", "niet", "zeer")


def _fw_pattern(words) -> str:
    # Boundaries without lookaround (RE2): a non-letter or an end on each side; a word
    # right after another shares the space between them, so adjacent ones count once.
    return "(?:^|[^a-z'])(?:" + "|".join(w.replace("'", "'") for w in words) + ")(?:[^a-z']|$)"


def _as_series(texts: Iterable[str | None] | pd.Series) -> pd.Series:
    if isinstance(texts, pd.Series):
        s = texts.reset_index(drop=True)
    else:
        s = pd.Series(list(texts), dtype="object")
    return s.astype("string[pyarrow]").fillna("")


def clean_text(texts: Iterable[str | None] | pd.Series, *, max_chars: int = 20000) -> pd.Series:
    """HTML tags and the common entities removed, whitespace collapsed, cut to ``max_chars``.

    Missing texts become ``""``.  The cut keeps very long reviews (a pasted
    manual, 100k characters of spam) from dominating the run time; the first
    ``max_chars`` characters carry the opinion in practice.
    """
    s = _as_series(texts)
    s = s.str.slice(0, max_chars * 2)  # bound the regex work before tags are removed
    # Patterns stay within RE2 (no lookaround, no \\s) so pyarrow runs them, not Python's re.
    has_markup = s.str.contains("[<&]", regex=True).to_numpy(dtype=bool)
    if has_markup.any():
        m = s[has_markup]
        m = m.str.replace("(?i)<br[ /]*>|</p>|</div>|</li>", ". ", regex=True)
        m = m.str.replace(_TAG, " ", regex=True)
        for ent, rep in _ENTITIES.items():
            m = m.str.replace(ent, rep, regex=False)
        m = m.str.replace("&#?[A-Za-z0-9]{1,8};", " ", regex=True)
        m = m.str.replace("[.]([ \t\n]+[.])+", ".", regex=True)  # "</p><br/>" made ". ."
        s = s.copy()
        s[has_markup] = m
    s = s.str.replace(_WS + "+", " ", regex=True).str.strip()
    s = s.str.replace(" ([.,!?;:])", "\\1", regex=True)
    return s.str.slice(0, max_chars)


def detect_language(texts: Iterable[str | None] | pd.Series) -> np.ndarray:
    """ISO 639-1 code (``en``, ``zh``), ``other`` or ``und`` for each text (see the module doc)."""
    s = _as_series(texts)
    n_han = s.str.count(_HAN).to_numpy(dtype=float)
    n_ascii = s.str.count(_ASCII_LETTER).to_numpy(dtype=float)
    n_accent = s.str.count(_LATIN_ACCENTED).to_numpy(dtype=float)
    n_other = s.str.count(_OTHER_LETTER).to_numpy(dtype=float)
    latin = n_ascii + n_accent
    han = n_han * HAN_WEIGHT
    out = np.full(len(s), "other", dtype=object)
    no_letters = (n_han + latin + n_other) == 0
    is_zh = (han >= latin) & (han >= n_other * HAN_WEIGHT) & (n_han > 0)
    # English: Latin script dominant, at most 1 accented letter in 20, and no more
    # French/German/Spanish/Italian/Dutch function words than English ones.
    lower = s.str.lower()
    n_en_fw = lower.str.count(_fw_pattern(_EN_FUNCTION_WORDS)).to_numpy(dtype=float)
    n_xx_fw = lower.str.count(_fw_pattern(_OTHER_FUNCTION_WORDS)).to_numpy(dtype=float)
    is_en = ~is_zh & (latin > n_other * HAN_WEIGHT) & (n_accent * 20 <= latin) & (n_xx_fw <= n_en_fw)
    out[is_en] = "en"
    out[is_zh] = "zh"
    out[no_letters] = "und"
    return out


def resolve_language(given: Iterable[str | None] | pd.Series, texts: Iterable[str | None] | pd.Series) -> np.ndarray:
    """The ``reviews.language`` column where set (``zh-CN`` -> ``zh``), detected otherwise."""
    g = _as_series(given).str.lower().str.strip()
    g = g.str.split(r"[-_]", n=1, regex=True).str[0].fillna("")
    detected = detect_language(texts)
    g_np = g.to_numpy(dtype=object)
    known = np.isin(g_np, ["en", "zh"])
    out = np.where(g_np == "", detected, np.where(known, g_np, "other"))
    return out.astype(object)


_EN_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize_en(text: str) -> list[str]:
    """Lower-case word tokens (letters, digits, inner apostrophe)."""
    return _EN_TOKEN.findall(text.lower())


_JIEBA = None


def _jieba():
    """jieba, imported on first use with its logging silenced.

    jieba prints "Building prefix dict..." on first use and writes a cache of
    its dictionary in the temp dir (``jieba.cache``); both are harmless.
    """
    global _JIEBA
    if _JIEBA is None:
        import jieba  # lazy: loading the dictionary takes ~0.7 s

        jieba.setLogLevel(logging.WARNING)
        logging.getLogger("jieba").setLevel(logging.WARNING)
        jieba.initialize()
        _JIEBA = jieba
    return _JIEBA


_ZH_KEEP = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffA-Za-z0-9]")


def tokenize_zh(text: str) -> list[str]:
    """jieba words of ``text`` (precise mode, no HMM), punctuation and spaces dropped."""
    jb = _jieba()
    return [w for w in jb.lcut(text.lower(), HMM=False) if _ZH_KEEP.search(w)]


def tokenizer_for(language: str):
    """The tokenizer used for ``language`` (jieba for ``zh``, a word regex otherwise)."""
    return tokenize_zh if language == "zh" else tokenize_en


def split_clauses(texts: Sequence[str] | pd.Series) -> pd.DataFrame:
    """Clauses of each text: rows ``(doc, clause)``, split at sentence and clause punctuation.

    English clauses are also split before "but", "however", "although" and
    "though", Chinese ones before 但/但是/可是/不过/然而, because an opinion
    about one aspect usually ends where the contrast starts ("fast delivery
    but the box was crushed").  Empty clauses are dropped.
    """
    s = _as_series(texts)
    s = s.str.replace(
        "(?i)(^|[^a-z])(but|however|although|though|whereas)([^a-z]|$)", "\\1|\\2\\3", regex=True
    )
    s = s.str.replace("(但是|可是|不过|然而|但)", "|\\1", regex=True)
    arr = pa.array(s.to_numpy(dtype=object, na_value=""), type=pa.string())
    lists = pc.split_pattern_regex(arr, "[.!?;。！？；，,、\n|…]+")
    doc = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
    clauses = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    ok = pc.greater(pc.utf8_length(clauses), 0).to_numpy(zero_copy_only=False)
    clauses = pd.Series(clauses.filter(pa.array(ok)), dtype="string[pyarrow]").reset_index(drop=True)
    return pd.DataFrame({"doc": doc[ok], "clause": clauses})
