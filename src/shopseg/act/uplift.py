"""Measured uplift: response rates of treatment and control, their difference with an interval, and ROI.

``measure(ws, run_id)`` reads a run's ``actions`` and the responses: a file
(``customer_id, responded, revenue``, optionally ``campaign``) or, by default,
the sale orders placed in the ``window_days`` after the run's as_of (a customer
responded when they ordered; revenue is the value of those orders, computed as
in the customer features).  Per campaign, per segment of the stratifying scheme
and per offer variant it reports:

* ``rate_treatment = responders_t / n_t`` and ``rate_control``;
* ``uplift = rate_treatment - rate_control`` with a ``confidence_level``
  interval: Newcombe's hybrid score interval (Newcombe 1998, "Interval
  estimation for the difference between independent proportions: comparison of
  eleven methods", method 10: built from the two Wilson score intervals), or the
  Wald interval ``d ± z sqrt(p1 q1 / n1 + p2 q2 / n2)`` (method 1) with
  ``ci_method = "wald"``;
* ``incremental_revenue = (mean revenue per treated - mean per control) x n_t``
  with a Welch normal interval;
* ``cost`` = treatment contact costs + incentives of treated responders, and
  ``roi = (incremental_revenue - cost) / cost``.

Variant rows compare one variant's treated customers with the campaign's whole
control group in that segment (the control is shared).  Output table
``uplift_reports`` (one run per measured action run: ``run_id`` is the run whose
actions were measured).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from .._exact import exact_sum
from ..config import Config, load_config
from ..errors import ConfigError, DataContractError, ShopsegError
from ..schema import check_columns

REPORT_COLUMNS = {
    "campaign": "Campaign measured.",
    "scheme": "Segment scheme of the segment column (act.stratify_by at planning).",
    "segment": "Segment (stratum), or 'all'.",
    "variant": "Offer variant, or 'all'.",
    "n_treatment": "Treated customers.",
    "n_control": "Control customers (shared by the variants).",
    "responders_treatment": "Treated customers who responded.",
    "responders_control": "Control customers who responded.",
    "rate_treatment": "responders_treatment / n_treatment.",
    "rate_control": "responders_control / n_control.",
    "uplift": "rate_treatment - rate_control.",
    "uplift_low": "Lower end of the interval of the uplift.",
    "uplift_high": "Upper end of the interval of the uplift.",
    "ci_method": "newcombe or wald.",
    "confidence_level": "Confidence level of the intervals.",
    "revenue_treatment": "Revenue of the treated customers in the window.",
    "revenue_control": "Revenue of the control customers in the window.",
    "incremental_revenue": "(revenue per treated - revenue per control) x n_treatment.",
    "incremental_revenue_low": "Lower end of its interval (Welch, normal).",
    "incremental_revenue_high": "Upper end of its interval.",
    "cost": "Contact costs of the treated plus incentives of treated responders.",
    "roi": "(incremental_revenue - cost) / cost; NULL when cost is 0.",
    "window_days": "Days after as_of in which responses were counted.",
    "source": "'orders' or the responses file's name.",
}


def wilson_interval(x, n, confidence: float = 0.95):
    """Wilson score interval of a proportion x/n (no continuity correction); arrays welcome."""
    x = np.asarray(x, float)
    n = np.asarray(n, float)
    z = norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        den = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return centre - half, centre + half


def newcombe_interval(x1, n1, x2, n2, confidence: float = 0.95):
    """Newcombe's hybrid score interval (method 10) for p1 - p2.

    >>> lo, hi = newcombe_interval(56, 70, 48, 80)   # Newcombe (1998), example (a)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.0524, 0.3339)
    """
    p1 = np.asarray(x1, float) / np.asarray(n1, float)
    p2 = np.asarray(x2, float) / np.asarray(n2, float)
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    d = p1 - p2
    return d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def wald_interval(x1, n1, x2, n2, confidence: float = 0.95):
    """Wald interval for p1 - p2: d ± z sqrt(p1 q1 / n1 + p2 q2 / n2).

    >>> lo, hi = wald_interval(56, 70, 48, 80)   # Newcombe (1998), example (a), method 1
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.0575, 0.3425)
    """
    n1 = np.asarray(n1, float)
    n2 = np.asarray(n2, float)
    p1 = np.asarray(x1, float) / n1
    p2 = np.asarray(x2, float) / n2
    z = norm.ppf(0.5 + confidence / 2)
    se = np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return p1 - p2 - z * se, p1 - p2 + z * se


def _responses_from_file(path) -> pd.DataFrame:
    p = Path(path)
    if not p.exists():
        raise DataContractError(f"Responses file {p} does not exist.")
    df = pd.read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else pd.read_csv(p, dtype={"customer_id": str})
    check_columns("responses", df.columns, ["customer_id", "responded"], source=str(p))
    return df


def _clean_responses(df: pd.DataFrame, source: str) -> pd.DataFrame:
    check_columns("responses", df.columns, ["customer_id", "responded"], source=source)
    out = pd.DataFrame({"customer_id": df["customer_id"].astype(str)})
    r = df["responded"]
    if r.dtype == object or str(r.dtype) in ("string", "str"):
        low = r.astype(str).str.strip().str.lower()
        ok = low.isin(["1", "0", "true", "false", "yes", "no", "1.0", "0.0"])
        if not ok.all():
            raise DataContractError(f"responses in {source}: column 'responded' must be true/false or 1/0; "
                                    f"got {r[~ok].iloc[0]!r}.")
        out["responded"] = low.isin(["1", "true", "yes", "1.0"]).to_numpy()
    else:
        vals = pd.to_numeric(r, errors="coerce")
        if vals.isna().any() or not vals.isin([0, 1]).all():
            raise DataContractError(f"responses in {source}: column 'responded' must be true/false or 1/0.")
        out["responded"] = vals.astype(bool).to_numpy()
    out["revenue"] = pd.to_numeric(df["revenue"], errors="coerce").fillna(0.0).to_numpy() \
        if "revenue" in df.columns else 0.0
    if "campaign" in df.columns:
        out["campaign"] = df["campaign"].astype(str).to_numpy()
    return out


def _responses_from_orders(ws, run_id: int, as_of, window_days: int) -> pd.DataFrame:
    return ws.df(f"""
        WITH ov AS (
            SELECT o.order_id, o.customer_id,
                   {exact_sum("ol.quantity * ol.unit_price - coalesce(ol.discount_amount, 0)")}
                     - any_value(coalesce(o.discount_amount, 0)) AS value
            FROM orders o JOIN order_lines ol USING (order_id)
            WHERE o.kind = 'sale' AND o.customer_id IS NOT NULL
              AND o.ordered_at > CAST(? AS TIMESTAMP)
              AND o.ordered_at <= CAST(? AS TIMESTAMP) + to_days(CAST(? AS INTEGER))
              AND o.customer_id IN (SELECT customer_id FROM actions WHERE run_id = ?)
            GROUP BY o.order_id, o.customer_id)
        SELECT customer_id, TRUE AS responded, {exact_sum("value")} AS revenue FROM ov GROUP BY customer_id
    """, [as_of, as_of, int(window_days), int(run_id)])


def customer_outcomes(ws, run_id: int, responses=None, window_days: int | None = None, *,
                      config: Config | None = None) -> tuple[pd.DataFrame, str, int]:
    """(one row per action of the run with responded and revenue, source, window_days)."""
    cfg = config if config is not None else load_config()
    window = int(window_days if window_days is not None else cfg["act.response_window_days"])
    if window < 1:
        raise ConfigError(f"The 'window_days' parameter of measure must be an int of at least 1. Got {window!r} instead.")
    acts = ws.df("""SELECT customer_id, campaign, variant, "group", stratum, contact_cost, incentive
                    FROM actions WHERE run_id = ?""", [run_id])
    if not len(acts):
        raise ShopsegError(f"Run {run_id} has no actions to measure.", hint="Plan actions with `shopseg run` first.")
    as_of = ws.scalar("SELECT as_of FROM runs WHERE run_id = ?", [run_id])
    if responses is None:
        if as_of is None:
            raise ShopsegError(f"Run {run_id} is not in the runs table, so its as_of is unknown.")
        last = ws.scalar("SELECT max(ordered_at) FROM orders")
        if last is None or last <= as_of:
            raise ShopsegError(
                f"No order after run {run_id}'s as_of ({as_of:%Y-%m-%d}) is in the workspace yet, so there is "
                "nothing to measure.",
                hint="Ingest the orders of the response window first, or pass a responses file (--responses).")
        resp = _responses_from_orders(ws, run_id, as_of, window)
        source = "orders"
        if last is not None and last < pd.Timestamp(as_of) + pd.Timedelta(days=window):
            source = f"orders (partial window: orders end {last:%Y-%m-%d})"
    else:
        if isinstance(responses, pd.DataFrame):
            source = "frame"
            raw = responses
        else:
            source = Path(responses).name
            raw = _responses_from_file(responses)
        resp = _clean_responses(raw, source)
        if resp["customer_id"].duplicated().any() and "campaign" not in resp.columns:
            raise DataContractError(f"responses in {source}: customer_id {resp['customer_id'][resp['customer_id'].duplicated()].iloc[0]!r} "
                                    "appears twice; give one row per customer (or a campaign column).")
    key = ["customer_id", "campaign"] if "campaign" in resp.columns else ["customer_id"]
    out = acts.merge(resp[key + ["responded", "revenue"]], on=key, how="left")
    out["responded"] = out["responded"].astype("boolean").fillna(False).astype(bool)
    out["revenue"] = out["revenue"].astype(float).fillna(0.0)
    return out, source, window


def measure(ws, run_id: int | None = None, responses=None, window_days: int | None = None, *,
            config: Config | None = None, write: bool = True) -> pd.DataFrame:
    """Uplift of run ``run_id``'s campaigns (the latest run with actions by default); see the module docstring.

    ``responses``: None (orders after as_of within ``window_days``), a CSV / Parquet path or a
    DataFrame with ``customer_id, responded[, revenue][, campaign]``.  Writes ``uplift_reports``.
    """
    cfg = config if config is not None else load_config()
    if not ws.has_table("actions"):
        raise ShopsegError("No actions in the workspace yet.", hint="Run `shopseg run` (stage act) first.")
    if run_id is None:
        run_id = ws.scalar("SELECT max(run_id) FROM actions")
    out, source, window = customer_outcomes(ws, run_id, responses, window_days, config=cfg)
    conf = float(cfg["act.confidence_level"])
    method = cfg["act.ci_method"]
    scheme = cfg["act.stratify_by"]
    stored = ws.df("SELECT config FROM runs WHERE run_id = ?", [run_id])
    if len(stored) and stored["config"].iloc[0]:
        import json

        scheme = json.loads(stored["config"].iloc[0]).get("act", {}).get("stratify_by", scheme)
    report = uplift_table(out, confidence=conf, method=method)
    report.insert(1, "scheme", scheme)
    report["window_days"] = window
    report["source"] = source
    if write:
        ws.con.execute("SELECT 1").fetchall()
        ws.con.register("_uplift_out", report)
        try:
            ws.write_output("uplift_reports", int(run_id), "SELECT * FROM _uplift_out")
        finally:
            ws.con.unregister("_uplift_out")
    return report


def uplift_table(outcomes: pd.DataFrame, *, confidence: float = 0.95, method: str = "newcombe") -> pd.DataFrame:
    """The report rows from per-customer outcomes (campaign, variant, group, stratum, contact_cost,
    incentive, responded, revenue): per campaign x (all segments + each) x (all variants + each)."""
    if method not in ("newcombe", "wald"):
        raise ConfigError(f"The 'ci_method' setting must be one of 'newcombe', 'wald'. Got {method!r} instead.")
    o = outcomes.copy()
    o["treated"] = o["group"] == "treatment"
    o["cost_row"] = np.where(o["treated"], o["contact_cost"] + np.where(o["responded"], o["incentive"], 0.0), 0.0)
    o["rev2"] = o["revenue"] ** 2
    frames = []
    for seg_all in (True, False):
        for var_all in (True, False):
            t = o[o["treated"]].assign(segment="all" if seg_all else o["stratum"],
                                       variant="all" if var_all else o["variant"])
            c = o[~o["treated"]].assign(segment="all" if seg_all else o["stratum"])
            gt = t.groupby(["campaign", "segment", "variant"]).agg(
                n_treatment=("responded", "size"), responders_treatment=("responded", "sum"),
                revenue_treatment=("revenue", "sum"), rev2_t=("rev2", "sum"), cost=("cost_row", "sum")).reset_index()
            gc = c.groupby(["campaign", "segment"]).agg(
                n_control=("responded", "size"), responders_control=("responded", "sum"),
                revenue_control=("revenue", "sum"), rev2_c=("rev2", "sum")).reset_index()
            frames.append(gt.merge(gc, on=["campaign", "segment"], how="left"))
    r = pd.concat(frames, ignore_index=True)
    for col in ("n_control", "responders_control", "revenue_control", "rev2_c"):
        r[col] = r[col].fillna(0)
    nt, nc = r["n_treatment"].to_numpy(float), r["n_control"].to_numpy(float)
    xt, xc = r["responders_treatment"].to_numpy(float), r["responders_control"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        r["rate_treatment"] = xt / nt
        r["rate_control"] = np.where(nc > 0, xc / np.where(nc > 0, nc, 1), np.nan)
        r["uplift"] = r["rate_treatment"] - r["rate_control"]
        fn = newcombe_interval if method == "newcombe" else wald_interval
        lo, hi = fn(xt, nt, xc, np.where(nc > 0, nc, np.nan), confidence)
        r["uplift_low"], r["uplift_high"] = lo, hi
        mt = r["revenue_treatment"].to_numpy(float) / nt
        mc = np.where(nc > 0, r["revenue_control"].to_numpy(float) / np.where(nc > 0, nc, 1), np.nan)
        vt = np.where(nt > 1, (r["rev2_t"].to_numpy(float) - nt * mt ** 2) / np.maximum(nt - 1, 1), 0.0)
        vc = np.where(nc > 1, (r["rev2_c"].to_numpy(float) - nc * mc ** 2) / np.maximum(nc - 1, 1), 0.0)
        z = norm.ppf(0.5 + confidence / 2)
        se = np.sqrt(np.maximum(vt, 0) / nt + np.maximum(vc, 0) / np.where(nc > 0, nc, np.nan)) * nt
        inc = (mt - mc) * nt
        r["incremental_revenue"] = inc
        r["incremental_revenue_low"] = inc - z * se
        r["incremental_revenue_high"] = inc + z * se
        cost = r["cost"].to_numpy(float)
        r["roi"] = np.where(cost > 0, (inc - cost) / np.where(cost > 0, cost, 1), np.nan)
    r["ci_method"] = method
    r["confidence_level"] = confidence
    for c in ("n_treatment", "n_control", "responders_treatment", "responders_control"):
        r[c] = r[c].astype("int64")
    r = r.sort_values(["campaign", "segment", "variant"], key=lambda s: s.map(lambda v: (v != "all", v)))
    cols = [c for c in REPORT_COLUMNS if c in r.columns]
    return r[cols].reset_index(drop=True)
