"""Campaigns as data: a campaign's keys, its eligibility conditions (``when``) parsed and checked, and the
campaigns of a config (:func:`campaigns_from_config`; :func:`check_act` is the config's check of ``[act]``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..config import Config, load_config
from ..errors import ConfigError


def _schemes() -> list[str]:
    """The segment schemes of the registry: each is a text field of campaign conditions."""
    from ..segment._registry import names

    return names()


def _text_fields() -> tuple[str, ...]:
    """Text fields read from other capabilities' tables (besides the customer features)."""
    return (*_schemes(), "churn_tier", *LIST_FIELDS)


# fields holding a list: "interests in home, toys" holds when ANY of the customer's interests is listed
# (customer_interests of the segments run; the `interest` scheme is the first of them)
LIST_FIELDS = ("interests",)


SCORE_FIELDS = ("churn_probability", "clv", "clv_quantile", "p_alive", "expected_purchases_90d", "due_reorders")


BASES = ("fixed", "clv", "avg_order_value")


OPS = ("not in", "in", "==", "!=", ">=", "<=", ">", "<")


_COND = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s+(not\s+in|in|==|!=|>=|<=|>|<)\s+(.+?)\s*$")


CAMPAIGN_KEYS = ("enabled", "description", "when", "offers", "channel", "cost_per_contact", "incentive",
                 "incentive_basis", "incentive_min", "incentive_max", "value", "value_basis", "response_rate",
                 "priority", "cooldown_days", "control_share", "uplift", "uplift_source",
                 "uplift_prior_sd")


@dataclass(frozen=True)
class Condition:
    """One eligibility condition ``<field> <op> <value>``, e.g. ``lifecycle in new, active``."""

    field: str
    op: str
    values: tuple[str, ...] = ()
    number: float | None = None
    text: str = ""

    @property
    def column(self) -> str:
        return '"' + self.field.replace('"', '""') + '"'

    @property
    def is_text(self) -> bool:
        return self.op in ("in", "not in") or (self.number is None)

    def sql(self) -> str:
        """A SQL predicate over the customer frame (values inlined after validation)."""
        if self.number is None and self.field in LIST_FIELDS:
            vals = ", ".join(_sql_str(v) for v in self.values)
            neg = "NOT " if self.op in ("not in", "!=") else ""
            return f"({neg}list_has_any(coalesce({self.column}, []::VARCHAR[]), [{vals}]::VARCHAR[]))"
        if self.number is None:
            vals = ", ".join(_sql_str(v) for v in self.values)
            neg = "NOT " if self.op in ("not in", "!=") else ""
            return f"({self.column} IS NOT NULL AND {self.column} {neg}IN ({vals}))"
        op = "=" if self.op == "==" else self.op
        return f"({self.column} IS NOT NULL AND {self.column} {op} {self.number!r})"

    def reason_sql(self) -> str:
        """A SQL expression giving the condition in words with the customer's own value."""
        if self.number is None and self.field in LIST_FIELDS:
            return f"{_sql_str(self.field + ': ')} || coalesce(array_to_string({self.column}, ', '), 'none')"
        if self.number is None:
            return f"{_sql_str(self.field + ' is ')} || {self.column}"
        if self.field == "clv_quantile":
            return ("'CLV in the top ' || CAST(greatest(1, CAST(ceil(100 * (1 - clv_quantile)) AS INTEGER)) AS VARCHAR)"
                    " || '% (' || printf('%.2f', clv) || ')'")
        return (f"{_sql_str(self.field + ' ')} || printf('%.3g', {self.column}) || "
                f"{_sql_str(f' ({self.op} {self.number:g})')}")


@dataclass(frozen=True)
class Campaign:
    """A campaign of the playbook: who, what, how, at what cost and expected return."""

    name: str
    when: tuple[Condition, ...]
    offers: tuple[str, ...]
    description: str = ""
    enabled: bool = True
    channel: str = "email"
    cost_per_contact: float = 0.05
    incentive: float = 0.0
    incentive_basis: str = "fixed"
    incentive_min: float = 0.0
    incentive_max: float = 0.0
    value: float = 0.0
    value_basis: str = "fixed"
    response_rate: float = 0.05
    priority: int = 0
    cooldown_days: int = 30
    control_share: float = 0.1
    uplift: float = 0.005
    uplift_source: str = ""
    uplift_prior_sd: float = 0.02

    def value_sql(self) -> str:
        """Net value of one response: nothing for a customer whose purchases net to <= 0."""
        return f"(CASE WHEN _net_spend <= 0 THEN 0.0 ELSE {self.value!r} * {_basis_sql(self.value_basis)} END)"

    def incentive_sql(self) -> str:
        e = f"({self.incentive!r} * {_basis_sql(self.incentive_basis)})"
        if self.incentive_min > 0:
            e = f"greatest({e}, {self.incentive_min!r})"
        if self.incentive_max > 0:
            e = f"least({e}, {self.incentive_max!r})"
        return e


def _basis_sql(basis: str) -> str:
    # net bases (build_frame): the average order net of returns, cancellations and discounts, and the
    # CLV scaled by the share of the customer's purchases they kept
    return {"fixed": "1.0", "clv": "(coalesce(clv, 0.0) * _net_share)", "avg_order_value": "_net_aov"}[basis]


def _sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def parse_condition(text: str, campaign: str = "?") -> Condition:
    """``"lifecycle in new, active"`` -> :class:`Condition`; a ConfigError says what is wrong.

    >>> parse_condition("clv_quantile >= 0.8").number
    0.8
    >>> parse_condition("lifecycle not in churned, prospect").values
    ('churned', 'prospect')
    """
    where = f"The condition {text!r} of campaign {campaign!r}"
    if not isinstance(text, str):
        raise ConfigError(f"{where} must be a string like \"lifecycle in new\". Got {text!r} instead.")
    m = _COND.match(text)
    if not m:
        raise ConfigError(
            f"{where} must read \"<field> <op> <value>\" with op one of {', '.join(OPS)}.",
            hint='Examples: "lifecycle in new, active", "churn_tier in high", "clv_quantile >= 0.8", '
                 '"discount_share >= 0.2", "cluster_mean.discount_share >= 0.1".')
    field, op, rest = m.group(1), re.sub(r"\s+", " ", m.group(2)), m.group(3)
    if op in ("in", "not in"):
        values = tuple(v.strip() for v in rest.split(",") if v.strip())
        if not values:
            raise ConfigError(f"{where} lists no value after {op!r}.")
        if field in SCORE_FIELDS or field.startswith("cluster_mean."):
            raise ConfigError(f"{where} compares the number {field!r} with {op!r}; use >=, <=, >, <, == or !=.")
        return Condition(field, op, values, None, text)
    try:
        number = float(rest)
    except ValueError:
        if field in _text_fields() and op in ("==", "!="):
            return Condition(field, op, (rest.strip(),), None, text)
        raise ConfigError(f"{where} must compare {field!r} with a number. Got {rest!r} instead.") from None
    if field in _text_fields():
        raise ConfigError(f"{where} compares the segment field {field!r} with a number; use 'in' or '=='.")
    if not math.isfinite(number):
        raise ConfigError(f"{where} must compare with a finite number. Got {rest!r} instead.")
    return Condition(field, op, (), number, text)


def _campaign(name: str, raw: dict, defaults: dict) -> Campaign:
    if not isinstance(raw, dict):
        raise ConfigError(f"The 'act.campaigns.{name}' setting must be a table of campaign keys. Got {raw!r} instead.")
    unknown = sorted(set(raw) - set(CAMPAIGN_KEYS))
    if unknown:
        raise ConfigError(f"Unknown setting 'act.campaigns.{name}.{unknown[0]}'. Known settings here: "
                          f"{', '.join(CAMPAIGN_KEYS)}.")
    d = {**defaults, **raw}

    def bad(key, words):
        raise ConfigError(f"The 'act.campaigns.{name}.{key}' setting must be {words}. Got {d[key]!r} instead.")

    def num(key, lo=None, hi=None, integer=False):
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
            bad(key, f"{'an int' if integer else 'a number'}" + (f" in [{lo}, {hi}]" if lo is not None and hi is not None
                                                                 else f" of at least {lo}" if lo is not None else ""))
        if (lo is not None and v < lo) or (hi is not None and v > hi) or not math.isfinite(v):
            bad(key, f"{'an int' if integer else 'a number'}" + (f" in [{lo}, {hi}]" if hi is not None
                                                                 else f" of at least {lo}"))
        return v

    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ConfigError(f"Campaign name {name!r} must use letters, digits, '_' or '-' only.")
    if not isinstance(d["enabled"], bool):
        bad("enabled", "true or false")
    for key in ("description", "channel"):
        if not isinstance(d[key], str):
            bad(key, "a string")
    if not isinstance(d["when"], list) or not d["when"]:
        bad("when", 'a non-empty list of conditions like ["lifecycle in new"]')
    offers = d["offers"]
    if (not isinstance(offers, list) or not offers or not all(isinstance(o, str) and o.strip() for o in offers)
            or len(set(offers)) != len(offers)):
        bad("offers", "a non-empty list of distinct offer texts")
    if any(o == "control" for o in offers):
        bad("offers", "a list of offers none of which is called 'control'")
    for key in ("incentive_basis", "value_basis"):
        if d[key] not in BASES:
            bad(key, "one of " + ", ".join(repr(b) for b in BASES))
    for key in ("cost_per_contact", "incentive", "incentive_min", "incentive_max", "value"):
        num(key, 0)
    if d["incentive_max"] and d["incentive_max"] < d["incentive_min"]:
        bad("incentive_max", f"0 (no cap) or at least incentive_min ({d['incentive_min']!r})")
    num("response_rate", 0, 1)
    num("control_share", 0, 0.5)
    num("priority", -1000000, 1000000, integer=True)
    num("cooldown_days", 0, 3650, integer=True)
    num("uplift", 0, 1)
    num("uplift_prior_sd", 0, 1)
    if d["uplift_prior_sd"] <= 0:
        bad("uplift_prior_sd", "a number in (0, 1]")
    if not isinstance(d["uplift_source"], str):
        bad("uplift_source", "a string")
    when = tuple(parse_condition(c, name) for c in d["when"])
    return Campaign(name=name, when=when, offers=tuple(offers), description=d["description"], enabled=d["enabled"],
                    channel=d["channel"], cost_per_contact=float(d["cost_per_contact"]),
                    incentive=float(d["incentive"]), incentive_basis=d["incentive_basis"],
                    incentive_min=float(d["incentive_min"]), incentive_max=float(d["incentive_max"]),
                    value=float(d["value"]), value_basis=d["value_basis"], response_rate=float(d["response_rate"]),
                    priority=int(d["priority"]), cooldown_days=int(d["cooldown_days"]),
                    control_share=float(d["control_share"]), uplift=float(d["uplift"]),
                    uplift_source=d["uplift_source"], uplift_prior_sd=float(d["uplift_prior_sd"]))


def campaigns_from_act(act: dict) -> list[Campaign]:
    """Every campaign of an ``[act]`` table (enabled or not), validated; sorted by name."""
    defaults = act.get("campaign_defaults", {})
    camps = act.get("campaigns", {})
    if not isinstance(camps, dict):
        raise ConfigError(f"The 'act.campaigns' setting must be a table of campaigns. Got {camps!r} instead.")
    return [_campaign(name, raw, defaults) for name, raw in sorted(camps.items())]


def campaigns_from_config(config: Config | None = None) -> list[Campaign]:
    """The playbook of ``config`` (defaults when None)."""
    cfg = config if config is not None else load_config()
    return campaigns_from_act(cfg["act"])


def check_act(act) -> bool:
    """The config constraint on ``[act]``: raises a ConfigError naming the campaign and key at fault."""
    if not isinstance(act, dict):
        return False
    campaigns_from_act(act)
    return True
