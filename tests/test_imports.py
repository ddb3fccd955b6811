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


def test_the_models_and_the_miner_load_scipy_special_at_their_first_call():
    """An incremental refresh imports the CLV models' and the miner's modules and (with the base run's CLV rows and
    an itemset update) calls neither's special functions: scipy.special (~0.15 s) loads at a first call only."""
    code = ("import sys, math; import shopseg.incremental, shopseg.predict.clv, shopseg.predict._clv_value, "
            "shopseg.basket._update, shopseg.basket._count; before = 'scipy.special' in sys.modules; "
            "from shopseg.predict._clv_models import gammaln; from shopseg.basket._mine import comb; "
            "print(before, abs(float(gammaln(5.0)) - math.lgamma(5.0)) < 1e-12, float(comb(5, 2)) == 10.0, "
            "'scipy.special' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True", "True"], out.stdout + out.stderr


def test_lazy_function_doctests():
    import doctest

    from shopseg import _lazy

    assert doctest.testmod(_lazy).failed == 0
