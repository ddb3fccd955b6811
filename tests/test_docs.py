"""The docs tell the truth about the code: data model, settings, CLI."""

import os
import re

from shopseg import config
from shopseg.schema import data_model_markdown

ROOT = os.path.join(os.path.dirname(__file__), "..")


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def test_data_model_doc_is_generated_from_the_schema():
    assert read("docs", "data-model.md") == data_model_markdown(), \
        "regenerate with: .venv/bin/python -m shopseg.schema > docs/data-model.md"


def _leaves(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict) and not config.is_open(f"{prefix}{k}"):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"


def test_config_doc_is_generated_from_defaults_toml():
    assert read("docs", "config.md") == config.config_markdown(), \
        "regenerate with: .venv/bin/python -m shopseg.config > docs/config.md"


def test_every_setting_is_documented_in_config_doc():
    doc = read("docs", "config.md")
    missing = [k for k in _leaves(config.defaults()) if f"`{k}`" not in doc and f"`[{k}]`" not in doc]
    assert not missing, f"settings missing from docs/config.md: {missing}"


def test_every_setting_has_a_comment_in_defaults_toml():
    """Each key has a comment between the previous key (or section header) and itself."""
    section, commented = "", False
    for line in read("src", "shopseg", "defaults.toml").splitlines():
        s = line.strip()
        if s.startswith("#"):
            commented = True
        elif s.startswith("["):
            section, commented = s.strip("[]"), commented or False
        elif re.match(r"^[A-Za-z_\"'][^=]*=", s):
            key = s.split("=")[0].strip().strip("\"'")
            assert commented or config.is_open(section), f"defaults.toml: [{section}] {key} has no comment"
            commented = False


def test_cli_doc_is_generated_from_the_commands():
    from shopseg.cli import cli_markdown

    assert read("docs", "cli.md") == cli_markdown(), \
        "regenerate with: .venv/bin/python -c 'from shopseg.cli import cli_markdown as m; print(m(), end=\"\")' > docs/cli.md"
    doc = cli_markdown()
    assert "| `PATH` | argument |" in doc and "| `CUSTOMER_ID` | argument |" in doc  # positionals are not options
