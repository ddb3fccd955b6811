"""Gender as the customers stated it (female, male, other, unknown); never inferred from names; skipped when no
customer has one (:mod:`shopseg.segment.demographics`)."""

from __future__ import annotations

from .._registry import Scheme, SchemeContext, SchemeResult


def compute(ctx: SchemeContext) -> SchemeResult:
    from ..demographics import demographic_scheme

    return demographic_scheme(ctx, "gender")


def state(ws, runs):
    from ..demographics import demographic_state

    return demographic_state(ws, runs)


def score(st, reader, customers, as_of):
    from ..demographics import demographic_score

    return demographic_score(st, reader, customers, as_of, "gender")


SCHEME = Scheme("gender", "Gender as stated in customers.gender (PII; never inferred from names; only when the "
                "shop has it).", compute, dimension=True,
                state=state, score=score)
