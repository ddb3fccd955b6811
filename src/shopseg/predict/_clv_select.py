"""The clv stage's choice: fit the candidates, backtest them against the baseline, compose the ``clv`` rows.

See :mod:`shopseg.predict._clv_backtest` for the method.  Users call
:func:`shopseg.predict.clv.clv_table`.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd

from ..errors import ShopsegError
from . import _clv_backtest as B
from ._clv_base import TIME_UNITS
from ._clv_value import GammaGamma

PRED_WORDS = {"p_alive": "P(alive)", "expected_purchases": "expected purchases", "clv": "CLV"}
# the level check's words per prediction: the baseline's short name, what its level is called
LEVEL_WORDS_BY = {"p_alive": ("recency baseline", "calibration"), "expected_purchases": ("frequency baseline", "level"),
                  "clv": ("spend baseline", "money")}


@dataclass
class Candidate:
    """A transaction model fitted at as_of (``tm``) and on the window's calibration summary (``tm_c``)."""

    name: str
    tm: object | None = None
    tm_c: object | None = None
    problem: str | None = None  # why it is not usable


@dataclass
class Choice:
    """What one prediction uses and why (one row of ``model_decisions``)."""

    prediction: str
    candidate: str  # a model name or "baseline"
    metric: str | None
    model_value: float | None
    baseline_value: float | None
    decision: str
    tried: list = field(default_factory=list)


def _value_model(summary: pd.DataFrame, spend: np.ndarray, penalizer: float, time_unit: str):
    """(expected value per purchase per customer, name, the Gamma-Gamma model or None, why not, the fill): Gamma-Gamma,
    or each customer's mean spend per purchase day when Gamma-Gamma cannot be fitted or is degenerate (the shop's
    mean of the positive ones, ``fill``, for the others)."""
    f, m = summary["frequency"].to_numpy(float), summary["monetary_value"].to_numpy(float)
    rep = (f > 0) & (m > 0)
    problem = None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            vm = GammaGamma(penalizer_coef=penalizer, time_unit=time_unit).fit(f[rep], m[rep])
            value = gamma_gamma_value(vm, f, m)
        problem = B.degenerate(vm, value)
        if problem is None:
            return value, "gammagamma", vm, None, 0.0
    except ShopsegError as e:
        problem = e.message
    mean = np.asarray(spend, float) / (f + 1)
    pos = mean[mean > 0]
    fill = float(pos.mean()) if len(pos) else 0.0
    return value_of_mean(mean, fill), "meanspend", None, f"Gamma-Gamma not used ({problem})", fill


def beats_on_level(rank: B.Comparison, money: B.Comparison, confidence: float) -> bool:
    """Whether a candidate replaces the baseline, from its ranking backtest (``rank``: ROC-AUC, normalised Gini)
    and its level check (``money``: :func:`~shopseg.predict._clv_backtest.compare_level`, the Poisson deviance of
    the spend or purchase days, the Brier score of P(a purchase in the window), against the baseline's
    out-of-sample prediction): not worse on either (the baseline is not better in ``confidence`` of the
    resamples) and better on one (in ``confidence`` of them).  So a ranking won with a level that is off (CLV's
    money, a count off by a factor, a miscalibrated probability) is not taken, and a ranking as good as the
    baseline's with a level closer to what happened is.

    >>> from shopseg.predict._clv_backtest import Comparison
    >>> tie = Comparison("gini_normalised", 0.8, 0.8, 0.0, {"lose_share": 0.0})
    >>> closer = Comparison("poisson_deviance", 1.8, 13.2, 1.0, {"lose_share": 0.0})
    >>> beats_on_level(tie, closer, 0.95), beats_on_level(closer, Comparison("poisson_deviance", 9.0, 2.0, 0.0,
    ...                                                   {"lose_share": 1.0}), 0.95)
    (True, False)
    """
    return (rank.beats(confidence) and money.not_worse(confidence)) or \
        (rank.not_worse(confidence) and money.beats(confidence))


def not_worse_words(rank: B.Comparison, level: B.Comparison, confidence: float, level_word: str) -> str:
    """The decision's words for the figure a candidate did not beat the baseline on (:func:`beats_on_level`):
    "not worse" means the baseline is not better in ``confidence`` of the resamples, so where the baseline is the
    better in most of them the words say it is within chance, not that the candidate's figure is as good (the
    200-customer Online Retail cut: repeat's ROC-AUC 0.731 vs the baseline's 0.755 was "not worse").

    >>> from shopseg.predict._clv_backtest import Comparison
    >>> won = Comparison("poisson_deviance", 2.0, 4.0, 1.0, {"lose_share": 0.0})
    >>> not_worse_words(Comparison("roc_auc", 0.731, 0.755, 0.28, {"lose_share": 0.72}), won, 0.95, "level")
    ' and is not worse on the other beyond chance (the baseline better on ranking in 72% of resamples, short of 95%)'
    >>> not_worse_words(Comparison("roc_auc", 0.76, 0.755, 0.6, {"lose_share": 0.4}), won, 0.95, "level")
    ' and is not worse on the other'
    """
    other, word = (level, level_word) if rank.beats(confidence) else (rank, "ranking")
    lose = other.extra.get("lose_share", 1.0 - (other.win_share or 0.0))
    return " and is not worse on the other" + (
        f" beyond chance (the baseline better on {word} in {lose:.0%} of resamples, short of {confidence:.0%})"
        if lose >= 0.5 else "")


def gamma_gamma_value(vm, f: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Gamma-Gamma's expected value per purchase of customers with ``f`` repeat purchase days at mean spend ``m``
    (a customer without a positive mean: the model's prior mean)."""
    return np.atleast_1d(vm.conditional_expected_average_profit(np.where(m > 0, f, 0.0), np.where(m > 0, m, 0.0)))


def value_of_mean(mean: np.ndarray, fill: float) -> np.ndarray:
    """Mean spend per purchase day as the value per purchase; ``fill`` (the shop's mean) where it is not positive."""
    return np.where(mean > 0, mean, fill)


def customer_sample(cal: pd.DataFrame, max_customers: int, seed: int) -> tuple[pd.DataFrame, str | None]:
    """(the validation window's rows, or a seeded random sample of ``max_customers`` of them kept in their
    order when there are more; a note saying so, else None): a large shop's candidates are fitted and
    backtested on the sample (``clv.max_customers``, docs/scale.md); every customer is still scored.

    >>> cal = pd.DataFrame({"customer_id": list("abcde")})
    >>> customer_sample(cal, 3, 0)[0]["customer_id"].tolist(), customer_sample(cal, 0, 0)[1]
    (['c', 'd', 'e'], None)
    """
    n = len(cal)
    if not max_customers or n <= max_customers:
        return cal, None
    keep = np.sort(np.random.default_rng(seed).choice(n, int(max_customers), replace=False))
    return (cal.iloc[keep].reset_index(drop=True),
            f"the validation window's candidates fitted and backtested on a seeded sample of {int(max_customers):,} "
            f"of its {n:,} buyers (clv.max_customers)")


def window_days(con, ts: pd.Timestamp, backtest_days: float) -> tuple[float, int]:
    """(days W of the validation window before ``ts``: ``backtest_days``, at most half the history; the history's
    span in days).  The repeat model's and the calibrated baseline's P(alive) is P(a sale order in the next W
    days)."""
    first = con.execute("SELECT min(ordered_at) FROM orders WHERE kind = 'sale' AND customer_id IS NOT NULL "
                        "AND ordered_at <= ?", [ts.to_pydatetime()]).fetchall()[0][0]
    span = (ts - pd.Timestamp(first)).days if first is not None else 0
    return float(min(backtest_days, span // 2)), span


def _fit(name: str, summary: pd.DataFrame, penalizer: float, time_unit: str):
    from .clv import TRANSACTION_MODELS

    f, r, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    # a fit running off to its bounds warns from scipy on the way: what it means is said by degenerate()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        tm = TRANSACTION_MODELS[name](penalizer_coef=penalizer, time_unit=time_unit).fit(f, r, T)
        pa = tm.conditional_probability_alive(f, r, T)
        ep = tm.expected_purchases(90.0 / TIME_UNITS[time_unit], f, r, T)
    problem = B.degenerate(tm, pa, ep)
    if problem:
        raise B.CandidateError(f"{name}: {problem}")
    return tm


def choose_and_score(ws, as_of, summary: pd.DataFrame, c: dict, *, seed: int = 0, values: str | None = None):
    """(the ``clv`` rows, [Choice per prediction], the :class:`~shopseg.predict._clv_scorer.ClvScorer` that gave
    the rows (the chosen candidates' fitted state: what the run stores), notes).  ``values``: a
    :func:`~shopseg.predict.clv.order_values` table up to ``as_of``, which every summary and window here reads
    instead of the order lines."""
    from .clv import CHAIN, _con, _timestamp, summary_from_orders

    con = _con(ws)
    unit = c["time_unit"]
    days = TIME_UNITS[unit]
    ts = _timestamp(as_of)
    spend = B.spend_totals(con, ts.to_pydatetime(), values).set_index("customer_id")["spend_before"]
    spend_now = spend.reindex(summary["customer_id"]).fillna(0.0).to_numpy(float)
    _, value_name, vm_now, value_note, mean_fill = _value_model(summary, spend_now, c["value_penalizer_coef"], unit)

    # -- the validation window ----------------------------------------------------------------------
    W, span = window_days(con, ts, c["backtest_days"])
    window = None
    why_no_window = None
    level = None  # the baseline's factors to the window's level, when the window cannot rank (window_level)
    sample_note = None
    if W >= 7:
        cut = ts - timedelta(days=W)
        cal = summary_from_orders(ws, cut - timedelta(microseconds=1), time_unit=unit, values=values)
        out = B.window_outcomes(con, cut.to_pydatetime(), ts.to_pydatetime(), values)
        cal = cal.merge(out, on="customer_id", how="left").fillna({"days_after": 0.0, "spend_after": 0.0,
                                                                   "spend_before": 0.0})
        cal, sample_note = customer_sample(cal, int(c.get("max_customers") or 0), seed)
        active = (cal["days_after"].to_numpy() > 0).astype(int)
        n1 = int(active.sum())
        if len(cal) >= B.MIN_WINDOW_CUSTOMERS and min(n1, len(cal) - n1) >= B.MIN_CLASS:
            window = {"cut": cut, "cal": cal, "y": active, "W": W,
                      "weights": B.resample_weights(len(cal), int(c["backtest_resamples"]), seed),
                      "base": B.baseline_scores(cal, cal["spend_before"].to_numpy(float), W, days)}
        else:
            why_no_window = (f"the {W:g}-day validation window before as_of has {len(cal)} earlier buyers, "
                             f"{n1} of whom bought in it (need {B.MIN_WINDOW_CUSTOMERS} buyers and "
                             f"{B.MIN_CLASS} of each outcome)")
            if len(cal) >= B.MIN_WINDOW_CUSTOMERS:
                # too few of one outcome to rank anything, enough buyers to say the level: what share bought
                level = window_level(cal, W, days)
    else:
        why_no_window = f"the history ({span} days) is too short for a validation window"

    # -- candidates, fitted lazily ---------------------------------------------------------------------
    chain = list(dict.fromkeys([c["model"], *CHAIN, "repeat"]))
    cands: dict[str, Candidate] = {}

    @functools.cache
    def pairs(cut_from, cut_to):
        """(summary at cut_from, features, outcomes in [cut_from, cut_to]) for the repeat model and the baseline's
        money check; computed once per window."""
        sm = summary_from_orders(ws, cut_from - timedelta(microseconds=1), time_unit=unit, values=values)
        o = B.window_outcomes(con, cut_from.to_pydatetime(), cut_to.to_pydatetime(), values)
        sm = sm.merge(o, on="customer_id", how="left").fillna({"days_after": 0.0, "spend_after": 0.0,
                                                               "spend_before": 0.0})
        if sample_note:  # the window's customer sample, as they were a window earlier
            sm = sm[sm["customer_id"].isin(window["cal"]["customer_id"])].reset_index(drop=True)
        X = B.repeat_features(sm, sm["spend_before"].to_numpy(float), days)
        return sm, X

    def fit_repeat(cd: Candidate) -> None:
        if window is None:
            raise B.CandidateError("repeat: needs a validation window")
        if span < 2 * W + 7:
            raise B.CandidateError(f"repeat: needs {2 * W + 7:g} days of history to learn from a window before "
                                   f"the validation window; the shop has {span}")
        W_ = window["W"]
        cut = window["cut"]
        before, Xb = pairs(cut - timedelta(days=W_), cut)
        if len(before) < B.MIN_WINDOW_CUSTOMERS or (before["days_after"] > 0).sum() < B.MIN_CLASS:
            raise B.CandidateError(f"repeat: too few buyers ({len(before)}) before the earlier window")

        def fit_on(sm, X):
            return B.RepeatModel(W_, random_state=seed).fit(X, (sm["days_after"] > 0).to_numpy(int),
                                                           sm["days_after"].to_numpy(float),
                                                           sm["spend_after"].to_numpy(float))

        cd.tm_c = fit_on(before, Xb)  # learned on the window before, scored on the validation window
        cal = window["cal"]
        cd.tm = fit_on(cal, B.repeat_features(cal, cal["spend_before"].to_numpy(float), days))  # used at as_of

    def get(name: str) -> Candidate:
        if name in cands:
            return cands[name]
        cd = Candidate(name)
        if name == "repeat":
            try:
                fit_repeat(cd)
            except ShopsegError as e:
                cd.problem = e.message
            cands[name] = cd
            return cd
        try:
            cd.tm = _fit(name, summary, c["penalizer_coef"], unit)
            if window is not None:
                cd.tm_c = _fit(name, window["cal"], c["penalizer_coef"], unit)
        except ShopsegError as e:
            cd.problem = e.message.split("\n")[0]
        cands[name] = cd
        return cd

    # the candidates' window predictions (times in model units)
    def window_pred(cd: Candidate, pred: str) -> np.ndarray:
        cal = window["cal"]
        if cd.name == "repeat":
            X = B.repeat_features(cal, cal["spend_before"].to_numpy(float), days)
            return cd.tm_c.predict(X, {"p_alive": "bought", "expected_purchases": "days", "clv": "spend"}[pred])
        f, r, T = (cal[k].to_numpy(float) for k in ("frequency", "recency", "T"))
        with np.errstate(all="ignore"):
            if pred == "p_alive":
                return np.asarray(cd.tm_c.conditional_probability_alive(f, r, T), float)
            ep = np.asarray(cd.tm_c.expected_purchases(window["W"] / days, f, r, T), float)
            if pred == "expected_purchases":
                return ep
            val, *_ = _value_model(cal, cal["spend_before"].to_numpy(float), c["value_penalizer_coef"], unit)
            return ep * val

    def level_pred(cd: Candidate, pred: str, score: np.ndarray) -> np.ndarray:
        """What the level check scores (the window's prediction ``score`` itself, except a transaction model's
        P(alive), which is the probability of being alive: its probability of a purchase in the window)."""
        if pred != "p_alive" or cd.name == "repeat":
            return score
        cal = window["cal"]
        f, r, T = (cal[k].to_numpy(float) for k in ("frequency", "recency", "T"))
        with np.errstate(all="ignore"):
            return np.asarray(cd.tm_c.conditional_probability_of_purchase(window["W"] / days, f, r, T), float)

    def outcome(frame: pd.DataFrame, pred: str) -> np.ndarray:
        """A window's outcome of ``pred``: bought (0/1), purchase days, spend."""
        days_after = frame["days_after"].to_numpy(float)
        return {"p_alive": (days_after > 0).astype(float), "expected_purchases": days_after,
                "clv": frame["spend_after"].to_numpy(float)}[pred]

    @functools.cache
    def level_baseline(pred: str = "clv"):
        """(the baseline's prediction of ``pred`` on the validation window out of sample, None) or (None, why not):
        its isotonic map learned on the window before the validation window (scores at that window's start ->
        bought, purchase days, spend in it), applied to the validation window's scores, as the repeat model is
        tested; computed once per prediction."""
        from ._clv_scorer import isotonic_predict, isotonic_steps

        W_, cut = window["W"], window["cut"]
        if span < 2 * W_ + 7:
            return None, (f"needs {2 * W_ + 7:g} days of history to learn the baseline's level on a window before "
                          f"the validation window; the shop has {span}")
        before, _ = pairs(cut - timedelta(days=W_), cut)
        got = outcome(before, pred)
        if len(before) < B.MIN_WINDOW_CUSTOMERS:
            return None, (f"the window before the validation window has {len(before)} earlier buyers (need "
                          f"{B.MIN_WINDOW_CUSTOMERS})")
        if not got.sum() > 0:
            return None, (f"nobody {'spent' if pred == 'clv' else 'bought'} in the window before the validation "
                          "window")
        steps = isotonic_steps(B.baseline_scores(before, before["spend_before"].to_numpy(float), W_, days)[pred],
                               got)
        return isotonic_predict(steps, window["base"][pred]), None

    def level_words(m, pred: str) -> str:
        """A level check's figures, for the decision sentences."""
        x = m.extra
        dec = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        cal = (f"decile calibration {dec(x['model_deciles'])} vs {dec(x['baseline_deciles'])}")
        if pred == "p_alive":
            n = max(x["n"], 1)
            return (f"Brier score of \"bought in the window\" {m.model:.4g} vs the baseline's {m.baseline:.4g} out "
                    f"of sample, better in {m.win_share:.0%} of resamples (mean probability {x['model_total'] / n:.3f}"
                    f" vs {x['baseline_total'] / n:.3f}, share who bought {x['actual_total'] / n:.3f}; {cal})")
        what, f = ("spend", ",.0f") if pred == "clv" else ("purchase days", ",.1f")
        return (f"Poisson deviance of the window's {what} {m.model:.4g} vs the baseline's {m.baseline:.4g} out of "
                f"sample, better in {m.win_share:.0%} of resamples ({what} predicted {x['model_total']:{f}} vs "
                f"{x['baseline_total']:{f}}, actual {x['actual_total']:,.0f}; {cal})")

    conf = float(c["backtest_confidence"])
    choices: list[Choice] = []
    for pred in B.PREDICTIONS:
        metric = B.METRICS[pred]
        tried = []
        best = None
        chosen = None
        for name in chain:
            cd = get(name)
            if cd.problem:
                tried.append(f"{name} degenerate or failed ({cd.problem})")
                continue
            if window is None:
                if level is not None:  # a model the window cannot test is not used when it can say the level
                    tried.append(f"{name} fitted, not testable")
                    continue
                chosen = Choice(pred, name, None, None, None,
                                f"{name} used untested: {why_no_window}", tried)
                break
            y = window["y"] if metric == "roc_auc" else window["cal"]["spend_after"].to_numpy(float)
            score = window_pred(cd, pred)
            if not np.all(np.isfinite(score)):
                tried.append(f"{name} gave non-finite predictions on the window")
                continue
            cmp = B.compare(metric, y, score, window["base"][pred], window["weights"])
            if best is None or (cmp.model or -1) > (best[1].model or -1):
                best = (name, cmp)
            # ranking and level both checked (level_baseline: the baseline's level out of sample)
            money, why_money = level_baseline(pred)
            mcmp = B.compare_level(outcome(window["cal"], pred), level_pred(cd, pred, score), money,
                                   window["weights"], B.LEVEL_SCORES[pred]) if money is not None else None
            ranks = (f"{name} {metric} {cmp.model:.3f} vs the {B.BASELINE_NAMES[pred]} {cmp.baseline:.3f}, "
                     f"better in {cmp.win_share:.0%} of {int(c['backtest_resamples'])} resamples of the "
                     f"{window['W']:g}-day validation window") if cmp.win_share is not None else None
            if mcmp is not None and mcmp.win_share is not None and ranks is not None:
                bshort, lword = LEVEL_WORDS_BY[pred]
                if beats_on_level(cmp, mcmp, conf):
                    won = " and ".join(w for w, x in (("ranking", cmp), (lword, mcmp)) if x.beats(conf))
                    chosen = Choice(pred, name, metric, cmp.model, cmp.baseline,
                                    f"{name} used: it beats the {bshort} on {won}"
                                    f"{'' if ' and ' in won else not_worse_words(cmp, mcmp, conf, lword)}: "
                                    f"{ranks}; {level_words(mcmp, pred)}"
                                    + (f" (before it: {'; '.join(tried)})" if tried else ""), tried)
                    break
                tried.append(f"{name}: {ranks}; {level_words(mcmp, pred)}")
                continue
            if cmp.beats(conf):
                chosen = Choice(pred, name, metric, cmp.model, cmp.baseline,
                                f"{name} {metric} {cmp.model:.3f} beats the {B.BASELINE_NAMES[pred]} "
                                f"{cmp.baseline:.3f} in {cmp.win_share:.0%} of {int(c['backtest_resamples'])} "
                                f"resamples of the {window['W']:g}-day validation window"
                                + (f" ({LEVEL_WORDS_BY[pred][1]} not checked: {why_money})" if why_money else "")
                                + (f" (before it: {'; '.join(tried)})" if tried else ""), tried)
                break
            fig = "n/a" if cmp.model is None else f"{cmp.model:.3f}"
            bfig = "n/a" if cmp.baseline is None else f"{cmp.baseline:.3f}"
            share = "n/a" if cmp.win_share is None else f"{cmp.win_share:.0%}"
            tried.append(f"{name} {metric} {fig} vs baseline {bfig} (wins {share} of resamples)")
        if chosen is None:
            bname = B.BASELINE_NAMES[pred]
            if window is None and level is not None:
                chosen = Choice(pred, "baseline", None, None, None,
                                f"{bname}, scaled to the level of the {W:g}-day validation window "
                                f"({level['bought']} of {level['buyers']} earlier buyers bought in it; "
                                f"{LEVEL_WORDS[pred]} x {level[pred]:.3g}): too few of one outcome to backtest a "
                                f"candidate (need {B.MIN_CLASS} of each), and none is used untested "
                                f"({'; '.join(tried)})", tried)
            elif window is None:
                chosen = Choice(pred, "baseline", None, None, None,
                                f"{bname}, uncalibrated: no candidate usable ({'; '.join(tried)}) and "
                                f"{why_no_window}", tried)
            else:
                bc = best[1].baseline if best else None
                if bc is None:
                    y = window["y"] if metric == "roc_auc" else window["cal"]["spend_after"].to_numpy(float)
                    fn = B.auc_resampled if metric == "roc_auc" else B.gini_resampled
                    v = fn(y, window["base"][pred], window["weights"][:1])[0]
                    bc = float(v) if np.isfinite(v) else None
                how = (f"no candidate beats it in {conf:.0%} of resamples (best: {best[0]} {best[1].model:.3f} "
                       f"vs {bc:.3f})" if best and best[1].model is not None and bc is not None
                       else "no candidate could be used")
                how += "; " + "; ".join(tried) if tried else ""
                money, why_money = level_baseline(pred)
                if money is not None:
                    actual = outcome(window["cal"], pred)
                    gap = B.decile_calibration(money, actual)
                    gap = "n/a" if gap is None else f"{gap:.3f}"
                    if pred == "p_alive":
                        how += (f"; learned on the window before, it predicted a mean probability {money.mean():.3f} "
                                f"where {actual.mean():.3f} of the window's earlier buyers bought (Brier score "
                                f"{B.brier(money, actual).mean():.4g}, decile calibration {gap})")
                    else:
                        what, f = ("spend", ",.0f") if pred == "clv" else ("purchase days", ",.1f")
                        how += (f"; learned on the window before, it predicted {money.sum():{f}} of the window's "
                                f"{actual.sum():,.0f} {what} (Poisson deviance "
                                f"{B.poisson_deviance(money, actual).mean():.4g}, decile calibration {gap})")
                else:
                    how += f"; {LEVEL_WORDS_BY[pred][1]} not checked: {why_money}"
                chosen = Choice(pred, "baseline", metric, best[1].model if best else None, bc,
                                f"{bname} used, calibrated on the {window['W']:g}-day validation window: {how}",
                                tried)
        choices.append(chosen)

    # -- the scorer: the chosen candidates' fitted state, and the rows it gives ---------------------------
    from ._clv_scorer import SETTINGS, ClvScorer, isotonic_steps

    by = {ch.prediction: ch for ch in choices}
    scorer = ClvScorer({p: ch.candidate for p, ch in by.items()}, {k: c[k] for k in SETTINGS}, value_name=value_name,
                       tms={ch.candidate: cands[ch.candidate].tm for ch in choices
                            if ch.candidate not in ("baseline", "repeat")},
                       vm=vm_now if value_name == "gammagamma" else None, mean_fill=mean_fill,
                       repeat=cands["repeat"].tm if "repeat" in cands and any(
                           ch.candidate == "repeat" for ch in choices) else None)
    if any(ch.candidate == "baseline" for ch in choices):
        scorer.gap_days = B.shop_gap(summary, days)
        if level is not None:
            scorer.level = {p: level[p] for p, ch in by.items() if ch.candidate == "baseline"}
        if window is not None:
            scorer.window_days = float(window["W"])
            outcome = {"p_alive": window["y"].astype(float),
                       "expected_purchases": window["cal"]["days_after"].to_numpy(float),
                       "clv": window["cal"]["spend_after"].to_numpy(float)}
            scorer.calibration = {p: isotonic_steps(window["base"][p], outcome[p]) for p, ch in by.items()
                                  if ch.candidate == "baseline"}
    rows = scorer.frame(summary, spend_now, ts)
    notes = []
    if value_note and by["clv"].candidate not in ("baseline", "repeat"):
        notes.append(value_note)
    if sample_note:
        notes.append(sample_note)
    return rows, choices, scorer, notes


def tm_prediction(rows, pred: str, tm, value: np.ndarray, horizon_days: float,
                  discount_rate_annual: float, unit: str) -> None:
    """Set prediction ``pred``'s columns of ``rows`` (frequency, recency, T per customer) from transaction model
    ``tm``: the batch's composition, and the live score's (:func:`shopseg.predict._score.clv_score`, whose
    ``rows`` is a dict of arrays)."""
    from .clv import _month_days

    days, month = TIME_UNITS[unit], _month_days(unit)
    f, r, T = (np.asarray(rows[k], dtype=float) for k in ("frequency", "recency", "T"))
    if pred == "p_alive":
        rows["p_alive"] = np.atleast_1d(tm.conditional_probability_alive(f, r, T))
    elif pred == "expected_purchases":
        rows["expected_purchases_90d"] = tm.expected_purchases(90.0 / days, f, r, T)
        rows["expected_purchases_horizon"] = tm.expected_purchases(horizon_days / days, f, r, T)
    else:
        from ._clv_value import customer_lifetime_value

        monthly_rate = (1 + discount_rate_annual) ** (month / 365.0) - 1
        rows["clv"] = customer_lifetime_value(tm, f, r, T, value, time=horizon_days / month,
                                              discount_rate=monthly_rate, freq=unit)


LEVEL_WORDS = {"p_alive": "exp(-silence x rate)", "expected_purchases": "the purchase rate",
               "clv": "the spend rate"}


def window_level(cal: pd.DataFrame, W: float, unit_days: float) -> dict:
    """The uncalibrated baseline's factors to the level of a validation window too lopsided to rank on
    (``cal``: the window's buyers with ``days_after``, ``spend_after``, ``spend_before``): the heuristics at the
    window's start, scaled so that their mean is the window's (with half a buyer, half a purchase day of prior, so a
    window where nobody bought does not say "never"): P(alive) x (bought + 0.5) / (buyers + 1) / their mean
    exp(-silence x rate); purchases x (purchase days + 0.5) / (buyers + 1) / their mean rate x W; CLV x the
    purchases' factor x the window's spend per purchase day / the heuristic's (1 when nobody bought).

    >>> cal = pd.DataFrame({"frequency": [0.0] * 40, "recency": [0.0] * 40, "T": [100.0] * 40,
    ...                     "days_after": [1.0] + [0.0] * 39, "spend_after": [10.0] + [0.0] * 39,
    ...                     "spend_before": [20.0] * 40})
    >>> lv = window_level(cal, 90.0, 1.0)  # 1 of 40 bought: about 1.5 / 41 instead of exp(-100 / 200) = 0.61
    >>> lv["bought"], lv["buyers"], round(lv["p_alive"] * float(np.exp(-0.5)), 4), round(lv["expected_purchases"], 4)
    (1, 40, 0.0366, 0.0813)
    """
    base = B.baseline_scores(cal, cal["spend_before"].to_numpy(float), 1.0, unit_days)  # rates per day
    days_after = cal["days_after"].to_numpy(float)
    spend_after = cal["spend_after"].to_numpy(float)
    n, bought = len(cal), int((days_after > 0).sum())
    p = np.exp(base["p_alive"] * base["expected_purchases"])
    e, v = base["expected_purchases"] * W, base["clv"] * W
    k_p = (bought + 0.5) / (n + 1) / float(p.mean())
    k_e = (days_after.sum() + 0.5) / (n + 1) / float(e.mean())
    per_day = (spend_after.sum() / days_after.sum()) / (v.sum() / e.sum()) \
        if days_after.sum() > 0 and spend_after.sum() > 0 and v.sum() > 0 else 1.0
    return {"p_alive": float(k_p), "expected_purchases": float(k_e), "clv": float(k_e * per_day),
            "bought": bought, "buyers": n}


def one_sentence(choices: list[Choice]) -> str:
    """The run's one sentence on which CLV predictions came from where."""
    parts = [f"{PRED_WORDS[ch.prediction]} from {ch.candidate if ch.candidate != 'baseline' else 'the baseline'}"
             for ch in choices]
    tested = all(ch.metric is not None for ch in choices)
    level = any("scaled to the level of the" in ch.decision for ch in choices)
    return "; ".join(parts) + (" (backtested against the naive baseline; see model_decisions)" if tested else
                               " (not backtested: the validation window has too few of one outcome; the baseline "
                               "scaled to its level; see model_decisions)" if level else
                               " (not backtested: no validation window; see model_decisions)")
