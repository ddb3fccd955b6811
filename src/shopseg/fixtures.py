"""The tiny canonical fixture shop, written by hand.

Used by tests, doctests and the docs: small enough to compute every feature
and segment with pencil and paper (``docs/features.md`` and
``docs/segments.md`` do exactly that for a few customers).

The shop sells outdoor gear: six products in three categories (Shoes,
Apparel, Accessories) from three brands, plus a postage code without a
category.  ``FIXTURE_AS_OF`` is 2024-07-01 00:00: everything strictly before it
is history, the few rows after it exist only to prove that nothing leaks.

Customers (persona in brackets; all dates 2023/2024)::

    c01 Ada  [champion]     5 orders Jan-Jun 2024, last 2024-06-25, reviews, browses
    c02 Ben  [loyal, quiet] 4 orders Sep 2023-Apr 2024, one with postage
    c03 Cai  [new]          signed up 2024-06-01, 1 order 2024-06-20
    c04 Dee  [at risk]      3 orders in 2023, none since
    c05 Eve  [lost]         1 order 2023-04-02, sign-up date unknown (NULL)
    c06 Fox  [wholesale]    2 orders of 400 and 500 pairs of socks: the outlier
    c07 Gus  [returner]     2 orders and 1 return (60 of 240 returned)
    c08 Hal  [discounts]    3 orders, an order discount and a line discount
    c09 Ivy  [reactivated]  2 orders early 2023, back 2024-06-15 after 472 days
    c10 Jo   [prospect]     signed up, never ordered, never browsed
    c11 Kim  [browser]      two browsing sessions, no order
    c12 Lu   [future]       signed up and ordered after FIXTURE_AS_OF: not known yet

Plus one guest order (customer_id NULL), one anonymous browsing session and,
after ``FIXTURE_AS_OF``, an event and a review of c01 that must be ignored.

>>> from shopseg.workspace import Workspace
>>> import tempfile, pathlib
>>> ws = Workspace.open(pathlib.Path(tempfile.mkdtemp()) / "ws")
>>> load_fixture_shop(ws)
>>> ws.summary()
{'customers': 12, 'products': 6, 'orders': 27, 'order_lines': 31, 'events': 19, 'reviews': 5}
>>> ws.close()
"""

from __future__ import annotations

from datetime import datetime

FIXTURE_AS_OF = datetime(2024, 7, 1)

# customer_id, name, country, signed_up_at
CUSTOMERS = [
    ("c01", "Ada", "GB", "2023-01-10"),
    ("c02", "Ben", "GB", "2023-02-01"),
    ("c03", "Cai", "FR", "2024-06-01"),
    ("c04", "Dee", "GB", "2023-03-15"),
    ("c05", "Eve", "DE", None),  # sign-up date unknown: tenure starts at her first order
    ("c06", "Fox", "NL", "2023-05-01"),
    ("c07", "Gus", "GB", "2023-06-01"),
    ("c08", "Hal", "FR", "2023-07-01"),
    ("c09", "Ivy", "GB", "2023-01-05"),
    ("c10", "Jo", "GB", "2024-05-01"),
    ("c11", "Kim", "DE", "2024-04-01"),
    ("c12", "Lu", "GB", "2024-07-15"),  # after FIXTURE_AS_OF: not a customer yet
]

# product_id, name, category, brand, price, is_merchandise
PRODUCTS = [
    ("p01", "Trail Shoe", "Shoes", "Apex", 80.0, True),
    ("p02", "City Sneaker", "Shoes", "Nova", 60.0, True),
    ("p03", "Rain Jacket", "Apparel", "Apex", 100.0, True),
    ("p04", "Wool Socks", "Apparel", "Nova", 10.0, True),
    ("p05", "Water Bottle", "Accessories", "Flow", 20.0, True),
    ("p06", "Postage", None, None, 5.0, False),  # no category: counts as "other"
]

# order_id, customer_id, ordered_at, kind, order discount, [(product_id, quantity, unit_price, line discount)]
# The value of an order is sum(quantity * unit_price) - line discounts - order discount.
ORDERS = [
    # c01 Ada: 290 in 5 orders; gaps 46, 50, 42, 24 days
    ("o01", "c01", "2024-01-15 10:00", "sale", 0.0, [("p01", 1, 80.0, 0.0)]),
    ("o02", "c01", "2024-03-01 10:00", "sale", 0.0, [("p03", 1, 100.0, 0.0)]),
    ("o03", "c01", "2024-04-20 10:00", "sale", 0.0, [("p04", 2, 10.0, 0.0)]),
    ("o04", "c01", "2024-06-01 10:00", "sale", 0.0, [("p02", 1, 60.0, 0.0)]),
    ("o05", "c01", "2024-06-25 14:00", "sale", 0.0, [("p05", 1, 20.0, 0.0), ("p04", 1, 10.0, 0.0)]),
    # c02 Ben: 365 in 4 orders; gaps 71, 77, 65 days
    ("o06", "c02", "2023-09-10 09:00", "sale", 0.0, [("p02", 1, 60.0, 0.0)]),
    ("o07", "c02", "2023-11-20 09:00", "sale", 0.0, [("p01", 1, 80.0, 0.0), ("p06", 1, 5.0, 0.0)]),
    ("o08", "c02", "2024-02-05 09:00", "sale", 0.0, [("p03", 1, 100.0, 0.0)]),
    ("o09", "c02", "2024-04-10 09:00", "sale", 0.0, [("p02", 2, 60.0, 0.0)]),
    # c03 Cai: one order of 40
    ("o10", "c03", "2024-06-20 18:00", "sale", 0.0, [("p05", 2, 20.0, 0.0)]),
    # c04 Dee: 310 in 3 orders in 2023; gaps 75, 78 days
    ("o11", "c04", "2023-04-01 12:00", "sale", 0.0, [("p03", 1, 100.0, 0.0)]),
    ("o12", "c04", "2023-06-15 12:00", "sale", 0.0, [("p01", 1, 80.0, 0.0)]),
    ("o13", "c04", "2023-09-01 12:00", "sale", 0.0, [("p03", 1, 100.0, 0.0), ("p04", 3, 10.0, 0.0)]),
    # c05 Eve: one pair of socks
    ("o14", "c05", "2023-04-02 08:00", "sale", 0.0, [("p04", 1, 10.0, 0.0)]),
    # c06 Fox: wholesale, 900 pairs of socks at 8; gap 90 days
    ("o15", "c06", "2024-02-10 11:00", "sale", 0.0, [("p04", 400, 8.0, 0.0)]),
    ("o16", "c06", "2024-05-10 11:00", "sale", 0.0, [("p04", 500, 8.0, 0.0)]),
    # c07 Gus: bought 240, returned the 60 sneaker; gap 76 days between sales
    ("o17", "c07", "2024-03-05 16:00", "sale", 0.0, [("p01", 1, 80.0, 0.0), ("p02", 1, 60.0, 0.0)]),
    ("o18", "c07", "2024-03-20 16:00", "return", 0.0, [("p02", 1, 60.0, 0.0)]),
    ("o19", "c07", "2024-05-20 16:00", "sale", 0.0, [("p03", 1, 100.0, 0.0)]),
    # c08 Hal: gross 220, discounts 20 (order) + 16 (line) = 36; gaps 76, 105 days
    ("o20", "c08", "2023-12-01 20:00", "sale", 20.0, [("p03", 1, 100.0, 0.0)]),
    ("o21", "c08", "2024-02-15 20:00", "sale", 0.0, [("p01", 1, 80.0, 16.0)]),
    ("o22", "c08", "2024-05-30 20:00", "sale", 0.0, [("p05", 2, 20.0, 0.0)]),
    # c09 Ivy: two orders in 2023, back after 472 days; gaps 40, 472 days
    ("o23", "c09", "2023-01-20 13:00", "sale", 0.0, [("p02", 1, 60.0, 0.0)]),
    ("o24", "c09", "2023-03-01 13:00", "sale", 0.0, [("p04", 2, 10.0, 0.0)]),
    ("o25", "c09", "2024-06-15 13:00", "sale", 0.0, [("p01", 1, 80.0, 0.0)]),
    # a guest order: counts for catalogue revenue, belongs to no customer
    ("o26", None, "2024-05-05 10:00", "sale", 0.0, [("p05", 1, 20.0, 0.0)]),
    # after FIXTURE_AS_OF: must not leak into anything
    ("o27", "c12", "2024-07-20 10:00", "sale", 0.0, [("p03", 1, 100.0, 0.0)]),
]

# event_id, customer_id, session_id, event_type, product_id, occurred_at, duration_seconds, search_query
EVENTS = [
    # c01, session s01 on the day of order o05: cart followed by an order (not abandoned)
    ("e01", "c01", "s01", "view", "p05", "2024-06-25 10:00", 60.0, None),
    ("e02", "c01", "s01", "click", "p05", "2024-06-25 10:01", 30.0, None),
    ("e03", "c01", "s01", "add_to_cart", "p05", "2024-06-25 10:02", 10.0, None),
    # c01, session s02: a cart and no order that day (abandoned)
    ("e04", "c01", "s02", "view", "p01", "2024-06-10 21:00", 120.0, None),
    ("e05", "c01", "s02", "add_to_cart", "p01", "2024-06-10 21:02", 10.0, None),
    # c08, session s05: cart, then order o22 the same day
    ("e06", "c08", "s05", "view", "p05", "2024-05-30 19:50", 40.0, None),
    ("e07", "c08", "s05", "add_to_cart", "p05", "2024-05-30 19:55", 20.0, None),
    # c11 Kim, browsing only: s06 ends in an abandoned cart, s07 is a search
    ("e08", "c11", "s06", "view", "p03", "2024-06-05 12:00", 90.0, None),
    ("e09", "c11", "s06", "view", "p01", "2024-06-05 12:02", 45.0, None),
    ("e10", "c11", "s06", "click", "p01", "2024-06-05 12:03", 15.0, None),
    ("e11", "c11", "s06", "add_to_cart", "p01", "2024-06-05 12:04", 5.0, None),
    ("e12", "c11", "s07", "search", None, "2024-06-20 08:00", 20.0, "rain jacket"),
    ("e13", "c11", "s07", "view", "p03", "2024-06-20 08:01", 60.0, None),
    # c02 looks at a jacket once
    ("e14", "c02", "s03", "view", "p03", "2024-03-30 09:00", 30.0, None),
    ("e15", "c02", "s03", "wishlist", "p03", "2024-03-30 09:01", 5.0, None),
    # an anonymous visitor (customer_id NULL)
    ("e16", None, "s08", "view", "p02", "2024-06-01 07:00", 25.0, None),
    ("e17", None, "s08", "view", "p01", "2024-06-01 07:01", 35.0, None),
    # after FIXTURE_AS_OF: must not leak
    ("e18", "c01", "s09", "view", "p03", "2024-07-02 10:00", 300.0, None),
    ("e19", "c01", "s09", "add_to_cart", "p03", "2024-07-02 10:05", 10.0, None),
]

# review_id, customer_id, product_id, order_id, rating, text, language, reviewed_at
REVIEWS = [
    ("r01", "c01", "p01", "o01", 5, "Great grip on wet trails.", "en", "2024-02-01 10:00"),
    ("r02", "c02", "p03", "o08", 4, "Keeps the rain out, a bit warm.", "en", "2024-02-20 10:00"),
    ("r03", "c07", "p02", "o17", 2, "Too narrow, sent it back.", "en", "2024-03-18 10:00"),
    ("r04", "c04", "p01", "o12", 3, "Fine, nothing special.", "en", "2023-07-01 10:00"),
    # after FIXTURE_AS_OF: must not leak
    ("r05", "c01", "p05", "o05", 1, "Leaks in my bag.", "en", "2024-07-05 10:00"),
]


def load_fixture_shop(ws) -> None:
    """INSERT the fixture shop's rows into the canonical tables of workspace ``ws``.

    Appends: load it into an empty workspace.
    """
    con = ws.con
    con.executemany(
        "INSERT INTO customers (customer_id, name, country, signed_up_at) VALUES (?, ?, ?, CAST(? AS TIMESTAMP))",
        CUSTOMERS,
    )
    con.executemany(
        "INSERT INTO products (product_id, name, category, brand, price, is_merchandise, is_available) "
        "VALUES (?, ?, ?, ?, ?, ?, true)",
        PRODUCTS,
    )
    con.executemany(
        "INSERT INTO orders (order_id, customer_id, ordered_at, kind, channel, country, discount_amount, "
        "shipping_amount) VALUES (?, ?, CAST(? AS TIMESTAMP), ?, 'web', NULL, ?, 0.0)",
        [o[:5] for o in ORDERS],
    )
    con.executemany(
        "INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price, discount_amount) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(o[0], i, *line) for o in ORDERS for i, line in enumerate(o[5], start=1)],
    )
    con.executemany(
        "INSERT INTO events (event_id, customer_id, session_id, event_type, product_id, occurred_at, "
        "duration_seconds, search_query) VALUES (?, ?, ?, ?, ?, CAST(? AS TIMESTAMP), ?, ?)",
        EVENTS,
    )
    con.executemany(
        "INSERT INTO reviews (review_id, customer_id, product_id, order_id, rating, text, language, reviewed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, CAST(? AS TIMESTAMP))",
        REVIEWS,
    )
