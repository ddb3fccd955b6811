"""segment_all, the segments / segment_profiles tables, migration and history on the fixture shop."""

import doctest
import json
from datetime import datetime

import pytest

import shopseg.segment
import shopseg.segment.lifecycle
from shopseg.config import load_config
from shopseg.errors import WorkspaceError
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.workspace import open_workspace
from shopseg.segment import SegmentWarning, migration, migration_long, segment_all, segment_history

CFG = load_config(overrides={"segments": {"cluster": {"sample_size": 100}}})


def _runs(ws):
    load_fixture_shop(ws)
    for run_id, as_of in ((1, datetime(2024, 6, 1)), (2, FIXTURE_AS_OF), (3, FIXTURE_AS_OF)):
        ws.con.execute("INSERT INTO runs (run_id, as_of, status) VALUES (?, ?, 'done')", [run_id, as_of])
    return ws


@pytest.fixture
def shop(ws):
    return _runs(ws)


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """Read-only: the fixture shop segmented as of 2024-06-01 (run 1) and FIXTURE_AS_OF (run 2)."""
    with open_workspace(tmp_path_factory.mktemp("stage") / "ws") as w:
        _runs(w)
        segment_all(w, 1, datetime(2024, 6, 1), CFG)
        w.windows = segment_all(w, 2, FIXTURE_AS_OF, CFG).windows
        yield w


def test_every_customer_gets_exactly_one_segment_per_scheme(done):
    shop = done
    counts = shop.sql("SELECT scheme, count(*), count(DISTINCT customer_id) FROM segments WHERE run_id = 2 "
                      "GROUP BY 1 ORDER BY 1")
    assert counts == [("cluster", 11, 11), ("geo", 11, 11), ("interest", 11, 11), ("lifecycle", 11, 11), ("rfm", 11, 11),
                      ("value_tier", 11, 11)]  # age_band and gender: skipped (no such customer columns)
    assert shop.scalar("SELECT count(*) FROM segments WHERE segment IS NULL") == 0


def test_profiles_add_up_to_the_customers_and_carry_the_windows(done):
    shop = done
    prof = shop.df("SELECT * FROM segment_profiles WHERE run_id = 2")
    for scheme, g in prof.groupby("scheme"):
        assert g["n_customers"].sum() == 11, scheme
        assert g["share"].sum() == pytest.approx(1.0)
    lc = prof[(prof["scheme"] == "lifecycle") & (prof["segment"] == "active")].iloc[0]
    assert json.loads(lc["profile"])["windows"]["silent_days"] == 78
    assert shop.windows["churned_days"] == 216
    champions = prof[(prof["scheme"] == "rfm") & (prof["segment"] == "Champions")].iloc[0]
    assert json.loads(champions["profile"])["means"]["monetary_net"] == 290.0  # Ada alone
    cl = json.loads(prof[prof["scheme"] == "cluster"].iloc[0]["profile"])
    assert {"centroid", "model", "z", "means"} <= set(cl)
    assert [r["k"] for r in cl["model"]["k_curve"]] == list(range(2, 9))
    rfm = shop.df("SELECT * FROM rfm_scores WHERE run_id = 2 AND customer_id = 'c01'")
    assert rfm[["r_score", "f_score", "m_score", "fm_score"]].iloc[0].tolist() == [5, 5, 3, 4]


def test_two_runs_on_the_same_data_give_identical_labels(shop):
    segment_all(shop, 2, FIXTURE_AS_OF, CFG)
    segment_all(shop, 3, FIXTURE_AS_OF, CFG)
    diff = shop.scalar("""
        SELECT count(*) FROM segments a JOIN segments b USING (customer_id, scheme)
        WHERE a.run_id = 2 AND b.run_id = 3 AND a.segment <> b.segment""")
    assert diff == 0
    names = shop.sql("SELECT run_id, segment, name FROM segment_profiles WHERE scheme = 'cluster' ORDER BY 2, 1")
    assert [n for r, s, n in names if r == 2] == [n for r, s, n in names if r == 3]
    m = migration(shop, 2, 3, "cluster")
    assert (m.values.sum() - m.values.trace()) == 0  # nobody moved


def test_rerunning_a_run_replaces_its_rows(shop):
    segment_all(shop, 2, FIXTURE_AS_OF, CFG)
    segment_all(shop, 2, FIXTURE_AS_OF, CFG)
    assert shop.scalar("SELECT count(*) FROM segments WHERE run_id = 2") == 66


def test_migration_between_two_runs_by_hand(done):
    shop = done
    m = migration(shop, 1, 2, "lifecycle")
    # c03 signed up on 2024-06-01 (a prospect then) and ordered on 06-20: new by 07-01
    long = migration_long(shop, 1, 2, "lifecycle")
    got = {(a, b): n for a, b, n in long.itertuples(index=False)}
    assert got[("prospect", "new")] == 1
    # c09 (last order 2023-03-01) was churned on 06-01 and reactivated by 07-01
    assert got[("churned", "reactivated")] == 1
    assert m.values.sum() == 11
    assert m.loc["prospect"].sum() == 3  # c03, c10, c11 on 2024-06-01 (c11 signed up in April)


def test_segment_history_gives_sizes_per_run_with_as_of(done):
    shop = done
    h = segment_history(shop, "value_tier")
    assert set(h["run_id"]) == {1, 2}
    assert h.groupby("run_id")["n_customers"].sum().tolist() == [11, 11]
    assert h.groupby("run_id")["share"].sum().round(9).tolist() == [1.0, 1.0]
    row = h[(h["run_id"] == 2) & (h["segment"] == "high")].iloc[0]
    assert (row["n_customers"], str(row["as_of"].date())) == (2, "2024-07-01")


def test_history_of_an_unknown_scheme_says_what_exists(done):
    shop = done
    with pytest.raises(WorkspaceError, match="has: cluster, geo, interest, lifecycle, rfm, value_tier"):
        segment_history(shop, "zodiac")
    with pytest.raises(WorkspaceError, match="Run 9 has no 'rfm' segments"):
        migration(shop, 2, 9, "rfm")


def test_a_shop_of_two_customers_warns_and_does_not_crash(ws):
    ws.con.execute("INSERT INTO customers (customer_id, signed_up_at) VALUES ('a', '2024-01-01'), ('b', NULL)")
    ws.con.execute("INSERT INTO products (product_id, category) VALUES ('p', 'X')")
    ws.con.execute("INSERT INTO orders (order_id, customer_id, ordered_at, kind) VALUES "
                   "('o1', 'a', '2024-02-01', 'sale'), ('o2', 'b', '2024-03-01', 'sale')")
    ws.con.execute("INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price) VALUES "
                   "('o1', 1, 'p', 1, 10), ('o2', 1, 'p', 2, 10)")
    with pytest.warns(SegmentWarning) as rec:
        run = segment_all(ws, 1, "2024-04-01", CFG)
    text = " ".join(str(w.message) for w in rec)
    assert "only 2 customer" in text and "fallback" in text and "one cluster" in text
    assert len(run.segments) == 2 and not run.segments.isna().any().any()


def test_an_empty_shop_does_not_crash(ws):
    ws.con.execute("INSERT INTO customers (customer_id, signed_up_at) VALUES ('a', '2024-01-01')")
    with pytest.warns(SegmentWarning):
        run = segment_all(ws, 1, "2024-04-01", CFG)
    # interest, age_band, gender: skipped (no product, no birth date, no gender); geo: one customer is under
    # privacy.dp.k_min, so their place is grouped into "Other"
    assert run.segments.iloc[0].tolist() == ["a", "Prospect", "prospect", "Prospect", "cluster_1", "Other"]


def test_only_the_configured_schemes_are_computed(shop):
    cfg = load_config(overrides={"segments": {"schemes": ["rfm", "value_tier"]}})
    segment_all(shop, 2, FIXTURE_AS_OF, cfg)
    assert [r[0] for r in shop.sql("SELECT DISTINCT scheme FROM segments ORDER BY 1")] == ["rfm", "value_tier"]


def test_doctests_of_the_segment_package_pass():
    for mod in (shopseg.segment, shopseg.segment.lifecycle):
        res = doctest.testmod(mod)
        assert res.failed == 0 and res.attempted > 0, mod.__name__


def test_features_computed_by_an_earlier_stage_are_reused_not_rewritten(shop):
    from shopseg.features import customer_features

    f = customer_features(shop, FIXTURE_AS_OF)
    run = segment_all(shop, 2, FIXTURE_AS_OF, CFG, features=f)
    assert not shop.has_table("customer_features")
    assert run.segments.set_index("customer_id").loc["c09", "lifecycle"] == "reactivated"
