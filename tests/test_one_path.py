"""One path (#19): the stage contract, the one runner, and the live path = the batch for every stage that scores."""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopseg import runner, schema
from shopseg.errors import ConfigError
from shopseg.pipeline import STAGES, RunContext, run_pipeline
from shopseg.runner import Stage, ordered
from shopseg.workspace import open_workspace

from .test_serve_synth import build_demo_workspace

SRC = Path(__file__).resolve().parents[1] / "src" / "shopseg"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("onepath") / "ws"
    build_demo_workspace(path, customers=300, seed=5)
    return path


def _noop(ctx):
    return None


def test_the_runner_orders_stages_from_after_keeping_registration_order_among_free_ones():
    s = [Stage("e", _noop, after=("d",)), Stage("a", _noop), Stage("d", _noop, after=("a", "x")), Stage("b", _noop)]
    # 'x' is not present: no constraint; 'e' waits for 'd', which waits for 'a'
    assert [x.name for x in ordered(s)] == ["a", "d", "e", "b"]
    with pytest.raises(ConfigError, match="cycle"):
        ordered([Stage("p", _noop, after=("q",)), Stage("q", _noop, after=("p",))])


def test_registered_stages_come_in_an_order_their_after_allows_and_declare_their_tables():
    from shopseg import stages as _  # noqa: F401

    names = [s.name for s in ordered(STAGES)]
    for s in STAGES:
        assert all(names.index(a) < names.index(s.name) for a in s.after if a in names), s.name
    # every output table is written by the stage(s) OUTPUT_TABLES names, per the declared STAGE_TABLES
    for table, _grain, stage, _doc in schema.OUTPUT_TABLES:
        for name in (x.strip() for x in stage.split(",")):
            assert table in schema.STAGE_TABLES[name][1], (table, name)
    assert {s.name for s in STAGES} == set(schema.STAGE_TABLES)
    assert {s.name for s in STAGES if s.score is not None} == {"clv", "segments", "churn"}


def test_a_stage_reads_its_inputs_from_the_run_the_runner_hands_it(demo, tmp_path):
    """Runs.of: this run's table once a stage of it wrote the table, else the newest done run's."""
    path = tmp_path / "ws"
    shutil.copytree(demo, path)
    ws = open_workspace(path)
    seen = {}

    def spy(ctx: RunContext):
        seen.update(clv=ctx.runs.of("clv"), features=ctx.runs.of("customer_features"),
                    churn=ctx.runs.of("churn_scores"), none=ctx.runs.of("actions"))

    try:
        STAGES.append(Stage("spy", spy, after=("segments",)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = run_pipeline(ws, "2024-12-31", stages=["segments", "spy"])
    finally:
        STAGES.pop()
        ws.close()
    # run 2 wrote customer_features (segments ran); clv and churn_scores are run 1's; nobody wrote actions
    assert res.run_id == 2 and seen == {"clv": 1, "features": 2, "churn": 1, "none": None}



def test_baskets_recommend_act_and_cluster_matching_read_the_runs_the_runner_names(demo, tmp_path, monkeypatch):
    """No "newest run" look-up inside these stages: their inputs come from ``ctx.runs`` (asked of it, and the
    workspace's own newest-run helper is never called during the run)."""
    from shopseg.config import load_config
    from shopseg.workspace import Workspace

    path = tmp_path / "ws"
    shutil.copytree(demo, path)
    asked: list[tuple[str, str]] = []
    of, before = runner.Runs.of, runner.Runs.before
    monkeypatch.setattr(runner.Runs, "of", lambda self, t: asked.append(("of", t)) or of(self, t))
    monkeypatch.setattr(runner.Runs, "before", lambda self, t, where="": asked.append(("before", t)) or
                        before(self, t, where))

    def refuse(self, table, run_id):
        raise AssertionError(f"a stage looked up the newest run of {table} itself")

    monkeypatch.setattr(Workspace, "source_run", refuse)
    ws = open_workspace(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = run_pipeline(ws, "2024-12-31", stages=["segments", "baskets", "recommend", "act"],
                               config=load_config(overrides={"baskets": {"segment_schemes": ["lifecycle"]}}))
        assert all(s["status"] == "done" for s in res.stages.values()), res.stages
        segs = ws.scalar("SELECT count(*) FROM frequent_itemsets WHERE run_id = ? AND scope LIKE 'segment:lifecycle:%'",
                         [res.run_id])
    finally:
        ws.close()
    for q in [("before", "segment_profiles"), ("of", "segments"), ("of", "association_rules"),
              ("of", "customer_features"), ("of", "churn_scores"), ("of", "clv"), ("of", "recommendations")]:
        assert q in asked, q
    assert segs > 0  # the per-segment itemsets came from the segments the runner named (this run's)

def _batch(ws, run_id):
    feats = ws.df("SELECT * EXCLUDE (run_id) FROM customer_features WHERE run_id = ? ORDER BY customer_id", [run_id])
    segs = ws.df("SELECT customer_id, scheme, segment FROM segments WHERE run_id = ?", [run_id])
    churn = ws.df("SELECT * EXCLUDE (run_id) FROM churn_scores WHERE run_id = ?", [run_id]).set_index("customer_id")
    clv = ws.df("SELECT * EXCLUDE (run_id) FROM clv WHERE run_id = ?", [run_id]).set_index("customer_id")
    return feats.set_index("customer_id"), segs, churn, clv


def test_the_live_path_gives_the_batch_runs_outputs_for_every_stage_that_scores(demo, tmp_path):
    """Every customer of the demo, scored by the live path (online store, the runner, the run's states) as of
    the run's as_of, equals what the batch run stored: features, rfm / value_tier / lifecycle / cluster, churn
    probability, tier and reasons, CLV and P(alive)."""
    from shopseg.serve.live import LiveUpdater

    path = tmp_path / "ws"
    shutil.copytree(demo, path)
    ws = open_workspace(path)
    try:
        live = LiveUpdater(ws.path, ws.con.cursor())
        assert live.store is not None  # the service's own reader, not the workspace
        served = live.reference()
        assert [s.name for s in served.stages] == ["clv", "segments", "churn"]
        feats, segs, churn, clv = _batch(ws, served.run_id)
        scored = {"rfm", "value_tier", "lifecycle", "cluster", "age_band", "gender", "geo", "interest"}
        assert scored <= set(segs["scheme"])  # the demo shop has every one of them
        want_segs = {(r.customer_id, r.scheme): r.segment for r in segs.itertuples() if r.scheme in scored}
        got_segs = {}
        n_churn = n_clv = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # every customer at once through the runner on the live reader, and one at a time (what a POST does)
            # for every seventh
            together = runner.score(served, live._reader(), list(feats.index), served.as_of)
            for i, cid in enumerate(feats.index):
                got = live.score(served, cid, served.as_of) if i % 7 == 0 else \
                    {k: {cid: v[cid]} if cid in v else {} for k, v in together.items()}
                f = got["segments"][cid]["features"].iloc[got["segments"][cid]["row"]]
                for col in feats.columns:
                    w, g = feats.at[cid, col], f[col]
                    assert (pd.isna(w) and pd.isna(g)) or g == pytest.approx(w, rel=1e-9, abs=1e-12), (cid, col)
                got_segs.update({(cid, k): v for k, v in got["segments"][cid]["segments"].items()})
                c = got["churn"].get(cid)
                assert (c is None) == (cid not in churn.index), cid
                if c is not None:
                    n_churn += 1
                    b = churn.loc[cid]
                    assert c["probability"] == pytest.approx(b["probability"], rel=1e-9) and c["tier"] == b["tier"]
                    assert c["reasons"] == [x for x in (b["reason_1"], b["reason_2"], b["reason_3"]) if pd.notna(x)]
                v = got["clv"].get(cid)
                assert (v is None) == (cid not in clv.index), cid
                if v is not None:
                    n_clv += 1
                    for k in ("clv", "p_alive", "expected_purchases_90d", "expected_order_value"):
                        assert v[k] == pytest.approx(float(clv.at[cid, k]), rel=1e-9, abs=1e-12), (cid, k)
        assert got_segs == want_segs
        assert n_churn == len(churn) > 100 and n_clv == len(clv) > 100
    finally:
        ws.close()


def test_a_posted_order_is_scored_by_the_runner_and_stored_live(demo, tmp_path):
    """The same posted rows: what LiveUpdater stores equals the runner's score over the workspace's own tables."""
    from shopseg.serve.live import LiveUpdater, end_of_day

    path = tmp_path / "ws"
    shutil.copytree(demo, path)
    ws = open_workspace(path)
    try:
        live = LiveUpdater(ws.path, ws.con.cursor())
        cid, pid = ws.sql("SELECT customer_id, (SELECT min(product_id) FROM products) FROM churn_scores "
                          "ORDER BY probability DESC, customer_id LIMIT 1")[0]
        when = pd.Timestamp("2025-01-03 09:00").to_pydatetime()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            live.apply({"orders": [{"order_id": "OP-1", "customer_id": cid, "ordered_at": when}],
                        "order_lines": [{"order_id": "OP-1", "product_id": pid, "quantity": 2, "unit_price": 30.0}]})
            served = live.reference()
            # the batch reader: the workspace connection itself (DuckDB), not the service's online store
            want = runner.score(served, ws, [cid], end_of_day(when))
        feats, churn_j, clv_j = ws.sql("SELECT features, churn, clv FROM live_state WHERE customer_id = ?", [cid])[0]
        segs = dict(ws.sql("SELECT scheme, segment FROM live_segments WHERE customer_id = ?", [cid]))
        assert segs == want["segments"][cid]["segments"] and {"rfm", "lifecycle", "cluster"} <= set(segs)
        f = json.loads(feats)
        assert f["frequency"] == want["segments"][cid]["features"]["frequency"].iloc[0]
        assert json.loads(churn_j)["probability"] == pytest.approx(want["churn"][cid]["probability"], rel=1e-9)
        assert json.loads(clv_j)["p_alive"] == pytest.approx(want["clv"][cid]["p_alive"], rel=1e-9)
    finally:
        ws.close()


def test_posted_orders_move_a_customers_interest_live(demo, tmp_path):
    """Orders of one category posted for a customer make it their interest in live_segments, with the run's
    shop mix: the same label the runner gives over the workspace's own tables."""
    from shopseg.serve.live import LiveUpdater, end_of_day

    path = tmp_path / "ws"
    shutil.copytree(demo, path)
    ws = open_workspace(path)
    try:
        live = LiveUpdater(ws.path, ws.con.cursor())
        run = live.reference().run_id
        # the category fewest customers hold as their interest, and a customer whose interest is another one
        cat = ws.sql("SELECT p.category FROM products p WHERE p.category IS NOT NULL GROUP BY 1 "
                     "ORDER BY (SELECT count(*) FROM segments s WHERE s.run_id = ? AND s.scheme = 'interest' "
                     "AND s.segment = p.category), 1 LIMIT 1", [run])[0][0]
        # the customer with the least evidence (orders and events) among those whose interest is another one
        cid, before = ws.sql("SELECT s.customer_id, s.segment FROM segments s WHERE s.run_id = ? AND s.scheme = "
                             "'interest' AND s.segment <> ? ORDER BY (SELECT count(*) FROM orders o WHERE "
                             "o.customer_id = s.customer_id) + (SELECT count(*) FROM events e WHERE e.customer_id = "
                             "s.customer_id), 1 LIMIT 1", [run, cat])[0]
        pids = [r[0] for r in ws.sql("SELECT product_id FROM products WHERE category = ? ORDER BY 1 LIMIT 4", [cat])]
        when = pd.Timestamp("2025-01-03 09:00")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k in range(6):  # six orders of the category, a day apart
                at = (when + pd.Timedelta(days=k)).to_pydatetime()
                live.apply({"orders": [{"order_id": f"OI-{k}", "customer_id": cid, "ordered_at": at,
                                        "kind": "sale"}],
                            "order_lines": [{"order_id": f"OI-{k}", "product_id": pids[k % len(pids)],
                                             "quantity": 1, "unit_price": 10.0}]})
            want = runner.score(live.reference(), ws, [cid], end_of_day(at))
        got = dict(ws.sql("SELECT scheme, segment FROM live_segments WHERE customer_id = ?", [cid]))
        assert before != cat and got["interest"] == cat == want["segments"][cid]["segments"]["interest"]
    finally:
        ws.close()


def test_the_interest_state_is_the_run_s_stored_shop_mix(demo):
    """The run stores its shop mix (model interest-mix); the live state read from it equals the one read again
    from the workspace's evidence, float for float."""
    import copy

    from shopseg import models
    from shopseg.config import load_config
    from shopseg.segment.interest import interest_state

    ws = open_workspace(demo, read_only=True)
    try:
        run, as_of, cfg = ws.sql("SELECT run_id, as_of, config FROM runs ORDER BY run_id DESC LIMIT 1")[0]
        cfg = load_config(overrides=json.loads(cfg))
        mix = json.loads(models.read_text(ws, "interest-mix", run))
        stored, again = interest_state(ws, as_of, cfg, run, copy.deepcopy(mix)), interest_state(ws, as_of, cfg, run)
    finally:
        ws.close()
    # equal to the last bits DuckDB's parallel sums allow (two reads of the same rows may add in another order)
    assert stored.shop == pytest.approx(again.shop, rel=1e-12) and len(stored.shop) > 10
    assert stored.totals == pytest.approx(again.totals, rel=1e-12)
    assert (stored.base, stored.groups, stored.has_events) == (again.base, again.groups, again.has_events)


def _imports(path: Path) -> set[str]:
    """The shopseg modules a file imports (absolute names), at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = "shopseg." + ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = pkg.rsplit(".", node.level - 1)[0] if node.level else ""
            mod = f"{base}.{node.module}" if node.level and node.module else (node.module or base)
            out |= {mod} | {f"{mod}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m.startswith("shopseg")}


def test_the_live_service_runs_no_stage_logic_of_its_own():
    """serve/live.py reaches the stages only through the runner: it imports no stage module (features,
    segment, predict, refit, drift, basket, recommend, act, text)."""
    stage_modules = ("shopseg.features", "shopseg.segment", "shopseg.predict", "shopseg.refit", "shopseg.drift",
                     "shopseg.basket", "shopseg.recommend", "shopseg.act", "shopseg.text", "shopseg.stages")
    got = _imports(SRC / "serve" / "live.py")
    assert "shopseg.runner" in got or "shopseg.runner.score" in got
    assert sorted(m for m in got if m.startswith(stage_modules)) == []


def _calls(path: Path, name: str) -> list[int]:
    """Lines of ``path`` that call a function called ``name`` (``name(...)`` or ``x.name(...)``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and (
        (isinstance(n.func, ast.Name) and n.func.id == name) or (isinstance(n.func, ast.Attribute)
                                                                 and n.func.attr == name))]


def test_stages_run_in_one_place():
    """Only the runner calls a stage's run (``.fn(ctx)`` / ``.run(ctx)``) or orders the stages (``ordered``): no
    engine (Spark included) keeps a step list of its own; batch runs go through ``run_stages``."""
    callers, orderers = [], []
    for p in SRC.rglob("*.py"):
        text = p.read_text(encoding="utf-8")
        if p.name != "runner.py" and (".fn(ctx)" in text or "stage.run(ctx)" in text):
            callers.append(str(p.relative_to(SRC)))
        if p.name != "runner.py" and _calls(p, "ordered"):
            orderers.append(f"{p.relative_to(SRC)}:{_calls(p, 'ordered')}")
    assert callers == [] and orderers == []
    assert "stage.run(ctx)" in (SRC / "runner.py").read_text(encoding="utf-8")
    # the Spark engine's run is the pipeline's run: it calls run_pipeline and supplies executors
    assert _calls(SRC / "spark" / "_run.py", "run_pipeline") and not _calls(SRC / "spark" / "_run.py", "start_run")


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark not importable")
def test_the_spark_engine_is_driven_by_the_runner_with_the_registered_stages(tmp_path, monkeypatch):
    """``run_spark`` hands ``runner.run_stages`` the registered stages, in their order, with Spark's executors
    bound as the ``run`` of clv, segments, churn and baskets and every other stage as registered; the stages
    Spark has no executor for are not wanted, and the run's record names them. No JVM: the runner is a spy."""
    from shopseg import pipeline
    from shopseg.spark import _io, run_spark

    seen = {}

    def spy(ctx, stages, wanted, progress=None, record=None):
        seen.update(stages=list(stages), wanted=list(wanted), run_id=ctx.run_id)
        return record

    monkeypatch.setattr(pipeline, "run_stages", spy)
    monkeypatch.setattr(_io, "read_inputs", lambda spark, folder, tables=None: {})  # no Spark views to make
    ws = open_workspace(tmp_path / "ws")
    try:
        res = run_spark(ws, "2024-12-31", spark=object(), work_dir=tmp_path / "exchange")
        assert [s.name for s in seen["stages"]] == [s.name for s in STAGES]
        assert seen["wanted"] == ["clv", "segments", "churn", "baskets"] and seen["run_id"] == res.run_id
        for stage, registered in zip(seen["stages"], STAGES):
            bound = getattr(stage.run, "__wrapped__", stage.run)  # Spark's executors re-raise a worker's error
            owner = type(getattr(bound, "__self__", None)).__name__
            if stage.name in seen["wanted"]:
                assert owner == "SparkEngine" and stage.run.__name__ == stage.name
                assert (stage.after, stage.needs) == (registered.after, registered.needs)
            else:
                assert stage.run is registered.run
        assert res.status == "done" and list(res.stages) == ["spark"]
        assert res.stages["spark"]["not_run"] == ["reviews", "drift", "recommend", "measure", "act"]
        assert (tmp_path / "exchange" / "input" / "orders.parquet").is_file()  # the reader exported the tables
    finally:
        ws.close()


def test_a_failed_runs_model_files_go_with_it_and_are_never_loaded(demo, tmp_path):
    """Every model file convention of a run is discarded with it; the churn loader without a run id takes the
    newest finished run's model, not a failed run's file left behind."""
    from shopseg.pipeline import discard_outputs
    from shopseg.predict.churn import load_churn_model

    path = tmp_path / "ws"
    shutil.copytree(demo, path)
    ws = open_workspace(path)
    try:
        models = Path(ws.models_dir)
        ws.con.execute("INSERT INTO runs (run_id, as_of, seed, status) VALUES (2, TIMESTAMP '2025-01-31', 0, 'failed')")
        for p in sorted(models.glob("run-1-*")):  # every model of run 1, as if the failed run 2 stored it
            shutil.copy(p, models / p.name.replace("run-1-", "run-2-"))
        (models / "run-2-review-sentiment.pkl").write_bytes(b"x")
        meta = json.loads((models / "run-2-churn.json").read_text(encoding="utf-8"))
        (models / "run-2-churn.json").write_text(json.dumps({**meta, "run_id": 2}), encoding="utf-8")
        assert {"run-2-churn.meta.json", "run-2-clusters.meta.json"} <= {p.name for p in models.iterdir()}
        assert load_churn_model(ws).metadata_["run_id"] == 1  # run 2's file is there, but run 2 failed
        assert load_churn_model(ws, 2).metadata_["run_id"] == 2  # (asked for by id, it is read)
        discard_outputs(ws, [2])
        assert sorted(p.name for p in models.iterdir() if "2" in p.name.replace("run-1", "")) == []
        assert (models / "run-1-churn.json").exists() and (models / "run-1-clusters.json").exists()
    finally:
        ws.close()


def test_the_live_scheme_scores_run_in_the_online_store_and_agree_with_duckdb(demo, tmp_path):
    """age_band, gender, geo and interest of every customer, at dates around birthdays (Feb 1, mid-July, a leap
    day): the online store's SQLite answers (no DuckDB fallback) and equal DuckDB's."""
    import datetime as dt

    from shopseg.pipeline import registered_stages
    from shopseg.runner import load_states
    from shopseg.serve.online import OnlineStore

    path = tmp_path / "ws"
    shutil.copytree(demo, path)
    ws = open_workspace(path)
    try:
        store = OnlineStore(ws.con).load()
        run = ws.sql("SELECT run_id, as_of, config FROM runs")[0]
        from shopseg.config import load_config

        served = load_states(registered_stages(), ws, run[0], run[1], load_config(overrides=json.loads(run[2])))
        schemes = served.states["segments"].schemes
        assert set(schemes) == {"age_band", "gender", "geo", "interest"}

        from shopseg.serve.live import _StoreWs

        reader = _StoreWs(store, path)  # what the service reads through
        ids = [r[0] for r in ws.sql("SELECT customer_id FROM customers ORDER BY 1")]
        for when in (dt.datetime(2025, 2, 1, 12), dt.datetime(2025, 7, 15, 12), dt.datetime(2024, 2, 29, 12)):
            for name, (scheme, st) in schemes.items():
                assert scheme.score(st, reader, ids, when) == scheme.score(st, ws, ids, when), (name, when)
        assert store._duck_only == set()
    finally:
        ws.close()


def test_buyer_type_is_scored_live_as_the_batch_labels_it(demo, tmp_path):
    """A run with buyer_type: every customer's live label (online store and DuckDB readers, the run's learned split)
    equals the batch's; the rule applied to hand-made statistics gives the documented labels."""
    from shopseg.config import load_config
    from shopseg.pipeline import registered_stages
    from shopseg.runner import load_states
    from shopseg.segment.schemes.buyer_type import _label
    from shopseg.serve.live import LiveUpdater, _ConWs

    path = tmp_path / "ws"
    shutil.copytree(demo, path)
    ws = open_workspace(path)
    try:
        cfg = load_config(overrides={"segments": {"schemes": ["rfm", "lifecycle", "buyer_type"]}})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = run_pipeline(ws, "2024-12-31", stages=["segments"], config=cfg)
        want = dict(ws.sql("SELECT customer_id, segment FROM segments WHERE run_id = ? AND scheme = 'buyer_type'",
                           [res.run_id]))
        live = LiveUpdater(ws.path, ws.con.cursor())
        served = load_states(registered_stages(), _ConWs(ws.con, ws.path), res.run_id, res.as_of, cfg)
        assert served.states["segments"].schemes["buyer_type"][1]["split"]["n_buyers"] > 100
        ids = sorted(want)
        for reader in (live._reader(), _ConWs(ws.con, ws.path)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = runner.score(served, reader, ids, res.as_of)["segments"]
            assert {c: got[c]["segments"]["buyer_type"] for c in ids} == want
        assert len(set(want.values())) >= 2  # buyers and customers without a sale at least
    finally:
        ws.close()
    split = {"split": True, "threshold": 6.0}
    v, buyer = np.array([1.0, 6.0, np.nan, 2.0]), np.array([True, True, True, False])
    assert list(_label(v, buyer, split, "no orders")) == ["consumer", "business", "unknown", "no orders"]
    assert list(_label(v, buyer, {"split": False}, "no orders")) == ["all", "all", "all", "no orders"]
