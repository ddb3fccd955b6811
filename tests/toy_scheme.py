"""A toy segment scheme, test-local: the whole of what a new scheme needs (tests/test_segment_registry.py), its
own setting included (``[segments.toy] min_orders``, default 2, declared and constrained here: tests/test_params.py).

Not registered on import (pytest imports every module for doctests): the test registers it and removes it.
"""

import numpy as np

from shopseg.params import Interval
from shopseg.segment import Scheme, SchemeContext, SchemeResult


def compute(ctx: SchemeContext) -> SchemeResult:
    """'repeat' for a customer with ``min_orders`` orders or more, 'single' for fewer but one, 'none' for none."""
    f = ctx.features["frequency"].to_numpy()
    at_least = ctx.config["segments.toy.min_orders"]
    labels = np.where(f >= at_least, "repeat", np.where(f >= 1, "single", "none"))
    return SchemeResult(labels, extras={"repeat": {"rule": f"frequency >= {at_least}"}},
                        names={"repeat": "Repeat buyers", "single": "One-order buyers", "none": "No order yet"})


SCHEME = Scheme("toy", "Repeat, single or no order (a test's toy).", compute,
                parameters={"min_orders": Interval(int, 2, None)}, defaults={"min_orders": 2})
