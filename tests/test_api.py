"""The public API: everything in __all__ resolves, and the package imports fast (heavy parts load lazily)."""

import subprocess
import sys

import shopseg


def test_every_public_name_resolves():
    for name in shopseg.__all__:
        assert getattr(shopseg, name) is not None, name


def test_import_does_not_load_heavy_capabilities():
    code = "import sys, shopseg; print(','.join(m for m in ('sklearn', 'lightgbm', 'plotly', 'jieba') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
