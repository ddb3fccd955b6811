"""The live path re-scores with the run's stored models: the cluster by nearest centroid."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pandas as pd
import pytest

from shopseg.refit import cluster_model_path, load_cluster_model
from shopseg.serve.live import LiveUpdater
from shopseg.workspace import open_workspace

from .test_serve_synth import build_demo_workspace

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("live") / "ws"
    build_demo_workspace(path, customers=300, seed=2)
    return path


def test_a_live_order_moves_the_cluster_as_the_stored_model_assigns_it(demo):
    ws = open_workspace(demo)
    try:
        live = LiveUpdater(ws.path, ws.con.cursor())
        seg = live.reference().states["segments"]  # the segments stage's state of the served run
        assert seg.cluster_model is not None and cluster_model_path(ws, seg.segments_run).exists()
        # a quiet one-order customer places a big order: their basket and rate change
        cid, pid = ws.sql("SELECT f.customer_id, (SELECT min(product_id) FROM products) FROM customer_features f "
                          "WHERE f.frequency = 1 ORDER BY f.recency_days DESC, f.customer_id LIMIT 1")[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = live.apply({"orders": [{"order_id": "BIG-1", "customer_id": cid,
                                          "ordered_at": dt.datetime(2025, 1, 3, 10)}],
                              "order_lines": [{"order_id": "BIG-1", "product_id": pid, "line_no": 1,
                                               "quantity": 40, "unit_price": 90.0}]})
        assert res["customers_rescored"] == [cid]
        feats = pd.DataFrame([json.loads(ws.scalar("SELECT features FROM live_state WHERE customer_id = ?", [cid]))])
        model = load_cluster_model(cluster_model_path(ws, seg.segments_run))
        want = f"cluster_{int(model.predict(feats)[0])}"
        got = ws.scalar("SELECT segment FROM live_segments WHERE customer_id = ? AND scheme = 'cluster'", [cid])
        assert got == want
        # the same customer's stored features give the run's own label back (the model is the run's)
        stored = ws.df("SELECT * EXCLUDE (run_id) FROM customer_features WHERE customer_id = ?", [cid])
        run_label = ws.scalar("SELECT segment FROM segments WHERE customer_id = ? AND scheme = 'cluster'", [cid])
        assert f"cluster_{int(model.predict(stored)[0])}" == run_label
    finally:
        ws.close()


def test_the_service_sets_duckdb_threads_only_when_told(demo):
    from shopseg.serve import create_app

    app = create_app(demo, "r", "w", threads=1)
    ws = app.state.shopseg.ws
    try:
        assert ws.scalar("SELECT current_setting('threads')") == 1
    finally:
        ws.close()
