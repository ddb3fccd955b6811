"""Progress inside long stages: done, rate and time left, only when someone listens."""

from shopseg.progress import listening, track


def test_progress_reports_done_rate_and_time_left_to_the_listener_only():
    ticks = iter([10.0, 14.0, 20.0, 30.0])
    seen = []
    t = track("scoring", total=1000, unit="customers", clock=lambda: next(ticks))
    t.advance(200)  # nobody listens: nothing reported (the clock is not even read)
    with listening(seen.append):
        t.advance(200)  # 400 in 4 s... read at 14.0: 400 / 4 = 100/s, 600 left: 6 s
        t.advance(600)  # all 1000 at 20.0: 100/s, nothing left, so no time left shown
    t.advance(0)
    assert seen == ["scoring 400/1,000 customers, 100/s, about 6 s left", "scoring 1,000/1,000 customers, 100/s"]
    assert next(ticks) == 30.0  # the last advance, outside the block, read no clock


def test_nested_listeners_restore_the_outer_one():
    outer, inner = [], []
    ticks = iter([0.0, 1.0, 2.0, 3.0])
    t = track("rules", total=4, unit="segments", clock=lambda: next(ticks))
    with listening(outer.append):
        with listening(inner.append):
            t.advance(1)
        t.advance(1)
    assert inner == ["rules 1/4 segments, 1/s, about 3 s left"] and outer == ["rules 2/4 segments, 1/s, about 2 s left"]


def test_sql_progress_reports_duckdb_share_of_rows_read_and_ends_at_the_total():
    import duckdb

    from shopseg.progress import sql_progress

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    seen = []
    # nobody listens: the statement runs, nothing is polled and the setting is left alone
    with sql_progress(con, "checking", 100, "rows", every=0.01):
        con.execute("SELECT 1").fetchall()
    assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False
    with listening(seen.append):
        with sql_progress(con, "checking", 2_000_000, "rows", every=0.005):
            con.execute("CREATE TABLE t AS SELECT range % 7 AS a, md5(CAST(range AS VARCHAR)) AS b "
                        "FROM range(2000000)")
    assert seen[-1].startswith("checking 2,000,000/2,000,000 rows")
    done = [int(s.split(" ")[1].split("/")[0].replace(",", "")) for s in seen]
    assert done == sorted(done)  # never backwards within one statement
    assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False
