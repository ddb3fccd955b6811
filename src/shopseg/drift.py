"""Feature drift between runs: the population stability index (PSI) of every customer feature.

PSI (Siddiqi 2006, *Credit Risk Scorecards*): bin the earlier run's values at
its deciles, then ``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)`` over the bins,
``e_i`` and ``a_i`` the earlier and later shares (empty bins count as 0.0001
of the customers so the logarithm stays finite).  The usual reading: below 0.1
stable, 0.1 to 0.25 moderate shift, above 0.25 a major shift.

>>> import numpy as np
>>> round(population_stability(np.arange(1000.0), np.arange(1000.0)), 6)
0.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EPS = 1e-4
NOT_FEATURES = ("run_id", "customer_id", "has_orders", "is_outlier")


def population_stability(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """PSI of ``actual`` against ``expected``, with bins at the quantiles of ``expected``."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    e, a = e[np.isfinite(e)], a[np.isfinite(a)]
    if len(e) == 0 or len(a) == 0:
        return float("nan")
    edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)[1:-1]))
    # a value equal to an edge goes to the bin above it, for both populations alike
    e_share = np.bincount(np.searchsorted(edges, e, side="right"), minlength=len(edges) + 1) / len(e)
    a_share = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1) / len(a)
    e_share, a_share = np.maximum(e_share, EPS), np.maximum(a_share, EPS)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def level(psi: float, threshold: float) -> str:
    if not np.isfinite(psi):
        return "n/a"
    return "major" if psi > threshold else "moderate" if psi > 0.1 else "stable"


def feature_drift(ws, run_id: int, previous_run_id: int, *, bins: int = 10, threshold: float = 0.25,
                  features=None) -> pd.DataFrame:
    """PSI of every numeric column of ``customer_features`` (or of ``features`` only) between two runs.

    Columns: feature, psi, level; largest PSI first.
    """
    have = ws.columns("customer_features")
    cols = [c for c in (dict.fromkeys(features) if features is not None else have)
            if c in have and c not in NOT_FEATURES]
    rows = []
    if cols:
        sel = ", ".join(f'"{c}"' for c in cols)
        before = ws.df(f"SELECT {sel} FROM customer_features WHERE run_id = ?", [previous_run_id])
        after = ws.df(f"SELECT {sel} FROM customer_features WHERE run_id = ?", [run_id])
        for c in cols:
            if pd.api.types.is_numeric_dtype(after[c]) and pd.api.types.is_numeric_dtype(before[c]):
                psi = population_stability(before[c].to_numpy(float), after[c].to_numpy(float), bins)
                rows.append({"feature": c, "psi": psi, "level": level(psi, threshold)})
    return pd.DataFrame(rows, columns=["feature", "psi", "level"]).sort_values(
        "psi", ascending=False, kind="stable", ignore_index=True)  # ties keep the columns' order


def drift_stage(ws, run_id: int, config, *, previous: int | None | str = "latest") -> dict:
    """Write ``feature_drift`` for ``run_id`` against ``previous`` (the runner hands the stage the newest earlier
    done run with features: ``ctx.runs.before``; ``"latest"``: the newest earlier run with features)."""
    if previous == "latest":
        previous = ws.scalar("SELECT max(run_id) FROM customer_features WHERE run_id < ?", [run_id]) \
            if ws.has_table("customer_features") else None
    prev = previous
    if prev is None or not ws.scalar("SELECT count(*) FROM customer_features WHERE run_id = ?", [run_id]):
        return {"note": "skipped: no earlier run with customer features to compare with"}
    d = config["drift"]
    df = feature_drift(ws, run_id, prev, bins=d["bins"], threshold=d["psi_threshold"])
    ws.con.register("_drift_df", df.assign(previous_run_id=int(prev)))
    try:
        ws.write_output("feature_drift", run_id, "SELECT previous_run_id, feature, psi, level FROM _drift_df")
    finally:
        ws.con.unregister("_drift_df")
    major = df[df.level == "major"]
    return {"previous_run": int(prev), "features": len(df), "major": len(major),
            "max_psi": round(float(df.psi.max()), 4) if len(df) else None,
            "drifted": ", ".join(major.feature.head(5))}
