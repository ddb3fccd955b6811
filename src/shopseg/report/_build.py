"""Build the report: collect every section's figures from the workspace, render one HTML file.

Each section is a function ``(ReportContext) -> Section``; a section whose data is
absent from the run says so (and why) instead of failing.  Every chart carries a
one-line takeaway written from the numbers, for a marketer to read.
"""

from __future__ import annotations

import base64
import functools
import gzip
import html
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Callable

from jinja2 import Environment, PackageLoader

from .. import __version__
from ..errors import ShopsegError
from ..workspace import Workspace
from ._units import money, run_currency_setting, shop_currency


@dataclass
class Section:
    id: str
    title: str
    takeaway: str = ""
    html: str = ""  # figures and tables (trusted: built here)
    missing: str | None = None  # why the section has nothing to show in this run


@dataclass
class ReportContext:
    ws: Workspace
    run_id: int | None
    as_of: datetime
    run: dict = field(default_factory=dict)
    currency: str = ""  # ISO 4217 code, "" for amounts without one (_units.shop_currency)
    _temporary: dict = field(default_factory=dict, repr=False)  # key -> temporary table (:meth:`once`)

    def money(self, value, decimals: int = 0) -> str:
        """``value`` written with the shop's currency (``£1,235``, ``1,235 CHF``)."""
        return money(value, self.currency, decimals)

    def df(self, sql: str, params: list | None = None):
        return self.ws.df(sql, params or [])

    def once(self, key: str, sql: str) -> str:
        """``SELECT * FROM`` a temporary table holding ``sql``'s rows, computed on the first call for ``key``:
        several sections read the same large aggregate (the orders' values sum every order line: 54 million
        at Online Retail x100), so it is computed once per report.  Dropped by :meth:`drop_temporary`."""
        name = self._temporary.get(key)
        if name is None:
            name = f"_shopseg_report_{key}_{id(self):x}"
            self.ws.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
            self._temporary[key] = name
        return f"SELECT * FROM {name}"

    def drop_temporary(self) -> None:
        self.ws.con.execute("SELECT 1").fetchall()  # a section's half-read result would refuse the DROP
        for name in self._temporary.values():
            self.ws.con.execute(f"DROP TABLE IF EXISTS {name}")
        self._temporary.clear()

    def has(self, table: str, with_run: bool = True) -> bool:
        if not self.ws.has_table(table):
            return False
        if with_run and self.run_id is not None and "run_id" in self.ws.columns(table):
            return bool(self.ws.scalar(f'SELECT count(*) FROM "{table}" WHERE run_id = ?', [self.run_id]))
        return self.ws.count(table) > 0


SECTIONS: list[Callable[[ReportContext], Section]] = []


def section(fn: Callable[[ReportContext], Section]) -> Callable[[ReportContext], Section]:
    """Register a section builder (in report order)."""
    SECTIONS.append(fn)
    return fn


SECTION_FAILED = "This section could not be drawn for this run"


def _draw(fn: Callable[[ReportContext], Section], ctx: ReportContext) -> Section:
    """One section; a section that fails on a shape of data nobody foresaw says so in the report
    (``SECTION_FAILED`` and the error) instead of taking the whole report down with it."""
    try:
        return fn(ctx)
    except Exception as e:  # noqa: BLE001  (the other sections still stand; tests look for SECTION_FAILED)
        name = fn.__name__.replace("_", " ")
        return Section(fn.__name__, name[:1].upper() + name[1:],
                       missing=f"{SECTION_FAILED} ({type(e).__name__}: {e}).")


# the trace types of the report's chart library (scripts/plotly-bundle/entry.js; scatter is in plotly's core)
BUNDLED_TRACES = frozenset({"scatter", "bar", "heatmap", "histogram", "funnel", "sankey", "choropleth", "scattergeo"})
PLOTLY_BUNDLE = "plotly-shopseg.min.js"


def figure_html(fig) -> str:
    """A chart as a placeholder and its figure as JSON; the page draws it once the chart library is unpacked
    (report.html.j2), so the page opens before every chart is drawn.

    The JSON sits in a ``<script type="application/json">`` with ``<``, ``>`` and ``&`` escaped as ``\\u003c``...
    (equal inside a JSON string), so no text of the data can close the script element.
    """
    fig.update_layout(margin=dict(l=40, r=20, t=30, b=40), height=380,
                      font=dict(family="system-ui, sans-serif", size=12))
    missing = {t.type for t in fig.data} - BUNDLED_TRACES
    if missing:  # the report's plotly bundle does not draw it: rebuild the bundle with it (scripts/plotly-bundle)
        raise ShopsegError(f"The report cannot draw trace type(s) {', '.join(sorted(missing))}: its chart library "
                           f"has {', '.join(sorted(BUNDLED_TRACES))}.",
                           hint="Add the trace to scripts/plotly-bundle/entry.js and BUNDLED_TRACES, then run "
                                "scripts/plotly-bundle/build.sh.")
    import plotly.io as pio

    # the template as update_layout(template="plotly_white") would put it in the figure, made once: plotly
    # validates and deep-copies it on every assignment (0.15 s a chart, 2.5 s of the report at x10)
    spec = fig.to_dict()
    spec["layout"]["template"] = _white_template()
    spec = pio.to_json(spec, validate=False)
    spec = spec.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    height = int(fig.layout.height or 380)
    return (f"<div class='chart' data-chart style='min-height:{height}px'></div>"
            f"<script type='application/json' class='chart-spec'>{spec}</script>")


@functools.cache
def _white_template() -> dict:
    """plotly's "plotly_white" template as a figure's layout holds it (plain JSON-able dict)."""
    import plotly.graph_objects as go

    return go.Figure(layout=dict(template="plotly_white")).to_dict()["layout"]["template"]


def table_html(df, max_rows: int = 30, floatfmt: str = "{:,.2f}") -> str:
    cols = list(df.columns)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    rows = []
    for rec in df.head(max_rows).itertuples(index=False):
        cells = []
        for v in rec:
            if isinstance(v, float):  # NaN (a missing figure: a rule nobody tested after the cutoff) reads "-"
                s = "-" if v != v else floatfmt.format(v)
            elif isinstance(v, int):
                s = f"{v:,}"
            else:
                s = "" if v is None else str(v)
            cells.append(f"<td>{html.escape(s)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class='more'>{len(df) - max_rows:,} more rows not shown.</p>" if len(df) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


@functools.cache
def plotly_gz_b64() -> str:
    """The report's chart library (plotly.js with the report's trace types), gzipped and base64-encoded: 0.7 MB
    in the page instead of 4.8 MB for plotly.min.js inlined as text; the page unpacks it with the browser's
    DecompressionStream."""
    raw = resources.files("shopseg.report").joinpath("static", PLOTLY_BUNDLE).read_bytes()
    return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")


def build_report(ws: Workspace, run_id: int | None = None, path: str | Path | None = None,
                 *, title: str | None = None, config=None) -> Path:
    """Write the report of run ``run_id`` (default: the latest run) and return its path.

    Money is written in ``shop.currency`` of ``config`` when given, else of the run's config ("auto": the
    ingest presets' currency, see ``_units.shop_currency``).
    """
    from . import _sections, _sections_outcomes  # noqa: F401  (register the sections, in this order)
    from . import _geo  # noqa: F401  (the geography section, after them)

    if run_id is None:
        run_id = ws.latest_run_id()
    run: dict = {}
    if run_id is not None:
        row = ws.con.execute("SELECT run_id, as_of, seed, config_hash, config, version, stages, status "
                             "FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is None:
            raise ShopsegError(f"No run {run_id} in the workspace.", hint="`shopseg history` lists the runs.")
        run = dict(zip(["run_id", "as_of", "seed", "config_hash", "config", "version", "stages", "status"], row))
        run["stages"] = json.loads(run["stages"] or "{}")
        as_of = run["as_of"]
    else:
        last = ws.scalar("SELECT max(ordered_at) FROM orders")
        if last is None:
            raise ShopsegError("Nothing to report: the workspace holds no orders and no runs.",
                               hint="Ingest data (or `shopseg synth`), then `shopseg run`.")
        as_of = last
    ctx = ReportContext(ws=ws, run_id=run_id, as_of=as_of, run=run,
                        currency=shop_currency(ws, run_currency_setting(run, config)))
    try:
        sections = [_draw(fn, ctx) for fn in SECTIONS]
    finally:
        ctx.drop_temporary()
    out = Path(path) if path is not None else ws.reports_dir / (
        f"report-run{run_id}.html" if run_id is not None else "report.html")
    return write_page(out, title=title or f"shopseg report, as of {as_of:%Y-%m-%d}", sections=sections, run=run,
                      as_of=as_of, plotly_gz=plotly_gz_b64(), workspace=str(ws.path), currency=ctx.currency)


def write_page(out: Path, **context) -> Path:
    """Render the report template with ``context`` into ``out``, whole or not at all.

    Autoescaped: every text the template prints (titles, takeaways, stage names, the config) is escaped, so a
    product, customer or campaign named ``<script>...`` shows as text; only ``Section.html`` (tables and charts
    built and escaped here) and the chart library go in as they are. Written to a temporary name beside ``out``
    and renamed, so a full disk or a kill never leaves a truncated report under the real name.
    """
    env = Environment(loader=PackageLoader("shopseg.report", "templates"), autoescape=True)
    page = env.get_template("report.html.j2").render(version=__version__, **context)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
