"""Pseudonymised PII: keyed hashes with a per-workspace secret, or raw values kept in a separate table.

The customers table has four PII columns (:data:`PII_COLUMNS`).  The workspace
setting ``privacy.pii`` decides what an ingest stores in them:

- ``keep``: the values as given (the behaviour before this setting existed);
- ``hash``: a keyed pseudonym, ``hmac:`` + HMAC-SHA-256 (RFC 2104) hex of the value,
  keyed by the workspace secret; the raw value is never written anywhere (not even
  to ``quarantine.raw``);
- ``separate``: the pseudonym in ``customers`` and the raw value in ``customer_pii``,
  which only audience exports and write-key API calls read (:func:`contacts_sql`).

A keyed hash, not a plain one: SHA-256 of an e-mail address can be reversed by
hashing a list of known addresses, an HMAC cannot without the key.  Equal values
get equal pseudonyms inside one workspace, so joins, duplicates and counts still
work.  E-mail has its ASCII letters lower-cased before hashing (addresses are
case-insensitive in practice; Unicode case rules differ between SQL and Python); the
other columns are hashed as given after trimming spaces.

The HMAC is computed in SQL (DuckDB's ``sha256`` over blobs), vectorised over the
whole ingest; :func:`pseudonym` is the same function in Python, and a test checks
they agree with :mod:`hmac`.

The secret is 32 bytes from :func:`os.urandom` in ``<workspace>/secret.key``,
created once with mode 0600 and never printed; losing it means new pseudonyms no
longer match old ones (and forgotten customers are no longer recognised at ingest).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from ..errors import ConfigError, WorkspaceError

PII_COLUMNS = ("email", "phone", "name", "address")
# Demographic PII (optional customer columns): generalised, not hashed, when the policy is not `keep`.
# A keyed hash of a two- or three-valued attribute hides nothing (the most frequent pseudonym is the most
# frequent gender) and a hashed birth date can no longer give an age band; so only the birth year
# (1 January) and the normalised gender (female / male / other) are stored, and the exact birth date
# is never written (nor kept in customer_pii).  The shop's own age band is coarse already: kept.
DEMOGRAPHIC_COLUMNS = ("birth_date", "gender")
POLICIES = ("keep", "hash", "separate")
PREFIX = "hmac:"
SECRET_FILE = "secret.key"
_BLOCK = 64  # SHA-256 block size in bytes (RFC 2104's B)
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = str.maketrans(_UPPER, _UPPER.lower())
# what DuckDB's trim() strips: the Unicode space separators (category Zs), not tabs or newlines
_SPACES = " \xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u202f\u205f\u3000"


def secret_path(ws_or_path) -> Path:
    root = Path(getattr(ws_or_path, "path", ws_or_path))
    return root / SECRET_FILE


def workspace_secret(ws_or_path) -> bytes:
    """The workspace's 32-byte secret, created on first use (mode 0600, ``os.urandom``)."""
    p = secret_path(ws_or_path)
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # created by a concurrent process in between: read theirs
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(32))
    key = p.read_bytes()
    if len(key) != 32:
        raise WorkspaceError(f"The workspace secret {p} must hold 32 bytes. Got {len(key)} instead.",
                             hint="Restore it from a backup; a new one makes new pseudonyms not match old ones.")
    return key


def pseudonym(value: str | None, key: bytes, *, column: str = "") -> str | None:
    """The keyed pseudonym of ``value`` (None for None or blank): ``hmac:`` + HMAC-SHA-256 hex.

    >>> pseudonym(" Ada@Example.com ", b"k" * 32, column="email") == pseudonym("ada@example.com", b"k" * 32,
    ...                                                                        column="email")
    True
    >>> pseudonym("c01", b"k" * 32)[:5]
    'hmac:'
    """
    v = str(value).strip(_SPACES) if value is not None else ""  # as SQL trim() (and ingest) do
    if not v:
        return None
    if column == "email":
        v = v.translate(_ASCII_LOWER)
    return PREFIX + hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest()


def hmac_sql(expr: str, key: bytes, *, column: str = "") -> str:
    """SQL for :func:`pseudonym` of the VARCHAR expression ``expr`` (NULL stays NULL).

    HMAC(K, m) = H((K xor opad) || H((K xor ipad) || m)) with the padded key
    written into the SQL as hex; the statement lives in a temporary view only.
    """
    k = key if len(key) <= _BLOCK else hashlib.sha256(key).digest()
    k = k.ljust(_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in k).hex()
    opad = bytes(b ^ 0x5C for b in k).hex()
    v = f"trim(CAST({expr} AS VARCHAR))"
    if column == "email":
        v = f"translate({v}, '{_UPPER}', '{_UPPER.lower()}')"
    inner = f"unhex(sha256(unhex('{ipad}') || encode({v})))"
    return (f"CASE WHEN nullif({v}, '') IS NULL THEN NULL "
            f"ELSE '{PREFIX}' || sha256(unhex('{opad}') || {inner}) END")


def gender_sql(expr: str) -> str:
    """SQL reading a stated gender as ``female``, ``male`` or ``other`` by its first letter (NULL: unknown).

    f (female, F, Frau) and w (woman, weiblich) are female; m (male, M, man, maennlich) is male; any other
    non-blank value is other.  Never applied to names.
    """
    v = f"lower(left(trim(CAST({expr} AS VARCHAR)), 1))"
    return (f"CASE WHEN nullif(trim(CAST({expr} AS VARCHAR)), '') IS NULL THEN NULL "
            f"WHEN {v} IN ('f', 'w') THEN 'female' WHEN {v} = 'm' THEN 'male' ELSE 'other' END")


def generalise_sql(column: str, expr: str) -> str:
    """SQL storing demographic column ``column`` generalised (see :data:`DEMOGRAPHIC_COLUMNS`)."""
    if column == "birth_date":
        return f"CAST(date_trunc('year', {expr}) AS TIMESTAMP)"
    return gender_sql(expr)


def policy(config) -> str:
    p = config["privacy.pii"]
    if p not in POLICIES:  # config checks it too; this guards hand-made Config objects
        raise ConfigError(f"The 'privacy.pii' setting must be one of {', '.join(POLICIES)}. Got {p!r} instead.")
    return p


def contacts_sql(ws_or_con, alias: str = "c") -> str:
    """A subquery (aliased ``alias``) of customer_id, email, phone, name, address, country, city: the raw
    contact details the workspace holds.

    ``customer_pii`` wins; a value of ``customers`` that is a pseudonym is NULL (it
    contacts no one).  Only exports and write-key API calls may use this.  ``ws_or_con``: a
    workspace or a DuckDB connection or cursor (the service passes its thread's cursor).
    """
    con = getattr(ws_or_con, "con", ws_or_con)
    have = {r[0] for r in con.execute(
        "SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name IN ('customers', 'customer_pii')").fetchall()}

    def col(c):
        own = f"CASE WHEN starts_with(k.{c}, '{PREFIX}') THEN NULL ELSE k.{c} END" if f"customers.{c}" in have \
            else "CAST(NULL AS VARCHAR)"
        return f"coalesce(p.{c}, {own}) AS {c}" if f"customer_pii.{c}" in have else f"{own} AS {c}"

    join = "LEFT JOIN customer_pii p USING (customer_id)" if "customer_pii.customer_id" in have else ""
    return (f"(SELECT k.customer_id, {', '.join(col(c) for c in PII_COLUMNS)}, k.country, k.city FROM "
            f"(SELECT DISTINCT ON (customer_id) * FROM customers ORDER BY customer_id) k {join}) {alias}")


def pseudonymise_workspace(ws, config) -> dict[str, int]:
    """Apply ``privacy.pii`` to the rows already in ``customers`` (rows written before the setting, or by
    ``synth`` and the fixture, which do not go through ingest).  Returns values pseudonymised per column.

    ``keep`` changes nothing.  One transaction.
    """
    pol = policy(config)
    if pol == "keep":
        return {c: 0 for c in PII_COLUMNS}
    key = workspace_secret(ws)
    raw = " OR ".join(f"({c} IS NOT NULL AND NOT starts_with({c}, '{PREFIX}'))" for c in PII_COLUMNS)
    counts = dict(zip(PII_COLUMNS, ws.con.execute(
        "SELECT " + ", ".join(f"count(*) FILTER (WHERE {c} IS NOT NULL AND NOT starts_with({c}, '{PREFIX}'))"
                              for c in PII_COLUMNS) + " FROM customers").fetchall()[0]))
    with ws.transaction() as con:
        if pol == "separate":
            sel = ", ".join(f"CASE WHEN starts_with({c}, '{PREFIX}') THEN NULL ELSE {c} END AS {c}"
                            for c in PII_COLUMNS)
            con.execute(f"INSERT INTO customer_pii BY NAME SELECT DISTINCT ON (customer_id) customer_id, {sel}, "
                        f"ingest_id FROM customers WHERE ({raw}) AND customer_id NOT IN "
                        f"(SELECT customer_id FROM customer_pii) ORDER BY customer_id")
        sets = ", ".join(f"{c} = CASE WHEN starts_with({c}, '{PREFIX}') THEN {c} "
                         f"ELSE {hmac_sql(c, key, column=c)} END" for c in PII_COLUMNS)
        con.execute(f"UPDATE customers SET {sets} WHERE {raw}")
        _generalise_demographics(con)
    return {c: int(n) for c, n in counts.items()}


def _generalise_demographics(con) -> None:
    """Generalise the demographic columns in place (idempotent: a generalised value maps to itself)."""
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = 'customers'").fetchall()}
    sets = [f"{c} = {generalise_sql(c, c)}" for c in DEMOGRAPHIC_COLUMNS if c in have]
    if sets:
        con.execute(f"UPDATE customers SET {', '.join(sets)} "
                    "WHERE birth_date IS NOT NULL OR gender IS NOT NULL")


class IngestPrivacy:
    """What one ingest needs to apply the privacy settings: the policy, the key, and whether any customer
    has been forgotten (then rows of those customers are quarantined)."""

    def __init__(self, ws, config):
        self.policy = policy(config)
        n_forgotten = ws.scalar("SELECT count(*) FROM forget_log") if ws.has_table("forget_log") else 0
        self.has_forgotten = bool(n_forgotten)
        need_key = self.policy != "keep" or self.has_forgotten
        self.key = workspace_secret(ws) if need_key else None

    def typed_pii(self, table: str, column: str, typed: str) -> str:
        """The SQL stored for canonical column ``table.column`` given its typed SQL ``typed``."""
        if table == "customers" and column in PII_COLUMNS and self.policy != "keep":
            return hmac_sql(typed, self.key, column=column)
        if table == "customers" and column in DEMOGRAPHIC_COLUMNS and self.policy != "keep":
            return generalise_sql(column, typed)
        return typed

    def forgotten_check(self, typed_customer_id: str) -> str | None:
        """SQL condition: this customer id was forgotten (None when nobody was)."""
        if not self.has_forgotten:
            return None
        return (f"{typed_customer_id} IS NOT NULL AND {hmac_sql(typed_customer_id, self.key)} "
                f"IN (SELECT id_hmac FROM forget_log)")


def forgotten_among(con, ws_path, customer_ids) -> set[str]:
    """The ids among ``customer_ids`` that ``shopseg forget`` removed (matched by keyed pseudonym)."""
    ids = {str(c) for c in customer_ids if c is not None}
    if not ids:
        return set()
    has_log = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
                          "AND table_name = 'forget_log'").fetchall()[0][0]
    if not has_log or not con.execute("SELECT count(*) FROM forget_log").fetchall()[0][0]:
        return set()
    key = workspace_secret(ws_path)
    by_hash = {pseudonym(i, key): i for i in ids}
    hit = con.execute("SELECT id_hmac FROM forget_log WHERE id_hmac IN (SELECT unnest(?::VARCHAR[]))",
                      [list(by_hash)]).fetchall()
    return {by_hash[h] for (h,) in hit}


def pseudonymise_rows(rows: list[dict], pii_policy: str, ws_path) -> tuple[list[dict], list[dict]]:
    """Customers rows posted to the service under ``pii_policy``: (rows for customers, rows for customer_pii)."""
    if pii_policy == "keep" or not rows:
        return rows, []
    key = workspace_secret(ws_path)
    out, raw = [], []
    for r in rows:  # a posted batch is small (the service caps its rows): a loop is fine here
        out.append({k: (pseudonym(v, key, column=k) if k in PII_COLUMNS else generalised(k, v))
                    for k, v in r.items()})
        if pii_policy == "separate" and any(r.get(c) is not None for c in PII_COLUMNS):
            raw.append({"customer_id": r.get("customer_id"), **{c: r.get(c) for c in PII_COLUMNS}})
    return out, raw


def generalised(column: str, value):
    """Python twin of :func:`generalise_sql` for one posted value (other columns pass unchanged).

    >>> generalised("gender", " Frau "), generalised("gender", "M"), generalised("birth_date", "1984-07-02")
    ('female', 'male', '1984-01-01')
    """
    if value is None or column not in DEMOGRAPHIC_COLUMNS:
        return value
    v = str(value).strip(_SPACES)
    if not v:
        return None
    if column == "birth_date":
        return v[:4] + "-01-01"
    return {"f": "female", "w": "female", "m": "male"}.get(v[0].lower(), "other")
