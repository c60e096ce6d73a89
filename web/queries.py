"""Read views: plain queries over the derived rows (Cosmic Python's "read side"), never over case JSON.

Every worklist query starts from one of the human_tasks indexes:
    (lane, state, due_at)        open tasks of a unit's lanes, and the unit's claimed ones (for its lead)
    (claimed_by, state, due_at)  my tasks, my completed tasks
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, lazyload

from storage.models import AuditEvent, Case, HumanTask, User

VIEWS = ("open", "mine", "unit", "done")
DUE_FILTERS = ("", "soon", "overdue")
DUE_SOON = timedelta(days=3)


@dataclass(frozen=True)
class WorklistFilter:
    view: str = "open"  # open (to claim) | mine (claimed by me) | unit (claimed in my unit; leads) | done
    matter: str | None = None
    due: str = ""  # "" | soon (due within 3 days) | overdue
    descending: bool = False
    page: int = 1
    per_page: int = 20


@dataclass(frozen=True)
class CaseBrief:
    """What a worklist row shows of its case (the serialized workflow is never loaded for a list)."""

    id: int
    reference: str
    applicant_name: str
    due_on: date | None
    status: str
    clock_flag: str | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class Page:
    rows: Sequence[HumanTask]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _lane_clause(lanes: Sequence[str]):
    lanes = sorted(lanes)
    return HumanTask.lane == lanes[0] if len(lanes) == 1 else HumanTask.lane.in_(lanes)


def worklist_criteria(f: WorklistFilter, user_id: int, lanes: Sequence[str], now: datetime,
                      roles: Sequence[str] | None = None) -> list | None:
    """The WHERE clauses of one worklist tab; None when the user has nothing to see there (no lanes).
    ``roles``: the user's roles; a task that needs a role (HumanTask.role, e.g. lead) is listed only to users
    who have it (None: do not filter by role)."""
    if f.view in ("open", "unit"):
        if not lanes:
            return None
        claimed = HumanTask.claimed_by.is_(None) if f.view == "open" else HumanTask.claimed_by.is_not(None)
        criteria = [_lane_clause(lanes), HumanTask.state == "ready", claimed]
        if roles is not None and not {"admin", "system"} & set(roles):
            criteria.append(or_(HumanTask.role.is_(None), HumanTask.role.in_(sorted(roles) or [""])))
    elif f.view == "done":
        criteria = [HumanTask.claimed_by == user_id, HumanTask.state == "completed"]
    else:
        criteria = [HumanTask.claimed_by == user_id, HumanTask.state == "ready"]
    if f.matter:
        criteria.append(HumanTask.matter_code == f.matter)
    if f.due == "soon":
        criteria += [HumanTask.due_at >= now, HumanTask.due_at <= now + DUE_SOON]
    elif f.due == "overdue":
        criteria.append(HumanTask.due_at < now)
    return criteria


def count_tasks(session: Session, criteria: list) -> int:
    return session.execute(select(func.count(HumanTask.id)).where(*criteria)).scalar_one()


def worklist(session: Session, f: WorklistFilter, user_id: int, lanes: Sequence[str], now: datetime,
             roles: Sequence[str] | None = None) -> Page:
    criteria = worklist_criteria(f, user_id, lanes, now, roles)
    if criteria is None:
        return Page([], 0, 1, f.per_page)
    total = count_tasks(session, criteria)
    page = max(1, min(f.page, max(1, -(-total // f.per_page))))
    rows = session.execute(page_statement(criteria, f, page)).scalars().all()
    return Page(rows, total, page, f.per_page)


def page_statement(criteria: list, f: WorklistFilter, page: int | None = None):
    """One page of a worklist, by due date (tasks without a time limit last on every backend)."""
    order = (HumanTask.due_at.desc() if f.descending else HumanTask.due_at.asc()).nulls_last()
    page = page or f.page
    return (
        select(HumanTask)
        .options(lazyload(HumanTask.case))
        .where(*criteria)
        .order_by(order, HumanTask.id)
        .limit(f.per_page)
        .offset((page - 1) * f.per_page)
    )


def case_briefs(session: Session, case_ids: set[int]) -> dict[int, CaseBrief]:
    if not case_ids:
        return {}
    rows = session.execute(
        select(Case.id, Case.reference, Case.applicant_name, Case.due_on, Case.status, Case.clock_flag,
               Case.completed_at).where(
            Case.id.in_(case_ids)
        )
    ).all()
    return {row.id: CaseBrief(*row) for row in rows}


def tab_counts(session: Session, user_id: int, lanes: Sequence[str], now: datetime,
               roles: Sequence[str] | None = None) -> dict[str, int]:
    counts = {}
    for view in ("open", "mine", "unit"):
        criteria = worklist_criteria(WorklistFilter(view=view), user_id, lanes, now, roles)
        counts[view] = 0 if criteria is None else count_tasks(session, criteria)
    return counts


def case_tasks(session: Session, case_id: int) -> Sequence[HumanTask]:
    return (
        session.execute(
            select(HumanTask).where(HumanTask.case_id == case_id).order_by(HumanTask.created_at, HumanTask.id)
        )
        .unique()
        .scalars()
        .all()
    )


def case_lanes(session: Session, case_id: int) -> set[str]:
    return set(
        session.execute(select(HumanTask.lane).where(HumanTask.case_id == case_id).distinct()).scalars()
    )


def case_events(session: Session, case_id: int) -> Sequence[AuditEvent]:
    return (
        session.execute(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq))
        .scalars()
        .all()
    )


def user_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())


def unit_members(session: Session, unit_code: str | None) -> Sequence[User]:
    if not unit_code:
        return []
    return (
        session.execute(
            select(User).where(User.unit_code == unit_code, User.active.is_(True)).order_by(User.display_name)
        )
        .scalars()
        .all()
    )


def find_case(session: Session, reference: str) -> Case | None:
    """By reference number as typed: spaces and letter case do not matter (as in the public look-up)."""
    typed = re.sub(r"\s", "", reference)
    # References are issued in capitals; the exact text is tried too (both by the unique index).
    return session.execute(select(Case).where(Case.reference.in_({typed, typed.upper()}))
                           .order_by(Case.reference != typed).limit(1)).scalar_one_or_none()
