"""Case clocks through the service layer, with a frozen "today": acceptance, suspensions by stepKind,
extensions, uncovered years.  2018 calendar facts: Spring Festival off 15–21 February; Sunday 11 February and
Saturday 24 February were working days (调休)."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from deadline_support import SYSTEM, actor, at, deploy, deploy_matter, ready_by_form, ready_tasks
from sqlalchemy import select

from services import cases, clock, reminders
from services.errors import Conflict, Forbidden, InvalidInput
from storage.models import AuditEvent, Case, CaseClock, CaseSuspension, HumanTask, Reminder

APPLICANT = cases.Applicant(name="吉林某化工有限公司")
M03 = "m03_hazardous_waste_storage"  # excluded_time = [supplement]; 20 working days, statutory and promised


def case_row(uow, case_id: int) -> Case:
    with uow.reader() as r:
        return r.session.get(Case, case_id)


def suspensions(uow, case_id: int) -> list[tuple[str, date, date | None]]:
    with uow.reader() as r:
        rows = r.session.execute(
            select(CaseSuspension).where(CaseSuspension.case_id == case_id).order_by(CaseSuspension.id)
        ).scalars()
        return [(s.kind, s.start_on, s.end_on) for s in rows]


def register(uow, matter: str, **data) -> int:
    return cases.register_case(uow, matter_code=matter, applicant=APPLICANT, channel="window",
                               delivery_mode="post", actor=SYSTEM, data=data).case_id


def complete(uow, task_id: str, form: dict | None = None) -> None:
    cases.complete_task(uow, task_id, form or {}, SYSTEM)


def test_eia_case_accepted_on_9_february_is_due_on_14_march(uow, people, frozen):
    """The real EIA diagram: the clock starts when the shared acceptance sets `accepted`; with a promised limit
    of 20 working days (matter setting) the case is due on 2018-03-14.  The acceptance notice (public_notice,
    excluded for matter 1) stops the clock at once; the notice period (at least 10 working days, checked by the
    calendar: 12 February – 1 March around the Spring Festival) and the expert review (9 February – 2 March:
    twelve working days counting Sunday the 11th and Saturday the 24th) move the promised date to 30 March."""
    deploy_matter(uow, "m01")
    clock.save_matter_setting(uow, "m01", actor=SYSTEM, promised_value=20, promised_unit="working_days")
    case_id = register(uow, "m01", report_type="report")
    assert case_row(uow, case_id).accepted_on is None and case_row(uow, case_id).due_on is None

    complete(uow, ready_by_form(uow, case_id, "materials_check.json"),
             {"received_date": "2018-02-09", "intake_result": "complete"})
    complete(uow, ready_by_form(uow, case_id, "acceptance_notice.json"),
             {"acceptance_date": "2018-02-09"})
    case = case_row(uow, case_id)
    assert case.accepted_on == date(2018, 2, 9)
    assert case.promised_due_on == date(2018, 3, 14)
    assert case.due_on == date(2018, 4, 10)  # 报告书: 60 days (calendar days, as the catalog says for now)
    assert case.clock_running is False  # at the acceptance notice: public_notice is excluded for matter 1
    assert suspensions(uow, case_id) == [("public_notice", date(2018, 2, 9), None)]
    with uow.reader() as r:
        task = r.session.execute(select(HumanTask).where(HumanTask.case_id == case_id,
                                                         HumanTask.state == "ready")).scalar_one()
        assert task.due_at == datetime.combine(date(2018, 4, 10), time(23, 59, 59), tzinfo=clock.BEIJING)
        left = clock.days_left(r.session, case)
    # Statutory: to 10 April (Qingming: 5–7 April off, Sunday 8 April worked); promised: to 14 March.
    assert (left.statutory, left.promised, left.running) == (38, 20, False)

    frozen.set(at(2018, 2, 12, 9))
    complete(uow, ready_by_form(uow, case_id, "public_notice.json"),
             {"notice_url": "http://hbt.jl.gov.cn/gs/1.html", "notice_start": "2018-02-12",
              "notice_end": "2018-03-01"})
    assert case_row(uow, case_id).next_timer_due is not None  # waiting for the end of the notice period
    frozen.set(at(2018, 3, 2, 9))
    assert cases.fire_due_timers(uow, clock.now()) == 1
    assert suspensions(uow, case_id) == [("public_notice", date(2018, 2, 9), date(2018, 3, 2)),
                                         ("expert_review", date(2018, 3, 2), None)]
    complete(uow, ready_by_form(uow, case_id, "expert_review.json"),
             {"expert_meeting_date": "2018-03-02", "expert_opinion": "结论可信。", "expert_conclusion": "pass"})
    case = case_row(uow, case_id)
    assert case.clock_running is True
    assert suspensions(uow, case_id)[-1] == ("expert_review", date(2018, 3, 2), date(2018, 3, 2))
    # 14 March + 12 working days (15, 16, 19–23, 26–30 March)
    assert case.promised_due_on == date(2018, 3, 30)
    # 10 April + 21 calendar days = 1 May, a holiday (Labour Day, 29 April – 1 May) → 2 May
    assert case.due_on == date(2018, 5, 2)


@pytest.fixture
def supplement_process(uow, people):
    """Accepted at once, then a check, a 补正 step (stepKind supplement) and a review: under matter 3's id."""
    deploy(uow, M03, [("script", "accept", "accepted = True"), ("user", "check", None),
                      ("user", "supplement", "supplement"), ("user", "review", None)])


def test_supplement_of_three_working_days_moves_the_due_date_by_three(uow, supplement_process, frozen):
    case_id = register(uow, "m03")
    case = case_row(uow, case_id)
    assert (case.accepted_on, case.due_on, case.promised_due_on) == (date(2018, 2, 9), date(2018, 3, 14),
                                                                     date(2018, 3, 14))
    assert case.clock_running is True

    frozen.set(at(2018, 2, 26, 10))  # Monday
    complete(uow, ready_tasks(uow, case_id)["check"])
    assert case_row(uow, case_id).clock_running is False
    assert suspensions(uow, case_id) == [("supplement", date(2018, 2, 26), None)]

    frozen.set(at(2018, 3, 1, 16))  # Thursday: the materials are complete
    complete(uow, ready_tasks(uow, case_id)["supplement"])
    case = case_row(uow, case_id)
    assert suspensions(uow, case_id) == [("supplement", date(2018, 2, 26), date(2018, 3, 1))]
    assert case.clock_running is True
    assert case.due_on == case.promised_due_on == date(2018, 3, 19)  # 27, 28 Feb, 1 Mar not counted

    frozen.set(at(2018, 3, 5, 9))
    complete(uow, ready_tasks(uow, case_id)["review"])
    case = case_row(uow, case_id)
    assert case.status == "completed" and case.clock_running is False
    assert case.due_on == date(2018, 3, 19)  # kept, to judge on-time completion
    with uow.reader() as r:
        assert r.session.get(CaseClock, case_id).stopped_on == date(2018, 3, 5)


def test_an_excluded_kind_only_stops_the_clock_of_matters_that_exclude_it(uow, people, frozen):
    """Matter 4 does not exclude expert_review: being at such a step leaves its clock running."""
    deploy(uow, "m04_radiation_safety_permit", [("script", "accept", "accepted = True"),
                                                ("user", "expert", "expert_review"), ("user", "review", None)])
    case_id = register(uow, "m04")
    frozen.set(at(2018, 2, 12, 9))
    complete(uow, ready_tasks(uow, case_id)["expert"])
    assert suspensions(uow, case_id) == []
    assert case_row(uow, case_id).due_on == date(2018, 3, 14)


def test_extension_needs_leadership_and_is_audited(uow, supplement_process, frozen):
    case_id = register(uow, "m03")
    version = case_row(uow, case_id).version
    with pytest.raises(Forbidden):
        clock.extend_deadline(uow, case_id, 10, "现场核查需要补充检测", actor(uow, "soil_lead"))
    with pytest.raises(InvalidInput):
        clock.extend_deadline(uow, case_id, 10, "  ", actor(uow, "leader1"))

    frozen.set(at(2018, 3, 12, 9))
    clock.extend_deadline(uow, case_id, 6, "现场核查需要补充检测", actor(uow, "leader1"))
    case = case_row(uow, case_id)
    assert case.due_on == case.promised_due_on == date(2018, 3, 22)  # 14 March + 6 working days
    assert case.version == version + 1
    with pytest.raises(InvalidInput):  # Art.42: at most 10 working days in all
        clock.extend_deadline(uow, case_id, 5, "再延期", actor(uow, "leader1"))
    clock.extend_deadline(uow, case_id, 4, "专家意见分歧", SYSTEM)
    assert case_row(uow, case_id).due_on == date(2018, 3, 28)
    with uow.reader() as r:
        events = r.session.execute(
            select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.action == "case.extended")
            .order_by(AuditEvent.seq)
        ).scalars().all()
    assert [(e.actor, e.payload["working_days"], e.payload["after"]["due_on"]) for e in events] == [
        ("leader1", 6, "2018-03-22"), ("test", 4, "2018-03-28")]
    assert events[0].payload["before"]["due_on"] == "2018-03-14"

    # A case whose time limit has expired can no longer be extended.
    other = register(uow, "m03")
    frozen.set(at(2018, 4, 20, 9))
    with pytest.raises(Conflict):
        clock.extend_deadline(uow, other, 2, "逾期", SYSTEM)


def test_a_year_without_holiday_data_is_flagged_never_guessed(uow, supplement_process, frozen):
    """20 working days after 10 December 2026 end in 2027, which chinesecalendar 1.11.0 does not cover."""
    frozen.set(at(2026, 12, 10, 9))
    case_id = register(uow, "m03")
    case = case_row(uow, case_id)
    assert case.accepted_on == date(2026, 12, 10)
    assert case.due_on is None and case.promised_due_on is None
    assert case.clock_flag == "uncovered_year:2027"
    with uow.reader() as r:
        listed = clock.uncovered_cases(r.session)
        assert [(c.case_id, c.year) for c in listed] == [(case_id, 2027)]
        assert clock.days_left(r.session, case).problem  # shown instead of a number
    assert clock.describe_flag(case.clock_flag)[1] == {"year": 2027}

    reminders.scan_deadlines(uow, clock.now())
    with uow.reader() as r:
        keys = set(r.session.execute(select(Reminder.key).where(Reminder.role == "admin")).scalars())
    assert keys == {"holiday:2027:missing", "holiday:2027:due"}  # the second: it is December

    # The admin enters the 2027 notice (test data, not the real notice): the clock is derived at once.
    changed = clock.save_holiday_notice(uow, year=2027, holidays=[date(2027, 1, 1)], workdays=[],
                                        source="测试用通知（非真实数据）", actor=SYSTEM)
    assert changed == 1
    case = case_row(uow, case_id)
    assert case.clock_flag is None
    assert case.due_on == date(2027, 1, 8)  # 15 working days left in December, then 4–8 January
    with uow.reader() as r:
        assert clock.uncovered_cases(r.session) == []
        # the admin's reminders about 2027 are answered: they leave the bell (and are not raised again)
        assert not r.session.execute(select(Reminder.key).where(Reminder.key.like("holiday:2027:%"))).all()
    reminders.scan_deadlines(uow, clock.now())
    with uow.reader() as r:
        assert not r.session.execute(select(Reminder.key).where(Reminder.key.like("holiday:2027:%"))).all()
    with pytest.raises(Forbidden):
        clock.save_holiday_notice(uow, year=2028, holidays=[], workdays=[], source="x",
                                  actor=actor(uow, "eia_lead"))
