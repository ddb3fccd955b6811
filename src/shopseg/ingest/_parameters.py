"""Constraints of the ``[ingest]`` settings (read by the loaders of this package), checked by :mod:`shopseg.params`."""

from ..params import ISO_DATE, Interval

PARAMETER_CONSTRAINTS = {
    "ingest.max_quarantine_share": Interval(float, 0, 1),
    "ingest.min_date": ISO_DATE,
    "ingest.max_date": ISO_DATE,
    "ingest.csv_sample_size": Interval(int, 1, None),
}
