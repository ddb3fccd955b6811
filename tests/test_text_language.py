"""Cleaning, language detection, tokenisation and clause splitting of reviews."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from shopseg.text.language import (
    LANGUAGES,
    clean_text,
    detect_language,
    resolve_language,
    split_clauses,
    tokenize_en,
    tokenize_zh,
)


def test_each_script_gets_its_language():
    texts = ["Great phone, fast delivery", "物流很快，质量不错", "😀😀", "", None, "12345 !!",
             "Très bien reçu, été parfait", "Отличный товар", "とても良い", "아주 좋아요"]
    assert detect_language(texts).tolist() == [
        "en", "zh", "und", "und", "und", "und", "fr", "other", "other", "other"]


def test_latin_languages_go_to_the_one_whose_common_words_they_hold():
    texts = ["The book was not good.", "Recebi bem antes do prazo", "Não recebi o produto",
             "Muy bueno el producto", "Das ist sehr gut", "Molto bene, arrivato presto", "Het is een goed product",
             "Super", "de que"]
    # "Super": no common word of any language, no accent -> English; "de que": as Portuguese as Spanish -> other
    assert detect_language(texts).tolist() == ["en", "pt", "pt", "es", "de", "it", "nl", "en", "other"]


def test_english_reviews_stay_english():
    # words shared with other languages ("product", "do", "is", "no") must not pull English away
    texts = ["worthless product.", "Love this product.", "Voice recognition is tremendous!", "DO NOT BUY",
             "No real improvement.", "Battery is holding up well."]
    assert detect_language(texts).tolist() == ["en"] * 6


def test_bare_texts_take_the_shops_language():
    # "Satisfeita!" holds no common word; the shop's other reviews are Portuguese, so it is too
    texts = ["Satisfeita!", "Chegou antes do prazo", "Não gostei do produto", "Great"]
    assert detect_language(texts).tolist() == ["en", "pt", "pt", "en"]
    assert resolve_language([None] * 4, texts).tolist() == ["pt", "pt", "pt", "en"]  # "great" is English
    # "de que" is as Spanish as Portuguese: in a Portuguese shop, Portuguese
    assert resolve_language([None] * 3, ["de que", "Chegou antes do prazo", "Não gostei"]).tolist() == ["pt"] * 3
    # an English shop keeps its bare texts English
    assert resolve_language([None] * 3, ["Great", "This is good", "Satisfeita!"]).tolist() == ["en", "en", "en"]


def test_mixed_reviews_go_to_the_language_that_dominates():
    # 4 Han characters weigh 12 letters: more than "ok" (2), less than 24 English letters.
    assert detect_language(["质量很好 ok", "质量很好 but the delivery was slow"]).tolist() == ["zh", "en"]


def test_given_language_codes_win_over_detection():
    got = resolve_language(["zh-CN", None, "fr", "EN", "", "pt-BR", "Portuguese", "English"],
                           ["hello", "hello", "bonjour", "你好", "你好", "x", "x", "x"])
    assert got.tolist() == ["zh", "en", "fr", "en", "zh", "pt", "pt", "en"]


def test_html_is_removed_and_whitespace_collapsed():
    got = clean_text(["<p>Hello&nbsp;<b>world</b></p><br/>next  one\n\tok", None, "a &amp; b &lt;3"]).tolist()
    assert got == ["Hello world. next one ok", "", "a & b <3"]


def test_very_long_reviews_are_cut():
    assert clean_text(["x" * 100_000], max_chars=20_000).str.len().tolist() == [20_000]


def test_clauses_split_at_punctuation_and_contrast():
    cl = split_clauses(["Fast delivery but the box was crushed. Love it!", "物流很快，但是包装破了。", "", "Butter, fine"])
    assert cl.values.tolist() == [
        [0, "Fast delivery"], [0, "but the box was crushed"], [0, "Love it"],
        [1, "物流很快"], [1, "但是包装破了"], [3, "Butter"], [3, "fine"]]


def test_tokenizers():
    assert tokenize_en("It's GREAT, 10/10!") == ["it's", "great", "10", "10"]
    assert tokenize_zh("物流很快，但是包装破了。") == ["物流", "很快", "但是", "包装", "破", "了"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=300)), max_size=10))
def test_every_text_gets_exactly_one_known_language(texts):
    got = detect_language(texts)
    assert len(got) == len(texts)
    assert set(got) <= set(LANGUAGES)
    cleaned = clean_text(texts)
    assert isinstance(cleaned, pd.Series) and len(cleaned) == len(texts)
    assert not np.any(cleaned.str.contains("<b>", regex=False).to_numpy(dtype=bool))
