"""``docs/config.md`` from the text of ``defaults.toml`` (:func:`shopseg.config.config_markdown`)."""

from __future__ import annotations

import re


def config_markdown(defaults_text: str) -> str:
    """``docs/config.md``, written from ``defaults.toml``'s text and its comments (a test keeps them in step)."""

    out = ["# Settings", "",
           "Every setting, its default and what it does. Generated from `src/shopseg/defaults.toml`",
           "(`python -m shopseg.config > docs/config.md`); `tests/test_docs.py` fails when the two disagree.",
           "Put any of them in your own TOML file and pass it with `--config`; unknown keys and values of the",
           "wrong type or range are rejected with a message naming the setting, the file, what it must be and what",
           "came. Each range is declared where the setting is used (docs/architecture.md, \"Parameter",
           "constraints\").", ""]
    section, comment, rows = "", [], []

    def flush():
        if rows:
            out.extend(["| setting | default | meaning |", "|---|---|---|", *rows, ""])
            rows.clear()

    lines = defaults_text.splitlines()
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if not s and not section:
            comment = []  # the file's own header comment
        elif s.startswith("#"):
            comment.append(s.lstrip("# ").strip())
        elif s.startswith("["):
            flush()
            section = s.strip("[]")
            out += [f"## `[{section}]`", ""]
            if comment:
                out += [" ".join(comment), ""]
            comment = []
        elif "=" in s:
            key, value = s.split("=", 1)
            value = value.strip()
            # a multi-line value (array) runs to its closing bracket
            depth = value.count("[") - value.count("]")
            while depth > 0 and i + 1 < len(lines):
                i += 1
                value += " " + lines[i].strip()
                depth += lines[i].count("[") - lines[i].count("]")
            value = re.sub(r"\s+#.*$", "", value) if not value.startswith(("'", '"')) else value
            key = key.strip().strip("\"'")
            dotted = f"{section}.{key}" if section else key
            text = " ".join(comment).replace("|", "\\|")
            shown = value.replace("|", "\\|")
            rows.append(f"| `{dotted}` | `{shown}` | {text} |")
            comment = []
        i += 1
    flush()
    return "\n".join(out)
