"""Audience exports: identifiers hashed as ad platforms expect, PII only on request, no control customers."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from shopseg.act import export_audience, normalize_phone
from shopseg.config import load_config
from shopseg.errors import ConfigError, ShopsegError

from .test_act_playbook import write_table

# SHA-256 of the normalised identifiers, written out (checked with `printf ... | sha256sum`)
SHA_TEST_EMAIL = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"  # test@example.com
SHA_ADA_EMAIL = "b5fc85e55755f9e0d030a10ab4429b6b2944855f9a0d60077fe832becbc41d72"  # ada@example.com
SHA_US_PHONE = "e80ac8e3eca883c7344a609f3532e3f70365f5c1facd204f88f5d2c7caebac38"  # +14155550134
SHA_UK_PHONE = "f0bf0228144d9fe2bdf1da2d8ca698f17bf1410ee688b075c27062e47b6f0b6d"  # +442079460958


def audience(ws):
    ws.con.execute("""INSERT INTO customers (customer_id, email, phone, name, country) VALUES
        ('a', '  Test@Example.COM ', '(415) 555-0134', 'Ann', 'United States'),
        ('b', 'ada@example.com', '020 7946 0958', 'Ada', 'GB'),
        ('c', NULL, '12', 'Cy', NULL),
        ('d', 'held@example.com', '+1 415 555 0134', 'Dot', 'US')""")
    ws.con.execute("INSERT INTO runs (run_id, as_of, seed, status) VALUES (1, TIMESTAMP '2024-07-01', 0, 'done')")
    df = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "campaign": "promo", "offer": "10% off",
                       "variant": ["10% off"] * 3 + ["control"], "channel": "email",
                       "group": ["treatment"] * 3 + ["control"], "stratum": "x", "priority": 1,
                       "response_rate": 0.1, "incentive": 0.0, "contact_cost": 0.1, "expected_value": 1.0,
                       "cost": 0.1, "reason": "", "run_id": 1})
    write_table(ws, "actions", df)


def test_emails_are_trimmed_lower_cased_and_sha256_hashed(ws):
    audience(ws)
    out = pd.read_csv(export_audience(ws, "promo", config=load_config()), dtype=str).set_index("customer_id")
    assert out.loc["a", "email_sha256"] == SHA_TEST_EMAIL
    assert out.loc["b", "email_sha256"] == SHA_ADA_EMAIL
    assert pd.isna(out.loc["c", "email_sha256"])
    assert SHA_TEST_EMAIL == hashlib.sha256(b"test@example.com").hexdigest()


def test_phones_are_normalised_to_e164_then_hashed(ws):
    audience(ws)
    out = pd.read_csv(export_audience(ws, "promo", config=load_config()), dtype=str).set_index("customer_id")
    assert out.loc["a", "phone_sha256"] == SHA_US_PHONE
    assert out.loc["b", "phone_sha256"] == SHA_UK_PHONE  # national UK number, country GB
    assert pd.isna(out.loc["c", "phone_sha256"])  # too short to be a phone number


def test_control_customers_are_never_exported(ws):
    audience(ws)
    for fmt in ("csv", "parquet"):
        path = export_audience(ws, "promo", format=fmt, include_pii=True, config=load_config())
        df = pd.read_csv(path, dtype=str) if fmt == "csv" else pd.read_parquet(path)
        assert "d" not in set(df["customer_id"])
        assert len(df) == 3


def test_raw_pii_only_when_asked_for(ws):
    audience(ws)
    plain = pd.read_csv(export_audience(ws, "promo", config=load_config()), dtype=str)
    assert not {"email", "phone_e164", "name"} & set(plain.columns)
    assert list(plain.columns) == ["customer_id", "email_sha256", "phone_sha256", "campaign", "offer", "variant",
                                   "channel"]
    pii = pd.read_csv(export_audience(ws, "promo", include_pii=True, config=load_config()),
                      dtype=str).set_index("customer_id")
    assert pii.loc["a", "phone_e164"] == "+14155550134"
    assert pii.loc["b", "phone_e164"] == "+442079460958"
    assert pii.loc["a", "email"] == "  Test@Example.COM "


def test_export_file_name_and_errors(ws):
    audience(ws)
    path = export_audience(ws, "promo", format="parquet", config=load_config())
    assert path == ws.exports_dir / "run-1-promo.parquet"
    with pytest.raises(ShopsegError, match="campaigns there: promo"):
        export_audience(ws, "nope", config=load_config())
    with pytest.raises(ConfigError, match="'csv', 'parquet'"):
        export_audience(ws, "promo", format="xlsx", config=load_config())


@pytest.mark.parametrize("raw, country, expected", [
    ("+1 415 555 0134", None, "+14155550134"),
    ("(415) 555-0134", None, "+14155550134"),        # national US number, default code 1
    ("0415 555 0134", None, "+14155550134"),         # trunk 0 dropped
    ("+14155550134", None, "+14155550134"),
    ("14155550134", None, "+14155550134"),           # already starts with the calling code
    ("0044 20 7946 0958", None, "+442079460958"),    # 00 international prefix
    ("020 7946 0958", "United Kingdom", "+442079460958"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("138 0013 8000", "China", "+8613800138000"),
    ("12", None, None),
    ("", None, None),
    (None, None, None),
    ("+1234567890123456", None, None),               # more than 15 digits
])
def test_phone_normaliser(raw, country, expected):
    assert normalize_phone([raw], "1", [country]) == [expected]


def test_default_country_code_is_used_when_the_country_is_unknown():
    assert normalize_phone(["020 7946 0958"], "44") == ["+442079460958"]
    with pytest.raises(ConfigError, match="1 to 3 digits"):
        normalize_phone(["1"], "+44")


# Meta's published hashing examples (Conversions API, customer information parameters: em and ph)
META_EMAIL = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"  # john_smith@gmail.com
META_PHONE = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"  # 16505551212
GOOGLE_PHONE = "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8"  # +16505551212


def platform_audience(ws):
    audience(ws)
    ws.con.execute("""INSERT INTO customers (customer_id, email, phone, name, country) VALUES
        ('e', ' John_Smith@Gmail.com ', '+1 (650) 555-1212', 'John Smith', 'US')""")
    write_table(ws, "actions", pd.DataFrame({
        "customer_id": ["e"], "campaign": "promo", "offer": "10% off", "variant": "10% off", "channel": "email",
        "group": "treatment", "stratum": "x", "priority": 1, "response_rate": 0.1, "incentive": 0.0,
        "contact_cost": 0.1, "expected_value": 1.0, "cost": 0.1, "reason": "", "run_id": 1}))


def test_meta_file_matches_metas_published_hashes(ws):
    platform_audience(ws)
    path = export_audience(ws, "promo", platform="meta", config=load_config())
    assert path.name == "run-1-promo-meta.csv"
    out = pd.read_csv(path, dtype=str).set_index("extern_id")
    assert list(out.columns) == ["email", "phone"]
    assert out.loc["e", "email"] == META_EMAIL
    assert out.loc["e", "phone"] == META_PHONE  # digits with the country code, no '+'
    assert out.loc["a", "email"] == SHA_TEST_EMAIL
    assert "d" not in out.index  # control
    assert "c" not in out.index  # neither an e-mail nor a usable phone: nothing to match on


def test_google_file_hashes_the_e164_phone_with_its_plus(ws):
    platform_audience(ws)
    out = pd.read_csv(export_audience(ws, "promo", platform="google", config=load_config()), dtype=str)
    assert list(out.columns) == ["Email", "Phone"]
    row = out[out["Email"] == META_EMAIL].iloc[0]
    assert row["Phone"] == GOOGLE_PHONE == hashlib.sha256(b"+16505551212").hexdigest()
    assert len(out) == 3  # a, b, e: c has nothing to match on, d is control


def test_klaviyo_and_mailchimp_files_hold_contacts_only_on_request(ws):
    platform_audience(ws)
    for p in ("klaviyo", "mailchimp"):
        with pytest.raises(ShopsegError, match="needs include_pii=True"):
            export_audience(ws, "promo", platform=p, config=load_config())
    k = pd.read_csv(export_audience(ws, "promo", platform="klaviyo", include_pii=True, config=load_config()),
                    dtype=str).set_index("Email")
    assert list(k.columns) == ["Phone Number", "First Name", "Last Name", "shopseg_campaign", "shopseg_offer"]
    assert k.loc["john_smith@gmail.com", "Phone Number"] == "+16505551212"
    assert (k.loc["john_smith@gmail.com", "First Name"], k.loc["john_smith@gmail.com", "Last Name"]) == \
        ("John", "Smith")
    assert "held@example.com" not in k.index  # control
    m = pd.read_csv(export_audience(ws, "promo", platform="mailchimp", include_pii=True, config=load_config()),
                    dtype=str)
    assert list(m.columns) == ["Email Address", "First Name", "Last Name", "Phone Number", "Tags"]
    assert sorted(m["Email Address"]) == ["ada@example.com", "john_smith@gmail.com", "test@example.com"]
    assert set(m["Tags"]) == {"promo"}


def test_an_unknown_platform_is_a_config_error(ws):
    platform_audience(ws)
    with pytest.raises(ConfigError, match="'platform' parameter of export_audience must be one of"):
        export_audience(ws, "promo", platform="myspace", config=load_config())


def test_no_exported_cell_runs_as_a_formula_in_a_spreadsheet(ws):
    """OWASP CSV injection: names and offers starting with =, +, -, @ get a leading quote; phones stay E.164."""
    audience(ws)
    ws.con.execute("UPDATE customers SET name = '=HYPERLINK(\"http://x\",\"y\")' WHERE customer_id = 'a'")
    ws.con.execute("UPDATE customers SET name = '@SUM(A1)' WHERE customer_id = 'b'")
    ws.con.execute("UPDATE customers SET name = '-2+3' WHERE customer_id = 'c'")
    ws.con.execute("UPDATE actions SET offer = '+cmd|calc' WHERE customer_id = 'a'")
    df = pd.read_csv(export_audience(ws, "promo", include_pii=True, config=load_config()), dtype=str,
                     keep_default_na=False).set_index("customer_id")
    assert df.loc["a", "name"] == "'=HYPERLINK(\"http://x\",\"y\")" and df.loc["b", "name"] == "'@SUM(A1)"
    assert df.loc["c", "name"] == "'-2+3" and df.loc["a", "offer"] == "'+cmd|calc"
    assert df.loc["a", "phone_e164"] == "+14155550134"  # a plain number is no formula
    k = pd.read_csv(export_audience(ws, "promo", platform="klaviyo", include_pii=True, config=load_config()),
                    dtype=str, keep_default_na=False)
    assert "'=HYPERLINK(\"http://x\"" in k["First Name"].tolist()[0] and k["Phone Number"][0] == "+14155550134"
    assert k["shopseg_offer"][0] == "'+cmd|calc"
