"""Brand, product and competitor mentions: exact and with a typo."""

import pandas as pd

from shopseg.text.mentions import MentionFinder, osa_distance, trie_regex


def _finder(**kw):
    return MentionFinder(**kw).fit(
        brands=["Anker", "Apple", "小米"],
        products={"P1": "Anker PowerCore 10000", "P2": "小米手环", "P3": "Soundcore Life Q30"},
        product_brands={"P1": "Anker", "P2": "小米"},
        competitors=["Belkin", "Samsung"],
    )


def _rows(found):
    return [tuple(r) for r in found[["doc", "kind", "key", "how"]].itertuples(index=False)]


def test_names_are_found_exactly_case_insensitively_as_whole_words():
    found = _finder().find(["I love my ANKER charger", "pineapple juice", "apple's cable", "Belkin was better"])
    assert _rows(found) == [(0, "brand", "Anker", "exact"), (2, "brand", "Apple", "exact"),
                            (3, "competitor", "Belkin", "exact")]


def test_products_are_found_with_or_without_their_brand_and_imply_it():
    found = _finder().find(["anker powercore 10000 is great", "the powercore 10000 died", "soundcore life q30!"])
    assert _rows(found) == [(0, "brand", "Anker", "exact"), (0, "product", "P1", "exact"),
                            (1, "product", "P1", "exact"), (2, "product", "P3", "exact")]


def test_chinese_names_match_as_substrings():
    found = _finder().find(["我买的小米手环很好用", "小米的东西不错"])
    assert _rows(found) == [(0, "brand", "小米", "exact"), (0, "product", "P2", "exact"),
                            (1, "brand", "小米", "exact")]


def test_a_typo_is_found_as_a_fuzzy_match():
    found = _finder().find(["Samsnug is cheaper", "my Ankr died", "soundcroe life q30 rocks", "Sansung"])
    assert _rows(found) == [(0, "competitor", "Samsung", "fuzzy"), (1, "brand", "Anker", "fuzzy"),
                            (2, "product", "P3", "fuzzy"), (3, "competitor", "Samsung", "fuzzy")]


def test_known_words_and_two_typos_are_not_corrected():
    mf = MentionFinder().fit(brands=["Sonny", "Belkin", "Lucy"])
    # "sunny" is one edit from "Sonny" but a VADER lexicon word; "bekins" is two edits from "Belkin";
    # "Lucy" is shorter than fuzzy_min_chars, so "lucky" is not a typo of it.
    assert mf.find(["sunny day", "bekins", "lucky"]).empty
    assert _finder(fuzzy=False).find(["Samsnug"]).empty


def test_an_ordinary_word_missing_from_the_word_lists_can_be_taken_for_a_typo():
    # Documented limitation: "apply" is one edit from "Apple" and not in the lexicon or stop words.
    assert _rows(_finder().find(["apply the film"])) == [(0, "brand", "Apple", "fuzzy")]


def test_mention_lists_per_review():
    mf = _finder()
    found = mf.find(["Anker and Belkin", "", "nothing"])
    assert mf.as_lists(found, 3, "brand").to_pylist() == [["Anker"], [], []]
    assert mf.as_lists(found, 3, "competitor").to_pylist() == [["Belkin"], [], []]


def test_edit_distance_and_trie_regex():
    assert [osa_distance(a, b) for a, b in [("", "abc"), ("abc", "abc"), ("samsung", "samsnug"),
                                            ("abc", "bcd")]] == [3, 0, 1, 2]
    import re

    pat = re.compile("^(?:" + trie_regex(["son", "sony", "samsung"]) + ")$")
    assert [bool(pat.match(w)) for w in ["son", "sony", "samsung", "sam", "sonys"]] == [True, True, True, False, False]


def test_empty_catalogue_finds_nothing():
    mf = MentionFinder().fit()
    found = mf.find(pd.Series(["anything"]))
    assert found.empty and mf.as_lists(found, 1, "brand").to_pylist() == [[]]
