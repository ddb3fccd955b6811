import os

import pytest

from shopseg.workspace import open_workspace

DATA = os.path.join(os.path.dirname(__file__), "data")
SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


@pytest.fixture
def ws(tmp_path):
    w = open_workspace(tmp_path / "ws")
    yield w
    w.close()


def shared_file(*parts):
    """A file of ../shared/data, or skip the test with a clear message when it is absent."""
    p = os.path.join(SHARED, *parts)
    if not os.path.exists(p):
        pytest.skip(f"shared dataset not present: {p}")
    return p
