"""Review templates in English and Chinese, written for this project.

A review is an opener (chosen by the planted sentiment label) followed by one
or two aspect sentences.  ``{product}`` and ``{brand}`` are filled with the
catalogue's names (sometimes misspelt).  Positive sentences use plainly
positive words and negative ones plainly negative words, so a lexicon scorer
(VADER for English, SnowNLP or a word list for Chinese) recovers the label.
"""

from __future__ import annotations

LABELS = ("negative", "neutral", "positive")
ASPECTS = ("delivery", "quality", "price", "service", "size_fit", "packaging")

OPENERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("en", "positive"): (
        "I love my new {product}!",
        "The {product} is excellent, exactly what I wanted.",
        "Really happy with this {brand} purchase.",
        "Great {product}, works perfectly.",
        "Absolutely fantastic, {brand} never disappoints.",
        "Five stars for the {product}, highly recommend it.",
        "Very pleased with the {product}, a wonderful buy.",
        "Best {product} I have owned, I love {brand}.",
    ),
    ("en", "neutral"): (
        "The {product} is okay.",
        "It's an average {product}, nothing special.",
        "The {brand} item is fine for everyday use.",
        "Decent {product}, it does the job.",
        "The {product} is alright.",
    ),
    ("en", "negative"): (
        "Very disappointed with the {product}.",
        "The {product} is terrible, I regret buying it.",
        "Awful experience with this {brand} order.",
        "Do not buy the {product}, it is bad.",
        "Poor {product}, a complete waste of money.",
        "I hate this {brand} product, really bad.",
        "Worst {product} ever, totally useless.",
    ),
    ("zh", "positive"): (
        "非常喜欢这款{product}！",
        "{product}很好用，完全符合预期。",
        "对{brand}的这次购物很满意。",
        "{product}非常棒，强烈推荐！",
        "{brand}从不让人失望，太好了。",
        "这款{product}超级赞，值得购买。",
        "买到{product}很开心，好评！",
    ),
    ("zh", "neutral"): (
        "{product}还行吧。",
        "{product}一般般，没什么特别的。",
        "{brand}的东西中规中矩。",
        "这个{product}凑合能用。",
    ),
    ("zh", "negative"): (
        "对这款{product}非常失望。",
        "{product}太差了，后悔购买。",
        "这次{brand}的购物体验很糟糕。",
        "千万别买这个{product}，太差了。",
        "{product}很垃圾，浪费钱。",
        "差评！这个{product}根本不能用。",
    ),
}

# (language, aspect, polarity) -> sentences; polarity is "positive" or "negative"
ASPECT_SENTENCES: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("en", "delivery", "positive"): (
        "Delivery was fast.", "It arrived quickly, two days early.", "Shipping was quick and smooth.",
    ),
    ("en", "delivery", "negative"): (
        "Delivery was late by over a week.", "Shipping was slow and the parcel was delayed.",
        "It arrived very late, terrible courier.",
    ),
    ("en", "quality", "positive"): (
        "The quality is excellent.", "Build quality feels solid and sturdy.", "Great quality materials.",
    ),
    ("en", "quality", "negative"): (
        "The quality is poor and it feels cheap.", "It broke after two days, bad quality.",
        "Cheap materials, very poor quality.",
    ),
    ("en", "price", "positive"): (
        "Great price for what you get.", "Good value, cheaper than elsewhere.", "Excellent value for money.",
    ),
    ("en", "price", "negative"): (
        "Way too expensive for what it is.", "Overpriced, not worth the money.", "The price is a rip-off.",
    ),
    ("en", "service", "positive"): (
        "Customer service was helpful and friendly.", "Support answered quickly and solved everything.",
        "Friendly and helpful staff.",
    ),
    ("en", "service", "negative"): (
        "Customer service was rude and unhelpful.", "Support never answered my emails, awful service.",
        "Terrible service, nobody helped me.",
    ),
    ("en", "size_fit", "positive"): (
        "The size fits perfectly.", "Fits well and feels comfortable.", "True to size, a great fit.",
    ),
    ("en", "size_fit", "negative"): (
        "The size is wrong, it does not fit at all.", "Too small and uncomfortable, bad fit.",
        "The fit is terrible, had to send it back.",
    ),
    ("en", "packaging", "positive"): (
        "Nicely packaged and well protected.", "The packaging was neat and secure.",
        "Lovely packaging, arrived in perfect condition.",
    ),
    ("en", "packaging", "negative"): (
        "The box was damaged and the packaging was awful.", "Poor packaging, it arrived crushed.",
        "Packaging was ripped and dirty.",
    ),
    ("zh", "delivery", "positive"): ("物流很快。", "发货速度快，提前两天就到了。", "快递很给力。"),
    ("zh", "delivery", "negative"): ("物流太慢了，晚了一个多星期。", "快递延误，等了很久。", "送货太慢，非常失望。"),
    ("zh", "quality", "positive"): ("质量很好。", "做工精细，很结实。", "材质很好，手感不错。"),
    ("zh", "quality", "negative"): ("质量很差，感觉很廉价。", "用了两天就坏了，质量太差。", "做工粗糙，质量差。"),
    ("zh", "price", "positive"): ("价格实惠，性价比高。", "很划算，比别家便宜。", "物超所值。"),
    ("zh", "price", "negative"): ("太贵了，不值这个价。", "价格偏高，性价比低。", "价格虚高，不划算。"),
    ("zh", "service", "positive"): ("客服很热情，态度好。", "客服回复及时，解决了问题。", "服务很周到。"),
    ("zh", "service", "negative"): ("客服态度很差。", "客服一直不回复，服务太差。", "售后服务很糟糕。"),
    ("zh", "size_fit", "positive"): ("尺码很合适。", "大小刚好，穿着舒服。", "尺寸标准，很合身。"),
    ("zh", "size_fit", "negative"): ("尺码不对，根本穿不了。", "太小了，很不舒服。", "尺寸偏差很大，只好退货。"),
    ("zh", "packaging", "positive"): ("包装很精美，保护得很好。", "包装完好，很用心。", "包装严实，没有破损。"),
    ("zh", "packaging", "negative"): ("包装破损，很失望。", "包装太简陋，到货时压坏了。", "外包装又脏又破。"),
}

N_VARIANTS = 3  # sentences per (language, aspect, polarity)


def typo_variants(word: str) -> tuple[str, str, str]:
    """Three deterministic misspellings: adjacent swap, dropped letter, doubled letter."""
    i = max(1, len(word) // 2)
    swap = word[: i - 1] + word[i] + word[i - 1] + word[i + 1:]
    drop = word[:i] + word[i + 1:]
    double = word[:i] + word[i] + word[i:]
    return swap, drop, double.lower()


def flat_templates() -> tuple[list[str], dict[tuple[str, str], tuple[int, int]],
                              dict[tuple[str, str, str], int]]:
    """All sentences in one list, with where each group starts.

    Returns (sentences, opener_slices {(lang, label): (start, count)},
    aspect_starts {(lang, aspect, polarity): start}) so the generator can
    pick sentences by integer arithmetic and DuckDB can look them up.
    """
    sentences: list[str] = []
    openers: dict[tuple[str, str], tuple[int, int]] = {}
    for key, group in OPENERS.items():
        openers[key] = (len(sentences), len(group))
        sentences.extend(group)
    aspects: dict[tuple[str, str, str], int] = {}
    for key, group in ASPECT_SENTENCES.items():
        assert len(group) == N_VARIANTS, key
        aspects[key] = len(sentences)
        sentences.extend(group)
    return sentences, openers, aspects
