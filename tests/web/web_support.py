"""Helpers for the web tests: an app on a given database, demo-like users, tasks made as rows.

Tasks are inserted as derived rows (cases + human_tasks) where a test is about the web layer only, so those
tests do not depend on a particular diagram; the end-to-end tests run the real engine.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from app import create_app, uow_for
from services import users
from services.actors import Actor
from storage.migrate import upgrade
from storage.models import Case, HumanTask, ProcessDefinition, User, UserRole

PASSWORD = "correct-horse-42"
UNITS = [
    ("approval_office", "审批办", "Approval Office"),
    ("eia", "环评处", "EIA Division"),
    ("soil", "土壤处", "Soil Division"),
    ("leadership", "厅领导", "Department Leadership"),
]
USERS = [
    ("window1", "窗口 王敏", "approval_office", ("window", "handler")),
    ("eia1", "环评处 李强", "eia", ("handler",)),
    ("eia2", "环评处 赵丽", "eia", ("handler",)),
    ("eia_lead", "环评处 陈处长", "eia", ("handler", "lead")),
    ("soil1", "土壤处 孙伟", "soil", ("handler",)),
    ("supervisor1", "督查 马明", None, ("supervisor",)),
    ("designer1", "流程设计 林晓", None, ("designer",)),
]


def make_app(db_url: str, **overrides: Any) -> Flask:
    config = {
        "DATABASE_URL": db_url,
        "TESTING": True,
        "SCHEDULER_ENABLED": False,
        "WTF_CSRF_ENABLED": False,
        "LOGIN_FAILURE_DELAY": 0.0,
        "SECRET_KEY": "test-" + secrets.token_hex(8),
    }
    config.update(overrides)
    app = create_app(config)
    upgrade(app.extensions["runonce.engine"])
    return app


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return generate_password_hash(PASSWORD)  # scrypt is slow on purpose: hash once per test session


def seed_people(app: Flask) -> dict[str, int]:
    """Units through the service; users as rows with one shared hash (creating users is not under test)."""
    users.ensure_units(uow_for(app), UNITS, Actor.system("test"))
    ids = {}
    with uow_for(app) as uow:
        for username, display, unit, roles in USERS:
            user = User(
                username=username,
                display_name=display,
                unit_code=unit,
                password_hash=_password_hash(),
                roles=[UserRole(role=r) for r in roles],
            )
            uow.session.add(user)
            uow.session.flush()
            ids[username] = user.id
        uow.commit()
    return ids


def login(client: FlaskClient, username: str, password: str = PASSWORD):
    return client.post("/login", data={"username": username, "password": password})


_DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="p_test" isExecutable="true">
    <bpmn:userTask id="review" name="审查">
      <bpmn:documentation>请审查材料。</bpmn:documentation>
    </bpmn:userTask>
  </bpmn:process>
</bpmn:definitions>"""


def add_task(
    app: Flask,
    *,
    lane: str = "环评处",
    form: str | None = "decision.json",
    matter: str = "m01",
    title: str = "审查",
    due_in_days: float | None = 10,
    claimed_by: int | None = None,
    state: str = "ready",
    applicant: str = "吉林某化工有限公司",
) -> HumanTask:
    """A case and one task row, as the service layer would have derived them."""
    with uow_for(app) as uow:
        session = uow.session
        definition = session.query(ProcessDefinition).filter_by(process_id="p_test").one_or_none()
        if definition is None:
            definition = ProcessDefinition(
                process_id="p_test",
                version=1,
                content_hash=secrets.token_hex(32),
                main_file="p_test.bpmn",
                files={"p_test.bpmn": _DIAGRAM},
                deployed_by="test",
            )
            session.add(definition)
            session.flush()
        now = datetime.now(UTC)
        due_at = now + timedelta(days=due_in_days) if due_in_days is not None else None
        case = Case(
            reference=f"T{secrets.token_hex(5)}",
            lookup_code="ABCD1234",
            matter_code=matter,
            definition_id=definition.id,
            status="active",
            applicant_name=applicant,
            applicant_credit_code="91220101MA0Y4XKX8G",
            channel="window",
            delivery_mode="post",
            state="",
            serializer_version="test",
            version=3,
            created_by="window1",
            due_on=due_at.date() if due_at else None,
        )
        session.add(case)
        session.flush()
        task = HumanTask(
            id=secrets.token_hex(8),
            case_id=case.id,
            matter_code=matter,
            spec_name="review",
            title=title,
            lane=lane,
            form=form,
            state=state,
            claimed_by=claimed_by,
            due_at=due_at,
        )
        session.add(task)
        uow.commit()
        return task
