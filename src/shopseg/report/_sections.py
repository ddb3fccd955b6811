"""The report's sections, in order. Each reads the workspace and returns a Section."""

from __future__ import annotations

import plotly.graph_objects as go

from ._build import ReportContext, Section, figure_html, section, table_html

LINE_VALUE = "l.quantity * l.unit_price - coalesce(l.discount_amount, 0)"


def _sales(ctx: ReportContext) -> str:
    return ("SELECT o.order_id, o.customer_id, o.ordered_at, o.kind, "
            f"sum({LINE_VALUE}) AS value FROM orders o JOIN order_lines l USING (order_id) "
            f"WHERE o.ordered_at <= TIMESTAMP '{ctx.as_of:%Y-%m-%d %H:%M:%S.%f}' GROUP BY ALL")


@section
def kpis(ctx: ReportContext) -> Section:
    row = ctx.ws.con.execute(f"""
        WITH s AS ({_sales(ctx)}),
        c AS (SELECT customer_id, count(*) FILTER (WHERE kind = 'sale') AS n,
                     max(ordered_at) FILTER (WHERE kind = 'sale') AS last
              FROM s WHERE customer_id IS NOT NULL GROUP BY 1)
        SELECT (SELECT count(*) FROM c WHERE n > 0),
               (SELECT count(*) FROM s WHERE kind = 'sale'),
               (SELECT coalesce(sum(value) FILTER (WHERE kind = 'sale'), 0)
                       - coalesce(sum(value) FILTER (WHERE kind = 'return'), 0) FROM s),
               (SELECT avg(value) FROM s WHERE kind = 'sale'),
               (SELECT avg((n >= 2)::INT) FROM c WHERE n > 0),
               (SELECT count(*) FROM c WHERE last > TIMESTAMP '{ctx.as_of:%Y-%m-%d %H:%M:%S}' - INTERVAL 90 DAY)
    """).fetchone()
    if not row[1]:
        return Section("kpis", "Headline figures", missing="no orders up to the as-of date")
    customers, orders, revenue, aov, repeat, active = row
    cards = [("customers who bought", f"{customers:,}"), ("orders", f"{orders:,}"),
             ("net revenue", f"{revenue:,.0f}"), ("average order value", f"{aov:,.2f}"),
             ("repeat customers", f"{repeat:.0%}"), ("bought in the last 90 days", f"{active:,}")]
    body = "<div class='kpis'>" + "".join(
        f"<div class='kpi'><div class='v'>{v}</div><div class='l'>{label}</div></div>" for label, v in cards) + "</div>"
    return Section("kpis", "Headline figures",
                   f"{customers:,} customers bought {orders:,} times for {revenue:,.0f} net; "
                   f"{repeat:.0%} came back for a second order and {active:,} bought in the last 90 days.", body)


@section
def data_quality(ctx: ReportContext) -> Section:
    log = ctx.df("SELECT ingest_id, source, coalesce(preset, '') AS preset, n_input, n_accepted, n_quarantined, "
                 "n_duplicate FROM ingest_log ORDER BY ingest_id")
    if log.empty:
        return Section("data-quality", "Data quality", missing="no ingest recorded")
    reasons = ctx.df("SELECT coalesce(column_name, '') AS column_name, regexp_replace(reason, ', got .*$', '') AS reason, "
                     "count(*) AS rows FROM quarantine GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10")
    n_in, n_q, n_d = int(log.n_input.sum()), int(log.n_quarantined.sum()), int(log.n_duplicate.sum())
    take = (f"Of {n_in:,} input rows, {n_q:,} ({n_q / max(n_in, 1):.2%}) were quarantined and {n_d:,} were exact "
            f"duplicates; every row is accounted for.")
    if not reasons.empty:
        take += f" Most common problem: {reasons.reason.iloc[0]} ({int(reasons.rows.iloc[0]):,} rows)."
    body = table_html(log)
    if not reasons.empty:
        body += "<h3>Quarantine reasons</h3>" + table_html(reasons)
    return Section("data-quality", "Data quality", take, body)


@section
def revenue_over_time(ctx: ReportContext) -> Section:
    df = ctx.df(f"WITH s AS ({_sales(ctx)}) SELECT date_trunc('month', ordered_at) AS month, "
                "sum(value) FILTER (WHERE kind = 'sale') AS sales, "
                "coalesce(sum(value) FILTER (WHERE kind = 'return'), 0) AS returns, "
                "count(DISTINCT customer_id) FILTER (WHERE kind = 'sale') AS customers FROM s GROUP BY 1 ORDER BY 1")
    if df.empty:
        return Section("revenue", "Revenue over time", missing="no orders up to the as-of date")
    fig = go.Figure()
    fig.add_bar(x=df.month, y=df.sales, name="sales")
    fig.add_bar(x=df.month, y=-df.returns, name="returns")
    fig.update_layout(barmode="relative", yaxis_title="value per month")
    best = df.loc[df.sales.idxmax()]
    return Section("revenue", "Revenue over time",
                   f"The best month was {best.month:%B %Y} with {best.sales:,.0f} in sales; returns took "
                   f"{df.returns.sum() / max(df.sales.sum(), 1):.1%} of sales overall.", figure_html(fig))


@section
def cohort_retention(ctx: ReportContext) -> Section:
    df = ctx.df(f"""
        WITH s AS (SELECT customer_id, date_trunc('month', ordered_at) AS m FROM ({_sales(ctx)})
                   WHERE kind = 'sale' AND customer_id IS NOT NULL GROUP BY ALL),
        f AS (SELECT customer_id, min(m) AS cohort FROM s GROUP BY 1),
        a AS (SELECT f.cohort, datediff('month', f.cohort, s.m) AS k, count(*) AS n
              FROM s JOIN f USING (customer_id) GROUP BY ALL)
        SELECT a.cohort, a.k, a.n / b.n AS share, b.n AS size
        FROM a JOIN (SELECT cohort, n FROM a WHERE k = 0) b USING (cohort) ORDER BY 1, 2
    """)
    if df.empty:
        return Section("cohorts", "Cohort retention", missing="no customer orders")
    pivot = df.pivot(index="cohort", columns="k", values="share").sort_index().tail(24)
    labels = [f"{c:%Y-%m}" for c in pivot.index]
    fig = go.Figure(go.Heatmap(z=pivot.values, x=[str(k) for k in pivot.columns], y=labels,
                               colorscale="Blues", zmin=0, zmax=float(df[df.k > 0].share.max() or 1),
                               hovertemplate="cohort %{y}, month +%{x}: %{z:.1%}<extra></extra>"))
    fig.update_layout(xaxis_title="months since first order", yaxis_title="first-order month",
                      height=max(320, 18 * len(labels) + 120))
    m1 = df[df.k == 1]
    take = (f"On average {m1.share.mean():.0%} of a cohort buys again in its second month."
            if not m1.empty else "No cohort has a second month yet.")
    return Section("cohorts", "Cohort retention by first-order month", take, figure_html(fig))
