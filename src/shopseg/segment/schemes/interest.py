"""Interest: each customer's primary interest (up to three in table ``customer_interests``), from what they buy,
browse and mention in reviews (:mod:`shopseg.segment.interest`)."""

from __future__ import annotations

import json

from ...params import Interval
from .._registry import Scheme, SchemeContext, SchemeResult


MIX = "interest-mix"  # the run's shop mix in the model store, for the live score


def compute(ctx: SchemeContext) -> SchemeResult:
    from ..interest import interests

    got = interests(ctx.ws, ctx.as_of, ctx.features["customer_id"], ctx.config, run_id=ctx.run_id)
    if got.note:  # nothing to go on (no category nor brand): no segments, the run's summary says why
        return SchemeResult(None, state={"skipped": {"interest": "skipped: " + got.note}})
    if ctx.run_id is not None and got.mix is not None:
        from ... import models

        models.save(ctx.ws, MIX, ctx.run_id, {".json": json.dumps(got.mix, sort_keys=True)})
    return SchemeResult(got.segment.to_numpy(), extras=got.extras, names=got.names,
                        tables={"customer_interests": got.rows})


def state(ws, runs):
    """The run's shop mix (stored with the run; an older run's is read again) and review evidence
    (:class:`~shopseg.segment.interest.InterestState`), or None when the run has no interest segments."""
    from ... import models
    from ..interest import interest_state

    prof, seg = runs.of("segment_profiles"), runs.of("segments")
    if prof is None or seg is None or not ws.sql(
            "SELECT 1 FROM segment_profiles WHERE run_id = ? AND scheme = 'interest' LIMIT 1", [prof]):
        return None
    mix = json.loads(models.read_text(ws, MIX, seg)) if models.exists(ws, MIX, seg) else None
    return interest_state(ws, runs.as_of, runs.config, seg, mix)  # the batch reads the reviews of the segments run


def score(st, reader, customers, as_of):
    """Each customer's primary interest by the run's shop mix (:func:`~shopseg.segment.interest.interest_score`)."""
    if st is None:
        return None
    from ..interest import interest_score

    return interest_score(st, reader, customers, as_of)


SCHEME = Scheme("interest", "The category a customer buys, browses and mentions most over the shop's mix "
                "(shrunk lift; up to three per customer in customer_interests).", compute, state=state, score=score,
                rows_only=True, parameters={"prior_weight": Interval(float, 0, None), "min_lift": Interval(float, 1, None),
                            "max_interests": Interval(int, 1, 10), "browse_weight": Interval(float, 0, None),
                            "review_weight": Interval(float, 0, None), "topic_weight": Interval(float, 0, None),
                            "derived_groups": Interval(int, 0, 500), "derived_min_products": Interval(int, 1, None)})
