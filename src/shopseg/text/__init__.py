"""Review intelligence in English, Chinese and any rated language: language, sentiment, aspects, topics, mentions.

Workspace functions (see ``docs/reviews.md``):

* :func:`review_insights` -> output table ``review_insights`` (one row per review)
* :func:`customer_review_features` -> output table ``customer_review_features``
* :func:`segment_review_summary` -> a DataFrame per segment, for the report

Building blocks work on whole columns of texts: :func:`detect_language`,
:func:`score_sentiment` (default or shop-trained mode), :class:`VaderScorer`,
:class:`CharNgramModel`, :class:`ShopSentimentModel`, :func:`aspect_sentiments`,
:class:`TopicModel`, :class:`MentionFinder`.
"""

from .aspects import ASPECTS, AspectMatcher, aspect_sentiments, load_aspect_lexicon
from .language import clean_text, detect_language, resolve_language, split_clauses, tokenize_en, tokenize_zh
from .mentions import MentionFinder
from .rollup import (
    CUSTOMER_REVIEW_FEATURES,
    REVIEW_INSIGHTS,
    ReviewInsightsResult,
    customer_review_features,
    review_insights,
    segment_review_summary,
)
from .sentiment import (
    CharNgramModel,
    ShopSentimentModel,
    VaderScorer,
    default_sentiment,
    default_zh_model,
    label_of,
    score_sentiment,
)
from .topics import TopicModel

__all__ = [
    "ASPECTS",
    "AspectMatcher",
    "CUSTOMER_REVIEW_FEATURES",
    "CharNgramModel",
    "MentionFinder",
    "REVIEW_INSIGHTS",
    "ReviewInsightsResult",
    "ShopSentimentModel",
    "TopicModel",
    "VaderScorer",
    "aspect_sentiments",
    "clean_text",
    "customer_review_features",
    "default_sentiment",
    "default_zh_model",
    "detect_language",
    "label_of",
    "load_aspect_lexicon",
    "resolve_language",
    "review_insights",
    "score_sentiment",
    "segment_review_summary",
    "split_clauses",
    "tokenize_en",
    "tokenize_zh",
]
