"""Fixtures for the deadline, reminder, e-mail and scheduler tests (SQLite and PostgreSQL through db_url).

Small diagrams are built here (a linear chain of script tasks, user tasks with a stepKind and timer events)
and deployed under a catalog matter's process id, so the real service commands run them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import pytest
from gate_support import deploy_ungated
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from services import clock, definitions, users
from services.actors import Actor, actor_for
from services.uow import UnitOfWork
from storage.models import HumanTask, ProcessDefinition, User, UserRole
from workflows.catalog import load_catalog

BJ = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]
SYSTEM = Actor.system("test")
PASSWORD = "deadline-test-42"
_HASH: list[str] = []

# (username, unit, roles, email, locale)
PEOPLE = [
    ("eia1", "eia", ("handler",), "eia1@example.test", "zh_CN"),
    ("eia_lead", "eia", ("handler", "lead"), "eia.lead@example.test", "en"),
    ("soil1", "soil", ("handler",), "soil1@example.test", "zh_CN"),
    ("soil_lead", "soil", ("handler", "lead"), None, "zh_CN"),
    ("regs1", "regulations", ("handler", "lead"), "regs1@example.test", "zh_CN"),
    ("sw1", "solid_waste_centre", ("handler",), "sw1@example.test", "zh_CN"),
    ("sw_lead", "solid_waste_centre", ("handler", "lead"), "sw.lead@example.test", "zh_CN"),
    ("leader1", "leadership", ("handler", "lead"), None, "zh_CN"),
    ("supervisor1", None, ("supervisor",), "supervisor1@example.test", "zh_CN"),
    ("admin", None, ("admin",), "admin@example.test", "zh_CN"),
]


def at(*args: int) -> datetime:
    """Beijing wall time: at(2018, 2, 9, 9) is 09:00 on 9 February 2018 in Beijing."""
    return datetime(*args, tzinfo=BJ)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(at(2018, 2, 9, 9)) as fake:
        yield fake


@pytest.fixture
def people(uow: UnitOfWork) -> dict[str, int]:
    """The catalog's units and a few users with roles and e-mail addresses."""
    catalog = load_catalog()
    users.ensure_units(uow, [(u.code, u.name_zh, u.name_en) for u in catalog.units], SYSTEM)
    if not _HASH:
        _HASH.append(generate_password_hash(PASSWORD))
    ids = {}
    with uow:
        for username, unit, roles, email, locale in PEOPLE:
            user = User(username=username, display_name=username, unit_code=unit, email=email, locale=locale,
                        password_hash=_HASH[0], roles=[UserRole(role=r) for r in roles])
            uow.session.add(user)
            uow.session.flush()
            ids[username] = user.id
        uow.commit()
    return ids


def actor(uow: UnitOfWork, username: str) -> Actor:
    with uow.reader() as r:
        user = r.session.execute(select(User).where(User.username == username)).scalar_one()
        return actor_for(r.session, user)


# ---------------------------------------------------------------- small diagrams

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_{pid}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="{pid}" name="test {pid}" isExecutable="true">
"""


def chain_diagram(process_id: str, steps: list[tuple]) -> str:
    """start → steps → end, where a step is ("script", id, code) | ("user", id, stepKind or None) |
    ("timer", id, duration expression, stepKind or None)."""
    ids = ["start", *[s[1] for s in steps], "end"]
    flows = [(f"f{i}", a, b) for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False))]
    incoming = {b: f for f, _a, b in flows}
    outgoing = {a: f for f, a, _b in flows}

    def links(element: str) -> str:
        parts = []
        if element in incoming:
            parts.append(f"<bpmn:incoming>{incoming[element]}</bpmn:incoming>")
        if element in outgoing:
            parts.append(f"<bpmn:outgoing>{outgoing[element]}</bpmn:outgoing>")
        return "".join(parts)

    def props(kind: str | None) -> str:
        if not kind:
            return ""
        return ("<bpmn:extensionElements><spiffworkflow:properties>"
                f'<spiffworkflow:property name="stepKind" value="{kind}"/>'
                "</spiffworkflow:properties></bpmn:extensionElements>")

    body = [f'<bpmn:startEvent id="start">{links("start")}</bpmn:startEvent>']
    for step in steps:
        kind, element = step[0], step[1]
        if kind == "script":
            body.append(f'<bpmn:scriptTask id="{element}" scriptFormat="python">{links(element)}'
                        f"<bpmn:script>{escape(step[2])}</bpmn:script></bpmn:scriptTask>")
        elif kind == "user":
            body.append(f'<bpmn:userTask id="{element}" name="{element}">{props(step[2])}{links(element)}'
                        "</bpmn:userTask>")
        elif kind == "timer":
            body.append(f'<bpmn:intermediateCatchEvent id="{element}" name="{element}">'
                        f"{props(step[3] if len(step) > 3 else None)}{links(element)}"
                        f'<bpmn:timerEventDefinition id="{element}_def"><bpmn:timeDuration '
                        f'xsi:type="bpmn:tFormalExpression">{escape(step[2])}</bpmn:timeDuration>'
                        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>")
        else:
            raise ValueError(kind)
    body.append(f'<bpmn:endEvent id="end">{links("end")}</bpmn:endEvent>')
    body += [f'<bpmn:sequenceFlow id="{f}" sourceRef="{a}" targetRef="{b}"/>' for f, a, b in flows]
    return _HEAD.format(pid=process_id) + "\n".join(body) + "\n  </bpmn:process>\n</bpmn:definitions>\n"


def deploy(uow: UnitOfWork, process_id: str, steps: list[tuple]) -> None:
    """A small chain diagram under `process_id` (often a catalog matter's: a toy version, not gated)."""
    xml = chain_diagram(process_id, steps)
    deploy_ungated(uow, {f"{process_id}.bpmn": xml}, f"{process_id}.bpmn", SYSTEM)


def deploy_matter(uow: UnitOfWork, matter_code: str) -> None:
    """A matter's real diagram with the shared call activities."""
    diagram = ROOT / "workflows" / load_catalog().matter(matter_code).diagram
    definitions.deploy_bundle(uow, definitions.bundle_for(diagram), diagram.name, SYSTEM)


def store_definition(uow: UnitOfWork, process_id: str, text: str) -> None:
    """A definition row without compiling it (the rollout check reads only the stored files)."""
    with uow:
        uow.session.add(ProcessDefinition(process_id=process_id, version=1, content_hash=secrets.token_hex(32),
                                          main_file=f"{process_id}.bpmn", files={f"{process_id}.bpmn": text},
                                          deployed_by="test"))
        uow.commit()


def ready_tasks(uow: UnitOfWork, case_id: int) -> dict[str, str]:
    """spec name → task id of the case's open task rows."""
    with uow.reader() as r:
        rows = r.session.execute(
            select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "ready")
        ).scalars()
        return {t.spec_name: t.id for t in rows}


def ready_by_form(uow: UnitOfWork, case_id: int, form: str) -> str:
    with uow.reader() as r:
        rows = r.session.execute(
            select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "ready",
                                    HumanTask.form == form)
        ).scalars().all()
    assert len(rows) == 1, f"expected one open task with form {form}, got {[t.spec_name for t in rows]}"
    return rows[0].id
