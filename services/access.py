"""Who may see or act on a case: the one place for these rules. Pages ask here before they show a case, a
task or a command; the commands (services.cases, services.clock) ask here before they act; an API will too.
A rule copied into a view is how a department leader came to withdraw cases of any unit: don't.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.actors import Actor
from storage.models import Case, HumanTask, Unit

LEADERSHIP_UNIT = "leadership"  # 厅领导: its leads approve extensions (行政许可法 Art.42)
WORK_ROLES = ("handler", "window", "lead")  # the roles that work on tasks (others read)


def case_lanes(session: Session, case_id: int) -> set[str]:
    """The lanes (units, by their Chinese name) the case has had tasks in."""
    return set(session.execute(select(HumanTask.lane).where(HumanTask.case_id == case_id).distinct()).scalars())


def is_leadership_lead(session: Session, actor: Actor) -> bool:
    if not actor.has_role("lead"):
        return False
    if actor.unit_code == LEADERSHIP_UNIT:
        return True
    unit = session.get(Unit, LEADERSHIP_UNIT)
    return unit is not None and unit.name_zh in actor.lanes


def is_window_lead(actor: Actor) -> bool:
    """The lead of the approval office window (审批办)."""
    return actor.has_role("window") and actor.has_role("lead")


def may_extend(session: Session, actor: Actor) -> bool:
    """Extending a time limit needs the department head's approval (行政许可法 Art.42): a lead of 厅领导."""
    return actor.has_role("admin", "system") or is_leadership_lead(session, actor)


def may_view_case(session: Session, actor: Actor, case: Case) -> bool:
    """The window, supervisors and admins see every case; department leadership too (it approves extensions
    of any case); a unit sees the cases that had tasks in its lanes; a person sees the cases of tasks they
    claimed."""
    if actor.has_role("window", "supervisor", "admin"):
        return True
    if may_extend(session, actor):
        return True
    if actor.lanes & case_lanes(session, case.id):
        return True
    mine = session.execute(
        select(HumanTask.id).where(HumanTask.case_id == case.id, HumanTask.claimed_by == actor.user_id).limit(1)
    ).first()
    return mine is not None


def may_view_task(session: Session, actor: Actor, task: HumanTask, case: Case) -> bool:
    """Whoever may see the case may read its tasks (read-only when they may not act); the task's own unit,
    claimant and completer always may."""
    return (
        (task.lane is not None and task.lane in actor.lanes)
        or (actor.user_id is not None and actor.user_id in (task.claimed_by, task.completed_by))
        or may_view_case(session, actor, case)
    )


def works_task_lane(actor: Actor, task: HumanTask) -> bool:
    """The task is of the actor's unit (or of no lane), the actor's role works on tasks, and the task's own
    role (a lead-only step) is theirs."""
    return actor.has_role(*WORK_ROLES) and task.lane in actor.lanes | {None} and actor.has_task_role(task.role)


def may_work_task(actor: Actor, task: HumanTask, case: Case) -> bool:
    """May claim and work on the task now (services.cases decides again when the command runs)."""
    return task.state == "ready" and case.status == "active" and works_task_lane(actor, task)


def may_withdraw(session: Session, actor: Actor, case: Case) -> bool:
    """Withdrawing an application: the window lead, or a lead of the case's own units (a unit whose lane the
    case has had tasks in, or the unit handling the matter); an administrator."""
    if actor.has_role("admin", "system"):
        return True
    if not actor.has_role("lead"):
        return False
    if is_window_lead(actor) or actor.lanes & case_lanes(session, case.id):
        return True
    from services.clock import handling_unit  # clock asks this module, so not at import time

    unit = handling_unit(session, case.matter_code)
    return unit is not None and actor.unit_code == unit
