"""投诉举报 (plan task 10): a public form starts a case of the complaint diagram (workflows/p02_complaint.bpmn:
登记 → 分办 → 调查 in the assigned unit → 答复, 15 working days on the case clock, extension with the leadership's
approval through ``services.clock.extend_deadline``); the complainant follows it with the reference number and the
look-up code and reads the reply.

Anonymous complaints carry no name or contact; named ones need a name and a phone number. Attachments are files
of the file store (uploaded before the case existed under the browser's owner token); the workflow keeps their
references only.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.actors import Actor
from services.cases import Registration
from services.errors import N_, InvalidInput
from services.processes import start_process
from services.uow import UnitOfWork
from storage.models import Case, HumanTask, StoredFile

COMPLAINT = "p02"  # workflows/processes.toml
KINDS = ("complaint", "report")  # 投诉 (about the department's service) | 举报 (about a violation)
MAX_SUBJECT, MAX_CONTENT = 200, 4000
PUBLIC = Actor("public", roles=frozenset({"applicant"}))


@dataclass(frozen=True)
class Complaint:
    kind: str
    subject: str
    content: str
    anonymous: bool
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    matter_code: str | None = None  # the matter it concerns, if any
    case_reference: str | None = None  # the application it concerns, if any


def _check(c: Complaint) -> None:
    errors: dict[str, str] = {}
    if c.kind not in KINDS:
        errors["kind"] = N_("Choose one of the offered values.")
    if not 2 <= len(c.subject.strip()) <= MAX_SUBJECT:
        errors["subject"] = N_("This field is required.")
    if not 10 <= len(c.content.strip()) <= MAX_CONTENT:
        errors["content"] = N_("Describe the matter in at least 10 characters.")
    if not c.anonymous:
        if not (c.name or "").strip():
            errors["name"] = N_("A named complaint needs your name (or choose to stay anonymous).")
        if not (c.phone or "").strip():
            errors["phone"] = N_("A named complaint needs a phone number for the reply.")
    if c.matter_code:
        from workflows.catalog import shipped_catalog

        try:
            shipped_catalog().matter(c.matter_code)
        except KeyError:
            errors["matter_code"] = N_("Choose one of the offered values.")
    if errors:
        raise InvalidInput(N_("The complaint has errors; see the marked fields."), errors)


def submit(uow: UnitOfWork, complaint: Complaint, *, attachments: list[dict[str, str]] | None = None,
           owner_token: str | None = None) -> Registration:
    """Register a complaint: starts its case; returns the reference number and the look-up code."""
    _check(complaint)
    refs = [{"file_id": r["file_id"], "sha256": r.get("sha256", "")} for r in attachments or []]
    data = {"complaint": {
        "kind": complaint.kind, "subject": complaint.subject.strip(), "content": complaint.content.strip(),
        "anonymous": complaint.anonymous, "matter_code": complaint.matter_code or None,
        "case_reference": (complaint.case_reference or "").strip().upper() or None, "attachments": refs,
    }}
    named = not complaint.anonymous
    contact = {"contact": complaint.name if named else None, "phone": complaint.phone if named else None,
               "email": complaint.email if named else None}
    return start_process(uow, COMPLAINT, data=data, actor=PUBLIC,
                         subject_name=(complaint.name or "").strip() if named else "匿名", contact=contact,
                         file_ids=[r["file_id"] for r in refs], owner_token=owner_token)


@dataclass(frozen=True)
class ComplaintStatus:
    case_id: int
    reference: str
    submitted_at: datetime
    stage: str  # registration | investigation | reply | closed
    due_on: date | None
    result: str | None  # reply_result once replied
    reply: str | None
    replied_on: str | None
    attachments: list[str]  # original file names


_DUMMY = "0" * 8
STAGE_OF_TASK = {"register_complaint": "registration", "assign_complaint": "registration",
                 "reply_complaint": "reply"}


def find(session: Session, reference: str, code: str) -> ComplaintStatus | None:
    """The complaint with this reference and look-up code, else None (the same work either way)."""
    case = session.execute(select(Case).where(Case.reference == reference.strip().upper(),
                                              Case.matter_code == COMPLAINT)).scalar_one_or_none()
    stored = case.lookup_code.upper() if case is not None else _DUMMY
    if not hmac.compare_digest(stored.encode(), code.strip().upper().encode()) or case is None:
        return None
    ready = session.execute(select(HumanTask.spec_name).where(HumanTask.case_id == case.id,
                                                              HumanTask.state == "ready")).scalars().all()
    stage = "closed" if case.status == "completed" else next(
        (STAGE_OF_TASK.get(name, "investigation") for name in ready), "registration")
    data: dict[str, Any] = {}
    if case.status == "completed":
        from engine import runtime
        from services.cases import case_workflow

        wf = case_workflow(case)
        data = runtime.workflow_data(wf) if wf is not None else {}
    names = list(session.execute(select(StoredFile.original_name).where(StoredFile.case_id == case.id)
                                 .order_by(StoredFile.original_name)).scalars())
    return ComplaintStatus(case.id, case.reference, case.created_at, stage, case.due_on,
                           data.get("reply_result"), data.get("reply_text"), data.get("replied_on"), names)

