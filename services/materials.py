"""Materials of the case file by catalog item (申请材料目录): what was received, when, how and from whom.

The application's materials are recorded when the case is registered (online: the uploaded files; at the window:
the items ticked as received on paper), supplements (补正) when they are received (online by the applicant, or by the
window). Rows reference stored files; the bytes are in the file store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.errors import N_, InvalidInput
from services.files import refs_in
from storage.models import CaseMaterial, StoredFile

OTHER = "other"  # a material not in the matter's list (free text)
PAPER_FORMS = ("original", "copy")


@dataclass(frozen=True)
class Received:
    """One material as received: a catalog item code (or OTHER with a label), and its file or paper form."""

    item_code: str
    file_id: str | None = None
    paper_form: str | None = None  # original | copy, for paper handed in or posted
    copies: int | None = None
    label: str | None = None


def matter_items(matter_code: str) -> dict[str, object]:
    from workflows.catalog import shipped_catalog

    try:
        return {item.code: item for item in shipped_catalog().matter(matter_code).materials}
    except KeyError:
        return {}


def missing_required(matter_code: str, received: Iterable[Received], conditions: dict[str, bool] | None = None
                     ) -> list[str]:
    """Codes of required items with nothing received (conditional items are the applicant's call)."""
    have = {r.item_code for r in received}
    return [code for code, item in matter_items(matter_code).items()
            if item.requirement == "required" and code not in have]


def record(
    session: Session,
    case_id: int,
    matter_code: str,
    received: Iterable[Received],
    *,
    stage: str,
    channel: str,
    actor: str,
    task_id: str | None = None,
) -> list[CaseMaterial]:
    """Add the rows (in the caller's transaction). Unknown item codes are refused: the list is the catalog's."""
    items = matter_items(matter_code)
    rows = []
    for entry in received:
        if entry.item_code != OTHER and entry.item_code not in items:
            raise InvalidInput(N_("%(code)s is not a material of this matter."), {}, code=entry.item_code)
        if entry.paper_form is not None and entry.paper_form not in PAPER_FORMS:
            raise InvalidInput(N_("Choose one of the offered values."), {})
        if entry.file_id is not None:
            stored = session.get(StoredFile, entry.file_id)
            if stored is None or stored.case_id != case_id:
                raise InvalidInput(N_("This file does not belong to this case; send it again."), {})
            stored.item_code = entry.item_code
        row = CaseMaterial(
            case_id=case_id, item_code=entry.item_code, label=(entry.label or None), file_id=entry.file_id,
            stage=stage, channel=channel, paper_form=entry.paper_form, copies=entry.copies, received_by=actor,
            task_id=task_id,
        )
        session.add(row)
        rows.append(row)
    return rows


def of_case(session: Session, case_id: int) -> list[CaseMaterial]:
    return list(session.execute(
        select(CaseMaterial).where(CaseMaterial.case_id == case_id).order_by(CaseMaterial.received_at,
                                                                               CaseMaterial.id)
    ).scalars())


def record_from_form(
    session: Session, case_id: int, matter_code: str, form_name: str | None, answers: dict, *, actor: str,
    task_id: str | None,
) -> None:
    """Files of a task's form field marked ``"x-material-stage"`` (补正材料, 修改材料) join the case file as
    materials of that stage, received by the channel the form names (``"x-material-channel-field"``). Files the
    caller already recorded by item (the applicant's online supplements) are not recorded twice."""
    if not form_name:
        return
    from forms.schemas import UnknownForm, load_schema

    try:
        properties = load_schema(form_name).get("properties", {})
    except UnknownForm:
        return
    staged = {name: node for name, node in properties.items() if node.get("x-material-stage") and name in answers}
    if not staged:
        return
    session.flush()
    known = set(session.execute(
        select(CaseMaterial.file_id).where(CaseMaterial.case_id == case_id, CaseMaterial.file_id.is_not(None))
    ).scalars())
    for name, node in staged.items():
        stage = node["x-material-stage"]
        channel = str(answers.get(node.get("x-material-channel-field", ""), "window"))
        entries = [Received(OTHER, file_id=r["file_id"], label=stage) for r in refs_in(answers[name])
                   if r["file_id"] not in known]
        record(session, case_id, matter_code, entries, stage=stage, channel=channel, actor=actor, task_id=task_id)
