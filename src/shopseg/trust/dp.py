"""Differentially private segment statistics and the shareable report built from them.

What is released, per segment scheme (``privacy.dp.schemes``): each segment's size and
the mean of each feature of ``privacy.dp.features`` over its customers.  Neighbouring
workspaces differ by one customer (added or removed).  A customer belongs to exactly one
segment of a scheme, so per scheme:

- the vector of segment sizes has L1 sensitivity 1: discrete Laplace noise of scale
  ``1 / eps_q`` on each size (OpenDP ``make_laplace`` over integers);
- the vector of per-segment sums of a feature, each value first clamped to the public
  bounds ``[lo, hi]`` of ``privacy.dp.bounds``, has L1 sensitivity ``max(|lo|, |hi|)``:
  Laplace noise of scale ``max(|lo|, |hi|) / eps_q`` (OpenDP ``make_laplace`` over floats,
  non-NaN domain);
- a mean is the noisy sum over the noisy size, clamped back to ``[lo, hi]``
  (post-processing: no extra privacy loss).

A release of ``S`` schemes and ``F`` features makes ``S x (1 + F)`` queries, and the total
``epsilon`` is split evenly: ``eps_q = epsilon / (S (1 + F))``; by basic sequential
composition the release is ``epsilon``-DP (Dwork, McSherry, Nissim & Smith 2006, "Calibrating
noise to sensitivity in private data analysis").  The epsilon recorded per query in
``privacy_budget_log.queries`` is what OpenDP's privacy map returns for the declared
sensitivity, and the row's ``epsilon`` is their sum.  A release that would take the
workspace's total past ``privacy.max_epsilon_total`` is refused.

Segments whose *noisy* size is under ``privacy.dp.k_min`` are suppressed (thresholding a
noisy count is post-processing, thresholding the true one would leak).

Caveats, also in ``docs/security.md``: the segment labels of a scheme are taken as public
(they come from the config, except cluster numbers); the noise is drawn by OpenDP from the
operating system's entropy, on purpose not from a seed, so a release cannot be replayed to
average the noise away; the bounds must come from domain knowledge, not from the data.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Config, load_config
from ..errors import ConfigError, ShopsegError

RELEASE_KINDS = ("segment_stats", "shareable_report")


def _dp():
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def laplace_counts(counts, epsilon: float) -> tuple[list[int], float, float]:
    """Release integer ``counts`` (L1 sensitivity 1) with discrete Laplace noise of scale ``1/epsilon``.

    Returns the noisy counts, the scale and the epsilon OpenDP's privacy map gives for sensitivity 1.
    """
    dp = _dp()
    scale = 1.0 / epsilon
    meas = dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=scale)
    return list(meas([int(c) for c in counts])), scale, float(meas.map(1))


def laplace_sums(sums, sensitivity: float, epsilon: float) -> tuple[list[float], float, float]:
    """Release float ``sums`` of L1 sensitivity ``sensitivity`` with Laplace noise of scale ``sensitivity/epsilon``.

    Returns the noisy sums, the scale and the epsilon OpenDP's privacy map gives for ``sensitivity``.
    """
    dp = _dp()
    scale = sensitivity / epsilon
    meas = dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float),
                             scale=scale)
    return list(meas([float(s) for s in sums])), scale, float(meas.map(float(sensitivity)))


@dataclass
class DPRelease:
    """One differentially private release of segment statistics."""

    release_id: int | None
    run_id: int
    epsilon: float
    k_min: int
    table: pd.DataFrame  # released segments: scheme, segment, n_customers, mean_<feature>...
    suppressed: dict[str, int]  # scheme -> segments suppressed
    queries: list[dict] = field(default_factory=list)
    bounds: dict[str, list[float]] = field(default_factory=dict)


def epsilon_spent(ws) -> float:
    """Total epsilon of every release recorded in ``privacy_budget_log``."""
    return float(ws.scalar("SELECT coalesce(sum(epsilon), 0) FROM privacy_budget_log") or 0.0)


def dp_segment_stats(ws, run_id: int | None = None, *, epsilon: float | None = None, k_min: int | None = None,
                     config: Config | None = None, kind: str = "segment_stats", record: bool = True,
                     path: str | None = None) -> DPRelease:
    """Differentially private sizes and feature means of the segments of run ``run_id`` (see module docstring).

    ``record`` writes the release to ``privacy_budget_log`` (leave it on for anything that leaves the shop).
    """
    cfg = config if config is not None else load_config()
    eps = float(epsilon if epsilon is not None else cfg["privacy.dp.epsilon"])
    k = int(k_min if k_min is not None else cfg["privacy.dp.k_min"])
    if not eps > 0 or not np.isfinite(eps):
        raise ConfigError(f"The 'epsilon' of a private release must be a number in (0, inf). Got {epsilon!r} instead.")
    if k < 0:
        raise ConfigError(f"The 'k_min' of a private release must be an int in [0, inf). Got {k_min!r} instead.")
    if kind not in RELEASE_KINDS:
        raise ConfigError(f"The 'kind' of a private release must be one of {', '.join(RELEASE_KINDS)}. "
                          f"Got {kind!r} instead.")
    if run_id is None:
        run_id = ws.scalar("SELECT max(run_id) FROM segments") if ws.has_table("segments") else None
    if run_id is None or not ws.has_table("customer_features"):
        raise ShopsegError("No segments to release: the workspace has no run with segments.",
                           hint="Run `shopseg run` first.")
    present = {r[0] for r in ws.sql("SELECT DISTINCT scheme FROM segments WHERE run_id = ?", [run_id])}
    schemes = [s for s in cfg["privacy.dp.schemes"] if s in present]
    if not schemes:
        raise ShopsegError(f"Run {run_id} has none of the schemes privacy.dp.schemes names "
                           f"({', '.join(cfg['privacy.dp.schemes'])}); "
                           f"it has: {', '.join(sorted(present)) or '(none)'}.")
    features = list(cfg["privacy.dp.features"])
    bounds = cfg["privacy.dp.bounds"]
    have = set(ws.columns("customer_features"))
    for f in features:
        if f not in have:
            raise ConfigError(f"privacy.dp.features names {f!r}, which is not a column of customer_features; "
                              f"expected one of {', '.join(sorted(have - {'run_id', 'customer_id'}))}.")
        if f not in bounds:
            raise ConfigError(f"privacy.dp.features names {f!r} but privacy.dp.bounds gives no [lo, hi] for it.",
                              hint=f"Add `{f} = [lo, hi]` under [privacy.dp.bounds], from domain knowledge.")
    n_queries = len(schemes) * (1 + len(features))
    eps_q = eps / n_queries
    cap = float(cfg["privacy.max_epsilon_total"])
    spent = epsilon_spent(ws)
    if spent + eps > cap + 1e-12:
        raise ShopsegError(f"This release would spend epsilon {eps:g}, and the workspace has spent {spent:g} of its "
                           f"privacy.max_epsilon_total = {cap:g}; nothing was released.",
                           hint="Reuse an earlier release, or raise privacy.max_epsilon_total knowingly.")

    sums = ", ".join(f"sum(greatest(least(coalesce(CAST(f.\"{x}\" AS DOUBLE), {float(bounds[x][0])!r}), "
                     f"{float(bounds[x][1])!r}), {float(bounds[x][0])!r})) AS \"sum_{x}\"" for x in features)
    rows, queries, suppressed = [], [], {}
    for scheme in schemes:
        df = ws.df(f"SELECT s.segment, count(*) AS n{', ' + sums if sums else ''} FROM segments s "
                   "JOIN customer_features f ON f.run_id = s.run_id AND f.customer_id = s.customer_id "
                   "WHERE s.run_id = ? AND s.scheme = ? GROUP BY 1 ORDER BY 1", [run_id, scheme])
        noisy_n, scale, e = laplace_counts(df["n"].tolist(), eps_q)
        queries.append({"scheme": scheme, "statistic": "count", "sensitivity": 1.0, "scale": scale, "epsilon": e})
        out = pd.DataFrame({"scheme": scheme, "segment": df["segment"].astype(str), "n_customers": noisy_n})
        for x in features:
            lo, hi = (float(b) for b in bounds[x])
            sens = max(abs(lo), abs(hi))
            noisy_s, scale, e = laplace_sums(df[f"sum_{x}"].astype(float).tolist(), sens, eps_q)
            queries.append({"scheme": scheme, "statistic": f"sum({x})", "sensitivity": sens, "scale": scale,
                            "epsilon": e, "bounds": [lo, hi]})
            out[f"mean_{x}"] = np.clip(np.asarray(noisy_s) / np.maximum(out["n_customers"].to_numpy(), 1), lo, hi)
        keep = out["n_customers"] >= max(k, 1)
        suppressed[scheme] = int((~keep).sum())
        rows.append(out[keep])
    table = pd.concat(rows, ignore_index=True)
    total = float(sum(q["epsilon"] for q in queries))
    release_id = None
    if record:
        release_id = ws.next_id("privacy_budget_log", "release_id")
        ws.con.execute("INSERT INTO privacy_budget_log VALUES "
                       "(?, ?, ?, 'laplace', ?, ?, ?, ?, ?, ?, current_timestamp)",
                       [release_id, run_id, kind, total, json.dumps(queries), k, len(table),
                        sum(suppressed.values()), path])
    return DPRelease(release_id=release_id, run_id=int(run_id), epsilon=total, k_min=k, table=table,
                     suppressed=suppressed, queries=queries, bounds={x: list(bounds[x]) for x in features})


def build_shareable_report(ws, run_id: int | None = None, path: str | Path | None = None, *,
                           epsilon: float | None = None, k_min: int | None = None,
                           config: Config | None = None) -> Path:
    """Write the shareable report of run ``run_id``: only differentially private segment statistics.

    No customer id, no PII and no exact figure appears in it; the release is recorded in
    ``privacy_budget_log`` (kind ``shareable_report``).  Returns the path written.
    """
    from ..report._build import Section, table_html, write_page
    from ..report._units import shop_currency

    if run_id is None:
        run_id = ws.scalar("SELECT max(run_id) FROM segments") if ws.has_table("segments") else None
    out = Path(path) if path is not None else ws.reports_dir / f"report-run{run_id}-shareable.html"
    rel = dp_segment_stats(ws, run_id, epsilon=epsilon, k_min=k_min, config=config, kind="shareable_report",
                           path=str(out))
    run = dict(zip(["run_id", "as_of", "seed", "config_hash", "status"], ws.con.execute(
        "SELECT run_id, as_of, seed, coalesce(config_hash, ''), status FROM runs WHERE run_id = ?",
        [rel.run_id]).fetchall()[0]))
    n_q = len(rel.queries)
    bounds = ", ".join(f"{html.escape(x)} in [{b[0]:g}, {b[1]:g}]" for x, b in rel.bounds.items())
    about = (f"<p>Every figure below carries calibrated random noise (Laplace mechanism, OpenDP): the whole report "
             f"is {rel.epsilon:g}-differentially private (epsilon split over {n_q} queries, "
             f"{rel.epsilon / n_q:.4g} each). A segment size is off by about {1 / (rel.epsilon / n_q):.3g} customers "
             f"on average; means are clamped to public bounds ({bounds}) before noise. Segments with a noisy size "
             f"under {rel.k_min} customers are not shown. Release {rel.release_id} in privacy_budget_log.</p>")
    sections = [Section(id="privacy", title="About these figures", takeaway="Differentially private release.",
                        html=about)]
    for scheme in rel.suppressed:
        part = rel.table[rel.table["scheme"] == scheme].drop(columns=["scheme"])
        part = part.sort_values("n_customers", ascending=False)
        n_sup = rel.suppressed[scheme]
        top = part.iloc[0] if len(part) else None
        take = (f"Largest segment: {top['segment']} (about {int(top['n_customers']):,} customers)."
                if top is not None else "Every segment is under the size threshold.")
        if n_sup:
            take += f" {n_sup} segment(s) under {rel.k_min} customers suppressed."
        sections.append(Section(id=f"dp-{scheme}", title=f"Segments: {scheme}", takeaway=take,
                                html=table_html(part, max_rows=100, floatfmt="{:,.1f}")))
    return write_page(out, title=f"shopseg shareable report (differentially private, epsilon = {rel.epsilon:g}), "
                      f"as of {run['as_of']:%Y-%m-%d}", sections=sections, run=run, as_of=run["as_of"],
                      workspace="(not shown)", currency=shop_currency(ws, (config or load_config())["shop.currency"]))
