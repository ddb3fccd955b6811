"""Interests scored live against the batch on real shops (issue #19 item 5's live score): the figures in
docs/segments.md, "Interests live".

For each ingested workspace given (``shopseg ingest`` of Online Retail or Olist; a copy: nothing is written to
it), as of its last order: the batch's interests of every customer (:func:`shopseg.segment.interest.interests`),
the live state from the shop mix the batch stores (its JSON round trip, as the model store keeps it), every
customer's primary interest by :func:`~shopseg.segment.interest.interest_score` at once over DuckDB and one at a
time over the live service's online store (a sample of about 300), and how many differ from the batch.

    python evals/interest_live.py WORKSPACE [WORKSPACE ...]
"""

from __future__ import annotations

import json
import sys
import time

from shopseg.config import load_config
from shopseg.segment.interest import interest_score, interest_state, interests
from shopseg.serve.live import _StoreWs
from shopseg.serve.online import OnlineStore
from shopseg.workspace import open_workspace


def measure(path: str) -> str:
    ws = open_workspace(path, create=False)
    try:
        cfg = load_config()
        as_of = ws.scalar("SELECT max(ordered_at) FROM orders")
        ids = [r[0] for r in ws.sql("SELECT customer_id FROM customers ORDER BY 1")]
        t = time.perf_counter()
        batch = interests(ws, as_of, ids, cfg)
        t_batch = time.perf_counter() - t
        text = json.dumps(batch.mix, sort_keys=True)
        t = time.perf_counter()
        st = interest_state(ws, as_of, cfg, None, json.loads(text))
        t_state = time.perf_counter() - t
        want = dict(zip(ids, batch.segment.tolist()))
        all_at_once = interest_score(st, ws, ids, as_of)
        reader = _StoreWs(OnlineStore(ws.con).load(), path)
        sample = ids[::max(1, len(ids) // 300)]
        t = time.perf_counter()
        one = [interest_score(st, reader, [c], as_of)[0] for c in sample]
        t_one = (time.perf_counter() - t) / len(sample)
    finally:
        ws.close()
    return (f"{path}: {len(ids):,} customers, {len(set(want.values()))} interests; batch {t_batch:.2f} s; "
            f"stored mix {len(text) / 1024:.0f} KiB, state {t_state * 1000:.0f} ms; DuckDB, all at once: "
            f"{sum(want[c] != g for c, g in zip(ids, all_at_once))} differ; online store, one at a time "
            f"{t_one * 1000:.2f} ms: {sum(want[c] != g for c, g in zip(sample, one))} of {len(sample)} differ")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(measure(p))
