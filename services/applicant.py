"""The applicant's side of a case (reference + look-up code): what it waits for, its history as the applicant may
see it, the one-time notice of missing materials (一次性告知) and answering it online.

Answering online completes the window's 接收补正材料 task with channel ``online``, so no trip is counted; the
window can still receive supplements handed in or posted. Nothing here knows Flask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import cases, clock, documents, files, materials
from services.actors import Actor
from services.errors import N_, Conflict, InvalidInput, NotFound
from services.uow import UnitOfWork
from storage.models import Case, CaseExtension, CaseMaterial, HumanTask

RECEIVE_SUPPLEMENT = "receive_supplement"
NOTIFY_SUPPLEMENT = "notify_supplement"


@dataclass(frozen=True)
class MissingItem:
    code: str
    name: str  # Chinese name (catalog item, or the notice's own wording)


@dataclass(frozen=True)
class Notice:
    """The open one-time notice: everything missing, at once, and until when."""

    items: tuple[MissingItem, ...]
    detail: str
    notice_date: str | None
    due_date: str | None
    task_id: str


@dataclass(frozen=True)
class Waiting:
    """What the case waits for: ``kind`` selects the sentence, the rest fills it."""

    kind: str  # applicant | office | timer | done | withdrawn | incident
    unit: str | None = None
    step: str | None = None
    lead_only: bool = False  # the step is the unit lead's (a decision, an approval)
    until: date | None = None
    working_days_left: int | None = None


@dataclass(frozen=True)
class HistoryLine:
    at: datetime | None
    kind: str  # registered | step | supplement | extension | completed
    text: str
    detail: str | None = None


@dataclass
class ApplicantCase:
    case_id: int
    reference: str
    matter_code: str
    applicant_name: str
    channel: str
    delivery_mode: str
    status: str
    outcome: str | None
    submitted_at: datetime
    accepted_on: date | None
    due_on: date | None
    promised_due_on: date | None
    completed_at: datetime | None
    waiting: Waiting
    notice: Notice | None
    history: list[HistoryLine] = field(default_factory=list)
    own_files: list[CaseMaterial] = field(default_factory=list)
    documents: list[Any] = field(default_factory=list)  # storage.models.Document addressed to the applicant


def applicant_actor(case: Case, lane: str | None = None) -> Actor:
    """The applicant acting on their own case; works only the task they answer (its lane)."""
    who = case.applicant_credit_code or case.reference
    return Actor(username=f"applicant:{who}", roles=frozenset({"applicant"}),
                 lanes=frozenset({lane}) if lane else frozenset())


def _item_names(matter_code: str) -> dict[str, str]:
    names = {code: item.name_zh for code, item in materials.matter_items(matter_code).items()}
    # Notices written before the per-matter lists name their items by the generic form's titles.
    from forms.schemas import UnknownForm, load_schema

    try:
        node = load_schema("supplement_notice.json")["properties"]["missing_items"]["items"]
        for option in [*node.get("oneOf", []), *node.get("x-options-append", [])]:  # "other" too
            names.setdefault(str(option.get("const")), str(option.get("title")))
    except (UnknownForm, KeyError):
        pass
    return names


def _open_notice(session: Session, case: Case, data: dict[str, Any]) -> Notice | None:
    task = session.execute(
        select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.state == "ready",
                                HumanTask.spec_name == RECEIVE_SUPPLEMENT)
    ).scalars().first()
    if task is None:
        return None
    names = _item_names(case.matter_code)
    codes = [str(c) for c in data.get("missing_items") or []]
    items = tuple(MissingItem(code, names.get(code, code)) for code in codes)
    return Notice(items, str(data.get("missing_items_detail") or ""), data.get("notice_date"),
                  data.get("supplement_due_date"), task.id)


def waiting(session: Session, case: Case, data: dict[str, Any] | None = None) -> Waiting:
    """What the case waits for, from whom and until when: the one answer the applicant's page and the staff's
    case and task pages give. ``data``: the case's workflow data when the caller has read it already."""
    answering = case.status == "active" and session.execute(
        select(HumanTask.id).where(HumanTask.case_id == case.id, HumanTask.state == "ready",
                                   HumanTask.spec_name == RECEIVE_SUPPLEMENT)
    ).first() is not None
    # The workflow (a large deferred column) is read only when a notice's due date is needed.
    notice = _open_notice(session, case, data if data is not None else _workflow_data(case)) if answering else None
    return _waiting(session, case, notice)


def _waiting(session: Session, case: Case, notice: Notice | None) -> Waiting:
    if case.status == "withdrawn":
        return Waiting("withdrawn")
    if case.status == "completed":
        return Waiting("done")
    if case.status == "incident":
        return Waiting("incident")
    if notice is not None:
        until = date.fromisoformat(notice.due_date) if notice.due_date else None
        return Waiting("applicant", until=until)
    ready = session.execute(
        select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.state == "ready")
        .order_by(HumanTask.created_at)
    ).scalars().first()
    left = clock.days_left(session, case)
    if ready is not None:
        # Lanes are named by the units' Chinese names.
        return Waiting("office", unit=ready.lane, step=ready.title, lead_only=ready.role == "lead",
                       until=case.promised_due_on or case.due_on,
                       working_days_left=left.promised if left.promised is not None else left.statutory)
    if case.next_timer_due is not None:
        return Waiting("timer", step=_timer_name(case), until=clock.beijing_date(case.next_timer_due))
    return Waiting("office", until=case.promised_due_on or case.due_on)


def _timer_name(case: Case) -> str | None:
    """The name of the timer the case waits at (公示期满 …), or None."""
    if not case.state:
        return None
    from engine import runtime

    workflow = cases.case_workflow(case)
    names = runtime.waiting_timer_names(workflow) if workflow is not None else []
    return names[0] if names else None


def _history(session: Session, case: Case) -> list[HistoryLine]:
    lines = [HistoryLine(case.created_at, "registered", "")]
    for title, at in session.execute(
        select(HumanTask.title, HumanTask.completed_at).where(HumanTask.case_id == case.id,
                                                             HumanTask.state == "completed")
    ):
        lines.append(HistoryLine(at, "step", title))
    for row in session.execute(select(CaseExtension).where(CaseExtension.case_id == case.id)).scalars():
        lines.append(HistoryLine(row.created_at, "extension", str(row.working_days), row.reason))
    supplements = session.execute(
        select(CaseMaterial.received_at, CaseMaterial.channel).where(
            CaseMaterial.case_id == case.id, CaseMaterial.stage == "supplement")
    ).all()
    for at, channel in {(at.replace(microsecond=0), channel) for at, channel in supplements}:
        lines.append(HistoryLine(at, "supplement", channel))
    if case.completed_at is not None:
        lines.append(HistoryLine(case.completed_at, "completed", case.outcome or ""))
    return sorted(lines, key=lambda line: (line.at is None, line.at or datetime.min))


def view(session: Session, case: Case) -> ApplicantCase:
    data = _workflow_data(case)
    notice = _open_notice(session, case, data) if case.status == "active" else None
    own = list(session.execute(
        select(CaseMaterial).where(CaseMaterial.case_id == case.id, CaseMaterial.file_id.is_not(None),
                                   CaseMaterial.stage.in_(("application", "supplement", "revision")))
        .order_by(CaseMaterial.received_at, CaseMaterial.id)
    ).scalars())
    return ApplicantCase(
        case_id=case.id, reference=case.reference, matter_code=case.matter_code,
        applicant_name=case.applicant_name, channel=case.channel, delivery_mode=case.delivery_mode,
        status="active" if case.status == "incident" else case.status, outcome=case.outcome,
        submitted_at=case.created_at, accepted_on=case.accepted_on, due_on=case.due_on,
        promised_due_on=case.promised_due_on, completed_at=case.completed_at,
        waiting=_waiting(session, case, notice), notice=notice, history=_history(session, case), own_files=own,
        documents=documents.applicant_documents(session, case.id),
    )


def _workflow_data(case: Case) -> dict[str, Any]:
    if not case.state:
        return {}
    from engine import runtime

    return runtime.workflow_data(cases.case_workflow(case))


def visible_file_ids(session: Session, case_id: int) -> set[str]:
    """Files the applicant may download: their own materials (application, supplements, revisions)."""
    return set(session.execute(
        select(CaseMaterial.file_id).where(CaseMaterial.case_id == case_id, CaseMaterial.file_id.is_not(None))
    ).scalars())


def submit_supplements(
    uow: UnitOfWork, case_id: int, received: list[materials.Received], note: str, *, on: date | None = None
) -> cases.CommandResult:
    """Answer the open one-time notice online: the files by missing item; completes 接收补正材料."""
    if not received:
        raise InvalidInput(N_("Attach the missing materials."), {"__all__": N_("Attach the missing materials.")})
    with uow.reader() as r:
        case = r.session.get(Case, case_id)
        if case is None:
            raise NotFound(N_("Case %(id)s does not exist."), id=case_id)
        task = r.session.execute(
            select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "ready",
                                    HumanTask.spec_name == RECEIVE_SUPPLEMENT)
        ).scalars().first()
        if task is None or case.status != "active":
            raise Conflict(N_("No notice of missing materials is waiting for an answer on this case."))
        actor = applicant_actor(case, task.lane)
        task_id, version, matter_code = task.id, case.version, case.matter_code
    refs = []
    with uow.reader() as r:
        for entry in received:
            row = files.get(r.session, entry.file_id or "")
            if row is None or row.case_id != case_id:
                raise InvalidInput(N_("This file does not belong to this case; send it again."), {})
            refs.append(files.ref(row))
    answers: dict[str, Any] = {
        "supplement_outcome": "submitted",
        "supplement_received_date": (on or clock.today()).isoformat(),
        "supplement_channel": "online",
        "supplement_files": refs,
    }
    if note.strip():
        answers["supplement_notes"] = note.strip()[:2000]

    def record(session: Session, case: Case) -> None:
        materials.record(session, case.id, matter_code, received, stage="supplement", channel="online",
                         actor=actor.username, task_id=task_id)

    return cases.complete_task(uow, task_id, answers, actor, expected_version=version, also=record)
