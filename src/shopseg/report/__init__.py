"""The HTML report: one self-contained file (chart library inlined) that works offline."""

from ._build import Section, build_report

__all__ = ["build_report", "Section"]
