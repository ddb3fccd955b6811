"""Constraints of the settings the top-level modules use: ``[shop]`` (report/_units, the currency), ``[features]``
(features.py) and ``[drift]`` (drift.py). Declared as data, checked by :mod:`shopseg.params`."""

from .params import Check, Interval

PARAMETER_CONSTRAINTS = {
    "shop.currency": Check('"auto" or a three-letter ISO 4217 code in capitals, such as "GBP"',
                           lambda v: isinstance(v, str) and (v == "auto" or (len(v) == 3 and v.isascii()
                                                                             and v.isalpha() and v.isupper()))),
    "features.top_categories": Interval(int, 0, 50),
    "features.outlier_z": Interval(float, 0, None),
    "drift.bins": Interval(int, 2, 100),
    "drift.psi_threshold": Interval(float, 0, None),
    "drift.refit_psi": Interval(float, 0, None),
}
