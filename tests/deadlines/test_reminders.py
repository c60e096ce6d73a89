"""Deadline reminders and the run-once rollout check: raised on the right day, to the right people, once."""

from __future__ import annotations

import secrets
import threading
from datetime import date

import pytest
from deadline_support import SYSTEM, actor, at, deploy, deploy_matter, ready_tasks
from sqlalchemy import func, select

from services import cases, clock, reminders
from services.errors import NotFound
from storage.models import Case, CaseClock, CaseSuspension, ProcessDefinition, Reminder

APPLICANT = cases.Applicant(name="吉林某利用企业")
M10 = "m10_imported_solid_waste_report"  # filing: the clock starts at registration; promised 5 working days
APRIL = ("m01", "m02", "m03", "m04", "m05", "m06")
UNIT = {"m01": "eia", "m02": "soil", "m03": "soil", "m04": "nuclear_safety", "m05": "ecology", "m06": "ecology"}


def keys(uow, **where) -> list[str]:
    with uow.reader() as r:
        query = select(Reminder.key).order_by(Reminder.key)
        for name, value in where.items():
            query = query.where(getattr(Reminder, name) == value)
        return list(r.session.execute(query).scalars())


def add_cases_with_trips(uow, matter: str, trips: list[int]) -> None:
    with uow:
        definition_id = uow.session.execute(select(ProcessDefinition.id).limit(1)).scalar_one()
        for n in trips:
            uow.session.add(Case(
                reference=f"T{secrets.token_hex(5)}", lookup_code="X", matter_code=matter,
                definition_id=definition_id, status="completed", applicant_name="某公司", channel="window",
                delivery_mode="post", state="", serializer_version="test", created_by="test", trips=n,
                accepted_on=date(2018, 4, 2), outcome="approved"))
        uow.commit()


# ---------------------------------------------------------------- rollout


def test_april_matters_raise_rollout_reminders_on_1_may(uow, people):
    """Matter 2 is run-once (deployed, offers post delivery, no case over one trip); matter 3 is deployed but
    two of its three cases took two trips; matters 1, 4, 5, 6 have no deployed process."""
    deploy_matter(uow, "m02")
    deploy_matter(uow, "m03")
    add_cases_with_trips(uow, "m02", [1, 0, 1])
    add_cases_with_trips(uow, "m03", [2, 1, 2])

    assert reminders.check_rollout(uow, at(2018, 4, 30, 23, 59)) == 1  # the month has not ended
    assert keys(uow) == ["matter:m11:no-unit"]  # matter 11: no unit in the plan → 法规处 at once
    with uow.reader() as r:
        m11 = r.session.execute(select(Reminder).where(Reminder.key == "matter:m11:no-unit")).scalar_one()
    assert (m11.unit_code, m11.kind) == ("regulations", "rollout_no_unit")

    created = reminders.check_rollout(uow, at(2018, 5, 1, 0, 5))
    not_run_once = [m for m in APRIL if m != "m02"]
    expected = {f"matter:{m}:rollout:2018-04-30:{unit}" for m in not_run_once for unit in (UNIT[m], "regulations")}
    expected |= {"matter:m11:no-unit", "plan:2018-04:rollout-target"}
    assert set(keys(uow)) == expected
    assert created == len(expected) - 1
    # Any number of further runs creates nothing.
    assert reminders.check_rollout(uow, at(2018, 5, 1, 1, 5)) == 0
    assert reminders.check_rollout(uow, at(2018, 5, 2, 9)) == 0
    assert len(keys(uow)) == len(expected)

    with uow.reader() as r:
        m03 = r.session.execute(select(Reminder).where(
            Reminder.key == "matter:m03:rollout:2018-04-30:soil")).scalar_one()
        m01 = r.session.execute(select(Reminder).where(
            Reminder.key == "matter:m01:rollout:2018-04-30:eia")).scalar_one()
        target = r.session.execute(select(Reminder).where(Reminder.kind == "rollout_target")).scalar_one()
        status = reminders.run_once_status(r.session, clock.catalog().matter("m02"))
    assert status.ok and ("window", "post") in status.run_once_modes
    assert m03.msgid == reminders.ROLLOUT_TRIPS and m03.params["share"] == "67%"
    assert reminders.render(m03.msgid, m03.params, "zh_CN") == (
        "事项 3“贮存危险废物超过一年的批准”未按期（2018-04-30 前）实现“只跑一次”："
        "67% 的已办结办件跑动超过一次或二次告知补正（上限 20%）。")
    assert reminders.render(m01.msgid, m01.params, "en").startswith(
        "Matter 1 Approval of environmental impact assessment documents")
    assert target.params == {"done": 1, "total": 11, "deadline": "2018-04-30", "target": "40%"}

    # Matter 11 has no unit: when July ends, its rollout reminder goes to 法规处 alone.
    reminders.check_rollout(uow, at(2018, 8, 1, 8))
    assert keys(uow, matter_code="m11") == ["matter:m11:no-unit", "matter:m11:rollout:2018-07-31:regulations"]


def test_readers_see_their_reminders_and_mark_them_read(uow, people):
    reminders.check_rollout(uow, at(2018, 5, 1, 8))
    eia1, eia_lead, regs1, soil1 = (actor(uow, n) for n in ("eia1", "eia_lead", "regs1", "soil1"))
    with uow.reader() as r:
        assert reminders.unread_count(r.session, eia1) == 1
        assert reminders.unread_count(r.session, regs1) == 8  # six April matters, matter 11, the target
        assert reminders.unread_count(r.session, soil1) == 2  # matters 2 and 3
        mine = reminders.list_for(r.session, eia1)
    assert [i.reminder.key for i in mine] == ["matter:m01:rollout:2018-04-30:eia"]
    assert "未按期" in mine[0].text("zh_CN") and "has not reached run-once" in mine[0].text("en")

    assert reminders.mark_read(uow, mine[0].reminder.id, eia1) is True
    assert reminders.mark_read(uow, mine[0].reminder.id, eia1) is False  # already read: nothing changes
    with uow.reader() as r:
        assert reminders.unread_count(r.session, eia1) == 0
        assert reminders.unread_count(r.session, eia_lead) == 1  # read per person
        assert reminders.list_for(r.session, eia1, unread_only=True) == []
        assert reminders.list_for(r.session, eia1)[0].is_read
    with pytest.raises(NotFound):  # not addressed to soil1
        reminders.mark_read(uow, mine[0].reminder.id, soil1)
    assert reminders.mark_all_read(uow, regs1) == 8
    with uow.reader() as r:
        assert reminders.unread_count(r.session, regs1) == 0


# ---------------------------------------------------------------- deadlines


@pytest.fixture
def filing_case(uow, people):
    """A filing of matter 10 registered on Friday 20 April 2018: promised 5 working days → due 27 April."""
    deploy(uow, M10, [("user", "check", None)])
    with clock.frozen(at(2018, 4, 20, 10)):
        case_id = cases.register_case(uow, matter_code="m10", applicant=APPLICANT, channel="online",
                                      delivery_mode="online", actor=SYSTEM).case_id
    with uow.reader() as r:
        case = r.session.get(Case, case_id)
        assert (case.accepted_on, case.due_on, case.promised_due_on) == (date(2018, 4, 20), None,
                                                                         date(2018, 4, 27))
    return case_id


def test_warning_overdue_and_escalations_on_their_days(uow, filing_case):
    """Working days around 1 May 2018: Saturday 28 April worked, 29 April–1 May off."""
    base = f"case:{filing_case}:promised:2018-04-27"
    timeline = [
        (at(2018, 4, 23, 9), []),  # 4 working days left
        (at(2018, 4, 24, 9), ["warning"]),  # 3 left
        (at(2018, 4, 27, 18), []),  # due today: warned already
        (at(2018, 4, 28, 9), ["overdue"]),  # Saturday, a working day: 1 late
        (at(2018, 5, 1, 9), []),  # holiday: still 1 late
        (at(2018, 5, 2, 9), ["escalate-lead"]),  # 2 late
        (at(2018, 5, 4, 9), []),  # 4 late
        (at(2018, 5, 7, 9), ["escalate-supervisor"]),  # 5 late = 2 + 3 further
        (at(2018, 5, 8, 9), []),
    ]
    for moment, new in timeline:
        before = set(keys(uow))
        reminders.scan_deadlines(uow, moment)
        reminders.scan_deadlines(uow, moment)  # twice: nothing more
        assert sorted(set(keys(uow)) - before) == [f"{base}:{k}" for k in new], moment
    with uow.reader() as r:
        rows = {x.kind: (x.unit_code, x.role, x.params["days"]) for x in r.session.execute(select(Reminder)).scalars()}
    assert rows == {
        "deadline_warning": ("solid_waste_centre", None, 3),
        "deadline_overdue": ("solid_waste_centre", None, 1),
        "escalation_lead": ("solid_waste_centre", "lead", 2),
        "escalation_supervisor": (None, "supervisor", 5),
    }
    with uow.reader() as r:
        assert reminders.unread_count(r.session, actor(uow, "sw1")) == 2  # warning, overdue
        assert reminders.unread_count(r.session, actor(uow, "sw_lead")) == 3  # + the lead's escalation
        assert reminders.unread_count(r.session, actor(uow, "supervisor1")) == 1
        assert reminders.unread_count(r.session, actor(uow, "eia_lead")) == 0


def test_a_stopped_clock_raises_nothing_and_its_dates_move_daily(uow, people):
    """At a 补正 step the clock of matter 3 stands still: no overdue notice; the scan keeps the date true."""
    deploy(uow, "m03_hazardous_waste_storage", [("script", "accept", "accepted = True"),
                                                ("user", "check", None), ("user", "supplement", "supplement")])
    with clock.frozen(at(2018, 2, 9, 9)) as frozen:
        case_id = cases.register_case(uow, matter_code="m03", applicant=APPLICANT, channel="window",
                                      delivery_mode="post", actor=SYSTEM).case_id
        frozen.set(at(2018, 3, 12, 9))  # due 14 March; the supplement starts on the 12th
        cases.complete_task(uow, ready_tasks(uow, case_id)["check"], {}, SYSTEM)
    assert reminders.scan_deadlines(uow, at(2018, 3, 20, 9)) == 0
    with uow.reader() as r:
        case = r.session.get(Case, case_id)
        assert case.clock_running is False
        assert case.due_on == date(2018, 3, 22)  # 14 March + 6 working days suspended (13–20 March)
        assert r.session.get(CaseClock, case_id).stopped_on is None


def test_clock_functions_on_stored_rows(uow, filing_case):
    """recompute works from the stored facts alone: a 3-working-day supplement row moves matter 10's promised
    date by three working days when the matter excludes supplements."""
    with uow:
        session = uow.session
        session.get(CaseClock, filing_case).excluded_kinds = ["supplement"]
        session.add(CaseSuspension(case_id=filing_case, kind="supplement", start_on=date(2018, 4, 23),
                                   end_on=date(2018, 4, 26)))
        session.add(CaseSuspension(case_id=filing_case, kind="hearing", start_on=date(2018, 4, 23),
                                   end_on=date(2018, 4, 26)))  # not excluded for this case: ignored
        session.flush()
        case = session.get(Case, filing_case)
        result = clock.recompute(session, case, date(2018, 4, 27))
        assert result.promised_due_on == case.promised_due_on == date(2018, 5, 3)  # 27, 28 Apr, 2, 3 May
        assert result.promised.suspended_working_days == 3
        uow.commit()


def test_concurrent_jobs_raise_each_reminder_once(uow, filing_case, session_factory):
    """Four threads run both jobs at the same moment on one database: no error, no duplicate."""
    from services.uow import UnitOfWork

    moment = at(2018, 5, 7, 9)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                reminders.scan_deadlines(UnitOfWork(session_factory), moment)
                reminders.check_rollout(UnitOfWork(session_factory), moment)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with uow.reader() as r:
        total, distinct = r.session.execute(select(func.count(Reminder.id), func.count(Reminder.key.distinct()))).one()
    assert total == distinct == 3 + 12 + 1 + 1  # overdue series + 6 April matters × 2 + matter 11 + target
