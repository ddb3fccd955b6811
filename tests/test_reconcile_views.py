"""The churn probability and the CLV stage's P(alive) agree (predict/_reconcile.py), and the default as_of is the
last sale's day (pipeline.default_as_of).  Tiny hand-made workspaces, expected values written here."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from shopseg import open_workspace
from shopseg.config import load_config
from shopseg.pipeline import as_of_note, default_as_of
from shopseg.predict._reconcile import pool, pool_frame, pool_live, reconcile_views, stored_p_alive, stored_views

AS_OF = datetime(2024, 6, 30, 23, 59, 59, 999999)


def _orders(ws, rows):
    ws.con.execute("INSERT INTO customers (customer_id) SELECT DISTINCT c FROM (VALUES " +
                   ", ".join(f"('{r[1]}')" for r in rows) + ") t(c)")
    ws.con.executemany("INSERT INTO orders (order_id, customer_id, ordered_at, kind) VALUES (?, ?, ?, ?)", rows)


def _views(ws, p_alive: list[float], churn: list[float], model: str, eph=(2.0, 2.0, 2.0)):
    """Run 1's clv and churn_scores for customers a, b, c (clv horizon 365 days, every next order 2024-08-01)."""
    ws.con.register("_v", pd.DataFrame({
        "customer_id": ["a", "b", "c"], "p_alive": p_alive, "expected_purchases_horizon": list(eph),
        "horizon_days": 365.0, "expected_next_order_at": pd.Timestamp("2024-08-01"), "model": model,
        "probability": churn, "tier": "high", "clv": 10.0, "expected_purchases_90d": 0.5,
        "expected_order_value": 20.0}))
    ws.write_output("clv", 1, "SELECT customer_id, p_alive, expected_purchases_horizon, horizon_days, "
                              "expected_next_order_at, model, clv, expected_purchases_90d, expected_order_value "
                              "FROM _v")
    ws.write_output("churn_scores", 1, "SELECT customer_id, probability, tier FROM _v")
    ws.con.unregister("_v")


@pytest.fixture
def shop(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        # first sale 2023-06-01: 395 days of history, so the CLV window is clv.backtest_days = 90 days
        _orders(ws, [("o1", "a", datetime(2023, 6, 1), "sale"), ("o2", "b", datetime(2024, 6, 30, 9), "sale"),
                     ("o3", "c", datetime(2024, 7, 20), "adjustment"), ("o4", "a", datetime(2024, 8, 2), "return")])
        yield ws


CUTS = {"method": "probability", "high": 0.7, "mid": 0.4}


def test_pool_sets_a_contradicting_pair_to_its_mean_and_leaves_the_rest():
    p, q = pool([0.9, 0.2, 0.5, 0.0, 0.8], [0.4, 0.3, 0.5, 1.0, 0.6])
    # 0.9 > 1 - 0.4: mean 0.75; 0.2 <= 0.7 and 0.5 <= 0.5 and 0.0 <= 0.0 kept; 0.8 > 0.4: mean 0.6
    assert p.tolist() == pytest.approx([0.75, 0.2, 0.5, 0.0, 0.6])
    assert q.tolist() == pytest.approx([0.25, 0.3, 0.5, 1.0, 0.4])
    assert (p <= 1 - q + 1e-12).all()


def test_a_window_p_alive_above_one_minus_churn_is_pooled_with_churn(shop):
    cfg = load_config()
    # a: 0.9 > 1 - 0.4 -> both 0.75 (churn 0.25, tier low); b: 0.2 <= 0.7, kept (tier stays);
    # c: 0.55 > 1 - 0.6 = 0.4 -> both 0.475 (churn 0.525, tier mid), P(alive) below min_p_alive 0.5
    _views(shop, [0.9, 0.2, 0.55], [0.4, 0.3, 0.6], "p_alive=repeat; purchases=repeat; clv=baseline")
    notes = reconcile_views(shop, 1, AS_OF, cfg, horizon_days=110, tier_cuts=CUTS)
    got = shop.df("SELECT customer_id, p_alive, expected_next_order_at FROM clv ORDER BY customer_id")
    assert got["p_alive"].tolist() == pytest.approx([0.75, 0.2, 0.475])
    churn = shop.df("SELECT probability, tier FROM churn_scores ORDER BY customer_id")
    assert churn["probability"].tolist() == pytest.approx([0.25, 0.3, 0.525])
    assert churn["tier"].tolist() == ["low", "high", "mid"]
    assert notes["p_alive_pooled"] == 2 and notes["p_alive_days"] == 90 and notes["tiers"] == {"low": 1, "high": 1,
                                                                                               "mid": 1}
    assert notes["views"] == ("P(alive) (repeat: a sale order in the next 90 days) is at most 1 - churn (one in "
                              "the next 110 days): both set to their mean for 2 of 3 buyers (they differed by up to "
                              "0.30; docs/churn.md)")
    # a's next order from the repeat model's rate while alive: 2 purchases / (0.75 x 365 days) a day, median wait
    # ln 2 / rate = 0.75 x 365 x ln 2 / 2 = 94.9 days after as_of; b keeps its date; c is below min_p_alive: none
    wait = (got["expected_next_order_at"][0] - pd.Timestamp(AS_OF)) / pd.Timedelta(days=1)
    assert wait == pytest.approx(0.75 * 365 * np.log(2) / 2, abs=1e-6)
    assert got["expected_next_order_at"][1] == pd.Timestamp("2024-08-01")
    assert pd.isna(got["expected_next_order_at"][2])
    # the pooled customers' own P(alive) is stored for the live path, which pools a re-score the same way
    own = stored_p_alive(shop, 1)
    assert own == {"a": 0.9, "c": 0.55}
    live = pool_live(pd.DataFrame({"customer_id": ["a", "b", "c"], "probability": [0.4, 0.3, 0.6],
                                   "tier": ["mid", "low", "mid"]}), {}, stored_views(shop, 1), CUTS, AS_OF)
    assert live["probability"].tolist() == pytest.approx([0.25, 0.3, 0.525])
    assert live["tier"].tolist() == ["low", "low", "mid"]
    again = reconcile_views(shop, 1, AS_OF, cfg, horizon_days=110, tier_cuts=CUTS)  # nothing left to pool
    assert again["p_alive_pooled"] == 0 and stored_p_alive(shop, 1) == own


def test_a_re_score_pools_its_fresh_pairs_as_the_batch_pools_them(shop):
    # run 1 pooled nobody (every P(alive) <= 1 - churn) but its views nest: a re-score pools its own fresh pairs
    _views(shop, [0.5, 0.2, 0.3], [0.4, 0.3, 0.6], "p_alive=repeat; purchases=repeat; clv=baseline")
    reconcile_views(shop, 1, AS_OF, load_config(), horizon_days=110, tier_cuts=CUTS)
    views = stored_views(shop, 1)
    assert views["p_alive"] == {} and views["next_from_p_alive"] is True and views["min_p_alive"] == 0.5
    # a re-scored at a later date: fresh P(alive) 0.9 (CLV answer) against fresh churn 0.4 -> both 0.75 / 0.25;
    # b: fresh 0.6 against 0.3 -> kept; c has no CLV answer and was not pooled by run 1 -> kept
    when = datetime(2024, 7, 10, 23, 59, 59, 999999)
    answers = {"a": {"p_alive": 0.9, "expected_next_order_at": "2024-08-10T00:00:00"},
               "b": {"p_alive": 0.6, "expected_next_order_at": "2024-08-01T00:00:00"}}
    got = pool_live(pd.DataFrame({"customer_id": ["a", "b", "c"], "probability": [0.4, 0.3, 0.6],
                                  "tier": ["mid", "low", "mid"]}), answers, views, CUTS, when)
    assert got["probability"].tolist() == pytest.approx([0.25, 0.3, 0.6])
    assert got["tier"].tolist() == ["low", "low", "mid"]
    assert answers["a"]["p_alive"] == pytest.approx(0.75) and answers["b"]["p_alive"] == 0.6
    # the wait to a's next order (30 days: the end of 2024-07-10 to 2024-08-10) scaled by 0.75 / 0.9: 25 days
    wait = (pd.Timestamp(answers["a"]["expected_next_order_at"]) - pd.Timestamp(when)) / pd.Timedelta(days=1)
    assert wait == pytest.approx(30 * 0.75 / 0.9, abs=1e-6)
    # c has no fresh CLV answer: the run's shown row (P(alive) 0.55, above 1 - 0.6) is its own; pooled to 0.475
    # (below min_p_alive: no next order), and c gets a CLV answer from the row so the view shows the pooled pair
    row = {"clv": 12.0, "p_alive": 0.55, "expected_purchases_90d": 0.4, "expected_order_value": 30.0,
           "expected_next_order_at": "2024-08-01T00:00:00"}
    again = pool_live(pd.DataFrame({"customer_id": ["c"], "probability": [0.6], "tier": ["mid"]}), answers, views,
                      CUTS, when, shown={"c": row})
    assert again["probability"].tolist() == pytest.approx([0.525]) and again["tier"].tolist() == ["mid"]
    assert answers["c"] == {**row, "p_alive": pytest.approx(0.475), "expected_next_order_at": None}
    # an incremental run's clv rows: the pooled P(alive) and the batch's date, ln 2 x 0.75 x 365 / 2 days on
    frame = pd.DataFrame({"customer_id": ["a", "b"], "p_alive": [0.9, 0.6], "expected_purchases_horizon": [2.0, 2.0],
                          "horizon_days": 365.0, "expected_next_order_at": pd.Timestamp("2024-08-01")})
    rows = pool_frame(frame, answers, views, when)
    assert rows["p_alive"].tolist() == pytest.approx([0.75, 0.6])
    days = (rows["expected_next_order_at"] - pd.Timestamp(when)) / pd.Timedelta(days=1)
    assert days[0] == pytest.approx(0.75 * 365 * np.log(2) / 2, abs=1e-6)
    assert rows["expected_next_order_at"][1] == pd.Timestamp("2024-08-01")


@pytest.mark.parametrize("model, horizon, setting, says", [
    ("p_alive=bgnbd; purchases=bgnbd; clv=bgnbd+gammagamma", 110, True, "P(alive) from bgnbd is the probability"),
    ("p_alive=repeat; purchases=repeat; clv=baseline", 60, True, "only a window of 7 to 60 days nests"),
    ("p_alive=repeat; purchases=repeat; clv=baseline", 110, False, None),
])
def test_no_cap_where_the_views_do_not_nest_or_when_turned_off(shop, model, horizon, setting, says):
    cfg = load_config(overrides={"churn": {"reconcile": setting}})
    _views(shop, [0.9, 0.2, 0.55], [0.4, 0.3, 0.6], model)
    notes = reconcile_views(shop, 1, AS_OF, cfg, horizon_days=horizon, tier_cuts=CUTS)
    assert shop.df("SELECT p_alive FROM clv ORDER BY customer_id")["p_alive"].tolist() == [0.9, 0.2, 0.55]
    assert shop.df("SELECT probability FROM churn_scores ORDER BY customer_id")["probability"].tolist() == \
        [0.4, 0.3, 0.6]
    assert stored_p_alive(shop, 1) is None
    assert (says or "") in (notes.get("views") or "") and bool(notes) == (says is not None)


def test_another_runs_clv_rows_are_never_rewritten(shop):
    _views(shop, [0.9, 0.2, 0.55], [0.4, 0.3, 0.6], "p_alive=repeat; purchases=repeat; clv=baseline")
    notes = reconcile_views(shop, 2, AS_OF, load_config(), horizon_days=110, tier_cuts=CUTS)
    assert notes == {"views": "P(alive) not checked against churn: the clv stage did not run in this run"}
    assert shop.df("SELECT p_alive FROM clv ORDER BY customer_id")["p_alive"].tolist() == [0.9, 0.2, 0.55]


def test_the_default_as_of_is_the_last_sale_day_and_later_rows_are_named(shop):
    # the last sale is on 2024-06-30; an adjustment (2024-07-20) and a return (2024-08-02) come after it
    when = default_as_of(shop)
    assert when == AS_OF
    assert as_of_note(shop, when) == ("as of the last sale order's day; 2 later order(s) (1 adjustment, 1 return; "
                                      "the last on 2024-08-02) are not read (give --as-of to move the date)")
    assert as_of_note(shop, datetime(2024, 8, 2, 23, 59, 59)) is None


def test_without_any_sale_the_default_as_of_is_the_last_order(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        _orders(ws, [("o1", "a", datetime(2024, 1, 5, 10), "return"), ("o2", "a", datetime(2024, 2, 1), "adjustment")])
        assert default_as_of(ws) == datetime(2024, 2, 1, 23, 59, 59, 999999)


def test_the_customer_view_states_each_views_horizon(shop):
    import json

    from shopseg.views.customer import customer_view

    _views(shop, [0.9, 0.2, 0.55], [0.4, 0.3, 0.6], "p_alive=repeat; purchases=repeat; clv=baseline")
    notes = reconcile_views(shop, 1, AS_OF, load_config(), horizon_days=110, tier_cuts=CUTS)
    shop.con.execute("INSERT INTO runs (run_id, as_of, stages, status) VALUES (1, ?, ?, 'done')",
                     [AS_OF, json.dumps({"churn": {"status": "done", "horizon_days": 110, **notes}})])
    # a: P(alive) 0.9 and churn 0.4 pooled to 0.75 and 0.25; one story, each number with its horizon
    assert customer_view(shop.con, "a")["status"] == (
        "Unknown: churn risk 25% (low; no order in the next 110 days); P(an order in the next 90 days) 0.75 "
        "(repeat).")
    # the CLV block carries the window too, and the CLI's card names it (not a bare "P(alive)")
    assert customer_view(shop.con, "a")["clv"]["p_alive_days"] == 90
    from typer.testing import CliRunner

    from shopseg.cli import app

    path = shop.path
    shop.close()
    r = CliRunner().invoke(app, ["-w", str(path), "customer", "a"])
    assert r.exit_code == 0, r.output
    assert "  P(an order in the next 90 days) 0.75 (repeat)" in r.output.splitlines()  # with its model


def test_a_transaction_models_p_alive_has_no_window(shop):
    import json

    from shopseg.views.customer import customer_view

    _views(shop, [0.9, 0.2, 0.55], [0.4, 0.3, 0.6], "p_alive=bgnbd; purchases=bgnbd; clv=bgnbd")
    shop.con.execute("INSERT INTO runs (run_id, as_of, stages, status) VALUES (1, ?, ?, 'done')",
                     [AS_OF, json.dumps({"churn": {"status": "done", "horizon_days": 110, "p_alive_days": 90}})])
    v = customer_view(shop.con, "a")
    assert v["clv"]["p_alive_days"] is None and v["clv"]["p_alive"] == 0.9
    assert "P(alive) 0.90 (bgnbd)" in v["status"]


def test_run_says_which_later_orders_the_default_date_leaves_out_even_when_quiet(shop):
    from typer.testing import CliRunner

    from shopseg.cli import app

    path = shop.path
    shop.close()
    r = CliRunner().invoke(app, ["-q", "-w", str(path), "run", "--stage", "clv", "--no-report"])
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines() == [
        "Run 1 as of 2024-06-30: done",
        "  (as of the last sale order's day; 2 later order(s) (1 adjustment, 1 return; the last on 2024-08-02) are "
        "not read (give --as-of to move the date))"]
    r = CliRunner().invoke(app, ["-q", "-w", str(path), "run", "--stage", "clv", "--no-report", "--as-of",
                                 "2024-08-02"])
    assert r.exit_code == 0 and r.output.strip().splitlines() == ["Run 2 as of 2024-08-02: done"]


def test_the_clv_row_a_churn_re_score_pools_with_comes_from_the_workspace_not_the_online_store(shop):
    from shopseg.predict._score import _shown_clv

    _views(shop, [0.9, 0.2, 0.55], [0.4, 0.3, 0.6], "p_alive=repeat; purchases=repeat; clv=baseline")

    class InputsOnly:  # the service's online store: the input tables, no clv
        def has_table(self, name):
            return name in ("orders", "order_lines")

    assert _shown_clv(InputsOnly(), 1, ["a"]) == {}
    assert _shown_clv(shop, None, ["a"]) == {} and _shown_clv(shop, 1, []) == {}
    got = _shown_clv(shop, 1, ["a", "c", "nobody"])
    assert sorted(got) == ["a", "c"]
    assert got["a"] == {"clv": 10.0, "p_alive": 0.9, "expected_purchases_90d": 0.5, "expected_order_value": 20.0,
                        "expected_next_order_at": "2024-08-01T00:00:00", "expected_purchases_horizon": 2.0}


# -- the recency floor and the pooling (docs/churn.md, "The floor and the pooling") ------------------------------

FLOOR = {"max_recency_days": 150.0, "probability": 0.55}
FLOOR_SAYS = ("no order for {} days, longer than any buyer the model learned from (150 days); the shop's churn rate "
              "at that silence: 55%")


def test_pool_keeps_each_buyers_floor_and_moves_p_alive_alone_where_the_mean_would_cross_it():
    # 0.8 / 0.55 at the floor 0.55: the mean would put churn at 0.375; (1 - 0.55, 0.55) instead. 0.7 / 0.65 above
    # the floor: the mean 0.475 is below it, so the same. 0.5 / 0.7: the mean 0.4 leaves churn 0.6 >= 0.55: pooled
    # as before. 0.9 / 0.4 with no floor (0 or NaN): pooled. 0.3 / 0.55: no contradiction, kept.
    p, q = pool([0.8, 0.7, 0.5, 0.9, 0.9, 0.3], [0.55, 0.65, 0.7, 0.4, 0.4, 0.55],
                [0.55, 0.55, 0.55, 0.0, np.nan, 0.55])
    assert p.tolist() == pytest.approx([0.45, 0.45, 0.4, 0.75, 0.75, 0.3])
    assert q.tolist() == pytest.approx([0.55, 0.55, 0.6, 0.25, 0.25, 0.55])
    assert (p <= 1 - q + 1e-12).all()
    # without the floor the first would end at churn 0.375: below the floor that raised it
    assert pool([0.8], [0.55])[1].tolist() == pytest.approx([0.375])


def _scored(ws, p_alive, churn, reasons):
    """Run 1's clv and churn_scores (with reasons) for customers a, b, c, as _views."""
    _views(ws, p_alive, churn, "p_alive=repeat; purchases=repeat; clv=baseline")
    ws.con.execute("DROP TABLE churn_scores")
    ws.con.register("_s", pd.DataFrame({"customer_id": ["a", "b", "c"], "probability": churn,
                                        "tier": ["mid", "mid", "mid"], "reason_1": [r[0] for r in reasons],
                                        "reason_2": [r[1] for r in reasons], "reason_3": [r[2] for r in reasons],
                                        "model": "logistic"}))
    ws.write_output("churn_scores", 1, "SELECT * FROM _s")
    ws.con.unregister("_s")


def test_a_buyer_past_the_churn_training_range_ends_at_the_floor_not_below_it_batch_and_live(shop):
    """The 200-customer cut's 12383 by hand: silent past the range (150 days), raised to the floor 0.55, P(alive)
    0.8. Pooled to their mean it ended at churn 0.375, tier low, with the floor's sentence as its first reason:
    two views that contradict each other and a reason for a number it no longer had. Now: churn 0.55 (mid),
    P(alive) 0.45. c, past the range too, scored 0.65 by the model, P(alive) 0.7: the mean 0.475 would cross the
    floor, so it ends there too and the floor's sentence leads its reasons. a, inside the range: pooled as before."""
    cfg = load_config()
    b_why = (FLOOR_SAYS.format(200), "b's model reason 1", "b's model reason 2")
    _scored(shop, [0.9, 0.8, 0.7], [0.4, 0.55, 0.65],
            [("a1", "a2", "a3"), b_why, ("c's model reason 1", "c's model reason 2", "c's model reason 3")])
    feats = pd.DataFrame({"customer_id": ["a", "b", "c"], "recency_days": [10, 200, 300]})
    notes = reconcile_views(shop, 1, AS_OF, cfg, horizon_days=110, tier_cuts=CUTS, floor=FLOOR, features=feats)
    got = shop.df("SELECT s.customer_id, s.probability, s.tier, s.reason_1, s.reason_2, s.reason_3, c.p_alive, "
                  "c.expected_next_order_at FROM churn_scores s JOIN clv c USING (run_id, customer_id) "
                  "ORDER BY 1")
    assert got["probability"].tolist() == pytest.approx([0.25, 0.55, 0.55])
    assert got["p_alive"].tolist() == pytest.approx([0.75, 0.45, 0.45])
    assert got["tier"].tolist() == ["low", "mid", "mid"]
    assert got[["reason_1", "reason_2", "reason_3"]].values.tolist() == [
        ["a1", "a2", "a3"], list(b_why), [FLOOR_SAYS.format(300), "c's model reason 1", "c's model reason 2"]]
    assert got["expected_next_order_at"].isna().tolist() == [False, True, True]  # 0.45 < clv.min_p_alive 0.5
    assert notes["p_alive_pooled"] == 3 and notes["p_alive_pooled_at_floor"] == 2
    assert notes["views"] == ("P(alive) (repeat: a sale order in the next 90 days) is at most 1 - churn (one in "
                              "the next 110 days): both set to their mean for 3 of 3 buyers (they differed by up to "
                              "0.35; 2 of them silent longer than every churn training row kept at the recency floor "
                              "0.550, P(alive) lowered to 1 - floor; docs/churn.md)")
    views = stored_views(shop, 1)
    assert views["recency_floor"] == FLOOR and views["p_alive"] == {"a": 0.9, "b": 0.8, "c": 0.7}
    # the live re-score at the run's date (score_customers gives the model's scores and recency_days): the batch's
    # numbers, tiers and reasons, and the CLV answers of the run's rows get the pooled P(alive)
    scores = pd.DataFrame({"customer_id": ["a", "b", "c"], "probability": [0.4, 0.55, 0.65], "tier": "mid",
                           "reason_1": ["a1", b_why[0], "c's model reason 1"], "reason_2": ["a2", b_why[1],
                                                                                    "c's model reason 2"],
                           "reason_3": ["a3", b_why[2], "c's model reason 3"],
                           "reason_feature_1": ["frequency", "recency_days", "tenure_days"],
                           "reason_feature_2": ["tenure_days", "frequency", "spend_recent"],
                           "reason_feature_3": ["spend_recent", "tenure_days", "frequency"],
                           "model": "logistic", "recency_days": [10.0, 200.0, 300.0]})
    rows = {c: {"clv": 1.0, "p_alive": p, "expected_purchases_90d": 0.5, "expected_order_value": 20.0,
                "expected_next_order_at": "2024-08-01T00:00:00"} for c, p in zip("abc", (0.9, 0.8, 0.7))}
    answers: dict = {}
    live = pool_live(scores, answers, views, CUTS, AS_OF, shown=rows)
    assert live["probability"].tolist() == pytest.approx(got["probability"].tolist(), abs=1e-15)
    assert live["tier"].tolist() == got["tier"].tolist()
    assert live[["reason_1", "reason_2", "reason_3"]].values.tolist() == \
        got[["reason_1", "reason_2", "reason_3"]].values.tolist()
    assert live["reason_feature_1"].tolist() == ["frequency", "recency_days", "recency_days"]
    assert live["reason_feature_2"].tolist() == ["tenure_days", "frequency", "tenure_days"]
    assert {c: a["p_alive"] for c, a in answers.items()} == pytest.approx({"a": 0.75, "b": 0.45, "c": 0.45})
    assert answers["b"]["expected_next_order_at"] is None and answers["c"]["expected_next_order_at"] is None


def test_the_floor_needs_the_pooled_buyers_silence_and_computes_it_without_the_runs_features(shop):
    """The churn stage alone (no segments frame): the pooled buyers' days since their last order are computed as
    the features compute them. a's last sale is 2023-06-01: 395 days before as_of, past the range; b bought on
    the day: inside it."""
    _scored(shop, [0.9, 0.8, 0.2], [0.6, 0.4, 0.3], [("a1", "a2", "a3"), ("b1", "b2", "b3"), ("c1", "c2", "c3")])
    notes = reconcile_views(shop, 1, AS_OF, load_config(), horizon_days=110, tier_cuts=CUTS, floor=FLOOR)
    got = shop.df("SELECT s.probability, s.reason_1, c.p_alive FROM churn_scores s JOIN clv c "
                  "USING (run_id, customer_id) ORDER BY customer_id")
    # a: 0.9 / 0.6 -> (0.45, 0.55), not the mean 0.35, its reason the floor's; b: 0.8 / 0.4 -> their mean (0.7, 0.3); c: kept
    assert got["probability"].tolist() == pytest.approx([0.55, 0.3, 0.3])
    assert got["p_alive"].tolist() == pytest.approx([0.45, 0.7, 0.2])
    assert got["reason_1"].tolist() == [FLOOR_SAYS.format(395), "b1", "c1"]
    assert notes["p_alive_pooled_at_floor"] == 1
