"""Words for people: a probability that never reads as a certainty it is not, and one status line per customer.

Used by the customer card (``shopseg customer``), the API's and the dashboard's customer view
(:mod:`shopseg.views.customer`); :mod:`shopseg.predict.explain` re-exports them.
"""

from __future__ import annotations

import re

# -- one status line per customer ------------------------------------------------------------------

_GONE = ("silent", "churned")


def percent_words(p: float | None, missing: str = "n/a") -> str:
    """A probability as a whole percentage, with one decimal (or "<0.1%" / ">99.9%") where rounding would print
    0% or 100% for what is neither: Olist's churn of 0.9992 is not "100%", a certainty no model has.

    >>> [percent_words(v) for v in (0.561, 0.9987, 0.99962, 1.0, 0.004, 0.0004, 0.0)]
    ['56%', '99.9%', '>99.9%', '100%', '0.4%', '<0.1%', '0%']
    """
    if p is None or p != p:
        return missing
    p = float(p)
    if 0.0 < p < 1.0 and round(p * 100) in (0, 100):
        return f"{p:.1%}" if 0.0 < round(p * 1000) < 1000 else ("<0.1%" if p < 0.5 else ">99.9%")
    return f"{p:.0%}"


def probability_words(p: float | None, missing: str = "n/a") -> str:
    """A probability to two decimals, "<0.01" / ">0.99" where rounding would print 0.00 or 1.00 for what is
    neither (a one-time buyer's P(alive) of 0.0004 on Olist).

    >>> [probability_words(v) for v in (0.45, 0.0004, 0.996, 0.0, 1.0)]
    ['0.45', '<0.01', '>0.99', '0.00', '1.00']
    """
    if p is None or p != p:
        return missing
    p = float(p)
    if 0.0 < p < 1.0 and round(p * 100) in (0, 100):
        return "<0.01" if p < 0.5 else ">0.99"
    return f"{p:.2f}"


def p_alive_name(days: float | None) -> str:
    """What a P(alive) value is, in words: "P(an order in the next 90 days)" where it comes from a window model
    (the repeat model, the calibrated baseline), "P(alive)" (alive at all) where it comes from a transaction model.

    >>> p_alive_name(90), p_alive_name(None)
    ('P(an order in the next 90 days)', 'P(alive)')
    """
    return f"P(an order in the next {days:g} days)" if days else "P(alive)"


def status_line(lifecycle: str | None, *, churn_probability: float | None = None, churn_tier: str | None = None,
                p_alive: float | None = None, p_alive_source: str | None = None, value_tier: str | None = None,
                value_source: str | None = None, recency_days: float | None = None,
                cluster_name: str | None = None, churn_horizon_days: int | None = None,
                p_alive_days: float | None = None, churn_seen_recency_days: float | None = None) -> str:
    """One sentence on where a customer stands, with its evidence, saying so when the signals disagree.

    The lifecycle stage (calendar rules, docs/segments.md) leads; churn risk (no order in the churn
    horizon), P(alive) (the CLV stage's) and the value tier follow as evidence.  They disagree when the
    calendar says churned while P(alive) >= 0.5 or churn risk is low, or active or new while churn risk is high or
    P(alive) < 0.5 with a churn risk that is not low (a low churn risk and the calendar agree: a P(an order in the
    next 90 days) under 0.5 then is a slower rhythm, not "likely gone").  Silent (longer than the shop's usual gap,
    not past its churn window) with a low churn risk or P(alive) >= 0.5 is no conflict: a quiet customer the models
    expect back, said as such.
    With ``churn_horizon_days`` and ``p_alive_days`` (a P(alive) that is the probability of an order in the next
    W days: the repeat model's or the baseline's) each view states its horizon; the churn stage keeps the second
    at most 1 - the first (docs/churn.md).  ``churn_seen_recency_days``: the longest silence among the churn model's
    training rows; a customer the calendar calls gone, silent longer, with a low churn risk is told that the model
    extrapolates there (its training cutoffs saw nobody that silent), so the calendar is the view to trust.

    >>> status_line("active", churn_probability=0.4, churn_tier="mid", p_alive=0.6, p_alive_source="repeat",
    ...             churn_horizon_days=110, p_alive_days=90)
    'Active: churn risk 40% (mid; no order in the next 110 days); P(an order in the next 90 days) 0.60 (repeat).'

    >>> status_line("churned", churn_probability=0.96, churn_tier="high", p_alive=0.05, value_tier="low",
    ...             recency_days=372)
    'Churned: no order for 372 days; churn risk 96% (high); P(alive) 0.05; value tier low.'
    >>> status_line("churned", churn_probability=0.56, churn_tier="mid", p_alive=0.99, p_alive_source="bgnbd")
    'Churned: churn risk 56% (mid); P(alive) 0.99 (bgnbd). Signals disagree: the calendar says gone, P(alive) says active; trust the calendar and the churn risk, P(alive) is a model of the purchase rhythm.'
    >>> status_line("churned", churn_probability=0.56, churn_tier="mid", p_alive=0.45, p_alive_source="repeat",
    ...             value_tier="high", value_source="baseline")
    'Churned: churn risk 56% (mid); P(alive) 0.45 (repeat); value tier high (CLV from baseline). A high-value customer who has gone quiet (the plan says whether a campaign reaches them).'
    >>> status_line("churned", churn_probability=0.56, churn_tier="mid", cluster_name="frequent recent high spenders (2)")
    "Churned: churn risk 56% (mid). The cluster's name, 'frequent recent high spenders', describes its centre: this customer is not recent."
    >>> status_line("churned", churn_probability=0.39, churn_tier="low", p_alive=0.29, p_alive_source="repeat",
    ...             recency_days=310, churn_horizon_days=116, churn_seen_recency_days=141)
    'Churned: no order for 310 days; churn risk 39% (low; no order in the next 116 days); P(alive) 0.29 (repeat). Signals disagree: the calendar says gone, the churn risk says active; the churn model learned at cutoffs where no buyer had been silent more than 141 days, so for this one (310 days) it extrapolates: trust the calendar.'
    >>> status_line("silent", churn_probability=0.22, churn_tier="low", recency_days=80)
    "Silent: no order for 80 days; churn risk 22% (low). Quiet for longer than the shop's usual gap between orders, yet the churn risk says active: one to watch, not yet gone."
    >>> status_line("churned", p_alive=0.6, p_alive_source="baseline", recency_days=75)
    'Churned: no order for 75 days; P(alive) 0.60 (baseline). Signals disagree: the calendar says gone, P(alive) says active; trust the calendar, P(alive) is a model of the purchase rhythm.'
    >>> status_line("new", churn_probability=0.31, churn_tier="low", p_alive=0.36, p_alive_source="repeat",
    ...             recency_days=21, churn_horizon_days=102, p_alive_days=90)
    'New: no order for 21 days; churn risk 31% (low; no order in the next 102 days); P(an order in the next 90 days) 0.36 (repeat).'
    >>> status_line("prospect")
    'Prospect: no purchase yet.'
    """
    stage = (lifecycle or "unknown").lower()
    if stage == "prospect":
        return "Prospect: no purchase yet."
    ev = []
    if recency_days is not None and recency_days == recency_days:
        ev.append(f"no order for {recency_days:.0f} day{'' if f'{recency_days:.0f}' == '1' else 's'}")
    if churn_probability is not None and churn_probability == churn_probability:
        said = "; ".join(([churn_tier] if churn_tier else [])
                         + ([f"no order in the next {churn_horizon_days:g} days"] if churn_horizon_days else []))
        ev.append(f"churn risk {percent_words(churn_probability)}" + (f" ({said})" if said else ""))
    name = p_alive_name(p_alive_days)
    if p_alive is not None and p_alive == p_alive:
        ev.append(f"{name} {probability_words(p_alive)}" + (f" ({p_alive_source})" if p_alive_source else ""))
    if value_tier:
        ev.append(f"value tier {value_tier}" + (f" (CLV from {value_source})" if value_source else ""))
    out = f"{stage.capitalize()}: " + ("; ".join(ev) if ev else "no prediction for this customer") + "."
    alive_says = None if p_alive is None or p_alive != p_alive else p_alive >= 0.5
    risk_low = churn_tier == "low"
    risk_high = churn_tier == "high"
    beyond = (risk_low and churn_seen_recency_days is not None and recency_days is not None
              and recency_days == recency_days and recency_days > churn_seen_recency_days)
    if stage == "silent" and (alive_says or risk_low):  # past the usual gap, not past the churn window: no conflict
        who = name if alive_says else "the churn risk"
        out += (f" Quiet for longer than the shop's usual gap between orders, yet {who} says active: one to watch, "
                "not yet gone" + (f" (the churn model learned at cutoffs where no buyer had been silent more than "
                                  f"{churn_seen_recency_days:.0f} days: it extrapolates here)" if beyond else "") + ".")
    elif stage in _GONE and beyond:  # beyond implies a low churn risk
        # the churn model never saw a buyer this silent: its low risk is an extrapolation (docs/churn.md)
        out += (" Signals disagree: the calendar says gone, the churn risk says active; the churn model learned at "
                f"cutoffs where no buyer had been silent more than {churn_seen_recency_days:.0f} days, so for this "
                f"one ({recency_days:.0f} days) it extrapolates: trust the calendar.")
    elif stage in _GONE and (alive_says or risk_low):
        who = name if alive_says else "the churn risk"
        # no churn risk to trust where the churn stage gave none (skipped: Online Retail's last 90 days)
        also = ("" if churn_probability is None or churn_probability != churn_probability
                else " and the churn risk" if not risk_low else " and the recent orders")
        out += (f" Signals disagree: the calendar says gone, {who} says active; trust the calendar{also}, "
                f"{who} is a model of the purchase rhythm.")
    elif stage in _GONE and value_tier == "high":
        out += " A high-value customer who has gone quiet (the plan says whether a campaign reaches them)."
    elif stage in ("active", "new", "reactivated") and ((alive_says is False and not risk_low) or risk_high):
        who = name if alive_says is False else "the churn risk"
        out += (f" Signals disagree: the calendar says {stage}, {who} says likely gone; "
                "watch this customer before the calendar catches up.")
    # a cluster is named after its centre: say so when its recency word contradicts this customer's calendar
    words = re.sub(r"\s*\(\d+\)$", "", cluster_name or "")  # "... (2)": a second cluster of that name
    said = set(words.split(",")[0].split())
    if (stage in _GONE and "recent" in said) or (stage in ("active", "new") and "lapsed" in said):
        out += (f" The cluster's name, '{words}', describes its centre: this customer is "
                + ("not recent." if stage in _GONE else f"{stage}, not lapsed."))
    return out
