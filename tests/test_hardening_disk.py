"""A full disk: the command says which file, how much space there is and roughly how much it needs; nothing is lost.

The disk is filled by injection (an ENOSPC raised where a write happens) so the test is the same on every machine;
docs/security.md records the same messages from a real 12 MB tmpfs.
"""

import errno
import json

import pytest
from typer.testing import CliRunner

from shopseg import pipeline
from shopseg.cli import app
from shopseg.errors import disk_full_error
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.workspace import open_workspace


@pytest.fixture
def shop_path(tmp_path):
    ws = open_workspace(tmp_path / "ws")
    load_fixture_shop(ws)
    ws.close()
    return tmp_path / "ws"


def cli(path, *args):
    return CliRunner().invoke(app, ["--workspace", str(path), *args])


@pytest.mark.parametrize("exc", [
    OSError(errno.ENOSPC, "No space left on device", "MODELS/run-9-churn.lgb.txt"),
    RuntimeError('TransactionContext Error: Failed to commit: Could not write file "WS/shop.duckdb.wal": '
                 'No space left on device'),  # DuckDB's words for it
])
def test_a_run_on_a_full_disk_names_the_file_the_space_and_the_need_and_keeps_the_workspace(shop_path, monkeypatch,
                                                                                          exc):
    good = cli(shop_path, "run", "--as-of", str(FIXTURE_AS_OF.date()), "--stage", "segments", "--no-report")
    assert good.exit_code == 0, good.output
    exc.args = tuple(a.replace("WS", str(shop_path)) if isinstance(a, str) else a for a in exc.args)
    if isinstance(exc, OSError):
        exc.filename = str(shop_path / "models" / "run-9-churn.lgb.txt")
    target = exc.filename if isinstance(exc, OSError) else str(shop_path / "shop.duckdb.wal")

    def full(ctx):
        (ctx.ws.models_dir / f"run-{ctx.run_id}-churn.lgb.txt").write_text("half a model")
        raise exc

    segments = [s for s in pipeline.STAGES if s.name == "segments"]
    monkeypatch.setattr(pipeline, "STAGES", segments + [pipeline.Stage("churn", full)])
    r = cli(shop_path, "run", "--as-of", str(FIXTURE_AS_OF.date()), "--no-report")
    out = " ".join(r.output.split())
    assert r.exit_code == 2, r.output
    assert f"The disk is full: writing {target} failed" in out
    assert "free of" in out and "on the disk holding" in out
    assert "a run on this" in out and "needs about" in out and "Hint: Free space on that disk" in out
    assert "bug in shopseg" not in out
    ws = open_workspace(shop_path, create=False)
    try:
        runs = ws.con.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall()
        assert [s for _, s in runs] == ["done", "failed"]
        assert ws.scalar("SELECT count(*) FROM segments WHERE run_id = ?", [runs[1][0]]) == 0
        assert ws.scalar("SELECT count(*) FROM segments WHERE run_id = ?", [runs[0][0]]) > 0
        assert not (ws.models_dir / f"run-{runs[1][0]}-churn.lgb.txt").exists()  # the half-written model is gone
        assert json.loads(ws.scalar("SELECT stages FROM runs WHERE run_id = ?", [runs[1][0]]))["segments"]
    finally:
        ws.close()


def test_an_ingest_on_a_full_disk_says_how_much_the_file_needs(shop_path, tmp_path, monkeypatch):
    import importlib

    f = tmp_path / "orders.csv"
    f.write_text("order_id,customer_id,ordered_at\n" + "o1,c1,2024-01-01\n" * 2000)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(importlib.import_module("shopseg.ingest"), "ingest", full)
    r = cli(shop_path, "ingest", str(f), "--table", "orders")
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and f"The disk is full: writing {shop_path} failed" in out
    assert "an ingest of this 33.2 KB file (about 0.5x its size" in out and "needs about 16.6 KB" in out


def test_other_errors_are_not_taken_for_a_full_disk():
    assert disk_full_error(OSError(errno.EACCES, "Permission denied", "/x"), "/") is None
    assert disk_full_error(RuntimeError("Could not write file: permission denied"), "/") is None
    e = disk_full_error(OSError(errno.EDQUOT, "Disk quota exceeded", "/nonexistent/f"), "/", need=3 * 2**20,
                        need_why="this")
    assert e is not None and "this needs about 3.0 MB" in e.message and "disk holding /" in e.message
