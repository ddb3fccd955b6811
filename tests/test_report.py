"""The HTML report: one self-contained file, every section rendered offline in headless Chromium."""


import pytest

from shopseg.pipeline import run_pipeline
from shopseg.report import build_report
from shopseg.synth import synthesize
from shopseg.workspace import open_workspace

from .conftest import CHROMIUM_ARGS, chromium_path

SECTIONS = ["kpis", "data-quality", "revenue", "cohorts", "segments", "profiles", "clusters", "rfm", "lifecycle",
            "overlap", "migration", "drift", "churn", "clv", "rules", "reviews", "plan"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    ws = open_workspace(d / "ws")
    synthesize(ws, customers=1500, seed=3, as_of="2024-12-31")
    run_pipeline(ws, "2024-09-30", seed=3)  # a first run, so the second has migration between runs
    result = run_pipeline(ws, "2024-12-30", seed=3)
    path = build_report(ws, result.run_id)
    ws.close()
    return path


def test_report_is_one_self_contained_file(report):
    html = report.read_text(encoding="utf-8")
    assert html.count("<script") >= 2  # the inlined chart library and the charts
    # nothing is loaded from elsewhere (the browser test below also blocks and counts every request)
    assert "<script src=" not in html and "<link " not in html


def test_every_section_has_data_on_the_demo_shop(report):
    html = report.read_text(encoding="utf-8")
    churn = html[html.index('data-section="churn"'):]
    takeaway = churn[churn.index('class="takeaway"'):churn.index("</p>", churn.index('class="takeaway"'))]
    assert " Scores: " in takeaway and "resamples of the validation window" in takeaway  # which model, and why
    for sid in SECTIONS:
        assert f'data-section="{sid}" data-available="yes"' in html, f"section {sid} has no data"
    rules = html[html.index('data-section="rules"'):]
    takeaway = rules[rules.index('class="takeaway"'):rules.index("</p>", rules.index('class="takeaway"'))]
    # the rules' claim is the out-of-time backtest's (the planted pairs hold after the cutoff), not in-sample lift
    assert "Rules mined before the last 90 days held up on them: confidence " in takeaway, takeaway
    assert "out of time; hit rate " in takeaway and " vs popularity " in takeaway and "Recommendations use them" in takeaway
    assert "ready cross-sell" not in html
    assert "The top rules of 2024-10-01 on the 90 days after</h3>" in rules  # each rule of the cutoff, in and out
    assert 'id="about"' in html and "as of 2024-12-30" in html


def test_report_renders_offline_in_headless_chromium(report):
    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    requests = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.route("**/*", lambda route: (requests.append(route.request.url), route.continue_()
                                          if route.request.url.startswith("file:") else route.abort()))
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri())
        page.wait_for_function("document.querySelectorAll('.plot-container').length > 10", timeout=30000)
        for sid in SECTIONS:
            sec = page.locator(f"section#{sid}")
            assert sec.count() == 1, sid
            assert sec.locator(".takeaway").inner_text().strip(), f"section {sid} has no takeaway"
            assert sec.locator(".plot-container, table, .kpi").count() >= 1, f"section {sid} shows no chart or table"
        charts = page.locator(".plot-container svg.main-svg").count()
        browser.close()
    assert not errors, errors
    assert [u for u in requests if not u.startswith("file:")] == []
    assert charts >= 15


def test_data_model_lists_every_output_table_a_run_writes(report):
    from shopseg.schema import OUTPUT_TABLES

    ws = open_workspace(report.parent.parent, read_only=True)
    try:
        with_run = {t for (t,) in ws.sql("SELECT DISTINCT table_name FROM information_schema.columns "
                                         "WHERE column_name = 'run_id' AND table_name <> 'runs'")}
    finally:
        ws.close()
    listed = {t for t, *_ in OUTPUT_TABLES}
    assert with_run - listed == set(), "output tables missing from schema.OUTPUT_TABLES"
    assert listed - with_run == set(), "schema.OUTPUT_TABLES lists tables a full run does not write"


def test_an_aggregate_read_by_several_sections_is_computed_once_and_dropped_after():
    from datetime import datetime
    from types import SimpleNamespace

    import duckdb

    from shopseg.report._build import ReportContext

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM range(3) r(x)")
    ctx = ReportContext(ws=SimpleNamespace(con=con), run_id=None, as_of=datetime(2020, 1, 1))
    first = ctx.once("total", "SELECT sum(x) AS s FROM t")
    con.execute("INSERT INTO t VALUES (10)")
    # the second section reads the rows of the first call (0 + 1 + 2), not a new sum
    assert ctx.once("total", "SELECT sum(x) AS s FROM t") == first and con.sql(first).fetchall() == [(3,)]
    ctx.drop_temporary()
    assert con.sql("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall() == []


def test_a_chart_spec_is_the_figure_plotly_would_write_with_the_white_template():
    import json
    import re

    import plotly.graph_objects as go

    from shopseg.report._build import figure_html

    def fig():
        return go.Figure(go.Bar(x=["a<b", "c"], y=[3.5, 4]), layout=dict(height=340))

    spec = re.search(r"class='chart-spec'>(.*)</script>", figure_html(fig())).group(1)
    ref = fig().update_layout(margin=dict(l=40, r=20, t=30, b=40), height=380, template="plotly_white",
                              font=dict(family="system-ui, sans-serif", size=12))
    assert "<" not in spec and json.loads(spec) == json.loads(ref.to_json(validate=False))
