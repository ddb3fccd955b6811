"""Defects session 18's audit found on shapes of real shops (Online Retail cut to 200 customers, its 60 top
wholesalers, its last 90 days; a 1,000-person slice of Olist; CDNOW as of 1998-06-30), each reproduced on made-up
figures (fast, no data).  The next-order date (tests/test_customer_figures.py) and the status line
(tests/test_status.py) have theirs beside the others of their kind."""

from __future__ import annotations

from shopseg.predict._clv_backtest import Comparison
from shopseg.predict._clv_select import not_worse_words


def test_a_decision_does_not_call_a_figure_the_baseline_wins_in_most_resamples_not_worse():
    # the 200-customer Online Retail cut as of 2011-12-09: "repeat used: it beats the frequency baseline on level and
    # is not worse on the other: repeat roc_auc 0.731 vs the frequency baseline (past purchase rate) 0.755, better in
    # 28% of 200 resamples": the baseline ranked better in 72% of them, short of the 95% that counts as worse
    level = Comparison("poisson_deviance", 2.003, 4.007, 1.0, {"lose_share": 0.0})
    rank = Comparison("roc_auc", 0.731, 0.755, 0.28, {"lose_share": 0.72})
    words = not_worse_words(rank, level, 0.95, "level")
    assert words == (" and is not worse on the other beyond chance (the baseline better on ranking in 72% of "
                     "resamples, short of 95%)")
    # a ranking won, a level the baseline is closer on in 60% of resamples: said of the level
    assert not_worse_words(Comparison("roc_auc", 0.84, 0.83, 1.0, {"lose_share": 0.0}),
                           Comparison("brier", 0.2, 0.19, 0.4, {"lose_share": 0.6}), 0.95, "calibration") == (
        " and is not worse on the other beyond chance (the baseline better on calibration in 60% of resamples, "
        "short of 95%)")
    # a figure the candidate is ahead on in most resamples keeps the plain words (tests/test_clv.py quotes them)
    assert not_worse_words(Comparison("roc_auc", 0.84, 0.83, 1.0, {"lose_share": 0.0}),
                           Comparison("brier", 0.2, 0.21, 0.9, {"lose_share": 0.1}), 0.95, "calibration") == \
        " and is not worse on the other"


def test_a_missing_figure_in_a_report_table_reads_a_dash_not_nan():
    # the 200-customer Online Retail cut's report: "The top rules of 2011-09-10 on the 90 days after" printed
    # "BLUE POLKADOT PLATE | PINK POLKADOT BOWL | 1.0000 | 71.8571 | nan | nan | 0" (no basket with the first after
    # the cutoff); Olist's sentiment by language printed "pt | none | 492 | nan | nan"
    import pandas as pd

    from shopseg.report._build import table_html

    df = pd.DataFrame([{"if_bought": "A", "confidence_out": None, "lift_out": None, "n": 0},
                       {"if_bought": "B", "confidence_out": 0.5, "lift_out": float("nan"), "n": 3}])
    out = table_html(df, floatfmt="{:,.4f}")
    assert "nan" not in out.lower()
    assert "<td>A</td><td>-</td><td>-</td><td>0</td>" in out and "<td>0.5000</td><td>-</td>" in out
