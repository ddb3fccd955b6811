"""Hardening: schemathesis fuzzes every operation of the service's OpenAPI spec, in process; no request it
generates (valid by the schema or deliberately invalid) gets a 5xx, and a failed write changes nothing."""

from __future__ import annotations

import os
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from tests.test_serve_api import HTTPX_WARNING, READ, WRITE, build_fixture_workspace

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode

# examples per operation and mode; SHOPSEG_FUZZ_SCALE multiplies (docs/security.md quotes both runs)
EXAMPLES = 5 * int(os.environ.get("SHOPSEG_FUZZ_SCALE", "1"))
KEYS = st.sampled_from([{"X-API-Key": WRITE}, {"X-API-Key": READ}, {}, {"X-API-Key": "' OR 1=1 --"}])
TRIED: dict[str, int] = {}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from fastapi.testclient import TestClient

    from shopseg.serve import create_app
    path = tmp_path_factory.mktemp("api") / "ws"
    build_fixture_workspace(path)
    app = create_app(path, READ, WRITE)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        client = TestClient(app, raise_server_exceptions=False)  # an unhandled error must show as a 500
    with client:  # one lifespan for every request: the workspace stays open
        app.state.client = client
        yield app


def operations(app):
    if not hasattr(app.state, "operations"):
        app.state.operations = _operations(app)
    return app.state.operations


def _operations(app):
    # the spec is read through the test client: from_asgi would run the app's lifespan, whose end closes the workspace
    schema = schemathesis.openapi.from_dict(app.state.client.get("/openapi.json").json())
    return [r.ok() for r in schema.get_all_operations()]


def test_the_spec_lists_every_api_operation(app):
    labels = {op.label for op in operations(app)}
    assert {"GET /health", "GET /customers/{customer_id}", "GET /segments", "POST /events", "GET /changes",
            "GET /segments/{scheme}/{segment}/members", "GET /segments/{scheme}/{segment}/export"} <= labels


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_generated_request_gets_a_server_error(app, mode):
    failures = []
    for op in operations(app):
        if mode is GenerationMode.NEGATIVE and not (op.path_parameters or op.query or op.body):
            continue  # nothing in the request to make invalid (headers are fuzzed through the key)
        try:
            fuzz(app, op, mode, failures)
        except Unsatisfiable:  # nothing invalid to generate (GET /health has no parameters)
            assert mode is GenerationMode.NEGATIVE
    print(f"schemathesis {mode.value}: {TRIED.get(mode.value, 0)} requests, {len(failures)} server errors")
    assert not failures, failures[:5]
    assert TRIED[mode.value] >= 5


def fuzz(app, op, mode, failures: list) -> None:
    """Send EXAMPLES generated requests for ``op``; record any 5xx in ``failures``."""
    ws = app.state.shopseg.ws

    # derandomized: the same requests every run (the suite is deterministic; SHOPSEG_FUZZ_SCALE widens it)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode), keys=KEYS)
    def run(case, keys):
        before = ws.count("orders") + ws.count("events") + ws.count("reviews")
        kw = case.as_transport_kwargs(base_url="http://testserver", headers=keys)
        if isinstance(kw.get("data"), (bytes, str)):  # raw bodies: httpx wants them as content
            kw["content"] = kw.pop("data")
        cookies = kw.pop("cookies", None)  # per-request cookies are deprecated in httpx: send the header
        if cookies:
            kw["headers"] = {**kw.get("headers", {}), "cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        r = app.state.client.request(**kw)
        TRIED[mode.value] = TRIED.get(mode.value, 0) + 1
        if r.status_code >= 500:
            failures.append((op.label, r.status_code, r.text[:300]))
        if r.status_code >= 400 and case.method == "POST":  # a refused write stores nothing
            assert ws.count("orders") + ws.count("events") + ws.count("reviews") == before
        if r.headers.get("content-type", "").startswith("application/json"):
            r.json()

    run()
