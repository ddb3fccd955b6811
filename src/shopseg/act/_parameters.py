"""Constraints of the ``[act]`` settings (the playbook: docs/action.md), checked by :mod:`shopseg.params`.

``act.campaigns`` and each campaign are tables of the user's own keys: the whole ``[act]`` table is checked by
the playbook's own reader (:func:`shopseg.act._campaigns.check_act`), which names the campaign and key at fault.
"""

from ..params import Check, Interval, Options
from ..segment._registry import scheme_names_constraint as scheme_names


def _check_act(act) -> bool:
    from ._campaigns import check_act

    return check_act(act)


_CAMPAIGN = Check("a campaign table (checked by the playbook)", lambda v: isinstance(v, dict), open=True)

PARAMETER_CONSTRAINTS = {
    "act.budget": Interval(float, 0, None),
    "act.stratify_by": scheme_names(many=False),
    "act.response_window_days": Interval(int, 1, 3650),
    "act.uplift_model_min_group": Interval(int, 1, None),
    "act.choose_by": Options("priority", "value_per_cost"),
    "act.confidence_level": Interval(float, 0, 1, closed="neither"),
    "act.ci_method": Options("newcombe", "wald"),
    "act.default_country_code": Check(
        "1 to 3 digits (a calling code without +)", lambda v: isinstance(v, str) and v.isdigit() and 1 <= len(v) <= 3),
    # raises its own ConfigError naming the campaign, the key and the bad value
    "act": Check("a valid playbook", _check_act),
    "act.campaigns": Check("a table of campaigns", lambda v: isinstance(v, dict), open=True),
}


def parameter_constraints(dotted: str):
    """The table above; a campaign's own table (``act.campaigns.<name>``) takes any campaign key."""
    if dotted.startswith("act.campaigns.") and dotted.count(".") == 2:
        return _CAMPAIGN
    return PARAMETER_CONSTRAINTS.get(dotted)
