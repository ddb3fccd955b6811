"""Cleaning, language detection and tokenisation of review texts.

Everything here works on a whole column of texts at once (pandas string
methods backed by pyarrow, numpy), because a shop has hundreds of thousands
of reviews and a Python loop per review would dominate the run time.

Language detection is a script heuristic, not a model: a review is ``zh``
when its Han characters outweigh its Latin letters (one Han character counts
as much as three Latin letters: a Chinese word is one or two characters, an
English word about five letters); a Latin-script review is ``en``, ``pt``,
``es``, ``fr``, ``de``, ``it`` or ``nl`` by which language's common words
(:data:`FUNCTION_WORDS`: "the", "não", "und", "para"...) it holds most of,
``en`` when it holds none and has few accents, ``other`` on a tie; ``und``
(undetermined) when it has no letters at all (empty, digits, emoji only) and
``other`` for every other script (Cyrillic, Arabic, kana, Hangul...).  All patterns stay within RE2 so that pyarrow
runs them over the column, not Python's ``re`` row by row.

>>> detect_language(["Great phone, fast delivery", "物流很快，质量不错", "😀😀", "Très bien reçu",
...                  "Recebi bem antes do prazo", "Отличный товар"]).tolist()
['en', 'zh', 'und', 'fr', 'pt', 'other']
"""

from __future__ import annotations

import logging
import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


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


# Frequent function words (and a few review words) per Latin-script language, to tell the languages apart
# without a model: a text goes to the language with the most of its words, shared words counting for each
# language that has them.  English is the fallback for a Latin text with no such word and few accents.
FUNCTION_WORDS = {
    "en": ("the", "and", "is", "it", "to", "for", "this", "was", "with", "my", "but", "very", "of", "not", "you",
           "are", "have", "they", "that", "its", "it's", "i", "in", "on", "great", "good", "do", "product"),
    "pt": ("não", "nao", "muito", "muita", "produto", "recebi", "chegou", "entrega", "entregue", "prazo", "veio",
           "com", "uma", "um", "do", "da", "dos", "das", "em", "na", "os", "é", "foi", "mais", "mas", "bem", "está",
           "ótimo", "otimo", "bom", "boa", "que", "de", "para", "por", "comprei", "recomendo", "loja", "ainda",
           "antes", "sem", "meu", "minha", "ótima", "gostei", "até", "já", "nem", "você", "eu", "tudo", "o", "e",
           "ao", "à", "pelo", "pela", "ficou", "fiquei", "obrigado", "obrigada", "compra", "produtos",
           "excelente", "qualidade"),
    "es": ("el", "los", "las", "muy", "para", "con", "por", "una", "pero", "del", "que", "de", "es", "y",
           "producto", "llegó", "llego", "bien", "está", "buen", "bueno", "excelente", "todo", "lo", "se", "al",
           "mi", "recomiendo", "yo"),
    "fr": ("le", "la", "les", "des", "est", "et", "pour", "que", "une", "un", "c'est", "pas", "très", "tres", "du",
           "de", "je", "il", "en", "au", "avec", "bien", "produit", "mais", "sur", "qui", "ne", "reçu", "été"),
    "de": ("der", "die", "und", "ist", "nicht", "sehr", "ein", "eine", "mit", "das", "ich", "zu", "es", "auf",
           "für", "gut", "aber", "den", "dem", "auch", "war", "wie", "produkt"),
    "it": ("il", "di", "che", "non", "per", "sono", "molto", "è", "lo", "gli", "della", "del", "un", "una", "con",
           "prodotto", "ma", "mi", "ho", "bene", "ottimo", "arrivato"),
    "nl": ("een", "het", "niet", "zeer", "de", "en", "van", "ik", "dat", "op", "met", "voor", "goed", "maar",
           "zijn", "erg"),
}
LANGUAGES = ("en", "zh", *[lg for lg in FUNCTION_WORDS if lg != "en"], "other", "und")
# language names a shop's export may give instead of codes
LANGUAGE_NAMES = {"english": "en", "chinese": "zh", "中文": "zh", "portuguese": "pt", "português": "pt",
                  "portugues": "pt", "spanish": "es", "español": "es", "espanol": "es", "french": "fr",
                  "français": "fr", "francais": "fr", "german": "de", "deutsch": "de", "italian": "it",
                  "italiano": "it", "dutch": "nl", "nederlands": "nl"}


def _fw_pattern(words) -> str:
    # Boundaries without lookaround (RE2): a non-letter or an end on each side (accented letters are letters).
    return "(?:^|[^a-z\u00e0-\u00ff'])(?:" + "|".join(words) + ")(?:[^a-z\u00e0-\u00ff']|$)"


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
    """ISO 639-1 code (``en``, ``zh``, ``pt``, ``es``, ``fr``, ``de``, ``it``, ``nl``), ``other`` or ``und``
    for each text (see the module doc)."""
    return _detect(texts)[0]


def _detect(texts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Languages; whether each text's common words name one language (the evidence for its language);
    whether it is a Latin-script text they leave undecided (none, or a tie)."""
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
    is_latin = ~is_zh & (latin > n_other * HAN_WEIGHT)
    lower = s.str.lower().str.replace(" ", "  ", regex=False)  # each word its own boundary: adjacent ones count
    codes = list(FUNCTION_WORDS)
    counts = np.column_stack([lower.str.count(_fw_pattern(FUNCTION_WORDS[lg])).to_numpy(dtype=float)
                              for lg in codes])
    best = counts.max(axis=1)
    winner = counts.argmax(axis=1)
    unique = (counts == best[:, None]).sum(axis=1) == 1
    evidence = is_latin & (best > 0)
    named = np.asarray(codes, dtype=object)[winner]
    # no function word at all: English when accents are rare (at most 1 letter in 20), undecided otherwise
    bare_en = is_latin & (best == 0) & (n_accent * 20 <= latin)
    out[evidence & unique] = named[evidence & unique]
    out[bare_en] = "en"
    out[is_zh] = "zh"
    out[no_letters] = "und"
    # undecided Latin texts: no common word at all, or as many of two languages' words
    return out, evidence & unique, is_latin & ((best == 0) | ~unique) & ~no_letters


def resolve_language(given: Iterable[str | None] | pd.Series, texts: Iterable[str | None] | pd.Series) -> np.ndarray:
    """The ``reviews.language`` column where set (``zh-CN`` -> ``zh``, ``pt-BR`` or ``Portuguese`` -> ``pt``),
    detected otherwise.

    A detected Latin-script text with no common word of any language (``Satisfeita!``) reads as English
    (or ``other`` when accented), one with as many words of two languages as ``other``; in a shop whose
    other reviews are mostly in one other language such undecided texts take that language.
    """
    g = _as_series(given).str.lower().str.strip()
    g = g.str.split(r"[-_]", n=1, regex=True).str[0].fillna("")
    g = g.replace(LANGUAGE_NAMES)
    g_np = g.to_numpy(dtype=object)
    detected, evidence, bare = _detect(texts)
    out = np.where(g_np == "", detected, g_np).astype(object)
    known = (g_np != "") | evidence
    if known.any():
        langs, counts = np.unique(out[known].astype(str), return_counts=True)
        major = langs[counts.argmax()]
        if major not in ("en", "zh", "und", "other") and counts.max() * 2 > known.sum():
            out[(g_np == "") & bare] = str(major)
    return out


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
