"""Where customers are: a location per customer, the level a shop is described at, and small places grouped.

A customer's location is the ``country`` / ``region`` / ``city`` of the customer table or, when the table has no
country for them, the most frequent delivery country of their orders up to as_of (ties: the most recent order,
then the name). Blank values and placeholders (``unspecified``, ``unknown``, ``n/a``, ``-``) are no location.

The level is ``country`` unless the shop is mostly domestic: when at least ``segments.geo.domestic_share`` of the
located customers share one country and at least ``segments.geo.region_coverage`` of those have a region, places
are the regions of that country (Olist: Brazilian states) and customers elsewhere keep their country.

Privacy: no segment may have fewer than ``privacy.dp.k_min`` customers. Places under it are grouped into
"Other"; when "No location" or "Other" is still under it, it is folded in / the smallest places join it until it
is not (:func:`group_places`). A shop with fewer than k_min customers in all is one segment.

>>> import pandas as pd
>>> places = pd.Series(["UK"] * 12 + ["FR"] * 10 + ["DE"] * 3 + ["NL"] * 2 + [None] * 4)
>>> group_places(places, k_min=5).value_counts().to_dict()
{'UK': 12, 'FR': 10, 'Other': 9}
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..workspace import CUSTOMER_FILTER

OTHER = "Other"
NO_LOCATION = "No location"
MISSING_WORDS = ("", "unspecified", "unknown", "n/a", "na", "-", "none", "null")

# Brazil's 27 federative units: name and the approximate latitude / longitude of the capital (map markers).
BRAZIL_STATES = {
    "AC": ("Acre", -9.97, -67.81), "AL": ("Alagoas", -9.67, -35.74), "AP": ("Amapá", 0.03, -51.07),
    "AM": ("Amazonas", -3.12, -60.02), "BA": ("Bahia", -12.97, -38.50), "CE": ("Ceará", -3.72, -38.54),
    "DF": ("Distrito Federal", -15.79, -47.88), "ES": ("Espírito Santo", -20.32, -40.34),
    "GO": ("Goiás", -16.68, -49.25), "MA": ("Maranhão", -2.53, -44.30), "MT": ("Mato Grosso", -15.60, -56.10),
    "MS": ("Mato Grosso do Sul", -20.44, -54.65), "MG": ("Minas Gerais", -19.92, -43.94),
    "PA": ("Pará", -1.46, -48.50), "PB": ("Paraíba", -7.12, -34.86), "PR": ("Paraná", -25.43, -49.27),
    "PE": ("Pernambuco", -8.05, -34.88), "PI": ("Piauí", -5.09, -42.80), "RJ": ("Rio de Janeiro", -22.91, -43.17),
    "RN": ("Rio Grande do Norte", -5.79, -35.21), "RS": ("Rio Grande do Sul", -30.03, -51.23),
    "RO": ("Rondônia", -8.76, -63.90), "RR": ("Roraima", 2.82, -60.67), "SC": ("Santa Catarina", -27.60, -48.55),
    "SP": ("São Paulo", -23.55, -46.63), "SE": ("Sergipe", -10.91, -37.07), "TO": ("Tocantins", -10.18, -48.33),
}
BRAZIL = ("BR", "BRA", "BRAZIL", "BRASIL")


def _clean(col: str) -> str:
    words = ", ".join(f"'{w}'" for w in MISSING_WORDS)
    return f"CASE WHEN lower(trim(CAST({col} AS VARCHAR))) IN ({words}) THEN NULL ELSE trim(CAST({col} AS VARCHAR)) END"


def customer_locations(ws, as_of, customers=None) -> pd.DataFrame:
    """customer_id, country, region, city, source ('customer', 'orders' or None) for every customer
    (``customers``: only those ids, reading only their rows: the live path)."""
    return ws.con.execute(*_locations_query(ws, as_of, customers)).df()


def customer_places(ws, as_of, customers, level: str, home: str | None) -> dict[str, str | None]:
    """customer_id -> place at ``level`` (:func:`place_of`'s rule) for a few ``customers``, as plain values: the
    live score's path, where a frame per customer costs more than the query."""
    rows = ws.con.execute(*_locations_query(ws, as_of, customers)).fetchall()
    return {str(cid): (region if level == "region" and country is not None and country == home else country)
            for cid, country, region, _city, _source in rows}


def _locations_query(ws, as_of, customers) -> tuple[str, dict]:
    only = "" if customers is None else CUSTOMER_FILTER
    cols = set(ws.columns("customers"))
    pick = {c: _clean(c) if c in cols else "NULL" for c in ("country", "region", "city")}
    has_orders = ws.has_table("orders") and "country" in ws.columns("orders")
    orders_cte = f"""
        o AS (SELECT customer_id, country, row_number() OVER (PARTITION BY customer_id
                     ORDER BY count(*) DESC, max(ordered_at) DESC, country) AS k
              FROM (SELECT CAST(customer_id AS VARCHAR) AS customer_id, {_clean('country')} AS country, ordered_at
                    FROM orders WHERE customer_id IS NOT NULL AND ordered_at <= $as_of{only})
              WHERE country IS NOT NULL GROUP BY customer_id, country)""" if has_orders else \
        "o AS (SELECT NULL::VARCHAR AS customer_id, NULL::VARCHAR AS country, 1 AS k LIMIT 0)"
    return f"""
        WITH c AS (SELECT CAST(customer_id AS VARCHAR) AS customer_id, {pick['country']} AS country,
                          {pick['region']} AS region, {pick['city']} AS city FROM customers WHERE true{only}),
        {orders_cte}
        SELECT c.customer_id, coalesce(c.country, o.country) AS country, c.region, c.city,
               CASE WHEN c.country IS NOT NULL THEN 'customer' WHEN o.country IS NOT NULL THEN 'orders' END AS source
        FROM c LEFT JOIN o ON o.customer_id = c.customer_id AND o.k = 1
        ORDER BY c.customer_id""", {**({"as_of": as_of} if has_orders else {}),
                                     **({} if customers is None else {"customers": [str(c) for c in customers]})}


def choose_level(loc: pd.DataFrame, domestic_share: float, region_coverage: float) -> tuple[str, str | None]:
    """('country', None), or ('region', home country) when the shop is mostly domestic with regions known.

    >>> loc = pd.DataFrame({"country": ["BR"] * 9 + ["PT"], "region": ["SP"] * 5 + ["RJ"] * 3 + [None, None]})
    >>> choose_level(loc, 0.8, 0.5)
    ('region', 'BR')
    >>> choose_level(loc.assign(region=None), 0.8, 0.5)
    ('country', None)
    """
    located = loc["country"].dropna()
    if located.empty:
        return "country", None
    counts = located.value_counts()
    home = str(counts.index[0])
    if counts.iloc[0] / len(located) < domestic_share:
        return "country", None
    at_home = loc["country"] == home
    if loc.loc[at_home, "region"].notna().mean() < region_coverage:
        return "country", None
    return "region", home


def place_of(loc: pd.DataFrame, level: str, home: str | None) -> pd.Series:
    """The place of each customer at ``level``: the region at home, else the country; None without location."""
    if level == "region":
        at_home = loc["country"] == home
        return pd.Series(np.where(at_home, loc["region"], loc["country"]), index=loc.index, dtype=object) \
            .where(lambda s: s.notna(), None)
    return loc["country"].astype(object).where(loc["country"].notna(), None)


def group_places(place: pd.Series, k_min: int) -> pd.Series:
    """Segment per customer: the place, ``Other`` for places under ``k_min`` customers, ``No location``.

    ``No location`` under k_min joins ``Other``; while ``Other`` is under k_min (and not empty), the smallest
    remaining place joins it (ties: by name). So no segment is under k_min unless the whole shop is.
    """
    seg = place.astype(object).where(place.notna(), NO_LOCATION)
    counts = seg[seg != NO_LOCATION].value_counts()
    small = set(counts[counts < k_min].index)
    n_none = int((seg == NO_LOCATION).sum())
    fold_none = 0 < n_none < k_min
    n_other = int(counts[list(small)].sum()) + (n_none if fold_none else 0)
    big = counts[counts >= k_min]
    big = big.iloc[np.lexsort((big.index.astype(str), big.to_numpy()))]  # smallest first, then by name
    for name, n in big.items():
        if n_other == 0 or n_other >= k_min:
            break
        small.add(name)
        n_other += int(n)
    out = seg.where(~seg.isin(small), OTHER)
    if fold_none:
        out = out.where(out != NO_LOCATION, OTHER)
    return out


def place_name(place: str, level: str, home: str | None) -> str:
    """A readable name: Brazilian state codes get their names ("São Paulo (SP)"); the rest as stored."""
    if level == "region" and home is not None and home.upper() in BRAZIL and place in BRAZIL_STATES:
        return f"{BRAZIL_STATES[place][0]} ({place})"
    return place
