"""The shop's own uplift model: per customer, what a campaign adds, learned from its past control groups.

For each enabled campaign, the earlier runs whose response window has ended by this as_of and that
held out a control group are the training data: the customer features of that run (numeric columns
of ``customer_features``), treated or not (``actions.group``), and whether the customer responded
(a sale order in the window, :func:`shopseg.act.uplift.customer_outcomes`).  With at least
``act.uplift_model_min_group`` customers in each group an :class:`~shopseg.act.uplift_models.UpliftModel`
(learner chosen by validated Qini AUC) is fitted and predicts each current customer's incremental
response for the campaign, if its hold-out Qini AUC beats random targeting in 95% of bootstrap resamples;
otherwise it steps aside, with the reason in the notes.  Campaigns without enough history keep the campaign-level value
(:func:`shopseg.act.playbook.campaign_uplifts`: the measured uplift, or the prior).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ShopsegError
from .uplift_models import UpliftModel

ID_COLUMNS = ("run_id", "customer_id")
# the model is used only when its hold-out Qini AUC beats random targeting (0) in this share of resamples,
# the rule the CLV and churn stages apply against their baselines
MIN_WINS = 0.95


def _numeric_features(ws, run_id: int) -> pd.DataFrame:
    cols = [c for c, t in ws.sql("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = 'customer_features' ORDER BY ordinal_position")
            if c not in ID_COLUMNS and t in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "BOOLEAN", "HUGEINT",
                                             "SMALLINT", "TINYINT", "DECIMAL")]
    sel = ", ".join(f'CAST("{c}" AS DOUBLE) AS "{c}"' for c in cols)
    return ws.df(f"SELECT CAST(customer_id AS VARCHAR) AS customer_id, {sel} FROM customer_features "
                 "WHERE run_id = ?", [run_id])


def training_runs(ws, campaign: str, run_id: int, as_of, window_days: int) -> list[int]:
    """Earlier runs with a control group for ``campaign`` whose response window ended by ``as_of``."""
    if not ws.has_table("actions"):
        return []
    return [r[0] for r in ws.sql("""
        SELECT a.run_id FROM actions a JOIN runs r ON r.run_id = a.run_id
        WHERE a.campaign = ? AND a.run_id < ? AND r.as_of + to_days(CAST(? AS INTEGER)) <= CAST(? AS TIMESTAMP)
        GROUP BY a.run_id HAVING count(*) FILTER (WHERE a."group" = 'control') > 0 ORDER BY 1""",
        [campaign, int(run_id), int(window_days), as_of])]


def customer_uplifts(ws, campaigns: list[str], run_id: int, as_of, *, window_days: int, min_group: int,
                     seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """(rows customer_id, campaign, uplift, uplift_source for the campaigns with a model; notes per campaign)."""
    from .uplift import customer_outcomes

    frames, notes = [], {}
    current = None
    for camp in campaigns:
        runs = training_runs(ws, camp, run_id, as_of, window_days)
        if not runs:
            continue
        parts = []
        for r in runs:
            try:
                out, _, _ = customer_outcomes(ws, r, window_days=window_days)
            except ShopsegError as e:  # e.g. no order after that run yet: nothing to learn from it
                notes[camp] = f"run {r} has no responses to learn from: {e}"
                continue
            out = out[out["campaign"] == camp][["customer_id", "group", "responded"]]
            parts.append(out.merge(_numeric_features(ws, r), on="customer_id", how="inner"))
        if not parts:
            continue
        data = pd.concat(parts, ignore_index=True)
        t = (data["group"] == "treatment").to_numpy(int)
        n_t, n_c = int(t.sum()), int(len(t) - t.sum())
        if min(n_t, n_c) < min_group:
            notes[camp] = f"{n_t} treated and {n_c} controls in runs {runs}: fewer than {min_group} in a group"
            continue
        if current is None:
            current = _numeric_features(ws, run_id)
        feats = [c for c in data.columns if c not in ("customer_id", "group", "responded") and c in current.columns]
        X = data[feats].fillna(0.0).to_numpy(float)
        model = UpliftModel(random_state=seed).fit(X, t, data["responded"].to_numpy(float))
        val = model.validation_.get(model.learner_)
        wins = model.beats_random(random_state=seed)
        if wins < MIN_WINS:  # no better than one value for everyone: the campaign's measured uplift or prior
            notes[camp] = (f"model steps aside: {model.learner_} on runs {', '.join(map(str, runs))} ranks the "
                           f"hold-out above random targeting in only {wins:.0%} of resamples (needs "
                           f"{MIN_WINS:.0%}; validation Qini AUC {val:.3f}); the campaign's uplift is used")
            continue
        pred = np.clip(model.predict(current[feats].fillna(0.0).to_numpy(float)), -1.0, 1.0)
        src = (f"model: {model.learner_} fitted on run {', '.join(map(str, runs))} ({n_t:,} treated, {n_c:,} "
               f"controls)" + (f", validation Qini AUC {val:.3f}" if val is not None else ""))
        notes[camp] = src
        frames.append(pd.DataFrame({"customer_id": current["customer_id"], "campaign": camp, "uplift": pred,
                                    "uplift_source": src}))
    empty = pd.DataFrame({"customer_id": pd.Series(dtype=object), "campaign": pd.Series(dtype=object),
                          "uplift": pd.Series(dtype=float), "uplift_source": pd.Series(dtype=object)})
    return (pd.concat(frames, ignore_index=True) if frames else empty), notes
