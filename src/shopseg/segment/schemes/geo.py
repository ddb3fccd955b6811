"""Geography: country, or region within the home country of a mostly domestic shop; small places grouped so no
segment has fewer than ``privacy.dp.k_min`` customers; customers without a location in "No location".

Each segment's profile carries the level, the home country, how many of its customers were located by their
orders and, for "Other", the places it groups. The per-place figures (customers, revenue, average order value,
repeat rate, churn risk, CLV) are read after the run, when churn and CLV exist (churn runs after segments), by
:func:`shopseg.views.segment_figures`, for any scheme: the report's geography section and
``GET /segments?scheme=geo`` show them. A dimension: every other scheme's profile says where its
customers are (``by_geo``).
"""

from __future__ import annotations

import pandas as pd

from ...params import Interval, Options
from .._registry import Scheme, SchemeContext, SchemeResult
from ..geography import (NO_LOCATION, OTHER, choose_level, customer_locations, customer_places, group_places,
                         place_name, place_of)


def compute(ctx: SchemeContext) -> SchemeResult:
    cfg = ctx.config
    k_min = cfg["segments.geo.min_customers"] or cfg["privacy.dp.k_min"]
    loc = customer_locations(ctx.ws, ctx.as_of).set_index("customer_id").reindex(ctx.features["customer_id"])
    level, home = (cfg["segments.geo.level"], None) if cfg["segments.geo.level"] == "country" else \
        choose_level(loc, cfg["segments.geo.domestic_share"], cfg["segments.geo.region_coverage"])
    place = place_of(loc.reset_index(drop=True), level, home)
    seg = group_places(place, k_min)
    grouped = sorted(place[(seg == OTHER).to_numpy() & place.notna().to_numpy()].astype(str).unique())
    from_orders = (loc["source"].to_numpy() == "orders").astype(int)
    from_orders = pd.Series(from_orders).groupby(seg.to_numpy()).sum()
    extras = {s: {"level": level, "home_country": home, "k_min": int(k_min),
                  "located_by_orders": int(from_orders.get(s, 0)),
                  **({"places": grouped} if s == OTHER else {})} for s in set(seg)}
    names = {s: place_name(s, level, home) for s in set(seg)}
    note = f"{level} level" + (f" within {home}" if home else "") + f"; {len(grouped)} small place(s) in Other"
    return SchemeResult(seg.to_numpy(dtype=object), extras=extras, names=names,
                        state={"geo": {"level": level, "home_country": home, "note": note}})


def state(ws, runs) -> dict | None:
    """The run's geo segments, level and home country (from its segment_profiles), or None without them."""
    import json

    rid = runs.of("segment_profiles")
    rows = ws.sql("SELECT segment, profile FROM segment_profiles WHERE run_id = ? AND scheme = 'geo'", [rid]) \
        if rid is not None else []
    if not rows:
        return None
    prof = json.loads(rows[0][1] or "{}")
    return {"segments": {str(seg) for seg, _ in rows}, "level": prof.get("level", "country"),
            "home": prof.get("home_country")}


def score(st, reader, customers, as_of):
    """Each customer's place at the run's level; a place the run grouped (or never saw) is Other, as the run's
    grouping would have it; no location is "No location" unless the run folded it into Other."""
    if st is None:
        return None
    ids = [str(c) for c in customers]
    places = customer_places(reader, as_of, ids, st["level"], st["home"])
    seg = [NO_LOCATION if places.get(c) is None else places[c] for c in ids]
    return [s if s in st["segments"] and s != OTHER else OTHER for s in seg]


SCHEME = Scheme("geo", "Where customers are: country, or state/region for a mostly domestic shop; small places "
                "grouped (privacy k_min).", compute, dimension=True, state=state, score=score,
                parameters={"level": Options("auto", "country"), "domestic_share": Interval(float, 0, 1),
                            "region_coverage": Interval(float, 0, 1), "min_customers": Interval(int, 0, None)})
