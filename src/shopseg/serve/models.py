"""Request and response models of the service, generated from the column contracts.

The row models of ``POST /events`` are built from :mod:`shopseg.schema`
(one pydantic model per canonical input table, one field per
:class:`~shopseg.schema.Column`), never copied by hand: a column added to the
schema is accepted by the API at once.  Types map as DuckDB type -> Python
type; ``required`` columns are required fields; ``choices``, ``min``,
``max`` and ``positive`` become ``Literal`` / ``ge`` / ``le`` / ``gt``
constraints, so a bad value is answered with a 422 that names the table,
row and column.  Unknown fields are refused (``extra="forbid"``): a typo in
a column name must not silently drop data.  Provenance columns that shopseg
adds itself (``ingest_id``) are not accepted from clients.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

from .. import schema

PY_TYPES: dict[str, type] = {
    "VARCHAR": str,
    "TIMESTAMP": datetime,
    "DOUBLE": float,
    "BIGINT": int,
    "BOOLEAN": bool,
}

# Tables a client may POST, in load order (referenced tables first).
POSTABLE = ("customers", "orders", "order_lines", "events", "reviews")

# The timestamp column of each postable table: segment_changes.changed_at comes from it.
EVENT_TIME = {"orders": "ordered_at", "events": "occurred_at", "reviews": "reviewed_at",
              "customers": "signed_up_at"}


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _field(col: schema.Column) -> tuple[Any, Any]:
    py: Any = PY_TYPES[col.type]
    if col.choices:
        py = Literal[col.choices]  # type: ignore[valid-type]
    constraints: dict[str, Any] = {"description": col.doc}
    if col.min is not None:
        constraints["ge"] = col.min
    if col.max is not None:
        constraints["le"] = col.max
    if col.positive:
        constraints["gt"] = 0
    if col.type == "VARCHAR" and col.required:
        constraints["min_length"] = 1  # required means non-empty, as in ingest
    if col.required:
        return py, Field(..., **constraints)
    return Optional[py], Field(None, **constraints)


def row_model(table: schema.Table) -> type[BaseModel]:
    """A pydantic model of one row of ``table``, made from its :class:`~shopseg.schema.Column` list."""
    fields = {c.name: _field(c) for c in table.columns}
    name = "".join(p.capitalize() for p in table.name.split("_")) + "Row"
    model = create_model(name, __base__=_Row, __doc__=table.doc, **fields)  # type: ignore[call-overload]
    return model


ROW_MODELS: dict[str, type[BaseModel]] = {t: row_model(schema.get_table(t)) for t in POSTABLE}

EventBatch = create_model(  # type: ignore[call-overload]
    "EventBatch",
    __base__=_Row,
    __doc__="A batch of canonical rows: any of the tables below, with the canonical column names.",
    **{t: (list[ROW_MODELS[t]], Field(default_factory=list, description=schema.get_table(t).doc))  # type: ignore[valid-type]
       for t in POSTABLE},
)


def row_dicts(batch: BaseModel, table: str) -> list[dict]:
    """Rows of ``table`` in the batch as dicts with every schema column, defaults filled in."""
    t = schema.get_table(table)
    out = []
    for row in getattr(batch, table):
        d = row.model_dump()
        for c in t.columns:
            if d.get(c.name) is None and c.default is not None:
                d[c.name] = c.default
        out.append(d)
    return out


def batch_rows(payload: dict) -> dict[str, list[dict]]:
    """The rows of a posted body (raises pydantic's ValidationError), as :meth:`LiveUpdater.apply` takes them."""
    batch = EventBatch.model_validate(payload)
    return {t: row_dicts(batch, t) for t in POSTABLE}


# -- responses ------------------------------------------------------------------------------

class ErrorBody(BaseModel):
    """Every error: what went wrong, where, and what to do."""

    error: str = Field(description="Short machine-readable kind: not_found, validation, unauthorized, ...")
    message: str
    hint: Optional[str] = None
    details: Optional[list[dict]] = None


class SegmentInfo(BaseModel):
    segment: Optional[str]
    name: Optional[str] = None
    source: Literal["run", "live"] = Field(description="`run`: from the stored batch run; `live`: re-scored "
                                                      "after an event posted to this service")


class ChurnInfo(BaseModel):
    probability: Optional[float]
    tier: Optional[str]
    reasons: list[str] = []
    model: Optional[str] = None
    source: Literal["run", "live"]


class CLVInfo(BaseModel):
    clv: Optional[float]
    p_alive: Optional[float]
    expected_purchases_90d: Optional[float] = None
    expected_purchases_horizon: Optional[float] = Field(None, description="Expected purchase days in the CLV's "
                                                        "horizon (clv.horizon_days)")
    expected_order_value: Optional[float] = None
    expected_next_order_at: Optional[datetime] = None
    p_alive_days: Optional[float] = Field(None, description="Set when P(alive) is P(an order in the next this many "
                                          "days) (a window model: repeat, baseline); None: P(alive) of a "
                                          "transaction model (still a customer at all)")
    sources: Optional[dict[str, Optional[str]]] = Field(None, description="The model of each figure (p_alive, "
                                                        "expected_purchases, expected_order_value, clv): the run "
                                                        "chose one per figure by backtest (docs/clv.md)")
    basis: Optional[str] = Field(None, description="How clv relates to expected_purchases_horizon x "
                                 "expected_order_value: their discounted product when one transaction model gave "
                                 "CLV and the purchases, otherwise a forecast of its own (not their product)")
    source: Literal["run", "live"]
    note: Optional[str] = Field(None, description="Set when events re-scored this customer but not their CLV: why "
                                "(the run's CLV models are not stored: a run by an older shopseg, the Spark "
                                "engine); the values are the run's (P(alive) pooled with a fresh churn score), "
                                "all None for a customer without a CLV row in the run")


class CustomerView(BaseModel):
    customer_id: str
    run_id: Optional[int] = Field(description="The batch run the answer is based on (latest done run)")
    as_of: Optional[datetime] = Field(description="Date the features describe (later than the run's when "
                                                  "live events moved it on)")
    live: bool = Field(description="True when events posted after the run changed this customer")
    features: Optional[dict[str, Any]] = None
    segments: dict[str, SegmentInfo] = {}
    churn: Optional[ChurnInfo] = None
    clv: Optional[CLVInfo] = None
    next_action: Optional[dict[str, Any]] = None
    recommendations: Optional[list[dict[str, Any]]] = None
    interests: Optional[list[dict[str, Any]]] = Field(
        None, description="The customer's interests, best first (rank, interest, name, lift over the shop's mix; "
                          "table customer_interests); null when the run has no interest scheme")
    status: Optional[str] = Field(None, description="One sentence: lifecycle stage with churn risk, P(alive) and "
                                  "value tier as evidence, and whether they disagree")


class SegmentSize(BaseModel):
    segment: str
    name: Optional[str] = None
    n_customers: int
    share: Optional[float] = None
    profile: Optional[dict[str, Any]] = None  # with ?scheme=: means, bounds, places
    figures: Optional[dict[str, Any]] = None  # with ?scheme=: revenue, AOV, repeat rate, churn risk, CLV


class SchemeSizes(BaseModel):
    scheme: str
    segments: list[SegmentSize]


class SegmentsView(BaseModel):
    run_id: Optional[int]
    schemes: list[SchemeSizes]


class MembersPage(BaseModel):
    run_id: int
    scheme: str
    segment: str
    page: int
    size: int
    total: int
    customer_ids: list[str]


class SegmentChange(BaseModel):
    customer_id: str
    scheme: str
    old: Optional[str]
    new: Optional[str]
    changed_at: datetime
    source: str


class IngestResult(BaseModel):
    ingest_id: int
    rows_added: dict[str, int]
    customers_rescored: list[str]
    changes: list[SegmentChange]
    seconds: float


class QueuedBatch(BaseModel):
    """POST /events while the workspace is lent to a command: the batch is journaled (202) and applied when the
    service holds the file again; GET /events/queued/{batch} follows it."""
    batch: int
    status: str
    message: Optional[str] = None
    ingest_id: Optional[int] = None


class RunJob(BaseModel):
    """A run started by the service (POST /runs or the schedule): a `shopseg run` process."""
    id: int
    trigger: str
    as_of: Optional[str]
    status: str
    stage: Optional[str] = None
    done: int = 0
    total: int = 0
    run_id: Optional[int] = None
    served: bool = False
    started_at: str
    finished_at: Optional[str] = None
    message: Optional[str] = None

