"""Every CLV prediction's model is stored, whichever won (a transaction model, the repeat model, the baseline), and
the refresh and the live service re-score customers with it (predict/_clv_scorer.py, docs/clv.md "Stored models").

The backtest's choice is forced per prediction by :func:`force` (the candidates left out of the plan fail to fit, and
the planned one wins its comparison), so each kind is tested on the same small generated shop.
"""

from __future__ import annotations

import json
import shutil
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from shopseg.config import load_config
from shopseg.predict import _clv_backtest as B
from shopseg.predict._clv_scorer import ClvScorer, load_stored
from shopseg.predict._score import ClvState, clv_frame
from shopseg.workspace import open_workspace

from .conftest import with_workspace

AS_OF = "2024-12-31"
CLV = dict(load_config()["clv"])


def force(monkeypatch, plan: dict[str, str], *, meanspend: bool = False) -> dict:
    """Make the CLV stage choose ``plan`` (prediction -> "bgnbd" / "mbgnbd" / "repeat" / "baseline"): candidates
    not in the plan fail to fit; the planned one beats the baseline in every resample, the others in none, and the
    level check (money, purchase days, calibration) is a draw (the comparisons come in the stage's order: per
    prediction, the chain bgnbd, mbgnbd, repeat).  ``meanspend``:
    Gamma-Gamma is degenerate, so the value per purchase is the mean spend.  Returns a dict that receives the
    stage's spend totals (``"spend"``: the last ones it read, at as_of)."""
    from shopseg.predict import _clv_select as S
    from shopseg.predict._clv_value import GammaGamma

    used = set(plan.values())
    chain = [n for n in ("bgnbd", "mbgnbd", "repeat") if n in used]
    calls = iter([(p, n) for p in B.PREDICTIONS
                  for n in (chain[:chain.index(plan[p]) + 1] if plan[p] in chain else chain)])

    def compare(metric, y, model_score, base_score, weights):
        c = B.compare(metric, y, model_score, base_score, weights)
        p, n = next(calls)
        c.win_share = 1.0 if plan[p] == n else 0.0
        c.extra["lose_share"] = 1.0 - c.win_share
        return c

    def compare_level(actual, model_pred, base_pred, weights, score="poisson_deviance"):  # a draw: ranking decides
        c = B.compare_level(actual, model_pred, base_pred, weights, score)
        c.win_share, c.extra["lose_share"] = 0.5, 0.5
        return c

    real_fit = S._fit

    def fit(name, *a):
        if name not in used:
            raise B.CandidateError(f"{name}: left out by this test")
        return real_fit(name, *a)

    class Repeat(B.RepeatModel):
        def fit(self, *a):
            if "repeat" not in used:
                raise B.CandidateError("repeat: left out by this test")
            return super().fit(*a)

    proxy = SimpleNamespace(**{k: getattr(B, k) for k in dir(B) if not k.startswith("__")})
    seen: dict = {}

    def spend_totals(*a, **k):
        seen["spend"] = B.spend_totals(*a, **k)
        return seen["spend"]

    proxy.compare, proxy.compare_level, proxy.RepeatModel, proxy.spend_totals = compare, compare_level, Repeat, spend_totals
    if meanspend:
        proxy.degenerate = lambda m, *p: "left out by this test" if isinstance(m, GammaGamma) else B.degenerate(m, *p)
    monkeypatch.setattr(S, "B", proxy)
    monkeypatch.setattr(S, "_fit", fit)
    return seen


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    from shopseg.synth import synthesize

    ws = open_workspace(tmp_path_factory.mktemp("clvstored") / "ws")
    synthesize(ws, customers=300, seed=1)
    yield ws
    ws.close()


def _rows(ws, run_id):
    return ws.df("SELECT * EXCLUDE (run_id) FROM clv WHERE run_id = ? ORDER BY customer_id", [run_id])


CASES = {
    "transaction": ({"p_alive": "mbgnbd", "expected_purchases": "bgnbd", "clv": "bgnbd"}, False, AS_OF),
    "repeat": ({"p_alive": "repeat", "expected_purchases": "repeat", "clv": "repeat"}, False, AS_OF),
    "baseline": ({"p_alive": "baseline", "expected_purchases": "baseline", "clv": "baseline"}, False, AS_OF),
    # Online Retail's choice
    "repeat+baseline": ({"p_alive": "repeat", "expected_purchases": "repeat", "clv": "baseline"}, False, AS_OF),
    "mixed, mean spend": ({"p_alive": "baseline", "expected_purchases": "repeat", "clv": "bgnbd"}, True, AS_OF),
    "mixed 2": ({"p_alive": "bgnbd", "expected_purchases": "baseline", "clv": "repeat"}, False, AS_OF),
    "mixed, weeks": ({"p_alive": "mbgnbd", "expected_purchases": "repeat", "clv": "baseline"}, False, AS_OF),
    # 12 days of history: no validation window, the baseline's heuristics uncalibrated (Gamma-Gamma cannot be fitted)
    "baseline, no window": ({"p_alive": "baseline", "expected_purchases": "baseline", "clv": "baseline"}, True,
                            "2023-01-12"),
    # a year after the last order: a window where nobody bought, the heuristics scaled to its level (docs/clv.md)
    "baseline, window's level": ({"p_alive": "baseline", "expected_purchases": "baseline", "clv": "baseline"}, False,
                                 "2026-06-30"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_stored_models_scored_at_the_runs_date_give_the_runs_clv_rows(shop, monkeypatch, case):
    from shopseg.predict.clv import clv_table

    plan, meanspend, as_of = CASES[case]
    rid = 10 + list(CASES).index(case)
    seen = force(monkeypatch, plan, meanspend=meanspend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = clv_table(shop, rid, as_of, backtest_resamples=20, seed=3, time_unit="W" if "weeks" in case else "D")
    assert {c.prediction: c.candidate for c in res.choices} == plan
    if case in ("baseline, no window", "baseline, window's level"):
        assert all(c.metric is None for c in res.choices)  # not backtested: uncalibrated, or scaled to the level
    stored = json.loads((shop.models_dir / f"run-{rid}-clv-choices.json").read_text())
    assert stored == {**plan, "value": "meanspend" if meanspend else "gammagamma"}
    names = {p.name.split(".")[0] for p in res.model_paths}
    assert {f"run-{rid}-clv-{n}" for n in set(plan.values())} <= names
    monkeypatch.undo()  # scoring needs no fit: the real stage code from here on

    rows = _rows(shop, rid)
    scorer = ClvScorer.load(shop, rid, CLV)
    assert scorer.label == rows["model"].iloc[0]
    # the factors to the window's level are stored and loaded (none elsewhere)
    assert (set(scorer.level) == set(B.PREDICTIONS)) == (case == "baseline, window's level")
    # the stored models on the run's own inputs (its summary, in the rows, and the spend it read): every column
    # exactly
    spend = seen["spend"].set_index("customer_id")["spend_before"].reindex(rows["customer_id"]).fillna(0.0)
    again = scorer.frame(rows[["customer_id", "frequency", "recency", "T", "monetary_value"]],
                         spend.to_numpy(float), as_of)
    pd.testing.assert_frame_equal(again[rows.columns], rows, check_exact=True, check_dtype=False)
    # the re-score's own path (summary and spend in SQL for the customers asked): the same rows, up to the order
    # in which DuckDB adds up order values (it varies between two runs of one query: 1e-16 relative)
    ids = rows["customer_id"].tolist()
    live = clv_frame(ClvState(rid, scorer), shop, ids, as_of).sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(live[rows.columns], rows, check_exact=False, rtol=1e-12, atol=0, check_dtype=False)
    # the predictions are the customers' own, not one number for all
    assert rows["clv"].nunique() > 10 and rows["p_alive"].nunique() > 1


def test_a_run_without_the_new_files_says_its_rows_stand_and_an_older_store_of_transaction_models_loads(
        shop, monkeypatch):
    from shopseg.predict.clv import clv_table

    for rid, plan in ((30, {"p_alive": "repeat", "expected_purchases": "bgnbd", "clv": "bgnbd"}),
                      (31, {"p_alive": "bgnbd", "expected_purchases": "bgnbd", "clv": "bgnbd"})):
        force(monkeypatch, plan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clv_table(shop, rid, AS_OF, backtest_resamples=20)
        monkeypatch.undo()
    # run 30 as an older shopseg stored it: nothing when the repeat model won a prediction
    for p in shop.models_dir.glob("run-30-clv-*"):
        p.unlink()
    scorer, why = load_stored(shop, 30, CLV)
    assert scorer is None and "older shopseg" in why and "rows stand" in why
    # run 31 as an older shopseg stored transaction models: choices without the value model, no settings
    (shop.models_dir / "run-31-clv-choices.json").write_text(json.dumps(
        {"p_alive": "bgnbd", "expected_purchases": "bgnbd", "clv": "bgnbd"}))
    (shop.models_dir / "run-31-clv-choices.meta.json").unlink()
    scorer, why = load_stored(shop, 31, CLV)
    assert why is None and scorer.value_name == "gammagamma" and scorer.tms.keys() == {"bgnbd"}
    rows = _rows(shop, 31)
    live = clv_frame(ClvState(31, scorer), shop, rows["customer_id"].tolist(), AS_OF)
    pd.testing.assert_frame_equal(live.sort_values("customer_id").reset_index(drop=True)[rows.columns], rows,
                                  check_exact=False, rtol=1e-12, atol=0, check_dtype=False)


def test_a_damaged_stored_file_says_the_rows_stand_and_raises_nothing_else(shop, monkeypatch):
    from shopseg.predict.clv import clv_table

    force(monkeypatch, {"p_alive": "repeat", "expected_purchases": "baseline", "clv": "bgnbd"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clv_table(shop, 32, AS_OF, backtest_resamples=20)
    monkeypatch.undo()
    assert load_stored(shop, 32, CLV)[1] is None
    for name in ("choices", "repeat", "baseline", "bgnbd", "gammagamma"):
        p = shop.models_dir / f"run-32-clv-{name}.json"
        good = p.read_text()
        for bad, says in (('{"cut', "not valid JSON"), ("[1]", "not a JSON object"), ("{}", "not a")):
            p.write_text(bad)
            scorer, why = load_stored(shop, 32, CLV)
            assert scorer is None and why.startswith("run 32's CLV is not re-scored") and "rows stand" in why
            if bad == "{}":
                says = {"choices": "does not name the model of each prediction", "repeat": "not a shopseg.clv-repeat",
                        "baseline": "not a shopseg.clv-baseline"}.get(name, "Not a stored shopseg CLV model")
            assert says in why, why
        p.write_text(good)
    assert load_stored(shop, 32, CLV)[1] is None


# -- the refresh and the live service -------------------------------------------------------------------------

BASE_AS_OF = "2024-12-24"
STAGES = ["clv", "segments", "churn"]
PLAN = {"p_alive": "repeat", "expected_purchases": "repeat", "clv": "baseline"}  # Online Retail's


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    from shopseg.incremental import run_incremental
    from shopseg.pipeline import run_pipeline
    from shopseg.synth import synthesize

    root = tmp_path_factory.mktemp("clvrefresh")
    with pytest.MonkeyPatch.context() as mp:
        force(mp, PLAN)
        # a 60-day validation window: P(alive) (a purchase in 60 days) nests in the churn horizon (65 days here)
        # and is pooled with churn (docs/churn.md)
        cfg = load_config(overrides={"clv": {"backtest_days": 60}})
        with_workspace(root / "base", lambda ws: (synthesize(ws, customers=200, seed=5),
                                                  run_pipeline(ws, BASE_AS_OF, stages=STAGES, config=cfg)))
    shutil.copytree(root / "base", root / "incr")
    shutil.copytree(root / "base", root / "old")
    for p in (root / "old" / "models").glob("run-1-clv-*"):  # as an older shopseg stored it: nothing
        p.unlink()
    return {"incr": root / "incr", "old": root / "old",
            "incr_result": with_workspace(root / "incr", lambda ws: run_incremental(ws, AS_OF)),
            "old_result": with_workspace(root / "old", lambda ws: run_incremental(ws, AS_OF))}


def _new_buyers(ws) -> list[str]:
    return [r[0] for r in ws.sql("SELECT DISTINCT customer_id FROM orders WHERE kind = 'sale' AND customer_id IS NOT "
                                 "NULL AND ordered_at >= ? AND ordered_at <= ? ORDER BY 1",
                                 [pd.Timestamp(BASE_AS_OF) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1),
                                  pd.Timestamp(AS_OF) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)])]


def test_the_refresh_rescores_touched_customers_clv_with_the_stored_repeat_model_and_baseline(refreshed):
    from shopseg.pipeline import parse_as_of

    def check(ws):
        assert "clv" not in refreshed["incr_result"].stages["incremental"]  # nothing to say: re-scored
        assert json.loads((ws.models_dir / "run-2-clv-choices.json").read_text()) == {**PLAN, "value": "gammagamma"}
        p, r = _rows(ws, 1).set_index("customer_id"), _rows(ws, 2).set_index("customer_id")
        ids = sorted(set(_new_buyers(ws)) & set(p.index))
        assert len(ids) > 10
        scorer = ClvScorer.load(ws, 1, CLV)
        want = clv_frame(ClvState(1, scorer), ws, ids, parse_as_of(AS_OF)).set_index("customer_id")
        got = r.loc[ids]
        cols = [c for c in got.columns if c not in ("p_alive", "expected_next_order_at")]
        pd.testing.assert_frame_equal(got[cols], want[cols], check_exact=False, rtol=1e-12, check_dtype=False)
        # P(alive) the stored model's, pooled with churn where it was above 1 - churn (docs/churn.md)
        churn = ws.df("SELECT customer_id, probability FROM churn_scores WHERE run_id = 2").set_index("customer_id")
        q = churn["probability"].reindex(ids).to_numpy(float)
        np.testing.assert_allclose(got["p_alive"].to_numpy(float), np.minimum(want["p_alive"].to_numpy(float), 1 - q),
                                   rtol=0, atol=1e-12)
        assert (got["p_alive"].to_numpy(float) < want["p_alive"].to_numpy(float)).any()  # some pooled
        both = r.join(churn, how="inner")
        assert int((both["p_alive"] > 1 - both["probability"] + 1e-12).sum()) == 0
        # a customer who ordered since P: a new summary and new predictions, not P's
        assert (got["frequency"] > p.loc[ids, "frequency"]).all()
        changed = (got["expected_purchases_90d"] != p.loc[ids, "expected_purchases_90d"]) | \
                  (got["clv"] != p.loc[ids, "clv"])
        # (the shop's top buyers sit on the models' top step: the repeat model's highest leaves, the calibration's
        # last step, and keep it after one more order)
        assert changed.mean() >= 0.8
        assert (got["expected_purchases_90d"] != p.loc[ids, "expected_purchases_90d"]).mean() > 0.5
        assert (got["clv"] != p.loc[ids, "clv"]).any()  # the baseline's calibration is a step function: some
        assert (got["model"] == scorer.label).all() and scorer.label == \
            "p_alive=repeat; purchases=repeat; clv=baseline; order_value=gammagamma"

    with_workspace(refreshed["incr"], check)


def test_the_runs_pooling_keeps_the_churn_recency_floor_and_so_does_the_refresh(refreshed):
    """The base run (200 generated customers, P(alive) a purchase in 60 days, churn none in 65): 13 buyers silent
    longer than every churn training row (553 days), floor 0.986; 7 of them had a P(alive) above 1 - churn, and
    the pooling used to set both to their mean, below the floor. Now they end at (1 - floor, floor), and no buyer
    past the range is below it, in the run or after the refresh (docs/churn.md, "The floor and the pooling")."""
    from shopseg.features import customer_features
    from shopseg.pipeline import parse_as_of
    from shopseg.predict._reconcile import stored_views

    def check(ws):
        floor = stored_views(ws, 1)["recency_floor"]
        assert floor == {"max_recency_days": 553.0, "probability": pytest.approx(0.986486)}
        st = json.loads(ws.scalar("SELECT stages FROM runs WHERE run_id = 1"))["churn"]
        assert st["p_alive_pooled_at_floor"] == 7 and "7 of them silent longer than every churn training row" \
            in st["views"]
        for run, as_of in ((1, BASE_AS_OF), (2, AS_OF)):
            f = customer_features(ws, parse_as_of(as_of))[["customer_id", "recency_days"]]
            s = ws.df("SELECT s.customer_id, s.probability, c.p_alive FROM churn_scores s JOIN clv c "
                      "USING (run_id, customer_id) WHERE s.run_id = ?", [run]).merge(f, on="customer_id")
            beyond = s[s["recency_days"] > floor["max_recency_days"]]
            assert len(beyond) >= 13 and (beyond["probability"] >= floor["probability"]).all(), run
            held = beyond[(beyond["probability"] == floor["probability"])
                          & ((beyond["p_alive"] - (1 - floor["probability"])).abs() < 1e-12)]
            assert len(held) >= 7, run

    with_workspace(refreshed["incr"], check)


def test_a_base_run_without_stored_repeat_or_baseline_keeps_its_clv_rows_and_the_refresh_says_so(refreshed):
    note = refreshed["old_result"].stages["incremental"]
    assert note["status"] == "done" and "run 1's CLV is not re-scored" in note["clv"]
    assert "older shopseg" in note["clv"]

    def check(ws):
        p, r = _rows(ws, 1).set_index("customer_id"), _rows(ws, 2).set_index("customer_id")
        ids = sorted(set(_new_buyers(ws)) & set(p.index))
        cols = [c for c in p.columns if c not in ("p_alive", "expected_next_order_at")]  # P(alive): pooled
        pd.testing.assert_frame_equal(r.loc[ids, cols], p.loc[ids, cols])

    with_workspace(refreshed["old"], check)


def _service(path):
    """A test client of the service over the workspace at ``path`` (use it in ``with``)."""
    from tests.test_serve_synth import HTTPX_WARNING

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        from fastapi.testclient import TestClient

        from shopseg.serve import create_app

        return TestClient(create_app(path, "r", "w"))


def _an_order(ws, when: str) -> tuple[str, dict]:
    """(a buyer of the run, an event batch of one order of theirs at ``when``)."""
    cid, pid = ws.sql("SELECT c.customer_id, (SELECT min(product_id) FROM products) FROM clv c "
                      "ORDER BY c.clv DESC, c.customer_id LIMIT 1 OFFSET 20")[0]
    return cid, {"orders": [{"order_id": "LIVE-1", "customer_id": cid, "ordered_at": when}],
                 "order_lines": [{"order_id": "LIVE-1", "product_id": pid, "quantity": 3, "unit_price": 400.0}]}


def test_the_service_rescores_a_new_orders_clv_with_the_stored_repeat_model(tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    from shopseg.serve.live import end_of_day
    from tests.test_serve_synth import R, W, build_demo_workspace

    plan = {"p_alive": "repeat", "expected_purchases": "repeat", "clv": "repeat"}
    force(monkeypatch, plan)
    path = tmp_path / "ws"
    build_demo_workspace(path)
    monkeypatch.undo()
    with _service(path) as client:
        ws = client.app.state.shopseg.ws
        assert json.loads((ws.models_dir / "run-1-clv-choices.json").read_text()) == {**plan, "value": "gammagamma"}
        when = "2025-01-02T12:00:00"
        cid, batch = _an_order(ws, when)
        before = client.get(f"/customers/{cid}", headers=R).json()
        r = client.post("/events", json=batch, headers=W)
        assert r.status_code == 200, r.text
        after = client.get(f"/customers/{cid}", headers=R).json()
        assert before["clv"]["source"] != "live" and after["clv"]["source"] == "live"
        want = clv_frame(ClvState(1, ClvScorer.load(ws, 1, CLV)), ws, [cid], end_of_day(pd.Timestamp(when)))
        assert after["clv"]["clv"] == pytest.approx(float(want["clv"].iloc[0]), rel=1e-9)
        assert after["clv"]["expected_purchases_90d"] == pytest.approx(float(want["expected_purchases_90d"].iloc[0]),
                                                                       rel=1e-9)
        assert after["clv"]["clv"] != pytest.approx(before["clv"]["clv"], rel=1e-6)
        assert after["clv"]["note"] is None and client.get("/health").json()["notes"] == []
        # the live answer, like the run's, says each figure's model and that CLV (the repeat model's spend) is not
        # purchases x order value (docs/clv.md, "One customer's figures"), with the horizon's purchases
        assert after["clv"]["expected_purchases_horizon"] == pytest.approx(
            float(want["expected_purchases_horizon"].iloc[0]), rel=1e-9)
        for view in (before, after):
            assert view["clv"]["sources"] == {"p_alive": "repeat", "expected_purchases": "repeat",
                                              "expected_order_value": "gammagamma", "clv": "repeat"}
            assert view["clv"]["basis"].startswith("CLV is the repeat model's forecast of the spend in the next ")
            assert view["clv"]["basis"].endswith("so CLV is not their product.")
        client.post("/dashboard/login", data={"key": "r"})
        page = client.get(f"/dashboard/customer?id={cid}").text
        assert f'<p id="clv-basis" class="muted">{after["clv"]["basis"]}</p>'.replace("'", "&#39;") in page


def test_the_service_says_so_when_the_runs_clv_models_are_not_stored(tmp_path):
    """A run stored without CLV models (an older shopseg, the Spark engine): an event re-scores the customer but
    not their CLV, and the customer's answer (API, dashboard) and /health say why, in the refresh's words."""
    pytest.importorskip("fastapi")
    from tests.test_serve_synth import R, W, build_demo_workspace

    path = tmp_path / "ws"
    build_demo_workspace(path)
    for p in (path / "models").glob("run-1-clv-*"):  # as such a run stored it: nothing
        p.unlink()
    with _service(path) as client:
        ws = client.app.state.shopseg.ws
        notes = client.get("/health").json()["notes"]
        assert len(notes) == 1 and notes[0].startswith("run 1's CLV is not re-scored") and "rows stand" in notes[0]
        assert notes[0] == load_stored(ws, 1, CLV)[1]  # the refresh's note (incremental.clv)
        cid, batch = _an_order(ws, "2025-01-02T12:00:00")
        before = client.get(f"/customers/{cid}", headers=R).json()
        assert before["clv"]["source"] == "run" and before["clv"]["note"] is None  # the run's, as it says
        assert client.post("/events", json=batch, headers=W).status_code == 200
        after = client.get(f"/customers/{cid}", headers=R).json()
        assert after["live"] and after["clv"]["note"] == notes[0]
        for k in ("clv", "expected_purchases_90d", "expected_order_value"):  # the run's values stand
            assert after["clv"][k] == before["clv"][k]
        # the route's SQL path says the same as the snapshot's fast path
        from shopseg.serve._reads import customer_view

        state = client.app.state.shopseg
        slow = customer_view(state, state.cursor(), cid, use_snapshot=False)
        assert slow.clv.note == notes[0]
        client.post("/dashboard/login", data={"key": "r"})
        page = client.get(f"/dashboard/customer?id={cid}").text
        assert f'<p id="clv-note" class="muted">{notes[0]}</p>'.replace("'", "&#39;") in page
        # a customer with no CLV row (no sale by the run's date) whom events re-score: no values, the same note
        new = ws.sql("SELECT min(customer_id) FROM customers WHERE customer_id NOT IN (SELECT customer_id FROM clv)")[0][0]
        assert new is not None and client.get(f"/customers/{new}", headers=R).json()["clv"] is None
        batch = {k: [{**r, "order_id": "LIVE-2", "customer_id": new} if k == "orders" else {**r, "order_id": "LIVE-2"}
                     for r in rows] for k, rows in batch.items()}
        assert client.post("/events", json=batch, headers=W).status_code == 200
        view = client.get(f"/customers/{new}", headers=R).json()
        assert view["live"] and view["clv"]["note"] == notes[0] and view["clv"]["source"] == "run"
        assert all(view["clv"][k] is None for k in ("clv", "p_alive", "expected_purchases_90d", "expected_order_value"))
        assert customer_view(state, state.cursor(), new, use_snapshot=False).clv.note == notes[0]
        page = client.get(f"/dashboard/customer?id={new}").text
        assert f'<p id="clv-note" class="muted">{notes[0]}</p>'.replace("'", "&#39;") in page


def test_the_service_loads_the_runs_clv_models_once(tmp_path, monkeypatch):
    """/health's note (serve._state.clv_note) and the live re-score (predict._score.clv_state) read the same stored
    models: one load per run, shared (~20 ms each)."""
    pytest.importorskip("fastapi")
    from tests.test_serve_synth import R, W, build_demo_workspace

    path = tmp_path / "ws"
    build_demo_workspace(path)
    loads = []
    real = ClvScorer.load.__func__

    def load(cls, ws, run_id, config_clv):
        loads.append(run_id)
        return real(cls, ws, run_id, config_clv)

    monkeypatch.setattr(ClvScorer, "load", classmethod(load))
    with _service(path) as client:
        assert client.get("/health").json()["notes"] == []
        cid, batch = _an_order(client.app.state.shopseg.ws, "2025-01-02T12:00:00")
        assert client.post("/events", json=batch, headers=W).status_code == 200
        assert client.get(f"/customers/{cid}", headers=R).json()["clv"]["source"] == "live"
        assert client.get("/health").json()["notes"] == []
    assert loads == [1]


def test_the_repeat_models_numpy_trees_give_lightgbms_predictions():
    """The repeat model scores its three LightGBM models (binary, Poisson, Tweedie) in numpy from their text
    (_clv_backtest.TreeOutput): LightGBM's own predictions, up to its exp's last bit."""
    import lightgbm as lgb

    rng = np.random.default_rng(4)
    X = np.column_stack([rng.exponential(60, 800), rng.poisson(2, 800), rng.exponential(200, 800),
                         rng.exponential(300, 800), np.where(rng.random(800) < 0.3, 0.0, rng.exponential(80, 800))])
    days = rng.poisson(np.exp(-X[:, 0] / 80) * 2)
    rm = B.RepeatModel(60.0, random_state=1, n_estimators=40).fit(X, (days > 0).astype(int), days,
                                                                 days * rng.exponential(50, 800))
    for what in ("bought", "days", "spend"):
        m = rm.models_[what]
        assert m.booster is None and len(m.trees.trees) == 40  # scored in numpy
        want = lgb.Booster(model_str=m.text).predict(X, num_threads=1)
        np.testing.assert_allclose(rm.predict(X, what), want, rtol=1e-14, atol=0)
        assert np.ptp(want) > 0


SCORE_REPEAT = """
import json, pathlib, sys, types
import pandas as pd
from shopseg.predict._clv_scorer import ClvScorer
store = types.SimpleNamespace(models_dir=pathlib.Path(sys.argv[1]))  # the model store alone
sc = ClvScorer.load(store, int(sys.argv[2]), json.loads(sys.argv[3]))
rows = pd.read_parquet(sys.argv[4])
out = sc.frame(rows[["customer_id", "frequency", "recency", "T", "monetary_value"]], rows["spend"].to_numpy(float),
               sys.argv[5])
print(json.dumps({"clv": out["clv"].tolist(), "p_alive": out["p_alive"].tolist(),
                  "imported": sorted(k for k in ("lightgbm", "sklearn", "scipy.stats") if k in sys.modules)}))
"""


def test_a_fresh_process_scores_the_stored_repeat_model_and_baseline_without_lightgbm(shop, monkeypatch, tmp_path):
    import subprocess
    import sys

    from shopseg.predict.clv import clv_table

    seen = force(monkeypatch, {"p_alive": "repeat", "expected_purchases": "baseline", "clv": "repeat"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clv_table(shop, 40, AS_OF, backtest_resamples=20)
    monkeypatch.undo()
    rows = _rows(shop, 40)
    spend = seen["spend"].set_index("customer_id")["spend_before"].reindex(rows["customer_id"]).fillna(0.0)
    rows.assign(spend=spend.to_numpy(float)).to_parquet(tmp_path / "rows.parquet")
    done = subprocess.run([sys.executable, "-c", SCORE_REPEAT, str(shop.models_dir), "40", json.dumps(CLV),
                           str(tmp_path / "rows.parquet"), AS_OF], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["imported"] == []
    assert got["clv"] == rows["clv"].tolist() and got["p_alive"] == rows["p_alive"].tolist()  # bit for bit
