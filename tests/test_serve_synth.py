"""The service on the generated demo shop with every stored model: churn, CLV, and the threshold curve."""

from __future__ import annotations

import warnings

import pytest

from shopseg.workspace import open_workspace

pytest.importorskip("fastapi")
HTTPX_WARNING = "Using `httpx` with `starlette.testclient` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=HTTPX_WARNING)  # plain httpx instead of httpx2 (ENVIRONMENT.md)
    from fastapi.testclient import TestClient

from shopseg.serve import create_app  # noqa: E402

R, W = {"X-API-Key": "r"}, {"X-API-Key": "w"}
AS_OF = "2024-12-31"


def build_demo_workspace(path, customers: int = 300, seed: int = 1,
                         stages: tuple = ("clv", "segments", "churn")):
    """Demo shop + one run of the stages the service reads (by default CLV, segments and churn)."""
    from shopseg.pipeline import run_pipeline
    from shopseg.synth import synthesize

    ws = open_workspace(path)
    synthesize(ws, customers=customers, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_pipeline(ws, AS_OF, stages=list(stages))
    assert all(s["status"] == "done" for s in result.stages.values()), result.stages
    ws.close()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "ws"
    build_demo_workspace(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        c = TestClient(create_app(path, "r", "w"))
    with c:
        yield c


def test_customer_view_carries_churn_reasons_clv_and_p_alive(client):
    cid = client.app.state.shopseg.ws.scalar("SELECT min(customer_id) FROM churn_scores")
    body = client.get(f"/customers/{cid}", headers=R).json()
    assert 0 <= body["churn"]["probability"] <= 1 and body["churn"]["tier"] in ("high", "mid", "low")
    assert len(body["churn"]["reasons"]) >= 1 and body["churn"]["source"] == "run"
    assert 0 <= body["clv"]["p_alive"] <= 1 and body["clv"]["clv"] >= 0


def test_a_live_order_rescores_churn_and_clv_with_the_stored_models(client):
    ws = client.app.state.shopseg.ws
    cid, pid = ws.sql("SELECT s.customer_id, (SELECT min(product_id) FROM products) FROM churn_scores s "
                      "ORDER BY s.probability DESC, s.customer_id LIMIT 1")[0]
    before = client.get(f"/customers/{cid}", headers=R).json()
    batch = {"orders": [{"order_id": "LIVE-1", "customer_id": cid, "ordered_at": "2025-01-02T12:00:00"}],
             "order_lines": [{"order_id": "LIVE-1", "product_id": pid, "quantity": 3, "unit_price": 40.0}]}
    r = client.post("/events", json=batch, headers=W)
    assert r.status_code == 200, r.text
    after = client.get(f"/customers/{cid}", headers=R).json()
    assert after["features"]["frequency"] == before["features"]["frequency"] + 1
    assert after["features"]["recency_days"] == 0
    assert after["churn"]["source"] == "live" and after["clv"]["source"] == "live"
    # a purchase today makes the riskiest customer less likely to be gone
    assert after["churn"]["probability"] <= before["churn"]["probability"]
    # P(alive) comes from the model the batch used for it (run-1-clv-choices.json).  With the last purchase on
    # the as_of day (recency = T) the likelihood ratio term is 1, so P(alive) = 1 / (1 + a / (b + x - 1)) for
    # BG/NBD (Fader, Hardie & Lee 2005) and 1 / (1 + a / (b + x)) for MBG/NBD (Batislam et al. 2007),
    # x = repeat purchase days
    import json

    used = json.loads((ws.models_dir / "run-1-clv-choices.json").read_text())["p_alive"]
    params = json.loads((ws.models_dir / f"run-1-clv-{used}.json").read_text())["params"]
    x = ws.scalar("SELECT count(DISTINCT CAST(ordered_at AS DATE)) - 1 FROM orders WHERE customer_id = ? "
                  "AND kind = 'sale'", [cid])
    assert used in ("bgnbd", "mbgnbd")
    want = 1 / (1 + params["a"] / (params["b"] + x - (1 if used == "bgnbd" else 0)))
    assert after["clv"]["p_alive"] == pytest.approx(want)
    assert after["clv"]["expected_next_order_at"] is not None


def test_threshold_curve_counts_validation_customers_from_the_stored_model(client):
    curve = client.get("/churn/threshold-curve", headers=R).json()
    assert curve["source"] == "validation" and len(curve["thresholds"]) == 101
    n, churners = curve["n"], curve["n_churners"]
    # threshold 0 reaches everyone; the counts never grow with the threshold
    assert curve["true_churners"][0] + curve["false_alarms"][0] == n
    assert curve["true_churners"][0] == churners
    for k in ("true_churners", "false_alarms"):
        assert all(a >= b for a, b in zip(curve[k], curve[k][1:]))
    # the validation set is the churn stage's: its size is in model_reports
    ws = client.app.state.shopseg.ws
    n_valid = ws.scalar("SELECT max(CAST(json_extract(details, '$.n_valid') AS INTEGER)) FROM model_reports")
    assert n == n_valid


def test_restricted_churn_rescore_matches_the_whole_shop_rescore(client):
    """score_customers([ids]) computes only those customers (shop median gap stored with the model)."""
    import json

    import numpy as np

    from shopseg.predict.churn import cutoff_frame, load_churn_model, score_customers
    from shopseg.serve.live import _ConWs

    state = client.app.state.shopseg
    w = _ConWs(state.ws.con.cursor(), state.ws.path)
    meta = json.loads((state.ws.models_dir / "run-1-churn.json").read_text())
    assert meta["shop_gap_days"] > 0
    ids = [r[0] for r in w.sql("SELECT customer_id FROM churn_scores WHERE run_id = 1 ORDER BY customer_id LIMIT 5")]
    cfg = state.runs(state.cursor())["config"]
    from shopseg.pipeline import parse_as_of

    as_of = parse_as_of(AS_OF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part = score_customers(w, as_of, ids, run_id=1, config=cfg)
        model = load_churn_model(w, 1, config=cfg)
        whole = cutoff_frame(w, as_of, int(meta["horizon"]["horizon_days"]), cfg)
    # the stored gap is the whole-shop median at the run's as_of
    multi = whole["purchase_days"] >= 2
    assert meta["shop_gap_days"] == float(np.median(whole.loc[multi, "mean_days_between_orders"]))
    whole = whole[whole["customer_id"].isin(ids)].reset_index(drop=True)
    assert list(part["customer_id"]) == ids
    np.testing.assert_allclose(part["probability"], model.predict_proba(whole[model.feature_names_in_])[:, 1],
                               rtol=1e-9)
    # and the batch's stored scores of the same run and as_of
    stored = w.df("SELECT probability FROM churn_scores WHERE run_id = 1 AND customer_id IN (SELECT unnest(?)) "
                  "ORDER BY customer_id", [ids])["probability"]
    np.testing.assert_allclose(part["probability"], stored, rtol=1e-9)
