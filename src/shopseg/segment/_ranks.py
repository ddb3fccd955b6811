"""RFM and value tiers of one re-scored customer against a stored run's population, in O(log n).

The batch rules (:func:`shopseg.segment.rfm_scores`, :func:`shopseg.segment.value_tiers`)
score a buyer by its *minimum rank* among the run's buyers: with ``below`` the
number of other buyers strictly worse than the value (for value tiers: strictly
better), ``rank - 1 = below``.  The live path asks what the batch rule gives
when this customer's row of the run is replaced by the fresh one; the other
buyers' values do not move, so ``below`` is one binary search in their sorted
values (the customer's own stored value taken out) and ``n`` is the number of
other buyers plus one.  The cut points are therefore the run's, and the
answer equals the batch functions run over the population with the row
replaced (what ``tests/test_serve_live_ranks.py`` checks) at a fraction of the cost:
the sorted arrays are built once per run.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .rfm import N_SCORES, churned_recency, cut_scores, parse_names


class RunRanks:
    """Sorted buyer values of one run: score a single customer's fresh features against them."""

    def __init__(self, population: pd.DataFrame, config, clv_scores: pd.Series | None = None,
                 windows: dict | None = None):
        self.config = config
        self.windows = windows  # the run's lifecycle windows: R = 1 past the churn window (rfm.churned_recency)
        rc = config["segments.rfm"]
        self.method = rc["method"]
        self.rfm_cfg = rc
        self.no_orders = config["segments.no_orders_segment"]
        grid = np.full((N_SCORES + 1, N_SCORES + 1), rc["catch_all"], dtype=object)
        for (r, fm), name in parse_names(rc["names"]).items():
            grid[r, fm] = name
        self.grid = grid
        self.mcol = rc["monetary_column"]
        pop = population.set_index("customer_id", drop=False)
        buyers = pop[pop["has_orders"].astype(bool)]
        old = buyers[["recency_days", "frequency", self.mcol]].astype(float)
        self._sorted = {c: np.sort(old[c].to_numpy()) for c in old.columns}
        # each buyer's stored values, found by id through one dict of positions (a batch of customers looks
        # them up one by one; a pandas lookup per customer and column costs more than the rule)
        self._pos = _positions(old.index)
        self._old = {c: old[c].to_numpy() for c in old.columns}
        # value tiers: by monetary_net, or by the run's predicted value (buyers with a score)
        vc = config["segments.value"]
        self.high, self.mid = float(vc["high_share"]), float(vc["mid_share"])
        self._vsorted: dict[str, tuple[np.ndarray, np.ndarray, dict]] = {}  # sorted, values, positions
        net = buyers["monetary_net"].astype(float).to_numpy()
        self._vsorted["monetary_net"] = (np.sort(net), net, self._pos)
        if clv_scores is not None:
            v = clv_scores.reindex(buyers.index).astype(float).dropna()
            self._vsorted["clv"] = (np.sort(v.to_numpy()), v.to_numpy(), _positions(v.index))

    # -- RFM --------------------------------------------------------------------------------
    def _quantile(self, col: str, x: float, cid: str, higher_is_better: bool) -> int:
        s = self._sorted[col]
        at = self._pos.get(cid)
        old = None if at is None else self._old[col][at]
        if higher_is_better:  # rank of x among ascending values: others strictly below
            below = int(np.searchsorted(s, x, side="left")) - (1 if old is not None and old < x else 0)
        else:  # recency: others strictly above
            below = len(s) - int(np.searchsorted(s, x, side="right")) - (1 if old is not None and old > x else 0)
        n = len(s) - (1 if old is not None else 0) + 1
        return int(1 + math.floor(N_SCORES * below / n))

    def rfm(self, cid: str, row: pd.Series) -> dict:
        """r, f, m, fm scores and the segment name of ``cid`` with the fresh features ``row``."""
        if not bool(row["has_orders"]):
            return {"r_score": 0, "f_score": 0, "m_score": 0, "fm_score": 0, "segment": str(self.no_orders)}
        rec, freq, mon = float(row["recency_days"]), float(row["frequency"]), float(row[self.mcol])
        if self.method == "quantile":
            r = self._quantile("recency_days", rec, cid, False)
            f = self._quantile("frequency", freq, cid, True)
            m = self._quantile(self.mcol, mon, cid, True)
        else:
            rc = self.rfm_cfg
            r = int(cut_scores(np.array([rec]), rc["recency_cuts"], higher_is_better=False)[0])
            f = int(cut_scores(np.array([freq]), rc["frequency_cuts"])[0])
            m = int(cut_scores(np.array([mon]), rc["monetary_cuts"])[0])
        r = int(churned_recency(np.array([r]), np.array([rec]), self.windows)[0])
        fm = int(math.floor((f + m) / 2 + 0.5))
        return {"r_score": r, "f_score": f, "m_score": m, "fm_score": fm, "segment": str(self.grid[r, fm])}

    # -- value tiers -----------------------------------------------------------------------------
    def value_tier(self, cid: str, has_orders: bool, value: float | None, basis: str = "monetary_net") -> str:
        """The tier of ``cid`` with ranking value ``value`` (``basis``: monetary_net or clv)."""
        if not has_orders:
            return str(self.no_orders)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            value = -math.inf  # a buyer without a score ranks last (segment.value_tiers)
        s, values, pos = self._vsorted[basis]
        at = pos.get(cid)
        old = None if at is None else values[at]
        own = 1 if old is not None else 0
        same = int(np.searchsorted(s, value, side="right") - np.searchsorted(s, value, side="left"))
        if same - (1 if old is not None and old == value else 0) == len(s) - own:
            return "mid"  # every buyer has the same value: one tier (segment.value_tiers)
        above = len(s) - int(np.searchsorted(s, value, side="right")) - (1 if old is not None and old > value else 0)
        n = len(s) - (1 if old is not None else 0) + 1
        pos = above / n
        return "high" if pos < self.high else "mid" if pos < self.high + self.mid else "low"

    def has_basis(self, basis: str) -> bool:
        return basis in self._vsorted


def _positions(index: pd.Index) -> dict:
    """Each id of ``index`` -> its position (one pass over the ids as Python strings)."""
    return dict(zip(index.to_numpy(dtype=object), range(len(index))))


__all__ = ["RunRanks"]
