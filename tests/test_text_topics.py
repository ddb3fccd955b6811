"""NMF topics per language."""

import numpy as np

from shopseg.text.topics import TopicModel, knee

EN = (["fast delivery arrived early courier"] * 6 + ["battery life short charging slow"] * 6
      + ["size too small fit tight sleeves"] * 6)


def test_knee_is_where_the_error_stops_falling_fast():
    assert knee([2, 3, 4, 5, 6], [10.0, 6.0, 5.0, 4.6, 4.4]) == 3
    assert knee([2, 3], [5.0, 4.0]) == 2


def test_three_planted_topics_are_recovered_and_named():
    tm = TopicModel(n_topics=3, min_df=1, max_df=1.0).fit(EN)
    firsts = {lab.split(" / ")[0] for lab in tm.topic_labels_}
    pred = tm.predict(EN)
    # every block of 6 reviews shares one topic and the three blocks differ
    assert [len(set(pred[i:i + 6])) for i in (0, 6, 12)] == [1, 1, 1]
    assert len({pred[0], pred[6], pred[12]}) == 3
    assert all(len(lab.split(" / ")) == 3 for lab in tm.topic_labels_)
    assert firsts <= set(" ".join(EN).split())


def _varied(seed=0):
    rng = np.random.default_rng(seed)
    vocabs = [["delivery", "courier", "arrived", "parcel", "late", "tracking"],
              ["battery", "charging", "power", "lasts", "drains", "charger"],
              ["size", "tight", "sleeves", "waist", "loose", "fits"]]
    return [" ".join(rng.choice(v, 4, replace=False)) for v in vocabs for _ in range(12)]


def test_number_of_topics_is_chosen_when_not_given_and_is_seeded():
    docs = _varied()
    a = TopicModel(n_topics=0, min_df=1, max_df=1.0, max_topics=6, random_state=3).fit(docs)
    b = TopicModel(n_topics=0, min_df=1, max_df=1.0, max_topics=6, random_state=3).fit(docs)
    assert a.n_topics_ == b.n_topics_ == 3  # the elbow is at the three planted topics
    assert sorted(a.reconstruction_errors_) == list(range(2, 7))
    assert a.topic_labels_ == b.topic_labels_


def test_chinese_topics_use_jieba_words():
    zh = ["物流很快，快递小哥很好"] * 5 + ["电池不耐用，充电很慢"] * 5
    tm = TopicModel(n_topics=2, language="zh", min_df=1, max_df=1.0, n_top_terms=5).fit(zh)
    terms = {t for ts in tm.topic_terms_ for t in ts}
    assert {"物流", "电池", "充电"} <= terms
    assert len(set(tm.predict(zh[:1] + zh[-1:]))) == 2
    assert tm.predict(["今天天气"]).tolist() == [-1]  # no known word: no topic
