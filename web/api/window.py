"""``/api/v1/window``: the platform's window clerk acts as the department's window (scope ``window:act``), so
a case received at the platform is never typed in twice: register an application handed in there (paper
materials ticked), list the case's open window tasks, and complete one (材料审查: accept / notice / refuse,
出具受理通知书 …) with its form's data, validated against the same JSON Schema as the staff form."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from sqlalchemy import select

from services import cases as case_service
from services import idempotency, materials
from services.errors import N_, NotFound
from storage.models import Case, HumanTask
from web.api.auth import (
    APPROVAL_OFFICE_LANE,
    authenticate,
    case_links,
    client,
    client_actor,
    operation_doc,
    requires,
)
from web.api.cases import IDEMPOTENCY_DOC, applicant_of, check_offered, idempotency_key, own_case
from web.api.forms_spec import component_name, form_names
from web.api.schemas import (
    CaseSchema,
    CommandResultSchema,
    TaskCompletionSchema,
    TaskListSchema,
    WindowRegistrationSchema,
)
from web.common import reader, uow

blp = Blueprint("api_window", __name__, description="窗口受理 / the window's actions (scope window:act)")
blp.before_request(authenticate)


def _task_body(task: HumanTask, case_version: int) -> dict[str, Any]:
    return {"id": task.id, "name": task.spec_name, "title": task.title, "lane": task.lane,
            "form": task.form.removesuffix(".json") if task.form else None, "case_version": case_version}


def _window_tasks(session, case: Case) -> list[HumanTask]:
    return list(session.execute(
        select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.state == "ready",
                                HumanTask.lane == APPROVAL_OFFICE_LANE).order_by(HumanTask.created_at)
    ).scalars())


@blp.route("/window/registrations", methods=["POST"])
@blp.doc(**operation_doc("window:act", "register"), parameters=[IDEMPOTENCY_DOC])
@blp.arguments(WindowRegistrationSchema)
@blp.doc(**case_links(201))
@blp.response(201, CaseSchema, description="the case registered (its 收件回执 issued)")
@blp.alt_response(200, schema=CaseSchema, description="the case an identical earlier request made")
@requires("window:act")
def register(data: dict[str, Any]):
    """Register an application handed in at the platform's window (materials received on paper)."""
    from web.api.cases import _matter, created

    matter = _matter(data["matter_code"])
    check_offered(matter, data["channel"], data["delivery_mode"], data.get("report_type"), "")
    items = materials.matter_items(matter.code)
    received = [materials.Received(m["item"], paper_form=m["paper_form"],
                                   copies=m.get("copies") or getattr(items.get(m["item"]), "copies", None))
                for m in data["materials"]]
    start = {"report_type": data["report_type"]} if matter.statutory_limit_by_report_type else {}
    key = idempotency_key()

    def run(also):
        return case_service.register_case(
            uow(), matter_code=matter.code, applicant=applicant_of(data), channel=data["channel"],
            delivery_mode=data["delivery_mode"], actor=client_actor(window=True), data=start, received=received,
            also=also)

    if key is None:
        return created(run(None).case_id, replayed=False)
    found = idempotency.claim(uow(), client().id, key, idempotency.request_hash(
        {**data, "applicant": dict(data["applicant"]), "materials": [dict(m) for m in data["materials"]]}, []))
    if found.case_id is not None:
        return created(found.case_id, replayed=True)
    claim_id = found.claim_id
    try:
        registration = run(lambda session, case: idempotency.link(session, claim_id, case))
    except BaseException:
        idempotency.release(uow(), claim_id)
        raise
    return created(registration.case_id, replayed=False)


@blp.route("/window/cases/<reference>/tasks")
@blp.doc(**operation_doc("window:act", "list_tasks"))
@blp.response(200, TaskListSchema)
@requires("window:act")
def list_tasks(reference: str):
    """The case's open tasks in the window's lane (审批办), each with its form's name."""
    with own_case(reference) as (case, session):
        return {"items": [_task_body(t, case.version) for t in _window_tasks(session, case)]}


def _completion_doc() -> dict[str, Any]:
    window_forms = ["materials_check", "supplement_notice", "supplement_receipt", "acceptance_notice",
                    "refusal_notice", "delivery_window", "delivery_post", "delivery_online"]
    known = [f for f in window_forms if f + ".json" in form_names()]
    return {"description": "`data` is the task's form: one of the forms' JSON Schemas (components form.*), e.g. "
                           + ", ".join(component_name(f + ".json") for f in known)}


@blp.route("/window/tasks/<task_id>", methods=["POST"])
@blp.doc(**operation_doc("window:act", "complete"), **_completion_doc())
@blp.arguments(TaskCompletionSchema)
@blp.response(200, CommandResultSchema)
@requires("window:act")
def complete(payload: dict[str, Any], task_id: str):
    """Complete a window task of the client's case (the acceptance decision, a notice, a receipt …)."""
    with reader() as r:
        task = r.session.get(HumanTask, task_id[:64])
        case = r.session.get(Case, task.case_id) if task is not None else None
        if task is None or case is None or case.created_by != client().actor_name or \
                task.lane != APPROVAL_OFFICE_LANE:
            raise NotFound(N_("Task %(id)s does not exist."), id=task_id[:64])
        reference = case.reference
    result = case_service.complete_task(uow(), task_id, payload["data"], client_actor(window=True),
                                        expected_version=payload.get("expected_case_version"))
    with own_case(reference) as (case, session):
        return {"reference": reference, "status": result.status, "case_version": result.version,
                "open_tasks": [_task_body(t, case.version) for t in _window_tasks(session, case)],
                "documents": [d.number for d in result.documents]}
