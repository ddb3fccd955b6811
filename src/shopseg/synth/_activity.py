"""Returns, reviews and browsing events for one chunk (numpy only)."""

from __future__ import annotations

import numpy as np

from ._personas import PERSONAS, persona_array, persona_matrix
from ._simulate import LATE_DELIVERY_PROB, Catalogue, categorical, pick_products, rank_in_group
from ._text import ASPECTS, LABELS, N_VARIANTS, OPENERS, flat_templates

DAY = 86400
# Share of orders and sessions by hour of day: quiet nights, lunch and evening peaks.
HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 3, 5, 6, 6, 7, 8, 9, 8, 7, 7, 7, 8, 9, 11, 12, 11, 8, 4], float)
HOUR_CUM = np.cumsum(HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
FASHION_SPORTS = (1, 4)  # category codes where size and fit matter
PURCHASE_CART_EVENTS = 2  # add_to_cart events logged before each order (its first lines)
ANON_SESSION_SHARE = 0.1  # anonymous sessions, relative to customers' browsing sessions

_SENTENCES, _OPENER_SLICES, _ASPECT_STARTS = flat_templates()
SENTENCES = np.array(_SENTENCES, dtype=object)
_LANGS = ("en", "zh")
OPENER_START = np.array([[_OPENER_SLICES[(lg, lb)][0] for lb in LABELS] for lg in _LANGS])
OPENER_COUNT = np.array([[_OPENER_SLICES[(lg, lb)][1] for lb in LABELS] for lg in _LANGS])
# [lang, aspect, polarity(0 negative, 1 positive)]
ASPECT_START = np.array([[[_ASPECT_STARTS[(lg, a, pol)] for pol in ("negative", "positive")]
                          for a in ASPECTS] for lg in _LANGS])
assert set(OPENERS) == {(lg, lb) for lg in _LANGS for lb in LABELS}


def seconds_of(rng, t_days: np.ndarray) -> np.ndarray:
    """Seconds since the start of history: the day of ``t_days`` and an hour-of-day draw."""
    hour = np.searchsorted(HOUR_CUM, rng.random(len(t_days)) * HOUR_CUM[-1], side="right")
    hour = np.minimum(hour, 23)
    return np.floor(t_days).astype(np.int64) * DAY + hour * 3600 + rng.integers(0, 3600, len(t_days))


def simulate_returns(rng, cu, sale_c, sale_t, lines, cat: Catalogue, H: float):
    """Which past sale orders are (partly) returned, when, and which lines come back.

    The chance rises as satisfaction falls: ``return_prob * exp(-0.5 * satisfaction)``.
    """
    n = len(sale_c)
    k = cu["persona"][sale_c]
    p_ret = np.clip(persona_array("return_prob")[k] * np.exp(-0.5 * cu["sat"][sale_c]), 0, 0.9)
    ret_t = sale_t + rng.uniform(3.0, 30.0, n)
    returned = (rng.random(n) < p_ret) & (ret_t < H)
    merch = cat.cat_code[lines["product"]] >= 0
    pick = returned[lines["order"]] & merch & ((lines["line_no"] == 1) | (rng.random(len(merch)) < 0.6))
    q = lines["quantity"][pick]
    rq = np.where(q > 2, np.ceil(q * rng.uniform(0.3, 1.0, len(q))), q)
    ret_lines = dict(order=lines["order"][pick], product=lines["product"][pick], quantity=rq,
                     unit_price=lines["unit_price"][pick],
                     discount=np.round(lines["discount"][pick] * rq / q, 2))
    ret_lines["line_no"] = rank_in_group(ret_lines["order"]) + 1
    return returned, ret_t, ret_lines


def simulate_reviews(rng, cu, sale_c, sale_t, returned, first_product, channel, cat: Catalogue, H: float):
    """Reviews of past sale orders whose sentiment follows the order's planted satisfaction.

    satisfaction_order = satisfaction_customer + N(0, 0.5) - 1.6 * returned - 1.2 * late;
    planted_sentiment = tanh(satisfaction_order); label positive above 0.3,
    negative below -0.3; rating = round(3 + 2 * sentiment + N(0, 0.35)) in 1..5.
    """
    n = len(sale_c)
    k = cu["persona"][sale_c]
    late = rng.random(n) < LATE_DELIVERY_PROB + 0.07 * (channel == 2)
    s_order = cu["sat"][sale_c] + rng.normal(0.0, 0.5, n) - 1.6 * returned - 1.2 * late
    senti = np.tanh(s_order)
    p_rev = persona_array("review_prob")[k] * (0.6 + 0.8 * np.abs(senti))
    rev_t = sale_t + rng.uniform(2.0, 21.0, n)
    has = (rng.random(n) < p_rev) & (rev_t < H)
    idx = np.flatnonzero(has)
    m = len(idx)
    s = senti[idx]
    label = np.where(s > 0.3, 2, np.where(s < -0.3, 0, 1))
    rating = np.clip(np.rint(3 + 2 * s + rng.normal(0.0, 0.35, m)), 1, 5).astype(np.int64)
    lang = cu["zh"][sale_c[idx]].astype(np.int64)
    prod = first_product[idx]
    fit_ok = np.isin(cat.cat_code[prod], FASHION_SPORTS)
    ret_r, late_r = returned[idx], late[idx]

    # aspects: the cause of a bad experience first, otherwise any
    pool = np.array([0, 1, 2, 3, 5, 4])  # size_fit (4) last: only for fashion and sports
    rand_a = pool[rng.integers(0, 5 + fit_ok.astype(np.int64))]
    driven = label < 2
    a1 = np.where(driven & ret_r, np.where(fit_ok, 4, 1), np.where(driven & late_r, 0, rand_a))
    a2 = (a1 + rng.integers(1, 6, m)) % 6
    a2 = np.where((a2 == 4) & ~fit_ok, np.where(a1 == 5, 3, 5), a2)
    two = (label == 1) | (rng.random(m) < 0.5)
    neg_cause = ret_r | late_r
    pol1 = np.where(label == 2, 1, np.where(label == 0, 0, np.where(neg_cause, 0, 1)))
    pol2 = np.where(label == 1, 1 - pol1, pol1)
    opener = OPENER_START[lang, label] + (rng.random(m) * OPENER_COUNT[lang, label]).astype(np.int64)
    s1 = ASPECT_START[lang, a1, pol1] + rng.integers(0, N_VARIANTS, m)
    s2 = np.where(two, ASPECT_START[lang, a2, pol2] + rng.integers(0, N_VARIANTS, m), -1)
    spelling = np.where(rng.random(m) < 0.1, rng.integers(1, 4, m), 0)  # 0 = correct brand spelling
    form = rng.integers(0, 2, m)  # 0 full product name, 1 brand + type
    return dict(
        order_idx=idx, at=rev_t[idx], product=prod, rating=rating, lang=lang, label=label, senti=s,
        opener=opener, s1=s1, s2=s2, aspect1=a1, aspect2=np.where(two, a2, -1), pol1=pol1,
        pol2=np.where(two, pol2, -1), spelling=spelling, form=form, late=late_r, returned=ret_r,
    )


def _session_events(rng, sess_c, sess_day, k_of_sess, cu, cat: Catalogue, H: float):
    """Events of browsing sessions: type mix, product, dwell time and timestamps."""
    S = len(sess_c)
    n_ev = 1 + rng.poisson(persona_array("events_per_session")[k_of_sess])
    e_s = np.repeat(np.arange(S), n_ev)
    e_c = sess_c[e_s]
    ek = k_of_sess[e_s]
    etype = categorical(rng, np.cumsum(persona_matrix("event_mix")[ek], axis=1))
    mean_dur = np.array([0.0, 6.0, 8.0, 12.0, 4.0])[etype]
    mean_dur = np.where(etype == 0, persona_array("seconds_per_event")[ek], mean_dur)
    dur = np.round(rng.exponential(mean_dur), 1)
    drawn = pick_products(rng, e_c, cu["mix_cum"], cu["sens"], cat, popular=False)
    prod = np.where(etype == 3, -1, drawn)
    # search text: the type (or brand and type) of a product, Chinese for Chinese speakers, some typos
    zh = cu["zh"][e_c]
    form = np.where(zh & (rng.random(len(e_c)) < 0.7), 2,
                    categorical(rng, np.tile([0.6, 0.9, 0.9, 1.0], (len(e_c), 1))))
    query = np.where(etype == 3, drawn * 4 + form, -1)
    gaps = dur + rng.uniform(2.0, 20.0, len(dur))
    cs = np.cumsum(gaps)
    starts = np.cumsum(n_ev) - n_ev
    before = (cs - gaps)
    offset = before - before[starts][e_s]
    total = np.add.reduceat(gaps, starts) if S else np.zeros(0)
    s_sec = seconds_of(rng, sess_day)
    s_sec = np.minimum(s_sec, int(H * DAY) - 1 - np.ceil(total).astype(np.int64))
    at = s_sec[e_s] + np.floor(offset).astype(np.int64)
    return dict(session=e_s, cust=e_c, etype=etype, product=prod, duration=dur, at=at, query=query)


def simulate_events(rng, cu, sale_c, sale_sec, lines, cat: Catalogue, H: float):
    """Browsing sessions per customer, purchase sessions per order, anonymous sessions.

    Returns events with a chunk-local session number and a customer index
    (-1 for anonymous visitors).
    """
    n = len(cu["persona"])
    k = cu["persona"]
    years = (cu["act_end"] - cu["act_start"]) / 365.0
    n_sess = rng.poisson(persona_array("sessions_per_year")[k] * years)
    sess_c = np.repeat(np.arange(n), n_sess)
    sess_day = cu["act_start"][sess_c] + rng.random(len(sess_c)) * (cu["act_end"] - cu["act_start"])[sess_c]
    browse = _session_events(rng, sess_c, sess_day, k[sess_c], cu, cat, H)

    # anonymous visitors behave like a random customer of the chunk, unnamed
    n_anon = int(round(ANON_SESSION_SHARE * len(sess_c)))
    anon_c = rng.integers(0, n, n_anon)
    anon = _session_events(rng, anon_c, rng.uniform(0.0, H, n_anon), k[anon_c], cu, cat, H)
    anon["cust"] = np.full(len(anon["cust"]), -1)
    anon["session"] = anon["session"] + len(sess_c)

    # purchase sessions: the first two merchandise lines of each past sale order were added
    # to the cart (more would only add volume)
    merch = (cat.cat_code[lines["product"]] >= 0) & (lines["line_no"] <= PURCHASE_CART_EVENTS)
    lo = lines["order"][merch]
    n_merch = np.bincount(lo, minlength=len(sale_c))  # cart events of the order
    back = n_merch[lo] - lines["line_no"][merch] + 1  # lines still to add, this one included
    step = rng.uniform(40.0, 150.0, len(lo))
    buy = dict(
        session=lo + len(sess_c) + n_anon, cust=sale_c[lo], etype=np.full(len(lo), 2),
        product=lines["product"][merch], duration=np.round(rng.exponential(8.0, len(lo)), 1),
        at=sale_sec[lo] - np.ceil(back * step).astype(np.int64), query=np.full(len(lo), -1),
    )
    ev = {key: np.concatenate([browse[key], anon[key], buy[key]]) for key in browse}
    n_sessions = len(sess_c) + n_anon + len(sale_c)
    return ev, n_sessions


PERSONA_NAMES = np.array([p.name for p in PERSONAS], dtype=object)
