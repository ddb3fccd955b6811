"""Constraints of the ``[reviews]`` settings (review intelligence: docs/reviews.md), checked by :mod:`shopseg.params`."""

from ..params import Check, Interval, Options

PARAMETER_CONSTRAINTS = {
    "reviews.shop_model": Options("auto", "off"),
    "reviews.shop_model_min_reviews": Interval(int, 2, None),
    "reviews.shop_model_min_per_class": Interval(int, 1, None),
    "reviews.negative_max_rating": Interval(int, 1, 5),
    "reviews.positive_min_rating": Interval(int, 1, 5),
    "reviews.complaint_max_rating": Interval(int, 0, 5),
    "reviews.max_text_chars": Interval(int, 100, None),
    "reviews.n_topics": Interval(int, 0, 50),
    "reviews.max_topics": Interval(int, 2, 50),
    "reviews.topics_min_reviews": Interval(int, 3, None),
    "reviews.topics_max_fit_reviews": Interval(int, 10, None),
    "reviews.topic_top_terms": Interval(int, 1, 20),
    "reviews.competitor_brands": Check(
        "a list of non-empty strings", lambda v: isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v)),
    "reviews.mention_fuzzy_min_chars": Interval(int, 3, None),
    "reviews.detractor_min_complaints": Interval(int, 1, None),
    "reviews.detractor_min_complaint_share": Interval(float, 0, 1),
}
