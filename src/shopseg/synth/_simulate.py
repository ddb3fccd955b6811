"""Customers, purchases and planted truth for one chunk of customers (numpy only).

Everything is vectorised over customers, orders and lines; Python loops run
only over personas, rules or categories.  Times are float days since the
start of the history (``0``) up to ``as_of`` (``H``); future orders fall in
``[H, H + horizon)`` and are kept only as ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import _catalogue as C
from ._personas import (
    CATEGORIES, CONSUMABLE_CATEGORIES, NEW_CUSTOMER_DAYS, PERSONAS, REPURCHASE_CYCLE_DAYS,
    WINDOW_SHOPPER_BUYER_SHARE, persona_array, persona_matrix,
)
from ._people import ZH_SHARE

HISTORY_CODES = {"alive": 0, "new": 1, "browser": 2, "stopped": 3}
LATE_DELIVERY_PROB = 0.08
PRICE_KAPPA = 3.0
MIX_CONCENTRATION = 3.0  # scales the personas' Dirichlet category mixes (higher: closer to the mean)
ESTABLISHED_T0 = 0.25  # alive personas' first order falls in this leading share of the history  # concentration of the price-percentile Beta


@dataclass
class Catalogue:
    """The catalogue as arrays the samplers index into."""

    frame: pd.DataFrame
    rules: pd.DataFrame
    price: np.ndarray
    cat_code: np.ndarray
    popularity: np.ndarray
    cat_start: np.ndarray
    cat_n: np.ndarray
    anchors: np.ndarray  # product index of each rule's antecedent
    rule_of_product: np.ndarray  # rule index or -1
    consequents: np.ndarray  # (rules, 2) product indices, -1 padded
    rule_prob: np.ndarray
    ship_std: int
    ship_exp: int
    gift_wrap: int

    @classmethod
    def build(cls, rng: np.random.Generator) -> "Catalogue":
        frame, rules = C.build_catalogue(rng)
        idx = {pid: i for i, pid in enumerate(frame["product_id"])}
        cat_code = frame["cat_code"].to_numpy()
        merch = cat_code >= 0
        cat_start = np.array([np.flatnonzero(cat_code == c)[0] for c in range(len(CATEGORIES))])
        cat_n = np.bincount(cat_code[merch], minlength=len(CATEGORIES))
        anchors = np.array([idx[a] for a in rules["antecedent_product_id"]])
        cons = np.full((len(rules), 2), -1)
        for r, ids in enumerate(rules["consequent_product_ids"]):  # a dozen rules
            for j, pid in enumerate(ids.split(",")):
                cons[r, j] = idx[pid]
        rule_of = np.full(len(frame), -1)
        rule_of[anchors] = np.arange(len(anchors))
        return cls(frame, rules, frame["price"].to_numpy(float), cat_code,
                   frame["popularity"].to_numpy(float), cat_start, cat_n, anchors, rule_of, cons,
                   rules["planted_probability"].to_numpy(float),
                   idx["SHIP-STD"], idx["SHIP-EXP"], idx["GIFT-WRAP"])


def quota_codes(n: int, shares: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exactly-proportional persona codes (largest remainder), shuffled."""
    raw = shares * n
    counts = np.floor(raw).astype(int)
    rest = n - counts.sum()
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:rest]] += 1
    return rng.permutation(np.repeat(np.arange(len(shares)), counts))


def categorical(rng: np.random.Generator, cum: np.ndarray) -> np.ndarray:
    """One draw per row from rows of cumulative probabilities."""
    u = rng.random(len(cum))
    return (u[:, None] > cum[:, :-1]).sum(axis=1)


def rank_in_group(group: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal (sorted) ``group`` values."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.r_[True, group[1:] != group[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    return np.arange(n) - first


def pick_products(rng, cust, mix_cum, sens, cat: Catalogue, *, popular: bool = True) -> np.ndarray:
    """Merchandise picks: category from the customer's mix, price percentile from their sensitivity.

    With ``popular`` two candidates are drawn and the more popular one kept
    (a skew towards best sellers, as in real shops).
    """
    c = categorical(rng, mix_cum[cust])
    s = sens[cust]
    a, b = PRICE_KAPPA * (1 - s) + 0.3, PRICE_KAPPA * s + 0.3
    n_c, start = cat.cat_n[c], cat.cat_start[c]
    i1 = start + np.minimum((rng.beta(a, b) * n_c).astype(np.int64), n_c - 1)
    if not popular:
        return i1
    i2 = start + np.minimum((rng.beta(a, b) * n_c).astype(np.int64), n_c - 1)
    return np.where(cat.popularity[i1] >= cat.popularity[i2], i1, i2)


def simulate_customers(rng, n: int, H: float):
    """Persona, BG/NBD parameters, latent traits and the observed purchase window."""
    k = quota_codes(n, persona_array("share"), rng)
    r, alpha = persona_array("r")[k], persona_array("alpha")[k]
    lam = rng.gamma(r, 1.0 / alpha)
    p = rng.beta(persona_array("a")[k], persona_array("b")[k])
    sat_m, sat_s = persona_matrix("satisfaction")[k].T
    sat = rng.normal(sat_m, sat_s)
    ps = persona_matrix("price_sensitivity")[k].T
    sens = rng.beta(ps[0], ps[1])
    conc = persona_matrix("category_mix")[k]
    mix = rng.gamma(conc * MIX_CONCENTRATION)
    mix /= mix.sum(axis=1, keepdims=True)
    hist = np.array([HISTORY_CODES[pp.history] for pp in PERSONAS])[k]
    zh = rng.random(n) < ZH_SHARE

    # first order t0 (NaN = never ordered) and last order of `stopped` personas
    # established customers were acquired in the first quarter of the history
    t0 = rng.uniform(0.0, ESTABLISHED_T0 * H, n)
    t0 = np.where(hist == 1, H - rng.uniform(0.01, NEW_CUSTOMER_DAYS, n), t0)
    buyer = rng.random(n) < WINDOW_SHOPPER_BUYER_SHARE
    t0 = np.where(hist == 2, np.where(buyer, rng.uniform(0.1 * H, H - 0.01, n), np.nan), t0)
    w = persona_matrix("recency_window")[k]
    last = H - rng.uniform(w[:, 0], w[:, 1]) * H
    stopped = hist == 3
    span = rng.uniform(*persona_matrix("active_span")[k].T) * H
    t0 = np.where(stopped, np.maximum(0.0, last - span), t0)
    alive = np.where(stopped, rng.random(n) < persona_array("p_alive_if_stopped")[k], True)
    signup = np.where(np.isnan(t0), rng.uniform(0.0, H - 30.0, n), t0 - rng.exponential(20.0, n))
    signup = np.maximum(signup, -365.0)
    # browsing window: from sign-up until as_of, or shortly after a stopped customer's last order
    act_end = np.where(stopped, np.minimum(H - 0.01, last + rng.uniform(0.0, 30.0, n)), H - 0.01)
    act_start = np.minimum(np.maximum(signup, 0.0), act_end - 1.0)
    return dict(persona=k, lam=lam, p=p, sat=sat, sens=sens, mix=mix, mix_cum=np.cumsum(mix, axis=1),
                hist=hist, zh=zh, t0=t0, last=np.where(stopped, last, np.nan), alive=alive,
                signup=signup, act_start=act_start, act_end=act_end)


def simulate_order_times(rng, cu, H: float, horizon: float):
    """Past order times (conditioned BG/NBD) and future ones (plain BG/NBD from as_of).

    Alive customers observed from t0 to H: conditional on surviving every
    repeat purchase, repeat purchases are Poisson with rate lambda * (1 - p).
    Stopped customers buy at t0, in between, and last at ``last``.
    """
    n = len(cu["persona"])
    lam, p, t0, last = cu["lam"], cu["p"], cu["t0"], cu["last"]
    has = ~np.isnan(t0)
    stopped = ~np.isnan(last)
    end = np.where(stopped, last, H)
    span = np.where(has, np.maximum(end - t0, 0.0), 0.0)
    n_mid = rng.poisson(lam * (1 - p) * span)
    ids = np.arange(n)
    first_c = ids[has]
    last_c = ids[stopped & has & (last > t0 + 0.5)]
    mid_c = np.repeat(ids, n_mid)
    mid_t = t0[mid_c] + rng.random(len(mid_c)) * span[mid_c]
    past_c = np.concatenate([first_c, last_c, mid_c])
    past_t = np.concatenate([t0[first_c], last[last_c], mid_t])

    # future: N arrivals in the horizon, dropout after the K-th purchase
    alive = cu["alive"]
    n_arr = np.where(alive, rng.poisson(lam * horizon), 0)
    k_drop = rng.geometric(np.clip(p, 1e-6, 1.0))
    n_fut = np.minimum(n_arr, k_drop)
    fc = np.repeat(ids, n_arr)
    ft = H + rng.random(len(fc)) * horizon
    o = np.lexsort((ft, fc))
    fc, ft = fc[o], ft[o]
    keep = rank_in_group(fc) < n_fut[fc]
    alive_end = alive & (n_arr < k_drop)
    return past_c, past_t, fc[keep], ft[keep], alive_end


def plant_repurchases(rng, cu, order_c, order_t, l_order, prod, cat: Catalogue):
    """Each customer's staple consumable replaces the first line of the first order of every cycle.

    Orders are sorted by customer then time.  Returns (products, staple per customer, cycle per
    customer, per order: the staple was planted in it).  ``rng`` is its own stream, so the other
    draws of the shop do not change.
    """
    n = len(cu["persona"])
    # a staple is on sale: a discontinued one could never be recommended again (the demo planted 103 of 3,004)
    cons = np.flatnonzero(np.isin(cat.cat_code, [CATEGORIES.index(c) for c in CONSUMABLE_CATEGORIES])
                          & cat.frame["is_available"].to_numpy(bool))
    w = cat.popularity[cons] / cat.popularity[cons].sum()
    staple = cons[categorical(rng, np.tile(np.cumsum(w), (n, 1)))]
    cycle = np.array([REPURCHASE_CYCLE_DAYS[p.name] for p in PERSONAS], float)[cu["persona"]]
    phase = rng.random(n) * cycle
    bucket = np.floor((order_t + phase[order_c]) / cycle[order_c])
    first = np.r_[True, order_c[1:] != order_c[:-1]]
    planted = first | np.r_[True, bucket[1:] != bucket[:-1]]
    first_line = np.r_[True, l_order[1:] != l_order[:-1]] if len(l_order) else np.zeros(0, bool)
    hit = first_line & planted[l_order]
    prod = prod.copy()
    prod[hit] = staple[order_c[l_order[hit]]]
    return prod, staple, cycle, planted


def simulate_baskets(rng, cu, order_c, order_t, seq_in_customer, cat: Catalogue, plant_rng=None):
    """Lines of every order: merchandise picks, planted add-ons, discounts, shipping (and with
    ``plant_rng`` planted repurchases, see :func:`plant_repurchases`, in ``orders["repurchase"]``)."""
    k = cu["persona"][order_c]
    n_orders = len(order_c)
    n_lines = 1 + rng.poisson(persona_array("lines_mean")[k])
    l_order = np.repeat(np.arange(n_orders), n_lines)
    l_cust = order_c[l_order]
    prod = pick_products(rng, l_cust, cu["mix_cum"], cu["sens"], cat)
    anchor = rng.random(len(prod)) < C.ANCHOR_LINE_SHARE
    prod[anchor] = cat.anchors[rng.integers(0, len(cat.anchors), anchor.sum())]
    repurchase = None
    if plant_rng is not None:
        prod, staple, cycle, planted = plant_repurchases(plant_rng, cu, order_c, order_t, l_order, prod, cat)
        repurchase = dict(staple=staple, cycle=cycle, planted=planted)
    # planted rules: an anchor brings all its consequents with the rule's probability
    rule = cat.rule_of_product[prod]
    fire = (rule >= 0) & (rng.random(len(prod)) < cat.rule_prob[np.maximum(rule, 0)])
    add_o, add_p = [], []
    for j in range(cat.consequents.shape[1]):
        cons = cat.consequents[rule[fire], j]
        add_o.append(l_order[fire][cons >= 0])
        add_p.append(cons[cons >= 0])
    l_order = np.concatenate([l_order, *add_o])
    prod = np.concatenate([prod, *add_p])
    lk = cu["persona"][order_c[l_order]]
    qty = 1 + rng.poisson(persona_array("qty_extra")[lk])
    wholesale = lk == [p.name for p in PERSONAS].index("wholesale")
    unit = np.where(wholesale, np.round(cat.price[prod] * 0.85, 2), cat.price[prod])
    on_sale = rng.random(len(prod)) < persona_array("sale_line_prob")[lk]
    pct = np.array([0.1, 0.2, 0.3, 0.5])[rng.integers(0, 4, len(prod))]
    l_disc = np.where(on_sale, np.round(qty * unit * pct, 2), 0.0)
    net = qty * unit - l_disc
    subtotal = np.bincount(l_order, weights=net, minlength=n_orders)

    first_new = (seq_in_customer == 0) & (cu["hist"][order_c] == HISTORY_CODES["new"])
    coupon_p = np.where(first_new, 0.8, persona_array("coupon_prob")[k])
    coupon = rng.random(n_orders) < coupon_p
    c_pct = np.array([0.05, 0.1, 0.15, 0.2])[rng.integers(0, 4, n_orders)]
    o_disc = np.where(coupon, np.round(subtotal * c_pct, 2), 0.0)
    channel = categorical(rng, np.cumsum(persona_matrix("channels")[k], axis=1))

    # non-merchandise lines: shipping below the free-shipping threshold, gift wrap
    ship = (subtotal - o_disc < C.FREE_SHIPPING_FROM) & (channel != 2)
    express = rng.random(n_orders) < 0.1
    ship_p = np.where(express, cat.ship_exp, cat.ship_std)
    wrap = rng.random(n_orders) < 0.03
    o_ship, o_wrap = np.flatnonzero(ship), np.flatnonzero(wrap)
    l_order = np.concatenate([l_order, o_ship, o_wrap])
    prod = np.concatenate([prod, ship_p[o_ship], np.full(len(o_wrap), cat.gift_wrap)])
    n_extra = len(o_ship) + len(o_wrap)
    qty = np.concatenate([qty, np.ones(n_extra, dtype=qty.dtype)])
    unit = np.concatenate([unit, cat.price[prod[len(unit):]]])
    l_disc = np.concatenate([l_disc, np.zeros(n_extra)])

    o = np.argsort(l_order, kind="stable")  # merchandise first, then add-ons, then fees
    lines = dict(order=l_order[o], product=prod[o], quantity=qty[o].astype(float),
                 unit_price=unit[o], discount=l_disc[o])
    lines["line_no"] = rank_in_group(lines["order"]) + 1
    orders = dict(subtotal=subtotal, discount=o_disc, channel=channel, repurchase=repurchase)
    return orders, lines
