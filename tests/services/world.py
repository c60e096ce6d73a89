"""A small seeded world for service tests: the catalog's units, one user per lane, the EIA matter deployed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from services import definitions, users
from services.actors import Actor, actor_for
from services.cases import Applicant
from services.uow import UnitOfWork
from storage.models import HumanTask, User
from workflows.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
APPLICANT = Applicant("吉林某化工有限公司", "91350100M000100Y43", "张三", "0431-88888888")

# user name -> (unit by Chinese name, roles)
PEOPLE = {
    "window1": ("审批办", ("window", "handler")),
    "window2": ("审批办", ("window", "handler")),
    "eia1": ("环评处", ("handler",)),
    "eia2": ("环评处", ("handler",)),
    "eia_lead": ("环评处", ("handler", "lead")),
    "leader1": ("厅领导", ("handler", "lead")),
}


@dataclass
class World:
    uow: UnitOfWork
    actors: dict[str, Actor]

    def ready_tasks(self, case_id: int) -> list[HumanTask]:
        with self.uow.reader() as r:
            return list(r.session.execute(
                select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "ready")
            ).scalars())

    def ready_task(self, case_id: int, spec_name: str) -> HumanTask:
        found = [t for t in self.ready_tasks(case_id) if t.spec_name == spec_name]
        assert len(found) == 1, f"READY tasks: {[t.spec_name for t in self.ready_tasks(case_id)]}"
        return found[0]


def build_world(uow: UnitOfWork, matters: tuple[str, ...] = ("m01",)) -> World:
    catalog = load_catalog()
    system = Actor.system("test")
    users.ensure_units(uow, [(u.code, u.name_zh, u.name_en) for u in catalog.units], system)
    code_by_name = {u.name_zh: u.code for u in catalog.units}
    for username, (unit, roles) in PEOPLE.items():
        users.create_user(uow, username=username, password="secret-123", display_name=username,
                          roles=roles, unit_code=code_by_name[unit], actor=system)
    for code in matters:
        diagram = catalog.diagram_path(catalog.matter(code))
        definitions.deploy_bundle(uow, definitions.bundle_for(diagram), diagram.name, system)
    with uow.reader() as r:
        actors = {u.username: actor_for(r.session, u) for u in r.session.execute(select(User)).scalars()}
    return World(uow, actors)
