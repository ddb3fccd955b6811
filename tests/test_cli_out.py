"""The command line's shared output: --json on every data command, -v/-q, config discovery, completion,
and the mapping proposed for a file nothing knows."""

import json
import re
import textwrap
import tomllib

import pytest
from typer.testing import CliRunner

from shopseg._cli_out import find_config, hoist_flags
from shopseg.cli import app, hoist_workspace
from shopseg.fixtures import load_fixture_shop
from shopseg.workspace import open_workspace

runner = CliRunner()


def shopseg(*args):
    """As the console script runs it: global options may follow the command."""
    return runner.invoke(app, hoist_flags(hoist_workspace([str(a) for a in args])))


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The fixture shop with one run of the segments stage (as of 2024-07-01)."""
    path = tmp_path_factory.mktemp("cli_out") / "ws"
    with open_workspace(path) as ws:
        load_fixture_shop(ws)
    r = shopseg("-w", path, "segment", "--as-of", "2024-07-01")
    assert r.exit_code == 0, r.output
    return path


def rows_of(table_text: str) -> list[list[str]]:
    """The body rows of a rich table, as cell texts."""
    return [[c.strip() for c in line.strip("│ ").split("│")] for line in table_text.splitlines()
            if line.startswith("│")]


def test_segments_json_has_the_numbers_the_table_shows(shop):
    table = shopseg("-w", shop, "segments", "--scheme", "lifecycle")
    doc = shopseg("-w", shop, "segments", "--scheme", "lifecycle", "--json")
    assert table.exit_code == 0 and doc.exit_code == 0, doc.output
    got = json.loads(doc.stdout)["segments"]
    assert sum(r["customers"] for r in got) == 11  # c12 signs up after as_of
    assert rows_of(table.stdout) == [[r["segment"], r["name"] or "", f"{r['customers']:,}", f"{r['share']:.1%}"]
                                     for r in got]


def test_summary_json_counts_every_table(shop):
    doc = json.loads(shopseg("-w", shop, "summary", "--json").stdout)
    assert {r["table"]: r["rows"] for r in doc["tables"]} == {
        "customers": 12, "products": 6, "orders": 27, "order_lines": 31, "events": 19, "reviews": 5, "quarantine": 0}
    table = rows_of(shopseg("-w", shop, "summary").stdout)
    assert table == [[r["table"], f"{r['rows']:,}"] for r in doc["tables"]]


@pytest.mark.parametrize("args, key", [
    (["history", "--scheme", "rfm"], "history"),
    (["diff", "1", "1", "--scheme", "lifecycle"], "migration"),
    (["quarantine"], "quarantine"),
    (["presets"], "presets"),
    (["customer", "c01"], "customer"),
    (["rules", "--as-of", "2024-07-01", "--min-support", "0.05", "--min-confidence", "0.1"], "rules"),
    (["plan"], "plan"),
])
def test_every_data_command_prints_one_json_document(shop, args, key):
    r = shopseg("-w", shop, *args, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert key in doc


def test_customer_json_is_the_card(shop):
    card = json.loads(shopseg("-w", shop, "customer", "c01", "--json").stdout)["customer"]
    text = shopseg("-w", shop, "customer", "c01").stdout
    assert card["customer_id"] == "c01" and card["segments"]["lifecycle"]["segment"] == "active"
    for scheme, seg in card["segments"].items():
        name = f" ({seg['name']})" if seg["name"] and seg["name"] != seg["segment"] else ""
        assert re.search(rf"^  {scheme}\s+{re.escape(seg['segment'] + name)}$", text, re.M)


def test_sql_json_flag_is_its_json_format(shop):
    r = shopseg("-w", shop, "sql", "SELECT count(*) AS n FROM orders", "--json")
    assert json.loads(r.stdout) == [{"n": 27}]


def test_ingest_json_reconciles(tmp_path):
    src = tmp_path / "orders.csv"
    src.write_text("order_id,ordered_at\no1,2024-01-01\no2,2024-01-02\no2,2024-01-02\n")
    r = shopseg("-w", tmp_path / "ws", "ingest", src, "--json")
    assert r.exit_code == 0, r.output
    (got,) = json.loads(r.stdout)["ingests"]
    assert (got["n_input"], got["n_accepted"], got["n_duplicate"]) == (3, 2, 1)


def test_verbose_adds_the_config_and_stage_timings_quiet_keeps_the_result(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        load_fixture_shop(ws)
    v = shopseg("-w", tmp_path / "ws", "segment", "--as-of", "2024-07-01", "-v")
    assert v.exit_code == 0, v.output
    assert "config: defaults" in v.output and re.search(r"stage timings \([\d.]+ s in all\): segments", v.output)
    q = shopseg("-w", tmp_path / "ws", "segment", "--as-of", "2024-07-01", "-q")
    assert q.exit_code == 0 and q.output.strip().splitlines() == ["Run 2 as of 2024-07-01: done"]


def test_quiet_silences_notes(shop, tmp_path):
    # a file read as Latin-1 is fine; what -q silences is the warnings in words: an empty run has one
    r = shopseg("-w", tmp_path / "empty", "ingest", _write(tmp_path, "customers.csv", "customer_id\nx\n"))
    assert r.exit_code == 0
    loud = shopseg("-w", tmp_path / "empty", "segment", "--as-of", "2024-07-01")
    quiet = shopseg("-w", tmp_path / "empty", "segment", "--as-of", "2024-07-01", "-q")
    assert "Note:" not in quiet.output and len(quiet.output) < len(loud.output)


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_config_found_in_the_workspace_then_the_current_folder_and_config_wins(tmp_path, monkeypatch):
    here, ws = tmp_path / "here", tmp_path / "ws"
    here.mkdir()
    ws.mkdir()
    monkeypatch.chdir(here)
    assert find_config(None, ws) is None
    (here / "shopseg.toml").write_text("[ingest]\nmax_quarantine_share = 1.0\n")
    assert find_config(None, ws) == here / "shopseg.toml"
    (ws / "shopseg.toml").write_text("[ingest]\nmax_quarantine_share = 0.9\n")
    assert find_config(None, ws) == ws / "shopseg.toml"
    assert find_config(tmp_path / "given.toml", ws) == tmp_path / "given.toml"
    # the effect: 2 of 3 bad rows fail under the default 0.5, load under the found file's 0.9
    bad = _write(tmp_path, "orders.csv", "order_id,ordered_at\na,soon\nb,later\nc,2024-01-02\n")
    (ws / "shopseg.toml").unlink()
    (here / "shopseg.toml").unlink()
    assert shopseg("-w", ws, "ingest", bad).exit_code == 2
    (ws / "shopseg.toml").write_text("[ingest]\nmax_quarantine_share = 0.9\n")
    r = shopseg("-w", ws, "ingest", bad, "-v")
    assert r.exit_code == 0, r.output
    assert f"config: {ws / 'shopseg.toml'} (found, no --config given)" in " ".join(r.output.split())
    strict = _write(tmp_path, "strict.toml", "[ingest]\nmax_quarantine_share = 0.5\n")
    bad2 = _write(tmp_path, "more_orders.csv", "order_id,ordered_at\nd,soon\ne,later\nf,2024-01-02\n")
    assert shopseg("-w", ws, "ingest", bad2, "--config", strict).exit_code == 2


def test_shell_completion_is_offered():
    r = runner.invoke(app, ["--help"])
    assert "--install-completion" in r.output and "--show-completion" in r.output


def test_hoist_flags_leaves_a_query_after_double_dash_alone():
    assert hoist_flags(["-w", "x", "segments", "-s", "rfm", "--json", "-q"]) == \
        ["--json", "-q", "-w", "x", "segments", "-s", "rfm"]


# -- a file nothing knows: a proposed mapping ---------------------------------------------------------------

GERMAN = """\
Bestellnr;Kunde E-Mail;Bestelldatum;Artikelnummer;Menge;Einzelpreis;Status
A-1;Ann@Example.de ;13.02.2024;P1;2;1.50;bezahlt
A-1;Ann@Example.de ;13.02.2024;P2;1;4.00;bezahlt
A-2;ann@example.de;14.02.2024;P2;1;4.00;storniert
A-3;bob@example.de;15.02.2024;P1;3;1.50;Erstattet
"""


def test_unknown_file_error_writes_a_mapping_that_loads_it_when_passed_back(tmp_path):
    src = _write(tmp_path, "export_2024.csv", GERMAN)
    r = shopseg("-w", tmp_path / "ws", "ingest", src)
    assert r.exit_code == 2 and "which table does this file hold?" in r.output
    proposal = tmp_path / "ws" / "mappings" / "export_2024.toml"
    assert f"A proposed mapping, each guess commented, is in {proposal}" in " ".join(r.output.split())
    m = tomllib.loads(proposal.read_text())
    assert m["columns"] == {"Kunde E-Mail": ["customer_id", "email"], "Bestellnr": "order_id",
                            "Bestelldatum": "ordered_at", "Artikelnummer": "product_id", "Menge": "quantity",
                            "Einzelpreis": "unit_price", "Status": "kind"}
    # 'erstattet' (refunded) is no word the guesser knows: it proposes sale, and the user corrects it
    assert m["values"]["kind"] == {"bezahlt": "sale", "erstattet": "sale", "storniert": "adjustment"}
    proposal.write_text(proposal.read_text().replace('erstattet = "sale"', 'erstattet = "return"'))
    ok = shopseg("-w", tmp_path / "ws", "ingest", src, "--mapping", proposal, "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ingests"][0]["n_accepted"] == 4
    with open_workspace(tmp_path / "ws") as ws:
        assert ws.sql("SELECT customer_id FROM customers ORDER BY 1") == [("ann@example.de",), ("bob@example.de",)]
        assert ws.sql("SELECT order_id, kind FROM orders ORDER BY 1") == [
            ("A-1", "sale"), ("A-2", "adjustment"), ("A-3", "return")]


@pytest.mark.parametrize("header, row, expected", [
    # content alone: anonymous headers
    ("c1,c2,c3", "1001,a@b.com,2024-01-01", {"c1": "order_id", "c2": ["customer_id", "email"], "c3": "ordered_at"}),
    # a customer id column: the e-mail is the e-mail only, the id trimmed
    ("Order Number,Customer ID,E-mail,Order Date", "#7,42,a@b.com,01/31/2024",
     {"Order Number": "order_id", "Customer ID": "customer_id", "E-mail": "email", "Order Date": "ordered_at"}),
    # names with spaces, dots and quotes become quoted TOML keys
    ('"Invoice No.","Date ""created""",Qty', "A1,2024-01-01,3", {"Invoice No.": "order_id",
                                                              'Date "created"': "ordered_at", "Qty": "quantity"}),
])
def test_propose_mapping_prints_toml_that_loads_for_odd_headers(tmp_path, header, row, expected):
    src = _write(tmp_path, "weird.csv", f"{header}\n{row}\n")
    r = shopseg("ingest", src, "--propose-mapping")
    assert r.exit_code == 0, r.output
    m = tomllib.loads(r.stdout)
    assert m["columns"] == expected
    from shopseg.ingest._plan import mapping_from_dict

    mapping_from_dict(m)  # every guessed target is a canonical column


@pytest.mark.parametrize("name, fmt", [("o.csv", None), ("o.json", None), ("o.parquet", None), ("x.out", "json")])
def test_sql_output_writes_the_rows_in_the_format_of_its_extension(shop, tmp_path, name, fmt):
    dest = tmp_path / name
    r = shopseg("-w", shop, "sql", "SELECT order_id, ordered_at FROM orders ORDER BY 1 LIMIT 3", "--output", dest,
                *(["--format", fmt] if fmt else []))
    assert r.exit_code == 0, r.output
    assert f"3 rows -> {dest}" in " ".join(r.output.split())
    import duckdb

    reader = {".csv": "read_csv", ".json": "read_json", ".parquet": "read_parquet"}.get(dest.suffix, "read_json")
    got = duckdb.sql(f"SELECT order_id FROM {reader}('{dest}')").fetchall()
    assert [g[0] for g in got] == sorted(g[0] for g in got) and len(got) == 3


def test_sql_parquet_needs_an_output_file(shop):
    r = shopseg("-w", shop, "sql", "SELECT 1", "--format", "parquet")
    assert r.exit_code == 2 and "give --output FILE.parquet" in r.output


@pytest.mark.parametrize("args, key", [
    (["reviews", "--as-of", "2024-07-01"], "reviews"),
    (["predict", "clv", "--as-of", "2024-07-01"], "clv"),
    (["predict", "churn", "--as-of", "2024-07-01"], "run"),  # 14 labelled customers: skipped, said in the run
])
def test_stage_commands_print_one_json_document_too(shop, tmp_path, args, key):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(shop, ws)  # these commands add runs: keep the module's shop as it was
    r = shopseg("-w", ws, *args, "--json")
    assert r.exit_code == 0, r.output
    assert key in json.loads(r.stdout)


def test_measure_without_actions_is_an_error_not_a_document(shop):
    r = shopseg("-w", shop, "measure", "--json")
    assert r.exit_code == 2 and "No actions in the workspace yet" in r.output
