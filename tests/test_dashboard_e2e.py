"""The dashboard in headless Chromium: every page renders, the churn slider moves the numbers.

Serves the demo shop with uvicorn on 127.0.0.1 (a free port, in a thread) and
drives Debian's chromium through Playwright (no browser download).  Skipped,
with the reason, when chromium or Playwright is absent.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import warnings

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

from tests.test_serve_synth import build_demo_workspace  # noqa: E402

from shopseg.serve import create_app  # noqa: E402

CHROMIUM = shutil.which("chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium not found on PATH (apt-get install -y chromium): dashboard test skipped")
    path = tmp_path_factory.mktemp("e2e") / "ws"
    # with recommendations and a campaign plan, so every page has its widest content
    build_demo_workspace(path, stages=("clv", "segments", "churn", "baskets", "recommend", "act"))
    import json

    from typer.testing import CliRunner

    from shopseg.cli import app as cli_app

    got = CliRunner().invoke(cli_app, ["--workspace", str(path), "--json", "plan"])
    PLAN[str(path)] = json.loads(got.stdout)["plan"]
    port = free_port()
    config = uvicorn.Config(create_app(path, "read-e2e", "write-e2e"), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not t.is_alive():
            pytest.fail("uvicorn did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", path
    srv.should_exit = True
    t.join(timeout=10)


@pytest.fixture(scope="module")
def plan_json(server):
    """`shopseg plan --json` of the demo run, read before the service took the workspace."""
    return PLAN[str(server[1])]


PLAN: dict = {}


@pytest.fixture(scope="module")
def page(server):
    base, _ = server
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pg = browser.new_page()
            pg.set_default_timeout(15_000)
            pg.goto(f"{base}/dashboard/login")
            pg.fill("#key", "read-e2e")
            pg.click("button[type=submit]")
            pg.wait_for_url(f"{base}/dashboard")
            yield pg, base
            browser.close()


def test_dashboard_requires_a_key_and_shows_the_segment_overview(page):
    pg, base = page
    # every default scheme of the demo shop: rfm, lifecycle, value_tier, cluster, geo, interest, age_band, gender
    assert sorted(pg.locator("section.scheme").evaluate_all("els => els.map(e => e.dataset.scheme)")) == \
        ["age_band", "cluster", "gender", "geo", "interest", "lifecycle", "rfm", "value_tier"]
    rfm = pg.locator("section[data-scheme=rfm]")
    assert "Champions" in rfm.inner_text()
    total = sum(int(x.replace(",", "")) for x in rfm.locator("td.num").all_inner_texts())
    assert total == 300


def test_customer_lookup_page_shows_segments_churn_and_clv(page):
    pg, base = page
    pg.goto(f"{base}/dashboard/customer")
    pg.fill("#customer-id", "C0000001")
    pg.click("button[type=submit]")
    pg.wait_for_selector("#customer")
    assert "rfm" in pg.locator("#segments").inner_text()
    assert "%" in pg.locator("#churn").inner_text()
    assert "P(alive)" in pg.locator("#clv").inner_text()
    assert pg.locator("#features tr").count() > 20


def test_campaign_page_shows_the_counts_and_totals_of_shopseg_plan(page, plan_json):
    pg, base = page
    pg.goto(f"{base}/dashboard/campaign")
    assert pg.locator("h1").inner_text() == "Campaign plan"
    rows = pg.locator("#campaign-summary tbody tr").evaluate_all(
        "trs => trs.map(tr => [...tr.cells].map(td => td.innerText.trim()))")
    want = [r for r in plan_json if r["campaign"] != "total"]
    assert len(rows) == len(want) >= 1
    for got, w in zip(rows, want):  # campaign, channel, treatment, control, cost, incremental, expected value
        assert got[:7] == [w["campaign"], w["channel"], f"{w['treatment']:,}", f"{w['control']:,}",
                           f"{w['cost']:,.2f}", f"{w['incremental value']:,.2f}", f"{w['expected value']:,.2f}"]
    total = next(r for r in plan_json if r["campaign"] == "total")
    foot = pg.locator("#campaign-total th").all_inner_texts()
    assert foot[2:4] == [f"{total['treatment']:,}", f"{total['control']:,}"]


def test_no_page_is_wider_than_the_window(page):
    pg, base = page
    pg.set_viewport_size({"width": 1024, "height": 768})
    cid = pg.request.get(f"{base}/segments/rfm/Champions/members", headers={"X-API-Key": "read-e2e"}).json()
    wide = {}
    for path in ("/dashboard", "/dashboard/campaign", "/dashboard/churn", "/dashboard/segment?scheme=rfm&segment=Champions",
                 f"/dashboard/customer?id={cid['customer_ids'][0]}"):
        pg.goto(base + path)
        w = pg.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if w[0] > w[1]:
            wide[path] = w
    assert wide == {}


def test_customer_page_names_the_products_and_says_the_next_action(page):
    pg, base = page
    pg.goto(f"{base}/dashboard/campaign")
    cid = pg.locator("#actions tbody tr td a").first.inner_text()
    pg.goto(f"{base}/dashboard/customer?id={cid}")
    action = pg.locator("#next-action").inner_text()
    assert " by " in action or action.startswith("Held out of ")
    assert "{" not in action and "\\u0027" not in action
    recs = pg.locator("#recommendations li").all_inner_texts()
    assert recs, "the demo run recommends to every customer"
    view = pg.request.get(f"{base}/customers/{cid}", headers={"X-API-Key": "read-e2e"}).json()
    names = [r["product_name"] for r in view["recommendations"]]
    assert [r.split(" (")[0] for r in recs] == names and all(names)  # names, not ids
    assert not set(names) & {r["product_id"] for r in view["recommendations"]}


def test_moving_the_churn_slider_changes_reach_and_false_alarms(page):
    pg, base = page
    pg.goto(f"{base}/dashboard/churn")
    low = (pg.locator("#true-churners").inner_text(), pg.locator("#false-alarms").inner_text())
    pg.locator("#threshold").fill("0")
    at_zero = (int(pg.locator("#true-churners").inner_text()), int(pg.locator("#false-alarms").inner_text()))
    pg.locator("#threshold").fill("95")
    at_high = (int(pg.locator("#true-churners").inner_text()), int(pg.locator("#false-alarms").inner_text()))
    assert pg.locator("#threshold-value").inner_text() == "0.95"
    assert at_zero[0] + at_zero[1] > at_high[0] + at_high[1]  # a higher bar reaches fewer customers
    assert at_zero[1] > at_high[1]  # and raises fewer false alarms
    assert low[0] != "–"  # the script filled the numbers in on load


def test_the_page_loads_nothing_from_outside(page):
    pg, base = page
    seen = []
    pg.on("request", lambda r: seen.append(r.url))
    for path in ("/dashboard", "/dashboard/churn", "/dashboard/customer?id=C0000001", "/dashboard/campaign"):
        pg.goto(base + path)
    assert seen and all(u.startswith(base) for u in seen)


def test_the_key_is_posted_never_put_in_a_url_and_the_cookie_is_a_session(page):
    base = page[1]
    ctx = page[0].context.browser.new_context()  # no cookie yet
    pg = ctx.new_page()
    urls, methods = [], []
    pg.on("request", lambda r: (urls.append(r.url), methods.append((r.method, r.url))))
    pg.goto(f"{base}/dashboard/login")
    pg.fill("#key", "read-e2e")
    pg.click("button[type=submit]")
    pg.wait_for_url(f"{base}/dashboard")
    headers = pg.request.get(f"{base}/dashboard").headers
    (cookie,) = ctx.cookies()
    pg.click("form.logout button")  # logging out ends the session: the dashboard asks for the key again
    pg.wait_for_url(f"{base}/dashboard/login")
    pg.goto(f"{base}/dashboard")
    after = pg.url
    ctx.close()
    assert cookie["name"] == "shopseg_session" and cookie["value"] != "read-e2e"  # a session token, not the key
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert after == f"{base}/dashboard/login"
    assert ("POST", f"{base}/dashboard/login") in methods
    assert not [u for u in urls if "read-e2e" in u]
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self';" in headers["content-security-policy"]


@pytest.mark.parametrize("path, ready", [("/docs", ".opblock"), ("/redoc", "[data-section-id]")])
def test_the_api_docs_render_with_the_network_off(page, path, ready):
    base = page[1]
    ctx = page[0].context.browser.new_context()
    pg = ctx.new_page()
    outside, errors = [], []
    pg.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
             else (outside.append(route.request.url), route.abort()))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(base + path)
    pg.wait_for_selector(ready, timeout=20_000)
    n = pg.locator(ready).count()
    text = pg.locator("body").inner_text()
    ctx.close()
    assert outside == [] and errors == []
    assert n >= 5 and "/segments" in text


def test_segments_link_to_their_members_and_members_to_their_page(page):
    pg, base = page
    pg.goto(f"{base}/dashboard")
    pg.locator("section[data-scheme=rfm] a.seg").first.click()
    pg.wait_for_selector("#members")
    assert "customers" in pg.locator("#members-count").inner_text()
    first = pg.locator("#members a").first
    cid = first.inner_text()
    first.click()
    pg.wait_for_selector("#customer")
    assert cid in pg.locator("#customer h2").inner_text()
    assert pg.locator("#status").inner_text().strip()  # the one-sentence status
    pg.goto(f"{base}/dashboard/segment?scheme=rfm&segment=Nobody")
    assert pg.locator("#no-segment").count() == 1
