"""The workspace's model store (shopseg.models): one file convention, metadata, atomic writes, run ids."""

import hashlib
import json
import os

import pytest

from shopseg import models
from shopseg.errors import ConfigError, NotFittedError
from shopseg.pipeline import discard_outputs, run_pipeline


def _runs(ws, **status):
    for rid, st in status.items():
        ws.con.execute("INSERT INTO runs (run_id, as_of, seed, status) VALUES (?, TIMESTAMP '2025-01-31', 0, ?)",
                       [int(rid.lstrip("r")), st])


def test_a_stored_model_round_trips_with_its_metadata_under_one_file_name(ws):
    first = models.save(ws, "churn", 3, {".pkl": b"\x00est", ".json": '{"k": 2}'}, {"as_of": "2025-01-31"},
                        config_hash="c0ffee", fitted_run_id=1)
    assert first == ws.models_dir / "run-3-churn.pkl"
    assert sorted(p.name for p in ws.models_dir.iterdir()) == [
        "run-3-churn.json", "run-3-churn.meta.json", "run-3-churn.pkl"]  # no temporary file left
    meta = models.require(ws, "churn", 3)
    assert {k: meta[k] for k in ("name", "run_id", "config_hash", "fitted_run_id", "as_of")} == {
        "name": "churn", "run_id": 3, "config_hash": "c0ffee", "fitted_run_id": 1, "as_of": "2025-01-31"}
    assert meta["shopseg_version"]
    assert meta["files"] == {"run-3-churn.pkl": hashlib.sha256(b"\x00est").hexdigest(),
                             "run-3-churn.json": hashlib.sha256(b'{"k": 2}').hexdigest()}
    assert models.read_bytes(ws, "churn", 3, ".pkl") == b"\x00est"
    assert json.loads(models.read_text(ws, "churn", 3)) == {"k": 2}
    # fitted by the run itself unless told
    models.save(ws, "clusters", 4, {".json": "{}"})
    assert models.require(ws, "clusters", 4)["fitted_run_id"] == 4
    assert [(e["name"], e["run_id"]) for e in models.entries(ws)] == [("churn", 3), ("clusters", 4)]
    assert [e["run_id"] for e in models.entries(ws, "clusters")] == [4]


def test_a_damaged_file_or_a_bad_name_is_refused_with_what_was_expected(ws):
    models.save(ws, "churn", 1, {".pkl": b"abc"})
    (ws.models_dir / "run-1-churn.pkl").write_bytes(b"abd")
    with pytest.raises(ConfigError, match="does not match the SHA-256"):
        models.read_bytes(ws, "churn", 1, ".pkl")
    with pytest.raises(ConfigError, match="Got 'Churn_Model' instead"):
        models.save(ws, "Churn_Model", 1, {".pkl": b""})
    with pytest.raises(ConfigError, match="Got '.meta.json' instead"):
        models.save(ws, "churn", 1, {".meta.json": b""})
    with pytest.raises(NotFittedError, match="No stored clusters model of run 7"):
        models.require(ws, "clusters", 7)


def test_a_write_that_fails_half_way_leaves_the_previous_file_and_no_temporary_one(ws, monkeypatch):
    models.save(ws, "clusters", 2, {".json": '{"v": 1}'})

    def boom(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        models.save(ws, "clusters", 2, {".json": '{"v": 2}'})
    monkeypatch.undo()
    assert sorted(p.name for p in ws.models_dir.iterdir()) == ["run-2-clusters.json", "run-2-clusters.meta.json"]
    assert json.loads(models.read_text(ws, "clusters", 2)) == {"v": 1}


def test_a_failed_runs_models_are_discarded_and_the_newest_run_is_never_a_failed_one(ws):
    _runs(ws, r1="done", r2="failed", r3="done", r4="running")
    for rid in (1, 2, 4):
        models.save(ws, "churn", rid, {".json": "{}"})
    models.save(ws, "clusters", 3, {".json": "{}"})
    assert models.latest_run(ws, "churn") == 1  # run 2 and 4 stored one, but did not finish
    assert models.latest_run(ws, "clusters") == 3 and models.latest_run(ws, "clusters", before=3) is None
    (ws.models_dir / ".run-2-churn.json.tmp99").write_bytes(b"half")  # a kill mid-write
    discard_outputs(ws, [2, 4])
    assert sorted(p.name for p in ws.models_dir.iterdir()) == [
        "run-1-churn.json", "run-1-churn.meta.json", "run-3-clusters.json", "run-3-clusters.meta.json"]


def test_a_churn_model_under_an_older_shopsegs_name_says_to_run_again(ws):
    from shopseg.predict.churn import load_churn_model

    _runs(ws, r1="done")
    (ws.models_dir / "churn_run1.json").write_text("{}")
    for call in (lambda: load_churn_model(ws), lambda: load_churn_model(ws, 1)):
        with pytest.raises(ConfigError) as e:
            call()
        assert "stored by an older shopseg (churn_run1.json)" in e.value.message
        assert "run-1-churn.json" in e.value.message and "`shopseg run`" in e.value.hint
    discard_outputs(ws, [1])  # an older shopseg's names go with their run too
    assert not (ws.models_dir / "churn_run1.json").exists()


def test_a_workspace_from_an_older_shopseg_is_read_or_refitted_by_the_next_run(ws):
    """Cluster files kept their names (read without metadata, reused); a churn model under its old name is
    refused with what to do, and the next run refits it under the store's names."""
    import warnings

    from shopseg.predict.churn import load_churn_model
    from shopseg.refit import decisions
    from shopseg.synth import synthesize

    synthesize(ws, customers=500, seed=3, as_of="2024-12-31")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # thin-data warnings of a small shop
        first = run_pipeline(ws, "2024-12-31", stages=["segments", "churn"]).run_id
    assert {e["name"] for e in models.entries(ws)} == {"clusters", "churn", "interest-mix"}
    for p in ws.models_dir.glob("*.meta.json"):  # as an older shopseg left the folder
        p.unlink()
    for p in ws.models_dir.glob(f"run-{first}-churn.*"):
        p.rename(p.with_name(p.name.replace(f"run-{first}-churn", f"churn_run{first}")))
    with pytest.raises(ConfigError, match="stored by an older shopseg"):
        load_churn_model(ws)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        second = run_pipeline(ws, "2024-12-31", stages=["segments", "churn"]).run_id
    d = decisions(ws, second).set_index("model")
    assert (d.loc["cluster", "action"], d.loc["cluster", "source_run_id"]) == ("reused", first)
    assert d.loc["churn", "action"] == "refitted"
    assert load_churn_model(ws).metadata_["run_id"] == second
    assert models.require(ws, "clusters", second)["fitted_run_id"] == first


def test_a_model_carried_to_a_later_run_is_the_same_files_with_the_fitting_run_kept(ws):
    """models.carry (an incremental run storing the base run's models): the files linked, not rewritten; the
    metadata as save would write it for the same files; a file saved later for either run leaves the other's."""
    models.save(ws, "churn", 3, {".pkl": b"\x00est", ".json": '{"k": 2}'}, {"as_of": "2025-01-31"},
                config_hash="c0ffee", fitted_run_id=1)
    assert sorted(p.name for p in models.carry(ws, "churn", 3, 5)) == ["run-5-churn.json", "run-5-churn.pkl"]
    three, five = models.require(ws, "churn", 3), models.require(ws, "churn", 5)
    assert {**three, "run_id": 5, "files": {}} == {**five, "files": {}}
    assert five["fitted_run_id"] == 1 and five["config_hash"] == "c0ffee"
    assert five["files"] == {"run-5-churn.pkl": three["files"]["run-3-churn.pkl"],
                             "run-5-churn.json": three["files"]["run-3-churn.json"]}
    assert models.read_bytes(ws, "churn", 5, ".pkl") == b"\x00est"
    assert not [p for p in ws.models_dir.iterdir() if ".tmp" in p.name]
    models.save(ws, "churn", 5, {".pkl": b"other"})  # written anew and renamed over: run 3's file stays
    assert models.read_bytes(ws, "churn", 3, ".pkl") == b"\x00est"
    models.discard(ws, [3])
    assert models.read_bytes(ws, "churn", 5, ".pkl") == b"other"
    models.save(ws, "clusters", 3, {".json": "{}"})
    (ws.models_dir / "run-3-clusters.json").unlink()
    (ws.models_dir / "run-3-clusters.meta.json").write_text(json.dumps({"files": {}}))
    assert models.carry(ws, "clusters", 3, 5) == []  # no file to carry


def test_a_model_is_carried_by_a_copy_where_files_cannot_be_linked(ws, monkeypatch):
    models.save(ws, "clusters", 2, {".json": '{"v": 1}'})

    def no_link(*a):
        raise OSError("no hard links here")

    monkeypatch.setattr(os, "link", no_link)
    models.carry(ws, "clusters", 2, 4)
    assert models.read_text(ws, "clusters", 4) == '{"v": 1}'
    assert os.stat(ws.models_dir / "run-4-clusters.json").st_nlink == 1
