"""Every docstring example of ``src/shopseg``, collected here so that any run over ``tests/`` runs them.

``pytest tests/...`` (a path given, as scripts and helpers run it) replaces the configured ``testpaths``, and the
examples used to be collected from ``src/shopseg`` only: such a run left all of them out (a bare ``pytest``
collected 1,239 tests, ``pytest tests/`` 1,132), and a broken example passed unseen. One test per example, as
pytest's ``--doctest-modules`` names them (which still runs them for ``pytest src/shopseg/x.py``).
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

import shopseg


def _examples() -> dict[str, doctest.DocTest]:
    finder = doctest.DocTestFinder()
    out: dict[str, doctest.DocTest] = {}
    names = ["shopseg", *(m.name for m in pkgutil.walk_packages(shopseg.__path__, "shopseg."))]
    for name in names:
        if name.endswith(".__main__"):  # pytest skips __main__.py too: importing it runs the CLI
            continue
        for t in finder.find(importlib.import_module(name), name):
            if t.examples:
                out[t.name] = t
    return dict(sorted(out.items()))


EXAMPLES = _examples()


def test_the_examples_are_found():
    assert len(EXAMPLES) >= 100 and {"shopseg", "shopseg._exact", "shopseg.features"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_docstring_examples(name):
    found = EXAMPLES[name]
    # a copy with its own namespace: the runner clears the one it is given
    test = doctest.DocTest(found.examples, dict(found.globs), found.name, found.filename, found.lineno, found.docstring)
    out = io.StringIO()
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test, out=out.write)
    assert result.failed == 0, out.getvalue()
