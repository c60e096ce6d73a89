"""Trips (跑动次数) and the run-once flag as the service layer records them on the case (Case.trips, trip_flag).

The count itself is services.trips (tests/workflows/test_workflows_trips.py); here: the case row carries the
count of what actually happened in the case, and a flag with the Chinese reasons when it took more than one trip.
"""

from __future__ import annotations

import copy
from datetime import datetime

from driver import (
    DELIVERY,
    M01,
    M06,
    M07,
    M08,
    M11,
    START_TIME,
    Expect,
    Scenario,
    acceptance,
    m01_steps,
    m07_steps,
    m08_steps,
    m11_steps,
    start_data,
)
from service_driver import WINDOW, _split_start, run_scenario
from sqlalchemy import select

from engine.clock import frozen_time
from services import cases
from services.trips import count_trips
from storage.models import Case


def _run(installed, sc: Scenario) -> Case:
    run = run_scenario(installed.uow, sc, installed.people)
    with installed.uow.reader() as r:
        case = r.session.get(Case, run.case_id)
        r.session.expunge(case)
    return case


def _with_handover(steps, same_visit: bool, pickup_date: str | None = None):
    steps = copy.deepcopy(steps)
    name, payload = DELIVERY["window"]
    for i, (step, _) in enumerate(steps):
        if step == name:
            dates = {"notified_date": pickup_date, "pickup_date": pickup_date} if pickup_date else {}
            steps[i] = (name, {**payload, "same_visit_handover": same_visit, **dates})
    return steps


REGISTERED_ON = START_TIME[:10]  # the scenarios register the case at START_TIME (Beijing)


def test_window_window_handed_over_in_the_same_visit_is_one_trip(installed):
    """即办: the result handed over on the day of the application visit."""
    sc = Scenario(M07, "same_visit", start_data("m07", "window", "window"),
                  _with_handover(m07_steps(mode="window"), True, pickup_date=REGISTERED_ON), Expect())
    case = _run(installed, sc)
    assert (case.status, case.trips, case.trip_flag) == ("completed", 1, None)


def test_same_visit_is_checked_against_the_dates_not_the_checkbox(installed):
    """The box ticked, but the result was picked up two months later: two visits, and the flag says why."""
    sc = Scenario(M07, "ticked_but_later", start_data("m07", "window", "window"),
                  _with_handover(m07_steps(mode="window"), True), Expect())
    case = _run(installed, sc)
    assert (case.status, case.trips) == ("completed", 2)
    assert "不是同一天" in case.trip_flag and DELIVERY["window"][1]["pickup_date"] in case.trip_flag
    # the dates decide in the other direction too: picked up on the day of the application, box not ticked
    sc = Scenario(M07, "same_day_unticked", start_data("m07", "window", "window"),
                  _with_handover(m07_steps(mode="window"), False, pickup_date=REGISTERED_ON), Expect())
    case = _run(installed, sc)
    assert (case.trips, case.trip_flag) == (1, None)


def test_cancellation_at_the_window_after_delivery_counts_a_trip(installed):
    """m08: filed online, receipt online, then the cancellation handed in at the window: one trip."""
    online = _run(installed, Scenario(M08, "online_cancel", start_data("m08", "online", "online"),
                                      m08_steps(mode="online"), Expect()))
    at_window = _run(installed, Scenario(M08, "window_cancel", start_data("m08", "online", "online"),
                                         m08_steps(mode="online", cancellation_channel="window"), Expect()))
    assert (online.status, online.trips) == ("completed", 0)
    assert (at_window.status, at_window.trips, at_window.trip_flag) == ("completed", 1, None)


def test_window_window_in_two_visits_is_flagged_with_the_reasons(installed):
    sc = Scenario(M07, "two_visits", start_data("m07", "window", "window"),
                  _with_handover(m07_steps(mode="window"), False), Expect())
    case = _run(installed, sc)
    assert (case.status, case.trips) == ("completed", 2)
    expected = count_trips("window", "window")
    assert case.trip_flag == "；".join(expected.reasons)
    assert "现场取件" in case.trip_flag and "超过“只跑一次”" in case.trip_flag


def test_in_person_supplement_and_revision_add_trips(installed):
    steps = m01_steps(acc="supplement_window", expert_path=("revise", "pass"), mode="post")
    for i, (name, payload) in enumerate(steps):
        if name == "receive_revision":
            steps[i] = (name, {**payload, "revision_channel": "window"})
    sc = Scenario(M01, "visits", start_data("m01", "window", "post", report_type="table"), steps, Expect())
    case = _run(installed, sc)
    # application visit + 补正 brought in person + revised materials brought in person
    assert (case.status, case.trips) == ("completed", 3)
    assert "补正" in case.trip_flag and "其他到窗口递交材料 1 次" in case.trip_flag


def test_zero_trip_case_is_not_flagged(installed):
    case = _run(installed, Scenario(M11, "zero", start_data("m11", "online", "online"), m11_steps(), Expect()))
    assert (case.trips, case.trip_flag) == (0, None)


def test_flagged_cases_are_one_indexed_query_away(installed):
    flagged = Scenario(M07, "flagged", start_data("m07", "window", "window"),
                       _with_handover(m07_steps(mode="window"), False), Expect())
    fine = Scenario(M11, "fine", start_data("m11", "online", "online"), m11_steps(), Expect())
    ids = {_run(installed, sc).id: sc.path for sc in (flagged, fine)}
    with installed.uow.reader() as r:
        found = r.session.execute(select(Case.id).where(Case.trip_flag.is_not(None))).scalars().all()
    assert [ids[i] for i in found] == ["flagged"]


# -- cases that end without a result: the pickup trip never happened ---------------------------------------------

def test_case_withdrawn_before_acceptance_does_not_count_a_pickup(installed):
    """Applied by post, withdrew during 补正: the applicant never came to the window (0 trips, not 1)."""
    case = _run(installed, Scenario(M06, "withdrawn", start_data("m06", "post", "window"),
                                    acceptance("withdrawn"), Expect()))
    assert (case.status, case.outcome) == ("completed", "withdrawn")
    assert (case.trips, case.trip_flag) == (0, None), (
        f"trips {case.trips}: the 现场取件 trip was counted although no result was ever delivered"
    )


def test_window_application_refused_at_the_window_is_one_trip(installed):
    """不予受理 handed over at the window: one visit, so not over run-once."""
    case = _run(installed, Scenario(M07, "refused", start_data("m07", "window", "window"),
                                    acceptance("refused"), Expect()))
    assert (case.status, case.outcome) == ("completed", "not_accepted")
    assert (case.trips, case.trip_flag) == (1, None), f"trips {case.trips}, flag {case.trip_flag!r}"


def test_case_withdrawn_by_the_window_counts_only_the_visit_made(installed):
    """withdraw_case right after a window registration: one visit, no pickup, no run-once flag."""
    uow = installed.uow
    kwargs, extra = _split_start(start_data("m07", "window", "window"))
    with frozen_time(datetime.fromisoformat(START_TIME)):
        reg = cases.register_case(uow, actor=WINDOW, data=extra, **kwargs)
        cases.withdraw_case(uow, reg.case_id, "申请人书面撤回申请", WINDOW)
    with uow.reader() as r:
        case = r.session.get(Case, reg.case_id)
        assert (case.status, case.outcome) == ("withdrawn", "withdrawn")
        assert (case.trips, case.trip_flag) == (1, None), f"trips {case.trips}, flag {case.trip_flag!r}"
