"""Results display as small, escaped HTML tables in notebooks (``_repr_html_``): an ingest, a run, segments and
a campaign plan, with the figures written in the tests."""

import os
import re
from datetime import datetime

import pandas as pd

from shopseg import ingest
from shopseg._html import html_table
from shopseg.act.playbook import ActionPlan
from shopseg.pipeline import RunResult
from shopseg.segment.stage import SegmentRun

DATA = os.path.join(os.path.dirname(__file__), "data")


def rows(fragment: str) -> list[list[str]]:
    body = fragment[fragment.index("<tbody>"):]
    return [re.findall(r"<td[^>]*>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", body)]


def test_an_ingest_shows_its_counts(ws):
    r = ingest(ws, os.path.join(DATA, "online_retail_tiny.csv"), preset="online-retail")
    out = r._repr_html_()
    assert "(preset online-retail)</caption>" in out
    got = dict((k, v) for k, v in rows(out))
    # the same 16 = 11 + 4 + 1 as tests/test_ingest.py's hand check of the file
    assert (got["input rows"], got["accepted"], got["quarantined"], got["exact duplicates"]) == ("16", "11", "4", "1")
    assert got["orders added"] == "8" and got["guest lines in file"] == "4"


def test_a_run_shows_one_row_per_stage_and_escapes_what_it_prints():
    r = RunResult(run_id=3, as_of=datetime(2024, 6, 30, 23, 59), status="done", stages={
        "clv": {"status": "done", "seconds": 1.25, "rows": 1200},
        "reviews": {"status": "skipped", "seconds": 0.0, "note": "no <script>alert(1)</script> reviews"}})
    out = r._repr_html_()
    assert "<caption>Run 3 as of 2024-06-30: done</caption>" in out
    assert rows(out) == [["clv", "done", "1.25", "rows=1200"],
                         ["reviews", "skipped", "0.00", "no &lt;script&gt;alert(1)&lt;/script&gt; reviews"]]
    assert "<script>" not in out


def test_segments_show_one_row_per_scheme_and_segment():
    prof = pd.DataFrame({"scheme": ["rfm", "rfm", "lifecycle"], "segment": ["Champions", "At Risk", "new"],
                         "name": ["Champions", "At Risk", "new"], "n_customers": [3, 1, 4],
                         "share": [0.75, 0.25, 1.0], "profile": ["{}"] * 3})
    seg = SegmentRun(run_id=None, features=pd.DataFrame({"customer_id": list("abcd")}), segments=pd.DataFrame(),
                     profiles=prof)
    out = seg._repr_html_()
    assert "<caption>Segments of 4 customers</caption>" in out
    assert rows(out) == [["rfm", "Champions", "Champions", "3", "75.0%"], ["rfm", "At Risk", "At Risk", "1", "25.0%"],
                         ["lifecycle", "new", "new", "4", "100.0%"]]


def test_a_plan_shows_treated_control_cost_and_value_per_campaign():
    a = pd.DataFrame({"campaign": ["vip", "vip", "vip", "win_back", "win_back"],
                      "group": ["treatment", "treatment", "control", "treatment", "control"],
                      "cost": [1.0, 2.5, 0.0, 0.5, 0.0], "expected_value": [10.0, 4.0, 0.0, -0.25, 0.0]})
    out = ActionPlan(run_id=2, actions=a, notes={})._repr_html_()
    assert "<caption>Campaign plan of run 2: 3 treated, 2 in control groups</caption>" in out
    assert rows(out) == [["vip", "2", "1", "3.50", "14.00"], ["win_back", "1", "1", "0.50", "-0.25"]]
    empty = ActionPlan(run_id=None, actions=a.iloc[:0], notes={})._repr_html_()
    assert "No customer qualified" in empty


def test_a_long_table_is_cut_and_says_so():
    out = html_table(["n"], ([i] for i in range(120)), max_rows=50)
    assert out.count("<tr><td>") == 50 and "70 more rows not shown" in out
