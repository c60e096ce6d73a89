"""Issuing official documents inside the command whose step issues them.

One issuance, in the caller's transaction: allocate the next number of the kind and year (the sequence row
is locked until the command commits, so concurrent issuers get consecutive numbers, and a command that rolls
back gives its number back) → fix the page as it reads then (HTML, a few milliseconds) → insert the document
row. The PDF is made after the commit (services.document_rendering: WeasyPrint in an engine worker, then a
short transaction that stores it with its sha256 and a `document.issued` audit event); the caller writes
`Issued.audit_entry()` (id, kind, number) into its own audit event and hands `Issued.id` to
`document_rendering.after_commit` once it has committed.

Which step issues which kind: workflows/documents.toml (documents.mapping). Rendering: documents.render.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from documents import render
from documents.kinds import KINDS, title_msgid
from documents.mapping import DocumentMap, shipped_map
from documents.settings import DocumentSettings
from forms.schemas import UnknownForm, load_schema
from services import audit_log
from services import clock as case_clock
from services.actors import Actor
from services.errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from services.uow import UnitOfWork
from storage.db import is_sqlite
from storage.models import Case, Document, DocumentSequence, User

PDF = "application/pdf"
_YES, _NO = N_("Yes"), N_("No")

_settings: DocumentSettings | None = None


def configure(settings: DocumentSettings | None) -> None:
    """Set the process's document settings (the app does at start, from its config); None: from the environment."""
    global _settings
    _settings = settings


def settings() -> DocumentSettings:
    global _settings
    if _settings is None:
        _settings = DocumentSettings.from_config()
    return _settings


@dataclass(frozen=True)
class Issued:
    id: int
    kind: str
    title: str
    number: str

    def audit_entry(self) -> dict[str, Any]:
        return {"document_id": self.id, "kind": self.kind, "number": self.number}


# ---------------------------------------------------------------------------------------------------- numbering

def allocate_number(session: Session, kind: str, year: int) -> int:
    """The next number of `kind` in `year`, in the caller's transaction.

    One statement, INSERT … ON CONFLICT DO UPDATE … RETURNING: the row is created at 2 (number 1 taken) or
    incremented. On PostgreSQL the upsert locks the row until the transaction ends, so a concurrent issuer waits
    and then reads the committed value; on SQLite the write command already holds the database's write lock
    (BEGIN IMMEDIATE). A rolled-back command leaves no gap.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown document kind {kind!r}")
    taken = session.execute(_next_number(is_sqlite(session.get_bind())),
                            {"kind": kind, "year": year}).scalar_one()
    return int(taken) - 1


@functools.cache
def _next_number(sqlite: bool) -> Any:
    if sqlite:
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    table = DocumentSequence.__table__
    return (insert(table).values(kind=bindparam("kind"), year=bindparam("year"), next_value=2)
            .on_conflict_do_update(index_elements=["kind", "year"], set_={"next_value": table.c.next_value + 1})
            .returning(table.c.next_value))


# ---------------------------------------------------------------------------------------------------- context

def _catalog():
    from workflows.catalog import shipped_catalog

    return shipped_catalog()


def _field_schema(form: str, name: str) -> dict[str, Any]:
    try:
        return dict(load_schema(form).get("properties", {}).get(name) or {})
    except UnknownForm:
        return {}


def _choice_titles(spec: Mapping[str, Any]) -> dict[str, str]:
    options = spec.get("oneOf") or (spec.get("items") or {}).get("oneOf") or []
    return {str(o.get("const")): str(o.get("title", o.get("const"))) for o in options if "const" in o}


def _display(spec: Mapping[str, Any], value: Any) -> str:
    """A form value as printed: dates in Chinese, choices by their title, lists joined."""
    if isinstance(value, bool):
        return render.translations().gettext(_YES if value else _NO)
    if isinstance(value, list):
        titles = _choice_titles(spec)
        return "、".join(titles.get(str(v), str(v)) for v in value)
    if spec.get("format") == "date":
        return render.cn_date(value)
    titles = _choice_titles(spec)
    if titles:
        return titles.get(str(value), str(value))
    return str(value)


def particulars(matter_code: str, kind: str, data: Mapping[str, Any], mapping: DocumentMap) -> list[tuple[str, str]]:
    rows = []
    for form, name in mapping.particulars(matter_code, kind):
        value = data.get(name)
        if value in (None, "", []):
            continue
        spec = _field_schema(form, name)
        rows.append((str(spec.get("title") or name), _display(spec, value)))
    return rows


def missing_items(matter_code: str, data: Mapping[str, Any], form: str | None) -> list[dict[str, Any]]:
    """Every item of a one-time notice with its due date: codes of the notice form's choices or of the
    matter's materials list (catalog), or items given as {code|title, requirement, due_date}."""
    try:
        matter = _catalog().matter(matter_code)
    except KeyError:
        matter = None
    choices = _choice_titles(_field_schema(form, "missing_items")) if form else {}
    default_due = data.get("supplement_due_date")

    def title_of(code: str) -> str:
        # What the clerk ticked on the form first; a code of the matter's materials list (catalog) next.
        if code in choices:
            return choices[code]
        if code == "other":  # the notice's free-text item: its detail follows the list
            return "其他（见补正要求）"
        for item in getattr(matter, "materials", ()):
            if item.code == code:
                return item.name_zh
        return code

    items = []
    for raw in data.get("missing_items") or []:
        if isinstance(raw, Mapping):
            code = str(raw.get("code") or "")
            title = raw.get("title") or raw.get("name") or (title_of(code) if code else "")
            items.append({"title": title, "requirement": raw.get("requirement") or raw.get("note") or "",
                          "due": raw.get("due_date") or raw.get("due") or default_due})
        else:
            items.append({"title": title_of(str(raw)), "requirement": "", "due": default_due})
    return items


def received_materials(session: Session, case: Case) -> list[dict[str, Any]]:
    """The application's materials as recorded at registration (services.materials), by catalog item."""
    from services.materials import matter_items, of_case

    items = matter_items(case.matter_code)
    rows = []
    for row in of_case(session, case.id):
        if row.stage != "application":
            continue
        item = items.get(row.item_code)
        rows.append({
            "title": row.label or (item.name_zh if item is not None else row.item_code),
            "paper_form": row.paper_form, "copies": row.copies, "electronic": row.file_id is not None,
        })
    return rows


def _limit(value: int | None, unit: str | None) -> dict[str, Any] | None:
    if value and unit in ("working_days", "days"):
        return {"value": value, "unit": unit}
    return None


def _matter_context(session: Session, case: Case, data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        matter = _catalog().matter(case.matter_code)
    except KeyError:
        return {"code": case.matter_code, "name": case.matter_code, "kind": "approval", "legal_basis": "",
                "legal_basis_cited": False, "limit": None, "promised": None, "excludes_time": False,
                "obligations": []}
    report_type = data.get("report_type")
    statutory = matter.statutory_for(report_type)
    promised = matter.promised_for(report_type)
    limit = _limit(statutory.value, statutory.unit) if statutory else None
    promise = _limit(promised.value, promised.unit) if promised else None
    excluded = set(matter.excluded_time)
    row = case_clock.clock_row(session, case.id)
    if row is not None:  # the limits fixed at acceptance (the promise does not move with later settings)
        limit = _limit(row.statutory_value, row.statutory_unit)
        promise = _limit(row.promised_value, row.promised_unit)
        excluded = set(row.excluded_kinds or ())
    return {
        "code": matter.code,
        "name": matter.name_zh,
        "kind": matter.kind,
        "legal_basis": matter.legal_basis,
        # A catalog entry that cites no law (m07: "事项范围未确认") is not printed as "under … the department …"
        "legal_basis_cited": "《" in matter.legal_basis,
        "limit": limit,
        "promised": promise if promise != limit else None,
        "excludes_time": bool(excluded - {"supplement"}),
        # what the applicant must still do after a filing (e.g. m08: cancel within 20 days after the activity)
        "obligations": [d.note.rstrip("。") for d in matter.applicant_deadlines if d.direction == "after" and d.note],
    }


def _case_context(case: Case, data: Mapping[str, Any]) -> dict[str, Any]:
    applicant = data.get("applicant") if isinstance(data.get("applicant"), Mapping) else {}
    return {
        "reference": case.reference,
        "lookup_code": case.lookup_code,
        "applicant_name": case.applicant_name,
        "applicant_credit_code": case.applicant_credit_code,
        "applicant_contact": case.applicant_contact,
        "applicant_phone": case.applicant_phone,
        "applicant_address": applicant.get("address"),
        "channel": case.channel,
        "delivery_mode": case.delivery_mode,
        "created_at": case.created_at,
    }


def _clerk(session: Session, actor: Actor) -> str | None:
    if actor.display_name is not None and actor.user_id is not None:
        return actor.display_name
    return session.execute(select(User.display_name).where(User.username == actor.username)).scalar()


def document_context(
    session: Session,
    case: Case,
    kind: str,
    *,
    number: str,
    issued_at: datetime,
    data: Mapping[str, Any],
    actor: Actor,
    form: str | None = None,
    served: list[dict[str, Any]] | None = None,
    mapping: DocumentMap | None = None,
) -> dict[str, Any]:
    """Everything a template reads (documents/templates/_base.html lists the blocks)."""
    mapping = mapping or shipped_map()
    wording = mapping.wording(case.matter_code)
    accepted = data.get("acceptance_date") or case.accepted_on
    return {
        "settings": settings(),
        "kind": kind,
        "title": render.translations().gettext(title_msgid(kind, wording)),
        "wording": wording,
        "number": number,
        "issued_at": issued_at,
        "issued_on": case_clock.beijing_date(issued_at),
        "case": _case_context(case, data),
        "matter": _matter_context(session, case, data),
        "data": dict(data),
        "accepted_on": accepted,
        "particulars": particulars(case.matter_code, kind, data, mapping),
        "missing": missing_items(case.matter_code, data, form) if kind == "supplement_notice" else [],
        "received": received_materials(session, case) if kind == "receipt" else [],
        "served": served or [],
        "clerk": _clerk(session, actor),
    }


# ---------------------------------------------------------------------------------------------------- issuing

def _served_documents(session: Session, case_id: int) -> list[Document]:
    """The results this delivery serves: documents addressed to the applicant, not yet covered by a proof."""
    result_kinds = [k for k, v in KINDS.items() if v.result and v.addressed_to_applicant]
    return list(session.execute(
        select(Document).where(Document.case_id == case_id, Document.kind.in_(result_kinds),
                               Document.service_proof_id.is_(None)).order_by(Document.id)
    ).scalars())


def issue(
    uow: UnitOfWork,
    case: Case,
    kind: str,
    *,
    actor: Actor,
    data: Mapping[str, Any],
    task_id: str | None = None,
    form: str | None = None,
    now: datetime | None = None,
) -> Issued:
    """Number, word and record one document of `case`, in the caller's open transaction (its PDF follows after
    the commit: services.document_rendering)."""
    session = uow.session
    issued_at = now or case_clock.now()
    year = case_clock.beijing_date(issued_at).year
    seq = allocate_number(session, kind, year)
    number = settings().number(kind, year, seq)
    served_rows = _served_documents(session, case.id) if kind == "proof_of_service" else []
    served = [{"title": d.title, "number": d.number, "issued_on": d.issued_at} for d in served_rows]
    context = document_context(session, case, kind, number=number, issued_at=issued_at, data=data, actor=actor,
                               form=form, served=served)
    html = render.render_html(KINDS[kind].template, context)
    served_on = _signed_for_on(kind, case, data)
    row = Document(
        case_id=case.id, kind=kind, title=context["title"], number=number, year=year, seq=seq,
        pending_html=html, task_id=task_id, issued_at=issued_at, issued_by=actor.username,
        addressed_to_applicant=KINDS[kind].addressed_to_applicant, served_on=served_on,
    )
    session.add(row)
    session.flush()
    for served_row in served_rows:
        served_row.service_proof_id = row.id
        served_row.served_on = served_row.served_on or served_on
    return Issued(row.id, kind, row.title, number)


def _signed_for_on(kind: str, case: Case, data: Mapping[str, Any]) -> date | None:
    """A 送达回证 of a window pick-up is signed there and then; one sent by post waits for its signed return."""
    if kind != "proof_of_service" or case.delivery_mode != "window":
        return None
    raw = data.get("pickup_date")
    try:
        return date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def issue_on_registration(uow: UnitOfWork, case: Case, *, actor: Actor, data: Mapping[str, Any]) -> list[Issued]:
    kind = shipped_map().on_registration
    return [issue(uow, case, kind, actor=actor, data=data)] if kind else []


def task_process_id(wf: Any, task_id: str) -> str | None:
    """The id of the process (main or called) that defines a task of the case: element ids repeat across the
    files of a bundle (issue_refusal is 不予受理 in the shared acceptance and 不予许可 in a matter)."""
    try:
        task = wf.get_task_from_id(UUID(str(task_id)))
    except Exception:  # unknown id: Spiff raises its own TaskNotFoundException
        return None
    workflow = getattr(task, "workflow", None)
    spec = getattr(workflow, "spec", None)
    return getattr(spec, "name", None)


def issue_for_task(
    uow: UnitOfWork,
    case: Case,
    *,
    process_id: str | None,
    element_id: str,
    task_id: str,
    form: str | None,
    data: Mapping[str, Any],
    actor: Actor,
) -> list[Issued]:
    """The documents the completed task issues (workflows/documents.toml); none for most tasks."""
    kind = shipped_map().kind_for_task(process_id, element_id)
    if kind is None:
        return []
    return [issue(uow, case, kind, actor=actor, data=data, task_id=task_id, form=form)]


# ---------------------------------------------------------------------------------------------------- reading

def case_documents(session: Session, case_id: int) -> list[Document]:
    return list(session.execute(
        select(Document).where(Document.case_id == case_id).order_by(Document.issued_at, Document.id)
    ).scalars())


def applicant_documents(session: Session, case_id: int) -> list[Document]:
    """What the applicant may download: the documents addressed to them (not the office's 送达回证)."""
    return [d for d in case_documents(session, case_id) if d.addressed_to_applicant and d.file_id is not None]


# ---------------------------------------------------------------------------------------------------- delivery

def record_first_download(session: Session, document_id: int, at: datetime | None = None) -> bool:
    """电子送达: the applicant's first download of a document addressed to them is its date of service.

    Call it in the transaction that serves the download (the caller writes the audit event). Only the first
    call changes anything (UPDATE … WHERE first_downloaded_at IS NULL, so two downloads at once record one);
    returns whether this was the first download.
    """
    at = at or case_clock.now()
    table = Document.__table__
    result = session.execute(
        update(table)
        .where(table.c.id == document_id, table.c.addressed_to_applicant.is_(True),
               table.c.first_downloaded_at.is_(None))
        .values(first_downloaded_at=at,
                served_on=func.coalesce(table.c.served_on, case_clock.beijing_date(at)))
    )
    return result.rowcount == 1


def record_signed_for(uow: UnitOfWork, document_id: int, signed_on: date, actor: Actor) -> None:
    """The returned 送达回证 of a post delivery (or the carrier's record) gives the date the applicant signed
    for the documents: recorded on the proof and on every document it served."""
    if not actor.has_role("window", "admin", "system"):
        raise Forbidden(N_("Only the approval office window can record the service of documents."))
    with uow:
        session = uow.session
        proof = session.get(Document, document_id)
        if proof is None or proof.kind != "proof_of_service":
            raise NotFound(N_("Proof of service %(id)s does not exist."), id=document_id)
        if proof.served_on is not None:
            raise Conflict(N_("The date of service is already recorded."))
        if signed_on < case_clock.beijing_date(proof.issued_at):
            raise InvalidInput(N_("The form has errors; see the marked fields."),
                               {"signed_on": N_("The signed-for date cannot be before the documents were sent.")})
        if signed_on > case_clock.today():
            raise InvalidInput(N_("The form has errors; see the marked fields."),
                               {"signed_on": N_("The signed-for date cannot be in the future.")})
        proof.served_on = signed_on
        served = session.execute(select(Document).where(Document.service_proof_id == proof.id)).scalars().all()
        for row in served:
            row.served_on = row.served_on or signed_on
        audit_log.record(session, actor, "document.signed_for", case_id=proof.case_id,
                         before={"served_on": None}, after={"served_on": signed_on.isoformat()},
                         document={"document_id": proof.id, "number": proof.number},
                         served=[row.number for row in served])
        uow.commit()


def served_electronically(session: Session, case_id: int, at: datetime, *, how: str) -> list[str]:
    """电子送达 by e-mail notice: the documents addressed to the applicant that are not served yet count as served
    on the day the notice was sent (when the delivery is online). Returns their numbers (for the audit)."""
    case = session.get(Case, case_id)
    if case is None or case.delivery_mode != "online":
        return []
    served = []
    for document in applicant_documents(session, case_id):
        if document.served_on is None:
            document.served_on = case_clock.beijing_date(at)
            served.append(document.number)
    if served:
        audit_log.record(session, Actor.system("mailer"), "documents.served", case_id=case_id, how=how,
                         after={"served_on": case_clock.beijing_date(at).isoformat(), "documents": served})
    return served


def applicant_download(uow: UnitOfWork, case_id: int, document_id: int, actor: Actor) -> Document:
    """The applicant downloads a document addressed to them: the first download is its date of service
    (电子送达), recorded with an audit event in the same transaction."""
    with uow:
        session = uow.session
        document = session.get(Document, document_id)
        if document is None or document.case_id != case_id or not document.addressed_to_applicant:
            raise NotFound(N_("Document %(id)s does not exist."), id=document_id)
        if record_first_download(session, document_id):
            session.refresh(document)
            audit_log.record(session, actor, "document.downloaded", case_id=case_id, document=document.number,
                             after={"first_downloaded_at": document.first_downloaded_at.isoformat(),
                                    "served_on": document.served_on.isoformat() if document.served_on else None})
        uow.commit()
        session.expunge(document)
        return document
