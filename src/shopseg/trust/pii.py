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

The secret is 32 bytes from :func:`os.urandom`, created once with mode 0600 and
never printed, and it lives **outside the workspace** so that a copy of the
workspace cannot confirm a guessed e-mail: in ``$SHOPSEG_KEY_DIR`` (default
``$XDG_CONFIG_HOME/shopseg/keys``, i.e. ``~/.config/shopseg/keys``) as
``<workspace id>.key``, or given whole by ``$SHOPSEG_SECRET_KEY`` (64 hex digits,
for servers and containers).  The workspace keeps only ``secret.id``: its random id
and a check value (an HMAC of a constant, which confirms the right key is in use and
reveals nothing about any e-mail).  A workspace whose key has gone missing refuses to
make a new one: new pseudonyms would silently stop matching old ones (and forgotten
customers would no longer be recognised at ingest).  Workspaces made before this
kept ``<workspace>/secret.key``; it is still read, and ``shopseg secret --move-out``
moves it out (:func:`move_secret_out`).
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


KEY_ENV = "SHOPSEG_SECRET_KEY"  # the key itself, 64 hex digits (servers, containers)
KEY_DIR_ENV = "SHOPSEG_KEY_DIR"  # the folder of <workspace id>.key files
ID_FILE = "secret.id"  # in the workspace: its id and the key's check value, never the key
_CHECK = b"shopseg workspace key check v1"


def key_dir() -> Path:
    """The folder holding workspace keys: ``$SHOPSEG_KEY_DIR``, else ``$XDG_CONFIG_HOME/shopseg/keys``."""
    if os.environ.get(KEY_DIR_ENV):
        return Path(os.environ[KEY_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "shopseg" / "keys"


def _root(ws_or_path) -> Path:
    return Path(getattr(ws_or_path, "path", ws_or_path))


def _read_id(root: Path) -> dict | None:
    import json

    p = root / ID_FILE
    if not p.exists():
        return None
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
        if not (isinstance(info, dict) and isinstance(info.get("workspace_id"), str)):
            raise ValueError("no workspace_id")
    except ValueError as e:
        raise WorkspaceError(f"The workspace key record {p} is damaged ({e}).",
                             hint="Restore it from a backup of the workspace.") from None
    return info


def _check_value(key: bytes) -> str:
    return hmac.new(key, _CHECK, hashlib.sha256).hexdigest()


def _id_record(workspace_id: str, key: bytes) -> bytes:
    """The bytes of ``secret.id``: the workspace's id and the key's check value, never the key."""
    import json

    return json.dumps({"workspace_id": workspace_id, "key_check": _check_value(key)}).encode()


def secret_path(ws_or_path) -> Path:
    """Where the workspace's key file is (or will be): outside the workspace, or a legacy ``secret.key`` in it."""
    root = _root(ws_or_path)
    if (root / SECRET_FILE).exists():
        return root / SECRET_FILE
    info = _read_id(root)
    if info is None:
        raise WorkspaceError(f"The workspace {root} has no key yet; it gets one on first use.")
    return key_dir() / f"{info['workspace_id']}.key"


def _env_key() -> bytes | None:
    raw = os.environ.get(KEY_ENV)
    if raw is None:
        return None
    try:
        key = bytes.fromhex(raw.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(f"{KEY_ENV} must hold 64 hexadecimal digits (32 bytes). Got {len(raw.strip())} "
                          "characters that do not make such a key instead.",
                          hint="Make one with: python -c 'import os; print(os.urandom(32).hex())'")
    return key


def _create_exclusive(p: Path, data: bytes) -> bool:
    """Write ``data`` to a new file (mode 0600); False when the file already exists."""
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return True


def _read_key(p: Path) -> bytes:
    key = p.read_bytes()
    if len(key) != 32:
        raise WorkspaceError(f"The workspace secret {p} must hold 32 bytes. Got {len(key)} instead.",
                             hint="Restore it from a backup; a new one makes new pseudonyms not match old ones.")
    return key


def _new_workspace_key(root: Path, env_key: bytes | None) -> bytes:
    """First use: an id record in the workspace and (unless the environment gives it) a key file outside."""
    root.mkdir(parents=True, exist_ok=True)
    wid = os.urandom(16).hex()
    key, key_file = env_key, None
    if key is None:
        d = key_dir()
        try:
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            raise WorkspaceError(f"Cannot create the key folder {d}: {e.strerror}.",
                                 hint=f"Set {KEY_DIR_ENV} to a writable private folder, or {KEY_ENV} to a key.") \
                from None
        key, key_file = os.urandom(32), d / f"{wid}.key"
        _create_exclusive(key_file, key)
    if _create_exclusive(root / ID_FILE, _id_record(wid, key)):
        return key
    if key_file is not None:  # a concurrent process made the workspace's record first: use theirs
        key_file.unlink(missing_ok=True)
    return workspace_secret(root)


def workspace_secret(ws_or_path) -> bytes:
    """The workspace's 32-byte secret, created on first use (mode 0600, ``os.urandom``), kept outside it.

    Order: ``$SHOPSEG_SECRET_KEY``; a legacy ``<workspace>/secret.key``; ``<key dir>/<workspace id>.key``.
    A key that does not match the workspace's recorded check value, or a missing key for a workspace
    that already had one, is an error: a new key would silently break every stored pseudonym.
    """
    root = _root(ws_or_path)
    env_key = _env_key()
    legacy = root / SECRET_FILE
    info = _read_id(root)
    if legacy.exists():  # a workspace made before keys moved out (or mid-move: then the check below applies)
        key = env_key or _read_key(legacy)
    elif info is None:
        return _new_workspace_key(root, env_key)
    elif env_key is not None:
        key = env_key
    else:
        p = key_dir() / f"{info['workspace_id']}.key"
        if not p.exists():
            raise WorkspaceError(
                f"The key of workspace {root} (id {info['workspace_id']}) is not at {p}; pseudonyms and the "
                "forget log cannot be computed without it, and a new key would not match the stored ones.",
                hint=f"Copy the key file from the machine that made the workspace into {key_dir()} (or set "
                     f"{KEY_DIR_ENV} to its folder, or {KEY_ENV} to the key).")
        key = _read_key(p)
    if info is not None and info.get("key_check") != _check_value(key):
        raise WorkspaceError(f"The key in use does not belong to workspace {root} (id {info['workspace_id']}): "
                             "its check value differs.",
                             hint=f"Unset {KEY_ENV} or point {KEY_DIR_ENV} at the workspace's own key.")
    return key


def move_secret_out(ws_or_path) -> Path:
    """Move a legacy ``<workspace>/secret.key`` to the key folder; returns the key's new path.

    The workspace keeps an id record with the key's check value, so the same key keeps being used and
    a copy of the workspace no longer holds it.
    """
    root = _root(ws_or_path)
    legacy = root / SECRET_FILE
    if not legacy.exists():
        if _read_id(root) is not None:
            return secret_path(root)
        raise WorkspaceError(f"The workspace {root} has no key to move (no {SECRET_FILE}).")
    key = _read_key(legacy)
    info = _read_id(root) or {"workspace_id": os.urandom(16).hex()}
    d = key_dir()
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    dest = d / f"{info['workspace_id']}.key"
    if dest.exists() and dest.read_bytes() != key:
        raise WorkspaceError(f"{dest} already holds another key.", hint="Move it away first; keys are not merged.")
    _create_exclusive(dest, key)
    record = root / (ID_FILE + ".tmp")
    record.write_bytes(_id_record(info["workspace_id"], key))
    os.replace(record, root / ID_FILE)
    legacy.unlink()
    return dest


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
    v = f"lower(substr(trim(CAST({expr} AS VARCHAR)), 1, 1))"  # substr, not left: SQLite (the online store) too
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
