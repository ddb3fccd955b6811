"""Offer optimisation: Thompson sampling among a campaign's offer variants, per segment.

Each variant's response rate in a segment has a Beta posterior (Beta(1, 1)
prior, Bernoulli responses): ``Beta(1 + responders, 1 + non-responders)`` over
the treated customers of earlier runs' measured campaigns (``uplift_reports``
rows of that campaign, variant and segment).  A segment with no measured
responses for a variant borrows the variant's counts pooled over all segments.
Each treated customer gets the variant whose posterior draw is the largest
(Thompson 1933; Chapelle & Li 2011, "An Empirical Evaluation of Thompson
Sampling"): variants that worked get most of the customers, the others keep
being tried in proportion to the chance that they are best.  Draws come from a
generator seeded by (run seed, campaign), with customers in id order, so the
same inputs give the same offers.  The control group is drawn before this step
and never changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import NotFittedError
from .playbook import stable_int


class ThompsonSampler:
    """Beta-Bernoulli Thompson sampling per (segment, variant).

    ``fit(history)`` takes rows (segment, variant, n, responders) and sets ``alpha_`` and
    ``beta_`` (DataFrames indexed by segment, one column per variant) and ``pooled_``
    (per-variant counts over all segments).  ``choose(segments)`` draws one variant per row.

    >>> h = pd.DataFrame({"segment": ["a", "a"], "variant": ["x", "y"], "n": [100, 100], "responders": [30, 5]})
    >>> ts = ThompsonSampler(["x", "y"], random_state=0).fit(h)
    >>> picks, _ = ts.choose(np.array(["a"] * 1000))
    >>> int((picks == "x").sum()) > 950
    True
    """

    def __init__(self, variants, prior_alpha: float = 1.0, prior_beta: float = 1.0, random_state=None):
        self.variants = variants
        self.prior_alpha = prior_alpha
        self.prior_beta = prior_beta
        self.random_state = random_state

    def fit(self, history: pd.DataFrame | None):
        variants = list(self.variants)
        h = history if history is not None and len(history) else pd.DataFrame(
            columns=["segment", "variant", "n", "responders"])
        h = h[h["variant"].isin(variants)]
        g = h.groupby(["segment", "variant"])[["n", "responders"]].sum()
        self.n_ = g["n"].unstack(fill_value=0).reindex(columns=variants, fill_value=0)
        self.x_ = g["responders"].unstack(fill_value=0).reindex(columns=variants, fill_value=0)
        pooled = h.groupby("variant")[["n", "responders"]].sum().reindex(variants, fill_value=0)
        self.pooled_ = pooled
        self.alpha_ = self.prior_alpha + self.x_
        self.beta_ = self.prior_beta + (self.n_ - self.x_)
        self.has_history_ = bool(len(h) and h["n"].sum() > 0)
        return self

    def posterior(self, segment) -> tuple[np.ndarray, np.ndarray, str]:
        """(alpha, beta, source) for one segment: its own counts per variant, pooled counts where it has none."""
        if not hasattr(self, "alpha_"):
            raise NotFittedError("ThompsonSampler is not fitted yet: call fit(history) first.")
        a = np.full(len(self.variants), float(self.prior_alpha))
        b = np.full(len(self.variants), float(self.prior_beta))
        own = segment in self.n_.index
        n_seg = self.n_.loc[segment].to_numpy(float) if own else np.zeros(len(self.variants))
        x_seg = self.x_.loc[segment].to_numpy(float) if own else np.zeros(len(self.variants))
        use_own = n_seg > 0
        n = np.where(use_own, n_seg, self.pooled_["n"].to_numpy(float))
        x = np.where(use_own, x_seg, self.pooled_["responders"].to_numpy(float))
        src = "segment" if use_own.all() else "pooled" if not use_own.any() else "mixed"
        return a + x, b + (n - x), src

    def choose(self, segments: np.ndarray) -> tuple[np.ndarray, dict]:
        """One variant per row of ``segments``; also the posterior summary per segment (for reasons)."""
        rng = np.random.default_rng(self.random_state)
        variants = np.asarray(list(self.variants), dtype=object)
        segs, inv = np.unique(np.asarray(segments, dtype=str), return_inverse=True)
        A = np.empty((len(segs), len(variants)))
        B = np.empty_like(A)
        info = {}
        for i, s in enumerate(segs):
            A[i], B[i], src = self.posterior(s)
            info[s] = (A[i] - self.prior_alpha, A[i] + B[i] - self.prior_alpha - self.prior_beta, src)
        draws = rng.beta(A[inv], B[inv])
        return variants[np.argmax(draws, axis=1)], info


def variant_history(ws, campaign: str, scheme: str, run_id: int | None) -> pd.DataFrame:
    """Measured treatment counts (segment, variant, n, responders) of ``campaign`` in runs before ``run_id``."""
    if not ws.has_table("uplift_reports"):
        return pd.DataFrame(columns=["segment", "variant", "n", "responders"])
    return ws.df("""
        SELECT segment, variant, sum(n_treatment) AS n, sum(responders_treatment) AS responders
        FROM uplift_reports
        WHERE campaign = ? AND scheme = ? AND segment <> 'all' AND variant <> 'all' AND run_id < ?
        GROUP BY ALL""", [campaign, scheme, run_id if run_id is not None else 2**62])


def choose_variants(ws, campaign, customers: pd.DataFrame, *, run_id, scheme: str, seed: int,
                    thompson: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(variant, explanation) for each row of ``customers`` (customer_id, stratum) of one campaign."""
    offers = list(campaign.offers)
    n = len(customers)
    if len(offers) == 1:
        return np.full(n, offers[0], dtype=object), np.full(n, "", dtype=object)
    order = np.argsort(customers["customer_id"].to_numpy(str), kind="stable")
    strata = customers["stratum"].to_numpy(str)[order]
    hist = variant_history(ws, campaign.name, scheme, run_id) if thompson else None
    ts = ThompsonSampler(offers, random_state=stable_int(seed, "thompson", campaign.name)).fit(hist)
    picks, info = ts.choose(strata)
    why_seg = {}
    for s, (x, nn, src) in info.items():
        if not thompson:
            why_seg[s] = f"offer drawn at random among {len(offers)} variants (thompson_sampling off)"
        elif nn.sum() == 0:
            why_seg[s] = f"offer drawn at random among {len(offers)} variants (no measured responses yet)"
        else:
            where = f"{scheme} '{s}'" if src == "segment" else f"all segments (none measured in {scheme} '{s}')" \
                if src == "pooled" else f"{scheme} '{s}' (pooled where unmeasured)"
            rates = ", ".join(f"'{v}' {x_ / n_:.1%} of {int(n_)}" if n_ else f"'{v}' untried"
                              for v, x_, n_ in zip(offers, x, nn))
            why_seg[s] = f"offer chosen by Thompson sampling on measured response rates in {where}: {rates}"
    out_v = np.empty(n, dtype=object)
    out_w = np.empty(n, dtype=object)
    out_v[order] = picks
    out_w[order] = [why_seg[s] for s in strata]
    return out_v, out_w
