"""The dashboard's measures against hand-computed expectations on the fixed data set (supervisor_data.py), on
SQLite and PostgreSQL: counts, rates, working days used across the 2018 holidays, the case list behind each
number, month by month, and the rollout rule."""

from __future__ import annotations

from datetime import date

from services import case_search, clock, statistics
from services.statistics import Filters

Q2 = Filters(date(2018, 4, 1), date(2018, 6, 30))
TODAY = date(2018, 12, 31)


def _keys(session, ids, measure, f=Q2):
    back = {v: k for k, v in ids.items()}
    found, total = case_search.search(session, case_search.Search(measure=measure, period_from=f.start,
                                                                  period_to=f.end, matter=f.matter, unit=f.unit),
                                      today=TODAY)
    assert total == len(found)
    return sorted(back[c.id] for c in found)


def test_working_days_used_across_the_2018_holidays():
    with_calendar = clock.WorkingDayCalendar.from_directory()
    # (2 Apr, 13 Apr]: 3, 4 Apr; 5–7 Apr 清明 off; Sunday 8 Apr worked; 9–13 Apr → 8; 补正 (3, 9 Apr] → 4, 8, 9 Apr
    assert with_calendar.working_days_between(date(2018, 4, 2), date(2018, 4, 13)) == 8
    assert statistics.working_days_used(with_calendar, date(2018, 4, 2), date(2018, 4, 13),
                                        [(date(2018, 4, 3), date(2018, 4, 9))]) == 5
    # (25 Apr, 10 May]: 26, 27 Apr, Saturday 28 Apr worked, 29 Apr–1 May off, 2–4 May, 7–10 May → 10
    assert statistics.working_days_used(with_calendar, date(2018, 4, 25), date(2018, 5, 10), []) == 10
    # (14 Jun, 19 Jun]: 15 Jun, 18 Jun 端午 off, 19 Jun → 2
    assert statistics.working_days_used(with_calendar, date(2018, 6, 14), date(2018, 6, 19), []) == 2
    # overlapping windows count once; a window open at the stop runs to the stop
    assert statistics.working_days_used(with_calendar, date(2018, 4, 2), date(2018, 4, 13),
                                        [(date(2018, 4, 3), date(2018, 4, 9)), (date(2018, 4, 8), None)]) == 1


def test_percentile_is_nearest_rank():
    assert statistics.percentile([5, 10, 2], 0.9) == 10
    assert statistics.percentile(list(range(1, 11)), 0.9) == 9
    assert statistics.percentile([], 0.9) is None


def test_dashboard_counts_rates_and_days(dataset):
    uow, ids = dataset
    with uow.reader() as r:
        data = statistics.dashboard(r.session, Q2, TODAY)
    total = data["total"]
    assert total["counts"] == {
        "registered": 5, "accepted": 5, "concluded": 3, "timed": 3, "on_time": 2, "late": 1, "promised": 3,
        "early": 2, "open": 1, "open_overdue": 1, "overdue": 2, "finished": 4, "run_once": 3, "zero_trip": 2,
        "multi_trip": 1, "supplement": 1, "second_notice": 1, "extended": 1,
    }
    assert total["on_time_rate"] == round(2 / 3, 4) and total["early_rate"] == round(2 / 3, 4)
    assert total["supplement_rate"] == 0.2
    assert total["run_once_share"] == 0.75 and total["zero_trip_share"] == 0.5 and total["trips_per_case"] == 0.75
    assert total["days_avg"] == round((5 + 10 + 2) / 3, 1) and total["days_p90"] == 10
    by_matter = {row["key"]: row for row in data["matters"]}
    assert set(by_matter) == {m.code for m in clock.catalog().matters}
    m07, m02 = by_matter["m07"], by_matter["m02"]
    assert (m07["counts"]["accepted"], m07["counts"]["concluded"], m07["counts"]["overdue"]) == (3, 2, 1)
    assert (m07["days_avg"], m07["days_p90"], m07["run_once_share"]) == (7.5, 10, 0.5)
    assert (m02["counts"]["open"], m02["counts"]["finished"], m02["counts"]["run_once"]) == (1, 2, 2)
    assert (m02["days_avg"], m02["on_time_rate"], m02["zero_trip_share"]) == (2.0, 1.0, 0.5)
    assert by_matter["m01"]["counts"]["registered"] == 0 and by_matter["m01"]["on_time_rate"] is None
    units = {row["key"]: row for row in data["units"]}
    assert units["nuclear_safety"]["counts"]["accepted"] == 3 and units["soil"]["counts"]["accepted"] == 2


def test_period_bounds_unit_and_matter_filters(dataset):
    uow, ids = dataset
    with uow.reader() as r:
        april = statistics.dashboard(r.session, Filters(date(2018, 4, 1), date(2018, 4, 30)), TODAY)["total"]
        soil = statistics.dashboard(r.session, Filters(Q2.start, Q2.end, unit="soil"), TODAY)
        everything = statistics.dashboard(r.session, Filters(), TODAY)["total"]
    # April: accepted A, B; concluded A; B still open on 30 April (due 8 May: not yet overdue); registered B, E
    assert (april["counts"]["accepted"], april["counts"]["concluded"], april["counts"]["open"]) == (2, 1, 1)
    assert (april["counts"]["registered"], april["counts"]["open_overdue"]) == (2, 0)
    assert [row["key"] for row in soil["matters"]] == ["m02", "m03"] and soil["total"]["counts"]["accepted"] == 2
    # no bounds: A's registration in March counts; open and overdue judged today (C is still open)
    assert everything["counts"]["registered"] == 6 and everything["counts"]["supplement"] == 2


def test_every_number_lists_its_cases(dataset):
    uow, ids = dataset
    with uow.reader() as r:
        s = r.session
        assert _keys(s, ids, "accepted") == ["A", "B", "C", "E", "F"]
        assert _keys(s, ids, "concluded") == ["A", "B", "F"]
        assert _keys(s, ids, "on_time") == ["A", "F"]
        assert _keys(s, ids, "overdue") == ["B", "C"]
        assert _keys(s, ids, "open") == ["C"]
        assert _keys(s, ids, "finished") == ["A", "B", "D", "F"]
        assert _keys(s, ids, "zero_trip") == ["A", "F"]
        assert _keys(s, ids, "second_notice") == ["B"]
        assert _keys(s, ids, "extended") == ["B"]
        assert _keys(s, ids, "accepted", Filters(Q2.start, Q2.end, matter="m02")) == ["C", "F"]
        data = statistics.dashboard(s, Q2, TODAY)
        for measure, count in data["total"]["counts"].items():  # the list and the number are one query
            assert len(_keys(s, ids, measure)) == count, measure


def test_case_search_filters_sorting_and_paging(dataset):
    uow, ids = dataset
    back = {v: k for k, v in ids.items()}
    with uow.reader() as r:
        s = r.session

        def keys(**kw):
            found, total = case_search.search(s, case_search.Search(**kw), today=TODAY)
            return [back[c.id] for c in found], total

        assert keys(applicant="企业C")[0] == ["C"]
        assert keys(status="withdrawn")[0] == ["E"]
        assert keys(outcome="not_accepted")[0] == ["D"]
        assert sorted(keys(multi_trip=True)[0]) == ["B"]
        assert sorted(keys(overdue=True)[0]) == ["B", "C"]
        assert sorted(keys(accepted_from=date(2018, 6, 1), accepted_to=date(2018, 6, 30))[0]) == ["C", "F"]
        assert sorted(keys(registered_to=date(2018, 4, 24))[0]) == ["A", "B"]
        assert sorted(keys(closed_from=date(2018, 6, 1))[0]) == ["D", "F"]
        assert keys(sort="registered", descending=False)[0] == ["A", "B", "E", "C", "D", "F"]
        assert keys(sort="trips", descending=True)[0][0] == "B"
        reference = s.get(case_search.Case, ids["B"]).reference
        assert keys(reference=reference.lower())[0] == ["B"]
        page2, total = case_search.search(s, case_search.Search(sort="registered", descending=False), page=2,
                                          page_size=4, today=TODAY)
        assert total == 6 and [back[c.id] for c in page2] == ["D", "F"]


def test_months(dataset):
    uow, _ = dataset
    with uow.reader() as r:
        rows = {m["month"]: m for m in statistics.months(r.session, Q2, TODAY)}
    assert sorted(rows) == ["2018-04", "2018-05", "2018-06"]
    assert (rows["2018-04"]["accepted"], rows["2018-05"]["accepted"], rows["2018-06"]["accepted"]) == (2, 1, 2)
    assert rows["2018-05"]["concluded"] == 1 and rows["2018-05"]["on_time_rate"] == 0.0
    assert rows["2018-06"]["finished"] == 2 and rows["2018-06"]["run_once_share"] == 1.0


def test_rollout_rule(dataset):
    uow, _ = dataset
    with uow.reader() as r:
        data = statistics.rollout(r.session, TODAY)
    matters = {m["code"]: m for m in data["matters"]}
    # m07 (June): by 30 June A and B finished; B made two trips and had a second notice → 1 of 2 missed > 20 %
    assert matters["m07"]["ok_at_deadline"] is False and matters["m07"]["counted_at_deadline"] == 2
    assert matters["m07"]["failing_at_deadline"] == 1
    # m02 (April): nothing counted by 30 April (D was not accepted), a deployed run-once mode → reached
    assert matters["m02"]["ok_at_deadline"] is True and matters["m02"]["counted_now"] == 1
    # the other nine matters have no deployed process here
    assert not any(matters[c]["ok_now"] for c in matters if c not in ("m02", "m07"))
    targets = {t["month"]: t for t in data["targets"]}
    # end of April: m02 and m07 (A only, no miss) → 2 of 11; June and July: m02 only → 1 of 11
    assert (targets["2018-04"]["done"], targets["2018-06"]["done"], targets["2018-07"]["done"]) == (2, 1, 1)
    assert not any(t["met"] for t in data["targets"]) and targets["2018-04"]["target"] == 0.4


def test_the_value_stored_when_the_clock_stopped_is_used(dataset):
    from sqlalchemy import update

    from storage.models import CaseClock

    uow, ids = dataset
    with uow:
        uow.session.execute(update(CaseClock).where(CaseClock.case_id == ids["F"]).values(working_days_used=9))
        uow.commit()
    with uow.reader() as r:
        m02 = next(m for m in statistics.dashboard(r.session, Q2, TODAY)["matters"] if m["key"] == "m02")
    assert (m02["days_avg"], m02["days_p90"]) == (9.0, 9)  # read, not recomputed (the calendar says 2)


def test_wide_dashboard_queries_do_not_walk_an_index_on_sqlite(dataset):
    """On SQLite the whole-year dashboard reads the cases in table order: walking ix_cases_matter_code (for the
    GROUP BY) or a date index over most of the table with a look-up per row made it 3x slower than a plain scan.
    PostgreSQL gets the bare column (it costs its plans from statistics)."""
    from sqlalchemy import event
    from sqlalchemy.dialects import postgresql, sqlite

    wide = statistics.in_matters(["m01", "m02", "m03"])
    assert "+cases.matter_code" in str(wide.compile(dialect=sqlite.dialect()))
    assert "+" not in str(wide.compile(dialect=postgresql.dialect()))
    assert "+" not in str(statistics.in_matters(["m01"]).compile(dialect=sqlite.dialect()))
    uow, _ = dataset
    with uow.reader() as r:
        if r.session.get_bind().dialect.name != "sqlite":
            return
        seen: list[tuple[str, object]] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            seen.append((statement, parameters))

        engine = r.session.get_bind()
        event.listen(engine, "before_cursor_execute", record)
        try:
            year = Filters(date(2018, 1, 1), date(2018, 12, 31))
            statistics.dashboard(r.session, year, TODAY)
            statistics.months(r.session, year, TODAY)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        raw = r.session.connection().connection.driver_connection
        plans = [" ".join(str(row[-1]) for row in raw.execute("EXPLAIN QUERY PLAN " + statement, parameters))
                 for statement, parameters in seen if "AS fact" in statement or "accepted_in" in statement]
    assert len(plans) == 2  # the measures' pass and the months' (clocks stopped before 0010 are read apart)
    for plan in plans:
        assert "SCAN cases" in plan and "USING INDEX ix_cases" not in plan and "stopped_on" not in plan, plan
