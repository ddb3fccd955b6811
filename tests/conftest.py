import os

import pytest
from hypothesis import settings

from shopseg.workspace import open_workspace

# Property tests draw the same examples on every run (a fixed seed per test) and keep no example database:
# the suite is deterministic, and an intermittent failure is reproduced by the next run, not by chance.
settings.register_profile("shopseg", derandomize=True, database=None)
settings.load_profile("shopseg")

DATA = os.path.join(os.path.dirname(__file__), "data")
# The public datasets: $SHOPSEG_DATA (the benchmarks' variable), else ../shared/data beside the checkout.
SHARED = os.path.abspath(os.environ.get("SHOPSEG_DATA")
                         or os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


@pytest.fixture
def ws(tmp_path):
    w = open_workspace(tmp_path / "ws")
    yield w
    w.close()


def shared_file(*parts):
    """A file of the public datasets ($SHOPSEG_DATA or ../shared/data), or skip the test with a clear message when it is absent."""
    p = os.path.join(SHARED, *parts)
    if not os.path.exists(p):
        pytest.skip(f"shared dataset not present: {p}")
    return p


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    """Debian's chromium for the browser tests: skip when absent and SHOPSEG_SKIP_BROWSER is set, else fail
    (``make test`` installs it)."""
    import shutil

    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("SHOPSEG_SKIP_BROWSER"):
            pytest.skip("chromium absent and SHOPSEG_SKIP_BROWSER set")
        pytest.fail("Debian chromium is missing: `make test` installs it with scripts/install-debian-package.sh")
    return chromium


# Workspace keys live outside workspaces (shopseg.trust.pii.key_dir): the suite and the processes it starts keep
# theirs in one temporary folder, never in the user's ~/.config.
if "SHOPSEG_KEY_DIR" not in os.environ:
    import tempfile

    os.environ["SHOPSEG_KEY_DIR"] = tempfile.mkdtemp(prefix="shopseg-test-keys-")
os.environ.pop("SHOPSEG_SECRET_KEY", None)


def stored_segments_run(ws, config, as_of=None):
    """One segments-stage run of ``ws`` (default as of FIXTURE_AS_OF), stored and marked done, as a finished
    ``shopseg run`` leaves it; returns (run_id, SegmentRun)."""
    import warnings

    from shopseg.fixtures import FIXTURE_AS_OF
    from shopseg.pipeline import start_run
    from shopseg.segment import segment_all

    as_of = FIXTURE_AS_OF if as_of is None else as_of
    rid = start_run(ws, as_of, config, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SegmentWarning: a dozen customers are few for quantiles
        run = segment_all(ws, rid, as_of, config)
    ws.con.execute("UPDATE runs SET status = 'done' WHERE run_id = ?", [rid])
    return rid, run


def with_workspace(path, fn):
    """``fn(ws)`` on the workspace at ``path``, opened for the call and closed after it (warnings silenced: the
    small generated shops warn of few customers); returns what ``fn`` returns."""
    import warnings

    from shopseg.workspace import open_workspace

    ws = open_workspace(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(ws)
    finally:
        ws.close()
