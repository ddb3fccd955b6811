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


def test_the_cli_and_the_api_show_the_same_customer_view_field_by_field(tmp_path):
    """`shopseg customer ID --json` and GET /customers/ID come from one read layer: equal for every customer
    of the fixture shop, every part present (segments, CLV, recommendations, next action; churn is skipped on
    12 customers)."""
    import json

    from typer.testing import CliRunner

    from shopseg.cli import app as cli_app
    from shopseg.config import load_config
    from shopseg.workspace import open_workspace

    fastapi = pytest.importorskip("fastapi")  # noqa: F841
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

        from shopseg.serve import create_app

    path = tmp_path / "ws"
    ws = open_workspace(path)
    load_fixture_shop(ws)
    cfg = load_config(overrides={"act": {"min_expected_value": -100.0}})  # every customer gets an action
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_pipeline(ws, FIXTURE_AS_OF, config=cfg, stages=["clv", "segments", "churn", "recommend", "act"])
    ids = [r[0] for r in ws.sql("SELECT customer_id FROM customers ORDER BY 1")]
    ws.close()
    cli = {c: json.loads(CliRunner().invoke(cli_app, ["--workspace", str(path), "--json", "customer", c]).stdout)
           ["customer"] for c in ids}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = TestClient(create_app(path, "read-k", "write-k"))
    with client:
        api = {c: client.get(f"/customers/{c}", headers={"X-API-Key": "read-k"}).json() for c in ids}
    parts = ("segments", "clv", "recommendations", "next_action", "status")
    assert all(any(cli[c][p] for c in ids) for p in parts)  # every part is somewhere, so the comparison covers it
    for c in ids:
        assert list(cli[c]) == list(api[c])
        for field in api[c]:
            assert cli[c][field] == api[c][field], (c, field)


def test_the_outputs_views_read_a_runs_top_customers_and_segments_over_runs(ws):
    """views.outputs: what `shopseg predict clv`, `history` and `diff` print, read in one place."""
    from shopseg.views.outputs import migration_matrix, segment_sizes, top_clv

    load_fixture_shop(ws)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r1 = run_pipeline(ws, FIXTURE_AS_OF, stages=["clv", "segments"]).run_id
        r2 = run_pipeline(ws, FIXTURE_AS_OF, stages=["segments"]).run_id
    rows = top_clv(ws, r1, 3)
    want = ws.sql("SELECT customer_id FROM clv WHERE run_id = ? ORDER BY clv DESC LIMIT 3", [r1])
    assert [r[0] for r in rows] == [w[0] for w in want] and len(rows[0]) == 5
    sizes = segment_sizes(ws, "rfm")
    assert list(sizes.columns) == [r1, r2]
    n = ws.scalar("SELECT count(*) FROM segments WHERE run_id = ? AND scheme = 'rfm'", [r1])
    assert int(sizes[r1].sum()) == int(sizes[r2].sum()) == n
    m = migration_matrix(ws, r1, r2, "rfm")  # the same data twice: everyone stays
    assert int(m.to_numpy().trace()) == n
