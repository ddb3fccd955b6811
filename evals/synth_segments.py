"""Persona recovery on the generated demo shop: clusters against the planted personas.

``shopseg.synth`` plants eight personas (``ground_truth.persona``).  For each seed this builds the
demo shop, computes ``customer_features`` as of the shop's ``as_of`` and fits the clusters the way
the ``segments`` stage of ``shopseg run`` does (:func:`shopseg.segment.stage.fit_clusters` with the
default config: automatic K).  It reports, per seed:

- the K chosen automatically and the adjusted Rand index (ARI) of that clustering against the
  personas (the default pipeline), and for comparison K = 8 given (k-means and Ward);
- the **supervised ceiling**: a multinomial logistic regression that *sees* the persona labels,
  5-fold cross-validated on the very same scaled features the clusters use.  Its accuracy and ARI
  say how far the personas are recoverable from these features at all; a low ceiling would mean
  the generator plants personas no method could separate;
- the mean silhouette (on the clustering sample) of the planted partition and of the chosen one,
  which is why the silhouette prefers the K it picks (since 2026-11-28 the default is
  ``k_selection = "two_level"``: the chosen partition is then the two-level leaves; set
  ``[segments.cluster] k_selection = "silhouette"`` for the one-level figures of docs/segments.md).

    python evals/synth_segments.py [CUSTOMERS] [SEED ...]   # default 20,000 customers, seeds 42 1 2
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, pairwise_distances
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from shopseg.config import load_config
from shopseg.features import customer_features
from shopseg.segment import BehaviourClusters
from shopseg.segment.cluster import silhouette_from_distances
from shopseg.segment.stage import fit_clusters
from shopseg.synth import synthesize
from shopseg.workspace import Workspace

AS_OF = "2024-12-31"


def one_shop(customers: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp, Workspace.open(Path(tmp) / "ws") as ws:
        synthesize(ws, customers=customers, seed=seed, as_of=AS_OF)
        f = customer_features(ws, AS_OF).merge(ws.df("SELECT customer_id, persona FROM ground_truth"),
                                               on="customer_id")
    cfg = load_config()
    y = f["persona"].to_numpy()
    t = time.perf_counter()
    model, _, _ = fit_clusters(f, cfg)  # what the segments stage runs
    seconds = time.perf_counter() - t
    out = {"seed": seed, "k_auto": model.n_clusters_, "ari_auto": adjusted_rand_score(y, model.labels_),
           "seconds": seconds, "k_curve": model.k_curve_}
    for name, params in (("kmeans8", {"n_clusters": 8}), ("ward8", {"n_clusters": 8, "method": "hierarchical"})):
        bc = BehaviourClusters.from_config(cfg).set_params(**params).fit(f)
        out[name] = adjusted_rand_score(y, bc.labels_)
    Z = model.transform(f)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    pred = cross_val_predict(LogisticRegression(max_iter=3000), Z, y, cv=cv)
    out["ceiling_acc"] = float(np.mean(pred == y))
    out["ceiling_ari"] = adjusted_rand_score(y, pred)
    idx = np.sort(np.random.default_rng(0).choice(len(Z), min(len(Z), 4000), replace=False))
    D = pairwise_distances(Z[idx])
    out["sil_planted"] = silhouette_from_distances(D, np.unique(y[idx], return_inverse=True)[1])
    out["sil_chosen"] = silhouette_from_distances(D, model.labels_[idx])
    return out


def main(customers: int = 20_000, seeds=(42, 1, 2)) -> str:
    warnings.simplefilter("ignore")
    rows = [one_shop(customers, s) for s in seeds]
    md = [f"Demo shop, {customers:,} customers, 8 planted personas; ARI against `ground_truth.persona`.", "",
          ("| seed | auto K (default) | ARI auto K | ARI K = 8 k-means | ARI K = 8 Ward | "
           "supervised ceiling: accuracy | ceiling ARI | silhouette planted / chosen | cluster fit s |"),
          "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['seed']} | {r['k_auto']} | {r['ari_auto']:.3f} | {r['kmeans8']:.3f} | {r['ward8']:.3f} | "
                  f"{r['ceiling_acc']:.3f} | {r['ceiling_ari']:.3f} | {r['sil_planted']:.3f} / "
                  f"{r['sil_chosen']:.3f} | {r['seconds']:.1f} |")
    md += ["", "Silhouette per K (automatic K curve of the default run):", ""]
    for r in rows:
        c = r["k_curve"]
        md.append(f"- seed {r['seed']}: " + ", ".join(f"{int(k)}: {s:.3f}" for k, s in zip(c["k"], c["silhouette"])))
    return "\n".join(md)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    print(main(args[0], tuple(args[1:]) or (42, 1, 2)) if args else main())
