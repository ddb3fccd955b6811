"""Product codes as the shop means them: in UCI Online Retail a lower-case letter in a StockCode (85123a) marks
the same product as its capital (85123A), sold on guest lines at another price (docs/presets.md), so the
online-retail preset folds the case."""

from shopseg import ingest

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def test_online_retail_codes_differing_only_in_case_are_one_product(ws, tmp_path):
    p = tmp_path / "or.csv"
    p.write_text(HEADER
                 + "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
                 + "536366,85123a,WHITE HANGING HEART T-LIGHT HOLDER,1,12/1/2010 9:00,5.79,,United Kingdom\n"
                 + "536367,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,12/2/2010 9:00,2.95,13047,United Kingdom\n"
                 + "536368,gift_0001_10,Dotcomgiftshop Gift Voucher £10.00,1,12/2/2010 9:30,8.51,,United Kingdom\n")
    r = ingest(ws, p, preset="online-retail")
    assert r.n_accepted == 4
    assert ws.sql("SELECT product_id, is_merchandise FROM products ORDER BY 1") == [
        ("85123A", True), ("GIFT_0001_10", False)]
    assert ws.sql("SELECT order_id, product_id FROM order_lines ORDER BY 1") == [
        ("536365", "85123A"), ("536366", "85123A"), ("536367", "85123A"), ("536368", "GIFT_0001_10")]
    assert ws.scalar("SELECT price FROM products WHERE product_id = '85123A'") == 2.95  # median of 2.55, 5.79, 2.95


def test_online_retail_country_is_that_of_most_invoices_not_lines(ws, tmp_path):
    # 17850: one French invoice of three lines, two British invoices of one line each -> United Kingdom
    # (counting lines would say France); 13047: one invoice each in Spain and Belgium -> Belgium (tie: by name)
    p = tmp_path / "or.csv"
    p.write_text(HEADER
                 + "536365,22752,SET 7 BABUSHKA NESTING BOXES,2,12/1/2010 8:26,7.65,17850,France\n"
                 + "536365,21730,GLASS STAR FROSTED T-LIGHT HOLDER,6,12/1/2010 8:26,4.25,17850,France\n"
                 + "536365,22633,HAND WARMER UNION JACK,6,12/1/2010 8:26,1.85,17850,France\n"
                 + "536366,22632,HAND WARMER RED POLKA DOT,6,12/2/2010 9:00,1.85,17850,United Kingdom\n"
                 + "536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,12/3/2010 9:00,1.69,17850,United Kingdom\n"
                 + "536368,22960,JAM MAKING SET WITH JARS,6,12/3/2010 9:30,4.25,13047,Spain\n"
                 + "536368,22913,RED COAT RACK PARIS FASHION,3,12/3/2010 9:30,4.95,13047,Spain\n"
                 + "536369,22912,YELLOW COAT RACK PARIS FASHION,3,12/4/2010 9:30,4.95,13047,Belgium\n")
    ingest(ws, p, preset="online-retail")
    assert ws.sql("SELECT customer_id, country FROM customers ORDER BY 1") == [
        ("13047", "Belgium"), ("17850", "United Kingdom")]


def test_online_retail_product_name_tie_goes_to_the_first_name(ws, tmp_path):
    # 35817P carries two descriptions as often as each other in the real file; DuckDB's mode() alone returns
    # either from one run to the next.  Most frequent name wins; a tie goes to the first by sort order.
    p = tmp_path / "or.csv"
    p.write_text(HEADER
                 + "536365,35817P,ACRYLIC JEWEL ANGEL PINK,1,12/1/2010 8:26,1.25,17850,United Kingdom\n"
                 + "536366,35817P,ACRYLIC JEWEL ANGEL,2,12/2/2010 9:00,1.25,17850,United Kingdom\n"
                 + "536367,35817P,ACRYLIC JEWEL ANGEL PINK,1,12/3/2010 9:00,1.25,13047,United Kingdom\n"
                 + "536368,35817P,ACRYLIC JEWEL ANGEL,2,12/4/2010 9:00,1.25,13047,United Kingdom\n"
                 + "536369,22752,SET 7 BABUSHKA NESTING BOXES,2,12/5/2010 8:26,7.65,17850,United Kingdom\n"
                 + "536370,22752,SET/7 BABUSHKA NESTING BOXES,2,12/5/2010 9:26,7.65,17850,United Kingdom\n"
                 + "536371,22752,SET/7 BABUSHKA NESTING BOXES,2,12/5/2010 9:46,7.65,17850,United Kingdom\n")
    ingest(ws, p, preset="online-retail")
    assert ws.sql("SELECT product_id, name FROM products ORDER BY 1") == [
        ("22752", "SET/7 BABUSHKA NESTING BOXES"), ("35817P", "ACRYLIC JEWEL ANGEL")]


def test_online_retail_invoice_with_two_countries_or_two_customers(ws, tmp_path):
    # Each distinct (customer, invoice, country) counts once.  17850: invoice 536365 in France and in Germany,
    # 536366 in Germany -> Germany (2 invoices against 1; one tuple per invoice, its first line's, would say France
    # and Germany once each, France by name).  536367 has two customers: both get it.
    p = tmp_path / "or.csv"
    p.write_text(HEADER
                 + "536365,22752,SET 7 BABUSHKA NESTING BOXES,2,12/1/2010 8:26,7.65,17850,France\n"
                 + "536365,21730,GLASS STAR FROSTED T-LIGHT HOLDER,6,12/1/2010 8:26,4.25,17850,Germany\n"
                 + "536366,22632,HAND WARMER RED POLKA DOT,6,12/2/2010 9:00,1.85,17850,Germany\n"
                 + "536367,22960,JAM MAKING SET WITH JARS,6,12/3/2010 9:30,4.25,13047,Spain\n"
                 + "536367,22913,RED COAT RACK PARIS FASHION,3,12/3/2010 9:30,4.95,12583,Spain\n")
    ingest(ws, p, preset="online-retail")
    assert ws.sql("SELECT customer_id, country FROM customers ORDER BY 1") == [
        ("12583", "Spain"), ("13047", "Spain"), ("17850", "Germany")]
    assert ws.sql("SELECT order_id, customer_id, country FROM orders ORDER BY 1") == [  # (the first line's)
        ("536365", "17850", "France"), ("536366", "17850", "Germany"), ("536367", "13047", "Spain")]
