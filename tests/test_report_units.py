"""The report in real units: segments in customers, orders and money (computed by hand below), the shop's
currency, and the partial last month marked exactly when as_of falls before the month's end."""

import json
import re
from datetime import datetime

import pytest

from shopseg.config import load_config
from shopseg.report import build_report
from shopseg.report._units import money, partial_month, shop_currency
from shopseg.workspace import open_workspace

# customer, order, day (2024), kind, lines (quantity, unit price, line discount)
ORDERS = [
    ("a", "o1", "05-03", "sale", [(2, 10.0, 0.0)]),      # a: sales 20 + 30, return 10 -> net 40, 2 orders
    ("a", "o2", "06-02", "sale", [(1, 30.0, 0.0)]),
    ("a", "r1", "06-05", "return", [(1, 10.0, 0.0)]),
    ("b", "o3", "05-20", "sale", [(3, 20.0, 6.0)]),      # b: 60 - 6 = 54, 1 order
    ("c", "o4", "06-10", "sale", [(1, 100.0, 0.0)]),     # c: 100, 1 order
    ("c", "o5", "07-02", "sale", [(9, 100.0, 0.0)]),     # after every as_of below: never counted
    (None, "g1", "06-01", "sale", [(1, 5.0, 0.0)]),      # a guest: in the shop's revenue, in no segment
]
SEGMENTS = {"a": "Loyal", "b": "Loyal", "c": "Big"}
LIFECYCLE = {"a": "active", "b": "new", "c": "new"}  # active = a: 1, 2, 40, 40, 40 / 194, 10 / 50
OTHER_ROWS = [["new", "2", "2", "1.0", "£154", "£77", "79.4%", "0.0%"],
              ["active", "1", "2", "2.0", "£40", "£40", "20.6%", "20.0%"]]
# by hand: Loyal = a + b: 2 customers, 3 orders, sales 20 + 30 + 54 = 104, returns 10, net 94, 47 per customer,
# share 94 / 194 = 48.5%, returns / sales 10 / 104 = 9.6%; Big = c: 1, 1, 100, 100, 51.5%, 0.0%.
# Shop net revenue (KPI): 20 + 30 + 54 + 100 + 5 - 10 = 199.
EXPECTED_ROWS = [
    ["Loyal", "2", "3", "1.5", "£94", "£47", "48.5%", "9.6%"],
    ["Big", "1", "1", "1.0", "£100", "£100", "51.5%", "0.0%"],
]


def make_shop(path, as_of: str, *, preset: str | None = "online-retail", currency: str | None = None):
    ws = open_workspace(path)
    con = ws.con
    for cust, oid, day, kind, lines in ORDERS:
        con.execute("INSERT INTO orders (order_id, customer_id, ordered_at, kind) VALUES (?, ?, ?, ?)",
                    [oid, cust, f"2024-{day} 12:00:00", kind])
        for i, (q, p, d) in enumerate(lines, 1):
            con.execute("INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price, "
                        "discount_amount) VALUES (?, ?, 'P1', ?, ?, ?)", [oid, i, q, p, d])
    con.execute("INSERT INTO ingest_log (ingest_id, source, preset, target, n_input, n_accepted, n_quarantined, "
                "n_duplicate) VALUES (1, 'shop.csv', ?, 'order_lines', 8, 8, 0, 0)", [preset])
    cfg = load_config(overrides={"shop": {"currency": currency}} if currency else None)
    when = datetime.fromisoformat(as_of).replace(hour=23, minute=59, second=59, microsecond=999999)
    con.execute("INSERT INTO runs VALUES (1, ?, 0, ?, ?, 'test', '{}', current_timestamp, 'done')",
                [when, cfg.hash, cfg.to_json()])
    values = ", ".join([*(f"('{c}', 'rfm', '{s}')" for c, s in SEGMENTS.items()),
                        *(f"('{c}', 'lifecycle', '{s}')" for c, s in LIFECYCLE.items())])
    ws.write_output("segments", 1, f"SELECT * FROM (VALUES {values}) t(customer_id, scheme, segment)")
    profile = json.dumps({"z": {"frequency": 0.5, "monetary_net": -0.2}})
    ws.write_output("segment_profiles", 1, "SELECT * FROM (VALUES ('rfm', 'Loyal', 'Loyal', 2, 0.667, ?), "
                    "('rfm', 'Big', 'Big', 1, 0.333, ?)) t(scheme, segment, name, n_customers, share, profile)",
                    [profile, profile])
    return ws


def section(html: str, sid: str) -> str:
    start = html.index(f'data-section="{sid}"')
    return html[start:html.index("</section>", start)]


def table_rows(fragment: str) -> list[list[str]]:
    body = fragment[fragment.index("<tbody>"):fragment.index("</tbody>")]
    return [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", body)]


@pytest.fixture
def report_html(tmp_path):
    def build(as_of="2024-06-15", **kw):
        ws = make_shop(tmp_path / f"ws-{as_of}-{kw.get('currency')}-{kw.get('preset', 'p')}", as_of, **kw)
        try:
            return build_report(ws, 1).read_text(encoding="utf-8")
        finally:
            ws.close()
    return build


def test_segment_profiles_show_customers_orders_spend_share_and_returns_computed_by_hand(report_html):
    prof = section(report_html(), "profiles")
    units = prof[prof.index("<div class='units'>"):]
    head = re.findall(r"<th>(.*?)</th>", units[:units.index("</thead>")])
    assert head == ["segment", "customers", "orders", "orders per customer", "net spend", "net spend per customer",
                    "share of net spend", "returns / sales"]
    assert table_rows(units) == EXPECTED_ROWS
    other = prof[prof.index("<summary>The other schemes in real units</summary>"):]
    assert "<h3>lifecycle</h3>" in other and table_rows(other[other.index("<h3>lifecycle</h3>"):]) == OTHER_ROWS
    assert "class='chart-spec'" in prof  # the z-score heatmap stays beside the real units
    assert "most revenue: Big (52% of net spend, £100 per customer)" in prof


def test_the_currency_comes_from_the_preset_or_the_setting_and_appears_in_the_report(report_html, tmp_path):
    html = report_html()
    assert 'data-currency="GBP"' in html
    kpis = section(html, "kpis")
    assert "£199" in kpis and "for £199 net" in kpis
    eur = report_html(currency="EUR")  # the setting wins over the preset
    assert 'data-currency="EUR"' in eur and "€199" in section(eur, "kpis")
    plain = report_html(preset=None)  # no preset, setting "auto": amounts without a currency, and said so
    assert 'data-currency=""' in plain and "for 199 net" in plain and "£" not in section(plain, "profiles")


def test_shop_currency_auto_takes_the_presets_currency_only_when_they_agree(tmp_path):
    ws = make_shop(tmp_path / "ws", "2024-06-30")
    try:
        assert shop_currency(ws, "auto") == "GBP" and shop_currency(ws, None) == "GBP"
        assert shop_currency(ws, "JPY") == "JPY"
        ws.con.execute("INSERT INTO ingest_log (ingest_id, source, preset, target, n_input, n_accepted, "
                       "n_quarantined, n_duplicate) VALUES (2, 'x', 'olist', 'orders', 1, 1, 0, 0)")
        assert shop_currency(ws, "auto") == ""  # GBP and BRL: no one currency
    finally:
        ws.close()


def test_partial_month_is_marked_exactly_when_as_of_is_before_the_months_end(report_html):
    mid = section(report_html("2024-06-15"), "revenue")
    assert "data-partial-period='2024-06'" in mid and "June 2024 is partial (up to 15 June)" in mid
    assert '"pattern":{"shape":["","\\u002f"]}' in mid  # the June bar is hatched (plotly writes / as \u002f)
    # the partial June (100 + 30 + 5 before the 15th) is not compared as a month: the best complete month is May
    assert "The best complete month was May 2024 with £74 in sales" in mid
    end = section(report_html("2024-06-30"), "revenue")
    assert "partial" not in end and "The best month was June 2024 with £135 in sales" in end


def test_money_and_partial_month_helpers():
    assert money(1234.6, "GBP") == "£1,235" and money(-0.4, "GBP") == "£0" and money(-80, "BRL") == "-R$80"
    assert money(1234.5, "CHF", 2) == "1,234.50 CHF" and money(float("nan"), "GBP") == ""
    assert partial_month(datetime(2024, 2, 28)) and not partial_month(datetime(2024, 2, 29))
    assert not partial_month(datetime(2023, 12, 31, 23, 59, 59))


def test_shopseg_report_config_sets_the_currency_of_an_existing_run(tmp_path):
    from typer.testing import CliRunner

    from shopseg.cli import app

    make_shop(tmp_path / "ws", "2024-06-15").close()  # its run says "auto": GBP from the preset
    cfg = tmp_path / "shop.toml"
    cfg.write_text('[shop]\ncurrency = "CHF"\n')
    out = tmp_path / "r.html"
    r = CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "report", "--config", str(cfg), "-o", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert 'data-currency="CHF"' in html and "for 199 CHF net" in html
    (tmp_path / "ws" / "shopseg.toml").write_text('[shop]\ncurrency = "USD"\n')  # found in the workspace folder
    r = CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "report", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert 'data-currency="USD"' in out.read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text('[shop]\ncurrency = "pounds"\n')
    r = CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "report", "--config", str(bad)])
    assert r.exit_code == 2 and "three-letter ISO 4217 code" in r.output and "'pounds'" in r.output


def test_the_chart_library_is_the_small_bundle_and_refuses_trace_types_it_lacks(report_html):
    import plotly.graph_objects as go

    from shopseg.errors import ShopsegError
    from shopseg.report._build import BUNDLED_TRACES, PLOTLY_BUNDLE, figure_html, plotly_gz_b64

    html = report_html()
    assert len(html.encode()) < 1_000_000  # plotly.min.js inlined alone was 4.8 MB
    assert plotly_gz_b64() in html and "DecompressionStream" in html
    from importlib import resources

    banner = resources.files("shopseg.report").joinpath("static", PLOTLY_BUNDLE).read_text()[:400]
    assert set(re.search(r"trace types: ([a-z ]+) built by", banner).group(1).split()) == BUNDLED_TRACES
    with pytest.raises(ShopsegError, match="cannot draw trace type\\(s\\) pie"):
        figure_html(go.Figure(go.Pie(values=[1, 2])))
    spec = figure_html(go.Figure(go.Bar(x=["</script><script>alert(1)</script>"], y=[1])))
    assert "</script><script>" not in spec.split("class='chart-spec'>", 1)[1][:-len("</script>")]


def test_the_shareable_report_names_the_currency_too(ws, tmp_path):
    from shopseg.trust.dp import build_shareable_report

    from .test_trust_dp import make_shop as dp_shop

    dp_shop(ws)  # no ingest preset there: "auto" finds no currency, the setting gives one
    cfg = load_config(overrides={"privacy": {"dp": {"schemes": ["rfm"]}}, "shop": {"currency": "EUR"}})
    page = build_shareable_report(ws, 1, tmp_path / "s.html", epsilon=1.0, config=cfg).read_text(encoding="utf-8")
    assert 'data-currency="EUR"' in page and "money in EUR" in page
    auto = build_shareable_report(ws, 1, tmp_path / "a.html", epsilon=1.0,
                                  config=load_config(overrides={"privacy": {"dp": {"schemes": ["rfm"]}}}))
    assert 'data-currency=""' in auto.read_text(encoding="utf-8")


def test_lifetime_value_section_is_aggregated_in_sql(tmp_path):
    """The CLV section's figures from the run's clv rows, by hand: total 0 + 9 + 99 + 999 + 9,999 = 11,106; the top
    20 % (1 of 5 customers) hold 9,999 / 11,106 = 90 %; P(alive) < 0.5 for d and e: 40 %.  The histogram is 50
    bins of log10(CLV + 1) over [0, 4] (width 0.08): a 0, b 1, c 2, d 3 fall in bins 0, 12, 25, 37 and e (4) in
    the last; the P(alive) matrix averages by (repeat purchases, tenth of recency / T)."""
    from shopseg.report._build import ReportContext
    from shopseg.report._sections_outcomes import lifetime_value

    ws = make_shop(tmp_path / "ws", "2024-06-30")
    # customer, clv, p_alive, frequency, recency, T
    rows = [("a", 0.0, 0.9, 0, 0, 10), ("b", 9.0, 0.8, 1, 5, 10), ("c", 99.0, 0.6, 1, 5, 10),
            ("d", 999.0, 0.3, 25, 9.99, 10), ("e", 9999.0, 0.1, 3, 4, 0)]
    values = ", ".join(f"('{c}', {v}, {p}, {f}, {r}, {t})" for c, v, p, f, r, t in rows)
    ws.write_output("clv", 1, f'SELECT * FROM (VALUES {values}) x(customer_id, clv, p_alive, frequency, recency, "T")')
    sec = lifetime_value(ReportContext(ws, 1, datetime(2024, 6, 30), currency="GBP"))
    assert "£11,106 in total; the top 20% of customers hold 90% of it. 40% of buyers" in sec.takeaway
    specs = [json.loads(s) for s in re.findall(r"class='chart-spec'>(.*?)</script>", sec.html, re.S)]
    hist, heat = specs[0]["data"][0], specs[1]["data"][0]
    assert list(_plotly_array(hist["y"])) == [1, 1, 1, 1, 1] and hist["width"] == pytest.approx(0.08)
    assert list(_plotly_array(hist["x"])) == pytest.approx([0.04, 1.0, 2.04, 3.0, 3.96])
    assert heat["y"] == ["0", "1", "3", "20"] and heat["x"] == ["0.0", "0.5", "0.9"]
    z = _plotly_array(heat["z"])
    assert z[1][1] == pytest.approx(0.7) and z[3][2] == pytest.approx(0.3) and z[2][0] == pytest.approx(0.1)
    ws.close()


def _plotly_array(v):
    """A figure's array as plotly writes it: a list, or numpy's bytes in base64 with dtype and shape."""
    import base64

    import numpy as np

    if not isinstance(v, dict):
        return np.asarray(v)
    a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return a.reshape([int(x) for x in str(v["shape"]).split(",")]) if "shape" in v else a


@pytest.mark.parametrize("model, said", [
    ("p_alive=repeat; purchases=repeat; clv=baseline; order_value=gammagamma", True),
    ("p_alive=mbgnbd; purchases=bgnbd; clv=bgnbd+gammagamma", False)])
def test_the_lifetime_value_section_says_when_clv_is_not_purchases_times_order_value(tmp_path, model, said):
    """Online Retail's CLV comes from the spend baseline, its purchases from the repeat model: a customer's CLV is not
    their expected purchases x order value, and the report says so (docs/clv.md, "One customer's figures")."""
    from shopseg.report._build import ReportContext
    from shopseg.report._sections_outcomes import lifetime_value

    ws = make_shop(tmp_path / "ws", "2024-06-30")
    ws.write_output("clv", 1, f"SELECT * FROM (VALUES ('a', 10.0, 0.5, 1, 5, 10, '{model}')) "
                              'x(customer_id, clv, p_alive, frequency, recency, "T", model)')
    sec = lifetime_value(ReportContext(ws, 1, datetime(2024, 6, 30), currency="GBP"))
    sentence = ("So a customer's CLV is not their expected purchases x expected order value (Gamma-Gamma): each is "
                "its own model's forecast, and the customer view says which.")
    assert (sentence in sec.takeaway) is said, sec.takeaway
    ws.close()
