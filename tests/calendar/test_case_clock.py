"""compute_due / working_days_left: the case clock over recorded facts."""

from datetime import date

import pytest

from engine.calendar import WorkingDayCalendar, YearNotice
from engine.deadlines import (
    ART45_KINDS,
    ClockState,
    Extension,
    Limit,
    Suspension,
    compute_due,
    working_days_left,
)

CAL = WorkingDayCalendar()
ACCEPTED = date(2018, 2, 9)
TWENTY = Limit(20, "working_days")
TODAY = date(2018, 6, 1)  # after everything below: only open suspensions depend on it
SUPPLEMENT = {"supplement", *ART45_KINDS}


def due(**kw) -> ClockState:
    args = {
        "accepted_on": ACCEPTED,
        "limit": TWENTY,
        "suspensions": (),
        "extensions": (),
        "excluded_kinds": SUPPLEMENT,
        "today": TODAY,
    }
    return compute_due(CAL, **(args | kw))


def test_plain_twenty_working_days():
    assert due() == ClockState(date(2018, 3, 14), True, 0, 0, None, 0)


def test_supplement_of_three_working_days_moves_it_three_working_days():
    stop = Suspension("supplement", date(2018, 3, 1), date(2018, 3, 6))  # Mar 2, 5, 6 not counted
    assert CAL.working_days_between(stop.start, stop.end) == 3
    state = due(suspensions=[stop])
    assert state.due_on == CAL.add_working_days(date(2018, 3, 14), 3) == date(2018, 3, 19)
    assert state.suspended_working_days == 3 and state.suspended_days == 5
    assert state.running


def test_suspension_kind_not_excluded_does_not_move_it():
    stop = Suspension("public_notice", date(2018, 3, 1), date(2018, 3, 6))
    assert due(suspensions=[stop]).due_on == date(2018, 3, 14)
    assert due(suspensions=[stop], excluded_kinds={"public_notice"}).due_on == date(2018, 3, 19)
    open_notice = Suspension("public_notice", date(2018, 3, 1))
    assert due(suspensions=[open_notice]).running  # an open stop of a counted kind leaves the clock running


def test_overlapping_suspensions_are_not_double_counted():
    a = Suspension("supplement", date(2018, 3, 1), date(2018, 3, 6))
    b = Suspension("expert_review", date(2018, 3, 5), date(2018, 3, 8))
    # Union (Mar 1, Mar 8]: Mar 2, 5, 6, 7, 8 → five working days, not 3 + 3.
    state = due(suspensions=[b, a])
    assert state.suspended_working_days == 5
    assert state.due_on == date(2018, 3, 21)
    # Nested and duplicated stops add nothing; touching stops are one stretch.
    inner = Suspension("hearing", date(2018, 3, 2), date(2018, 3, 5))
    assert due(suspensions=[a, inner, a]).due_on == date(2018, 3, 19)
    c = Suspension("expert_review", date(2018, 3, 6), date(2018, 3, 8))
    assert due(suspensions=[a, c]).suspended_working_days == 5


def test_stops_outside_the_clock_change_nothing():
    before = Suspension("supplement", date(2018, 1, 10), date(2018, 2, 1))
    after = Suspension("supplement", date(2018, 3, 20), date(2018, 3, 30))
    on_due_day = Suspension("supplement", date(2018, 3, 14), date(2018, 3, 20))  # the 14th still counted
    state = due(suspensions=[before, after, on_due_day])
    assert state == ClockState(date(2018, 3, 14), True, 0, 0, None, 0)
    # Straddling acceptance: only (Feb 9, Feb 13] counts → Feb 11 (Sun, worked), 12, 13.
    straddling = Suspension("supplement", date(2018, 2, 1), date(2018, 2, 13))
    assert due(suspensions=[straddling]).due_on == date(2018, 3, 19)
    # A second stop that only falls before the due date because the first one moved it does count.
    late = Suspension("expert_review", date(2018, 3, 16), date(2018, 3, 19))  # Mar 19 not counted
    assert due(suspensions=[straddling, late]).due_on == date(2018, 3, 20)


def test_open_suspension_counts_up_to_today_and_stops_the_clock():
    stop = Suspension("expert_review", date(2018, 3, 1))
    state = due(suspensions=[stop], today=date(2018, 3, 6))
    assert state.running is False
    assert state.due_on == date(2018, 3, 19)  # as if it ended today
    assert state.suspended_working_days == 3
    later = due(suspensions=[stop], today=date(2018, 3, 8))
    assert later.due_on == date(2018, 3, 21) and not later.running
    closed = due(suspensions=[Suspension("expert_review", date(2018, 3, 1), date(2018, 3, 6))])
    assert closed.due_on == state.due_on and closed.running


def test_extension_of_ten_working_days():
    ext = Extension(10, "现场核查需要延长", "分管厅长", date(2018, 3, 12))
    state = due(extensions=[ext])
    assert state.due_on == CAL.add_working_days(date(2018, 3, 14), 10) == date(2018, 3, 28)
    assert state.extended_working_days == 10
    stop = Suspension("supplement", date(2018, 3, 1), date(2018, 3, 6))
    assert due(extensions=[ext], suspensions=[stop]).due_on == CAL.add_working_days(date(2018, 3, 14), 13)


def test_calendar_day_limits():
    # 60 calendar days from 2019-03-01 → 2019-04-30 (Tue).
    assert due(accepted_on=date(2019, 3, 1), limit=Limit(60, "days")).due_on == date(2019, 4, 30)
    # Five suspended calendar days → 2019-05-05, a Sunday that was worked (May Day 2019: May 1–4 off).
    stop = Suspension("expert_review", date(2019, 3, 10), date(2019, 3, 15))
    state = due(accepted_on=date(2019, 3, 1), limit=Limit(60, "days"), suspensions=[stop])
    assert state.due_on == date(2019, 5, 5) and CAL.is_workday(date(2019, 5, 5))
    assert state.suspended_days == 5 and state.suspended_working_days == 5
    # Last day on a holiday → the next working day: 2018-01-16 + 30 = 2018-02-15 (Spring Festival).
    assert due(accepted_on=date(2018, 1, 16), limit=Limit(30, "days")).due_on == date(2018, 2, 22)
    # Last day on an ordinary Sunday → Monday.
    assert due(limit=Limit(30, "days")).due_on == date(2018, 3, 12)
    # An extension adds working days after the period's end.
    ext = Extension(10, "延长", "厅长", date(2018, 3, 1))
    assert due(limit=Limit(30, "days"), extensions=[ext]).due_on == CAL.add_working_days(date(2018, 3, 12), 10)


def test_applicant_due_has_no_department_clock():
    assert due(limit=Limit(10, "applicant_due")) == ClockState(None, False, 0, 0, None, 0)


def test_uncovered_year_is_flagged_not_guessed(tmp_path):
    accepted = date(2026, 12, 15)  # 12 working days left in 2026, so the 20th lies in 2027
    state = due(accepted_on=accepted)
    assert state.due_on is None and state.uncovered_year == 2027 and state.running
    # An open suspension that starts before the due date and runs into 2027 needs 2027 too.
    stop = Suspension("supplement", date(2026, 12, 1))
    flagged = due(accepted_on=date(2026, 11, 20), suspensions=[stop], today=date(2027, 1, 5))
    assert flagged.due_on is None and flagged.uncovered_year == 2027 and not flagged.running
    # …while a stop that starts after the due date is irrelevant, so 2027 is not needed.
    after_due = due(accepted_on=date(2026, 11, 2), suspensions=[stop], today=date(2027, 1, 5))
    assert after_due.due_on == date(2026, 11, 30) and after_due.uncovered_year is None
    # With a (fabricated) 2027 notice: 2027-01-01 off, Saturday 2027-01-09 worked.
    fake = YearNotice(2027, {date(2027, 1, 1)}, {date(2027, 1, 9)}, source="测试用虚构通知")
    computed = compute_due(
        WorkingDayCalendar([fake]),
        accepted_on=accepted,
        limit=TWENTY,
        suspensions=(),
        extensions=(),
        excluded_kinds=SUPPLEMENT,
        today=accepted,
    )
    # Dec 16–18, 21–25, 28–31 = 12; Jan 4–8 = 17; Sat Jan 9 = 18; Jan 11, 12 = 20.
    assert computed == ClockState(date(2027, 1, 12), True, 0, 0, None, 0)


def test_working_days_left():
    d = date(2018, 3, 14)  # Wednesday
    assert working_days_left(CAL, d, d) == 0
    assert working_days_left(CAL, d, date(2018, 3, 13)) == 1
    assert working_days_left(CAL, d, date(2018, 3, 10)) == 3  # Saturday before: 12, 13, 14
    assert working_days_left(CAL, d, date(2018, 3, 15)) == -1
    assert working_days_left(CAL, d, date(2018, 3, 19)) == -3  # 15, 16, 19
    # Never 0 off the due date: Saturday after a Friday due date is overdue, Sunday before a Monday not.
    assert working_days_left(CAL, date(2018, 3, 16), date(2018, 3, 17)) == -1
    assert working_days_left(CAL, date(2018, 3, 19), date(2018, 3, 18)) == 1
    # Overdue across Spring Festival: Feb 11 (Sun, worked), 12, 13, 14, 22; Feb 15–21 not counted.
    assert working_days_left(CAL, date(2018, 2, 9), date(2018, 2, 22)) == -5


def test_facts_are_validated():
    with pytest.raises(ValueError):
        Suspension("supplement", date(2018, 3, 6), date(2018, 3, 1))
    with pytest.raises(ValueError):
        Suspension("", date(2018, 3, 6))
    with pytest.raises(ValueError):
        Limit(-1, "working_days")
    with pytest.raises(ValueError):
        Limit(20, "weeks")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Extension(0, "x", "y", date(2018, 3, 1))
