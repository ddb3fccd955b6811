"""The rules' out-of-time backtest: mined before a cutoff, tried as a cross-sell on the baskets after it, against
the popularity baseline on the same baskets.

The split is the one the CLV stage uses (:func:`shopseg.predict._clv_select.window_days`): the last ``W =
baskets.backtest_days`` days before ``as_of`` (at most half of the history, at least 7 days) hold the test
baskets; the baskets before the cutoff ``as_of - W`` are mined with the stage's own parameters (support,
confidence, lift, length, pruning), on a seeded sample of ``baskets.backtest_max_baskets`` of them when there are
more (likewise the test baskets).

Each test basket is tried "all but one" (the protocol of recommenderlab's ``given = -1``, Hahsler 2011; Sarwar et
al. 2000): every item of it in turn is held out and the rest is the basket the shopper holds.  The rules suggest
the consequents of the rules whose antecedent is in that rest and whose consequent is not, best first (confidence,
then lift, then support, then item id: :func:`shopseg.basket.cross_sell`'s order), the first ``baskets.backtest_top_k``
kept; the baseline suggests the ``top_k`` items most often in the baskets before the cutoff that are not in the
rest.  A hit is the held-out item among the suggestions.  Both are scored on the same cases: those where the rules
suggest anything (where a cross-sell would be shown); the share of cases they cover is reported beside.

Each rule of the cutoff also gets its out-of-time confidence and lift on the test baskets (``count_itemsets``),
beside its confidence in the baskets it was mined from.

A paired bootstrap over the test baskets (``baskets.backtest_resamples``, seeded; the cases of one basket stay
together) decides as churn and CLV do: the rules are used for cross-sell only when their hit rate beats the
baseline's in at least ``baskets.backtest_confidence`` of the resamples; otherwise popularity is, and the run says
so (``model_decisions``, model ``rules``).  When the history is too short, or the test window holds too few
baskets the rules apply to, nothing is tested and that is said instead.

Everything is numpy over integer codes (sparse products for the antecedents), in chunks of test baskets, so the
memory is a chunk's and never the baskets after ``as_of``: the workspace's baskets end at ``as_of``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd

from ..errors import ShopsegError
from ._baskets import Baskets

MIN_WINDOW_DAYS = 7
# fewer test baskets than this where the rules suggest anything: nothing is tested (as CLV's 30 buyers)
MIN_TEST_BASKETS = 30
# held-out cases (items of test baskets) per chunk of the evaluation
CHUNK_CASES = 1 << 19
# the cutoff's rules (by lift) whose figures before and after it the run's record keeps (the report shows them)
HELD_OUT_RULES = 10
METRIC = "hit_rate@{k}"
NO_RULES = ("no association rule passes the thresholds: cross-sell has nothing to suggest and nothing was "
            "backtested (popularity and the other sources stand)")


@dataclass
class RulesBacktest:
    """The rules' backtest: figures of the held-out baskets and the decision (``candidate``: rules or baseline)."""

    testable: bool
    why_not: str | None = None
    days: float | None = None
    cutoff: str | None = None
    train_baskets: int = 0
    test_baskets: int = 0
    train_sample: int | None = None  # baskets mined when sampled (None: all)
    test_sample: int | None = None
    rules: int = 0  # rules of the cutoff
    top_k: int = 3
    cases: int = 0  # held-out items of the test baskets
    covered: int = 0  # of them, where the rules suggest anything
    covered_baskets: int = 0
    rules_hit_rate: float | None = None
    popularity_hit_rate: float | None = None  # on the same (covered) cases
    popularity_hit_rate_all: float | None = None  # on every case
    win_share: float | None = None
    resamples: int = 0
    confidence_needed: float = 0.95
    confidence_in: float | None = None  # the cutoff's rules' confidence before it (weighted by antecedent baskets)
    confidence_out: float | None = None  # the same rules' after it (weighted by their antecedents' test baskets)
    rules_seen: int = 0  # rules whose antecedent is in a test basket
    top_rule: dict = field(default_factory=dict)  # the cutoff's top rule by lift: names, confidence and lift in/out
    held_out_rules: list = field(default_factory=list)  # the cutoff's first HELD_OUT_RULES rules by lift, likewise
    candidate: str = "rules"  # what cross-sell uses: "rules" or "baseline" (popularity)

    @property
    def metric(self) -> str:
        return METRIC.format(k=self.top_k)

    @property
    def rules_win(self) -> bool:
        return self.testable and self.candidate == "rules"

    def sentence(self) -> str:
        """One sentence: what cross-sell uses and why, with the figures."""
        if not self.testable:
            return f"rules used untested for cross-sell: {self.why_not}"
        sample = ""
        if self.train_sample or self.test_sample:
            sample = (f"; mined on a seeded sample of {self.train_sample or self.train_baskets:,} of the "
                      f"{self.train_baskets:,} baskets before it, tried on {self.test_sample or self.test_baskets:,} "
                      f"of the {self.test_baskets:,} after")
        figs = (f"hit rate@{self.top_k} {self.rules_hit_rate:.3f} vs popularity {self.popularity_hit_rate:.3f} on the "
                f"{self.covered:,} held-out items the rules suggest for ({self.covered / max(self.cases, 1):.0%} of "
                f"{self.cases:,}) in {self.covered_baskets:,} baskets "
                + (f"of the last {self.days:g} days (rules of {self.cutoff[:10]}: " if self.days is not None
                   else "after the cutoff (rules before it: ")
                + f"{self.rules:,}; confidence {_pct(self.confidence_in)} before the cutoff, "
                f"{_pct(self.confidence_out)} after{sample})")
        how = f"{self.win_share:.0%} of {self.resamples} resamples, needs {self.confidence_needed:.0%}"
        if self.candidate == "rules":
            return f"rules used for cross-sell: {figs}; the rules win in {how}"
        return f"popularity used for cross-sell, not the rules: {figs}; the rules win in only {how}"

    def notes(self) -> dict:
        """The figures for the run's record (``runs.stages``: the report reads them)."""
        out = {k: v for k, v in asdict(self).items() if v is not None and v != {} and v != []}
        for k, v in out.items():
            if isinstance(v, float):
                out[k] = round(v, 4)
        if self.testable:
            out["metric"] = self.metric
        return out

    def decision(self):
        """The run's ``model_decisions`` row for the rules (:class:`shopseg.refit.Decision`)."""
        from ..refit import Decision

        reason = "the rules are mined anew in every run; backtested out of time against popularity"
        if not self.testable:
            return Decision("rules", "refitted", reason, candidate="rules", decision=self.sentence())
        return Decision("rules", "refitted", reason, candidate=self.candidate, metric=self.metric,
                        model_value=self.rules_hit_rate, baseline_value=self.popularity_hit_rate,
                        decision=self.sentence())


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.0%}"


# -- the split ----------------------------------------------------------------------------------------

def subset(b: Baskets, idx: np.ndarray) -> Baskets:
    """The baskets ``idx`` (ascending) of ``b``, same item coding (an item may be in none of them)."""
    sizes = b.sizes()[idx]
    offs = np.zeros(len(idx) + 1, np.int64)
    np.cumsum(sizes, out=offs[1:])
    pos = np.repeat(b.offsets[idx] - offs[:-1], sizes) + np.arange(offs[-1], dtype=np.int64)
    return Baskets(b.codes[pos], offs, b.item_ids, b.item_names)


def _sample(idx: np.ndarray, cap: int, rng: np.random.Generator) -> tuple[np.ndarray, int | None]:
    if cap and len(idx) > cap:
        return np.sort(rng.choice(idx, cap, replace=False)), cap
    return idx, None


def window(ws, as_of, backtest_days: float) -> tuple[float, int, pd.Timestamp | None]:
    """(days W of the test window, the history's span in days, the cutoff ``as_of - W`` or None when W < 7):
    the CLV stage's rule (``backtest_days``, at most half of the history)."""
    from ..predict._clv_select import window_days

    ts = pd.Timestamp(as_of)
    W, span = window_days(ws.con, ts, backtest_days)
    return W, span, (ts - timedelta(days=W) if W >= MIN_WINDOW_DAYS else None)


_TEST_ROWS = ("SELECT rowid FROM orders WHERE kind = 'sale' AND ordered_at >= CAST(? AS TIMESTAMP) "
              "AND ordered_at <= CAST(? AS TIMESTAMP) ORDER BY 1")


def backtest_workspace(ws, shop: Baskets, *, as_of, params, config, seed: int = 0) -> RulesBacktest:
    """The backtest of the stage's rules on the workspace's baskets up to ``as_of`` (``shop``: one basket per
    order, built with its orders' rows, :func:`shopseg.basket._baskets.baskets_from_workspace`)."""
    s = _settings(config)
    out = RulesBacktest(False, top_k=s["top_k"], confidence_needed=s["confidence"])
    if params.unit != "order" or shop.keys is None:
        out.why_not = "baskets are whole customers (baskets.unit = 'customer'): no basket falls after a cutoff"
        return out
    W, span, cut = window(ws, as_of, s["days"])
    if cut is None:
        out.why_not = f"the history ({span} days) is too short for a test window of at least {MIN_WINDOW_DAYS} days"
        return out
    later = np.asarray(ws.con.execute(_TEST_ROWS, [str(cut), str(as_of)]).fetchnumpy()["rowid"], np.int64)
    pos = np.minimum(np.searchsorted(later, shop.keys), max(len(later) - 1, 0))
    is_test = (later[pos] == shop.keys) if len(later) else np.zeros(shop.n_baskets, bool)
    res = backtest_split(shop, np.flatnonzero(~is_test), np.flatnonzero(is_test), params=params, seed=seed, **s)
    res.days, res.cutoff = W, f"{cut:%Y-%m-%d %H:%M:%S}"
    if not res.testable and res.why_not:
        res.why_not = f"{res.why_not} (test window: the last {W:g} days before as_of, cutoff {cut:%Y-%m-%d})"
    return res


def _settings(config) -> dict:
    from ._baskets import setting

    return {"days": float(setting("backtest_days", None, config)), "top_k": int(setting("backtest_top_k", None, config)),
            "resamples": int(setting("backtest_resamples", None, config)),
            "confidence": float(setting("backtest_confidence", None, config)),
            "max_baskets": int(setting("backtest_max_baskets", None, config))}


def backtest_split(b: Baskets, train_idx: np.ndarray, test_idx: np.ndarray, *, params, top_k: int = 3,
                   resamples: int = 200, confidence: float = 0.95, max_baskets: int = 0, seed: int = 0,
                   days: float | None = None) -> RulesBacktest:
    """The backtest with the baskets ``train_idx`` of ``b`` before the cutoff and ``test_idx`` after (each a
    seeded sample of ``max_baskets`` when more; 0: all).  ``params``: the mining parameters
    (:class:`shopseg.basket._tables._Params`)."""
    from ._mine import build_rules, select_rules

    out = RulesBacktest(False, top_k=top_k, confidence_needed=confidence, resamples=resamples,
                        train_baskets=len(train_idx), test_baskets=len(test_idx))
    if not len(train_idx) or not len(test_idx):
        out.why_not = (f"{len(train_idx):,} baskets before the cutoff and {len(test_idx):,} after: "
                       "the rules need both to be tried")
        return out
    rng = np.random.default_rng(seed)
    train_idx, out.train_sample = _sample(train_idx, max_baskets, rng)
    test_idx, out.test_sample = _sample(test_idx, max_baskets, rng)
    train, test = subset(b, train_idx), subset(b, test_idx)
    try:
        its = params.itemsets(train)
    except ShopsegError as e:
        out.why_not = f"the baskets before the cutoff could not be mined ({e.message.splitlines()[0]})"
        return out
    rules = build_rules(its)
    idx = select_rules(rules, min_confidence=params.min_confidence, min_lift=params.min_lift,
                       prune_redundant=params.prune_redundant)
    out.rules = len(idx)
    if not len(idx):
        out.why_not = "no rule passes the thresholds on the baskets before the cutoff"
        return out
    pad = its.pad
    m = {k: v[idx] for k, v in rules.metrics.items()}
    ante = its.sets[rules.ante[idx]]
    cons = rules.consequent[idx].astype(np.int64)
    _oot_confidence(out, rules, idx, its, test, m)
    per = hits_all_but_one(test, ante, cons, m["confidence"], m["lift"], m["support"],
                           np.bincount(train.codes, minlength=pad), pad=pad, top_k=top_k)
    covered = per["covered"]
    out.cases, out.covered = int(per["cases"].sum()), int(covered.sum())
    out.covered_baskets = int((covered > 0).sum())
    out.popularity_hit_rate_all = float(per["pop_hits_all"].sum() / max(out.cases, 1))
    if out.covered_baskets < MIN_TEST_BASKETS:
        out.why_not = (f"the rules of the cutoff suggest anything in only {out.covered_baskets} of the "
                       f"{len(test_idx):,} baskets after it (need {MIN_TEST_BASKETS})")
        return out
    keep = covered > 0
    out.testable = True
    out.rules_hit_rate = float(per["rule_hits"].sum() / out.covered)
    out.popularity_hit_rate = float(per["pop_hits"].sum() / out.covered)
    out.win_share = paired_win_share(per["rule_hits"][keep], per["pop_hits"][keep], covered[keep], resamples, seed)
    out.candidate = "rules" if out.win_share >= confidence else "baseline"
    return out


def _oot_confidence(out: RulesBacktest, rules, idx, its, test: Baskets, m: dict) -> None:
    """Each cutoff rule's confidence and lift on the test baskets; the means weighted by antecedent baskets."""
    from ._count import count_itemsets

    full = count_itemsets(test, its.sets[rules.itemset[idx]], its.pad).astype(float)
    ante = count_itemsets(test, its.sets[rules.ante[idx]], its.pad).astype(float)
    cons_n = np.bincount(test.codes, minlength=its.pad + 1)[rules.consequent[idx]].astype(float)
    seen = ante > 0
    out.rules_seen = int(seen.sum())
    a_in = rules.ante_count[idx].astype(float)
    out.confidence_in = float((m["confidence"] * a_in).sum() / a_in.sum())
    if seen.any():
        out.confidence_out = float(full[seen].sum() / ante[seen].sum())
    # the first rules in select_rules' order (lift, confidence, support), each with its figures after the cutoff
    top = np.arange(min(HELD_OUT_RULES, len(idx)))
    names = its.baskets.item_names
    a_rows = its.sets[rules.ante[idx[top]]]
    with np.errstate(divide="ignore", invalid="ignore"):
        conf_out = np.where(ante[top] > 0, full[top] / ante[top], np.nan)
        lift_out = np.where(cons_n[top] > 0, conf_out / (cons_n[top] / test.n_baskets), np.nan)

    def num(v):
        return [None if not np.isfinite(x) else round(float(x), 4) for x in v]

    out.held_out_rules = [
        {"if_bought": " + ".join(str(x) for x in names[r[r != its.pad]]), "then_buys": str(c),
         "confidence_in": ci, "lift_in": li, "confidence_out": co, "lift_out": lo, "antecedent_baskets_out": n}
        for r, c, ci, li, co, lo, n in zip(a_rows, names[rules.consequent[idx[top]]], num(m["confidence"][top]),
                                           num(m["lift"][top]), num(conf_out), num(lift_out),
                                           ante[top].astype(np.int64).tolist())]
    out.top_rule = out.held_out_rules[0] if out.held_out_rules else {}


def paired_win_share(rule_hits: np.ndarray, pop_hits: np.ndarray, cases: np.ndarray, resamples: int,
                     seed: int) -> float:
    """Share of the bootstrap resamples of baskets (:func:`shopseg.predict._clv_backtest.resample_weights`, the
    sample itself left out) where the rules' hit rate is above popularity's on the same baskets."""
    from ..predict._clv_backtest import RESAMPLE_BLOCK, resample_weights

    if resamples < 1:
        return float(rule_hits.sum() > pop_hits.sum())
    w = resample_weights(len(cases), int(resamples), seed)[1:]
    y = np.column_stack([rule_hits, pop_hits, cases]).astype(float)
    wins = 0
    for lo in range(0, len(w), RESAMPLE_BLOCK):
        s = w[lo:lo + RESAMPLE_BLOCK].astype(float) @ y  # block x (rule hits, pop hits, cases)
        wins += int((s[:, 0] > s[:, 1]).sum())  # the same cases: rates compare as their hits
    return wins / len(w)


# -- all but one ------------------------------------------------------------------------------------

def _rank_keys(conf, lift, supp, cons, n_codes: int) -> np.ndarray:
    """One int64 per rule, smaller = suggested first: the dense rank of (confidence, lift, support), descending,
    then the consequent's code (item ids sort as codes): :func:`shopseg.basket.cross_sell`'s order."""
    order = np.lexsort((-supp, -lift, -conf))
    trip = np.column_stack([conf, lift, supp])[order]
    new = np.r_[True, (trip[1:] != trip[:-1]).any(axis=1)] if len(trip) else np.zeros(0, bool)
    q = np.empty(len(conf), np.int64)
    q[order] = np.cumsum(new) - 1
    return q * n_codes + cons


def _first_of_groups(g: np.ndarray, key: np.ndarray, span: int):
    """(order sorting by (g, key), start of each group in it, the groups' values); ``key`` < ``span``.  One int64
    sort key ``g * span + key`` when it fits (a third of two-key lexsort's time), else the lexsort."""
    if not len(g) or int(g.max()) < (2**62) // span:
        order = np.argsort(g * span + key, kind="stable")
    else:  # pragma: no cover - a catalogue and rule set too large for one key
        order = np.lexsort((key, g))
    gs = g[order]
    start = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]]) if len(gs) else np.zeros(0, np.int64)
    return order, start, gs[start]


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, want: np.ndarray, missing) -> np.ndarray:
    """``values`` at ``want`` in ``sorted_keys`` (unique, ascending); ``missing`` where absent."""
    out = np.full(len(want), missing, dtype=values.dtype)
    if not len(sorted_keys):
        return out
    pos = np.minimum(np.searchsorted(sorted_keys, want), len(sorted_keys) - 1)
    ok = sorted_keys[pos] == want
    out[ok] = values[pos[ok]]
    return out


def hits_all_but_one(test: Baskets, ante: np.ndarray, cons: np.ndarray, conf, lift, supp, train_counts,
                     *, pad: int, top_k: int) -> dict[str, np.ndarray]:
    """Per test basket: its cases (items), the cases the rules suggest anything for (``covered``), the rules' hits
    among them, popularity's hits among them (``pop_hits``) and over every case (``pop_hits_all``).

    ``ante``: the rules' antecedents as code rows padded with ``pad``; ``cons`` their consequents; ``conf``,
    ``lift``, ``supp`` their figures; ``train_counts``: baskets before the cutoff holding each code.
    """
    from scipy import sparse

    n, P = test.n_baskets, pad + 1
    lens = (ante != pad).sum(axis=1)
    A = sparse.csr_matrix((np.ones(int(lens.sum())), ante[ante != pad],
                           np.r_[0, np.cumsum(lens)]), shape=(len(cons), P)).T.tocsr()
    key = _rank_keys(np.asarray(conf, float), np.asarray(lift, float), np.asarray(supp, float), cons, P)
    INF = int(key.max(initial=0)) + 1
    # popularity: rank of each code among the items of the baskets before the cutoff (most first; none: never)
    tc = np.zeros(P, np.int64)
    tc[:len(train_counts)] = train_counts[:P]
    prank = np.full(P, np.iinfo(np.int64).max // 4, np.int64)
    pop_order = np.lexsort((np.arange(P), -tc))
    prank[pop_order] = np.arange(P)
    prank[tc == 0] = np.iinfo(np.int64).max // 4
    out = {k: np.zeros(n, np.int64) for k in ("cases", "covered", "rule_hits", "pop_hits", "pop_hits_all")}
    sizes = test.sizes()
    out["cases"][:] = sizes
    bounds = np.searchsorted(test.offsets, np.arange(0, test.offsets[-1], CHUNK_CASES), side="right") - 1
    bounds = np.unique(np.r_[bounds, n])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi <= lo:
            continue
        a, z = int(test.offsets[lo]), int(test.offsets[hi])
        codes = test.codes[a:z].astype(np.int64)
        offs = test.offsets[lo:hi + 1] - a
        nb = hi - lo
        bof = np.repeat(np.arange(nb, dtype=np.int64), np.diff(offs))
        cases_key = bof * P + codes  # ascending: baskets in order, codes sorted within one
        # popularity: the held-out item's rank among the items not in the rest (the rest's more popular ones skipped)
        r = prank[codes]
        o = np.lexsort((r, bof))
        within = np.empty(len(codes), np.int64)
        within[o] = np.arange(len(codes)) - np.repeat(offs[:-1], np.diff(offs))
        pop_hit = (tc[codes] > 0) & (r - within < top_k)
        # the rules whose whole antecedent is in the basket
        X = sparse.csr_matrix((np.ones(len(codes)), codes, offs), shape=(nb, P))
        M = (X @ A).tocoo()
        full = M.data == lens[M.col]
        pb, pr = M.row[full].astype(np.int64), M.col[full].astype(np.int64)
        ck = pb * P + cons[pr]
        own = _lookup(cases_key, np.ones(len(cases_key), bool), ck, False)
        # targets: the held-out item c is suggested by the basket's rules with consequent c (their antecedents lack c)
        o_, st, g = _first_of_groups(ck[own], key[pr[own]], INF + 1)
        target = _lookup(g, key[pr[own]][o_][st], cases_key, INF)
        # competitors: consequents not in the basket; per (basket, consequent) the best rule r1 and, for each item j
        # of r1's antecedent, the best of its other rules without j (the held-out item j switches r1 off)
        nb_, nr_ = pb[~own], pr[~own]
        o2, st2, g2 = _first_of_groups(ck[~own], key[nr_], INF + 1)
        nr_s, nb_s = nr_[o2], nb_[o2]
        glen = np.diff(np.r_[st2, len(o2)])
        r1 = nr_s[st2]
        best1 = key[r1]
        gb = nb_s[st2]  # basket of each group
        E = ante[r1]
        e_has = E != pad
        e_g = np.repeat(np.arange(len(r1)), e_has.sum(axis=1))
        e_j = E[e_has].astype(np.int64)
        # every rule of the group against each exception item
        rep = glen[e_g]
        x_e = np.repeat(np.arange(len(e_g)), rep)
        x_r = nr_s[np.repeat(st2[e_g], rep) + (np.arange(int(rep.sum())) - np.repeat(np.cumsum(rep) - rep, rep))]
        lacks = ~(ante[x_r] == e_j[x_e][:, None]).any(axis=1)
        eff = np.full(len(e_g), INF, np.int64)
        if len(x_e):
            np.minimum.at(eff, x_e[lacks], key[x_r[lacks]])
        # per case: competitors ahead of the target (K = target) and any competitor at all (K = INF)
        S = np.sort(gb * (INF + 1) + best1)
        lo_ = np.searchsorted(S, bof * (INF + 1))
        ahead = np.searchsorted(S, bof * (INF + 1) + target) - lo_
        anyc = np.searchsorted(S, bof * (INF + 1) + INF) - lo_
        e_case = np.searchsorted(cases_key, gb[e_g] * P + e_j)  # j is in the basket (an antecedent item)
        t_e = target[e_case]
        np.add.at(ahead, e_case, (eff < t_e).astype(np.int64) - (best1[e_g] < t_e))
        np.add.at(anyc, e_case, (eff < INF).astype(np.int64) - 1)
        covered = (target < INF) | (anyc > 0)
        hit = (target < INF) & (ahead < top_k)
        for name, v in (("covered", covered), ("rule_hits", hit), ("pop_hits", pop_hit & covered),
                        ("pop_hits_all", pop_hit)):
            out[name][lo:hi] = np.bincount(bof, v, minlength=nb).astype(np.int64)
    return out
