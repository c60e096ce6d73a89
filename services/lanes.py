"""Lanes → units: who works a task.

A diagram's lanes are named after the catalog's units (``Lane_<unit code>``, name = the unit's Chinese name).
A task is worked by the members of its lane's unit, with one exception the catalog and the admin page
configure: the lane of the matter's responsible unit goes to the unit the admin named for the matter
(``matter_settings.owner_unit_code``) — matter 11 has no unit in the plan, so its owner is a setting, and the
owner's handlers must see and act on its tasks.  ``HumanTask.spec_lane`` keeps the diagram's lane,
``HumanTask.lane`` the resolved unit name that worklists and permissions use.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import clock
from storage.models import HumanTask, Unit


def _unit_name(session: Session, code: str) -> str | None:
    row = session.get(Unit, code)
    if row is not None:
        return row.name_zh
    try:
        return clock.catalog().unit(code).name_zh
    except KeyError:
        return None


def resolve_lane(session: Session, matter_code: str, spec_lane: str | None) -> str | None:
    """The unit name whose members work a task drawn in ``spec_lane`` of ``matter_code``'s diagram."""
    if not spec_lane:
        return spec_lane
    cat = clock.catalog()
    try:
        matter = cat.matter(matter_code)
        lane_unit = cat.unit_by_name(spec_lane)
    except KeyError:
        return spec_lane
    if lane_unit.code != matter.responsible_unit:
        return spec_lane
    handler = clock.handling_unit(session, matter_code)
    if not handler or handler == lane_unit.code:
        return spec_lane
    return _unit_name(session, handler) or spec_lane


def reroute_open_tasks(session: Session, matter_code: str) -> int:
    """After the matter's owner changed: move its open tasks to the unit that now works them."""
    moved = 0
    rows = session.execute(
        select(HumanTask).where(HumanTask.matter_code == matter_code, HumanTask.state == "ready")
    ).scalars().all()
    for row in rows:
        lane = resolve_lane(session, matter_code, row.spec_lane or row.lane)
        if lane != row.lane:
            row.lane = lane
            moved += 1
    return moved
