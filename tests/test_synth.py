"""The generated demo shop: determinism, integrity, and that the planted truth is visible."""

from __future__ import annotations

import json

import numpy as np
import pytest

import shopseg.synth as synth_module
from shopseg.errors import ConfigError, WorkspaceError
from shopseg.synth import PERSONAS, PLANTED_RULES, synthesize
from shopseg.workspace import Workspace, default_memory_limit

N = 1500
SEED = 3
AS_OF = "2024-06-30"
KEYS = {
    "customers": "customer_id", "products": "product_id", "orders": "order_id",
    "order_lines": "order_id, line_no", "events": "event_id", "reviews": "review_id",
    "ground_truth": "customer_id", "ground_truth_reviews": "review_id", "ground_truth_rules": "rule_id",
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    ws = Workspace.open(tmp_path_factory.mktemp("synth") / "ws")
    summary = synthesize(ws, customers=N, seed=SEED, as_of=AS_OF)
    yield ws, summary
    ws.close()


def table_hashes(ws) -> dict[str, str]:
    return {t: ws.scalar(f"SELECT md5(string_agg(CAST(x AS VARCHAR), '|' ORDER BY {k})) FROM {t} x")
            for t, k in KEYS.items()}


def test_same_seed_gives_identical_tables_and_another_seed_differs(tmp_path):
    hashes = []
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        with Workspace.open(tmp_path / name) as ws:
            synthesize(ws, customers=400, seed=seed)
            hashes.append(table_hashes(ws))
    assert hashes[0] == hashes[1]
    differing = [t for t in KEYS if hashes[0][t] != hashes[2][t]]
    assert set(differing) >= {"customers", "orders", "order_lines", "events", "reviews", "ground_truth"}


def test_every_reference_points_at_an_existing_row(shop):
    ws, _ = shop
    orphans = ws.sql("""
        SELECT
          (SELECT count(*) FROM order_lines l ANTI JOIN orders o USING (order_id)),
          (SELECT count(*) FROM order_lines l ANTI JOIN products p USING (product_id)),
          (SELECT count(*) FROM orders o ANTI JOIN customers c USING (customer_id)),
          (SELECT count(*) FROM events e ANTI JOIN customers c USING (customer_id) WHERE e.customer_id IS NOT NULL),
          (SELECT count(*) FROM events e ANTI JOIN products p USING (product_id) WHERE e.product_id IS NOT NULL),
          (SELECT count(*) FROM reviews r ANTI JOIN orders o USING (order_id)),
          (SELECT count(*) FROM reviews r ANTI JOIN products p USING (product_id)),
          (SELECT count(*) FROM ground_truth g ANTI JOIN customers c USING (customer_id)),
          (SELECT count(*) FROM orders o ANTI JOIN order_lines l USING (order_id))
    """)[0]
    assert orphans == (0,) * 9
    dup_keys = ws.sql("SELECT (SELECT count(*) - count(DISTINCT order_id) FROM orders), "
                      "(SELECT count(*) - count(DISTINCT event_id) FROM events), "
                      "(SELECT count(*) - count(DISTINCT (order_id, line_no)) FROM order_lines)")[0]
    assert dup_keys == (0, 0, 0)


def test_row_counts_fall_in_the_documented_ranges(shop):
    ws, summary = shop
    counts = ws.summary()
    assert counts["customers"] == N
    assert 400 <= counts["products"] <= 2000
    assert 5 * N <= counts["orders"] <= 15 * N
    assert 2.0 <= counts["order_lines"] / counts["orders"] <= 4.5
    assert 20 * N <= counts["events"] <= 60 * N
    assert 0.5 * N <= counts["reviews"] <= 2.5 * N
    assert {k: summary[k] for k in counts} == counts
    assert ws.scalar("SELECT count(*) FROM events WHERE customer_id IS NULL") > 0.03 * counts["events"]
    assert ws.scalar("SELECT count(*) FROM products WHERE NOT is_merchandise") == 3
    assert ws.scalar("SELECT count(*) FROM products WHERE NOT is_available") > 0


def test_persona_shares_match_the_documented_shares(shop):
    ws, _ = shop
    got = dict(ws.sql("SELECT persona, count(*) / ? FROM ground_truth GROUP BY 1", [N]))
    for p in PERSONAS:
        assert got[p.name] == pytest.approx(p.share, abs=1 / N)


def test_nothing_in_the_canonical_tables_is_dated_on_or_after_as_of(shop):
    ws, _ = shop
    latest = ws.sql("""SELECT (SELECT max(ordered_at) FROM orders), (SELECT max(occurred_at) FROM events),
                              (SELECT max(reviewed_at) FROM reviews), (SELECT max(signed_up_at) FROM customers)""")[0]
    assert all(str(t) < AS_OF for t in latest), latest


def test_planted_pairs_have_a_lift_far_above_one(shop):
    ws, _ = shop
    rows = ws.sql("""
        WITH b AS (SELECT DISTINCT l.order_id, l.product_id FROM order_lines l
                   JOIN orders o USING (order_id) JOIN products p USING (product_id)
                   WHERE o.kind = 'sale' AND p.is_merchandise),
        n AS (SELECT count(DISTINCT order_id)::DOUBLE AS n FROM b),
        pairs AS (SELECT rule_id, antecedent_product_id AS a, unnest(string_split(consequent_product_ids, ',')) AS c
                  FROM ground_truth_rules)
        SELECT rule_id, c,
               (SELECT count(*) FROM b WHERE product_id = a) AS n_a,
               (SELECT count(*) FROM b WHERE product_id = c) AS n_c,
               (SELECT count(*) FROM b x JOIN b y USING (order_id) WHERE x.product_id = a AND y.product_id = c) AS n_ac,
               n.n
        FROM pairs, n ORDER BY rule_id, c""")
    assert len(rows) == sum(len(r.consequents) for r in PLANTED_RULES)
    for rule_id, _, n_a, n_c, n_ac, n in rows:
        conf = n_ac / n_a
        lift = conf / (n_c / n)
        planted = PLANTED_RULES[rule_id - 1].probability
        assert n_a >= 30
        assert lift > 8, (rule_id, lift)
        assert planted - 0.15 < conf < planted + 0.25, (rule_id, conf, planted)
    stored = ws.sql("SELECT min(lift), min(support) FROM ground_truth_rules")[0]
    assert stored[0] > 8 and stored[1] > 0.003


def test_review_sentiment_follows_the_planted_satisfaction(shop):
    ws, _ = shop
    corr = ws.scalar("SELECT corr(g.planted_sentiment, r.rating) FROM reviews r JOIN ground_truth_reviews g "
                     "USING (review_id)")
    assert corr > 0.8
    by_label = dict(ws.sql("SELECT planted_label, avg(rating) FROM reviews JOIN ground_truth_reviews "
                           "USING (review_id) GROUP BY 1"))
    assert by_label["negative"] < 2.2 < by_label["neutral"] < 3.8 < by_label["positive"]
    lang = dict(ws.sql("SELECT language, count(*) FROM reviews GROUP BY 1"))
    assert 0.18 < lang["zh"] / (lang["zh"] + lang["en"]) < 0.32
    # returned or late orders are reviewed worse
    assert ws.scalar("""SELECT avg(planted_sentiment) FILTER (order_returned OR delivery_late)
                              < avg(planted_sentiment) FILTER (NOT order_returned AND NOT delivery_late) - 0.5
                        FROM ground_truth_reviews""")


def test_a_lexicon_scorer_recovers_the_english_review_sentiment(shop):
    vader = pytest.importorskip("vaderSentiment.vaderSentiment")
    ws, _ = shop
    rows = ws.sql("SELECT r.text, g.planted_label FROM reviews r JOIN ground_truth_reviews g USING (review_id) "
                  "WHERE r.language = 'en' AND g.planted_label <> 'neutral'")
    analyzer = vader.SentimentIntensityAnalyzer()
    hits = [(analyzer.polarity_scores(t)["compound"] > 0) == (lab == "positive") for t, lab in rows]
    assert len(hits) > 200
    assert np.mean(hits) > 0.9


def test_reviews_mention_catalogue_brands_sometimes_misspelt(shop):
    ws, _ = shop
    exact, typo, n = ws.sql("""
        SELECT count(*) FILTER (NOT brand_misspelt AND contains(r.text, g.mentioned_brand)),
               count(*) FILTER (brand_misspelt AND contains(r.text, g.brand_spelling)
                                AND NOT contains(r.text, g.mentioned_brand)),
               count(*)
        FROM reviews r JOIN ground_truth_reviews g USING (review_id)""")[0]
    assert exact + typo == n
    assert 0.03 < typo / n < 0.2
    assert ws.scalar("SELECT count(*) FROM ground_truth_reviews g ANTI JOIN products p "
                     "ON p.brand = g.mentioned_brand") == 0


def test_returns_give_back_lines_of_their_sale_order(shop):
    ws, _ = shop
    bad = ws.sql("""
        SELECT count(*) FROM orders r
        LEFT JOIN orders s ON s.order_id = replace(r.order_id, '-R', '')
        WHERE r.kind = 'return' AND (s.order_id IS NULL OR s.customer_id <> r.customer_id
                                     OR s.ordered_at >= r.ordered_at)""")[0][0]
    assert bad == 0
    # a return's lines are renumbered from 1, so match them by product on the sale order
    unmatched = ws.scalar("""
        SELECT count(*) FROM order_lines rl JOIN orders r USING (order_id)
        WHERE r.kind = 'return' AND NOT EXISTS (
            SELECT 1 FROM order_lines sl WHERE sl.order_id = replace(rl.order_id, '-R', '')
              AND sl.product_id = rl.product_id AND sl.quantity >= rl.quantity)""")
    assert unmatched == 0
    rates = dict(ws.sql("""
        SELECT g.persona, count(*) FILTER (o.kind = 'return') / count(*) FILTER (o.kind = 'sale')
        FROM orders o JOIN ground_truth g USING (customer_id) GROUP BY 1"""))
    assert rates["churned"] > 2 * rates["regular"]
    assert rates["bargain_hunter"] > rates["vip"]


def test_ground_truth_future_is_consistent_with_bgnbd(shop):
    ws, _ = shop
    row = ws.sql("""
        SELECT count(*) FILTER (churned_in_horizon <> (future_orders = 0)),
               count(*) FILTER (NOT alive_at_as_of AND future_orders > 0),
               count(*) FILTER (future_orders = 0 AND future_revenue <> 0),
               sum(future_orders), sum(expected_future_orders)
        FROM ground_truth""")[0]
    assert row[:3] == (0, 0, 0)
    assert row[3] == pytest.approx(row[4], rel=0.1)
    # new customers ordered first in the last 60 days; dormant ones last ordered 100-300 days ago
    first_new = ws.scalar(f"""
        SELECT max(date_diff('day', o.first_at, DATE '{AS_OF}'))
        FROM ground_truth g JOIN (SELECT customer_id, min(ordered_at) AS first_at FROM orders
                                  WHERE kind = 'sale' GROUP BY 1) o USING (customer_id)
        WHERE g.persona = 'new'""")
    assert first_new <= 60
    dormant = ws.sql(f"""
        SELECT min(r), max(r) FROM (SELECT date_diff('day', max(o.ordered_at), DATE '{AS_OF}') AS r
        FROM orders o JOIN ground_truth g USING (customer_id) WHERE g.persona = 'dormant' AND o.kind = 'sale'
        GROUP BY o.customer_id)""")[0]
    assert 100 <= dormant[0] and dormant[1] <= 300


def test_personas_are_separable_from_behavioural_features(shop):
    """A cross-validated classifier recovers the persona from RFM, browsing and discount features."""
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.model_selection import cross_val_predict
    from sklearn.preprocessing import StandardScaler

    ws, _ = shop
    df = ws.df(FEATURES_SQL, [AS_OF, AS_OF])
    X = StandardScaler().fit_transform(df.drop(columns=["customer_id", "persona"]).to_numpy(float))
    pred = cross_val_predict(QuadraticDiscriminantAnalysis(reg_param=0.05), X, df["persona"], cv=3)
    assert (pred == df["persona"]).mean() > 0.9


def test_an_unsupervised_clustering_recovers_most_of_the_personas(shop):
    """Ward clustering of the standardised features, k = 8, finds the personas (ARI ~0.8)."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    ws, _ = shop
    df = ws.df(FEATURES_SQL, [AS_OF, AS_OF])
    X = StandardScaler().fit_transform(df.drop(columns=["customer_id", "persona"]).to_numpy(float))
    labels = AgglomerativeClustering(n_clusters=len(PERSONAS), linkage="ward").fit_predict(X)
    assert adjusted_rand_score(df["persona"], labels) > 0.7


def test_synth_refuses_a_workspace_with_data_unless_replace(tmp_path):
    with Workspace.open(tmp_path / "ws") as ws:
        first = synthesize(ws, customers=200, seed=1)
        with pytest.raises(WorkspaceError, match="already holds data") as err:
            synthesize(ws, customers=200, seed=2)
        assert "--replace" in err.value.hint
        assert ws.count("customers") == 200
        second = synthesize(ws, customers=300, seed=2, replace=True)
        assert ws.count("customers") == 300
        assert second["ingest_id"] == first["ingest_id"] + 1
        assert ws.scalar("SELECT count(DISTINCT ingest_id) FROM orders") == 1
        assert ws.count("ground_truth") == 300


def test_ingest_log_reconciles_with_the_rows_written(shop):
    ws, summary = shop
    (ingest_id, source, preset, n_in, n_acc, n_q, n_dup, rows_added, info) = ws.sql(
        "SELECT ingest_id, source, preset, n_input, n_accepted, n_quarantined, n_duplicate, rows_added, summary "
        "FROM ingest_log")[0]
    assert (source, preset, n_q, n_dup) == ("synth", None, 0, 0)
    assert n_in == n_acc + n_q + n_dup
    added = json.loads(rows_added)
    assert added == ws.summary()
    assert n_acc == sum(added.values())
    assert json.loads(info)["seed"] == SEED and json.loads(info)["customers"] == N
    for t in added:
        assert ws.scalar(f"SELECT count(*) FROM {t} WHERE ingest_id IS DISTINCT FROM ?", [ingest_id]) == 0


@pytest.mark.parametrize("kwargs", [
    {"customers": 0}, {"customers": 2.5}, {"seed": -1}, {"history_days": 100}, {"horizon_days": 0},
    {"as_of": "yesterday"},
])
def test_bad_parameters_raise_config_errors(tmp_path, kwargs):
    with Workspace.open(tmp_path / "ws") as ws:
        with pytest.raises(ConfigError, match="synthesize must be"):
            synthesize(ws, **kwargs)


FEATURES_SQL = """
WITH sale AS (
  SELECT o.customer_id, o.order_id, o.ordered_at, o.discount_amount AS od,
         sum(l.quantity * l.unit_price) FILTER (p.is_merchandise) AS gross,
         sum(l.discount_amount) FILTER (p.is_merchandise) AS ld
  FROM orders o JOIN order_lines l USING (order_id) JOIN products p USING (product_id)
  WHERE o.kind = 'sale' GROUP BY ALL),
ret AS (SELECT customer_id, count(*) AS n_ret FROM orders WHERE kind = 'return' GROUP BY 1),
o AS (SELECT customer_id, count(*) AS n_orders, sum(gross - ld - od) AS monetary,
             sum(ld + od) / sum(gross) AS discount_share,
             date_diff('day', max(ordered_at), CAST(? AS DATE)) AS recency_days
      FROM sale GROUP BY 1),
e AS (SELECT customer_id, count(DISTINCT session_id) AS n_sessions, sum(duration_seconds) / 60 AS browse_minutes,
             count(*) FILTER (event_type = 'view') AS n_views, count(*) FILTER (event_type = 'click') AS n_clicks,
             count(DISTINCT session_id) FILTER (event_type = 'add_to_cart') AS cart_sessions
      FROM events WHERE customer_id IS NOT NULL GROUP BY 1)
SELECT c.customer_id, g.persona,
       ln(1 + coalesce(o.recency_days, date_diff('day', DATE '2022-01-01', CAST(? AS DATE)))) AS log_recency,
       ln(1 + coalesce(o.n_orders, 0)) AS log_orders, ln(1 + coalesce(o.monetary, 0)) AS log_monetary,
       coalesce(o.discount_share, 0) AS discount_share,
       ln(1 + coalesce(e.browse_minutes, 0)) AS log_browse,
       coalesce(e.n_clicks / nullif(e.n_views, 0), 0) AS click_rate,
       coalesce(greatest(0, 1 - coalesce(o.n_orders, 0) / nullif(e.cart_sessions, 0)), 0) AS cart_abandonment,
       coalesce(r.n_ret / o.n_orders, 0) AS return_rate
FROM customers c JOIN ground_truth g USING (customer_id)
LEFT JOIN o USING (customer_id) LEFT JOIN e USING (customer_id) LEFT JOIN ret r USING (customer_id)
ORDER BY c.customer_id
"""


# -- writing: Parquet staging, one transaction -------------------------------------------------------------

def counts_of(ws) -> dict[str, int]:
    return {t: ws.count(t) for t in KEYS}


def staging_folders(ws) -> list[str]:
    return sorted(p.name for p in ws.path.iterdir() if p.name.startswith(synth_module.STAGING_PREFIX))


@pytest.mark.parametrize("where", ["writer", "simulation"])
def test_a_failure_mid_way_leaves_the_workspace_as_it_was_and_no_staging_files(tmp_path, monkeypatch, where):
    monkeypatch.setattr(synth_module, "CHUNK_SIZE", 100)  # 5 chunks of 100 customers
    with Workspace.open(tmp_path / "ws") as ws:
        synthesize(ws, customers=250, seed=1)
        before, hashes = counts_of(ws), table_hashes(ws)
        limit = ws.scalar("SELECT current_setting('memory_limit')")
        calls = []
        if where == "writer":  # the third chunk's orders insert fails, after two chunks went in
            real = synth_module.W.insert_staged

            def insert_staged(con, path, sql, params=None):
                calls.append(path)
                if len(calls) == 2 * 7 + 2:
                    raise OSError("disk full (injected)")
                real(con, path, sql, params)
            monkeypatch.setattr(synth_module.W, "insert_staged", insert_staged)
        else:  # the fourth chunk's simulation fails
            real = synth_module._chunk

            def chunk(*args):
                calls.append(args[1])
                if len(calls) == 4:
                    raise MemoryError("injected")
                return real(*args)
            monkeypatch.setattr(synth_module, "_chunk", chunk)
        with pytest.raises((OSError, MemoryError), match="injected"):
            synthesize(ws, customers=500, seed=2, replace=True)
        assert len(calls) == (16 if where == "writer" else 4)
        assert counts_of(ws) == before and before["customers"] == 250
        assert table_hashes(ws) == hashes
        assert staging_folders(ws) == []
        assert ws.scalar("SELECT current_setting('memory_limit')") == limit
        assert ws.scalar("SELECT count(*) FROM ingest_log") == 1


KILLED_CHILD = r"""
import sys, time
import shopseg.synth as S
from shopseg.workspace import Workspace
S.CHUNK_SIZE = 100
real, n = S.W.insert_staged, [0]
def insert_staged(con, path, sql, params=None):
    n[0] += 1
    if n[0] == 2 * 7 + 1:  # two chunks inserted, the third staged: stop here and wait to be killed
        print("STAGED", flush=True)
        time.sleep(600)
    real(con, path, sql, params)
S.W.insert_staged = insert_staged
S.synthesize(Workspace.open(sys.argv[1]), customers=500, seed=2, replace=True)
"""


def test_a_killed_synth_leaves_the_workspace_unchanged_and_the_next_synth_removes_its_staging(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    path = tmp_path / "ws"
    with Workspace.open(path) as ws:
        synthesize(ws, customers=150, seed=1)
        before, hashes = counts_of(ws), table_hashes(ws)
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "STAGED"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
        child.stdout.close()
    with Workspace.open(path) as ws:
        left = staging_folders(ws)
        assert len(left) == 1 and any((path / left[0]).iterdir())  # the kill left its staged chunk behind
        assert counts_of(ws) == before and table_hashes(ws) == hashes
        synthesize(ws, customers=120, seed=3, replace=True)
        assert staging_folders(ws) == []
        assert ws.count("customers") == 120


def test_synth_keeps_a_lower_memory_limit_and_restores_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPSEG_MEMORY_LIMIT", "300MB")
    with Workspace.open(tmp_path / "ws") as ws:
        seen = []
        real = synth_module._synthesize

        def spy(ws_, *args):
            seen.append(ws_.scalar("SELECT current_setting('memory_limit')"))
            return real(ws_, *args)
        monkeypatch.setattr(synth_module, "_synthesize", spy)
        synthesize(ws, customers=100, seed=1)
        assert seen == ["286.1 MiB"]  # 300 MB, not raised to the synth cap of 1 GB
        assert ws.scalar("SELECT current_setting('memory_limit')") == "286.1 MiB"
        monkeypatch.delenv("SHOPSEG_MEMORY_LIMIT")
        ws.con.execute("SET memory_limit = ?", [default_memory_limit()])  # the budget without the variable
        budget = ws.scalar("SELECT current_setting('memory_limit')")
        for _ in range(2):  # restored exactly, not shrunk by DuckDB's rounded display on each synth
            synthesize(ws, customers=100, seed=1, replace=True)
            assert ws.scalar("SELECT current_setting('memory_limit')") == budget
        assert seen[1:] == ["953.6 MiB"] * 2  # lowered to the synth cap (1 GB) while synthesising


def test_memory_sizes_parse_in_duckdb_and_si_units():
    assert synth_module._bytes("18.8 GiB") == pytest.approx(18.8 * 2**30)
    assert synth_module._bytes("1GB") == 10**9
    assert synth_module._bytes("488.2 MiB") == pytest.approx(488.2 * 2**20)
    assert synth_module._bytes("unlimited") == float("inf")
