"""Reviews on the demo shop: is the planted sentiment recovered, are the catalogue brands found?

Generates a demo shop (or reuses a workspace given with --workspace), runs the reviews stage, then compares with
`ground_truth_reviews`: Pearson correlation of sentiment with the planted sentiment (per language and per mode:
default lexicon / shipped model, and shop-trained), accuracy of the sign on non-neutral planted reviews, and
precision / recall of brand mentions (a review's found brands against the one brand it was written to mention).

    .venv/bin/python evals/synth_reviews.py [--customers 20000] [--seed 42] [--workspace PATH]
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from shopseg.config import load_config
from shopseg.synth import synthesize
from shopseg.text import review_insights
from shopseg.workspace import open_workspace


def evaluate(ws, run_id: int) -> list[dict]:
    df = ws.df(f"""SELECT r.language, r.sentiment_mode, r.sentiment, g.planted_sentiment, g.mentioned_brand,
                          r.brand_mentions FROM review_insights r JOIN ground_truth_reviews g USING (review_id)
                   WHERE r.run_id = {run_id}""")
    rows = []
    for (lang, mode), d in df.groupby(["language", "sentiment_mode"]):
        nonneutral = d[d.planted_sentiment.abs() > 0.3]
        found = d.brand_mentions.map(lambda b: [x.lower() for x in (b if b is not None else [])])
        truth = d.mentioned_brand.fillna("").str.lower()
        tp = sum(t in f for t, f in zip(truth, found) if t)
        n_found = int(found.map(len).sum())
        n_true = int((truth != "").sum())
        rows.append({"language": lang, "mode": mode, "reviews": len(d),
                     "pearson_r": float(np.corrcoef(d.sentiment, d.planted_sentiment)[0, 1]),
                     "sign_accuracy": float((np.sign(nonneutral.sentiment) == np.sign(nonneutral.planted_sentiment)).mean()),
                     "brand_precision": tp / n_found if n_found else float("nan"),
                     "brand_recall": tp / n_true if n_true else float("nan")})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workspace")
    a = ap.parse_args()
    path = a.workspace or tempfile.mkdtemp() + "/ws"
    ws = open_workspace(path)
    if not ws.count("reviews"):
        synthesize(ws, customers=a.customers, seed=a.seed)
    for label, over in (("default", {"reviews": {"shop_model": "off"}}), ("auto", {})):
        cfg = load_config(overrides=over)
        run_id = 900 + (label == "auto")
        with ws.transaction():
            review_insights(ws, run_id, "2024-12-31", cfg, seed=a.seed)
        print(f"\n## reviews.shop_model = {'off' if over else 'auto'}\n")
        print("| language | mode | reviews | Pearson r | sign accuracy (|planted| > 0.3) | brand precision | brand recall |")
        print("|---|---|---|---|---|---|---|")
        for r in evaluate(ws, run_id):
            print(f"| {r['language']} | {r['mode']} | {r['reviews']:,} | {r['pearson_r']:.3f} | {r['sign_accuracy']:.3f} "
                  f"| {r['brand_precision']:.3f} | {r['brand_recall']:.3f} |")


if __name__ == "__main__":
    main()
