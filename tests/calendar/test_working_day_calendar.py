"""WorkingDayCalendar: chinese_calendar data, admin notices, and no guessing for uncovered years."""

import time
from datetime import date, timedelta

import pytest

import engine.calendar as calmod
from engine.calendar import (
    DEFAULT_NOTICE_DIR,
    UncoveredYear,
    WorkingDayCalendar,
    YearNotice,
    library_notice,
    load_notice_dir,
    load_notice_file,
)

CAL = WorkingDayCalendar()

# A made-up 2027 notice: the real one is not published; these dates exist only to exercise the code.
FAKE_2027 = """\
source = "测试用虚构通知（非真实数据）"
holidays = ["2027-01-01", 2027-02-08, "2027-02-09"]
workdays = ["2027-01-09"]
"""


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(n) for n in range((end - start).days + 1)]


def test_spring_festival_2018_rule_from_matters():
    assert CAL.add_working_days(date(2018, 2, 9), 20) == date(2018, 3, 14)
    assert CAL.is_workday(date(2018, 2, 11))  # Sunday, 调休
    assert CAL.is_workday(date(2018, 2, 24))  # Saturday, 调休
    assert not any(CAL.is_workday(d) for d in days(date(2018, 2, 15), date(2018, 2, 21)))
    assert not CAL.is_workday(date(2018, 2, 10))  # an ordinary Saturday
    assert CAL.working_days_between(date(2018, 2, 9), date(2018, 3, 14)) == 20


def test_start_day_never_counts():
    # Accepted on a working day or on a holiday: counting begins the next day either way.
    assert CAL.add_working_days(date(2018, 2, 14), 1) == date(2018, 2, 22)
    assert CAL.add_working_days(date(2018, 2, 15), 1) == date(2018, 2, 22)
    assert CAL.add_working_days(date(2018, 2, 22), 1) == date(2018, 2, 23)
    assert CAL.add_working_days(date(2018, 2, 22), 0) == date(2018, 2, 22)


def test_national_day_2019():
    assert not any(CAL.is_workday(d) for d in days(date(2019, 10, 1), date(2019, 10, 7)))
    assert CAL.is_workday(date(2019, 9, 29))  # Sunday worked
    assert CAL.is_workday(date(2019, 10, 12))  # Saturday worked
    assert not CAL.is_workday(date(2019, 9, 28))
    assert CAL.add_working_days(date(2019, 9, 30), 1) == date(2019, 10, 8)
    assert CAL.add_working_days(date(2019, 9, 27), 2) == date(2019, 9, 30)
    assert CAL.working_days_between(date(2019, 9, 27), date(2019, 10, 13)) == 2 + 5


def test_may_day_2025():
    assert not any(CAL.is_workday(d) for d in days(date(2025, 5, 1), date(2025, 5, 5)))
    assert CAL.is_workday(date(2025, 4, 27))  # Sunday worked
    assert not CAL.is_workday(date(2025, 5, 10))  # no 调休 Saturday after it in 2025
    assert CAL.add_working_days(date(2025, 4, 30), 1) == date(2025, 5, 6)


def test_uncovered_year_is_never_guessed():
    assert CAL.covers(2026) and CAL.covers(2004)
    assert not CAL.covers(2027) and not CAL.covers(2003)
    with pytest.raises(UncoveredYear) as info:
        CAL.is_workday(date(2027, 1, 4))
    assert info.value.year == 2027
    assert "2027 年的节假日安排尚未录入" in str(info.value)
    assert "the 2027 holiday notice has not been entered" in str(info.value)
    with pytest.raises(UncoveredYear):
        CAL.add_working_days(date(2026, 12, 28), 5)
    with pytest.raises(UncoveredYear):
        CAL.working_days_between(date(2026, 12, 1), date(2027, 1, 5))
    with pytest.raises(UncoveredYear):
        CAL.add_working_days(date(2004, 1, 5), -5)
    # Only the years actually crossed need data.
    assert CAL.add_working_days(date(2026, 12, 30), 1) == date(2026, 12, 31)


def test_library_not_implemented_error_is_translated(monkeypatch):
    # Pretend the library claims 2027: it raises NotImplementedError, which must surface as UncoveredYear.
    monkeypatch.setattr(calmod, "LIBRARY_YEARS", range(2004, 2028))
    with pytest.raises(UncoveredYear) as info:
        WorkingDayCalendar().is_workday(date(2027, 3, 1))
    assert info.value.year == 2027


def test_fabricated_2027_notice_from_a_file(tmp_path):
    (tmp_path / "2027.toml").write_text(FAKE_2027, encoding="utf-8")
    (tmp_path / "README.md").write_text("ignored", encoding="utf-8")
    cal = WorkingDayCalendar.from_directory(tmp_path)
    assert cal.covers(2027) and not cal.covers(2028)
    assert cal.source(2027) == "测试用虚构通知（非真实数据）"
    assert not cal.is_workday(date(2027, 1, 1))  # Friday, listed as a holiday
    assert cal.is_workday(date(2027, 1, 9))  # Saturday, listed as worked
    assert cal.is_workday(date(2027, 1, 4))  # ordinary Monday
    assert not cal.is_workday(date(2027, 2, 8))  # TOML date literal accepted
    # 2026-12-31 (Thu) → skip 2027-01-01 (Fri, off) and the weekend → Mon 4 … Sat 9 is the 6th.
    assert cal.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert cal.add_working_days(date(2026, 12, 31), 6) == date(2027, 1, 9)
    assert cal.working_days_between(date(2026, 12, 30), date(2027, 1, 9)) == 7
    with pytest.raises(UncoveredYear):
        cal.add_working_days(date(2027, 12, 1), 30)


def test_admin_notice_wins_over_file(tmp_path):
    (tmp_path / "2027.toml").write_text(FAKE_2027, encoding="utf-8")
    admin = YearNotice(2027, holidays=set(), extra_workdays=set(), source="管理员更正")
    cal = WorkingDayCalendar.from_directory(tmp_path, [admin])
    assert cal.is_workday(date(2027, 1, 1))
    assert cal.source(2027) == "管理员更正"


def test_notice_moves_days_of_the_previous_december():
    # Like the 2019 notice did for 2018-12-29..31; here a fabricated 2027 notice patches the library's 2026.
    notice = YearNotice(
        2027, holidays={date(2026, 12, 31), date(2027, 1, 1)}, extra_workdays={date(2026, 12, 26)}, source="虚构"
    )
    cal = WorkingDayCalendar([notice])
    assert CAL.is_workday(date(2026, 12, 31)) and not cal.is_workday(date(2026, 12, 31))
    assert not CAL.is_workday(date(2026, 12, 26)) and cal.is_workday(date(2026, 12, 26))
    assert cal.add_working_days(date(2026, 12, 25), 1) == date(2026, 12, 26)


def test_override_corrects_a_covered_year_and_clears_the_cache():
    cal = WorkingDayCalendar()
    assert cal.add_working_days(date(2018, 2, 9), 20) == date(2018, 3, 14)
    base = library_notice(2018)
    # Suppose 2018-02-14 had been a day off and 2018-02-24 not worked: the correction replaces the library.
    cal.add_notice(
        YearNotice(
            2018,
            holidays=base.holidays | {date(2018, 2, 14)},
            extra_workdays=base.extra_workdays - {date(2018, 2, 24)},
            source="更正",
        )
    )
    assert not cal.is_workday(date(2018, 2, 14))
    assert not cal.is_workday(date(2018, 2, 24))
    assert cal.add_working_days(date(2018, 2, 9), 20) == date(2018, 3, 16)
    assert cal.source(2018) == "更正"
    assert CAL.add_working_days(date(2018, 2, 9), 20) == date(2018, 3, 14)  # other calendars untouched


def test_library_notice_reproduces_the_library():
    rebuilt = WorkingDayCalendar([library_notice(y) for y in calmod.LIBRARY_YEARS])
    for d in days(date(2004, 1, 1), date(2026, 12, 31)):
        assert rebuilt.is_workday(d) == CAL.is_workday(d), d


def test_working_days_between_sign_and_symmetry():
    a, b = date(2018, 2, 9), date(2018, 3, 14)
    assert CAL.working_days_between(a, b) == 20
    assert CAL.working_days_between(b, a) == -20
    assert CAL.working_days_between(a, a) == 0
    # (a, b]: a Saturday to the next Monday is one working day, Friday to Saturday none.
    assert CAL.working_days_between(date(2018, 3, 10), date(2018, 3, 12)) == 1
    assert CAL.working_days_between(date(2018, 3, 9), date(2018, 3, 10)) == 0
    # Across years: 2018-12-28 (Fri) → 2019-01-02: 12-29 (Sat) worked, 12-30..01-01 off, 01-02 worked.
    assert CAL.working_days_between(date(2018, 12, 28), date(2019, 1, 2)) == 2
    assert CAL.working_days_between(date(2019, 1, 2), date(2018, 12, 28)) == -2
    whole = CAL.working_days_between(date(2017, 12, 31), date(2026, 12, 31))
    assert whole == sum(CAL.is_workday(d) for d in days(date(2018, 1, 1), date(2026, 12, 31)))


def test_every_day_2018_to_2026():
    started = time.perf_counter()
    last = date(2026, 12, 31)
    for d in days(date(2018, 1, 1), last):
        for n in (1, 5, 20, 60):
            try:
                r = CAL.add_working_days(d, n)
            except UncoveredYear as exc:
                # Only allowed when the n-th working day really lies beyond 2026.
                assert exc.year == 2027 and CAL.working_days_between(d, last) < n, d
                continue
            assert CAL.is_workday(r), (d, n)
            assert CAL.working_days_between(d, r) == n, (d, n)
            assert CAL.working_days_between(r, d) == -n, (d, n)
            back = CAL.add_working_days(d, -n)
            assert CAL.is_workday(back) and back < d
            # [back, d) holds n working days, so (back, d] holds n - 1 plus d itself if it is one.
            assert CAL.working_days_between(back, d) == n - 1 + CAL.is_workday(d), (d, n)
    assert time.perf_counter() - started < 2


def test_fast_enough_for_many_cases():
    d = date(2019, 3, 1)
    CAL.add_working_days(d, 60)  # warm the cache
    started = time.perf_counter()
    for _ in range(10_000):
        CAL.add_working_days(d, 60)
    assert time.perf_counter() - started < 0.5  # ~2 µs each; a day-by-day loop would take seconds


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("2027.toml", 'source = "x"\nholiday = ["2027-01-01"]\n', "unknown keys"),
        ("2027.toml", 'source = "x"\nholidays = ["2027-13-01"]\n', "not a date"),
        ("2027.toml", 'source = "x"\nholidays = ["2025-01-01"]\n', "outside the years"),
        ("2027.toml", 'source = "x"\nholidays = ["2027-01-02"]\nworkdays = ["2027-01-02"]\n', "holiday and"),
        ("2027.toml", 'holidays = ["2027-01-01"]\n', "source"),
        ("2027.toml", 'source = "  "\n', "source"),
        ("2027.toml", 'source = "x"\nholidays = "2027-01-01"\n', "list of dates"),
        ("next.toml", 'source = "x"\n', "<year>.toml"),
    ],
)
def test_bad_notice_files_are_rejected(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_notice_file(path)


def test_shipped_folder_loads_and_documents_the_format():
    # No guessed data is shipped; whatever real notices are added later must load cleanly.
    assert (DEFAULT_NOTICE_DIR / "README.md").is_file()
    for notice in load_notice_dir(DEFAULT_NOTICE_DIR):
        assert notice.source
    assert load_notice_dir(DEFAULT_NOTICE_DIR / "missing") == []
