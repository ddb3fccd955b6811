"""RFM scores and segments: hand-computed on the fixture shop, config checks, tiny shops."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopseg.config import load_config
from shopseg.errors import ConfigError
from shopseg.features import customer_features
from shopseg.workspace import open_workspace
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.segment import SegmentWarning, parse_names, rfm_segments
from shopseg.segment.rfm import quantile_scores


@pytest.fixture(scope="module")
def feats(tmp_path_factory):
    with open_workspace(tmp_path_factory.mktemp("rfm") / "ws") as w:
        load_fixture_shop(w)
        return customer_features(w, FIXTURE_AS_OF)


def test_rfm_scores_and_segments_of_the_fixture_shop_by_hand(feats):
    # 9 buyers; score = 1 + floor(5 * (rank - 1) / 9), rank from worst (minimum rank for ties).
    # recency (worst first): c05 456, c04 304, c02 82, c06 52, c07 42, c08 32, c09 16, c03 11, c01 6
    #   ranks 1..9 -> R 1 1 2 2 3 3 4 4 5
    # frequency: 1 (c03, c05) rank 1 -> 1; 2 (c06, c07) rank 3 -> 2; 3 (c04, c08, c09) rank 5 -> 3;
    #   4 (c02) rank 8 -> 4; 5 (c01) rank 9 -> 5
    # monetary_net: c05 10, c03 40, c09 160, c07 180, c08 184, c01 290, c04 310, c02 365, c06 7200
    #   -> M 1 1 2 2 3 3 4 4 5;   FM = floor((F + M) / 2 + 0.5)
    expected = {  # R, F, M, FM, segment
        "c01": (5, 5, 3, 4, "Champions"),
        "c02": (2, 4, 4, 4, "At Risk"),
        "c03": (4, 1, 1, 1, "Promising"),
        "c04": (1, 3, 4, 4, "At Risk"),
        "c05": (1, 1, 1, 1, "Lost"),
        "c06": (2, 2, 5, 4, "At Risk"),
        "c07": (3, 2, 2, 2, "About to Sleep"),
        "c08": (3, 3, 3, 3, "Need Attention"),
        "c09": (4, 3, 2, 3, "Potential Loyalist"),
        "c10": (0, 0, 0, 0, "Prospect"),
        "c11": (0, 0, 0, 0, "Prospect"),
    }
    got = rfm_segments(feats).set_index("customer_id")
    for cid, (r, f, m, fm, seg) in expected.items():
        assert tuple(got.loc[cid, ["r_score", "f_score", "m_score", "fm_score", "segment"]]) == (r, f, m, fm, seg), cid


def test_default_names_cover_every_cell_exactly_once():
    cells = parse_names(load_config()["segments.rfm.names"])
    assert sorted(cells) == [(r, fm) for r in range(1, 6) for fm in range(1, 6)]
    assert len(set(cells.values())) == 11


def test_users_can_override_a_name_and_uncovered_cells_go_to_the_catch_all(feats):
    cfg = load_config(overrides={"segments": {"rfm": {"names": {"At Risk": [], "Worried": ["1-2:3"]}}}})
    got = rfm_segments(feats, cfg).set_index("customer_id")["segment"]
    assert got["c02"] == "Other"  # R2 FM4 lost its name
    assert got["c01"] == "Champions"


def test_cut_points_give_fixed_scores(feats):
    cfg = load_config(overrides={"segments": {"rfm": {"method": "cuts"}}})
    got = rfm_segments(feats, cfg).set_index("customer_id")
    # c01: recency 6 <= 30 -> R5; frequency 5 <= 5 -> F4; monetary 290 in (250, 500] -> M4
    assert tuple(got.loc["c01", ["r_score", "f_score", "m_score"]]) == (5, 4, 4)
    # c05: recency 456 > 365 -> R1; 1 order -> F1; 10 <= 50 -> M1
    assert tuple(got.loc["c05", ["r_score", "f_score", "m_score"]]) == (1, 1, 1)


@pytest.mark.parametrize("names, words", [
    ({"Bad": ["6:1"]}, "score 1-5"),
    ({"Bad": ["5-4:1"]}, "a <= b"),
    ({"Bad": ["51"]}, '"R:FM"'),
    ({"Bad": "5:1"}, "list"),
    ({"Twin": ["5:5"]}, "both claim the cell R=5, FM=5"),
])
def test_bad_rfm_name_patterns_are_rejected_with_a_clear_message(names, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        load_config(overrides={"segments": {"rfm": {"names": names}}})


@pytest.mark.parametrize("override, words", [
    ({"rfm": {"method": "deciles"}}, "must be one of 'quantile', 'cuts'"),
    ({"rfm": {"recency_cuts": [90, 30, 180, 365]}}, "4 increasing numbers"),
    ({"rfm": {"monetary_column": "revenue"}}, "monetary_net"),
    ({"rfm": {"min_customers": 0}}, r"int in \[1, inf\)"),
    ({"schemes": ["rfm", "astrology"]}, "distinct names"),
])
def test_bad_rfm_settings_are_rejected(override, words):
    with pytest.raises(ConfigError, match=words):
        load_config(overrides={"segments": override})


def test_tiny_shop_warns_and_still_segments_everyone():
    f = pd.DataFrame({"customer_id": ["a", "b"], "has_orders": [True, True], "recency_days": [3, 40],
                      "frequency": [2, 1], "monetary_net": [100.0, 20.0]})
    with pytest.warns(SegmentWarning, match="only 2 customer"):
        got = rfm_segments(f)
    assert len(got) == 2 and got["segment"].notna().all()


def test_ties_that_flatten_a_score_warn():
    n = 50
    f = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "has_orders": True,
                      "recency_days": np.arange(n), "frequency": 1, "monetary_net": np.arange(n) * 1.0})
    with pytest.warns(SegmentWarning, match="frequency score with only 1 distinct"):
        got = rfm_segments(f)
    assert (got["f_score"] == 1).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=1, max_size=60))
def test_quantile_scores_are_1_to_5_monotone_and_ties_share_a_score(values):
    x = np.array(values)
    s = quantile_scores(x)
    assert s.min() >= 1 and s.max() <= 5
    assert s[x == x.min()].max() == 1  # the worst tie group always scores 1
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(s[order]) >= 0)
    for v in np.unique(x):
        assert len(np.unique(s[x == v])) == 1


def test_a_dormant_shop_has_no_champions_rfm_agrees_with_the_lifecycle(tmp_path):
    """Quintiles are relative to the shop: 600 days after the fixture's last sale the least silent fifth would still
    score R = 5 ("Champions") while the lifecycle calls every buyer churned.  A buyer past the lifecycle's churn
    window (216 days on the fixture) scores R = 1: the batch run, and the live score of the same run."""
    import warnings

    from shopseg.pipeline import run_pipeline
    from shopseg.segment._score import segments_score, segments_state
    from shopseg.runner import Runs

    as_of = pd.Timestamp(FIXTURE_AS_OF) + pd.Timedelta(days=600)
    with open_workspace(tmp_path / "ws") as ws:
        load_fixture_shop(ws)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = run_pipeline(ws, as_of, stages=["segments"])
        got = ws.df("SELECT r.customer_id, r.r_score, s.segment AS rfm, l.segment AS lifecycle FROM rfm_scores r "
                    "JOIN segments s ON s.customer_id = r.customer_id AND s.run_id = r.run_id AND s.scheme = 'rfm' "
                    "JOIN segments l ON l.customer_id = r.customer_id AND l.run_id = r.run_id "
                    "AND l.scheme = 'lifecycle' WHERE r.run_id = ? AND r.r_score > 0", [run.run_id])
        assert len(got) == 10 and (got["lifecycle"] == "churned").all()
        assert (got["r_score"] == 1).all(), got
        assert set(got["rfm"]) <= {"Lost", "At Risk", "Can't Lose Them"} and "Champions" not in set(got["rfm"])
        # c01, the least silent buyer with the best FM (5), was R 5, "Champions", by rank alone
        assert got.set_index("customer_id").loc["c01", "rfm"] == "Can't Lose Them"
        # the live score of the run (a posted event re-scores a customer) reads the run's windows: the same R
        st = segments_state(ws, Runs(ws, run.run_id, as_of, load_config()))
        assert st.windows is not None and st.windows["churned_days"] == 216
        live = segments_score(st, ws, ["c01"], as_of, {})
        assert live["c01"]["rfm_scores"]["r_score"] == 1 and live["c01"]["segments"]["rfm"] == "Can't Lose Them"


def test_the_recency_cap_leaves_a_buyer_inside_the_churn_window_alone():
    from shopseg.segment.rfm import churned_recency

    r = np.array([5, 5, 3])
    assert churned_recency(r, np.array([216.0, 217.0, 10.0]), {"churned_days": 216}).tolist() == [5, 1, 3]
    assert churned_recency(r, np.array([999.0] * 3), None).tolist() == [5, 5, 3]
