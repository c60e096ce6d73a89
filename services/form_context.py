"""The run-time facts a task's form needs (forms.context.FormContext), from the case's matter and the user.

One function for the web form and for ``cases.complete_task``'s check, so both offer and accept the same
choices (the matter's materials list for the 一次性告知书), the same minimum 公示 period, counted by the same
working-day calendar, and name the same signing officer.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import UncoveredYear, WorkingDayCalendar
from forms.context import FormContext, Option
from services import clock
from services.actors import Actor
from storage.models import User

MATTER_MATERIALS = "matter_materials"


def materials_options(matter_code: str) -> tuple[Option, ...]:
    """The matter's materials list (申请材料目录) as choices: code → name."""
    matter = clock._matter(matter_code)
    if matter is None:
        return ()
    return tuple(Option(i.code, i.name_zh, i.name_en) for i in matter.materials)


def working_day_counter(cal: WorkingDayCalendar):
    """Working days from start to end, both included, by ``cal``; None for a year the calendar does not cover
    (never guessed)."""

    def count(start: date, end: date) -> int | None:
        if end < start:
            return 0
        try:
            return cal.working_days_between(start, end) + (1 if cal.is_workday(start) else 0)
        except UncoveredYear:
            return None

    return count


def user_display_name(session: Session, actor: Actor | None) -> str | None:
    if actor is None or actor.user_id is None:
        return None
    if actor.display_name is not None:
        return actor.display_name
    return session.execute(select(User.display_name).where(User.id == actor.user_id)).scalar_one_or_none()


def min_working_days(matter_code: str, task_name: str | None) -> int | None:
    """The minimum 公示 period of the task's form, if its matter sets one."""
    matter = clock._matter(matter_code)
    return matter.notice_min_working_days(task_name) if matter is not None and task_name else None


def context_for(matter_code: str, task_name: str | None, cal: WorkingDayCalendar | None,
                user_name: str | None = None) -> FormContext:
    """The context of one task's form without a database (the deploy gate's scenario run uses it too):
    ``task_name`` is the user task's id in the diagram (HumanTask.spec_name). The working-day counter is
    only consulted for a minimum period, so ``cal`` may be None for a task without one."""
    return FormContext(
        options=MappingProxyType({MATTER_MATERIALS: materials_options(matter_code)}),
        user_name=user_name,
        min_working_days=min_working_days(matter_code, task_name),
        working_days=working_day_counter(cal) if cal is not None else None,
    )


def form_context(session: Session, *, matter_code: str, task_name: str | None, actor: Actor | None) -> FormContext:
    """The context of one task's form for the signed-in ``actor``: the calendar includes the admins' holiday
    notices (read only for a form that counts working days), the signing officer is the actor's display name."""
    cal = clock.calendar(session) if min_working_days(matter_code, task_name) else None
    context = context_for(matter_code, task_name, cal, user_display_name(session, actor))
    return dataclasses.replace(context, today=clock.today())
