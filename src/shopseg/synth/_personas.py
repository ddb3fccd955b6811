"""The personas of the demo shop, as data.

Every behavioural knob of the generator lives in :data:`PERSONAS` (one row
per persona), so ``docs/synth.md`` and the tests read the same numbers the
simulation uses.  Rates are per day; shares sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CATEGORIES = ("electronics", "fashion", "home", "beauty", "sports", "books", "grocery", "toys")
EVENT_KINDS = ("view", "click", "add_to_cart", "search", "wishlist")  # == schema.EVENT_TYPES
# Planted repurchase (synthesize(..., repurchase=True)): each customer's staple, a consumable of these
# categories, is re-bought in the first order of every cycle (days, per persona; random phase).
CONSUMABLE_CATEGORIES = ("grocery", "beauty")
REPURCHASE_CYCLE_DAYS = {"vip": 30, "regular": 45, "bargain_hunter": 60, "new": 40, "window_shopper": 60,
                         "dormant": 90, "churned": 60, "wholesale": 21}


@dataclass(frozen=True)
class Persona:
    """One customer persona: its share and the parameters of its behaviour.

    Purchases follow a BG/NBD process (Fader, Hardie & Lee 2005): while alive a
    customer buys as a Poisson process with rate ``lambda`` drawn from
    Gamma(``r``, rate ``alpha``) (days); after each repeat purchase they drop
    out with probability ``p`` drawn from Beta(``a``, ``b``).  ``history``
    says how the observed history is conditioned (see docs/synth.md):
    ``alive`` (alive at as_of), ``new`` (first order in the last 60 days),
    ``stopped`` (last order ``recency_window`` days before as_of, as fractions
    of history_days), ``browser`` (first order optional).
    """

    name: str
    share: float
    history: str
    r: float  # Gamma shape of lambda
    alpha: float  # Gamma rate of lambda (days): mean lambda = r / alpha
    a: float  # Beta(a, b) of the dropout probability p
    b: float
    p_alive_if_stopped: float  # for `stopped` personas: chance they are alive (paused)
    recency_window: tuple[float, float]  # `stopped`: last order this far back (fraction of history)
    active_span: tuple[float, float]  # `stopped`: first to last order (fraction of history)
    lines_mean: float  # extra merchandise lines per order (1 + Poisson)
    qty_extra: float  # extra units per line (1 + Poisson)
    price_sensitivity: tuple[float, float]  # Beta(a, b) of price sensitivity in [0, 1]
    coupon_prob: float  # chance an order carries an order-level coupon
    sale_line_prob: float  # chance a line is bought on sale (line discount)
    return_prob: float  # chance a sale order is (partly) returned, at satisfaction 0
    satisfaction: tuple[float, float]  # Normal(mean, sd) of latent satisfaction
    sessions_per_year: float  # browsing sessions per active year
    events_per_session: float  # 1 + Poisson(this) events per browsing session
    event_mix: tuple[float, float, float, float, float]  # view, click, add_to_cart, search, wishlist
    seconds_per_event: float  # mean dwell time per browsing event
    review_prob: float  # chance a sale order gets a review
    category_mix: tuple[float, ...]  # Dirichlet concentration over CATEGORIES
    channels: tuple[float, float, float]  # web, app, marketplace


# Category order: electronics fashion home beauty sports books grocery toys
PERSONAS: tuple[Persona, ...] = (
    Persona("vip", 0.06, "alive", r=12.0, alpha=192.0, a=1.0, b=80.0, p_alive_if_stopped=1.0,
            recency_window=(0, 0), active_span=(0, 0), lines_mean=2.2, qty_extra=0.15, price_sensitivity=(1.5, 8.0),
            coupon_prob=0.05, sale_line_prob=0.05, return_prob=0.07, satisfaction=(1.1, 0.5),
            sessions_per_year=6.0, events_per_session=4.0, event_mix=(0.44, 0.38, 0.08, 0.05, 0.05),
            seconds_per_event=35.0, review_prob=0.18,
            category_mix=(6.0, 5.0, 3.0, 1.0, 1.0, 0.3, 0.3, 0.5), channels=(0.45, 0.5, 0.05)),
    Persona("regular", 0.24, "alive", r=20.0, alpha=700.0, a=1.0, b=40.0, p_alive_if_stopped=1.0,
            recency_window=(0, 0), active_span=(0, 0), lines_mean=0.9, qty_extra=0.15, price_sensitivity=(4.0, 4.0),
            coupon_prob=0.06, sale_line_prob=0.05, return_prob=0.04, satisfaction=(0.7, 0.5),
            sessions_per_year=3.0, events_per_session=3.0, event_mix=(0.55, 0.25, 0.06, 0.10, 0.04),
            seconds_per_event=30.0, review_prob=0.12,
            category_mix=(1.0, 1.0, 4.0, 1.0, 3.0, 3.0, 2.0, 1.0), channels=(0.6, 0.3, 0.1)),
    Persona("bargain_hunter", 0.16, "alive", r=12.0, alpha=480.0, a=1.0, b=30.0, p_alive_if_stopped=1.0,
            recency_window=(0, 0), active_span=(0, 0), lines_mean=1.4, qty_extra=0.4, price_sensitivity=(9.0, 1.5),
            coupon_prob=0.8, sale_line_prob=0.65, return_prob=0.12, satisfaction=(0.3, 0.6),
            sessions_per_year=5.0, events_per_session=4.0, event_mix=(0.45, 0.20, 0.08, 0.22, 0.05),
            seconds_per_event=25.0, review_prob=0.12,
            category_mix=(0.3, 2.0, 0.5, 4.0, 0.5, 0.5, 6.0, 1.5), channels=(0.35, 0.25, 0.4)),
    Persona("new", 0.10, "new", r=6.0, alpha=240.0, a=1.0, b=20.0, p_alive_if_stopped=1.0,
            recency_window=(0, 0), active_span=(0, 0), lines_mean=0.8, qty_extra=0.1, price_sensitivity=(4.0, 4.0),
            coupon_prob=0.15, sale_line_prob=0.08, return_prob=0.06, satisfaction=(0.6, 0.6),
            sessions_per_year=15.0, events_per_session=4.0, event_mix=(0.55, 0.25, 0.07, 0.09, 0.04),
            seconds_per_event=30.0, review_prob=0.15,
            category_mix=(1.5, 3.0, 1.5, 3.0, 2.0, 1.0, 1.0, 2.0), channels=(0.55, 0.4, 0.05)),
    Persona("window_shopper", 0.16, "browser", r=4.0, alpha=2000.0, a=1.0, b=20.0, p_alive_if_stopped=1.0,
            recency_window=(0, 0), active_span=(0, 0), lines_mean=0.3, qty_extra=0.05, price_sensitivity=(3.0, 3.0),
            coupon_prob=0.1, sale_line_prob=0.1, return_prob=0.15, satisfaction=(0.2, 0.6),
            sessions_per_year=10.0, events_per_session=6.0, event_mix=(0.66, 0.10, 0.12, 0.05, 0.07),
            seconds_per_event=70.0, review_prob=0.05,
            category_mix=(4.0, 4.0, 2.0, 2.0, 1.0, 0.5, 0.3, 0.5), channels=(0.5, 0.45, 0.05)),
    Persona("dormant", 0.12, "stopped", r=12.0, alpha=300.0, a=1.0, b=20.0, p_alive_if_stopped=0.2,
            recency_window=(0.165, 0.40), active_span=(0.3, 0.55), lines_mean=1.0, qty_extra=0.15, price_sensitivity=(5.0, 3.0),
            coupon_prob=0.3, sale_line_prob=0.2, return_prob=0.22, satisfaction=(-0.2, 0.5),
            sessions_per_year=3.0, events_per_session=3.0, event_mix=(0.62, 0.18, 0.06, 0.10, 0.04),
            seconds_per_event=30.0, review_prob=0.15,
            category_mix=(1.0, 4.0, 1.0, 4.0, 1.5, 0.5, 1.0, 3.0), channels=(0.6, 0.3, 0.1)),
    Persona("churned", 0.14, "stopped", r=12.0, alpha=360.0, a=1.0, b=10.0, p_alive_if_stopped=0.03,
            recency_window=(0.58, 0.95), active_span=(0.0, 0.15), lines_mean=0.8, qty_extra=0.1, price_sensitivity=(4.0, 3.0),
            coupon_prob=0.12, sale_line_prob=0.1, return_prob=0.6, satisfaction=(-0.6, 0.5),
            sessions_per_year=3.0, events_per_session=3.0, event_mix=(0.64, 0.12, 0.06, 0.14, 0.04),
            seconds_per_event=30.0, review_prob=0.18,
            category_mix=(2.0, 1.0, 2.0, 0.5, 1.0, 4.0, 1.0, 4.0), channels=(0.6, 0.3, 0.1)),
    Persona("wholesale", 0.02, "alive", r=8.0, alpha=320.0, a=1.0, b=60.0, p_alive_if_stopped=1.0,
            recency_window=(0, 0), active_span=(0, 0), lines_mean=10.0, qty_extra=24.0, price_sensitivity=(5.0, 3.0),
            coupon_prob=0.02, sale_line_prob=0.02, return_prob=0.04, satisfaction=(0.6, 0.5),
            sessions_per_year=3.0, events_per_session=3.0, event_mix=(0.5, 0.2, 0.1, 0.18, 0.02),
            seconds_per_event=20.0, review_prob=0.03,
            category_mix=(1.0, 0.5, 4.0, 1.0, 0.5, 1.0, 6.0, 3.0), channels=(0.95, 0.05, 0.0)),
)

PERSONA_NAMES = tuple(p.name for p in PERSONAS)
NEW_CUSTOMER_DAYS = 60  # "new": first order within this many days before as_of
WINDOW_SHOPPER_BUYER_SHARE = 0.15  # window shoppers who ever ordered


def persona_array(field: str) -> np.ndarray:
    """One column of :data:`PERSONAS` as an array indexed by persona code."""
    return np.array([getattr(p, field) for p in PERSONAS], dtype=float)


def persona_matrix(field: str) -> np.ndarray:
    """A tuple-valued column of :data:`PERSONAS` as a (personas, k) array."""
    return np.array([getattr(p, field) for p in PERSONAS], dtype=float)


assert abs(sum(p.share for p in PERSONAS) - 1.0) < 1e-9
