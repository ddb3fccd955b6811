"""Geography: locations from the customer table or the orders, small places grouped under the privacy k_min, a
customer with no location, the region level of a mostly domestic shop, figures withheld under k_min, the API, and
the report's map drawn in headless Chromium with the network off."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from shopseg.config import load_config
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.pipeline import run_pipeline
from shopseg.segment.geography import NO_LOCATION, OTHER, choose_level, customer_locations, group_places
from shopseg.views import segment_figures
from shopseg.workspace import open_workspace

from .conftest import CHROMIUM_ARGS, chromium_path


def test_small_places_are_grouped_so_no_segment_is_under_k_min():
    place = pd.Series(["UK"] * 20 + ["FR"] * 6 + ["DE"] * 4 + ["NL"] * 3 + ["IS"] * 1 + [None] * 7)
    got = group_places(place, k_min=5).value_counts().to_dict()
    assert got == {"UK": 20, "No location": 7, "FR": 6, "Other": 8}  # DE, NL, IS: 4 + 3 + 1
    # No location under k_min joins Other: DE 2 + No location 4 = 6 >= 5; FR stays
    place = pd.Series(["UK"] * 20 + ["FR"] * 6 + ["DE"] * 2 + [None] * 4)
    got = group_places(place, k_min=5).value_counts().to_dict()
    assert got == {"UK": 20, "FR": 6, "Other": 6}
    # Other still under k_min: the smallest place at or above it joins (FR 6 before UK 20)
    place = pd.Series(["UK"] * 20 + ["FR"] * 6 + ["DE"] * 2)
    assert group_places(place, k_min=5).value_counts().to_dict() == {"UK": 20, "Other": 8}  # DE 2 + FR 6
    for k in (1, 3, 5, 8, 30):  # whatever k_min, no segment is under it unless the whole shop is
        sizes = group_places(place, k_min=k).value_counts()
        assert sizes.min() >= min(k, len(place)), (k, sizes.to_dict())


def test_a_place_with_exactly_k_min_customers_stays_a_segment():
    place = pd.Series(["UK"] * 5 + ["FR"] * 5)
    assert group_places(place, k_min=5).value_counts().to_dict() == {"UK": 5, "FR": 5}


@pytest.fixture
def shop(tmp_path):
    ws = open_workspace(tmp_path / "ws")
    load_fixture_shop(ws)
    # c03 (FR in the table) loses its country: its orders say FR twice, DE once; c11 (no order) has none at all
    ws.con.execute("UPDATE customers SET country = NULL WHERE customer_id IN ('c03', 'c11')")
    ws.con.execute("UPDATE customers SET country = 'unspecified' WHERE customer_id = 'c10'")
    ws.con.execute("UPDATE orders SET country = 'FR' WHERE customer_id = 'c03'")
    yield ws
    ws.close()


def test_a_customer_without_country_is_placed_by_their_orders_and_one_without_anything_has_no_location(shop):
    loc = customer_locations(shop, FIXTURE_AS_OF).set_index("customer_id")
    assert loc.loc["c03", "country"] == "FR" and loc.loc["c03", "source"] == "orders"
    assert loc.loc["c01", "country"] == "GB" and loc.loc["c01", "source"] == "customer"
    assert pd.isna(loc.loc["c11", "country"]) and pd.isna(loc.loc["c11", "source"])
    assert pd.isna(loc.loc["c10", "country"])  # 'unspecified' is no location
    cfg = load_config(overrides={"segments": {"schemes": ["rfm", "geo"], "geo": {"min_customers": 1}}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SegmentWarning: 11 customers are few for quantiles
        run_pipeline(shop, FIXTURE_AS_OF, config=cfg, stages=["segments"])
    seg = dict(shop.sql("SELECT customer_id, segment FROM segments WHERE scheme = 'geo'"))
    assert seg["c03"] == "FR" and seg["c11"] == NO_LOCATION and seg["c10"] == NO_LOCATION
    assert seg["c01"] == "GB" and seg["c05"] == "DE" and seg["c06"] == "NL"
    prof = {s: json.loads(p) for s, p in shop.sql("SELECT segment, profile FROM segment_profiles "
                                                    "WHERE scheme = 'geo'")}
    assert prof["FR"]["located_by_orders"] == 1 and prof["FR"]["level"] == "country"
    # geography as a dimension of the other schemes: where each RFM segment is
    rfm = {s: json.loads(p) for s, p in shop.sql("SELECT segment, profile FROM segment_profiles "
                                                   "WHERE scheme = 'rfm'")}
    assert rfm["Prospect"]["by_geo"] == [{"segment": NO_LOCATION, "share": 1.0}]  # c10, c11


def test_figures_of_a_place_under_k_min_are_withheld(shop):
    cfg = load_config(overrides={"segments": {"schemes": ["geo"], "geo": {"min_customers": 2}}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_pipeline(shop, FIXTURE_AS_OF, config=cfg, stages=["segments"])
    sizes = dict(shop.sql("SELECT segment, count(*) FROM segments WHERE scheme = 'geo' GROUP BY 1"))
    # GB c01 c02 c04 c07 c09; FR c03 c08; DE c05; NL c06; none c10 c11 -> DE 1 and NL 1 grouped
    assert sizes == {"GB": 5, "FR": 2, "No location": 2, OTHER: 2}
    fig = segment_figures(shop, None, "geo", k_min=3).set_index("segment")
    # GB by hand: monetary_net 290 + 365 + 310 + 180 + 160; sales 1,365 over 5 + 4 + 3 + 2 + 3 orders; all repeat
    assert not fig.loc["GB", "suppressed"] and fig.loc["GB", "customers"] == 5 and fig.loc["GB", "buyers"] == 5
    assert fig.loc["GB", "revenue"] == pytest.approx(1305.0)
    assert fig.loc["GB", "avg_order_value"] == pytest.approx(1365 / 17)
    assert fig.loc["GB", "repeat_rate"] == 1.0
    assert pd.isna(fig.loc["GB", "churn_risk"]) and pd.isna(fig.loc["GB", "clv"])  # no churn or clv stage ran
    for s in ("FR", "No location", OTHER):  # 2 customers each, under k_min = 3: size shown, figures withheld
        assert fig.loc[s, "suppressed"] and fig.loc[s, "customers"] == 2
        assert fig.loc[s, ["revenue", "avg_order_value", "repeat_rate", "churn_risk", "clv"]].isna().all()


def test_a_mostly_domestic_shop_with_regions_is_described_by_region():
    loc = pd.DataFrame({"country": ["BR"] * 18 + ["PT", None],
                        "region": ["SP"] * 10 + ["RJ"] * 6 + [None, None, None, None]})
    assert choose_level(loc, domestic_share=0.8, region_coverage=0.5) == ("region", "BR")
    assert choose_level(loc, domestic_share=0.99, region_coverage=0.5) == ("country", None)
    assert choose_level(loc, domestic_share=0.8, region_coverage=0.95) == ("country", None)


def _brazil(ws):
    ws.con.execute("UPDATE customers SET country = 'BR', region = CASE WHEN customer_id <= 'c06' THEN 'SP' "
                   "ELSE 'RJ' END")


def test_the_report_map_renders_offline_in_headless_chromium(shop, tmp_path):
    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    from shopseg.report import build_report

    cfg = load_config(overrides={"segments": {"schemes": ["rfm", "geo"], "geo": {"min_customers": 1}}})
    paths = {}
    br = open_workspace(tmp_path / "br")
    load_fixture_shop(br)
    _brazil(br)  # the same shop, all in Brazil with states: bubbles per state
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind, ws in (("country", shop), ("region", br)):
            rid = run_pipeline(ws, FIXTURE_AS_OF, config=cfg, stages=["segments"]).run_id
            paths[kind] = build_report(ws, rid, tmp_path / f"{kind}.html")
    level = {s: json.loads(p)["level"] for s, p in br.sql(
        "SELECT segment, profile FROM segment_profiles WHERE scheme = 'geo' AND run_id = ?", [rid])}
    br.close()
    assert level["SP"] == "region" and set(level) == {"SP", "RJ"}
    drawn = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for kind, path in paths.items():
            page = browser.new_page()
            outside, errors = [], []
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                       else (outside.append(route.request.url), route.abort()))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            sel = '[data-section="geo"] path.choroplethlocation' if kind == "country" else \
                '[data-section="geo"] .scattergeo path.point'
            page.wait_for_function(f"document.querySelectorAll('{sel}').length > 0", timeout=30000)
            drawn[kind] = page.evaluate(f"document.querySelectorAll('{sel}').length")
            # the base map is drawn from the bundled outline: plotly.js puts it in .layer.land / .countries
            base = page.evaluate("document.querySelectorAll('[data-section=\"geo\"] .layer.countries path, "
                                 "[data-section=\"geo\"] .layer.land path').length")
            assert base >= 2 and not outside and not errors, (kind, base, outside, errors)
            page.close()
        browser.close()
    assert drawn == {"country": 4, "region": 2}  # GB FR DE NL (No location is not on a map); SP RJ


def test_the_api_answers_segments_of_scheme_geo_with_figures(shop, tmp_path):
    pytest.importorskip("fastapi")
    from .test_serve_api import HTTPX_WARNING

    cfg = load_config(overrides={"segments": {"schemes": ["geo"], "geo": {"min_customers": 1}}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_pipeline(shop, FIXTURE_AS_OF, config=cfg, stages=["segments"])
    shop.close()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        from fastapi.testclient import TestClient

        from shopseg.serve import create_app

        c = TestClient(create_app(tmp_path / "ws", "r", "w"))
        body = c.get("/segments", params={"scheme": "geo"}, headers={"X-API-Key": "r"}).json()
    segs = {s["segment"]: s for s in body["schemes"][0]["segments"]}
    assert {k: v["n_customers"] for k, v in segs.items()} == {"GB": 5, "FR": 2, "DE": 1, "NL": 1, NO_LOCATION: 2}
    # every place is under the default privacy k_min (10): sizes shown, figures withheld
    assert all(v["figures"]["suppressed"] and v["figures"]["revenue"] is None for v in segs.values())
    assert segs["GB"]["profile"]["level"] == "country" and segs["GB"]["figures"]["customers"] == 5
