"""The scheme registry: a scheme added in one test-local module (tests/toy_scheme.py) shows up in the segments
stage, the config, the CLI, the API and the report without edits elsewhere; the built-in schemes are its entries."""

from __future__ import annotations

import warnings

import pytest
from typer.testing import CliRunner

from shopseg.cli import app
from shopseg.config import load_config
from shopseg.errors import ConfigError
from shopseg.fixtures import load_fixture_shop
from shopseg.segment import Scheme, get_scheme, register, scheme_names, unregister
from shopseg.workspace import open_workspace

from . import toy_scheme
from .conftest import stored_segments_run

# the fixture shop's 11 customers known at FIXTURE_AS_OF, by number of orders (tests/data, shopseg.fixtures)
TOY_SIZES = {"repeat": 7, "single": 2, "none": 2}  # c01 c02 c04 c06 c07 c08 c09 / c03 c05 / c10 c11


@pytest.fixture
def toy():
    register(toy_scheme.SCHEME)
    yield toy_scheme.SCHEME
    unregister("toy")


@pytest.fixture
def toy_ws(toy, tmp_path):
    path = tmp_path / "ws"
    ws = open_workspace(path)
    load_fixture_shop(ws)
    cfg = load_config(overrides={"segments": {"schemes": ["rfm", "toy"], "cluster": {"sample_size": 100}}})
    rid, run = stored_segments_run(ws, cfg)
    ws.close()
    return path, rid, run


def test_the_built_in_schemes_are_registry_entries():
    assert {"rfm", "lifecycle", "value_tier", "cluster"} <= set(scheme_names())
    for n in ("rfm", "lifecycle", "value_tier", "cluster"):
        s = get_scheme(n)
        assert s.name == n and s.doc and callable(s.compute)


def test_a_registered_scheme_is_computed_and_stored_by_the_segments_stage(toy_ws):
    path, rid, run = toy_ws
    assert list(run.segments.columns) == ["customer_id", "rfm", "toy"]
    assert run.segments["toy"].value_counts().to_dict() == TOY_SIZES
    with open_workspace(path, create=False, read_only=True) as ws:
        got = dict(ws.sql("SELECT segment, count(*) FROM segments WHERE run_id = ? AND scheme = 'toy' GROUP BY 1",
                          [rid]))
        names = dict(ws.sql("SELECT segment, name FROM segment_profiles WHERE run_id = ? AND scheme = 'toy'", [rid]))
    assert got == TOY_SIZES
    assert names == {"repeat": "Repeat buyers", "single": "One-order buyers", "none": "No order yet"}


def test_the_config_accepts_a_registered_scheme_and_names_the_known_ones_otherwise(toy):
    assert "toy" in load_config(overrides={"segments": {"schemes": ["toy"]}})["segments.schemes"]
    assert load_config(overrides={"act": {"stratify_by": "toy"}})["act.stratify_by"] == "toy"
    unregister("toy")
    with pytest.raises(ConfigError, match=r"distinct names from .*'rfm'.*Got \['toy'\] instead"):
        load_config(overrides={"segments": {"schemes": ["toy"]}})


def test_a_scheme_name_must_be_an_identifier_and_unique(toy):
    with pytest.raises(ConfigError, match="lower-case identifier.*Got 'Toy Scheme' instead"):
        Scheme("Toy Scheme", "bad", toy_scheme.compute)
    with pytest.raises(ConfigError, match="already registered"):
        register(toy_scheme.SCHEME)
    with pytest.raises(ConfigError, match="already registered"):
        register(Scheme("rfm", "a second rfm", toy_scheme.compute))


def test_the_cli_shows_a_registered_scheme(toy_ws):
    path, rid, _ = toy_ws
    r = CliRunner().invoke(app, ["--workspace", str(path), "segments", "--scheme", "toy"])
    assert r.exit_code == 0, r.output
    assert f"run {rid}: toy" in r.output and "Repeat buyers" in r.output and "63.6%" in r.output  # 7 of 11
    r = CliRunner().invoke(app, ["--workspace", str(path), "schemes"])
    assert r.exit_code == 0 and "toy" in r.output and "Repeat, single or no order" in r.output
    r = CliRunner().invoke(app, ["--workspace", str(path), "segments", "--scheme", "astrology"])
    assert r.exit_code == 2 and "No segment scheme 'astrology'" in r.output and "toy" in r.output


def test_the_api_shows_a_registered_scheme(toy_ws):
    pytest.importorskip("fastapi")
    from .test_serve_api import HTTPX_WARNING

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        from fastapi.testclient import TestClient

        from shopseg.serve import create_app

        path, rid, _ = toy_ws
        c = TestClient(create_app(path, "r", "w"))
        body = c.get("/segments", params={"scheme": "toy"}, headers={"X-API-Key": "r"}).json()
        assert [s["scheme"] for s in body["schemes"]] == ["toy"]
        segs = {s["segment"]: s for s in body["schemes"][0]["segments"]}
        assert {k: v["n_customers"] for k, v in segs.items()} == TOY_SIZES
        assert segs["repeat"]["name"] == "Repeat buyers" and segs["repeat"]["profile"]["rule"] == "frequency >= 2"
        everything = c.get("/segments", headers={"X-API-Key": "r"}).json()
        assert {s["scheme"] for s in everything["schemes"]} == {"rfm", "toy"}
        assert all(s["profile"] is None for sch in everything["schemes"] for s in sch["segments"])
        miss = c.get("/segments", params={"scheme": "astrology"}, headers={"X-API-Key": "r"})
        assert miss.status_code == 404 and "Schemes there: rfm, toy" in miss.text


def test_the_report_shows_a_registered_scheme(toy_ws):
    from shopseg.report import build_report

    path, rid, _ = toy_ws
    with open_workspace(path, create=False) as ws:
        html = build_report(ws, rid).read_text(encoding="utf-8")
    sizes = html[html.index('data-section="segments"'):]
    sizes = sizes[:sizes.index("</section>")]
    assert "<td>toy</td>" in sizes and "<td>Repeat buyers</td>" in sizes
