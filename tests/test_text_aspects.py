"""Aspects (delivery, quality, price, service, size, packaging) and their sentiment."""

import numpy as np
import pytest

from shopseg.errors import ConfigError
from shopseg.text.aspects import AspectMatcher, aspect_sentiments, aspects_as_lists, load_aspect_lexicon
from shopseg.text.sentiment import default_sentiment


def _score(clauses, langs, docs):
    return default_sentiment(clauses, langs)


def _found(texts, langs, matcher=None):
    long = aspect_sentiments(texts, np.array(langs, dtype=object), _score, matcher)
    return {(int(d), a): s for d, a, s in long[["doc", "aspect", "sentiment"]].itertuples(index=False)}


def test_each_aspect_takes_the_sentiment_of_its_own_clause():
    f = _found(["Fast delivery but the box was crushed. Great quality for the price!",
                "物流很快，但是包装破了。客服态度很差"], ["en", "zh"])
    assert set(f) == {(0, "delivery"), (0, "packaging"), (0, "quality"), (0, "price"),
                      (1, "delivery"), (1, "packaging"), (1, "service")}
    assert f[(0, "packaging")] < 0 < f[(0, "quality")]
    assert f[(1, "delivery")] > 0 > f[(1, "packaging")]
    assert f[(1, "service")] < 0


def test_english_terms_match_whole_words_and_declared_prefixes():
    f = _found(["It fits well", "It is unfit", "Delivered on time", "Boxing day sale", "Nice boxes"],
               ["en"] * 5)
    assert (0, "size") in f and (1, "size") not in f      # "fit" is a word, not part of "unfit"
    assert (2, "delivery") in f                           # "deliver*" is a prefix
    assert (3, "packaging") not in f and (4, "packaging") in f  # "box" + plural, not "boxing"


def test_reviews_without_aspects_get_an_empty_list():
    texts = ["Nice.", "", "质量好"]
    long = aspect_sentiments(texts, np.array(["en", "und", "zh"], dtype=object), _score)
    lists = aspects_as_lists(long, len(texts)).to_pylist()
    assert lists[0] == [] and lists[1] == []
    assert [a["aspect"] for a in lists[2]] == ["quality"]


def test_a_user_word_list_replaces_and_adds_aspects(tmp_path):
    p = tmp_path / "aspects.toml"
    p.write_text('[en]\ndelivery = ["courier"]\nbattery = ["battery", "charge*"]\n', encoding="utf-8")
    lex = load_aspect_lexicon(p)
    assert lex["en"]["delivery"] == ["courier"]
    m = AspectMatcher(lex)
    assert m.aspects_[-1] == "battery"
    f = _found(["The courier was late", "Shipping was late", "Battery charges slowly"], ["en"] * 3, m)
    assert (0, "delivery") in f and (1, "delivery") not in f and (2, "battery") in f


def test_a_broken_word_list_is_a_config_error(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[en]\ndelivery = "courier"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a list of non-empty strings"):
        load_aspect_lexicon(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_aspect_lexicon(tmp_path / "missing.toml")


def test_word_lists_apply_only_to_their_own_language():
    # "material" and "email" are English aspect words and Portuguese words too; a French clause has no list
    f = _found(["Material muito bom", "Mandei email e ninguém respondeu", "Le material est bon"],
               ["pt", "pt", "fr"])
    assert (0, "quality") in f          # Portuguese list: "material"
    assert (1, "service") in f          # Portuguese list: "respond*", not the English "email*"
    assert not any(d == 2 for d, _ in f)  # French: no list, no aspects (not the English one)


def test_portuguese_aspects_match_accented_words():
    f = _found(["A entrega atrasou", "Preço justo", "Embalagem amassada", "Tamanho pequeno"], ["pt"] * 4)
    assert set(f) == {(0, "delivery"), (1, "price"), (2, "packaging"), (3, "size")}
