"""Differential privacy: calibrated noise, an epsilon ledger that adds up, small segments suppressed, and
shareable reports without ids or PII."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shopseg.config import load_config
from shopseg.errors import ShopsegError
from shopseg.report import build_report
from shopseg.trust.dp import build_shareable_report, dp_segment_stats, epsilon_spent, laplace_counts, laplace_sums

from .test_act_playbook import write_table

# rfm: A 400 customers, B 200, C 3 (to be suppressed); lifecycle: active 350, churned 253
SIZES = {("rfm", "A"): 400, ("rfm", "B"): 200, ("rfm", "C"): 3}


def cfg(**privacy):
    return load_config(overrides={"privacy": {"dp": {"schemes": ["rfm", "lifecycle"]}, **privacy}})


@pytest.fixture
def shop(ws):
    return make_shop(ws)


def make_shop(ws):
    """603 customers with hand-set features: in A, recency 10, frequency 2, monetary 100 except one at 1e6."""
    ids = [f"cust-{i:04d}" for i in range(603)]
    rfm = ["A"] * 400 + ["B"] * 200 + ["C"] * 3
    life = ["active"] * 350 + ["churned"] * 253
    monetary = [1e6] + [100.0] * 399 + [300.0] * 200 + [50.0] * 3
    ws.con.execute("INSERT INTO runs (run_id, as_of, seed, config_hash, status) "
                   "VALUES (1, TIMESTAMP '2024-07-01', 0, 'c0ffee', 'done')")
    write_table(ws, "customers", pd.DataFrame({"customer_id": ids, "email": [f"{c}@mail.example" for c in ids],
                                               "name": [f"Person {c[-4:]}" for c in ids]}))
    write_table(ws, "customer_features", pd.DataFrame({
        "run_id": 1, "customer_id": ids, "recency_days": [10] * 400 + [100] * 200 + [5] * 3,
        "frequency": [2] * 400 + [1] * 203, "monetary_total": monetary}))
    write_table(ws, "segments", pd.DataFrame({
        "run_id": 1, "customer_id": ids * 2, "scheme": ["rfm"] * 603 + ["lifecycle"] * 603, "segment": rfm + life}))
    return ws


def discrete_laplace_abs_mean(b: float) -> float:
    q = math.exp(-1 / b)  # P(k) = (1-q)/(1+q) q^|k|, so E|K| = 2q / (1 - q^2)
    return 2 * q / (1 - q * q)


def test_count_noise_has_the_scale_of_its_epsilon():
    noisy, scale, eps = laplace_counts([0] * 4000, 0.5)
    assert scale == 2.0 and eps == pytest.approx(0.5, abs=1e-12)
    x = np.asarray(noisy, dtype=float)
    want = discrete_laplace_abs_mean(2.0)  # 1.919
    # tolerances are about 5 standard errors of the estimate from 4000 draws (measured spread: docs/security.md)
    assert np.mean(np.abs(x)) == pytest.approx(want, rel=0.08)
    q = math.exp(-1 / 2.0)
    assert np.var(x) == pytest.approx(2 * q / (1 - q) ** 2, rel=0.2)  # 7.84
    assert abs(np.mean(x)) < 0.25  # unbiased: 5 standard errors


def test_sum_noise_is_laplace_with_scale_sensitivity_over_epsilon():
    noisy, scale, eps = laplace_sums([1000.0] * 4000, sensitivity=100.0, epsilon=1.0)
    assert scale == 100.0 and eps == pytest.approx(1.0, abs=1e-12)
    x = np.asarray(noisy) - 1000.0
    assert np.mean(np.abs(x)) == pytest.approx(100.0, rel=0.08)  # E|X| = b for Laplace(b)
    assert stats.kstest(x, stats.laplace(scale=100.0).cdf).pvalue > 1e-4


def test_release_splits_epsilon_evenly_and_the_ledger_adds_up(shop):
    r1 = dp_segment_stats(shop, epsilon=1.0, config=cfg())
    r2 = dp_segment_stats(shop, epsilon=0.5, config=cfg())
    # 2 schemes x (1 count + 3 feature sums) = 8 queries
    assert len(r1.queries) == 8 and all(q["epsilon"] == pytest.approx(1 / 8) for q in r1.queries)
    assert {q["scale"] for q in r2.queries if q["statistic"] == "count"} == {16.0}  # 1 / (0.5 / 8)
    assert [q["sensitivity"] for q in r1.queries[:4]] == [1.0, 730.0, 50.0, 5000.0]
    ledger = shop.df("SELECT * FROM privacy_budget_log ORDER BY release_id")
    assert list(ledger["epsilon"]) == pytest.approx([1.0, 0.5])
    for _, row in ledger.iterrows():
        assert sum(q["epsilon"] for q in json.loads(row["queries"])) == pytest.approx(row["epsilon"])
    assert epsilon_spent(shop) == pytest.approx(1.5)


def test_a_release_past_the_workspace_cap_is_refused(shop):
    dp_segment_stats(shop, epsilon=1.5, config=cfg(max_epsilon_total=2.0))
    with pytest.raises(ShopsegError, match="max_epsilon_total = 2"):
        dp_segment_stats(shop, epsilon=1.0, config=cfg(max_epsilon_total=2.0))
    assert shop.count("privacy_budget_log") == 1


def test_segments_under_k_are_suppressed_and_the_rest_released(shop):
    c = cfg(max_epsilon_total=10000.0)
    for _ in range(5):
        rel = dp_segment_stats(shop, epsilon=400.0, k_min=10, config=c)  # scale 0.02 on counts
        got = set(zip(rel.table["scheme"], rel.table["segment"]))
        assert got == {("rfm", "A"), ("rfm", "B"), ("lifecycle", "active"), ("lifecycle", "churned")}
        assert rel.suppressed == {"rfm": 1, "lifecycle": 0}
    a = rel.table.set_index(["scheme", "segment"]).loc[("rfm", "A")]
    assert a["n_customers"] == 400
    # the 1e6 outlier is clamped to the public bound 5000 before summing: (399 x 100 + 5000) / 400 = 112.25
    assert a["mean_monetary_total"] == pytest.approx(112.25, abs=2.0)
    assert a["mean_recency_days"] == pytest.approx(10.0, abs=1.0)


def test_means_of_a_noisy_release_stay_within_the_public_bounds(shop):
    rel = dp_segment_stats(shop, epsilon=0.05, k_min=0, config=cfg())  # very noisy
    assert rel.table["mean_monetary_total"].between(0, 5000).all()
    assert rel.table["mean_recency_days"].between(0, 730).all()


def test_shareable_report_holds_no_ids_no_pii_and_is_logged(shop, tmp_path):
    path = build_shareable_report(shop, 1, tmp_path / "share.html", epsilon=1.0, config=cfg())
    page = path.read_text(encoding="utf-8")
    assert "differentially private" in page and "Segments: rfm" in page
    assert "cust-" not in page and "@mail.example" not in page and "Person " not in page
    assert str(shop.path) not in page  # not even the workspace's path
    assert shop.sql("SELECT kind, epsilon, path FROM privacy_budget_log") == [("shareable_report", 1.0, str(path))]


def test_the_full_report_shows_no_pii_column(shop, tmp_path):
    page = build_report(shop, 1, tmp_path / "full.html").read_text(encoding="utf-8")
    assert "@mail.example" not in page and "Person 0" not in page


def test_report_command_writes_the_shareable_report_and_checks_its_options(tmp_path):
    from typer.testing import CliRunner

    from shopseg.cli import app
    from shopseg.workspace import open_workspace

    w = open_workspace(tmp_path / "ws")
    make_shop(w)
    w.close()
    runner = CliRunner()
    base = ["--workspace", str(tmp_path / "ws"), "report"]
    bad = runner.invoke(app, [*base, "--epsilon", "1"])
    assert bad.exit_code == 2 and "--shareable" in bad.output
    ok = runner.invoke(app, [*base, "--shareable", "--epsilon", "0.8", "--k-min", "5"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "ws" / "reports" / "report-run1-shareable.html").exists()
    w = open_workspace(tmp_path / "ws")
    try:
        assert w.sql("SELECT kind, k_min FROM privacy_budget_log") == [("shareable_report", 5)]
        assert w.scalar("SELECT epsilon FROM privacy_budget_log") == pytest.approx(0.8)
    finally:
        w.close()
