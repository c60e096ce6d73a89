"""Domain corrections of issue 12, point 6, through the service layer on SQLite and PostgreSQL.

- a filing's department clock ends when its 备案回执 / 退回通知 is delivered (m08–m11);
- 行政许可法 Art.32: 5 working days from the receipt of materials to the acceptance decision, a warning before the
  5th day, "deemed accepted" after it;
- one-time notice means once: a second 补正 notice needs the window lead (a lead-only task), is flagged and counts
  against the matter in the run-once statistics;
- the rollout check counts finished, accepted cases and the trips made;
- matter 11's owner (admin setting) routes its tasks.
"""

from __future__ import annotations

import copy
import secrets
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from driver import (
    CANCELLATION,
    DELIVERY,
    FILING_RECEIPT,
    M03,
    POST_ASSESSMENT,
    REMINDER,
    SCENARIOS,
    SUPPLEMENT_NOTICE,
    check,
    materials_check,
    offsite_intake,
    second_notice_approval,
    supplement,
)
from service_driver import run_scenario
from sqlalchemy import select

from services import cases, clock, reminders
from services.actors import Actor, actor_for
from services.errors import Forbidden
from storage.models import Case, CaseClock, HumanTask, ProcessDefinition, Reminder, User

BJ = ZoneInfo("Asia/Shanghai")
APPLICANT = cases.Applicant(name="吉林某化工有限公司", credit_code="91220000123456789K")
WINDOW = Actor(username="window-registrar", roles=frozenset({"window"}))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ)


def user(installed, username: str) -> Actor:
    with installed.uow.reader() as r:
        row = r.session.execute(select(User).where(User.username == username)).scalar_one()
        return actor_for(r.session, row)


def case_row(installed, case_id: int) -> Case:
    with installed.uow.reader() as r:
        case = r.session.get(Case, case_id)
        r.session.expunge(case)
        return case


def ready(installed, case_id: int) -> dict[str, HumanTask]:
    with installed.uow.reader() as r:
        rows = r.session.execute(
            select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "ready")).scalars().all()
        for row in rows:
            r.session.expunge(row)
        return {row.spec_name: row for row in rows}


def do(installed, case_id: int, spec_name: str, form: dict, who: Actor) -> None:
    cases.complete_task(installed.uow, ready(installed, case_id)[spec_name].id, copy.deepcopy(form), who)


def register(installed, matter: str, channel: str = "window", delivery: str = "post") -> int:
    return cases.register_case(installed.uow, matter_code=matter, applicant=APPLICANT, channel=channel,
                               delivery_mode=delivery, actor=WINDOW).case_id


def case_reminders(installed, case_id: int) -> list[tuple[str, str | None, str | None]]:
    with installed.uow.reader() as r:
        rows = r.session.execute(select(Reminder).where(Reminder.case_id == case_id).order_by(Reminder.key))
        return [(row.kind, row.unit_code, row.role) for row in rows.scalars()]


# ---------------------------------------------------------------- filings: the clock ends at delivery


def test_filing_clock_ends_when_the_receipt_is_delivered(installed):
    """m08 filed and its receipt delivered: the applicant's cancellation weeks later raises no overdue or
    escalation reminder of the department, and its task rows carry no due date.  The same filing left
    undelivered is overdue and escalated, so the check can fail."""
    window, nuclear = user(installed, "window1"), user(installed, "nuclear1")
    with clock.frozen(at(2018, 5, 2, 9)) as now:
        delivered = register(installed, "m08", "online", "online")
        stuck = register(installed, "m08", "online", "online")
        for case_id in (delivered, stuck):
            do(installed, case_id, "receive_filing", offsite_intake("2018-05-02", "2018-05-20", "2018-05-25"),
               window)
            do(installed, case_id, "check_filing", check("accept", site_check_needed="no"), nuclear)
        do(installed, delivered, "issue_receipt", FILING_RECEIPT, nuclear)
        do(installed, delivered, "deliver_online", DELIVERY["online"][1], window)
        assert case_row(installed, delivered).clock_running is False
        with installed.uow.reader() as r:
            assert r.session.get(CaseClock, delivered).stopped_on == date(2018, 5, 2)
            assert r.session.get(CaseClock, stuck).stopped_on is None

        # long after the promised 5 working days: the activity ended, 20 days passed without a cancellation
        now.set(at(2018, 5, 26, 9))
        cases.fire_due_timers(installed.uow, clock.now())
        now.set(at(2018, 6, 20, 9))
        cases.fire_due_timers(installed.uow, clock.now())
        assert set(ready(installed, delivered)) == {"receive_cancellation", "remind_cancellation"}
        assert all(t.due_at is None for t in ready(installed, delivered).values())
        reminders.scan_deadlines(installed.uow, clock.now())
        assert case_reminders(installed, delivered) == []
        kinds = {kind for kind, _unit, _role in case_reminders(installed, stuck)}
        assert {"deadline_overdue", "escalation_lead"} <= kinds
        assert case_row(installed, stuck).promised_due_on == date(2018, 5, 9)  # the limit the reminders watched

        do(installed, delivered, "remind_cancellation", REMINDER, nuclear)
        do(installed, delivered, "receive_cancellation", CANCELLATION, window)
        do(installed, delivered, "cancel_filing", {"cancellation_done_date": "2018-06-20"}, nuclear)
        assert case_row(installed, delivered).status == "completed"
        reminders.scan_deadlines(installed.uow, clock.now())
        assert case_reminders(installed, delivered) == []


# ---------------------------------------------------------------- 行政许可法 Art.32


def test_acceptance_decision_within_five_working_days_or_deemed_accepted(installed):
    """Materials received on Monday 7 May 2018: the window must decide by Monday 14 May (5 working days).  A
    warning comes on the last working day before; on 15 May the case counts as accepted from 7 May, the window
    and its lead are told, and the later acceptance dates the statutory clock from 7 May."""
    window = user(installed, "window1")
    with clock.frozen(at(2018, 5, 7, 9)) as now:
        case_id = register(installed, "m07")
        case = case_row(installed, case_id)
        assert (case.materials_received_on, case.acceptance_due_on) == (date(2018, 5, 7), date(2018, 5, 14))
        assert case.deemed_accepted_on is None and case.accepted_on is None

        now.set(at(2018, 5, 10, 9))  # 2 working days left: no warning yet
        reminders.scan_deadlines(installed.uow, clock.now())
        assert case_reminders(installed, case_id) == []
        now.set(at(2018, 5, 11, 9))  # Friday: one working day left
        reminders.scan_deadlines(installed.uow, clock.now())
        assert case_reminders(installed, case_id) == [("acceptance_warning", "approval_office", None)]
        now.set(at(2018, 5, 14, 17))  # the 5th working day itself: still in time
        reminders.scan_deadlines(installed.uow, clock.now())
        assert case_row(installed, case_id).deemed_accepted_on is None

        now.set(at(2018, 5, 15, 9))
        reminders.scan_deadlines(installed.uow, clock.now())
        assert case_row(installed, case_id).deemed_accepted_on == date(2018, 5, 7)
        assert sorted(case_reminders(installed, case_id), key=str) == [
            ("acceptance_warning", "approval_office", None),
            ("deemed_accepted", "approval_office", "lead"),
            ("deemed_accepted", "approval_office", None),
        ]
        reminders.scan_deadlines(installed.uow, clock.now())  # once only
        assert len(case_reminders(installed, case_id)) == 3

        do(installed, case_id, "check_materials", materials_check("complete"), window)
        do(installed, case_id, "issue_acceptance", {"acceptance_date": "2018-05-15"}, window)
        case = case_row(installed, case_id)
        assert case.accepted_on == date(2018, 5, 7)  # 视为受理: from the day the materials came in
        assert case.deemed_accepted_on == date(2018, 5, 7) and case.acceptance_due_on is None
        assert case.due_on == date(2018, 6, 4)  # 20 working days from 7 May (行政许可法 Art.42)


def test_acceptance_clock_restarts_with_each_round_of_materials(installed):
    """A one-time notice on day 2 answers the first round in time; the supplements received on 21 May start a
    new round (due 28 May), decided in time: the case is never flagged."""
    window = user(installed, "window1")
    with clock.frozen(at(2018, 5, 7, 9)) as now:
        case_id = register(installed, "m07", "post", "post")
        now.set(at(2018, 5, 8, 10))
        do(installed, case_id, "check_materials", materials_check("incomplete"), window)
        case = case_row(installed, case_id)
        assert case.acceptance_due_on == date(2018, 5, 14)  # the notice itself is still the window's turn
        do(installed, case_id, "notify_supplement", SUPPLEMENT_NOTICE, window)
        case = case_row(installed, case_id)
        assert (case.materials_received_on, case.acceptance_due_on) == (None, None)  # the applicant's turn

        now.set(at(2018, 5, 22, 9))  # the applicant's weeks do not count against the window
        reminders.scan_deadlines(installed.uow, clock.now())
        do(installed, case_id, "receive_supplement", {**supplement("post"), "supplement_received_date": "2018-05-21"},
           window)
        case = case_row(installed, case_id)
        assert (case.materials_received_on, case.acceptance_due_on) == (date(2018, 5, 21), date(2018, 5, 28))
        now.set(at(2018, 5, 25, 9))
        do(installed, case_id, "check_materials", materials_check("complete"), window)
        do(installed, case_id, "issue_acceptance", {"acceptance_date": "2018-05-25"}, window)
        reminders.scan_deadlines(installed.uow, clock.now())
        case = case_row(installed, case_id)
        assert case.deemed_accepted_on is None and case.accepted_on == date(2018, 5, 25)
        assert case.supplement_notices == 1
        assert [k for k, _u, _r in case_reminders(installed, case_id) if k.startswith(("accept", "deemed"))] == []


# ---------------------------------------------------------------- one-time notice means once


def test_second_notice_needs_the_window_lead_and_is_flagged(installed):
    window, lead = user(installed, "window1"), user(installed, "window_lead")
    with clock.frozen(at(2018, 5, 2, 9)):
        case_id = register(installed, "m03", "post", "post")
        do(installed, case_id, "check_materials", materials_check("incomplete"), window)
        do(installed, case_id, "notify_supplement", SUPPLEMENT_NOTICE, window)
        do(installed, case_id, "receive_supplement", supplement("post"), window)
        do(installed, case_id, "check_materials", materials_check("incomplete"), window)
        task = ready(installed, case_id)["approve_second_notice"]
        assert (task.lane, task.spec_lane, task.role) == ("审批办", "审批办", "lead")
        assert "notify_supplement" not in ready(installed, case_id)  # no second notice without the lead
        with pytest.raises(Forbidden):
            cases.claim_task(installed.uow, task.id, window)
        with pytest.raises(Forbidden):
            cases.complete_task(installed.uow, task.id, second_notice_approval("approve"), window)
        with pytest.raises(Exception, match="form has errors"):  # the reason is required
            cases.complete_task(installed.uow, task.id, {**second_notice_approval("approve"),
                                                         "second_notice_reason": ""}, lead)
        cases.complete_task(installed.uow, task.id, second_notice_approval("approve"), lead)
        assert case_row(installed, case_id).supplement_notices == 1
        do(installed, case_id, "notify_supplement", SUPPLEMENT_NOTICE, window)
        assert case_row(installed, case_id).supplement_notices == 2  # flagged on the case


def test_second_notice_counts_against_the_matter(installed):
    """The scenario table's m03 case with a lead-approved second notice took no trip at all (post + post), yet
    it misses run-once in the statistics."""
    sc = next(s for s in SCENARIOS if s.id == f"{M03}:second_notice_approved_by_lead")
    run = run_scenario(installed.uow, sc, installed.people)
    case = case_row(installed, run.case_id)
    assert (case.status, case.trips, case.supplement_notices) == ("completed", 0, 2)
    with installed.uow.reader() as r:
        status = reminders.run_once_status(r.session, clock.catalog().matter("m03"))
    assert (status.counted_cases, status.multi_trip_cases, status.second_notice_cases) == (1, 0, 1)
    assert status.failing_cases == 1 and status.multi_trip_share == 1.0
    assert status.msgid == reminders.ROLLOUT_TRIPS


# ---------------------------------------------------------------- the rollout check's rule


def _add_case(installed, matter: str, **values) -> None:
    with installed.uow:
        definition_id = installed.uow.session.execute(select(ProcessDefinition.id).limit(1)).scalar_one()
        installed.uow.session.add(Case(
            reference=f"T{secrets.token_hex(5)}", lookup_code="X", matter_code=matter, definition_id=definition_id,
            applicant_name="某公司", channel="window", delivery_mode="window", state="",
            serializer_version="test", created_by="test", **values))
        installed.uow.commit()


def test_rollout_counts_only_finished_accepted_cases_and_trips_made(installed):
    accepted = {"accepted_on": date(2018, 4, 2)}
    _add_case(installed, "m07", status="completed", outcome="approved", trips=1, **accepted)  # counted, fine
    _add_case(installed, "m07", status="completed", outcome="refused", trips=2, **accepted)  # counted, missed
    _add_case(installed, "m07", status="active", trips=2, **accepted)  # open: its pick-up is only planned
    _add_case(installed, "m07", status="completed", outcome="not_accepted", trips=2)  # refused at the window
    _add_case(installed, "m07", status="withdrawn", outcome="withdrawn", trips=2)
    with installed.uow.reader() as r:
        status = reminders.run_once_status(r.session, clock.catalog().matter("m07"))
    assert (status.counted_cases, status.multi_trip_cases, status.failing_cases) == (2, 1, 1)
    assert status.multi_trip_share == 0.5


# ---------------------------------------------------------------- matter 11's owner routes its tasks


def test_matter_11_owner_set_by_the_admin_works_its_tasks(installed):
    window, regs, eia = user(installed, "window1"), user(installed, "regs1"), user(installed, "eia1")
    admin = Actor(username="admin", roles=frozenset({"admin"}))
    with clock.frozen(at(2018, 7, 5, 9)):
        before = register(installed, "m11", "online", "online")
        do(installed, before, "receive_report", POST_ASSESSMENT, window)
        assert ready(installed, before)["check_filing"].lane == "法规处"  # the catalog's stand-in owner

        clock.save_matter_setting(installed.uow, "m11", actor=admin, owner_unit_code="eia")
        task = ready(installed, before)["check_filing"]
        assert (task.lane, task.spec_lane) == ("环评处", "法规处")  # the open task moved to the owner
        with pytest.raises(Forbidden):
            cases.complete_task(installed.uow, task.id, check("accept"), regs)
        cases.complete_task(installed.uow, task.id, check("accept"), eia)
        assert ready(installed, before)["issue_receipt"].lane == "环评处"

        after = register(installed, "m11", "online", "online")
        do(installed, after, "receive_report", POST_ASSESSMENT, window)
        assert (ready(installed, after)["check_filing"].lane, ready(installed, after)["check_filing"].spec_lane) == (
            "环评处", "法规处")
        with installed.uow.reader() as r:
            assert clock.handling_unit(r.session, "m11") == "eia"  # reminders go there too

        clock.save_matter_setting(installed.uow, "m11", actor=admin, owner_unit_code=None)
        assert ready(installed, after)["check_filing"].lane == "法规处"

