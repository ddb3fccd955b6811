"""One plan everywhere: `shopseg plan`, the report, the dashboard and the API show the same counts and totals.

The run is the fixture shop's, planned with every default campaign allowed (min_expected_value -100, so the
money-losing discount campaigns are in) and half of each audience held out, so every surface has several
campaigns, treatment and control groups to add up.  The expected figures come from the actions table itself.
"""

from __future__ import annotations

import re
import warnings

import pytest

from shopseg.act import plan_actions, plan_summary, plan_totals
from shopseg.config import load_config
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.pipeline import start_run
from shopseg.segment import segment_all
from shopseg.workspace import open_workspace

fastapi = pytest.importorskip("fastapi")
HTTPX_WARNING = "Using `httpx` with `starlette.testclient` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=HTTPX_WARNING)
    from fastapi.testclient import TestClient

from shopseg.serve import create_app  # noqa: E402

READ, WRITE = "read-key-1", "write-key-1"


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "ws"
    ws = open_workspace(path)
    load_fixture_shop(ws)
    cfg = load_config(overrides={"segments": {"cluster": {"sample_size": 100}},
                                 "act": {"min_expected_value": -100.0, "campaign_defaults": {"control_share": 0.5}}})
    rid = start_run(ws, FIXTURE_AS_OF, cfg, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SegmentWarning: 12 customers are few for quantiles
        segment_all(ws, rid, FIXTURE_AS_OF, cfg)
    plan_actions(ws, rid, FIXTURE_AS_OF, config=cfg)
    ws.con.execute("UPDATE runs SET status = 'done' WHERE run_id = ?", [rid])
    truth = ws.df("""SELECT count(*) FILTER (WHERE "group" = 'treatment') AS treatment,
                            count(*) FILTER (WHERE "group" = 'control') AS control,
                            sum(cost) AS cost, sum(expected_value) AS expected_value,
                            count(DISTINCT campaign) AS campaigns FROM actions""").iloc[0]
    summary = plan_summary(ws, rid)
    ws.close()
    return path, rid, truth, summary


def test_the_plan_adds_up_to_the_actions_table(planned):
    _, _, truth, summary = planned
    t = plan_totals(summary)
    assert t["campaigns"] == truth["campaigns"] >= 3
    assert (t["treatment"], t["control"]) == (truth["treatment"], truth["control"])
    assert t["control"] > 0
    assert t["cost"] == pytest.approx(truth["cost"])
    assert t["expected_value"] == pytest.approx(truth["expected_value"])


def test_plan_report_dashboard_and_api_show_the_same_counts_and_totals(planned, tmp_path, monkeypatch):
    import shutil

    from typer.testing import CliRunner

    from shopseg.cli import app as cli_app
    from shopseg.report._build import ReportContext
    from shopseg.report._sections_outcomes import campaign_plan

    path, rid, truth, summary = planned
    shutil.copytree(path, tmp_path / "ws")
    ws_path = tmp_path / "ws"
    t = plan_totals(summary)
    want = {"treatment": f"{t['treatment']:,}", "control": f"{t['control']:,}", "cost": f"{t['cost']:,.2f}",
            "value": f"{t['expected_value']:,.2f}"}

    # shopseg plan: the total row
    from shopseg import _cli_out

    monkeypatch.setenv("COLUMNS", "200")
    # rich reads COLUMNS when its console is made, at import: a console imported earlier in this process
    # (another test module first, as under pytest-xdist) keeps 80 columns and shortens the campaign names
    monkeypatch.setattr(_cli_out.console, "_width", 200)
    out = CliRunner().invoke(cli_app, ["--workspace", str(ws_path), "plan"])
    assert out.exit_code == 0, out.output
    total_line = next(line for line in out.output.splitlines() if re.search(r"\btotal\b", line))
    cells = [c.strip() for c in re.split(r"[│|]", total_line) if c.strip()]
    assert cells[:3] == ["total", want["treatment"], want["control"]]
    assert cells[3] == want["cost"] and cells[5] == want["value"]
    for r in summary.itertuples():
        found = [x for x in out.output.splitlines() if f" {r.campaign} " in x]
        assert found, (r.campaign, out.output)
        line = found[0]
        assert f" {r.treatment:,} " in line and f" {r.control:,} " in line

    # the report's campaign section: its sentence and no "(total)" among the campaigns
    ws = open_workspace(ws_path, create=False)
    try:
        sec = campaign_plan(ReportContext(ws=ws, run_id=rid, as_of=FIXTURE_AS_OF))
    finally:
        ws.close()
    assert sec.takeaway.startswith(f"{want['treatment']} customers are contacted in {t['campaigns']} campaigns "
                                   f"({want['control']} held out as control groups); total cost "
                                   f"{t['cost']:,.0f} ")
    assert "(total)" not in sec.html

    # the API and the dashboard
    app = create_app(ws_path, READ, WRITE)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        client = TestClient(app)
    with client:
        api = client.get("/campaign", headers={"X-API-Key": READ}).json()
        client.post("/dashboard/login", data={"key": READ})
        page = client.get("/dashboard/campaign").text
    assert api["run_id"] == rid
    assert {k: api["totals"][k] for k in ("treatment", "control", "campaigns")} == \
        {"treatment": t["treatment"], "control": t["control"], "campaigns": t["campaigns"]}
    assert api["totals"]["cost"] == pytest.approx(t["cost"])
    assert api["totals"]["expected_value"] == pytest.approx(t["expected_value"])
    assert [(r["campaign"], r["treatment"], r["control"]) for r in api["summary"]] == \
        list(zip(summary.campaign, summary.treatment, summary.control))
    foot = re.search(r'<tr id="campaign-total">(.*?)</tr>', page, re.S).group(1)
    nums = re.findall(r'<th class="num">([^<]*)</th>', foot)
    assert nums[:3] == [want["treatment"], want["control"], want["cost"]]
    assert nums[4] == want["value"]


def test_a_run_that_planned_nothing_says_so(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from shopseg.cli import app as cli_app

    ws = open_workspace(tmp_path / "ws")
    load_fixture_shop(ws)
    # nobody is worth contacting at a minimum expected value of a million
    cfg = load_config(overrides={"segments": {"cluster": {"sample_size": 100}}, "act": {"min_expected_value": 1e6}})
    rid = start_run(ws, FIXTURE_AS_OF, cfg, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segment_all(ws, rid, FIXTURE_AS_OF, cfg)
    assert plan_actions(ws, rid, FIXTURE_AS_OF, config=cfg).actions.empty
    summary = plan_summary(ws, rid)  # the (empty) actions table of the run
    ws.close()
    assert summary.empty and summary.attrs["run_id"] == rid
    assert (plan_totals(summary)["treatment"], plan_totals(summary)["cost"]) == (0, 0.0)
    out = CliRunner().invoke(cli_app, ["--workspace", str(tmp_path / "ws"), "plan", "--run", str(rid)])
    assert out.exit_code == 0, out.output
    assert f"Run {rid} planned no actions" in out.output
