"""A few demo cases in different states, with real files, so that a newcomer finds a living case file: materials
uploaded online, a notice waiting for the applicant, supplements answered online, a case in review, decided
and delivered cases with their documents. Made once (when the database has no case yet), through the same
service commands as real work, with the paths and form data of the shipped scenarios (workflows/scenarios.py).
"""

from __future__ import annotations

import copy
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from services import applicant as applicant_service
from services import cases, files, materials
from services.actors import Actor, actor_for
from services.uow import UnitOfWork
from storage.models import Case, HumanTask, User
from workflows import scenarios as sc


@dataclass
class DemoCase:
    title: str
    matter: str
    channel: str
    delivery_mode: str
    steps: list[tuple[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)
    supplements_online: bool = False  # the applicant answers the notice online (instead of the window's step)


def _until(steps: list[tuple[str, Any]], stop: str) -> list[tuple[str, Any]]:
    """The steps before the first ``stop`` (the case waits there)."""
    out = []
    for name, payload in steps:
        if name == stop:
            break
        out.append((name, payload))
    return out


def demo_cases() -> list[DemoCase]:
    supplement_online = sc.acceptance("supplement_online")
    return [
        DemoCase("网上申请，待窗口审查材料", "m07", "online", "post", []),
        DemoCase("已一次性告知，待申请人网上补正", "m07", "online", "online",
                 _until(supplement_online, "receive_supplement")),
        DemoCase("网上补正后受理，处室审查中", "m07", "online", "post",
                 _until(sc.m07_steps(acc="supplement_online"), "review"), supplements_online=True),
        DemoCase("环评报告表网上申请，已受理，技术评估中", "m01", "online", "post",
                 _until(sc.m01_steps(), "expert_review"), {"report_type": "table"}),
        DemoCase("零跑动：网上申请、网上送达，已办结", "m07", "online", "online", sc.m07_steps(mode="online")),
        DemoCase("窗口申请，纸质材料，已受理", "m02", "window", "post", _until(sc.m02_steps(), "material_review")),
        DemoCase("后评价备案，网上办结", "m11", "online", "online", sc.m11_steps(mode="online")),
    ]


def _pdf(title: str, body: str) -> bytes:
    from documents.render import html_to_pdf

    return html_to_pdf(f"<h1>{title}</h1><p class='text'>{body}</p>")


def people_by_lane(uow: UnitOfWork) -> dict[str, Actor]:
    """Lane (unit name) → a demo user of that unit; ``lane#lead`` → its lead."""
    people: dict[str, Actor] = {}
    with uow.reader() as r:
        for user in r.session.execute(select(User).where(User.active.is_(True)).order_by(User.id)).scalars():
            actor = actor_for(r.session, user)
            for lane in actor.lanes:
                if actor.has_role("handler", "window") and lane not in people:
                    people[lane] = actor
                if actor.has_role("lead"):
                    people.setdefault(f"{lane}#lead", actor)
                    people.setdefault(lane, actor)
    return people


def _register(uow: UnitOfWork, demo: DemoCase) -> cases.Registration:
    applicant = cases.Applicant(name=sc.APPLICANT["name"], credit_code=sc.APPLICANT["credit_code"],
                                contact=sc.APPLICANT["contact"], phone="13912345678",
                                email="applicant@example.cn", address=sc.APPLICANT["address"], email_consent=True)
    from workflows.catalog import shipped_catalog

    items = [i for i in shipped_catalog().matter(demo.matter).materials if i.required]
    token = secrets.token_hex(16)
    received: list[materials.Received] = []
    if demo.channel == "online":
        with uow:
            for item in items:
                pdf = _pdf(item.name_zh, f"{applicant.name} 提交的示例材料。")
                row = files.receive(uow, files.Upload(io.BytesIO(pdf), f"{item.name_zh}.pdf", item.name_zh),
                                    actor="demo", purpose="material", owner_token=token)
                received.append(materials.Received(item.code, file_id=row.id))
            uow.commit()
    else:
        received = [materials.Received(i.code, paper_form="original" if i.form == "original" else "copy",
                                       copies=i.copies) for i in items]
    actor = (Actor(username=f"applicant:{applicant.credit_code}", roles=frozenset({"applicant"}))
             if demo.channel == "online" else Actor(username="window1", roles=frozenset({"window"})))
    return cases.register_case(uow, matter_code=demo.matter, applicant=applicant, channel=demo.channel,
                               delivery_mode=demo.delivery_mode, actor=actor, data=dict(demo.extra),
                               received=received, owner_token=token)


def _answer_online(uow: UnitOfWork, case_id: int) -> None:
    with uow:
        row = files.receive(uow, files.Upload(io.BytesIO(_pdf("补正材料", "按一次性告知书补正的申请书（已盖章）。")),
                                              "补正申请书.pdf", "补正材料"),
                            actor="demo", purpose="supplement", case_id=case_id)
        uow.commit()
        file_id = row.id
    applicant_service.submit_supplements(uow, case_id, [materials.Received("application_form", file_id=file_id)],
                                         "已按告知书补正。")


def seed_cases(uow: UnitOfWork, log: Callable[[str], None] = lambda _: None) -> list[str]:
    """Make the demo cases unless the database has cases already; returns their references."""
    with uow.reader() as r:
        if r.session.execute(select(Case.id).limit(1)).first() is not None:
            return []
    people = people_by_lane(uow)
    made = []
    for demo in demo_cases():
        registration = _register(uow, demo)
        for name, payload in demo.steps:
            if name == "receive_supplement" and demo.supplements_online:
                _answer_online(uow, registration.case_id)
                continue
            if not complete_step(uow, registration.case_id, name, payload, people):
                break
        made.append(registration.reference)
        log(f"{registration.reference}  {demo.title}  (查询码 {registration.lookup_code})")
    return made


def complete_step(uow: UnitOfWork, case_id: int, name: str, payload: Any, people: dict[str, Actor]) -> bool:
    """Complete the case's ready task ``name`` as a person of its lane (its lead for a lead-only task); False
    when no such task is ready or nobody works the lane. Clock steps of a scenario are skipped."""
    if name == sc.CLOCK:
        return True
    with uow.reader() as r:
        task = r.session.execute(select(HumanTask).where(
            HumanTask.case_id == case_id, HumanTask.state == "ready", HumanTask.spec_name == name)).scalars().first()
        if task is None:
            return False
        task_id, lane, role = task.id, task.lane, getattr(task, "role", None)
    actor = people.get(f"{lane}#{role}") if role else people.get(lane or "")
    if actor is None:
        return False
    cases.complete_task(uow, task_id, copy.deepcopy(payload), actor)
    return True
