"""`make bench` records each area's section in place in docs/benchmarks.md: hand-measured sections stay."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_module():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_an_area_replaces_only_its_own_section():
    place = _run_module().place
    doc = ("# Benchmarks\n\n<!-- make bench: ingest -->\nold ingest\n<!-- /make bench: ingest -->\n\n"
           "## Recommend (by hand)\nkept\n\n<!-- make bench: churn -->\nold churn\n<!-- /make bench: churn -->\n")
    new = place(doc, "churn", "### Churn\nnew churn\n")
    assert new == doc.replace("old churn", "### Churn\nnew churn")
    assert "old ingest" in new and "## Recommend (by hand)\nkept" in new


def test_a_new_area_is_appended_and_a_second_run_replaces_it():
    place = _run_module().place
    once = place("# Benchmarks\n", "report", "r1")
    assert once == "# Benchmarks\n\n<!-- make bench: report -->\nr1\n<!-- /make bench: report -->\n"
    assert place(once, "report", "r2") == once.replace("r1", "r2")


def test_every_area_of_make_bench_has_its_benchmark_module():
    run = _run_module()
    assert all((ROOT / "benchmarks" / f"bench_{a}.py").exists() for a in run.ORDER)
