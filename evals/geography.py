"""Geography and buyer type on the real shops (issue #24 items 1 and 4): the figures in docs/segments.md.

For Online Retail (preset online-retail, as of 2011-12-09) and Olist (preset olist, as of its last order):
ingest into a temporary workspace, run the clv, segments and churn stages with the schemes
rfm, value_tier, geo and buyer_type, then print

* the geo segments with their figures (customers, revenue, AOV, repeat rate, churn risk, mean CLV) as a table;
* Online Retail: the report's revenue by delivery country against ``SELECT Country, sum(Quantity*UnitPrice)``
  on the raw file for the same rows (exact duplicate rows counted once, as ingest does; the "A" bad-debt
  adjustment invoices left out, as the report leaves adjustments out) and the largest difference;
* the buyer_type rule (split or the reason for none), and the share of trade-size buyers (median units per
  line of 6 or more);
* "Champions are x% <top place>": the geo dimension of the RFM profile.

    python evals/geography.py [DATA_DIR] [--only online-retail,olist]     # DATA_DIR defaults to ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import duckdb
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from shopseg import ingest, load_config, open_workspace  # noqa: E402
from shopseg.pipeline import run_pipeline  # noqa: E402
from shopseg.report._build import ReportContext  # noqa: E402
from shopseg.report._geo import revenue_by_country  # noqa: E402
from shopseg.segment.schemes.buyer_type import units_per_line  # noqa: E402
from shopseg.views import segment_figures  # noqa: E402

SHOPS = {"online-retail": ("online_retail/online_retail.parquet", "online-retail", "2011-12-09"),
         "olist": ("olist", "olist", None)}


def shop_report(name: str, data: Path, work: Path) -> str:
    rel, preset, as_of = SHOPS[name]
    src = data / rel
    if not src.exists():
        return f"## {name}\n\nnot found at {src}; skipped.\n"
    ws = open_workspace(work / name)
    t0 = time.perf_counter()
    ingest(ws, str(src), preset=preset)
    cfg = load_config(overrides={"segments": {"schemes": ["rfm", "value_tier", "geo", "buyer_type"]}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_pipeline(ws, as_of, config=cfg, stages=["clv", "segments", "churn"])
    secs = time.perf_counter() - t0
    rid = res.run_id
    out = [f"## {name} (as of {res.as_of:%Y-%m-%d}, ingest + clv, segments, churn in {secs:.0f} s)", ""]
    prof = ws.df("SELECT segment, name, profile FROM segment_profiles WHERE run_id = ? AND scheme = 'geo'", [rid])
    first = json.loads(prof.profile.iloc[0])
    other = [json.loads(p).get("places", []) for s, p in zip(prof.segment, prof.profile) if s == "Other"]
    out.append(f"geo level: {first['level']}" + (f" within {first['home_country']}" if first["home_country"] else "")
               + f"; k_min {first['k_min']}; {len(prof)} segments; Other groups {len(other[0]) if other else 0} "
               f"places: {', '.join(other[0]) if other else '-'}")
    n_places = ws.scalar("SELECT count(DISTINCT coalesce(region, country)) FROM customers")
    out += [f"distinct places in the customer table: {n_places}", "",
            "| place | customers | revenue | AOV | repeat rate | churn risk | mean CLV |", "|---|---|---|---|---|---|---|"]
    names = dict(zip(prof.segment, prof.name))
    for r in segment_figures(ws, rid, "geo").itertuples():
        out.append(f"| {names.get(r.segment, r.segment)} | {r.customers:,} | {r.revenue:,.0f} | {r.avg_order_value:,.2f} | "
                   f"{r.repeat_rate:.1%} | {r.churn_risk:.1%} | {r.clv:,.2f} |")
    if name == "online-retail":
        ctx = ReportContext(ws=ws, run_id=rid, as_of=res.as_of)
        ours = revenue_by_country(ctx).set_index("country")["revenue"]
        raw = duckdb.sql(f"""
            SELECT Country, sum(Quantity * UnitPrice) AS revenue
            FROM (SELECT DISTINCT * FROM read_parquet('{src}'))
            WHERE InvoiceDate <= TIMESTAMP '{res.as_of:%Y-%m-%d %H:%M:%S.%f}' AND NOT starts_with(upper(InvoiceNo), 'A')
            GROUP BY 1""").df().set_index("Country")["revenue"]
        diff = (raw - ours.reindex(raw.index)).abs()
        out += ["", f"revenue by delivery country: report {len(ours)} countries, raw file {len(raw)}; "
                    f"largest absolute difference {diff.max():.2e} ({diff.idxmax()}); total {ours.sum():,.2f} vs "
                    f"{raw.sum():,.2f}"]
    bt = json.loads(ws.scalar("SELECT profile FROM segment_profiles WHERE run_id = ? AND scheme = 'buyer_type' "
                              "AND segment <> 'Prospect' LIMIT 1", [rid]))["rule"]
    v = units_per_line(ws, res.as_of, ws.df("SELECT customer_id FROM customers")["customer_id"])
    v = v[np.isfinite(v)]
    out += ["", "buyer_type: " + json.dumps(bt),
            f"buyers with a median of 6+ units per line: {np.mean(v >= 6):.1%} of {len(v):,}; median of the "
            f"statistic {np.median(v):g}"]
    champ = ws.scalar("SELECT profile FROM segment_profiles WHERE run_id = ? AND scheme = 'rfm' "
                      "AND segment = 'Champions'", [rid])
    if champ:
        top = json.loads(champ)["by_geo"][0]
        out.append(f"Champions are {top['share']:.0%} {names.get(top['segment'], top['segment'])}")
    ws.close()
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", nargs="?", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--only", default=",".join(SHOPS))
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shopseg-geo-") as tmp:
        for name in a.only.split(","):
            print(shop_report(name, Path(a.data_dir), Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
