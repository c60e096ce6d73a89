"""Reminders: deadline warnings, overdue notices and their escalation; the run-once rollout check.

A reminder is a row addressed to a unit and/or a role (or one user).  Its ``key`` is unique and names the
subject, the kind and the threshold, e.g. ``case:12:statutory:2018-03-14:overdue``; rows are inserted with
``INSERT … ON CONFLICT (key) DO NOTHING``, so the jobs may run any number of times, in any number of processes
at once (SQLite and PostgreSQL), and each reminder exists exactly once.  The jobs look at the state of things,
not at what happened since the last run, so a scheduler that was down catches up on its first run.

Messages are stored as an English message id plus parameters; values that differ by language (a matter's
name) are stored as ``{"zh_CN": ..., "en": ...}``; ``render`` gives each reader the text in their language
(Chinese texts in ``MESSAGES``; a Flask-Babel translation of the same id takes precedence in the web).

Deadlines (``scan_deadlines``, every minute):
- warning: ``warn_working_days`` or fewer working days before a due date → the unit handling the matter;
- overdue: the day after the due date → the unit;
- escalation: ``escalate_lead_after`` working days overdue → the unit's leads (role lead in that unit), and
  ``escalate_supervisor_after`` further working days → supervisors (role supervisor).
  Both the statutory due date and, when it is earlier, the promised one are watched.  The due date is part of
  the key: an extension that moves it starts a new series.  A stopped clock (suspension, decision) raises none.

Rollout (``check_rollout``, hourly), from the plan (吉环法字〔2018〕3号): once a matter's month
(``plan_year`` + ``run_once_month``) has ended, a matter that has not reached run-once raises a reminder to its
unit and to the reform office (法规处, unit ``regulations``).  Run-once means: a deployed version of its process
offers a one-trip or zero-trip service mode (a catalog mode whose delivery the diagram can perform), and at most
``max_multi_trip_share`` of its counted cases missed run-once (``COUNTING_RULE``: finished, accepted cases; a miss is
more than one trip made (``cases.trips``) or a second 补正 notice (``cases.supplement_notices`` > 1)).
A matter without a responsible unit (the plan names none for matter 11) raises one reminder to 法规处 at once;
the plan's targets (≥40 % of matters by the end of April, …) raise one to 法规处 when missed.
"""

from __future__ import annotations

import calendar as pycalendar
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine.calendar import UncoveredYear
from engine.deadlines import working_days_left
from services import clock
from services.actors import Actor
from services.errors import Forbidden, NotFound
from services.trips import count_trips
from services.uow import UnitOfWork
from storage.models import (
    Case,
    CaseClock,
    ProcessDefinition,
    Reminder,
    ReminderEmail,
    ReminderRead,
    Unit,
    User,
    UserRole,
)

log = logging.getLogger(__name__)

REFORM_OFFICE = "regulations"  # 法规处 runs the reform office (领导小组办公室)
# Error message ids the catalogs already translate.
NOT_ALLOWED = "Not allowed"
NO_SUCH_RECORD = "This page or record does not exist."


def R_(msgid: str) -> str:
    """Marks a reminder message id (translated through ``MESSAGES``; not a gettext extraction keyword)."""
    return msgid


# ---------------------------------------------------------------- messages

WARN_STATUTORY = R_("Case %(reference)s (%(matter)s) must be decided by %(due)s: %(days)s working day(s) left.")
WARN_PROMISED = R_("Case %(reference)s (%(matter)s) is due by its promised date %(due)s: "
                   "%(days)s working day(s) left.")
OVERDUE_STATUTORY = R_("Case %(reference)s (%(matter)s) is overdue: its statutory time limit ended on %(due)s.")
OVERDUE_PROMISED = R_("Case %(reference)s (%(matter)s) is overdue: its promised time limit ended on %(due)s.")
ESCALATE_STATUTORY = R_("Escalation: case %(reference)s (%(matter)s) is %(days)s working day(s) past its "
                        "statutory time limit (%(due)s).")
ESCALATE_PROMISED = R_("Escalation: case %(reference)s (%(matter)s) is %(days)s working day(s) past its "
                       "promised time limit (%(due)s).")
ROLLOUT_NOT_DEPLOYED = R_("Matter %(number)s %(matter)s has not reached run-once by %(deadline)s: no deployed "
                          "process offers a one-trip or zero-trip service mode.")
ROLLOUT_TRIPS = R_("Matter %(number)s %(matter)s has not reached run-once by %(deadline)s: %(share)s of its "
                   "finished cases needed more than one trip or a second notice of missing materials (at most "
                   "%(limit)s allowed).")
ROLLOUT_NO_UNIT = R_("Matter %(number)s %(matter)s has no responsible unit in the plan; the reform office must "
                     "assign one.")
ROLLOUT_TARGET = R_("Run-once rollout: %(done)s of %(total)s matters reached run-once by %(deadline)s; the plan "
                    "requires %(target)s.")
ACCEPTANCE_WARN = R_("Case %(reference)s (%(matter)s): the materials received on %(received)s must be accepted, "
                     "refused or answered with the one-time notice of what is missing by %(due)s (Administrative "
                     "Licensing Law Art.32): %(days)s working day(s) left.")
DEEMED_ACCEPTED = R_("Case %(reference)s (%(matter)s) counts as accepted from %(received)s: the materials were not "
                     "accepted, refused or answered with the one-time notice within five working days "
                     "(Administrative Licensing Law Art.32). Accept it now; its time limit runs from that day.")
HOLIDAY_MISSING = R_("The holiday notice for %(year)s has not been entered; %(count)s case time limit(s) cannot "
                     "be computed.")
TASK_ASSIGNED = R_("%(by)s gave you the task “%(title)s” of case %(reference)s. Reason: %(reason)s")
HOLIDAY_DUE = R_("The holiday notice for %(year)s has not been entered yet; enter it once the State Council "
                 "publishes it.")

# The rule of the statistics, shown on the admin page (web/admin.py) and applied by run_once_status:
COUNTING_RULE = R_("Counted: finished cases that were accepted (not refused at the window, not withdrawn). A "
                   "counted case misses run-once when the applicant made more than one trip to the window — only "
                   "trips that happened: the visits recorded in the case, never a planned pick-up; a same-visit "
                   "hand-over (即办) only when the pick-up date is the day of the application — or when missing "
                   "materials were notified a second time (the one-time notice was not once). A matter reaches "
                   "run-once when a deployed process offers a service mode with at most one trip and at most "
                   "%(limit)s of its counted cases missed.")

MESSAGES: dict[str, str] = {
    WARN_STATUTORY: "案件 %(reference)s（%(matter)s）应于 %(due)s 前作出决定，还剩 %(days)s 个工作日。",
    WARN_PROMISED: "案件 %(reference)s（%(matter)s）承诺办结期限为 %(due)s，还剩 %(days)s 个工作日。",
    OVERDUE_STATUTORY: "案件 %(reference)s（%(matter)s）已超过法定办理期限（%(due)s 届满）。",
    OVERDUE_PROMISED: "案件 %(reference)s（%(matter)s）已超过承诺办结期限（%(due)s 届满）。",
    ESCALATE_STATUTORY: "督办：案件 %(reference)s（%(matter)s）已超过法定办理期限 %(days)s 个工作日（期限 %(due)s）。",
    ESCALATE_PROMISED: "督办：案件 %(reference)s（%(matter)s）已超过承诺办结期限 %(days)s 个工作日（期限 %(due)s）。",
    ROLLOUT_NOT_DEPLOYED: "事项 %(number)s“%(matter)s”未按期（%(deadline)s 前）实现“只跑一次”："
                          "尚未部署提供一次跑或零跑动办理方式的流程。",
    ROLLOUT_TRIPS: "事项 %(number)s“%(matter)s”未按期（%(deadline)s 前）实现“只跑一次”："
                   "%(share)s 的已办结办件跑动超过一次或二次告知补正（上限 %(limit)s）。",
    ROLLOUT_NO_UNIT: "事项 %(number)s“%(matter)s”在实施方案中没有责任单位，请改革办明确承办单位。",
    ROLLOUT_TARGET: "“只跑一次”推进情况：截至 %(deadline)s，%(total)s 个事项中有 %(done)s 个实现“只跑一次”，"
                    "方案要求达到 %(target)s。",
    ACCEPTANCE_WARN: "案件 %(reference)s（%(matter)s）%(received)s 收到的申请材料，应于 %(due)s 前作出受理、不予受理或"
                     "一次性告知补正的决定（《行政许可法》第三十二条），还剩 %(days)s 个工作日。",
    DEEMED_ACCEPTED: "案件 %(reference)s（%(matter)s）收到申请材料后五个工作日内未作出受理、不予受理或"
                     "一次性告知补正的决定，依《行政许可法》第三十二条自 %(received)s 起视为受理。"
                     "请即予受理，办理期限自该日起算。",
    COUNTING_RULE: "统计口径：计入统计的是已办结且已受理的办件（不含窗口不予受理和撤回的办件）。"
                   "计入的办件有下列情形之一的，视为未达到“只跑一次”：申请人到窗口超过一次——只计实际发生的跑动，即办件中登记的到窗口次数，"
                   "不计尚未发生的计划取件；“即办”只认领取日期与申请日期为同一天的——或者二次告知补正"
                   "（一次性告知未做到一次）。事项部署了提供一次跑或零跑动办理方式的流程，且未达标办件不超过"
                   "计入办件的 %(limit)s，即为实现“只跑一次”。",
    HOLIDAY_MISSING: "%(year)s 年节假日安排尚未录入，%(count)s 件案件的办理期限无法计算。",
    TASK_ASSIGNED: "%(by)s 将案件 %(reference)s 的任务“%(title)s”改派给您。理由：%(reason)s",
    HOLIDAY_DUE: "%(year)s 年节假日安排尚未录入，请在国务院办公厅通知发布后及时录入。",
}

# kind -> (中文, English): labels for lists and e-mail subjects
KINDS: dict[str, tuple[str, str]] = {
    "deadline_warning": ("期限预警", "Deadline warning"),
    "deadline_overdue": ("超期提醒", "Overdue"),
    "escalation_lead": ("超期督办（处室负责人）", "Escalated to the unit lead"),
    "escalation_supervisor": ("超期督办（督查）", "Escalated to supervisors"),
    "acceptance_warning": ("受理期限预警", "Acceptance deadline warning"),
    "deemed_accepted": ("视为受理", "Deemed accepted"),
    "rollout": ("“只跑一次”推进", "Run-once rollout"),
    "rollout_no_unit": ("责任单位缺失", "No responsible unit"),
    "rollout_target": ("“只跑一次”推进目标", "Run-once rollout target"),
    "holiday_notice": ("节假日安排", "Holiday notice"),
    "task_assigned": ("任务改派", "Task reassigned to you"),
}


def is_chinese(locale: str | None) -> bool:
    return (locale or "zh_CN").lower().startswith("zh")


def localized_params(params: Mapping[str, Any], locale: str | None) -> dict[str, Any]:
    key = "zh_CN" if is_chinese(locale) else "en"
    return {k: (v.get(key) or next(iter(v.values()), "")) if isinstance(v, dict) else v for k, v in params.items()}


def render(msgid: str, params: Mapping[str, Any], locale: str | None, translated: str | None = None) -> str:
    """The reminder's text in ``locale`` (zh_CN first).  ``translated``: the web's gettext result, used
    when it actually translated the id."""
    if translated and translated != msgid:
        text = translated
    elif is_chinese(locale):
        text = MESSAGES.get(msgid, msgid)
    else:
        text = msgid
    values = localized_params(params, locale)
    try:
        return text % values
    except (KeyError, TypeError, ValueError):
        return text


def kind_label(kind: str, locale: str | None) -> str:
    zh, en = KINDS.get(kind, (kind, kind))
    return zh if is_chinese(locale) else en


# ---------------------------------------------------------------- policy


@dataclass(frozen=True)
class ReminderPolicy:
    warn_working_days: int = 3  # warn this many working days (or fewer) before a due date
    escalate_lead_after: int = 2  # working days overdue before the unit's leads are told
    escalate_supervisor_after: int = 3  # further working days before supervisors are told
    max_multi_trip_share: float = 0.2  # a matter whose cases needed >1 trip more often is not run-once
    acceptance_warn_working_days: int = 1  # warn this many working days (or fewer) before the Art.32 5th day

    KEYS = {
        "warn_working_days": "REMINDER_WARN_WORKING_DAYS",
        "acceptance_warn_working_days": "REMINDER_ACCEPTANCE_WARN_WORKING_DAYS",
        "escalate_lead_after": "REMINDER_ESCALATE_LEAD_AFTER",
        "escalate_supervisor_after": "REMINDER_ESCALATE_SUPERVISOR_AFTER",
        "max_multi_trip_share": "ROLLOUT_MAX_MULTI_TRIP_SHARE",
    }

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None = None) -> ReminderPolicy:
        """From app config keys (or the environment): REMINDER_WARN_WORKING_DAYS,
        REMINDER_ESCALATE_LEAD_AFTER, REMINDER_ESCALATE_SUPERVISOR_AFTER, ROLLOUT_MAX_MULTI_TRIP_SHARE."""
        config = config or {}
        values: dict[str, Any] = {}
        for field_name, key in cls.KEYS.items():
            raw = config.get(key, os.environ.get(key))
            if raw is None or raw == "":
                continue
            values[field_name] = float(raw) if field_name == "max_multi_trip_share" else int(raw)
        return cls(**values)


_policy: ReminderPolicy | None = None


def configure(policy: ReminderPolicy | None) -> None:
    global _policy
    _policy = policy


def current_policy() -> ReminderPolicy:
    return _policy or ReminderPolicy.from_config()


# ---------------------------------------------------------------- raising a reminder, once


def _insert(session: Session):
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def raise_reminder(
    session: Session,
    *,
    key: str,
    kind: str,
    subject_type: str,
    subject_id: str,
    msgid: str,
    params: dict[str, Any],
    created_at: datetime,
    case_id: int | None = None,
    matter_code: str | None = None,
    unit_code: str | None = None,
    role: str | None = None,
    user_id: int | None = None,
) -> bool:
    """Insert the reminder unless one with ``key`` exists (race-safe on SQLite and PostgreSQL).
    True when this call created it."""
    stmt = _insert(session)(Reminder).values(
        key=key, kind=kind, subject_type=subject_type, subject_id=str(subject_id), case_id=case_id,
        matter_code=matter_code, unit_code=unit_code, role=role, user_id=user_id, msgid=msgid, params=params,
        created_at=created_at,
    ).on_conflict_do_nothing(index_elements=["key"]).returning(Reminder.id)
    # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT through SQLAlchemy.
    return session.execute(stmt).first() is not None


def task_assigned(session: Session, task: Any, *, target_id: int, by: Actor, reason: str) -> None:
    """Tell the new owner of a reassigned task (the bell now, e-mail by the mail job), in the reassigning
    command's transaction. Each reassignment is its own reminder (the moment is part of the key)."""
    moment = clock.now()
    who = session.execute(select(User.display_name).where(User.username == by.username)).scalar() or by.username
    raise_reminder(
        session, key=f"task:{task.id}:assigned:{target_id}:{moment.isoformat()}", kind="task_assigned",
        subject_type="task", subject_id=task.id, msgid=TASK_ASSIGNED, case_id=task.case_id,
        matter_code=task.matter_code, user_id=target_id, created_at=moment,
        params={"by": who, "title": task.title, "reference": task.case.reference, "reason": reason})


def resolve_holiday_reminders(session: Session, year: int) -> int:
    """The holiday notice of ``year`` was entered: its reminders ("not entered yet") are answered, so they
    leave every bell and list. Returns how many were removed."""
    rows = session.execute(select(Reminder.id).where(Reminder.key.like(f"holiday:{year}:%"))).scalars().all()
    if rows:
        session.execute(ReminderRead.__table__.delete().where(ReminderRead.reminder_id.in_(rows)))
        session.execute(ReminderEmail.__table__.delete().where(ReminderEmail.reminder_id.in_(rows)))
        session.execute(Reminder.__table__.delete().where(Reminder.id.in_(rows)))
    return len(rows)


class _Units:
    """Unit codes present in the database (reminders reference them)."""

    def __init__(self, session: Session) -> None:
        self.codes = set(session.execute(select(Unit.code)).scalars())

    def check(self, code: str | None) -> bool:
        if code is None or code in self.codes:
            return True
        if code not in _warned_units:
            _warned_units.add(code)
            log.warning("reminders for unit %s skipped: the unit is not in the database (units come from the "
                        "catalog: `python app.py seed-demo` or services.users.ensure_units)", code)
        return False


_warned_units: set[str] = set()


def _matter_names(matter: Any) -> dict[str, str]:
    return {"zh_CN": matter.name_zh, "en": matter.name_en}


# ---------------------------------------------------------------- deadlines


def scan_deadlines(uow: UnitOfWork, now: datetime | None = None, policy: ReminderPolicy | None = None) -> int:
    """Raise the warnings, overdue notices and escalations due today (Beijing); returns how many were new."""
    policy = policy or current_policy()
    moment = now or clock.now()
    on = clock.beijing_date(moment)
    created = 0
    with uow:
        session = uow.session
        units = _Units(session)
        # A clock that stands still (suspension) or waits for a holiday notice moves its dates every day.
        still = select(Case).join(CaseClock, CaseClock.case_id == Case.id).where(
            Case.status.in_(("active", "incident")), Case.accepted_on.is_not(None), CaseClock.stopped_on.is_(None),
            or_(Case.clock_running.is_(False), Case.clock_flag.is_not(None)),
        )
        for case in session.execute(still.order_by(Case.id)).scalars().all():
            clock.rederive(session, case, on)
        cal = clock.calendar(session)
        try:
            horizon: date | None = cal.add_working_days(on, policy.warn_working_days)
        except UncoveredYear:
            horizon = None
        query = select(Case).join(CaseClock, CaseClock.case_id == Case.id).where(
            Case.status.in_(("active", "incident")), Case.clock_running.is_(True), CaseClock.stopped_on.is_(None),
        )
        if horizon is not None:
            query = query.where(or_(Case.due_on <= horizon, Case.promised_due_on <= horizon))
        else:
            query = query.where(or_(Case.due_on.is_not(None), Case.promised_due_on.is_not(None)))
        unit_of: dict[str, str | None] = {}
        for case in session.execute(query.order_by(Case.id)).scalars().all():
            if case.matter_code not in unit_of:
                unit_of[case.matter_code] = clock.handling_unit(session, case.matter_code)
            created += _case_reminders(session, case, cal, on, policy, moment, unit_of[case.matter_code], units)
        created += _acceptance_reminders(session, cal, on, policy, moment, units)
        created += _holiday_reminders(session, cal, on, moment)
        uow.commit()
    return created


WINDOW_UNIT = "approval_office"  # 审批办: the window decides on acceptance (一窗受理)


def _acceptance_reminders(session: Session, cal, on: date, policy: ReminderPolicy, moment: datetime,
                          units: _Units) -> int:
    """行政许可法 Art.32: warn the window before the 5th working day after the materials came in; after it, flag
    the case as deemed accepted (from the day of receipt) and tell the window and its leads."""
    created = 0
    rows = session.execute(
        select(Case).where(Case.status == "active", Case.acceptance_due_on.is_not(None)).order_by(Case.id)
    ).scalars().all()
    unit_ok = units.check(WINDOW_UNIT)
    unit_code, unit_role = (WINDOW_UNIT, None) if unit_ok else (None, "supervisor")
    for case in rows:
        due = case.acceptance_due_on
        try:
            left = working_days_left(cal, due, on)
        except UncoveredYear:
            continue
        matter = clock._matter(case.matter_code)
        received = case.materials_received_on or due
        params = {"reference": case.reference, "due": due.isoformat(), "received": received.isoformat(),
                  "matter": _matter_names(matter) if matter else {"zh_CN": case.matter_code, "en": case.matter_code}}
        common = dict(subject_type="case", subject_id=str(case.id), case_id=case.id, matter_code=case.matter_code,
                      created_at=moment)
        base = f"case:{case.id}:acceptance:{received.isoformat()}"
        if 0 <= left <= policy.acceptance_warn_working_days:
            created += raise_reminder(session, key=f"{base}:warning", kind="acceptance_warning",
                                      msgid=ACCEPTANCE_WARN, params={**params, "days": left},
                                      unit_code=unit_code, role=unit_role, **common)
        elif left < 0:
            # The case commands derive the same flag; this keeps it true for a case nobody touches.
            session.execute(
                update(Case).where(Case.id == case.id, Case.deemed_accepted_on.is_(None))
                .values(deemed_accepted_on=received).execution_options(synchronize_session=False)
            )
            created += raise_reminder(session, key=f"{base}:deemed", kind="deemed_accepted",
                                      msgid=DEEMED_ACCEPTED, params=params, unit_code=unit_code, role=unit_role,
                                      **common)
            if unit_ok:
                created += raise_reminder(session, key=f"{base}:deemed-lead", kind="deemed_accepted",
                                          msgid=DEEMED_ACCEPTED, params=params, unit_code=unit_code, role="lead",
                                          **common)
    return created


def _case_reminders(session, case, cal, on, policy, moment, unit, units: _Units) -> int:
    matter = clock._matter(case.matter_code)
    names = _matter_names(matter) if matter else {"zh_CN": case.matter_code, "en": case.matter_code}
    watched = [("statutory", case.due_on)]
    if case.promised_due_on and (case.due_on is None or case.promised_due_on < case.due_on):
        watched.append(("promised", case.promised_due_on))
    unit_ok = unit is not None and units.check(unit)
    unit_code, unit_role = (unit, None) if unit_ok else (None, "supervisor")
    created = 0
    for limit, due in watched:
        if due is None:
            continue
        try:
            left = working_days_left(cal, due, on)
        except UncoveredYear:
            continue
        base = f"case:{case.id}:{limit}:{due.isoformat()}"
        params = {"reference": case.reference, "matter": names, "due": due.isoformat()}
        common = dict(subject_type="case", subject_id=str(case.id), case_id=case.id, matter_code=case.matter_code,
                      created_at=moment)
        statutory = limit == "statutory"
        if 0 <= left <= policy.warn_working_days:
            created += raise_reminder(
                session, key=f"{base}:warning", kind="deadline_warning",
                msgid=WARN_STATUTORY if statutory else WARN_PROMISED, params={**params, "days": left},
                unit_code=unit_code, role=unit_role, **common)
        elif left < 0:
            late = -left
            overdue = raise_reminder(
                session, key=f"{base}:overdue", kind="deadline_overdue",
                msgid=OVERDUE_STATUTORY if statutory else OVERDUE_PROMISED, params={**params, "days": late},
                unit_code=unit_code, role=unit_role, **common)
            if overdue:  # the API clients that subscribed hear it once per limit and due date
                from services import webhooks

                webhooks.queue(session, case, webhooks.OVERDUE, f"{limit}:{due.isoformat()}")
            created += overdue
            escalate = ESCALATE_STATUTORY if statutory else ESCALATE_PROMISED
            if late >= policy.escalate_lead_after and unit_ok:
                created += raise_reminder(
                    session, key=f"{base}:escalate-lead", kind="escalation_lead", msgid=escalate,
                    params={**params, "days": late}, unit_code=unit_code, role="lead", **common)
            if late >= policy.escalate_lead_after + policy.escalate_supervisor_after:
                created += raise_reminder(
                    session, key=f"{base}:escalate-supervisor", kind="escalation_supervisor", msgid=escalate,
                    params={**params, "days": late}, role="supervisor", **common)
    return created


def _holiday_reminders(session: Session, cal, on: date, moment: datetime) -> int:
    created = 0
    for year, count in sorted(clock.uncovered_years(session).items()):
        created += raise_reminder(
            session, key=f"holiday:{year}:missing", kind="holiday_notice", subject_type="year",
            subject_id=str(year), msgid=HOLIDAY_MISSING, params={"year": year, "count": count}, role="admin",
            created_at=moment)
    if on.month == 12 and not cal.covers(on.year + 1):
        created += raise_reminder(
            session, key=f"holiday:{on.year + 1}:due", kind="holiday_notice", subject_type="year",
            subject_id=str(on.year + 1), msgid=HOLIDAY_DUE, params={"year": on.year + 1}, role="admin",
            created_at=moment)
    return created


# ---------------------------------------------------------------- run-once rollout

_DELIVERY_CONDITION = re.compile(r"delivery_mode\s*==\s*(?:&quot;|[\"'])(\w+)(?:&quot;|[\"'])")


@dataclass(frozen=True)
class RunOnceStatus:
    matter_code: str
    ok: bool
    deployed_version: int | None
    run_once_modes: tuple[tuple[str, str], ...]  # (channel, delivery_mode) with at most one trip, offered
    counted_cases: int  # finished and accepted cases (COUNTING_RULE)
    multi_trip_cases: int  # of those: more than one trip made
    multi_trip_share: float  # share of the counted cases that missed run-once (failing_cases / counted_cases)
    msgid: str | None  # why not (None when ok)
    second_notice_cases: int = 0  # of those: a second 补正 notice (the one-time notice was not once)
    failing_cases: int = 0  # more than one trip or a second notice




def delivery_modes_of(definition: ProcessDefinition) -> set[str]:
    """Delivery modes the deployed bundle branches on (``delivery_mode == "post"`` in a condition); a bundle
    that never branches on it can only hand the result over at the window."""
    found: set[str] = set()
    for text in definition.files.values():
        found.update(_DELIVERY_CONDITION.findall(text))
    return found or {"window"}


def run_once_status(session: Session, matter: Any, policy: ReminderPolicy | None = None,
                    as_of: date | None = None) -> RunOnceStatus:
    """Has ``matter`` reached run-once?  (For the rollout check and for supervisors' pages.)  With ``as_of`` (a
    Beijing date), only the cases finished by the end of that day count (the supervisors' rollout panel)."""
    policy = policy or current_policy()
    definition = session.execute(
        select(ProcessDefinition).where(ProcessDefinition.process_id == matter.process_id)
        .order_by(ProcessDefinition.version.desc()).limit(1)
    ).scalar_one_or_none()
    modes: tuple[tuple[str, str], ...] = ()
    if definition is not None:
        handled = delivery_modes_of(definition)
        modes = tuple(
            (m.channel, m.delivery_mode) for m in matter.service_modes
            if m.delivery_mode in handled and count_trips(m.channel, m.delivery_mode).meets_run_once
        )
    # COUNTING_RULE: finished, accepted cases; their trips are the visits made (a finished case plans none).
    second = func.coalesce(Case.supplement_notices, 0) > 1
    counted, multi, seconds, failing = session.execute(
        select(func.count(Case.id), func.count(Case.id).filter(Case.trips > 1), func.count(Case.id).filter(second),
               func.count(Case.id).filter(or_(Case.trips > 1, second)))
        .where(Case.matter_code == matter.code, Case.status == "completed", Case.accepted_on.is_not(None),
               Case.outcome.not_in(("not_accepted", "withdrawn")), Case.trips.is_not(None),
               *(() if as_of is None else (Case.completed_at < datetime.combine(
                   as_of + timedelta(days=1), dtime(0), tzinfo=clock.BEIJING),)))
    ).one()
    share = failing / counted if counted else 0.0
    msgid = None
    if definition is None or not modes:
        msgid = ROLLOUT_NOT_DEPLOYED
    elif share > policy.max_multi_trip_share:
        msgid = ROLLOUT_TRIPS
    return RunOnceStatus(matter.code, msgid is None, definition.version if definition else None, modes,
                         counted, multi, share, msgid, seconds, failing)


def _percent(value: float) -> str:
    return f"{round(value * 100)}%"


def check_rollout(uow: UnitOfWork, now: datetime | None = None, policy: ReminderPolicy | None = None) -> int:
    """The plan's rollout check (see the module text); returns how many reminders were new."""
    policy = policy or current_policy()
    moment = now or clock.now()
    on = clock.beijing_date(moment)
    cat = clock.catalog()
    created = 0
    with uow:
        session = uow.session
        units = _Units(session)
        statuses: dict[str, RunOnceStatus] = {}

        def status(matter) -> RunOnceStatus:
            if matter.code not in statuses:
                statuses[matter.code] = run_once_status(session, matter, policy)
            return statuses[matter.code]

        for matter in cat.matters:
            unit = clock.responsible_unit(session, matter.code)
            base = {"number": matter.number, "matter": _matter_names(matter)}
            common = dict(subject_type="matter", subject_id=matter.code, matter_code=matter.code,
                          created_at=moment)
            if unit is None and units.check(REFORM_OFFICE):
                created += raise_reminder(
                    session, key=f"matter:{matter.code}:no-unit", kind="rollout_no_unit", msgid=ROLLOUT_NO_UNIT,
                    params=base, unit_code=REFORM_OFFICE, **common)
            deadline = cat.run_once_deadline(matter)
            if on <= deadline:
                continue
            st = status(matter)
            if st.ok:
                continue
            params = {**base, "deadline": deadline.isoformat(), "share": _percent(st.multi_trip_share),
                      "limit": _percent(policy.max_multi_trip_share)}
            for target in dict.fromkeys(u for u in (unit, REFORM_OFFICE) if u):
                if units.check(target):
                    created += raise_reminder(
                        session, key=f"matter:{matter.code}:rollout:{deadline.isoformat()}:{target}",
                        kind="rollout", msgid=st.msgid or ROLLOUT_NOT_DEPLOYED, params=params, unit_code=target,
                        **common)
        for month, share in cat.rollout_targets:
            m = int(month)
            end = date(cat.plan_year, m, pycalendar.monthrange(cat.plan_year, m)[1])
            if on <= end or not cat.matters:
                continue
            done = sum(status(matter).ok for matter in cat.matters)
            total = len(cat.matters)
            if done / total >= share or not units.check(REFORM_OFFICE):
                continue
            created += raise_reminder(
                session, key=f"plan:{cat.plan_year}-{month}:rollout-target", kind="rollout_target",
                subject_type="plan", subject_id=f"{cat.plan_year}-{month}", msgid=ROLLOUT_TARGET,
                params={"done": done, "total": total, "deadline": end.isoformat(), "target": _percent(share)},
                unit_code=REFORM_OFFICE, created_at=moment)
        uow.commit()
    return created


# ---------------------------------------------------------------- reading and marking (for the web)


def _visible(actor: Actor):
    """Reminders addressed to the actor: to them, or to their unit and/or one of their roles."""
    unit_ok = Reminder.unit_code.is_(None)
    if actor.unit_code:
        unit_ok = or_(unit_ok, Reminder.unit_code == actor.unit_code)
    role_ok = Reminder.role.is_(None)
    if actor.roles:
        role_ok = or_(role_ok, Reminder.role.in_(sorted(actor.roles)))
    group = and_(Reminder.user_id.is_(None), unit_ok, role_ok,
                 or_(Reminder.unit_code.is_not(None), Reminder.role.is_not(None)))
    if actor.user_id is None:
        return group
    return or_(Reminder.user_id == actor.user_id, group)


def _unread(actor: Actor):
    return ~exists().where(ReminderRead.reminder_id == Reminder.id, ReminderRead.user_id == actor.user_id)


@dataclass(frozen=True)
class ReminderItem:
    reminder: Reminder
    read_at: datetime | None

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    def text(self, locale: str | None, translated: str | None = None) -> str:
        return render(self.reminder.msgid, self.reminder.params or {}, locale, translated)


def unread_count(session: Session, actor: Actor) -> int:
    """What the actor may see minus what they read, each counted from an index alone (every page's header
    shows it): the three audiences a reminder can have for them are disjoint, and each read row carries its
    reminder's audience (ReminderRead)."""
    if actor.user_id is None:
        return 0
    roles = sorted(actor.roles)
    seen = [select(func.count()).where(Reminder.user_id == actor.user_id)]
    read = [select(func.count()).where(ReminderRead.user_id == actor.user_id,
                                       ReminderRead.audience_user == actor.user_id)]
    group_read = and_(ReminderRead.user_id == actor.user_id, ReminderRead.audience_user.is_(None))
    if actor.unit_code:  # to my unit (and to everyone in it, or to one of my roles there)
        role_ok = Reminder.role.is_(None) if not roles else or_(Reminder.role.is_(None), Reminder.role.in_(roles))
        read_role_ok = (ReminderRead.audience_role.is_(None) if not roles else
                        or_(ReminderRead.audience_role.is_(None), ReminderRead.audience_role.in_(roles)))
        seen.append(select(func.count()).where(Reminder.unit_code == actor.unit_code, Reminder.user_id.is_(None),
                                               role_ok))
        read.append(select(func.count()).where(group_read, ReminderRead.audience_unit == actor.unit_code,
                                               read_role_ok))
    if roles:  # to one of my roles, in no particular unit
        seen.append(select(func.count()).where(Reminder.unit_code.is_(None), Reminder.user_id.is_(None),
                                               Reminder.role.in_(roles)))
        read.append(select(func.count()).where(group_read, ReminderRead.audience_unit.is_(None),
                                               ReminderRead.audience_role.in_(roles)))
    total = sum((q.select_from(Reminder).scalar_subquery() for q in seen), literal(0)) - sum(
        (q.select_from(ReminderRead).scalar_subquery() for q in read), literal(0))
    return max(0, session.execute(select(total)).scalar_one())


def list_for(
    session: Session, actor: Actor, *, unread_only: bool = False, kind: str | None = None, limit: int = 50,
    offset: int = 0,
) -> list[ReminderItem]:
    """The actor's reminders, newest first, with the time they read each (None: unread)."""
    if actor.user_id is None:
        return []
    query = (
        select(Reminder, ReminderRead.read_at)
        .outerjoin(ReminderRead, and_(ReminderRead.reminder_id == Reminder.id,
                                      ReminderRead.user_id == actor.user_id))
        .where(_visible(actor))
    )
    if unread_only:
        query = query.where(ReminderRead.reminder_id.is_(None))
    if kind:
        query = query.where(Reminder.kind == kind)
    rows = session.execute(
        query.order_by(Reminder.created_at.desc(), Reminder.id.desc()).limit(limit).offset(offset)
    ).all()
    return [ReminderItem(r, read_at) for r, read_at in rows]


def count_for(session: Session, actor: Actor, *, unread_only: bool = False, kind: str | None = None) -> int:
    if actor.user_id is None:
        return 0
    query = select(func.count(Reminder.id)).where(_visible(actor))
    if unread_only:
        query = query.where(_unread(actor))
    if kind:
        query = query.where(Reminder.kind == kind)
    return session.execute(query).scalar_one()


_AUDIENCE = (Reminder.id, Reminder.user_id, Reminder.unit_code, Reminder.role)


def _read_audience(row: Any) -> dict[str, Any]:
    """The read row's copy of its reminder's audience (see unread_count)."""
    return {"reminder_id": row.id, "audience_user": row.user_id, "audience_unit": row.unit_code,
            "audience_role": row.role}


def mark_read(uow: UnitOfWork, reminder_id: int, actor: Actor) -> bool:
    """Mark one reminder read for ``actor``; True when it was unread.  NotFound if it is not theirs."""
    if actor.user_id is None:
        raise Forbidden(NOT_ALLOWED)
    with uow:
        session = uow.session
        found = session.execute(
            select(*_AUDIENCE).where(Reminder.id == reminder_id, _visible(actor))
        ).first()
        if found is None:
            raise NotFound(NO_SUCH_RECORD)
        stmt = _insert(session)(ReminderRead).values(
            user_id=actor.user_id, read_at=clock.now(), **_read_audience(found)
        ).on_conflict_do_nothing(index_elements=["reminder_id", "user_id"]).returning(ReminderRead.reminder_id)
        changed = session.execute(stmt).first() is not None
        uow.commit()
        return changed


def mark_all_read(uow: UnitOfWork, actor: Actor) -> int:
    if actor.user_id is None:
        raise Forbidden(NOT_ALLOWED)
    with uow:
        session = uow.session
        rows = session.execute(select(*_AUDIENCE).where(_visible(actor), _unread(actor))).all()
        at = clock.now()
        changed = 0
        for row in rows:
            stmt = _insert(session)(ReminderRead).values(
                user_id=actor.user_id, read_at=at, **_read_audience(row)
            ).on_conflict_do_nothing(index_elements=["reminder_id", "user_id"]).returning(ReminderRead.reminder_id)
            changed += session.execute(stmt).first() is not None
        uow.commit()
        return changed


def recipients(session: Session, reminder: Reminder) -> list[User]:
    """The active users a reminder is addressed to (for e-mail)."""
    query = select(User).where(User.active.is_(True))
    if reminder.user_id is not None:
        query = query.where(User.id == reminder.user_id)
    else:
        if reminder.unit_code is None and reminder.role is None:
            return []
        if reminder.unit_code is not None:
            query = query.where(User.unit_code == reminder.unit_code)
        if reminder.role is not None:
            query = query.where(exists().where(UserRole.user_id == User.id, UserRole.role == reminder.role))
    return list(session.execute(query.order_by(User.id)).scalars())

