"""Value tiers: high / mid / low among buyers, by monetary_net (or, later, predicted CLV).

Buyers are ranked from most to least valuable (minimum rank: ties share a
rank).  With ``position = (rank - 1) / n``, a buyer is ``high`` when
``position < high_share``, ``mid`` when ``position < high_share + mid_share``
and ``low`` otherwise: the top 20% / next 30% / rest by default, ties never
split across tiers.  Customers without orders get ``segments.no_orders_segment``
(and only they: a buyer without a score ranks last).  When every buyer has the
same value (all spend zero, say) ranking says nothing: they all get ``mid``
and the frame's ``attrs["note"]`` says why, instead of 100% ``high``.

By predicted value: ``[segments.value] basis = "auto"`` (the default) ranks by
the ``clv_column`` of table ``clv`` for the same run when the run has one
(``"clv"`` insists on it), else by monetary_net;
pass ``scores`` to rank by any other per-customer number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from ..errors import WorkspaceError
from ._common import get_config

TIERS = ("high", "mid", "low")


def value_tiers(features: pd.DataFrame, config: Config | None = None, *,
                scores: pd.Series | None = None) -> pd.DataFrame:
    """One tier per customer of ``features``: customer_id, value, tier.

    ``scores`` (indexed by customer_id) replaces monetary_net as the ranking value.

    >>> f = pd.DataFrame({"customer_id": list("abcdef"), "has_orders": [True] * 5 + [False],
    ...                   "monetary_net": [500.0, 100, 100, 50, 10, 0]})
    >>> value_tiers(f)["tier"].tolist()
    ['high', 'mid', 'mid', 'low', 'low', 'Prospect']
    >>> value_tiers(f.assign(monetary_net=0.0))["tier"].tolist()
    ['mid', 'mid', 'mid', 'mid', 'mid', 'Prospect']
    """
    cfg = get_config(config)
    vc = cfg["segments.value"]
    value = (scores.reindex(features["customer_id"]).to_numpy(dtype=float) if scores is not None
             else features["monetary_net"].to_numpy(dtype=float))
    has = features["has_orders"].to_numpy(dtype=bool)
    tier = np.full(len(features), cfg["segments.no_orders_segment"], dtype=object)
    n = int(has.sum())
    note = None
    if n:
        v = np.where(np.isnan(value[has]), -np.inf, value[has])  # a buyer without a score ranks last
        if np.all(v == v[0]):
            tier[has] = "mid"
            note = (f"every buyer has the same value ({np.nan_to_num(v[0], neginf=0.0):g}): one tier, mid, "
                    "for all of them")
        else:
            from scipy.stats import rankdata  # here: scipy.stats costs ~0.5 s to import; scoring does not rank

            pos = (rankdata(-v, method="min") - 1) / n
            tier[has] = np.where(pos < vc["high_share"], "high",
                                 np.where(pos < vc["high_share"] + vc["mid_share"], "mid", "low"))
    out = pd.DataFrame({"customer_id": features["customer_id"].to_numpy(), "value": np.nan_to_num(value),
                        "tier": tier.astype(str)})
    if note:
        out.attrs["note"] = note
    return out


def clv_scores(ws, run_id: int, config: Config | None = None) -> pd.Series:
    """Predicted CLV per customer for run ``run_id`` from table ``clv`` (the CLV hook)."""
    cfg = get_config(config)
    col = cfg["segments.value.clv_column"]
    if not ws.has_table("clv") or col not in ws.columns("clv"):
        raise WorkspaceError(
            f"segments.value.basis is 'clv' but the workspace has no table clv with column {col!r}.",
            hint="Run the CLV prediction first, or set [segments.value] basis = \"monetary_net\".",
        )
    df = ws.df(f'SELECT customer_id, "{col}" AS v FROM clv WHERE run_id = ?', [run_id])
    return df.set_index("customer_id")["v"]
