"""Hardening: hostile product names, review texts and campaign names never run as script in the HTML report or
the shareable report (campaign descriptions and offers too; the template used to render with autoescape off: a `<script>` product name in the "What
sells together" takeaway ran in Chromium)."""

from __future__ import annotations

import warnings

import pytest

from shopseg.config import load_config
from shopseg.pipeline import run_pipeline
from shopseg.report import build_report
from shopseg.synth import synthesize
from shopseg.trust.dp import build_shareable_report
from shopseg.workspace import open_workspace

from .conftest import CHROMIUM_ARGS, chromium_path

PAYLOADS = ["<script>alert('p')</script>", "<img src=x onerror=alert('i')>", "\"><svg onload=alert('s')>"]
# campaign names must be letters, digits, '_' and '-' (the config refuses others); their texts are free
HOSTILE_TEXT = "<script>alert('c')</script>"


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    d = tmp_path_factory.mktemp("xss")
    ws = open_workspace(d / "ws")
    synthesize(ws, customers=400, seed=5)
    n = len(PAYLOADS)
    # every product and category name, every review text carries a payload
    ws.con.execute(f"UPDATE products SET name = list_extract(?, (1 + hash(product_id) % {n})::BIGINT) || product_id, "
                   f"category = list_extract(?, (1 + hash(category) % {n})::BIGINT) || category", [PAYLOADS, PAYLOADS])
    ws.con.execute(f"UPDATE reviews SET text = list_extract(?, (1 + hash(review_id) % {n})::BIGINT) || coalesce(text, '')",
                   [PAYLOADS])
    cfg = load_config()
    hostile = {name: {"description": HOSTILE_TEXT + name, "offers": [HOSTILE_TEXT + o for o in camp["offers"]]}
               for name, camp in cfg["act.campaigns"].items()}
    cfg = cfg.with_overrides({"act": {"campaigns": hostile}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_pipeline(ws, config=cfg, seed=5)
    paths = [build_report(ws, res.run_id), build_shareable_report(ws, res.run_id, epsilon=1.0)]
    ws.close()
    return paths


def test_no_payload_reaches_the_page_as_markup(reports):
    for path in reports:
        page = path.read_text(encoding="utf-8")
        for bad in ("<script>alert", "<img src=x", "<svg onload"):
            assert bad not in page, (path.name, bad)
    main = reports[0].read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(" in main or "\\u003cscript\\u003ealert(" in main  # the names are there, as text


def test_no_dialog_fires_in_chromium(reports):
    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    dialogs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("dialog", lambda dlg: (dialogs.append(dlg.message), dlg.dismiss()))
        for path in reports:
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            page.mouse.move(10, 10)
            page.mouse.move(400, 600)
        browser.close()
    assert dialogs == []
