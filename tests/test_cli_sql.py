"""`shopseg sql` is read-only in fact: queries only, no file outside the workspace unless asked, and it says when it
cuts the output."""

import json
import os

import pytest
from typer.testing import CliRunner

from shopseg.cli import app

from .conftest import DATA

runner = CliRunner()


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    path = tmp_path_factory.mktemp("sql") / "ws"
    r = runner.invoke(app, ["--workspace", str(path), "ingest", os.path.join(DATA, "online_retail_tiny.csv"),
                            "--preset", "online-retail"])
    assert r.exit_code == 0, r.output
    return path


def sql(ws, *args):
    return runner.invoke(app, ["--workspace", str(ws), "sql", *args])


def test_a_query_prints_csv_into_a_pipe_and_json_when_asked(ws):
    r = sql(ws, "SELECT count(*) AS n FROM orders")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["n", "8"]  # the tiny file: 11 accepted lines in 8 orders
    r = sql(ws, "--format", "json", "SELECT order_id FROM orders ORDER BY 1 LIMIT 2")
    assert json.loads(r.stdout) == [{"order_id": "536365"}, {"order_id": "536366"}]


def test_a_cut_output_says_so(ws):
    r = sql(ws, "--limit", "2", "SELECT order_id FROM orders ORDER BY 1")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == ["order_id", "536365", "536366"]
    assert "(2 of 8 rows; --limit 0 prints all)" in r.stderr
    r = sql(ws, "--limit", "2", "PRAGMA table_info('orders')")  # not countable by wrapping: said without the total
    assert "(the first 2 rows; the query has more; --limit 0 prints all)" in r.stderr
    r = sql(ws, "--limit", "8", "SELECT order_id FROM orders")
    assert "rows;" not in r.stderr  # exactly 8: nothing cut


@pytest.mark.parametrize("query, kind", [
    ("COPY (SELECT 1) TO '{tmp}/x.csv'", "COPY"),
    ("SELECT 1; EXPORT DATABASE '{tmp}/exp'", "EXPORT"),
    ("ATTACH '{tmp}/other.duckdb' AS o", "ATTACH"),
    ("INSTALL httpfs", "LOAD"),
    ("SET enable_external_access = true", "SET"),
])
def test_statements_that_write_or_load_are_refused_with_or_without_allow_files(ws, tmp_path, query, kind):
    for extra in ([], ["--allow-files"]):
        r = sql(ws, *extra, query.format(tmp=tmp_path))
        assert r.exit_code == 2, r.output
        assert "runs queries only" in r.output and f"Got {kind} instead" in r.output
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_files_outside_the_workspace_are_unreadable_unless_allowed(ws, tmp_path):
    (tmp_path / "secret.csv").write_text("a,b\n1,2\n3,4\n")
    for q in (f"SELECT * FROM read_csv('{tmp_path}/secret.csv')", f"SELECT * FROM glob('{tmp_path}/*')"):
        r = sql(ws, q)
        assert r.exit_code == 2 and "file system operations are disabled" in r.output, r.output
        assert "--allow-files" in r.output  # the hint names the way out
    r = sql(ws, "--allow-files", f"SELECT sum(a) AS s FROM read_csv('{tmp_path}/secret.csv')")
    assert r.exit_code == 0 and r.stdout.splitlines() == ["s", "4"]
