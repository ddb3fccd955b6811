"""Demographics when the shop has them: age bands and gender, from the customers table only.

Both come from optional customer columns (``birth_date`` or ``age_band``, and
``gender``; see docs/data-model.md): nothing is inferred from names or
behaviour.  A customer's age is counted in whole years up to the run's
``as_of`` (no wall clock): the birthday counts from its day.  A shop's own
age band is read as given when no birth date is known (trimmed; ``unknown``
when blank).  Gender is read by its first letter (:func:`shopseg.trust.pii.gender_sql`).

A scheme needs its column and at least one customer with a value: otherwise
:func:`demographics` leaves it out and says why (``notes``).
"""

from __future__ import annotations

import pandas as pd

from ..trust.pii import gender_sql
from ..workspace import CUSTOMER_FILTER

# (label, lowest age, first age of the next band); the bands of most survey and ad platforms
AGE_BANDS = (("under 18", 0, 18), ("18-24", 18, 25), ("25-34", 25, 35), ("35-44", 35, 45), ("45-54", 45, 55),
             ("55-64", 55, 65), ("65+", 65, 200))
UNKNOWN = "unknown"


def age_sql(birth: str, as_of: str) -> str:
    """SQL: whole years from timestamp ``birth`` to ``as_of`` (both SQL expressions).

    The difference of the calendar years, less one before the birthday; written with ``strftime`` only (not
    ``date_diff('year', ...)``, which the online store's SQLite translation turns into days / 365, nor
    ``year()``, which SQLite lacks), so the live path computes it in the store exactly as the batch does.
    """
    def yr(x: str) -> str:
        return f"CAST(strftime(CAST({x} AS DATE), '%Y') AS INTEGER)"

    return (f"({yr(as_of)} - {yr(birth)} - CASE WHEN "
            f"strftime(CAST({as_of} AS DATE), '%m%d') < strftime(CAST({birth} AS DATE), '%m%d') THEN 1 ELSE 0 END)")


def age_band_sql(birth: str, as_of: str) -> str:
    """SQL: the :data:`AGE_BANDS` label of ``birth`` as of ``as_of`` (NULL birth: NULL)."""
    age = age_sql(birth, as_of)
    whens = " ".join(f"WHEN {age} < {hi} THEN '{label}'" for label, _, hi in AGE_BANDS)
    return f"CASE WHEN {birth} IS NULL THEN NULL {whens} END"


def given_columns(ws) -> dict[str, bool]:
    """Whether any customer has a ``birth_date``, an ``age_band``, a ``gender`` (a whole-table look, once)."""
    have = {r[0] for r in ws.sql(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = 'customers'")}
    return {c: (c in have and bool(ws.scalar(f"SELECT count({c}) FROM customers")))
            for c in ("birth_date", "age_band", "gender")}


def _columns(given: dict[str, bool], as_lit: str) -> tuple[dict[str, str], dict[str, str]]:
    """(scheme -> SQL expression over customers, scheme left out -> why) for the columns ``given``, ages as of
    the SQL expression ``as_lit``."""
    cols, notes = {}, {}
    if given["birth_date"] or given["age_band"]:
        parts = []
        if given["birth_date"]:
            parts.append(age_band_sql("birth_date", as_lit))
        if given["age_band"]:
            parts.append("nullif(trim(age_band), '')")
        cols["age_band"] = f"coalesce({', '.join(parts)}, '{UNKNOWN}')"
    else:
        notes["age_band"] = "skipped: no customer has a birth_date or an age_band (optional customers columns)"
    if given["gender"]:
        cols["gender"] = f"coalesce({gender_sql('gender')}, '{UNKNOWN}')"
    else:
        notes["gender"] = "skipped: no customer has a gender (optional customers column)"
    return cols, notes


def demographic_state(ws, runs) -> dict[str, bool]:
    """The live state of the age_band and gender schemes: which customer columns the shop has."""
    return given_columns(ws)


def demographic_score(given: dict[str, bool], reader, customer_ids, as_of, column: str):
    """``column`` (age_band or gender) of ``customer_ids`` as of ``as_of`` by the batch's SQL, reading only their
    rows (the live path: the segments stage's score); None when the shop lacks the column."""
    cols, _ = _columns(given, "CAST($as_of AS TIMESTAMP)")  # one SQL text for every as_of
    if column not in cols:
        return None
    ids = [str(c) for c in customer_ids]
    params = {"customers": ids} if column == "gender" else {"customers": ids, "as_of": pd.Timestamp(as_of)}
    got = dict(reader.con.execute(f"SELECT customer_id, {cols[column]} AS v FROM customers WHERE true"
                                  f"{CUSTOMER_FILTER}", params).fetchall())
    return [got.get(c, UNKNOWN) for c in ids]


def demographics(ws, as_of, customer_ids=None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per customer ``age_band`` and ``gender`` (``unknown`` where not given), and notes on schemes left out.

    Returns ``(frame, notes)``: ``frame`` has customer_id and one column per scheme the shop supports
    (``age_band`` needs ``customers.birth_date`` or ``customers.age_band`` with a value, ``gender`` needs
    ``customers.gender`` with a value); ``notes`` maps a left-out scheme to the reason.  ``customer_ids``:
    the customers to return (in that order; default every customer).
    """
    cols, notes = _columns(given_columns(ws), f"TIMESTAMP '{pd.Timestamp(as_of).isoformat(sep=' ')}'")
    sel = ", ".join(f"{e} AS {c}" for c, e in cols.items())
    df = ws.df(f"SELECT DISTINCT ON (customer_id) customer_id{', ' + sel if sel else ''} FROM customers "
               "ORDER BY customer_id")
    if customer_ids is not None:
        ids = pd.DataFrame({"customer_id": pd.Series(customer_ids, dtype=object).astype(str)})
        df = ids.merge(df, on="customer_id", how="left").fillna({c: UNKNOWN for c in cols})
    return df, notes


def demographic_scheme(ctx, column: str):
    """The ``age_band`` or ``gender`` scheme's result for a run (labels None: skipped, with the reason)."""
    from ._registry import SchemeResult

    _, notes = _columns(given_columns(ctx.ws), "NULL")
    if column in notes:  # the shop lacks the column: say so without reading every customer
        return SchemeResult(None, state={"skipped": {column: notes[column]}})
    df, notes = demographics(ctx.ws, ctx.as_of, ctx.features["customer_id"])
    return SchemeResult(df[column].to_numpy(dtype=object))
