"""Control groups: a deterministic, stratified random hold-out per campaign, and the budget cut.

Who is held out: within each campaign, customers are grouped by stratum (their
segment in ``act.stratify_by``).  The campaign's control count is
``round(share x audience)``; it is split over the strata by cumulative
rounding (stratum k gets ``R(s·N_1..k) - R(s·N_1..k-1)``, strata in name
order), so every stratum holds its share to within one customer and the
campaign's total is exact.  Inside a stratum the customers with the smallest
``u = md5(seed : campaign : customer_id)`` are the control: random, but the
same inputs always give the same groups, run after run and machine after
machine (no random generator state, no dependence on row order).

The budget: customers are ranked by expected value per cost; the plan is the
longest prefix of that ranking whose treatment spend (controls cost nothing)
fits in the budget, with the control groups drawn inside that prefix, so the
control customers are always the same kind of customer as the treated ones.
"""

from __future__ import annotations

import numpy as np


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5 + 1e-9).astype(np.int64)


def stratified_control(camp_idx: np.ndarray, strat_idx: np.ndarray, u: np.ndarray,
                       shares: np.ndarray) -> np.ndarray:
    """Boolean mask of control rows: per campaign ``round(share x n)`` rows, spread over strata.

    ``camp_idx`` indexes ``shares``; ``strat_idx`` numbers the strata (in name order);
    ``u`` in [0, 1) orders customers within a stratum (smallest first).

    >>> m = stratified_control(np.zeros(10, int), np.zeros(10, int), np.arange(10) / 10, np.array([0.2]))
    >>> m.nonzero()[0].tolist()
    [0, 1]
    """
    n = len(u)
    if n == 0:
        return np.zeros(0, bool)
    n_strata = int(strat_idx.max()) + 1
    key = camp_idx.astype(np.int64) * n_strata + strat_idx.astype(np.int64)
    ukeys, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    k_camp = ukeys // n_strata
    # cumulative rounding of share x count within each campaign (keys are sorted: campaign, then stratum)
    s = shares[k_camp] * counts
    camp_start = np.r_[True, k_camp[1:] != k_camp[:-1]]
    grp = np.cumsum(camp_start) - 1
    cum = np.cumsum(s)
    base = np.r_[0.0, cum][np.flatnonzero(camp_start)][grp]  # cumsum before each campaign
    cum_in = cum - base
    prev = cum_in - s
    n_ctrl = _round_half_up(cum_in) - _round_half_up(prev)
    # rank inside each key by u
    order = np.lexsort((u, inv))
    sorted_inv = inv[order]
    first = np.r_[0, np.flatnonzero(sorted_inv[1:] != sorted_inv[:-1]) + 1]
    rank = np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))
    mask = np.zeros(n, bool)
    mask[order] = rank < n_ctrl[sorted_inv]
    return mask


def treatment_cost(cost, camp_idx, strat_idx, u, shares, n: int) -> tuple[float, np.ndarray]:
    """Treatment spend of the first ``n`` rows, and their control mask."""
    ctrl = stratified_control(camp_idx[:n], strat_idx[:n], u[:n], shares)
    return float(cost[:n][~ctrl].sum()), ctrl


def budget_prefix(cost, camp_idx, strat_idx, u, shares, budget: float) -> tuple[int, np.ndarray]:
    """(n, control mask of length len(cost)): the longest prefix whose treatment spend is within ``budget``.

    Rows must already be in greedy order (best expected value per cost first).  ``budget`` 0 means
    no limit.  The returned prefix never exceeds the budget: the search only moves its lower end to
    prefixes that were checked to fit (spend is near-monotone in n, so this is a binary search).
    """
    n_all = len(cost)
    mask = np.zeros(n_all, bool)
    if n_all == 0:
        return 0, mask
    spend, ctrl = treatment_cost(cost, camp_idx, strat_idx, u, shares, n_all)
    if budget <= 0 or spend <= budget:
        mask[:n_all] = ctrl
        return n_all, mask
    lo, hi, best = 0, n_all, np.zeros(0, bool)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        spend, ctrl = treatment_cost(cost, camp_idx, strat_idx, u, shares, mid)
        if spend <= budget:
            lo, best = mid, ctrl
        else:
            hi = mid
    mask[:lo] = best
    return lo, mask


def control_share_by(actions, by: str = "campaign"):
    """Share of control rows per ``by`` in an ``actions`` frame (for checks and reports)."""
    g = actions.groupby(by)["group"]
    return g.apply(lambda s: float((s == "control").mean()))
