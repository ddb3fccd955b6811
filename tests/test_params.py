"""Parameter constraints: declared where the parameter is used, found through one neutral index, checked once by
the config with one message (setting, file, expected, got); config.py imports no domain module."""

import ast
import pathlib
import subprocess
import sys

import pytest

from shopseg import config, params
from shopseg.config import load_config
from shopseg.errors import ConfigError
from shopseg.params import Check, Interval, Options, validate_params
from shopseg.segment import register, unregister

from . import toy_scheme

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "shopseg"


def _imports(path: pathlib.Path) -> set[str]:
    """Every module a file imports, anywhere in it (a lazy import inside a function counts), relative ones
    resolved against the shopseg package; ``__import__("x")`` calls count too."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "shopseg" if node.level else ""
            mod = ".".join(p for p in (base, node.module or "") if p)
            out |= {mod} if node.module else {f"{mod}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            out.add(ast.literal_eval(node.args[0]))
    return out


@pytest.mark.parametrize("module", ["config.py", "params.py"])
def test_the_config_and_its_constraint_vocabulary_import_no_domain_module(module):
    shopseg_imports = {m for m in _imports(SRC / module) if m.split(".")[0] == "shopseg"}
    assert shopseg_imports <= {"shopseg.errors", "shopseg.params", "shopseg._config_doc"}, shopseg_imports
    # no import machinery by name inside config.py either: the only way to a domain module is params.OWNERS
    text = (SRC / "config.py").read_text(encoding="utf-8")
    assert "import_module" not in text and "__import__" not in text


def test_every_section_has_one_owner_and_each_owner_declares_only_its_own_sections():
    sections = set(config.defaults())
    assert sections == set(params.OWNERS)
    for module in set(params.OWNERS.values()):
        mine = {s for s, m in params.OWNERS.items() if m == module}
        table = getattr(__import__(module, fromlist=["_"]), "PARAMETER_CONSTRAINTS", {})
        assert {k.split(".")[0] for k in table} <= mine, module


def test_each_constraint_is_declared_once_where_its_parameter_is_used():
    from shopseg.segment import BehaviourClusters, get_scheme
    from shopseg.segment import cluster as cluster_module

    # the cluster scheme hands the config the estimator's own table: the k range is written once
    assert get_scheme("cluster").parameters is cluster_module.PARAMETER_CONSTRAINTS
    assert params.constraint("segments.cluster.k_max") is cluster_module.PARAMETER_CONSTRAINTS["k_max"]
    with pytest.raises(ConfigError, match=r"The 'segments.cluster.k_max' setting must be an int in \[2, 100\]\. "
                                          r"Got 101 instead\."):
        load_config(overrides={"segments": {"cluster": {"k_max": 101}}})
    import numpy as np
    import pandas as pd

    X = pd.DataFrame({"frequency": np.arange(6.0), "recency_days": np.arange(6.0)})
    with pytest.raises(ConfigError, match=r"The 'k_max' parameter must be an int in \[2, 100\]\. Got 101 instead\."):
        BehaviourClusters(features=["frequency", "recency_days"], k_max=101).fit(X)
    # the churn model's list of models is the config's, and so are the recommenders' weights and decays
    from shopseg.predict import _parameters as predict_params
    from shopseg.predict._churn_model import MODELS
    from shopseg.recommend import NextBasketRecommender, Recommender

    assert MODELS is predict_params.PARAMETER_CONSTRAINTS["churn.model"].choices
    with pytest.raises(ConfigError, match=r"The 'weight_rules' parameter of Recommender must be a number in \[0, inf\)"):
        Recommender(weight_rules=-1)._check()
    with pytest.raises(ConfigError, match=r"'group_decay' parameter of NextBasketRecommender must be a number in \(0, 1\]"):
        NextBasketRecommender(group_decay=0)._check()


@pytest.fixture
def toy():
    register(toy_scheme.SCHEME)
    yield toy_scheme.SCHEME
    unregister("toy")


def test_a_toy_schemes_setting_is_defaulted_and_checked_by_load_config_without_touching_config_py(toy, tmp_path):
    assert load_config()["segments.toy.min_orders"] == 2
    assert load_config(overrides={"segments": {"toy": {"min_orders": 3}}})["segments.toy.min_orders"] == 3
    with pytest.raises(ConfigError, match=r"^The 'segments.toy.min_orders' setting must be an int in \[2, inf\)\. "
                                          r"Got 1 instead\.$"):
        load_config(overrides={"segments": {"toy": {"min_orders": 1}}})
    p = tmp_path / "shop.toml"
    p.write_text("[segments.toy]\nmin_orders = 'two'\n")
    with pytest.raises(ConfigError, match=r"The 'segments.toy.min_orders' setting in .*shop.toml must be an int in "
                                          r"\[2, inf\)\. Got 'two' instead\."):
        load_config(p)
    unregister("toy")  # gone with the scheme: the setting is unknown again
    with pytest.raises(ConfigError, match=r"Unknown setting 'segments.toy'"):
        load_config(overrides={"segments": {"toy": {"min_orders": 3}}})


def test_a_bad_value_in_a_file_names_the_file_the_setting_what_it_must_be_and_what_came(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[churn.tiers]\nhigh_share = 0.7\nmid_share = 0.5\n")
    with pytest.raises(ConfigError, match=r"The 'churn.tiers' setting in .*c.toml must be a table whose high_share "
                                          r"\+ mid_share is at most 1"):
        load_config(p)
    p.write_text("[recommend]\ncollaborative = 'svd'\n")
    with pytest.raises(ConfigError, match=r"The 'recommend.collaborative' setting in .*c.toml must be one of 'auto', "
                                          r"'als', 'cooccurrence'\. Got 'svd' instead\."):
        load_config(p)


def test_the_vocabulary_says_its_bounds_as_scikit_learn_does():
    assert Interval(float, 0, 1, closed="neither").describe() == "a number in (0, 1)"
    assert Interval(int, 2, 100).describe() == "an int in [2, 100]"
    assert [Interval(float, 0, 1, closed="right").is_satisfied_by(v) for v in (0, 0.5, 1, True, "1")] == \
        [False, True, True, False, False]
    assert [Interval(int, 1, None).is_satisfied_by(v) for v in (1, 1.0, 0)] == [True, False, False]
    assert Options("a", "b").describe() == "one of 'a', 'b'"
    assert Check("an even number", lambda v: v % 2 == 0).is_satisfied_by(4)
    with pytest.raises(ConfigError, match=r"^The 'n' parameter of Toy must be an int in \[1, 10\]\. Got 0 instead\.$"):
        validate_params({"n": 0, "other": "free"}, {"x.n": Interval(int, 1, 10)}, "x.", owner="Toy")


def test_changing_one_section_imports_only_that_sections_owner():
    code = ("import sys, shopseg; shopseg.load_config(overrides={'ingest': {'csv_sample_size': 50}}); "
            "print(sorted(m for m in sys.modules if m.startswith(('shopseg.segment', 'shopseg.predict', "
            "'shopseg.act', 'shopseg.recommend'))), 'shopseg.ingest._parameters' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] True"
