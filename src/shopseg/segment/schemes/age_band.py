"""Age band: under 18, 18-24 ... 65+ as of the run, from the customers' birth_date (or the shop's own age_band);
skipped when no customer has one (:mod:`shopseg.segment.demographics`)."""

from __future__ import annotations

from .._registry import Scheme, SchemeContext, SchemeResult


def compute(ctx: SchemeContext) -> SchemeResult:
    from ..demographics import demographic_scheme

    return demographic_scheme(ctx, "age_band")


def state(ws, runs):
    from ..demographics import demographic_state

    return demographic_state(ws, runs)


def score(st, reader, customers, as_of):
    from ..demographics import demographic_score

    return demographic_score(st, reader, customers, as_of, "age_band")


SCHEME = Scheme("age_band", "Age band as of the run from customers.birth_date or age_band (PII; only when the "
                "shop has them).", compute, dimension=True,
                state=state, score=score)
