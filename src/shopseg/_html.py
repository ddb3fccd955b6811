"""Small HTML tables for notebooks: the ``_repr_html_`` of the objects shopseg hands back (an ingest, a run,
segments, a campaign plan). Every text is escaped and a table shows at most ``max_rows`` rows, so a result of a
million customers still displays at once. No pandas here (``import shopseg`` stays light); a DataFrame is read
through ``columns`` and ``itertuples``.

>>> print(html_table(["stage", "seconds"], [("<clv>", 1.5), ("churn", 1234)], caption="Run 1"))
<table class="shopseg"><caption>Run 1</caption><thead><tr><th>stage</th><th>seconds</th></tr></thead><tbody><tr><td>&lt;clv&gt;</td><td>1.50</td></tr><tr><td>churn</td><td>1,234</td></tr></tbody></table>
"""

from __future__ import annotations

import html
import math
from typing import Iterable, Sequence


def cell(v) -> str:
    """One value as escaped text: thousands separators, floats to two decimals, None and NaN empty."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"):
        return f"{int(v):,}"
    if isinstance(v, float) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") == "f"):
        return f"{float(v):,.2f}"
    return html.escape(str(v))


def html_table(columns: Sequence[str], rows: Iterable[Sequence], *, caption: str | None = None,
               max_rows: int = 50) -> str:
    """An HTML table of ``rows`` under ``columns``; past ``max_rows`` a last line says how many are not shown."""
    body, n = [], 0
    for n, row in enumerate(rows, 1):
        if n <= max_rows:
            body.append("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>")
    if n > max_rows:
        body.append(f'<tr><td colspan="{len(columns)}">{n - max_rows:,} more rows not shown</td></tr>')
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    return f'<table class="shopseg">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def frame_table(df, *, caption: str | None = None, max_rows: int = 50) -> str:
    """``html_table`` of a pandas DataFrame (its index left out)."""
    return html_table([str(c) for c in df.columns], df.itertuples(index=False), caption=caption, max_rows=max_rows)
