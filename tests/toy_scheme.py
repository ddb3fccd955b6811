"""A toy segment scheme, test-local: the whole of what a new scheme needs (tests/test_segment_registry.py).

Not registered on import (pytest imports every module for doctests): the test registers it and removes it.
"""

import numpy as np

from shopseg.segment import Scheme, SchemeContext, SchemeResult


def compute(ctx: SchemeContext) -> SchemeResult:
    """'repeat' for a customer with two or more orders, 'single' for one, 'none' for none."""
    f = ctx.features["frequency"].to_numpy()
    labels = np.where(f >= 2, "repeat", np.where(f == 1, "single", "none"))
    return SchemeResult(labels, extras={"repeat": {"rule": "frequency >= 2"}},
                        names={"repeat": "Repeat buyers", "single": "One-order buyers", "none": "No order yet"})


SCHEME = Scheme("toy", "Repeat, single or no order (a test's toy).", compute)
