"""Settings: defaults valid, unknown keys and bad values rejected with the setting, the expectation and what came."""

import pytest

from shopseg import config
from shopseg.errors import ConfigError


def test_every_default_satisfies_its_constraint():
    config._check_constraints(config.defaults())


def test_unknown_setting_names_the_known_ones(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[ingest]\nmax_quarantine_shar = 0.5\n")
    with pytest.raises(ConfigError, match=r"Unknown setting 'ingest.max_quarantine_shar' in .*c.toml\. Known settings here: "
                                          r"csv_sample_size, max_date, max_quarantine_share, min_date\."):
        config.load_config(p)


def test_wrong_type_and_out_of_range_values_are_rejected():
    with pytest.raises(ConfigError, match=r"The 'ingest.csv_sample_size' setting must be an int in \[1, inf\). Got 0 instead."):
        config.load_config(overrides={"ingest": {"csv_sample_size": 0}})
    with pytest.raises(ConfigError, match=r"The 'synth.customers' setting must be an int in \[1, inf\). Got 'many' instead."):
        config.load_config(overrides={"synth": {"customers": "many"}})


def test_invalid_toml_and_missing_file_are_config_errors(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[ingest\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        config.load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        config.load_config(tmp_path / "none.toml")


def test_same_settings_same_hash_and_any_change_changes_it():
    a, b = config.load_config(), config.load_config()
    assert a.hash == b.hash
    assert config.load_config(overrides={"ingest": {"max_quarantine_share": 0.4}}).hash != a.hash


def test_loading_the_config_imports_no_capability():
    import subprocess
    import sys

    code = "import sys, shopseg; shopseg.load_config(); print(any(m.startswith('shopseg.segment') or m == 'sklearn' for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
