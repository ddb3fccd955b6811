"""Per-segment figures of any scheme: revenue, AOV, repeat rate, churn risk, CLV (withheld under k_min)."""

from __future__ import annotations

import json

import pandas as pd

from ..errors import ShopsegError

FIGURES = ("customers", "buyers", "revenue", "avg_order_value", "repeat_rate", "churn_risk", "clv")


def segment_figures_sql(tables: dict, scheme: str) -> tuple[str, list]:
    """SQL (and parameters) of :func:`segment_figures` over ``tables``: output table -> the run to read it at
    (``segments``, ``customer_features``, ``churn_scores``, ``clv``; a missing one gives NULL figures)."""
    def part(table: str, cols: str, empty: str) -> tuple[str, list]:
        run = tables.get(table)
        if run is None:
            return f"SELECT NULL::VARCHAR AS customer_id, {empty} LIMIT 0", []
        return f"SELECT CAST(customer_id AS VARCHAR) AS customer_id, {cols} FROM {table} WHERE run_id = ?", [run]

    run = tables.get("segments")
    s, ps = ("SELECT CAST(customer_id AS VARCHAR) AS customer_id, segment FROM segments WHERE run_id = ? "
             "AND scheme = ?", [run, scheme]) if run is not None else \
        ("SELECT NULL::VARCHAR AS customer_id, NULL::VARCHAR AS segment LIMIT 0", [])
    f, pf = part("customer_features", "has_orders, frequency, monetary_total, monetary_net",
                 "NULL::BOOLEAN AS has_orders, NULL::DOUBLE AS frequency, NULL::DOUBLE AS monetary_total, "
                 "NULL::DOUBLE AS monetary_net")
    ch, pc = part("churn_scores", "probability", "NULL::DOUBLE AS probability")
    cl, pl = part("clv", "clv", "NULL::DOUBLE AS clv")
    sql = f"""
        WITH s AS ({s}), f AS ({f}), ch AS ({ch}), cl AS ({cl})
        SELECT s.segment, count(*) AS customers, count(*) FILTER (WHERE f.has_orders) AS buyers,
               coalesce(sum(f.monetary_net), 0) AS revenue,
               coalesce(sum(f.monetary_total) / nullif(sum(f.frequency), 0), 0) AS avg_order_value,
               coalesce(count(*) FILTER (WHERE f.has_orders AND f.frequency >= 2)
                        / nullif(count(*) FILTER (WHERE f.has_orders), 0), 0) AS repeat_rate,
               avg(ch.probability) AS churn_risk, avg(cl.clv) AS clv
        FROM s LEFT JOIN f USING (customer_id) LEFT JOIN ch USING (customer_id) LEFT JOIN cl USING (customer_id)
        GROUP BY 1 ORDER BY 2 DESC, 1"""
    return sql, [*ps, *pf, *pc, *pl]


def suppress_small(rows: list[dict], k_min: int) -> list[dict]:
    """Figures of a segment under ``k_min`` customers withheld (None; its size stays, as in every listing),
    flagged ``suppressed``; in place."""
    for r in rows:
        r["suppressed"] = bool(r["customers"] < k_min)
        if r["suppressed"]:
            r.update({k: None for k in FIGURES if k != "customers"})
    return rows


def segment_figures(ws, run: int | None, scheme: str, *, k_min: int | None = None) -> pd.DataFrame:
    """Per segment of ``scheme`` at ``run`` (default: the latest): customers, buyers, revenue (net of returns),
    average order value (sales / orders), repeat rate (buyers with 2+ orders / buyers), churn risk (mean churn
    probability of the scored customers) and CLV (mean predicted CLV); each table read at ``run`` or the latest
    earlier run that wrote it. A segment under ``k_min`` customers (default: ``privacy.dp.k_min`` of the
    run's config) has its figures withheld.

    Churn and CLV run after segments, so they are joined here (the read layer), not stored with the profiles.
    """
    from ..config import load_config

    run = run if run is not None else ws.latest_run_id()
    if run is None:
        raise ShopsegError("No finished run yet: there are no segments to describe.", hint="Run `shopseg run` first.")
    tables = {t: ws.source_run(t, run) for t in ("segments", "customer_features", "churn_scores", "clv")}
    sql, params = segment_figures_sql(tables, scheme)
    rows = ws.df(sql, params).to_dict(orient="records")
    if k_min is None:
        stored = ws.scalar("SELECT config FROM runs WHERE run_id = ?", [run])
        k_min = (json.loads(stored) if stored else load_config().as_dict())["privacy"]["dp"]["k_min"]
    return pd.DataFrame(suppress_small(rows, int(k_min)), columns=["segment", *FIGURES, "suppressed"])


def k_min_of(runs: dict) -> int:
    """``privacy.dp.k_min`` of the run's settings (a stored dict or a Config; the defaults' when it has none)."""
    cfg = runs.get("config") or {}
    if hasattr(cfg, "as_dict"):  # a Config (the service keeps the run's settings as one)
        cfg = cfg.as_dict()
    try:
        return int(cfg["privacy"]["dp"]["k_min"])
    except (KeyError, TypeError):
        from ..config import load_config

        return int(load_config()["privacy.dp.k_min"])


def segment_listing(con, runs: dict, scheme: str | None = None) -> list[dict]:
    """Sizes and names of every scheme's segments at the run of :func:`shopseg.views.read_runs` (``runs``), one
    ``{"scheme", "segments"}`` per scheme, largest segment first. With ``scheme``, that scheme's only, each
    segment with its profile (feature means, bounds, places...) and figures (:func:`segment_figures`), or a
    :class:`NotFoundError` naming the schemes there are. What ``shopseg segments``, ``GET /segments`` and the
    dashboard's overview list."""
    tabs = runs["tables"]
    schemes: dict[str, list[dict]] = {}
    only, args = ("", []) if scheme is None else (" AND scheme = ?", [scheme])
    figures: dict = {}
    if scheme is not None:  # per segment: revenue, AOV, repeat rate, churn risk, CLV (withheld under k_min)
        sql, params = segment_figures_sql(tabs, scheme)
        cols = ["segment", *FIGURES]
        rows = [dict(zip(cols, r)) for r in con.execute(sql, params).fetchall()]
        figures = {r.pop("segment"): r for r in suppress_small(rows, k_min_of(runs))}
    if tabs.get("segment_profiles") is not None:
        for sch, seg, name, n, share, prof in con.execute(
                "SELECT scheme, segment, name, n_customers, share, profile FROM segment_profiles WHERE run_id = ?"
                + only + " ORDER BY scheme, n_customers DESC, segment", [tabs["segment_profiles"], *args]).fetchall():
            schemes.setdefault(sch, []).append({
                "segment": seg, "name": name, "n_customers": int(n), "share": share,
                "profile": json.loads(prof) if scheme is not None and prof else None, "figures": figures.get(seg)})
    elif tabs.get("segments") is not None:
        for sch, seg, n, share in con.execute(
                "SELECT scheme, segment, count(*), count(*) / sum(count(*)) OVER (PARTITION BY scheme) "
                "FROM segments WHERE run_id = ?" + only + " GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2",
                [tabs["segments"], *args]).fetchall():
            schemes.setdefault(sch, []).append({"segment": seg, "name": None, "n_customers": int(n),
                                                "share": float(share), "profile": None, "figures": figures.get(seg)})
    if scheme is not None and not schemes:
        from ..errors import NotFoundError
        from ..segment._registry import names

        if tabs.get("segments") is None:
            raise NotFoundError(f"No segments of scheme {scheme!r} yet: no run has made them.",
                                hint="Run `shopseg run` (or `shopseg segment`) first, with the scheme in "
                                     "[segments] schemes.")
        stored = [r[0] for r in con.execute("SELECT DISTINCT scheme FROM segments WHERE run_id = ? ORDER BY 1",
                                            [tabs["segments"]]).fetchall()]
        there = f"Schemes there: {', '.join(stored) or '(none)'} (run {tabs['segments']})"
        if scheme not in names():
            raise NotFoundError(f"No segment scheme {scheme!r}. {there}; known schemes: {', '.join(names())}.",
                                hint="`shopseg schemes` lists them with what each one does.")
        raise NotFoundError(f"No scheme {scheme!r} in run {tabs['segments']}. {there}.",
                            hint="Add the scheme to [segments] schemes and run the pipeline.")
    return [{"scheme": s, "segments": v} for s, v in schemes.items()]


def segment_run(con, runs: dict, scheme: str, segment: str) -> int:
    """The run whose ``segments`` rows hold ``segment`` of ``scheme`` (a :class:`NotFoundError` when none does)."""
    from ..errors import NotFoundError

    srun = runs["tables"].get("segments")
    if srun is None:
        raise NotFoundError("No segments stored yet.", hint="Run the pipeline (`shopseg run`).")
    if not con.execute("SELECT count(*) FROM segments WHERE run_id = ? AND scheme = ? AND segment = ?",
                       [srun, scheme, segment]).fetchall()[0][0]:
        raise NotFoundError(f"No segment {segment!r} in scheme {scheme!r} in run {srun}.",
                            hint="GET /segments (or `shopseg segments --scheme ...`) lists the segments.")
    return srun


def members(con, runs: dict, scheme: str, segment: str, page: int = 1, size: int = 50) -> dict:
    """One page of a segment's customer ids (ordered by id): ``run_id``, ``scheme``, ``segment``, ``page``,
    ``size``, ``total`` and ``customer_ids``."""
    srun = segment_run(con, runs, scheme, segment)
    total = con.execute("SELECT count(*) FROM segments WHERE run_id = ? AND scheme = ? AND segment = ?",
                        [srun, scheme, segment]).fetchall()[0][0]
    ids = [r[0] for r in con.execute(
        "SELECT customer_id FROM segments WHERE run_id = ? AND scheme = ? AND segment = ? "
        "ORDER BY customer_id LIMIT ? OFFSET ?", [srun, scheme, segment, size, (page - 1) * size]).fetchall()]
    return {"run_id": srun, "scheme": scheme, "segment": segment, "page": page, "size": size, "total": int(total),
            "customer_ids": ids}
