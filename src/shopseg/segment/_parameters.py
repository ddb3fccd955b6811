"""Constraints of the ``[segments]`` settings, collected from where they are used.

``segments.schemes`` names schemes of the registry; ``segments.classify.*`` belong to the group classifier
(:data:`shopseg.segment.classify.PARAMETER_CONSTRAINTS`); every other ``segments.<section>.*`` belongs to the
scheme reading that section, which declares them on its :class:`~shopseg.segment.Scheme` (``parameters``).
:mod:`shopseg.params` asks :func:`parameter_constraints` for one setting at a time, so only the scheme whose
setting differs from its default is imported.
"""

from __future__ import annotations

import importlib

from . import _registry

_OWN = {"segments.schemes": _registry.scheme_names_constraint(many=True)}


def _scheme_for(section: str):
    """The built-in scheme reading ``[segments.<section>]``: the scheme of that name, else the one whose
    ``section`` says so (imports the built-in schemes until found), else None."""
    builtin = _registry.builtin_names()
    if section in builtin:
        return _registry.get(section)
    for name in builtin:
        scheme = _registry.get(name)
        if scheme.section == section:
            return scheme
    return None


def parameter_constraints(dotted: str):
    if dotted in _OWN:
        return _OWN[dotted]
    parts = dotted.split(".")
    if len(parts) < 3:
        return None
    if parts[1] == "classify":
        return importlib.import_module(".classify", __package__).PARAMETER_CONSTRAINTS.get(dotted)
    scheme = _scheme_for(parts[1])
    return None if scheme is None else scheme.parameters.get(".".join(parts[2:]))
