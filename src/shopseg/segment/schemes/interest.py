"""Interest: each customer's primary interest (up to three in table ``customer_interests``), from what they buy,
browse and mention in reviews (:mod:`shopseg.segment.interest`)."""

from __future__ import annotations

from .._registry import Scheme, SchemeContext, SchemeResult


def compute(ctx: SchemeContext) -> SchemeResult:
    from ..interest import interests

    got = interests(ctx.ws, ctx.as_of, ctx.features["customer_id"], ctx.config, run_id=ctx.run_id)
    state = {"interest_note": got.note} if got.note else {}
    return SchemeResult(got.segment.to_numpy(), extras=got.extras, names=got.names,
                        tables={"customer_interests": got.rows}, state=state)


SCHEME = Scheme("interest", "The category a customer buys, browses and mentions most over the shop's mix "
                "(shrunk lift; up to three per customer in customer_interests).", compute)
