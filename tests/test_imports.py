"""`import shopseg` stays light: the CLI's start and every `import shopseg` pay for it, so the scientific stack
loads on first use of a capability, not on import."""

import subprocess
import sys

HEAVY = ("pandas", "numpy", "scipy", "sklearn", "pyarrow", "lightgbm", "plotly", "jinja2", "fastapi", "typer",
         "rich", "opendp", "pyspark", "jieba", "snownlp")


def test_import_shopseg_loads_no_scientific_stack():
    code = ("import sys, shopseg; shopseg.PRESETS; shopseg.Workspace; shopseg.load_config(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import shopseg loaded: {out.stdout.strip()}"


def test_a_capability_still_loads_on_first_use():
    code = "import sys, shopseg; shopseg.forget; shopseg.segment_all; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
