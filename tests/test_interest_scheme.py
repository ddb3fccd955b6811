"""The interest, age_band and gender schemes on the fixture shop: stored, shown (CLI, API, view), targeted by the
playbook, forgotten; demographics skipped with a note when the shop has none, a profile dimension when it has."""

from __future__ import annotations

import json
import warnings

import pytest
from typer.testing import CliRunner

from shopseg.act import plan_actions
from shopseg.cli import app
from shopseg.config import load_config
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.segment import segment_all
from shopseg.trust import forget
from shopseg.views import customer_interests, customers
from shopseg.workspace import open_workspace

from .conftest import stored_segments_run
from .test_act_playbook import DEFAULT_CAMPAIGNS

SCHEMES = ["rfm", "interest", "age_band", "gender"]
# The fixture shop is tiny: prior weight k = 1 (default 2). Fixture evidence (lines 1, views 0.2): Accessories is
# 4 of the shop's 29.8 (0.134); c03 bought one Flow strap (1 line): (1 + 1) / (1 x 0.134 + 1) = 1.76; c08 1 line +
# 2 views of 3.4: (1.4 + 1) / (3.4 x 0.134 + 1) = 1.65; c06's 2 sock orders (Apparel, 13.8 / 29.8):
# (2 + 1) / (2 x 0.463 + 1) = 1.56 (docs/segments.md)
INTERESTS = {"c03": "Accessories", "c06": "Apparel", "c08": "Accessories"}

def _run(path, demographics: bool = False):
    ws = open_workspace(path)
    load_fixture_shop(ws)
    if demographics:  # c01-c06 gave a birth date; c01, c02 a gender
        ws.con.execute("UPDATE customers SET birth_date = TIMESTAMP '1990-07-01' - INTERVAL (CAST(right("
                       "customer_id, 2) AS INTEGER) * 10) YEAR WHERE customer_id <= 'c06'")
        ws.con.execute("UPDATE customers SET gender = CASE customer_id WHEN 'c01' THEN 'F' ELSE 'm' END "
                       "WHERE customer_id IN ('c01', 'c02')")
    cfg = load_config(overrides={"segments": {"schemes": SCHEMES, "interest": {"prior_weight": 1.0}}})
    rid, run = stored_segments_run(ws, cfg)
    ws.close()
    return rid, run


@pytest.fixture
def shop(tmp_path):
    path = tmp_path / "ws"
    rid, run = _run(path)
    return path, rid, run


def test_the_interest_scheme_holds_the_primary_interest_and_customer_interests_all(shop):
    path, rid, run = shop
    got = dict(zip(run.segments["customer_id"], run.segments["interest"]))
    assert {c: s for c, s in got.items() if s != "no clear interest"} == INTERESTS
    with open_workspace(path, create=False, read_only=True) as ws:
        rows = ws.sql("SELECT customer_id, rank, interest, name, round(lift, 2) FROM customer_interests "
                      "WHERE run_id = ? ORDER BY 1", [rid])
        name = ws.scalar("SELECT name FROM segment_profiles WHERE run_id = ? AND scheme = 'interest' "
                         "AND segment = 'Accessories'", [rid])
    assert rows == [("c03", 1, "Accessories", "Accessories, Flow", 1.76), ("c06", 1, "Apparel", "Apparel, Nova", 1.56),
                    ("c08", 1, "Accessories", "Accessories, Flow", 1.65)]
    assert name == "Accessories: Flow"


def test_demographic_schemes_are_skipped_with_a_note_when_the_shop_has_no_such_column(shop):
    path, rid, run = shop
    assert list(run.segments.columns) == ["customer_id", "rfm", "interest"]
    assert run.state["skipped"] == {
        "age_band": "skipped: no customer has a birth_date or an age_band (optional customers columns)",
        "gender": "skipped: no customer has a gender (optional customers column)"}
    with open_workspace(path, create=False, read_only=True) as ws:
        assert {r[0] for r in ws.sql("SELECT DISTINCT scheme FROM segments")} == {"rfm", "interest"}


def test_the_interest_scheme_is_skipped_when_no_product_has_a_category_or_brand(tmp_path):
    ws = open_workspace(tmp_path / "ws")
    load_fixture_shop(ws)
    ws.con.execute("UPDATE products SET category = NULL, brand = NULL")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = segment_all(ws, None, FIXTURE_AS_OF, load_config(overrides={"segments": {"schemes": SCHEMES}}))
    ws.close()
    assert list(run.segments.columns) == ["customer_id", "rfm"]
    assert run.state["skipped"]["interest"] == "skipped: no product of the shop has a category or a brand"


def test_demographics_are_schemes_and_a_profile_dimension_when_the_shop_has_them(tmp_path):
    rid, run = _run(tmp_path / "ws", demographics=True)
    ages = dict(zip(run.segments["customer_id"], run.segments["age_band"]))
    # c01 born 1980-07-01 is 44 on 2024-07-01; c02 1970 -> 54; c03 1960 -> 64; c04.. 65+; c07.. unknown
    assert [ages[c] for c in ("c01", "c02", "c03", "c04", "c06", "c07")] == \
        ["35-44", "45-54", "55-64", "65+", "65+", "unknown"]
    assert run.segments["gender"].value_counts().to_dict() == {"unknown": 9, "female": 1, "male": 1}
    prof = run.profiles.set_index(["scheme", "segment"])["profile"]
    by_gender = json.loads(prof[("interest", "Accessories")])["by_gender"]
    assert by_gender == [{"segment": "unknown", "share": 1.0}]  # c03, c08 gave none
    assert "by_age_band" in json.loads(prof[("rfm", run.segments["rfm"].iloc[0])])


def test_a_customers_interests_are_readable_in_the_cli_the_view_and_the_api(shop):
    path, rid, _ = shop
    r = CliRunner().invoke(app, ["--workspace", str(path), "customer", "c03"])
    assert r.exit_code == 0, r.output
    assert "interests   Accessories, Flow (1.8x the shop)" in r.output
    with open_workspace(path, create=False, read_only=True) as ws:
        assert customer_interests(ws, "c03") == [{"rank": 1, "interest": "Accessories", "name": "Accessories, Flow",
                                                  "lift": 1.763}]
        assert customer_interests(ws, "c01") == []
        view = customers(ws).set_index("customer_id")
    assert view.loc["c08", "interests"].tolist() == ["Accessories, Flow"] and view["interests"].isna().sum() == 9
    pytest.importorskip("fastapi")
    from .test_serve_api import HTTPX_WARNING

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        from fastapi.testclient import TestClient

        from shopseg.serve import create_app

        for snapshot in (True, False):  # from the run's in-memory snapshot and through SQL
            c = TestClient(create_app(path, "r", "w", snapshot=snapshot))
            body = c.get("/customers/c03", headers={"X-API-Key": "r"}).json()
            assert body["interests"] == [{"rank": 1, "interest": "Accessories", "name": "Accessories, Flow",
                                          "lift": pytest.approx(2 / (1 + 4 / 29.8))}]
            assert c.get("/customers/c01", headers={"X-API-Key": "r"}).json()["interests"] == []
            segs = c.get("/segments", params={"scheme": "interest"}, headers={"X-API-Key": "r"}).json()
            assert {s["segment"]: s["n_customers"] for s in segs["schemes"][0]["segments"]} == {
                "no clear interest": 8, "Accessories": 2, "Apparel": 1}


def test_the_playbook_targets_any_of_a_customers_interests(shop):
    path, rid, _ = shop
    camps = {name: {"enabled": False} for name in DEFAULT_CAMPAIGNS}
    camps["strap_fans"] = {"when": ["interests in Accessories, Socks"], "offers": ["New straps for strap lovers"],
                           "response_rate": 0.2, "uplift": 0.1, "value": 50.0, "control_share": 0.0}
    camps["others"] = {"when": ["interests not in Accessories"], "offers": ["Hello"], "priority": -1,
                       "response_rate": 0.2, "uplift": 0.1, "value": 1.0, "control_share": 0.0}
    cfg = load_config(overrides={"act": {"budget": 0.0, "min_expected_value": -100.0, "campaigns": camps}})
    # (the plan reads the run's stored customer_interests: no interest setting is needed here)
    with open_workspace(path, create=False) as ws:
        a = plan_actions(ws, rid, FIXTURE_AS_OF, config=cfg, write=False).actions.set_index("customer_id")
    fans = a.loc[a["campaign"] == "strap_fans"]
    assert sorted(fans.index) == ["c03", "c08"]
    assert "interests: Accessories" in fans.loc["c03", "reason"]
    assert "c01" in a.index and a.loc["c01", "campaign"] == "others"  # no interest: not in Accessories


def test_forgetting_a_customer_removes_their_interests(shop):
    path, rid, _ = shop
    with open_workspace(path, create=False) as ws:
        forget(ws, ["c03"])
        assert ws.scalar("SELECT count(*) FROM customer_interests WHERE customer_id = 'c03'") == 0
        assert ws.scalar("SELECT count(*) FROM customer_interests") == 2
