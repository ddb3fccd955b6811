"""No undefined names, unused imports or syntax errors anywhere in the project (pyflakes rules via ruff)."""

import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_pyflakes_rules_pass_on_the_whole_tree():
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9", "--output-format", "concise",
                          "src", "tests", "benchmarks", "evals"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
