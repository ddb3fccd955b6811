"""A Shopify-style orders export loaded through a *mapping* instead of the preset: the proposed mapping as it
comes, the same without id normalisation, and the proposal with one edit a user makes after reading the
quarantine reasons (line items without a SKU: the item's name as the product id).

The export is the tests' generated file (1,000 orders, 360 people whose e-mails vary in case and spaces, refunds,
partial refunds, voids, several line items per order, order fields on the first line only for half the orders).

    PYTHONPATH=src .venv/bin/python evals/mapping_proposal.py --work /tmp/mapping-proposal

Prints, per variant: the reconciliation, customers against distinct normalised e-mails, order kinds against
the file's financial statuses, and (edited) the orders whose lines minus discount equal the file's subtotal.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/mapping-proposal"))
    work = ap.parse_args().work
    from shopseg.ingest import ingest, propose_mapping
    from shopseg.workspace import open_workspace
    from tests.test_presets_platforms import make_shopify_orders

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    export = work / "orders_export.csv"
    orders = make_shopify_orders(export)
    people = {o["email"].strip().lower() for o in orders if o["email"]}
    statuses = {s: sum(o["status"] == s for o in orders) for s in sorted({o["status"] for o in orders})}
    proposed = propose_mapping(export)
    variants = {
        "proposed": proposed,
        "proposed, no [normalise] of customer_id": proposed.replace('customer_id = ["trim", "lower"]', ""),
        "proposed, product id edited": proposed.replace('"Lineitem sku" = "product_id"', '# "Lineitem sku"').replace(
            '"Lineitem name" = "products.name"', '"Lineitem name" = ["product_id", "products.name"]'),
    }
    print(f"file: {len(orders):,} orders, {len(people):,} distinct normalised e-mails, statuses {statuses}")
    for i, (name, text) in enumerate(variants.items()):
        mapping = work / f"mapping{i}.toml"
        mapping.write_text(text, encoding="utf-8")
        with open_workspace(work / f"ws{i}") as ws:
            r = ingest(ws, export, mapping=mapping)
            subtotal = {o["name"]: round(o["lines"] - o["discount"], 2) for o in orders}
            got = dict(ws.sql("SELECT o.order_id, round(sum(l.quantity * l.unit_price) - any_value(o.discount_amount), 2) "
                              "FROM orders o JOIN order_lines l USING (order_id) GROUP BY 1"))
            same = sum(abs(got.get(k, -1) - v) < 0.011 for k, v in subtotal.items())
            print(f"\n{name}:\n  {r.n_input:,} rows = {r.n_accepted:,} accepted + {r.n_quarantined:,} quarantined; "
                  f"reasons {r.top_reasons}\n  customers {ws.count('customers'):,} (people {len(people):,}); "
                  f"orders {ws.count('orders'):,}; kinds {dict(ws.sql('SELECT kind, count(*) FROM orders GROUP BY 1 ORDER BY 1'))}"
                  f"\n  orders whose lines minus discount equal the file's subtotal: {same:,} of {len(orders):,}")


if __name__ == "__main__":
    main()
