"""Demographics from optional customer columns: age bands as of the run, gender as stated, PII handling."""

from __future__ import annotations

import pandas as pd

from shopseg.config import load_config
from shopseg.ingest import ingest
from shopseg.segment.demographics import AGE_BANDS, demographics
from shopseg.trust.pii import pseudonymise_rows, pseudonymise_workspace

from .test_act_playbook import write_table

CSV = """customer_id,name,birth_date,gender
d1,Ann Lee,2000-07-01,F
d2,Bo Park,2000-07-02,Male
d3,Cy Ng,,
d4,Di Fox,1950-01-15,x
"""


def test_age_band_counts_whole_years_to_as_of_with_the_birthday_from_its_day(ws):
    write_table(ws, "customers", pd.DataFrame({
        "customer_id": ["d1", "d2", "d3"],
        "birth_date": pd.to_datetime(["2000-07-01", "2000-07-02", None])}))
    got = {as_of: demographics(ws, as_of)[0].set_index("customer_id")["age_band"].to_dict()
           for as_of in ("2025-07-01", "2025-07-02")}
    assert got["2025-07-01"] == {"d1": "25-34", "d2": "18-24", "d3": "unknown"}  # d2 turns 25 the next day
    assert got["2025-07-02"] == {"d1": "25-34", "d2": "25-34", "d3": "unknown"}
    assert [b for b, _, _ in AGE_BANDS] == ["under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def test_the_shops_own_age_band_is_used_where_there_is_no_birth_date(ws):
    write_table(ws, "customers", pd.DataFrame({
        "customer_id": ["a", "b", "c"], "birth_date": pd.to_datetime(["1990-01-01", None, None]),
        "age_band": [None, " 35-44 ", None]}))
    df, notes = demographics(ws, "2024-01-01")
    assert df["age_band"].tolist() == ["25-34", "35-44", "unknown"] and "age_band" in df and not notes.get("age_band")


def test_gender_is_read_by_its_first_letter_and_never_from_names(ws):
    write_table(ws, "customers", pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"], "name": ["Mary", "John", "Mary", "Jo", "Al"],
        "gender": ["F", "Frau", "male", "x", None]}))
    df, notes = demographics(ws, "2024-01-01")
    assert df["gender"].tolist() == ["female", "female", "male", "other", "unknown"]  # c is "Mary": male as stated
    assert "gender" not in notes


def test_demographic_schemes_are_skipped_with_a_note_when_the_shop_has_no_values(ws):
    write_table(ws, "customers", pd.DataFrame({"customer_id": ["a", "b"], "name": ["Mary", "John"]}))
    df, notes = demographics(ws, "2024-01-01")
    assert list(df.columns) == ["customer_id"]  # nothing inferred, not even from the names
    assert notes == {
        "age_band": "skipped: no customer has a birth_date or an age_band (optional customers columns)",
        "gender": "skipped: no customer has a gender (optional customers column)"}


def test_demographics_follows_the_given_customer_order_and_fills_unknown(ws):
    write_table(ws, "customers", pd.DataFrame({"customer_id": ["a"], "gender": ["m"]}))
    df, _ = demographics(ws, "2024-01-01", customer_ids=["zz", "a"])
    assert df.to_dict("list") == {"customer_id": ["zz", "a"], "gender": ["unknown", "male"]}


def _ingest(ws, tmp_path, pii: str):
    p = tmp_path / "customers.csv"
    p.write_text(CSV, encoding="utf-8")
    return ingest(ws, p, table="customers", config=load_config(overrides={"privacy": {"pii": pii}}))


def test_hash_policy_stores_the_birth_year_and_the_normalised_gender_only(ws, tmp_path):
    assert _ingest(ws, tmp_path, "hash").n_accepted == 4
    got = ws.df("SELECT customer_id, coalesce(CAST(birth_date AS DATE)::VARCHAR, '-') AS b, "
                "coalesce(gender, '-') AS gender FROM customers ORDER BY customer_id")
    assert got["b"].tolist() == ["2000-01-01", "2000-01-01", "-", "1950-01-01"]
    assert got["gender"].tolist() == ["female", "male", "-", "other"]
    assert not ws.scalar("SELECT count(*) FROM customers WHERE month(birth_date) <> 1 OR day(birth_date) <> 1")


def test_keep_policy_stores_demographics_as_given(ws, tmp_path):
    _ingest(ws, tmp_path, "keep")
    got = ws.df("SELECT CAST(birth_date AS DATE)::VARCHAR AS b, gender FROM customers ORDER BY customer_id")
    assert got["b"].tolist()[:2] == ["2000-07-01", "2000-07-02"] and got["gender"].tolist()[:2] == ["F", "Male"]


def test_a_birth_date_before_ingest_min_date_is_accepted_but_not_one_before_1900(ws, tmp_path):
    p = tmp_path / "customers.csv"
    p.write_text("customer_id,birth_date\nold,1931-05-05\nbad,1850-01-01\n", encoding="utf-8")
    r = ingest(ws, p, table="customers")
    assert (r.n_accepted, r.n_quarantined) == (1, 1)
    assert "expected a date from 1900-01-01" in ws.scalar("SELECT reason FROM quarantine")


def test_quarantined_rows_hide_the_birth_date_under_hash(ws, tmp_path):
    p = tmp_path / "customers.csv"
    p.write_text("customer_id,birth_date,gender,signed_up_at\nq1,1984-03-09,female,not-a-date\n", encoding="utf-8")
    r = ingest(ws, p, table="customers", config=load_config(overrides={"privacy": {"pii": "hash"},
                                                                              "ingest": {"max_quarantine_share": 1.0}}))
    assert r.n_quarantined == 1
    raw = ws.scalar("SELECT raw FROM quarantine")
    assert "1984-03-09" not in raw and '"birth_date":"[redacted]"' in raw and '"gender":"[redacted]"' in raw


def test_pseudonymising_a_workspace_generalises_rows_written_without_ingest(ws):
    write_table(ws, "customers", pd.DataFrame({
        "customer_id": ["a", "b"], "email": ["a@example.com", None],
        "birth_date": pd.to_datetime(["1984-03-09", None]), "gender": ["Woman", "M"]}))
    pseudonymise_workspace(ws, load_config(overrides={"privacy": {"pii": "separate"}}))
    got = ws.df("SELECT coalesce(CAST(birth_date AS DATE)::VARCHAR, '-') AS b, gender FROM customers "
                "ORDER BY customer_id")
    assert got.to_dict("list") == {"b": ["1984-01-01", "-"], "gender": ["female", "male"]}
    assert "birth_date" not in ws.df("SELECT * FROM customer_pii").columns  # the exact date is kept nowhere


def test_rows_posted_to_the_service_are_generalised_too(tmp_path):
    rows, raw = pseudonymise_rows([{"customer_id": "a", "birth_date": "1984-03-09", "gender": " f "}], "hash",
                                  tmp_path)
    assert rows[0]["birth_date"] == "1984-01-01" and rows[0]["gender"] == "female" and raw == []
