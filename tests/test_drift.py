"""Feature drift: the population stability index by hand, and the drift stage between two runs."""

import numpy as np
import pytest

from shopseg.config import load_config
from shopseg.drift import drift_stage, feature_drift, population_stability
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.pipeline import run_pipeline
from shopseg.segment import SegmentWarning


def test_psi_of_a_population_against_itself_is_zero():
    x = np.random.default_rng(0).lognormal(size=5000)
    assert population_stability(x, x) == pytest.approx(0.0, abs=1e-12)


def test_psi_by_hand():
    # expected 0..99: ten decile bins of 10% each; actual: half in the first bin, half in the last.
    # PSI = 2 (0.5 - 0.1) ln 5 + 8 (0.0001 - 0.1) ln(0.0001 / 0.1) = 1.28755 + 5.52067
    expected = np.arange(100.0)
    actual = np.r_[np.repeat([0, 1, 2, 3, 4], 10), np.repeat([95, 96, 97, 98, 99], 10)].astype(float)
    assert population_stability(expected, actual) == pytest.approx(6.808228, abs=1e-6)


def test_a_shifted_feature_is_a_major_shift_and_a_resample_is_stable():
    rng = np.random.default_rng(1)
    base = rng.normal(size=20000)
    assert population_stability(base, rng.normal(size=20000)) < 0.01
    assert population_stability(base, rng.normal(loc=1.0, size=20000)) > 0.25


def test_drift_stage_compares_with_the_previous_run(ws):
    load_fixture_shop(ws)
    cfg = load_config()
    with pytest.warns(SegmentWarning, match="only 7 gap"):  # the fixture's March has few purchase gaps
        first = run_pipeline(ws, "2024-03-31", stages=["segments", "drift"])
    assert first.stages["drift"]["note"].startswith("skipped: no earlier run")
    assert first.stages["drift"]["status"] == "skipped"
    second = run_pipeline(ws, FIXTURE_AS_OF, stages=["segments", "drift"])
    notes = second.stages["drift"]
    assert notes["previous_run"] == first.run_id
    df = ws.df("SELECT feature, psi, level FROM feature_drift WHERE run_id = ?", [second.run_id])
    assert set(df.level) <= {"stable", "moderate", "major", "n/a"}  # n/a: a feature with no values
    assert len(df) == notes["features"] and notes["major"] == int((df.level == "major").sum())
    # recency moves with the date for everyone: its distribution shifts between March and July
    assert df.set_index("feature").loc["tenure_days", "psi"] > 0
    same = feature_drift(ws, second.run_id, second.run_id, threshold=cfg["drift.psi_threshold"])
    assert (same.psi.abs() < 1e-12).all()
    assert drift_stage(ws, first.run_id, cfg)["note"].startswith("skipped")
