"""The schemes a Spark run does not compute on Spark (geo, interest, age_band, gender, buyer_type, plug-ins).

The Spark engine computes the behavioural schemes (rfm, lifecycle, value_tier, cluster: registry entries with
``spark=True``) over the exported tables. The others read the shop's own tables (customers' places and birth
dates, orders' countries, products' categories, events), which are small next to the lines, and the workspace
keeps them: once the Spark run's outputs are stored, each of those schemes runs its own DuckDB code on the run's
stored customer features (the same :func:`shopseg.segment.stage.compute_schemes` loop as a DuckDB run), so a
Spark run's geo, interest and demographic segments are a DuckDB run's, not a second implementation. The run's
``segments`` and ``segment_profiles`` are then rewritten with every scheme, and every profile (the Spark
schemes' too) gets the dimension schemes' shares (``by_geo``: "Champions are 91% UK"); ``customer_interests``
is written when the interest scheme ran. Schemes skipped for want of data (no birth dates) are reported in the
step's notes, as the DuckDB run's summary does.
"""

from __future__ import annotations

import pandas as pd


def duckdb_schemes(ws, run_id: int, as_of, config) -> dict:
    """Compute, on the stored Spark run ``run_id``, the configured schemes Spark did not; store them (see the
    module doc). Returns the step's notes: the schemes computed and those skipped with why."""
    from ..segment._registry import SchemeContext
    from ..segment._registry import get as get_scheme
    from ..segment.stage import _write, _write_tables, compute_schemes

    names = [n for n in config["segments.schemes"] if not get_scheme(n).spark]
    if not names:
        return {"schemes": []}
    feats = ws.df("SELECT * EXCLUDE (run_id) FROM customer_features WHERE run_id = ? ORDER BY customer_id",
                  [run_id])
    stored = ws.df("SELECT customer_id, scheme, segment FROM segments WHERE run_id = ?", [run_id])
    wide = stored.pivot(index="customer_id", columns="scheme", values="segment").reindex(
        feats["customer_id"]).reset_index()
    wide.columns.name = None
    prof = ws.df("SELECT scheme, segment, name, n_customers, share, profile FROM segment_profiles "
                 "WHERE run_id = ? ORDER BY scheme, n_customers DESC, segment", [run_id])
    order = [n for n in config["segments.schemes"] if n in set(prof["scheme"])]
    profiles = {n: prof.loc[prof["scheme"] == n].reset_index(drop=True) for n in order}
    ctx = SchemeContext(ws, run_id, pd.Timestamp(as_of), config, feats)
    compute_schemes(ctx, names, wide, profiles)
    ordered = [profiles[n] for n in config["segments.schemes"] if n in profiles]
    _write(ws, run_id, wide, pd.concat(ordered, ignore_index=True), None)
    _write_tables(ws, run_id, {k: v for res in ctx.done.values() for k, v in res.tables.items()})
    skipped = {k: v for res in ctx.done.values() for k, v in res.state.get("skipped", {}).items()}
    return {"schemes": [n for n in names if n in profiles], **({"skipped": skipped} if skipped else {})}
