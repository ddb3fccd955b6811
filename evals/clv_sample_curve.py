"""Learning curve of the CLV choice: the backtest's figures and choices against the window's customer sample (#22).

Justifies ``clv.max_customers``: above it, the candidates fitted on the validation window (the
transaction models' calibration fits and the repeat model) and the paired bootstrap use a seeded sample
of the window's buyers; every buyer is still scored.  For each sample size (three seeds below the full
window) this runs the clv stage's own choice (``_clv_select.choose_and_score``, nothing written) and
prints, per prediction, the candidate chosen, its figure and the baseline's on the (sampled) window, the
share of resamples won, and how close the scores of every buyer come to those of the full window
(Spearman correlation, mean |difference| of P(alive), total CLV relative to the full window's with seed 0;
the full window's other seeds show the noise of the bootstrap and the repeat model's seed alone).

    .venv/bin/python evals/clv_sample_curve.py --workspace WS --as-of 2011-12-09

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from shopseg.config import load_config
from shopseg.pipeline import parse_as_of
from shopseg.predict._clv_select import choose_and_score
from shopseg.predict.clv import order_values, summary_from_orders
from shopseg.workspace import open_workspace

SIZES = (500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)


def _rank_corr(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


def curve(ws, as_of, seeds=(0, 1, 2), sizes=SIZES) -> list[dict]:
    c = dict(load_config()["clv"])
    out = []
    with order_values(ws, as_of) as values:
        summary = summary_from_orders(ws, as_of, time_unit=c["time_unit"], values=values)
        runs = []
        for seed in seeds:  # the whole window: only the bootstrap's and the repeat model's seeds vary
            t0 = time.perf_counter()
            r, ch, *_rest = choose_and_score(ws, as_of, summary, {**c, "max_customers": 0}, seed=seed, values=values)
            runs.append(("all", seed, r, ch, time.perf_counter() - t0))
        frows = runs[0][2]
        for n in sizes:
            for seed in seeds:
                t0 = time.perf_counter()
                r, ch, *_rest, nt = choose_and_score(ws, as_of, summary, {**c, "max_customers": n}, seed=seed,
                                                     values=values)
                if not any("clv.max_customers" in x for x in nt):  # the window has no more than n buyers
                    break
                runs.append((n, seed, r, ch, time.perf_counter() - t0))
    for n, seed, r, ch, sec in runs:
        row = {"sample": n, "seed": seed, "seconds": round(sec, 1)}
        for x in ch:
            fig = "-" if x.model_value is None else f"{x.model_value:.3f}"
            base = "-" if x.baseline_value is None else f"{x.baseline_value:.3f}"
            row[x.prediction] = f"{x.candidate} {fig} vs {base}"
        row["clv_rank_corr"] = round(_rank_corr(r["clv"].to_numpy(float), frows["clv"].to_numpy(float)), 4)
        row["p_alive_mad"] = round(float(np.mean(np.abs(r["p_alive"].to_numpy(float)
                                                        - frows["p_alive"].to_numpy(float)))), 4)
        row["clv_total_vs_all"] = round(float(r["clv"].sum() / frows["clv"].sum()), 4)
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--seeds", type=int, default=3)
    a = ap.parse_args()
    ws = open_workspace(a.workspace)
    rows = curve(ws, parse_as_of(a.as_of), seeds=tuple(range(a.seeds)), sizes=[int(x) for x in a.sizes.split(",")])
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[k]) for k in cols) + " |")


if __name__ == "__main__":
    main()
