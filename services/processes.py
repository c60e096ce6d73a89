"""Starting a case of one of the department's own processes (workflows/processes.toml): the rectification of a
poor rating, … They run on the same engine pool with the same three phases as a matter's registration
(services.cases): load the deployed version, compute the start step in a worker, write the case with its clock,
task rows and audit event in one short transaction. Task completion, timers, incidents, the clock and the
reminders are then the matters' own commands (services.cases, services.clock, services.reminders).
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import runtime
from services import audit_log, clock, files, summary
from services.actors import Actor
from services.cases import Registration, _apply_step, start_step
from services.errors import N_, NotFound
from services.uow import UnitOfWork
from storage.models import Case


def is_application(matter_code: str) -> bool:
    """A case of one of the catalog's matters (an application), not of the department's own processes: only those
    are looked up by applicants, rated and counted in the registry."""
    from workflows.catalog import shipped_catalog

    return any(m.code == matter_code for m in shipped_catalog().matters)


def process_of(code: str) -> Any:
    from workflows.processes import shipped_processes

    try:
        return shipped_processes().process(code)
    except KeyError:
        raise NotFound(N_("Unknown process %(code)s."), code=code) from None


def start_process(
    uow: UnitOfWork,
    code: str,
    *,
    data: dict[str, Any],
    subject_name: str,
    actor: Actor,
    channel: str = "online",
    contact: dict[str, str | None] | None = None,
    also: Callable[[Session, Case], None] | None = None,
    file_ids: list[str] | None = None,
    owner_token: str | None = None,
) -> Registration:
    """Start a case of process ``code`` with ``data`` as its start data. ``subject_name`` is who the case is about
    (the rated applicant, the complainant); ``also`` adds the caller's rows to the same write transaction (the
    rating that started it), so both are written or neither. ``file_ids`` uploaded before the case existed under
    ``owner_token`` (a complaint's attachments) become the case's files."""
    process = process_of(code)
    start_data = copy.deepcopy(data)
    start_data.update(matter_code=code, started_on=clock.today().isoformat())
    contact = contact or {}
    definition_id, label, outcome = start_step(uow, process.process_id, start_data,
                                               N_("The form has errors; see the marked fields."))
    # write
    with uow:
        session = uow.session
        case = Case(
            reference=f"TMP-{secrets.token_hex(8)}", lookup_code=secrets.token_hex(4).upper(), matter_code=code,
            definition_id=definition_id, status="active", applicant_name=subject_name.strip()[:200],
            applicant_contact=contact.get("contact"), applicant_phone=contact.get("phone"),
            applicant_email=contact.get("email"), channel=channel, delivery_mode="online",
            state="", serializer_version=runtime.SERIALIZER_VERSION, version=0, created_by=actor.username,
        )
        session.add(case)
        session.flush()
        summary.touch(session, case.id)
        case.reference = f"{clock.now().astimezone(clock.BEIJING):%Y}{code.upper()}{case.id:06d}"
        files.attach(session, file_ids or (), case.id, owner_token)
        if outcome.state is None:
            case.status, case.incident, case.version = "incident", outcome.incident, 1
        else:
            _apply_step(session, case, outcome, 0, actor)
        if also is not None:
            also(session, case)
        audit_log.record(session, actor, "case.registered", case_id=case.id,
                         after={"reference": case.reference, "matter_code": code, "process": process.process_id,
                                "definition": label, "data": start_data})
        uow.commit()
        return Registration(case.id, case.reference, case.lookup_code)


@dataclass(frozen=True)
class ProcessLoad:
    code: str
    name_zh: str
    name_en: str
    open: int
    overdue: int  # open cases past their due date (the clock's statutory date)


def open_load(session: Session, on: date | None = None) -> list[ProcessLoad]:
    """Open and overdue cases of each of the department's processes (the supervisors' overview)."""
    from workflows.processes import shipped_processes

    on = on or clock.today()
    counts = {code: (total, overdue) for code, total, overdue in session.execute(
        select(Case.matter_code, func.count(Case.id), func.count(Case.id).filter(Case.due_on < on))
        .where(Case.matter_code.in_([p.code for p in shipped_processes().processes]),
               Case.status.in_(("active", "incident")))
        .group_by(Case.matter_code)).all()}
    return [ProcessLoad(p.code, p.name_zh, p.name_en, *counts.get(p.code, (0, 0)))
            for p in shipped_processes().processes]
