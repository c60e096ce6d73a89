"""Who may withdraw an application (services.access, used by services.cases.withdraw_case and the case page):
the window lead and the leads of the case's own units, not any lead — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from world import APPLICANT, build_world

from services import cases, users
from services.actors import Actor, actor_for
from services.errors import Forbidden
from storage.models import Case, HumanTask, User
from workflows.catalog import load_catalog

MORE = {  # user name -> (unit by Chinese name, roles)
    "window_lead": ("审批办", ("window", "handler", "lead")),
    "soil_lead": ("土壤处", ("handler", "lead")),
}


@pytest.fixture
def world(uow):
    world = build_world(uow)
    code_by_name = {u.name_zh: u.code for u in load_catalog().units}
    for username, (unit, roles) in MORE.items():
        users.create_user(uow, username=username, password="secret-123", display_name=username, roles=roles,
                          unit_code=code_by_name[unit], actor=Actor.system("test"))
    with uow.reader() as r:
        world.actors = {u.username: actor_for(r.session, u) for u in r.session.execute(select(User)).scalars()}
    return world


def _register(world) -> int:
    """An EIA case (matter 1, unit 环评处) whose only task so far is the window's intake check."""
    return cases.register_case(world.uow, matter_code="m01", applicant=APPLICANT, channel="window",
                               delivery_mode="post", actor=world.actors["window1"],
                               data={"report_type": "report"}).case_id


def _may(world, username: str, case_id: int) -> bool:
    from services import access  # (new in this change: imported here so the command tests run without it)

    with world.uow.reader() as r:
        return access.may_withdraw(r.session, world.actors[username], r.session.get(Case, case_id))


def test_only_the_window_lead_and_the_cases_own_unit_leads_may_withdraw(world):
    case_id = _register(world)
    allowed = {name for name in world.actors if _may(world, name, case_id)}
    # 环评处 handles matter 1; 审批办's lead heads the window. The department leader has no task in this case
    # yet, another unit's lead never had one, and the window's clerks are not leads.
    assert allowed == {"window_lead", "eia_lead"}
    world.actors["admin"] = Actor(username="admin", roles=frozenset({"admin"}))
    assert _may(world, "admin", case_id)


@pytest.mark.parametrize("username", ["leader1", "soil_lead", "window1", "eia1"])
def test_the_command_refuses_everyone_else(world, username):
    case_id = _register(world)
    with pytest.raises(Forbidden):
        cases.withdraw_case(world.uow, case_id, "申请人书面申请撤回", world.actors[username])
    with world.uow.reader() as r:
        assert r.session.get(Case, case_id).status == "active"


def test_the_lead_of_a_unit_the_case_reached_may_withdraw(world):
    case_id = _register(world)
    leader = world.actors["leader1"]
    assert not _may(world, "leader1", case_id)
    with world.uow as uow:  # the case reached the department leadership's lane (its decision step)
        uow.session.add(HumanTask(id="decision-1", case_id=case_id, matter_code="m01", spec_name="decide",
                                  title="审批决定", lane="厅领导", form=None, state="ready"))
        uow.commit()
    assert _may(world, "leader1", case_id)
    cases.withdraw_case(world.uow, case_id, "申请人书面申请撤回", leader)
    with world.uow.reader() as r:
        assert r.session.get(Case, case_id).status == "withdrawn"
