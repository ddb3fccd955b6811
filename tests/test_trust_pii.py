"""Pseudonymised PII: keyed hashes at ingest, a separate PII table, no raw PII where it must not be."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopseg.act import export_audience
from shopseg.config import load_config
from shopseg.errors import ConfigError, WorkspaceError
from shopseg.fixtures import load_fixture_shop
from shopseg.ingest import ingest
from shopseg.trust.pii import (PII_COLUMNS, contacts_sql, hmac_sql, pseudonym, pseudonymise_workspace,
                               move_secret_out, secret_path, workspace_secret)
from shopseg.workspace import open_workspace

from .test_act_playbook import write_table

CUSTOMERS_CSV = """customer_id,email,phone,name,address,country
k1, Kira.Quinn@Example.org ,+44 20 7946 0001,Kira Quinn,12 Larch Row,GB
k2,zed.umber@example.net,(415) 555-0199,Zed Umber,99 Birch Lane,US
k3,,,Ola Vance,,FR
"""
RAW = ["Kira.Quinn@Example.org", "kira.quinn@example.org", "+44 20 7946 0001", "Kira Quinn", "12 Larch Row",
       "zed.umber@example.net", "(415) 555-0199", "Zed Umber", "99 Birch Lane", "Ola Vance"]


def cfg(pii: str):
    return load_config(overrides={"privacy": {"pii": pii}})


def every_text_value(ws) -> set[str]:
    """Every non-NULL text value of every table of the workspace (the exhaustive check)."""
    out = set()
    for t, c in ws.sql("SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_schema = 'main' AND data_type = 'VARCHAR'"):
        out |= {r[0] for r in ws.sql(f'SELECT DISTINCT "{c}" FROM "{t}" WHERE "{c}" IS NOT NULL')}
    return out


@pytest.fixture
def customers_csv(tmp_path):
    p = tmp_path / "customers.csv"
    p.write_text(CUSTOMERS_CSV, encoding="utf-8")
    return p


def test_sql_hmac_equals_rfc2104_hmac_sha256():
    key = bytes(range(32))
    con = duckdb.connect()
    got = con.execute(f"SELECT {hmac_sql('v', key)} FROM (SELECT ?::VARCHAR AS v)",
                      ["ada@example.com"]).fetchall()[0][0]
    assert got == "hmac:" + hmac.new(key, b"ada@example.com", hashlib.sha256).hexdigest()
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    rfc = con.execute(f"SELECT {hmac_sql('v', b'Jefe')} FROM (SELECT ?::VARCHAR AS v)",
                      ["what do ya want for nothing?"]).fetchall()[0][0]
    assert rfc == "hmac:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


_CON = duckdb.connect()  # one in-memory connection for the property test's many examples


@settings(max_examples=80, deadline=None)
@given(value=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and "\x00" not in s),
       key=st.binary(min_size=1, max_size=80))
def test_sql_pseudonym_equals_python_pseudonym_for_any_text_and_key(value, key):
    con = _CON
    for column in ("email", "name"):
        got = con.execute(f"SELECT {hmac_sql('v', key, column=column)} FROM (SELECT ?::VARCHAR AS v)",
                          [value]).fetchall()[0][0]
        assert got == pseudonym(value, key, column=column), (value, key, column)


def test_secret_is_32_random_bytes_mode_0600_created_once(tmp_path):
    a, b = open_workspace(tmp_path / "a"), open_workspace(tmp_path / "b")
    try:
        ka = workspace_secret(a)
        assert len(ka) == 32 and workspace_secret(a) == ka  # stable
        assert stat.S_IMODE(os.stat(secret_path(a)).st_mode) == 0o600
        kb = workspace_secret(b)
        assert ka != kb  # per workspace: the same e-mail gets different pseudonyms in two workspaces
        assert pseudonym("x@y.z", ka) != pseudonym("x@y.z", kb)
    finally:
        a.close()
        b.close()


def every_file_bytes(root) -> bytes:
    return b"".join(f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file())


def test_the_key_lives_outside_the_workspace_and_a_copy_cannot_use_or_replace_it(tmp_path, monkeypatch,
                                                                                 customers_csv):
    import shutil

    keys = tmp_path / "keys"
    monkeypatch.setenv("SHOPSEG_KEY_DIR", str(keys))
    w = open_workspace(tmp_path / "ws")
    ingest(w, customers_csv, table="customers", config=cfg("hash"))
    key = workspace_secret(w)
    w.close()
    assert secret_path(tmp_path / "ws").parent == keys  # outside the workspace
    assert not (tmp_path / "ws" / "secret.key").exists()
    assert key not in every_file_bytes(tmp_path / "ws")  # no byte of it in the workspace folder
    shutil.copytree(tmp_path / "ws", tmp_path / "copy")
    assert workspace_secret(tmp_path / "copy") == key  # the same machine: the same key, by the workspace id
    monkeypatch.setenv("SHOPSEG_KEY_DIR", str(tmp_path / "elsewhere"))  # another machine: no key there
    with pytest.raises(WorkspaceError, match=r"is not at .*elsewhere.*a new key would not match") as e:
        workspace_secret(tmp_path / "copy")
    assert "SHOPSEG_KEY_DIR" in e.value.hint and "SHOPSEG_SECRET_KEY" in e.value.hint
    assert not (tmp_path / "elsewhere").exists()  # refused, and no new key was made
    monkeypatch.setenv("SHOPSEG_SECRET_KEY", key.hex())  # the key given by the environment works
    assert workspace_secret(tmp_path / "copy") == key
    monkeypatch.setenv("SHOPSEG_SECRET_KEY", os.urandom(32).hex())  # another key is refused by the check value
    with pytest.raises(WorkspaceError, match="does not belong to workspace"):
        workspace_secret(tmp_path / "copy")
    monkeypatch.setenv("SHOPSEG_SECRET_KEY", "abc")
    with pytest.raises(ConfigError, match="64 hexadecimal digits"):
        workspace_secret(tmp_path / "copy")


def test_a_legacy_key_in_the_workspace_is_used_and_moved_out_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPSEG_KEY_DIR", str(tmp_path / "keys"))
    root = tmp_path / "old"
    root.mkdir()
    legacy = os.urandom(32)
    (root / "secret.key").write_bytes(legacy)
    assert workspace_secret(root) == legacy
    dest = move_secret_out(root)
    assert dest.parent == tmp_path / "keys" and dest.read_bytes() == legacy
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert not (root / "secret.key").exists() and workspace_secret(root) == legacy
    assert move_secret_out(root) == dest  # again: nothing to move, says where it is


def test_hash_policy_stores_only_keyed_pseudonyms_of_pii(ws, customers_csv):
    r = ingest(ws, customers_csv, table="customers", config=cfg("hash"))
    assert r.n_accepted == 3
    key = workspace_secret(ws)
    got = ws.df("SELECT * FROM customers ORDER BY customer_id").set_index("customer_id")
    assert got.loc["k1", "email"] == pseudonym("kira.quinn@example.org", key)  # trimmed, lower-cased
    assert got.loc["k1", "phone"] == "hmac:" + hmac.new(key, b"+44 20 7946 0001", hashlib.sha256).hexdigest()
    assert got.loc["k2", "address"] == pseudonym("99 Birch Lane", key)
    assert pd.isna(got.loc["k3", "email"]) and got.loc["k3", "country"] == "FR"  # NULL stays NULL, others kept
    assert not set(RAW) & every_text_value(ws)
    assert ws.count("customer_pii") == 0  # hash: the raw values are gone, not moved


def test_hash_policy_leaves_no_raw_pii_in_the_database_file(tmp_path, customers_csv):
    found = {}
    for pii in ("keep", "hash"):
        w = open_workspace(tmp_path / pii)
        ingest(w, customers_csv, table="customers", config=cfg(pii))
        w.con.execute("CHECKPOINT")
        w.close()
        data = (tmp_path / pii / "shop.duckdb").read_bytes()
        found[pii] = sorted(v for v in RAW if v.encode() in data)
    assert "Kira Quinn" in found["keep"]  # the byte scan does see raw values when they are stored
    assert found["hash"] == []


def test_reingesting_the_same_rows_under_hash_counts_duplicates_not_conflicts(ws, customers_csv, tmp_path):
    ingest(ws, customers_csv, table="customers", config=cfg("hash"))
    again = tmp_path / "customers_again.csv"  # other bytes (extra blank line), same rows
    again.write_text(CUSTOMERS_CSV + "\n", encoding="utf-8")
    r = ingest(ws, again, table="customers", config=cfg("hash"))
    assert (r.n_accepted, r.n_quarantined, r.n_duplicate) == (0, 0, 3)


def test_quarantined_rows_keep_no_raw_pii_under_hash(ws, tmp_path):
    p = tmp_path / "customers.csv"
    p.write_text("customer_id,email,name,signed_up_at\nq1,quinn@example.org,Quinn Ash,not-a-date\n", encoding="utf-8")
    r = ingest(ws, p, table="customers", config=load_config(overrides={"privacy": {"pii": "hash"},  # 1 row, bad
                                                                   "ingest": {"max_quarantine_share": 1.0}}))
    assert r.n_quarantined == 1
    raw = ws.scalar("SELECT raw FROM quarantine")
    assert "quinn@example.org" not in raw and "Quinn Ash" not in raw
    assert '"email":"[redacted]"' in raw and '"signed_up_at":"not-a-date"' in raw  # the fault stays visible


def test_separate_policy_keeps_raw_pii_only_in_customer_pii(ws, customers_csv):
    ingest(ws, customers_csv, table="customers", config=cfg("separate"))
    key = workspace_secret(ws)
    pii = ws.df("SELECT * FROM customer_pii ORDER BY customer_id").set_index("customer_id")
    assert list(pii.index) == ["k1", "k2", "k3"]
    assert pii.loc["k1", "email"] == "Kira.Quinn@Example.org" and pii.loc["k2", "address"] == "99 Birch Lane"
    assert ws.scalar("SELECT name FROM customers WHERE customer_id = 'k3'") == pseudonym("Ola Vance", key)
    # nothing but customer_pii holds a raw value
    outside = set()
    for t, c in ws.sql("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main' "
                       "AND data_type = 'VARCHAR' AND table_name <> 'customer_pii'"):
        outside |= {r[0] for r in ws.sql(f'SELECT DISTINCT "{c}" FROM "{t}" WHERE "{c}" IS NOT NULL')}
    assert not set(RAW) & outside


def test_audience_export_reads_contacts_from_customer_pii(ws, customers_csv):
    ingest(ws, customers_csv, table="customers", config=cfg("separate"))
    ws.con.execute("INSERT INTO runs (run_id, as_of, seed, status) VALUES (1, TIMESTAMP '2024-07-01', 0, 'done')")
    write_table(ws, "actions", pd.DataFrame({
        "run_id": 1, "customer_id": ["k1", "k2"], "campaign": "promo", "offer": "x", "variant": "x",
        "channel": "email", "group": "treatment"}))
    out = pd.read_csv(export_audience(ws, "promo", include_pii=True, config=load_config()), dtype=str)
    out = out.set_index("customer_id")
    assert out.loc["k1", "email"] == "Kira.Quinn@Example.org"
    assert out.loc["k1", "email_sha256"] == hashlib.sha256(b"kira.quinn@example.org").hexdigest()
    assert out.loc["k2", "phone_e164"] == "+14155550199"


def test_under_hash_exports_carry_no_contact_details(ws, customers_csv):
    ingest(ws, customers_csv, table="customers", config=cfg("hash"))
    got = ws.df(f"SELECT * FROM {contacts_sql(ws)} ORDER BY customer_id")
    assert got[list(PII_COLUMNS)].isna().all().all()  # a pseudonym contacts no one
    assert list(got["country"]) == ["GB", "US", "FR"]


def test_keep_policy_stores_pii_as_given(ws, customers_csv):
    ingest(ws, customers_csv, table="customers", config=cfg("keep"))
    assert ws.scalar("SELECT name FROM customers WHERE customer_id = 'k1'") == "Kira Quinn"
    assert ws.count("customer_pii") == 0


def test_pseudonymise_workspace_moves_existing_pii_once(ws):
    load_fixture_shop(ws)  # 12 named customers, written without ingest
    first = pseudonymise_workspace(ws, cfg("separate"))
    assert first["name"] == 12 and first["email"] == 0
    assert ws.scalar("SELECT count(*) FROM customers WHERE starts_with(name, 'hmac:')") == 12
    assert ws.scalar("SELECT name FROM customer_pii WHERE customer_id = 'c01'") == "Ada"
    assert pseudonymise_workspace(ws, cfg("separate"))["name"] == 0  # idempotent
    assert ws.count("customer_pii") == 12


def test_customers_posted_to_the_service_are_pseudonymised_by_the_run_policy(tmp_path):
    import warnings

    from shopseg.pipeline import start_run

    from .test_serve_api import HTTPX_WARNING, W

    w = open_workspace(tmp_path / "ws")
    load_fixture_shop(w)
    rid = start_run(w, pd.Timestamp("2024-07-01").to_pydatetime(), cfg("separate"), 0)
    w.con.execute("UPDATE runs SET status = 'done' WHERE run_id = ?", [rid])
    w.close()
    from fastapi.testclient import TestClient

    from shopseg.serve import create_app

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=HTTPX_WARNING)
        client = TestClient(create_app(tmp_path / "ws", "read-key-1", "write-key-1"))
        with client:
            r = client.post("/events", headers=W, json={"customers": [
                {"customer_id": "n1", "email": "New.Person@Example.com", "name": "New Person"}]})
            assert r.status_code == 200, r.text
    w = open_workspace(tmp_path / "ws")
    try:
        key = workspace_secret(w)
        assert w.sql("SELECT email, name FROM customers WHERE customer_id = 'n1'") == [
            (pseudonym("new.person@example.com", key), pseudonym("New Person", key))]
        assert w.sql("SELECT email, name FROM customer_pii WHERE customer_id = 'n1'") == [
            ("New.Person@Example.com", "New Person")]
    finally:
        w.close()


def test_cli_secret_says_where_the_key_is_and_moves_an_old_one_out(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from shopseg.cli import app

    monkeypatch.setenv("SHOPSEG_KEY_DIR", str(tmp_path / "keys"))
    root = tmp_path / "old"
    root.mkdir()
    (root / "secret.key").write_bytes(os.urandom(32))

    def cli(*args):
        return CliRunner().invoke(app, ["--workspace", str(root), "secret", *args])

    r = cli()
    assert r.exit_code == 0 and "inside the workspace" in r.output and "--move-out" in r.output
    r = cli("--move-out")
    assert r.exit_code == 0 and f"Moved the key to {tmp_path / 'keys'}" in r.output.replace("\n", "")
    r = cli()
    assert r.exit_code == 0 and "outside the workspace" in r.output
    r = CliRunner().invoke(app, ["--workspace", str(tmp_path / "none"), "secret"])
    assert r.exit_code == 2 and "No workspace at" in r.output
