"""The case file (卷宗) as staff read it: a read model assembled by plain queries, returned as dataclasses.

Four parts, each from its own rows (never from the serialized workflow):
- materials by catalog item (申请材料目录 of the matter), each with what was received: who, when, how
  (channel, stage application/supplement/revision, paper original/copy) and its file (case_materials);
- the answers of every completed task, labelled with its form's titles (from the ``task.completed`` audit
  event, which holds exactly what was sent);
- the documents the office issued (files with purpose "document" until the documents table lands);
- any other file of the case that none of the above refers to, so that nothing stored is hidden.

Nothing here knows Flask: labels that are message ids (stage, channel, …) stay codes, translated where shown;
titles that come from the catalog and the form schemas are given in the requested locale.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from forms.builder import FieldSpec, describe, display_value
from forms.schemas import UnknownForm, load_schema, load_ui_schema
from services.files import is_ref
from storage.models import AuditEvent, Case, CaseMaterial, HumanTask, StoredFile, User

BEIJING = ZoneInfo("Asia/Shanghai")
PREVIEWABLE = frozenset({"application/pdf", "image/jpeg", "image/png"})
# Already compressed: stored as they are in the case's ZIP (deflating them again costs time and saves nothing).
COMPRESSED = frozenset({
    "application/pdf", "image/jpeg", "image/png", "application/zip", "application/ofd",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
})
# Actors that are not users: shown by what they are (message ids), never by their technical name.
APPLICANT = "applicant"
SYSTEM = "system"


@dataclass(frozen=True)
class Person:
    """Who did something: a user's display name, or a kind (``applicant`` / ``system``) for the others."""

    name: str | None
    kind: str = "user"


@dataclass(frozen=True)
class FileInfo:
    id: str
    name: str
    media_type: str
    size: int
    sha256: str
    purpose: str
    item_code: str | None
    created_by: Person
    created_at: datetime

    @property
    def previewable(self) -> bool:
        return self.media_type in PREVIEWABLE

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")

    @property
    def compressed(self) -> bool:
        return self.media_type in COMPRESSED


@dataclass(frozen=True)
class Receipt:
    """One reception of a material (a row of case_materials)."""

    stage: str  # application | supplement | revision
    channel: str  # window | post | online
    paper_form: str | None  # original | copy
    copies: int | None
    received_by: Person
    received_at: datetime
    file: FileInfo | None
    label: str | None  # the free-text name of an "other" material


@dataclass(frozen=True)
class MaterialEntry:
    code: str
    name: str
    requirement: str  # required | conditional | other (not in the matter's list)
    condition: str | None
    form: str | None  # what the catalog asks for: original | copy | electronic
    copies: int | None
    note: str | None
    unconfirmed: bool
    receipts: tuple[Receipt, ...]

    @property
    def received(self) -> bool:
        return bool(self.receipts)

    @property
    def files(self) -> tuple[FileInfo, ...]:
        return tuple(r.file for r in self.receipts if r.file is not None)


@dataclass(frozen=True)
class Answer:
    name: str
    title: str
    kind: str  # the form field's kind (text, textarea, date, choice, checklist, file, files, boolean, …)
    text: str
    value: Any = None  # the raw value for booleans (rendered as yes/no by the page)
    files: tuple[FileInfo, ...] = ()


@dataclass(frozen=True)
class TaskRecord:
    task_id: str
    title: str
    lane: str | None
    state: str
    form_title: str | None
    completed_by: Person | None
    completed_at: datetime | None
    answers: tuple[Answer, ...]
    recorded: bool  # the answers were found (a task.completed event exists)
    form_missing: bool = False  # the form's schema is no longer known: answers shown without labels

    @property
    def files(self) -> tuple[FileInfo, ...]:
        return tuple(f for a in self.answers for f in a.files)


@dataclass(frozen=True)
class DocumentEntry:
    title: str
    number: str | None
    kind: str | None
    file: FileInfo


@dataclass(frozen=True)
class CaseFile:
    case_id: int
    reference: str
    matter_code: str
    applicant_name: str
    materials: tuple[MaterialEntry, ...]  # the matter's list, in catalog order
    other_materials: tuple[MaterialEntry, ...]  # received items outside the list ("other", unknown codes)
    tasks: tuple[TaskRecord, ...]  # completed tasks, in the order they were completed
    documents: tuple[DocumentEntry, ...]
    other_files: tuple[FileInfo, ...]  # files of the case that no material, answer or document refers to
    generated_at: datetime = field(default_factory=lambda: datetime.now(BEIJING))

    @property
    def missing_required(self) -> tuple[MaterialEntry, ...]:
        return tuple(m for m in self.materials if m.requirement == "required" and not m.received)

    def task(self, task_id: str) -> TaskRecord | None:
        return next((t for t in self.tasks if t.task_id == task_id), None)

    def all_files(self) -> list[FileInfo]:
        """Every file of the case file, each once, in the order the page shows them."""
        seen: dict[str, FileInfo] = {}
        for entry in (*self.materials, *self.other_materials):
            for f in entry.files:
                seen.setdefault(f.id, f)
        for task in self.tasks:
            for f in task.files:
                seen.setdefault(f.id, f)
        for doc in self.documents:
            seen.setdefault(doc.file.id, doc.file)
        for f in self.other_files:
            seen.setdefault(f.id, f)
        return list(seen.values())


# ---------------------------------------------------------------- loading


def load(session: Session, case: Case, *, locale: str | None = None) -> CaseFile:
    """The case file of ``case`` (read in ``session``; titles from the catalog and forms in ``locale``)."""
    stored = {
        row.id: row
        for row in session.execute(
            select(StoredFile).where(StoredFile.case_id == case.id).order_by(StoredFile.created_at, StoredFile.id)
        ).scalars()
    }
    received = session.execute(
        select(CaseMaterial).where(CaseMaterial.case_id == case.id)
        .order_by(CaseMaterial.received_at, CaseMaterial.id)
    ).scalars().all()
    tasks = session.execute(
        select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.state == "completed")
        .order_by(HumanTask.completed_at, HumanTask.created_at, HumanTask.id)
    ).scalars().all()
    answers = _answers_by_task(session, case.id)
    people = _People(session, [r.created_by for r in stored.values()] + [r.received_by for r in received],
                     [t.completed_by for t in tasks])
    infos = {fid: _file_info(row, people) for fid, row in stored.items()}

    materials, others = _materials(case.matter_code, received, infos, people, locale)
    records = tuple(_task_record(t, answers.get(t.id), infos, people, locale) for t in tasks)
    documents = _documents(stored.values(), infos)
    placed = {f.id for m in (*materials, *others) for f in m.files}
    placed |= {f.id for t in records for f in t.files}
    placed |= {d.file.id for d in documents}
    other_files = tuple(info for fid, info in infos.items() if fid not in placed)
    return CaseFile(case.id, case.reference, case.matter_code, case.applicant_name, materials, others,
                    records, documents, other_files)


class _People:
    """Display names for usernames (files, materials) and user ids (tasks), read in two queries."""

    def __init__(self, session: Session, usernames: Iterable[str | None], ids: Iterable[int | None]) -> None:
        names = {u for u in usernames if u}
        wanted_ids = {i for i in ids if i is not None}
        self.by_name: dict[str, str] = {}
        self.by_id: dict[int, str] = {}
        if names:
            self.by_name = dict(session.execute(
                select(User.username, User.display_name).where(User.username.in_(names))).all())
        if wanted_ids:
            self.by_id = dict(session.execute(
                select(User.id, User.display_name).where(User.id.in_(wanted_ids))).all())

    def named(self, username: str | None) -> Person:
        if not username:
            return Person(None, SYSTEM)
        if username in self.by_name:
            return Person(self.by_name[username])
        if username.startswith("applicant"):
            return Person(None, APPLICANT)
        if username in ("system", "migration", "scheduler") or username.startswith("system"):
            return Person(None, SYSTEM)
        return Person(username)  # a user since removed: their sign-in name is all that is left

    def by_user_id(self, user_id: int | None) -> Person | None:
        if user_id is None:
            return None
        return Person(self.by_id.get(user_id))


def _file_info(row: StoredFile, people: _People) -> FileInfo:
    return FileInfo(row.id, row.original_name, row.media_type, row.size, row.sha256, row.purpose, row.item_code,
                    people.named(row.created_by), row.created_at)


def _materials(
    matter_code: str, received: Sequence[CaseMaterial], infos: dict[str, FileInfo], people: _People,
    locale: str | None,
) -> tuple[tuple[MaterialEntry, ...], tuple[MaterialEntry, ...]]:
    from workflows.catalog import shipped_catalog

    try:
        items = shipped_catalog().matter(matter_code).materials
    except KeyError:
        items = ()
    english = bool(locale) and not str(locale).startswith("zh")
    by_item: dict[str, list[Receipt]] = {}
    for row in received:
        receipt = Receipt(row.stage, row.channel, row.paper_form, row.copies, people.named(row.received_by),
                          row.received_at, infos.get(row.file_id) if row.file_id else None, row.label)
        by_item.setdefault(row.item_code, []).append(receipt)
    listed = []
    for item in items:
        listed.append(MaterialEntry(
            item.code,
            (item.name_en or item.name_zh) if english else item.name_zh,
            item.requirement,
            (item.condition_en or item.condition_zh) if english else item.condition_zh,
            item.form, item.copies, item.note_zh, item.unconfirmed,
            tuple(by_item.pop(item.code, ())),
        ))
    others = []
    for code, receipts in by_item.items():
        # "other" items carry their own name on each reception; one entry per distinct name
        names: dict[str, list[Receipt]] = {}
        for receipt in receipts:
            names.setdefault(receipt.label or code, []).append(receipt)
        for name, group in names.items():
            others.append(MaterialEntry(code, name, "other", None, None, None, None, False, tuple(group)))
    return tuple(listed), tuple(others)


def _answers_by_task(session: Session, case_id: int) -> dict[str, dict[str, Any]]:
    """Task id → the answers sent when it was completed (the last event wins: a task completes once)."""
    out: dict[str, dict[str, Any]] = {}
    rows = session.execute(
        select(AuditEvent.payload).where(AuditEvent.case_id == case_id, AuditEvent.action == "task.completed")
        .order_by(AuditEvent.seq)
    ).scalars()
    for payload in rows:
        if isinstance(payload, dict) and isinstance(payload.get("task"), str):
            form = payload.get("form")
            out[payload["task"]] = form if isinstance(form, dict) else {}
    return out


def form_fields(
    form_name: str | None, locale: str | None, matter_code: str | None = None
) -> tuple[str | None, tuple[FieldSpec, ...]] | None:
    """The title and fields (inputs, then read-only ones) of a task form; None when it is unknown.
    ``matter_code``: choices the form takes from the case's matter (the 一次性告知书's materials) read as names."""
    if not form_name:
        return None, ()
    try:
        schema = load_schema(form_name)
    except UnknownForm:
        return None
    stem = form_name[:-5] if form_name.endswith(".json") else form_name
    context = None
    if matter_code:
        from forms.context import FormContext
        from services.form_context import MATTER_MATERIALS, materials_options

        context = FormContext(options={MATTER_MATERIALS: materials_options(matter_code)})
    try:
        spec = describe(schema, load_ui_schema(f"{stem}.uischema.json"), locale, context)
    except ValueError:
        return None
    return spec.title, spec.fields + spec.read_only


def answers_for(
    fields: Sequence[FieldSpec], data: dict[str, Any], infos: dict[str, FileInfo]
) -> tuple[Answer, ...]:
    """Stored answers as people read them, in the form's order; empty answers are left out."""
    names = {fid: info.name for fid, info in infos.items()}
    out = []
    for spec in fields:
        if spec.name not in data:
            continue
        value = data[spec.name]
        if value is None or value == "" or value == []:
            continue
        files: tuple[FileInfo, ...] = ()
        if spec.kind in ("file", "files"):
            refs = value if isinstance(value, list) else [value]
            files = tuple(infos[r["file_id"]] for r in refs if is_ref(r) and r["file_id"] in infos)
        text = display_value(spec, value, names)
        if spec.kind in ("file", "files"):
            # a reference to no file of this case is never shown as its id
            text = "、".join(f.name for f in files)
        out.append(Answer(spec.name, spec.title, spec.kind, text,
                          value if spec.kind == "boolean" else None, files))
    return tuple(out)


def _task_record(
    task: HumanTask, data: dict[str, Any] | None, infos: dict[str, FileInfo], people: _People,
    locale: str | None,
) -> TaskRecord:
    form = form_fields(task.form, locale, task.matter_code)
    answers: tuple[Answer, ...] = ()
    if data and form is not None:
        answers = answers_for(form[1], data, infos)
    return TaskRecord(
        task.id, task.title, task.lane, task.state, form[0] if form else None,
        people.by_user_id(task.completed_by), task.completed_at, answers, data is not None,
        form_missing=form is None,
    )


def _documents(rows: Iterable[StoredFile], infos: dict[str, FileInfo]) -> tuple[DocumentEntry, ...]:
    """The issued documents. Until the documents table (kind, number) lands: the files stored as documents,
    titled by their file name."""
    return tuple(
        DocumentEntry(row.original_name.rsplit(".", 1)[0], None, row.item_code, infos[row.id])
        for row in rows if row.purpose == "document"
    )
