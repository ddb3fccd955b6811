"""ws.customers(): one row per customer with every segment and score of a run, read as the service reads them."""

import warnings

import pytest

from shopseg.errors import ShopsegError
from shopseg.fixtures import FIXTURE_AS_OF, load_fixture_shop
from shopseg.pipeline import run_pipeline


def test_one_row_per_customer_with_every_scheme_and_score(ws):
    load_fixture_shop(ws)
    with pytest.raises(ShopsegError, match="No finished run yet"):
        ws.customers()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = run_pipeline(ws, FIXTURE_AS_OF, stages=["clv", "segments", "recommend"])
    df = ws.customers()
    assert len(df) == ws.count("customers") and df["customer_id"].is_unique
    assert [c for c in df.columns if c.startswith("segment_")] == \
        ["segment_cluster", "segment_geo", "segment_interest", "segment_lifecycle", "segment_rfm", "segment_value_tier"]
    # (age_band and gender are default schemes too, skipped: the fixture shop has no birth dates nor genders)
    buyers = {r[0] for r in ws.sql("SELECT DISTINCT customer_id FROM orders WHERE kind = 'sale' AND ordered_at <= ? "
                                   "AND customer_id IS NOT NULL",
                                   [run.as_of])}
    has_clv = set(df.loc[df["clv"].notna(), "customer_id"])
    assert has_clv == buyers  # a buyer has a CLV, a prospect none
    seg = dict(ws.sql("SELECT customer_id, segment FROM segments WHERE run_id = ? AND scheme = 'rfm'", [run.run_id]))
    got = dict(zip(df["customer_id"], df["segment_rfm"]))
    assert {c: v for c, v in got.items() if c in seg} == seg
    assert all(v != v for c, v in got.items() if c not in seg)  # not yet a customer at as_of (c12): NULL
    recs = df.dropna(subset=["recommendations"])
    assert len(recs) > 0 and recs["recommendations"].map(len).max() == 3
    # a later run of one stage only: the others are read at the run that wrote them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_pipeline(ws, FIXTURE_AS_OF, stages=["clv"])
    later = ws.customers()
    assert later["segment_rfm"].tolist() == df["segment_rfm"].tolist()
