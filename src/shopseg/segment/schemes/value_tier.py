"""Value tiers: high / mid / low buyers by predicted CLV of the run (or by money spent)."""

from __future__ import annotations

from ...params import Interval, Options
from .._registry import Scheme, SchemeContext, SchemeResult
from ..value import clv_scores, value_tiers


def compute(ctx: SchemeContext) -> SchemeResult:
    ws, cfg, run_id = ctx.ws, ctx.config, ctx.run_id
    basis = cfg["segments.value.basis"]
    if basis == "auto":  # predicted value when this run has it, else the money spent so far
        basis = "clv" if ws.has_table("clv") and ws.scalar(
            "SELECT count(*) FROM clv WHERE run_id = ?", [run_id]) else "monetary_net"
    scores = clv_scores(ws, run_id, cfg) if basis == "clv" else None
    vt = value_tiers(ctx.features, cfg, scores=scores)
    bounds = vt.groupby("tier")["value"].agg(["min", "max"])
    extras = {t: {"value_min": float(r["min"]), "value_max": float(r["max"]), "basis": basis,
                  **({"note": vt.attrs["note"]} if "note" in vt.attrs else {})} for t, r in bounds.iterrows()}
    return SchemeResult(vt["tier"].to_numpy(), extras=extras, state={"basis": basis})


SCHEME = Scheme("value_tier", "High, mid or low value among buyers: predicted CLV of the run, else money spent.",
                compute, spark=True, section="value",
                parameters={"high_share": Interval(float, 0, 1), "mid_share": Interval(float, 0, 1),
                            "basis": Options("auto", "monetary_net", "clv")})
