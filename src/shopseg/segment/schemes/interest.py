"""Interest: each customer's primary interest (up to three in table ``customer_interests``), from what they buy,
browse and mention in reviews (:mod:`shopseg.segment.interest`)."""

from __future__ import annotations

from .._registry import Scheme, SchemeContext, SchemeResult


def compute(ctx: SchemeContext) -> SchemeResult:
    from ..interest import interests

    got = interests(ctx.ws, ctx.as_of, ctx.features["customer_id"], ctx.config, run_id=ctx.run_id)
    if got.note:  # nothing to go on (no category nor brand): no segments, the run's summary says why
        return SchemeResult(None, state={"skipped": {"interest": "skipped: " + got.note}})
    return SchemeResult(got.segment.to_numpy(), extras=got.extras, names=got.names,
                        tables={"customer_interests": got.rows})


SCHEME = Scheme("interest", "The category a customer buys, browses and mentions most over the shop's mix "
                "(shrunk lift; up to three per customer in customer_interests).", compute)
