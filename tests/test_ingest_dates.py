"""Dates that are not ISO: m/d/Y and d/m/Y read where the data decide, an explicit format otherwise (#16, item 7)."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopseg.cli import app
from shopseg.config import load_config
from shopseg.errors import IngestError
from shopseg.ingest import ingest
from shopseg.workspace import open_workspace

OLIST = Path(__file__).parent / "data" / "olist_tiny"


def _orders(tmp_path, dates, name="orders.csv"):
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["order_id", "customer_id", "ordered_at"])
        w.writerows([(f"o{i}", "c1", d) for i, d in enumerate(dates)])
    return path


def _loaded(ws):
    return [f"{d:%Y-%m-%d %H:%M}" for (d,) in ws.sql("SELECT ordered_at FROM orders ORDER BY order_id")]


def test_month_first_dates_are_read_when_a_day_above_12_decides(tmp_path):
    # "3/14/2024": 14 cannot be a month, so the column is month-first, and "3/4/2024" is the 4th of March
    with open_workspace(tmp_path / "ws") as ws:
        r = ingest(ws, _orders(tmp_path, ["3/4/2024 10:00", "3/14/2024 09:30", "12/1/2023 00:00"]), table="orders")
        assert (r.n_accepted, r.n_quarantined) == (3, 0)
        assert _loaded(ws) == ["2024-03-04 10:00", "2024-03-14 09:30", "2023-12-01 00:00"]


def test_day_first_dates_are_read_when_a_day_above_12_decides(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        r = ingest(ws, _orders(tmp_path, ["3/4/2024", "14/3/2024", "01.12.2023"]), table="orders")
        assert (r.n_accepted, r.n_quarantined) == (3, 0)
        assert _loaded(ws) == ["2024-04-03 00:00", "2024-03-14 00:00", "2023-12-01 00:00"]


def test_iso_dates_are_untouched_and_a_bad_one_still_quarantined(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        r = ingest(ws, _orders(tmp_path, ["2024-03-04 10:00:00", "2024-02-30", "2024-03-05"]), table="orders")
        assert (r.n_accepted, r.n_quarantined) == (2, 1)
        assert ws.scalar("SELECT column_name FROM quarantine") == "ordered_at"


def test_an_ambiguous_column_is_an_error_naming_the_column_and_both_readings(tmp_path):
    path = _orders(tmp_path, ["3/4/2024", "5/6/2024", "1/2/2024"])  # no number above 12: either reading fits
    with open_workspace(tmp_path / "ws") as ws:
        with pytest.raises(IngestError) as e:
            ingest(ws, path, table="orders")
        msg = str(e.value)
        assert "column 'ordered_at' of orders is ambiguous" in msg
        assert "'1/2/2024' reads as 2024-01-02 (month first, m/d/Y) or as 2024-02-01 (day first, d/m/Y)" in msg
        assert "--date-format" in msg
        assert ws.count("orders") == 0
        # an explicit format settles it
        r = ingest(ws, path, table="orders", date_format="%d/%m/%Y")
        assert r.n_accepted == 3 and _loaded(ws) == ["2024-04-03 00:00", "2024-06-05 00:00", "2024-02-01 00:00"]


def test_a_column_mixing_both_orders_is_an_error(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        with pytest.raises(IngestError, match=r"mixes month-first dates \('3/14/2024'.*day-first dates \('14/3/2024'"):
            ingest(ws, _orders(tmp_path, ["3/14/2024", "14/3/2024"]), table="orders")


def test_a_mappings_explicit_format_is_used_as_given(tmp_path):
    path = _orders(tmp_path, ["3/4/2024", "3/14/2024"])
    with open_workspace(tmp_path / "ws") as ws:
        # the mapping says day-first: "3/14/2024" does not read that way and is quarantined, not reinterpreted
        r = ingest(ws, path, mapping={"table": "orders", "formats": {"ordered_at": "%d/%m/%Y"}})
        assert (r.n_accepted, r.n_quarantined) == (1, 1)
        assert _loaded(ws) == ["2024-04-03 00:00"]


def _olist_month_first(tmp_path):
    """tests/data/olist_tiny with its order and review dates saved the way Excel writes them in the US."""
    folder = tmp_path / "olist_mdy"
    shutil.copytree(OLIST, folder)
    iso = re.compile(r'"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):\d{2}"')
    for name in ("olist_orders_dataset.csv", "olist_order_reviews_dataset.csv"):
        p = folder / name
        text = p.read_text(encoding="utf-8")
        p.write_text(iso.sub(lambda m: f'"{int(m[2])}/{int(m[3])}/{m[1]} {m[4]}:{m[5]}"', text), encoding="utf-8")
    return folder


def test_the_olist_preset_reads_an_excel_month_first_export(tmp_path):
    folder = _olist_month_first(tmp_path)
    assert '"7/24/2018 20:41"' in (folder / "olist_orders_dataset.csv").read_text(encoding="utf-8")
    with open_workspace(tmp_path / "iso") as ws:
        iso = [r.n_accepted for r in ingest(ws, OLIST, preset="olist")]
        want = ws.df("SELECT order_id, ordered_at FROM orders ORDER BY 1")
    with open_workspace(tmp_path / "ws") as ws:
        got = [r.n_accepted for r in ingest(ws, folder, preset="olist")]
        assert got == iso  # the same rows load as from the ISO export (was: every order quarantined)
        have = ws.df("SELECT order_id, ordered_at FROM orders ORDER BY 1")
        # same days and minutes (the Excel export drops the seconds)
        assert have["order_id"].tolist() == want["order_id"].tolist()
        assert (have["ordered_at"] == want["ordered_at"].dt.floor("min")).all()


def test_a_folder_ingest_hint_says_what_to_do_next_not_ingest_the_folder(tmp_path):
    folder = tmp_path / "olist_bad"
    shutil.copytree(OLIST, folder)
    p = folder / "olist_orders_dataset.csv"
    # every order's purchase date unreadable: the orders file loads nothing, so the items cannot load
    p.write_text(re.sub(r'"delivered","[^"]*"|"(canceled|shipped|unavailable)","[^"]*"', '"delivered","soon"',
                        p.read_text(encoding="utf-8")), encoding="utf-8")
    lenient = tmp_path / "lenient.toml"  # the orders file loads nothing instead of stopping the ingest
    lenient.write_text("[ingest]\nmax_quarantine_share = 1.0\n")
    res = CliRunner().invoke(app, ["-w", str(tmp_path / "ws"), "ingest", str(folder), "--preset", "olist",
                                   "--config", str(lenient)])
    assert res.exit_code == 2, res.output
    out = " ".join(res.output.split())
    assert "table 'orders' is still empty" in out and "Ingest the folder" not in out
    assert "olist_orders_dataset.csv (0 rows accepted)" in out and "then ingest the folder again" in out


def test_a_file_that_loads_nothing_says_so(tmp_path):
    with open_workspace(tmp_path / "ws") as ws:
        r = ingest(ws, _orders(tmp_path, ["not a date", "nor this"]), table="orders",
                   config=load_config(overrides={"ingest": {"max_quarantine_share": 1.0}}))
        assert (r.n_accepted, r.n_quarantined) == (0, 2)
        assert "Warning: every row was quarantined, nothing was loaded from this file" in r.describe()
