"""The command line: thin commands over the library; errors are a message, a hint and exit code 2."""

import os

import pytest
from typer.testing import CliRunner

from shopseg.cli import app

from .conftest import DATA

runner = CliRunner()


def shopseg(ws, *args):
    return runner.invoke(app, ["--workspace", str(ws), *args])


def test_ingest_prints_the_reconciliation(tmp_path):
    r = shopseg(tmp_path / "ws", "ingest", os.path.join(DATA, "online_retail_tiny.csv"), "--preset", "online-retail")
    assert r.exit_code == 0, r.output
    assert "16 input rows = 11 accepted + 4 quarantined + 1 exact duplicates" in r.output
    q = shopseg(tmp_path / "ws", "quarantine")
    assert q.exit_code == 0 and "unit_price" in q.output and "ordered_at" in q.output


def test_errors_exit_2_with_message_and_hint(tmp_path):
    r = shopseg(tmp_path / "ws", "ingest", str(tmp_path / "nope.csv"))
    assert r.exit_code == 2 and "Error:" in r.output and "no such file" in r.output
    r = shopseg(tmp_path / "missing", "summary")
    assert r.exit_code == 2 and "No workspace at" in r.output and "Hint:" in r.output
    r = shopseg(tmp_path / "ws", "ingest", os.path.join(DATA, "online_retail_tiny.csv"), "--preset", "shopify")
    assert r.exit_code == 2 and "Unknown preset 'shopify'" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[churn]\nmodel = \"xgboost\"\n")
    r = shopseg(tmp_path / "ws", "run", "--config", str(bad), "--as-of", "2024-01-01")
    assert r.exit_code == 2 and "churn.model" in r.output


def test_typers_own_exits_pass_through_not_reported_as_bugs(capsys):
    """A command's typer.Exit / Abort / usage error is typer's to handle (it vendors click, whose classes these
    are not): handles_errors passes them on instead of calling them a bug in shopseg."""
    import typer
    from typer._click.exceptions import BadParameter

    from shopseg.cli import handles_errors

    for exc in (typer.Exit(code=3), typer.Abort(), BadParameter("no")):
        def cmd():
            raise exc

        with pytest.raises(type(exc)) as got:
            handles_errors(cmd)()
        assert got.value is exc
    assert "bug" not in capsys.readouterr().err


def test_the_demo_shop_plants_repurchases_unless_told_not_to(tmp_path):
    from shopseg.workspace import Workspace

    ws = tmp_path / "ws"
    assert shopseg(ws, "synth", "--customers", "60", "--seed", "5").exit_code == 0
    with Workspace.open(ws) as w:  # one planted staple per customer
        assert w.count("ground_truth_repurchase") == 60
    assert shopseg(ws, "synth", "--customers", "60", "--seed", "5", "--replace", "--no-repurchase").exit_code == 0
    with Workspace.open(ws) as w:
        assert not w.has_table("ground_truth_repurchase")


@pytest.mark.slow
def test_demo_flow_from_synth_to_plan(tmp_path):
    ws = tmp_path / "ws"
    assert shopseg(ws, "synth", "--customers", "400", "--seed", "5").exit_code == 0
    r = shopseg(ws, "run", "--seed", "5", "--no-report")
    assert r.exit_code == 0, r.output
    assert "Run 1 as of 2024-12-30: done" in r.output
    for stage in ("reviews", "clv", "segments", "churn", "baskets", "recommend", "measure", "act"):
        assert f"  {stage}" in r.output
    seg = shopseg(ws, "segments", "--scheme", "lifecycle")
    assert seg.exit_code == 0 and "active" in seg.output
    # ad hoc rules say what the run's backtest of its own rules against popularity decided
    from shopseg.workspace import Workspace

    with Workspace.open(ws) as w:
        decided = w.scalar("SELECT decision FROM model_decisions WHERE run_id = 1 AND model = 'rules'")
    assert decided.startswith(("rules used", "popularity used"))
    rules = shopseg(ws, "rules", "--top", "3")
    assert rules.exit_code == 0
    assert "Out of time (run 1, the baskets stage's own thresholds):" in rules.output
    assert " ".join(decided.split()) in " ".join(rules.output.split())
    cust = shopseg(ws, "customer", "C0000001")
    assert cust.exit_code == 0 and "rfm" in cust.output
    plan = shopseg(ws, "plan")
    assert plan.exit_code == 0 and "Plan of run 1" in plan.output
    rep = shopseg(ws, "report")
    assert rep.exit_code == 0 and "report-run1.html" in rep.output
    assert shopseg(ws, "customer", "nobody").exit_code == 2


def test_segments_before_any_run_is_a_clear_error_not_a_bug_report(tmp_path):
    r = shopseg(tmp_path / "ws", "ingest", os.path.join(DATA, "online_retail_tiny.csv"), "--preset", "online-retail")
    assert r.exit_code == 0
    r = shopseg(tmp_path / "ws", "segments")
    assert r.exit_code == 2 and "No segments of scheme 'rfm' yet" in r.output and "shopseg run" in r.output
    assert "bug in shopseg" not in r.output


def test_rules_that_find_nothing_say_why(tmp_path):
    r = shopseg(tmp_path / "ws", "ingest", os.path.join(DATA, "online_retail_tiny.csv"), "--preset", "online-retail")
    assert r.exit_code == 0
    r = shopseg(tmp_path / "ws", "rules", "--with", "85123A", "--min-confidence", "1", "--min-lift", "100")
    assert r.exit_code == 0 and "0 rules" in r.output
    assert "Hint: No rule passes the thresholds with these products: lower --min-confidence" in r.output


def test_the_workspace_option_works_after_the_command_too(tmp_path):
    import subprocess
    import sys

    r = shopseg(tmp_path / "ws", "ingest", os.path.join(DATA, "online_retail_tiny.csv"), "--preset", "online-retail")
    assert r.exit_code == 0
    exe = [sys.executable, "-c", "import sys; from shopseg.cli import main; sys.argv[0] = 'shopseg'; main()"]
    for args in (["sql", "--workspace", str(tmp_path / "ws"), "SELECT count(*) AS n FROM orders"],
                 ["sql", "-w", str(tmp_path / "ws"), "SELECT count(*) AS n FROM orders"],
                 ["sql", f"--workspace={tmp_path / 'ws'}", "SELECT count(*) AS n FROM orders"]):
        out = subprocess.run([*exe, *args], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.splitlines() == ["n", "8"], out.stderr


def test_settle_freezes_the_objects_in_shopsegs_own_process_only(monkeypatch):
    import gc

    from shopseg.cli._common import settle, state

    gc.unfreeze()  # what an earlier test in this worker froze (the service freezes its loaded state)
    assert gc.get_freeze_count() == 0
    monkeypatch.setattr(state, "own_process", False)  # a test, a notebook: the collector is left alone
    settle()
    assert gc.get_freeze_count() == 0
    monkeypatch.setattr(state, "own_process", True)  # main(): every object alive now leaves the collector's walks
    try:
        settle()
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
