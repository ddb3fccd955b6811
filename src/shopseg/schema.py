"""Canonical tables and their column contracts.

Table and column names are public API: users query the workspace with SQL.
Every contract lives here, as data, and is checked in one place
(:func:`shopseg.ingest` for files, :func:`check_columns` for frames), so an
error always names the table, the column, what was expected and what came.
``docs/data-model.md`` is written from the same definitions
(``tests/test_docs.py`` checks they agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import DataContractError

EVENT_TYPES = ("view", "click", "add_to_cart", "search", "wishlist")
ORDER_KINDS = ("sale", "return", "adjustment")
# Upper bounds of the numbers a shop's export can mean.  A larger amount, quantity or duration is a broken value
# (a misplaced column, an overflowed spreadsheet cell, NaN or infinity), quarantined with its reason: every sum a
# stored output keeps is exact (shopseg._exact, DECIMAL(38, 10): |total| < 1e28), so a line's amount (at most
# MAX_QUANTITY * MAX_MONEY = 1e21) leaves room for ten million such lines in one total.
MAX_MONEY = 1e12  # a unit price or an amount in the shop's currency (a trillion: any currency, any item)
MAX_QUANTITY = 1e9  # units on one line
MAX_SECONDS = 1e9  # one event's duration (31 years)


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    ``required`` columns must be present in the input (after mapping) and
    non-empty in every row; optional ones may be absent (they take
    ``default``) or empty (NULL, unless a default is given).
    """

    name: str
    type: str  # DuckDB type: VARCHAR, TIMESTAMP, DOUBLE, BIGINT, BOOLEAN
    doc: str
    required: bool = False
    default: object = None
    min: float | None = None
    max: float | None = None
    positive: bool = False  # strictly greater than zero
    choices: tuple[str, ...] | None = None
    references: str | None = None  # "table.column" that must hold the value
    min_date: str | None = None  # TIMESTAMP: earliest date accepted, instead of ingest.min_date

    def expectation(self) -> str:
        """Plain words for what a value of this column must be."""
        what = {
            "VARCHAR": "text",
            "TIMESTAMP": "a date or timestamp",
            "DOUBLE": "a number",
            "BIGINT": "a whole number",
            "BOOLEAN": "true or false",
        }[self.type]
        if self.choices:
            what = "one of " + ", ".join(self.choices)
        if self.positive and self.max is not None:
            what += f" greater than 0 and at most {_number(self.max)}"
        elif self.positive:
            what += " greater than 0"
        elif self.min is not None and self.max is not None:
            what += f" from {_number(self.min)} to {_number(self.max)}"
        elif self.min is not None:
            what += f" of at least {_number(self.min)}"
        return what


def _number(x: float) -> str:
    """A bound as a reason prints it: digits with thousands separators for a whole number, else as ``:g``.

    >>> _number(0), _number(23), _number(1e12), _number(0.5)
    ('0', '23', '1,000,000,000,000', '0.5')
    """
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    kind: str = "input"  # input | system | output
    extra: tuple[Column, ...] = field(default=())  # columns shopseg adds itself

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return self.columns + self.extra

    def column(self, name: str) -> Column:
        for c in self.all_columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def ddl(self) -> str:
        cols = ",\n  ".join(f'"{c.name}" {c.type}' for c in self.all_columns)
        return f'CREATE TABLE IF NOT EXISTS "{self.name}" (\n  {cols}\n)'


_PROVENANCE = (Column("ingest_id", "BIGINT", "The ingest that loaded this row (see `ingest_log`)."),)

CUSTOMERS = Table(
    "customers",
    "One row per customer known to the shop.",
    (
        Column("customer_id", "VARCHAR", "The shop's customer identifier.", required=True),
        Column("email", "VARCHAR", "E-mail address (PII)."),
        Column("phone", "VARCHAR", "Phone number (PII)."),
        Column("name", "VARCHAR", "Full name (PII)."),
        Column("address", "VARCHAR", "Postal address, street and number (PII)."),
        Column("country", "VARCHAR", "Country name or ISO code."),
        Column("region", "VARCHAR", "State, province or region within the country (Olist: the Brazilian state)."),
        Column("city", "VARCHAR", "City."),
        Column("signed_up_at", "TIMESTAMP", "When the account was created; NULL if unknown."),
        Column("birth_date", "TIMESTAMP",
               "Date of birth, when the shop asks for it (PII, optional). Age bands are computed from it as of "
               "the run's `as_of`. With `privacy.pii` `hash` or `separate` only the birth year is stored "
               "(1 January of it). Accepted from 1900-01-01 (not `ingest.min_date`).", min_date="1900-01-01"),
        Column("age_band", "VARCHAR",
               "Age band as the shop records it (e.g. `25-34`), for shops without a birth date (PII, optional)."),
        Column("gender", "VARCHAR",
               "Gender as the customer stated it (PII, optional; never inferred from names). Read as `female`, "
               "`male` or `other` by its first letter (f/w, m; anything else: other); with `privacy.pii` "
               "`hash` or `separate` only that normalised value is stored."),
    ),
    key=("customer_id",),
    extra=_PROVENANCE,
)

PRODUCTS = Table(
    "products",
    "The catalogue: one row per product (stock keeping unit).",
    (
        Column("product_id", "VARCHAR", "The shop's product identifier (SKU, stock code).", required=True),
        Column("name", "VARCHAR", "Product name as shown to customers."),
        Column("category", "VARCHAR", "Category (top level), NULL if unknown."),
        Column("brand", "VARCHAR", "Brand, NULL if unknown."),
        Column("price", "DOUBLE", "List price in the shop's currency.", min=0, max=MAX_MONEY),
        Column("description", "VARCHAR", "Free-text description."),
        Column(
            "is_merchandise",
            "BOOLEAN",
            "False for codes that are not goods (postage, fees, manual adjustments); "
            "they are kept for revenue but left out of baskets and recommendations.",
            default=True,
        ),
        Column("is_available", "BOOLEAN", "False when the product can no longer be bought.", default=True),
    ),
    key=("product_id",),
    extra=_PROVENANCE,
)

ORDERS = Table(
    "orders",
    "One row per order (invoice). Returns and cancellations are orders of kind `return`.",
    (
        Column("order_id", "VARCHAR", "The shop's order or invoice number.", required=True),
        Column(
            "customer_id",
            "VARCHAR",
            "Who ordered; NULL for a guest order (still used for basket analysis).",
            references="customers.customer_id",
        ),
        Column("ordered_at", "TIMESTAMP", "When the order was placed.", required=True),
        Column(
            "kind",
            "VARCHAR",
            "`sale`, `return` (a cancellation or return of goods) or `adjustment` "
            "(stock or accounting corrections that are neither).",
            default="sale",
            choices=ORDER_KINDS,
        ),
        Column("channel", "VARCHAR", "Sales channel (web, app, marketplace...)."),
        Column("country", "VARCHAR", "Delivery country."),
        Column("discount_amount", "DOUBLE", "Order-level discount in currency.", default=0.0, min=0,
               max=MAX_MONEY),
        Column("shipping_amount", "DOUBLE", "Shipping charged in currency.", default=0.0, min=0,
               max=MAX_MONEY),
    ),
    key=("order_id",),
    extra=_PROVENANCE,
)

ORDER_LINES = Table(
    "order_lines",
    "One row per product on an order. Quantities are positive; a return is an order of kind `return`.",
    (
        Column("order_id", "VARCHAR", "The order this line belongs to.", required=True, references="orders.order_id"),
        Column("line_no", "BIGINT", "Position on the order, from 1; assigned in file order when absent.", min=1),
        Column(
            "product_id", "VARCHAR", "The product ordered.", required=True, references="products.product_id"
        ),
        Column("quantity", "DOUBLE", "Units ordered (or returned).", required=True, positive=True,
               max=MAX_QUANTITY),
        Column("unit_price", "DOUBLE", "Price paid per unit, before line discount.", required=True, min=0,
               max=MAX_MONEY),
        Column("discount_amount", "DOUBLE", "Discount on this line in currency.", default=0.0, min=0,
               max=MAX_MONEY),
    ),
    key=("order_id", "line_no"),
    extra=_PROVENANCE,
)

EVENTS = Table(
    "events",
    "Browsing events: one row per view, click, add-to-cart, search or wishlist.",
    (
        Column("event_id", "VARCHAR", "Unique event identifier.", required=True),
        Column(
            "customer_id",
            "VARCHAR",
            "Who browsed; NULL for an anonymous visitor.",
            references="customers.customer_id",
        ),
        Column("session_id", "VARCHAR", "Browsing session the event belongs to.", required=True),
        Column("event_type", "VARCHAR", "What happened.", required=True, choices=EVENT_TYPES),
        Column("product_id", "VARCHAR", "Product concerned, if any.", references="products.product_id"),
        Column("occurred_at", "TIMESTAMP", "When it happened.", required=True),
        Column("duration_seconds", "DOUBLE", "Time spent on the page or action.", default=0.0, min=0,
               max=MAX_SECONDS),
        Column("search_query", "VARCHAR", "What was searched for (search events)."),
    ),
    key=("event_id",),
    extra=_PROVENANCE,
)

REVIEWS = Table(
    "reviews",
    "Product reviews written by customers.",
    (
        Column("review_id", "VARCHAR", "Unique review identifier.", required=True),
        Column("customer_id", "VARCHAR", "Author, if known.", references="customers.customer_id"),
        Column("product_id", "VARCHAR", "Product reviewed.", references="products.product_id"),
        Column("order_id", "VARCHAR", "Order the review is about, if known."),
        Column("rating", "BIGINT", "Star rating.", min=1, max=5),
        Column("text", "VARCHAR", "Review text (any language, may hold HTML)."),
        Column("language", "VARCHAR", "ISO 639-1 code (`en`, `zh`...); detected when absent."),
        Column("reviewed_at", "TIMESTAMP", "When the review was written.", required=True),
    ),
    key=("review_id",),
    extra=_PROVENANCE,
)

INPUT_TABLES: dict[str, Table] = {
    t.name: t for t in (CUSTOMERS, PRODUCTS, ORDERS, ORDER_LINES, EVENTS, REVIEWS)
}
# Load order: referenced tables first.
LOAD_ORDER = ("customers", "products", "orders", "order_lines", "events", "reviews")

INGEST_LOG = Table(
    "ingest_log",
    "One row per ingest: what came in and where every input row went. "
    "`n_input = n_accepted + n_quarantined + n_duplicate` always.",
    (
        Column("ingest_id", "BIGINT", "Sequence number of the ingest.", required=True),
        Column("source", "VARCHAR", "Path of the file read (or `synth`).", required=True),
        Column("source_sha256", "VARCHAR", "SHA-256 of the file's bytes."),
        Column("preset", "VARCHAR", "Preset used, if any."),
        Column("target", "VARCHAR", "Canonical table(s) written, comma separated."),
        Column("n_input", "BIGINT", "Data rows read from the file."),
        Column("n_accepted", "BIGINT", "Rows loaded."),
        Column("n_quarantined", "BIGINT", "Rows sent to `quarantine`."),
        Column("n_duplicate", "BIGINT", "Exact duplicates: of an earlier row in the file, or already loaded."),
        Column("rows_added", "VARCHAR", "JSON object: rows added per canonical table."),
        Column("summary", "VARCHAR", "JSON object: preset-specific figures (e.g. invoices, cancellations)."),
        Column("loaded_at", "TIMESTAMP", "Wall-clock time of the ingest (bookkeeping only)."),
    ),
    key=("ingest_id",),
    kind="system",
)

QUARANTINE = Table(
    "quarantine",
    "Rows that were not loaded, each with the reason.",
    (
        Column("ingest_id", "BIGINT", "The ingest that read the row.", required=True),
        Column("source", "VARCHAR", "File the row came from.", required=True),
        Column("row_number", "BIGINT", "Data row in the file, from 1 (header excluded).", required=True),
        Column("target", "VARCHAR", "Canonical table the row was meant for."),
        Column("column_name", "VARCHAR", "Column at fault (the first failing check)."),
        Column("reason", "VARCHAR", "What was expected and what came."),
        Column("raw", "VARCHAR", "The row as read, as a JSON object of the source columns."),
    ),
    key=("ingest_id", "row_number"),
    kind="system",
)

RUNS = Table(
    "runs",
    "One row per pipeline run: as_of, config and timings, for reproducibility.",
    (
        Column("run_id", "BIGINT", "Sequence number of the run.", required=True),
        Column("as_of", "TIMESTAMP", "The date the run describes; nothing later is used.", required=True),
        Column("seed", "BIGINT", "Random seed."),
        Column("config_hash", "VARCHAR", "SHA-256 of the canonical JSON of the config."),
        Column("config", "VARCHAR", "The full config as JSON."),
        Column("version", "VARCHAR", "shopseg version."),
        Column("stages", "VARCHAR", "JSON: per stage, seconds taken, status and notes."),
        Column("started_at", "TIMESTAMP", "Wall-clock start (bookkeeping only)."),
        Column("status", "VARCHAR", "`running`, `done` or `failed`."),
    ),
    key=("run_id",),
    kind="system",
)

CUSTOMER_PII = Table(
    "customer_pii",
    "Raw contact details kept apart from `customers` when `privacy.pii = \"separate\"` (docs/security.md): "
    "`customers` then holds keyed pseudonyms (`hmac:` + HMAC-SHA-256 hex) and only audience exports and "
    "write-key API calls read this table.",
    (
        Column("customer_id", "VARCHAR", "The shop's customer identifier.", required=True),
        Column("email", "VARCHAR", "E-mail address as ingested (trimmed)."),
        Column("phone", "VARCHAR", "Phone number as ingested."),
        Column("name", "VARCHAR", "Full name as ingested."),
        Column("address", "VARCHAR", "Postal address as ingested."),
        Column("ingest_id", "BIGINT", "The ingest that loaded the row."),
    ),
    key=("customer_id",),
    kind="system",
)

FORGET_LOG = Table(
    "forget_log",
    "One row per customer forgotten by `shopseg forget`, without the id or any PII. Ingests quarantine rows "
    "of these customers (reason `forgotten customer`), so a forgotten customer is not silently re-loaded.",
    (
        Column("forget_id", "BIGINT", "Sequence number of the `forget` request.", required=True),
        Column("id_hmac", "VARCHAR", "Keyed pseudonym of the customer id (`hmac:` + HMAC-SHA-256 hex with the "
               "workspace secret); the id itself is not kept.", required=True),
        Column("rows_removed", "VARCHAR", "JSON object: rows deleted per table for this customer."),
        Column("files_changed", "VARCHAR", "JSON list: workspace files rewritten or deleted by the request."),
        Column("forgotten_at", "TIMESTAMP", "Wall-clock time of the request (bookkeeping only)."),
    ),
    key=("forget_id", "id_hmac"),
    kind="system",
)

PRIVACY_BUDGET_LOG = Table(
    "privacy_budget_log",
    "One row per differentially private release (shareable report or segment statistics): the privacy "
    "loss spent, for a ledger that sums over releases.",
    (
        Column("release_id", "BIGINT", "Sequence number of the release.", required=True),
        Column("source_run_id", "BIGINT",
               "Run whose outputs were released (not `run_id`: this table is no output of a run)."),
        Column("kind", "VARCHAR", "What was released (`shareable_report`, `segment_stats`)."),
        Column("mechanism", "VARCHAR", "Noise mechanism (`laplace`)."),
        Column("epsilon", "DOUBLE", "Total epsilon of the release: the sum of `queries[*].epsilon` (basic "
               "composition)."),
        Column("queries", "VARCHAR", "JSON list: per query, scheme, statistic, L1 sensitivity, noise scale and the "
               "epsilon OpenDP's privacy map gives."),
        Column("k_min", "BIGINT", "Segments with a noisy size under this were suppressed."),
        Column("n_released", "BIGINT", "Segments released."),
        Column("n_suppressed", "BIGINT", "Segments suppressed."),
        Column("path", "VARCHAR", "File written, if any."),
        Column("released_at", "TIMESTAMP", "Wall-clock time of the release (bookkeeping only)."),
    ),
    key=("release_id",),
    kind="system",
)

SYSTEM_TABLES: dict[str, Table] = {t.name: t for t in (INGEST_LOG, QUARANTINE, RUNS, CUSTOMER_PII, FORGET_LOG,
                                                        PRIVACY_BUDGET_LOG)}

# Output tables of runs: (table, grain, stage, doc page). Their columns are documented with their capability.
OUTPUT_TABLES = (
    ("review_insights", "review written on or before as_of", "reviews", "reviews.md"),
    ("customer_review_features", "customer with a review", "reviews", "reviews.md"),
    ("clv", "customer with a sale order", "clv", "clv.md"),
    ("customer_features", "customer known at as_of", "segments", "features.md"),
    ("segments", "customer and scheme (each of `segments.schemes`: the scheme registry)", "segments", "segments.md"),
    ("segment_profiles", "scheme and segment", "segments", "segments.md"),
    ("rfm_scores", "customer", "segments", "segments.md"),
    ("customer_interests", "customer and interest, at most `segments.interest.max_interests` per customer "
     "(`rank` 1 is the customer's `interest` segment; customers without a clear interest have no row)",
     "segments", "segments.md"),
    ("feature_drift", "feature, against the previous run", "drift", "drift.md"),
    ("model_decisions", "learned model or prediction (cluster, churn, clv, p_alive, expected_purchases, rules): "
     "reused or refitted, the backtest against its baseline and the decision", "segments, churn, clv, baskets",
     "drift.md"),
    ("churn_scores", "customer with a sale order", "churn", "churn.md"),
    ("churn_validation", "customer of the validation window", "churn", "churn.md"),
    ("model_reports", "model and metric", "churn", "churn.md"),
    ("frequent_itemsets", "scope and itemset", "baskets", "baskets.md"),
    ("association_rules", "scope and rule", "baskets", "baskets.md"),
    ("recommendations", "customer and rank", "recommend", "action.md"),
    ("uplift_reports", "campaign, segment and variant of a measured run", "measure", "action.md"),
    ("actions", "customer given an action (treatment or control)", "act", "action.md"),
)


_INPUTS = ("customers", "orders", "order_lines", "products", "events", "reviews")
# stage -> (tables it reads, tables it writes): the runner marks a stage's writes as this run's, and hands the
# other stages the run of each table they read (shopseg.runner.Runs); OUTPUT_TABLES' stage column agrees
STAGE_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "reviews": (("reviews", "orders", "products"), ("review_insights", "customer_review_features")),
    "clv": (("orders", "order_lines"), ("clv", "model_decisions")),
    "segments": (_INPUTS + ("customer_review_features", "clv"),
                 ("customer_features", "segments", "segment_profiles", "rfm_scores", "customer_interests",
                  "model_decisions")),
    "drift": (("customer_features",), ("feature_drift",)),
    "churn": (_INPUTS + ("customer_features",), ("churn_scores", "churn_validation", "model_reports",
                                                 "model_decisions")),
    "baskets": (("orders", "order_lines", "products", "segments"), ("frequent_itemsets", "association_rules",
                                                                    "model_decisions")),
    "recommend": (_INPUTS + ("segments", "association_rules"), ("recommendations",)),
    "measure": (("actions", "orders", "order_lines"), ("uplift_reports",)),
    "act": (("customers", "segments", "churn_scores", "clv", "recommendations", "uplift_reports"), ("actions",)),
}

def get_table(name: str) -> Table:
    """The canonical input table called ``name`` (a clear error otherwise)."""
    try:
        return INPUT_TABLES[name]
    except KeyError:
        raise DataContractError(
            f"Unknown table {name!r}: expected one of {', '.join(INPUT_TABLES)}."
        ) from None


def check_columns(table: str, columns, required: list[str] | tuple[str, ...], *, source: str = "") -> None:
    """Raise :class:`DataContractError` if any of ``required`` is not in ``columns``.

    The message names the table, the missing columns and the columns found.
    """
    found = list(columns)
    missing = [c for c in required if c not in found]
    if missing:
        where = f" in {source}" if source else ""
        raise DataContractError(
            f"Table {table!r}{where}: missing required column(s) {', '.join(missing)}; "
            f"found: {', '.join(found) if found else '(none)'}."
        )


def data_model_markdown() -> str:
    """``docs/data-model.md``, written from the contracts above (a test keeps them in step)."""
    out = [
        "# Data model",
        "",
        "The workspace is a DuckDB file (`shop.duckdb`); its table and column names are public API.",
        "This page is generated from `src/shopseg/schema.py` (`python -m shopseg.schema > docs/data-model.md`);",
        "`tests/test_docs.py` fails when the two disagree. Output tables of runs (features, segments, scores...)",
        "are documented with their capability: see `docs/features.md`, `docs/segments.md`, `docs/clv.md`,",
        "`docs/baskets.md`, `docs/reviews.md`.",
        "",
        "Conventions: timestamps end in `_at`; amounts are in the shop's currency; ids are text.",
        "Required columns must be present in every input file for that table (after mapping) and non-empty;",
        "optional ones may be absent (they take the default) or empty (NULL).",
        "",
    ]
    out += ["## Output tables of runs", "",
            "Each holds every run (`run_id` first, see `runs`); filter on the run you want, e.g. "
            "`WHERE run_id = (SELECT max(run_id) FROM runs WHERE status = 'done')`.", "",
            "| table | one row per | written by | columns documented in |", "|---|---|---|---|"]
    out += [f"| `{t}` | {grain} | stage `{stage}` | `docs/{doc}` |" for t, grain, stage, doc in OUTPUT_TABLES]
    out.append("")
    for group, tables in (("Input tables", INPUT_TABLES), ("System tables", SYSTEM_TABLES)):
        out += [f"## {group}", ""]
        for t in tables.values():
            out += [f"### `{t.name}`", "", t.doc, "", f"Key: {', '.join(f'`{k}`' for k in t.key)}.", "",
                    "| column | type | required | default | rule | meaning |", "|---|---|---|---|---|---|"]
            for c in t.all_columns:
                rule = []
                if c.choices:
                    rule.append("one of " + ", ".join(f"`{x}`" for x in c.choices))
                if c.positive:
                    rule.append("> 0")
                if c.min is not None:
                    rule.append(f">= {c.min:g}")
                if c.max is not None:
                    rule.append(f"<= {c.max:g}")
                if c.references:
                    rule.append(f"in `{c.references}`")
                default = "" if c.default is None else f"`{c.default}`"
                out.append(f"| `{c.name}` | {c.type} | {'yes' if c.required else ''} | {default} | "
                           f"{'; '.join(rule)} | {c.doc} |")
            out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(data_model_markdown(), end="")
