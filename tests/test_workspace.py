"""The workspace folder: created on demand, refused when missing for read commands, memory limit from the env."""

import pytest

from shopseg.errors import WorkspaceError
from shopseg.workspace import open_workspace


def test_workspace_has_its_folders_and_every_canonical_table(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        assert {p.name for p in (tmp_path / "ws").iterdir()} >= {"shop.duckdb", "models", "reports", "exports"}
        assert ws.summary() == {t: 0 for t in ("customers", "products", "orders", "order_lines", "events", "reviews")}


def test_has_table_and_columns_see_tables_views_and_temp_tables_not_the_catalog_views(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        ws.con.execute("CREATE TABLE t2 (b INTEGER, a VARCHAR); CREATE VIEW v2 AS SELECT 1 AS z, 2 AS y; "
                       "CREATE TEMP TABLE tmp2 (q DOUBLE)")
        assert [ws.has_table(n) for n in ("t2", "v2", "tmp2", "orders")] == [True] * 4
        assert [ws.has_table(n) for n in ("T2", "nope", "duckdb_tables", "tables")] == [False] * 4
        assert (ws.columns("t2"), ws.columns("v2"), ws.columns("tmp2")) == (["b", "a"], ["z", "y"], ["q"])
        assert ws.columns("duckdb_tables") == [] and ws.columns("nope") == []


def test_missing_workspace_is_not_created_for_reading(tmp_path):
    with pytest.raises(WorkspaceError, match="No workspace at"):
        open_workspace(tmp_path / "none", create=False)
    assert not (tmp_path / "none").exists()


def test_memory_limit_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPSEG_MEMORY_LIMIT", "1GB")
    with open_workspace(tmp_path / "ws") as ws:
        assert ws.scalar("SELECT current_setting('memory_limit')") in ("953.6 MiB", "1.0 GiB", "1000.0 MB", "1.0 GB")
    monkeypatch.setenv("SHOPSEG_MEMORY_LIMIT", "lots")
    with pytest.raises(WorkspaceError, match="SHOPSEG_MEMORY_LIMIT must be a size such as 2GB"):
        open_workspace(tmp_path / "ws")


def test_memory_budget_by_default_a_share_of_the_machine_capped_and_settable(tmp_path, monkeypatch):
    from shopseg.workspace import MEMORY_ENV, Workspace, default_memory_limit, machine_memory

    # a quarter of the memory, capped at 3 GiB, at least 256 MiB
    assert default_memory_limit(16 * 2**30) == "3072MiB" and default_memory_limit(4 * 2**30) == "1024MiB"
    assert default_memory_limit(2**28) == "256MiB" and machine_memory() > 0
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    with Workspace.open(tmp_path / "ws") as ws:
        got = ws.scalar("SELECT current_setting('memory_limit')")
        ws.con.execute("SET memory_limit = ?", [default_memory_limit()])
        assert got == ws.scalar("SELECT current_setting('memory_limit')")  # not DuckDB's 80% of the machine
        # spills go to the workspace's folder
        assert ws.scalar("SELECT current_setting('temp_directory')").startswith(str(tmp_path / "ws"))
    monkeypatch.setenv(MEMORY_ENV, "300MB")
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.scalar("SELECT current_setting('memory_limit')") == "286.1 MiB"


def test_the_source_of_a_table_is_never_a_failed_or_unfinished_run(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        for run, status in ((1, "done"), (2, "failed"), (3, "running")):
            ws.con.execute("INSERT INTO runs (run_id, status) VALUES (?, ?)", [run, status])
        for run in (1, 2, 3):
            ws.write_output("segments", run, "SELECT 'c1' AS customer_id, 'rfm' AS scheme, 'x' AS segment")
        assert ws.source_run("segments", None) == 1  # act outside runs: the newest finished run
        assert ws.source_run("segments", 10**12) == 1
        assert ws.source_run("segments", 3) == 3  # the run asking for its own rows gets them
        assert ws.source_run("segments", None, "scheme = ?", ["geo"]) is None
        ws.write_output("segments", 4, "SELECT 'c1' AS customer_id, 'geo' AS scheme, 'x' AS segment")
        assert ws.source_run("segments", None, "scheme = ?", ["geo"]) == 4  # written outside any run: counts


def test_segment_baskets_outside_a_run_read_the_newest_finished_run(tmp_path):
    from shopseg.basket._baskets import segment_baskets
    from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop

    with open_workspace(tmp_path / "ws") as ws:
        load_fixture_shop(ws)
        ws.con.execute("INSERT INTO runs (run_id, status) VALUES (1, 'done'), (2, 'failed')")
        ws.write_output("segments", 1, "SELECT customer_id, 'rfm' AS scheme, 'all' AS segment FROM customers")
        ws.write_output("segments", 2, "SELECT customer_id, 'rfm' AS scheme, 'none' AS segment FROM customers")
        _, used = segment_baskets(ws, scheme="rfm", as_of=FIXTURE_AS_OF, unit="order", segment_run_id=None)
        assert used == 1
