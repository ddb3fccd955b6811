"""Runs: every stage for one as_of, recorded in `runs`; absent inputs skip a stage with a note, never a crash."""

import json
import warnings

import pytest

from shopseg.errors import ConfigError
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.pipeline import STAGES, parse_as_of, run_pipeline


@pytest.fixture
def shop(ws):
    load_fixture_shop(ws)
    return ws


def test_a_shop_without_reviews_or_events_runs_and_skips_with_notes(shop):
    shop.con.execute("DELETE FROM reviews")
    shop.con.execute("DELETE FROM events")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny fixture shop warns about its few purchase gaps
        result = run_pipeline(shop, FIXTURE_AS_OF, seed=1)
    assert result.status == "done"
    assert result.stages["reviews"] == {"status": "skipped", "seconds": 0.0, "note": "skipped: no rows in reviews"}
    assert set(result.stages) == {s.name for s in STAGES}
    row = shop.con.execute("SELECT status, as_of, seed, stages, version FROM runs WHERE run_id = ?",
                           [result.run_id]).fetchall()[0]
    assert row[0] == "done" and row[1] == parse_as_of(FIXTURE_AS_OF) and row[2] == 1
    assert json.loads(row[3])["segments"]["status"] == "done"


def test_default_as_of_is_the_last_order_day_not_the_clock(shop):
    last = shop.scalar("SELECT max(ordered_at) FROM orders")
    result = run_pipeline(shop, stages=["clv"])
    assert result.as_of.date() == last.date() and result.as_of.hour == 23


def test_bad_dates_and_unknown_stages_are_config_errors(shop):
    with pytest.raises(ConfigError, match="as_of must be a date like 2024-12-31 or a timestamp. Got 'soon' instead."):
        run_pipeline(shop, "soon")
    with pytest.raises(ConfigError, match="Unknown stage\\(s\\) segmnets; expected some of reviews, clv, segments"):
        run_pipeline(shop, FIXTURE_AS_OF, stages=["segmnets"])
    assert shop.count("runs") == 0


def test_a_failing_stage_marks_the_run_failed_and_discards_what_it_wrote(shop, monkeypatch):
    from shopseg import pipeline

    segments_only = [s for s in STAGES if s.name == "segments"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        good = run_pipeline(shop, FIXTURE_AS_OF, stages=["segments"]).run_id

    def boom(ctx):
        raise RuntimeError("stage blew up")

    monkeypatch.setattr(pipeline, "STAGES", segments_only + [pipeline.Stage("boom", boom)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="stage blew up"):
            run_pipeline(shop, FIXTURE_AS_OF)
    (bad, status, stages), = shop.con.execute("SELECT run_id, status, stages FROM runs WHERE run_id > ?",
                                              [good]).fetchall()
    # the record says how far it got; its outputs are gone, so "the newest segments" are the good run's
    assert status == "failed" and json.loads(stages)["segments"]["status"] == "done"
    assert shop.scalar("SELECT count(*) FROM segments WHERE run_id = ?", [bad]) == 0
    assert shop.scalar("SELECT max(run_id) FROM segments") == good
    assert shop.scalar("SELECT count(*) FROM segments WHERE run_id = ?", [good]) > 0


def test_a_killed_run_is_marked_failed_and_its_outputs_and_models_dropped_by_the_next_run(shop):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = run_pipeline(shop, FIXTURE_AS_OF, stages=["segments"]).run_id
        killed = run_pipeline(shop, FIXTURE_AS_OF, stages=["segments"]).run_id
    # as a kill -9 mid-run leaves it: still 'running', outputs and a model file written
    shop.con.execute("UPDATE runs SET status = 'running' WHERE run_id = ?", [killed])
    model = shop.models_dir / f"run-{killed}-clusters.json"
    model.write_text("{}")
    # every file a run names itself in (the model store's files, its metadata, a temporary file a kill left,
    # an older shopseg's churn and review model names, reports), and another run's file
    debris = [shop.models_dir / f"run-{killed}-churn.json", shop.models_dir / f"run-{killed}-churn.lgb.txt",
              shop.models_dir / f"run-{killed}-churn.meta.json", shop.models_dir / f".run-{killed}-churn.json.tmp7",
              shop.models_dir / f"churn_run{killed}.json", shop.models_dir / f"review_sentiment_run{killed}.pkl",
              shop.reports_dir / f"report-run{killed}.html"]
    for p in debris:
        p.write_text("{}")
    other = shop.models_dir / f"run-{killed}0-churn.json"  # run 10x, not this one
    other.write_text("{}")
    assert shop.scalar("SELECT count(*) FROM segments WHERE run_id = ?", [killed]) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        last = run_pipeline(shop, FIXTURE_AS_OF, stages=["segments"]).run_id
    statuses = dict(shop.sql("SELECT run_id, status FROM runs"))
    assert statuses == {first: "done", killed: "failed", last: "done"}
    assert shop.scalar("SELECT count(*) FROM segments WHERE run_id = ?", [killed]) == 0
    assert shop.scalar("SELECT count(*) FROM customer_features WHERE run_id = ?", [killed]) == 0
    assert not model.exists() and [p.name for p in debris if p.exists()] == []
    assert other.exists()
    other.unlink()
    assert shop.scalar("SELECT count(*) FROM segments WHERE run_id = ?", [first]) == \
        shop.scalar("SELECT count(*) FROM segments WHERE run_id = ?", [last])


def test_models_the_data_cannot_support_fall_back_to_the_baseline_and_say_so(shop):
    # 12 customers (9 buyers): the purchase models run to their bounds and there are too few buyers for a
    # validation window, so every buyer gets the uncalibrated baseline, recorded with the reasons
    result = run_pipeline(shop, FIXTURE_AS_OF, stages=["clv"])
    assert result.status == "done"
    st = result.stages["clv"]
    assert st["status"] == "done" and st["rows"] == 9 and st["used"].startswith("P(alive) from the baseline")
    assert st["used"].endswith("(not backtested: no validation window; see model_decisions)")
    assert shop.scalar("SELECT count(*) FROM clv WHERE clv IS NULL OR expected_purchases_90d IS NULL "
                       "OR p_alive IS NULL") == 0
    rows = shop.df("SELECT model, candidate, decision FROM model_decisions WHERE run_id = ? ORDER BY model",
                   [result.run_id])
    assert rows.model.tolist() == ["clv", "expected_purchases", "p_alive"] and (rows.candidate == "baseline").all()
    assert rows.decision.str.contains("uncalibrated: no candidate usable .*bgnbd").all()
    assert rows.decision.str.contains("has 8 earlier buyers").all()


def test_a_run_records_each_stage_as_it_finishes(shop, monkeypatch):
    """A run killed part-way shows the stages it got through (runs.stages used to stay {} until the end)."""
    from shopseg import pipeline

    seen = []
    real = pipeline.STAGES

    def spy(ctx):
        seen.append(json.loads(shop.scalar("SELECT stages FROM runs WHERE run_id = ?", [ctx.run_id])))
        return {}

    monkeypatch.setattr(pipeline, "STAGES", [s for s in real if s.name == "segments"] + [pipeline.Stage("spy", spy)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_pipeline(shop, FIXTURE_AS_OF, stages=["segments", "spy"])
    assert list(seen[0]) == ["segments"] and seen[0]["segments"]["status"] == "done"


def test_a_next_order_date_comes_with_baseline_expected_purchases(shop):
    """Expected purchases from the baseline (the 12-customer fixture): a buyer still alive gets as_of plus the
    median wait of a Poisson process at their rate while alive, ln 2 / (expected purchases / (p_alive x H))."""
    import math

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = run_pipeline(shop, FIXTURE_AS_OF, stages=["clv"])
    rows = shop.df("SELECT p_alive, expected_purchases_horizon AS e, horizon_days AS h, expected_next_order_at AS nxt "
                   "FROM clv WHERE run_id = ?", [run.run_id])
    assert "purchases=baseline" in shop.scalar("SELECT any_value(model) FROM clv WHERE run_id = ?", [run.run_id])
    alive = rows[(rows.p_alive >= 0.5) & (rows.e > 0)]
    assert len(alive) >= 3 and alive.nxt.notna().all() and rows[rows.p_alive < 0.5].nxt.isna().all()
    as_of = shop.scalar("SELECT as_of FROM runs WHERE run_id = ?", [run.run_id])
    for r in alive.itertuples():
        days = math.log(2) / (r.e / (r.p_alive * r.h))
        assert abs((r.nxt - as_of).total_seconds() / 86400 - days) < 1e-3
