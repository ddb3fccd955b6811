"""CLV against the planted truth of the generated demo shop.

``shopseg.synth`` simulates purchases from a BG/NBD process with known per-customer
parameters and also simulates the year after ``as_of``; its ``ground_truth`` table keeps
what each customer really did then.  This fits the ``clv`` table on the history only
(no discounting, so values compare with the future revenue) and measures:

- total expected vs actual orders in the horizon, and their per-customer correlation;
- how well ``p_alive`` separates customers alive at as_of from those who dropped out (AUC);
- total CLV vs actual future revenue, and their correlation.

    python evals/synth_clv.py [CUSTOMERS]      # default 20,000 (about a minute here)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from shopseg.predict import clv_table
from shopseg.synth import synthesize
from shopseg.workspace import Workspace

AS_OF = "2024-12-31"
HORIZON_DAYS = 365


def main(customers: int = 20_000) -> str:
    with tempfile.TemporaryDirectory() as tmp, Workspace.open(Path(tmp) / "ws") as ws:
        synthesize(ws, customers=customers, seed=42, as_of=AS_OF, horizon_days=HORIZON_DAYS)
        t = time.perf_counter()
        res = clv_table(ws, 1, AS_OF, horizon_days=HORIZON_DAYS, discount_rate_annual=0.0, save_models=False)
        seconds = time.perf_counter() - t
        d = ws.df("SELECT c.*, g.future_orders, g.future_revenue, g.alive_at_as_of, g.persona "
                  "FROM clv c JOIN ground_truth g USING (customer_id) WHERE c.run_id = 1")
    auc = roc_auc_score(d.alive_at_as_of, d.p_alive)
    per = d.groupby("persona")[["p_alive", "expected_purchases_horizon", "future_orders", "clv", "future_revenue"]].mean()
    lines = [
        "## CLV on the generated shop vs its planted future",
        "",
        f"{customers:,} generated customers, {len(d):,} with a sale before {AS_OF}; horizon {HORIZON_DAYS} days, "
        f"no discounting. `clv_table` took {seconds:.1f} s. Fitted {res.transaction_model!r}, {res.value_model!r}.",
        "",
        "| measure | predicted | actual | per-customer correlation |",
        "|---|---|---|---|",
        f"| orders in the horizon | {d.expected_purchases_horizon.sum():,.0f} | {d.future_orders.sum():,.0f} | "
        f"{np.corrcoef(d.expected_purchases_horizon, d.future_orders)[0, 1]:.3f} |",
        f"| revenue in the horizon | {d.clv.sum():,.0f} | {d.future_revenue.sum():,.0f} | "
        f"{np.corrcoef(d.clv, d.future_revenue)[0, 1]:.3f} |",
        "",
        f"P(alive) vs alive at as_of: AUC {auc:.3f}.",
        "",
        "| persona | mean p_alive | expected orders | actual orders | mean CLV | actual revenue |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in per.iterrows():
        lines.append(f"| {name} | {r.p_alive:.2f} | {r.expected_purchases_horizon:.2f} | {r.future_orders:.2f} | "
                     f"{r.clv:,.0f} | {r.future_revenue:,.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
