"""Case commands: register, claim, release, reassign, complete a task, withdraw, fire due timers.

Commands that run diagram code (register, complete, fire timers, retry) have three phases:
1. load: a short read (no write lock) checks the command and collects the saved state and the version seen;
2. compute: the engine step runs in a worker process (services.engine_steps → engine.pool), no transaction
   open, so a slow or runaway diagram never holds the database;
3. write: one short transaction saves the outcome guarded by the version read (UPDATE … WHERE version =
   :seen), refreshes the clock and the derived task rows, appends audit events and commits. A version that
   moved under us means someone else won: nothing is written and the caller is told (Conflict).
The other commands are one transaction each.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Update, bindparam, select, update
from sqlalchemy.orm import Session, joinedload, undefer
from sqlalchemy.orm.attributes import set_committed_value

from engine import runtime
from engine.errors import BpmnError
from engine.steps import ADVANCE, BAD_DATA, COMPLETE, RETRY, START, TASK_NOT_READY, StepOutcome, TaskRow
from forms.schemas import UnknownForm, validate_form
from services import (
    access,
    applicant_mail,
    audit_log,
    clock,
    credit_code,
    document_rendering,
    documents,
    files,
    lanes,
    materials,
    summary,
    trips,
    webhooks,
)
from services.actors import Actor
from services.definitions import compiled, current_definition
from services.engine_steps import definition_ref, run_step
from services.errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from services.form_context import form_context
from services.uow import UnitOfWork
from storage.models import Case, HumanTask, User
from storage.types import utcnow

CHANNELS = ("window", "post", "online")
DELIVERY_MODES = ("window", "post", "online")
BEIJING = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Applicant:
    name: str
    credit_code: str | None = None
    contact: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    email_consent: bool = False  # agreed to e-mail notices (recorded with the time on the case)

    def as_data(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and k != "email_consent"}


@dataclass(frozen=True)
class Registration:
    case_id: int
    reference: str
    lookup_code: str


@dataclass
class CommandResult:
    case_id: int
    version: int
    status: str
    new_tasks: list[str] = field(default_factory=list)
    documents: list[documents.Issued] = field(default_factory=list)  # issued by this command


# ---------------------------------------------------------------- helpers

def _catalog_process_id(matter_code: str) -> str:
    from workflows.catalog import shipped_catalog

    try:
        return shipped_catalog().matter(matter_code).process_id
    except KeyError:
        raise NotFound(N_("Unknown matter %(code)s."), code=matter_code) from None


def _get_case(session: Session, case_id: int) -> Case:
    # the version's row comes with it: every engine command needs its reference (files stay deferred)
    case = session.get(Case, case_id, options=[undefer(Case.state), joinedload(Case.definition)])
    if case is None:
        raise NotFound(N_("Case %(id)s does not exist."), id=case_id)
    return case


def _get_task(session: Session, task_id: str, with_case: bool = False) -> HumanTask:
    """``with_case``: the case (its state and version's row included) comes in the same query, for a command
    that reads both (the case then stays in the session's identity map while the task is held)."""
    options = [joinedload(HumanTask.case).options(undefer(Case.state), joinedload(Case.definition))] \
        if with_case else []
    task = session.get(HumanTask, task_id, options=options)
    if task is None:
        raise NotFound(N_("Task %(id)s does not exist."), id=task_id)
    return task


# Case columns derived from the workflow or its clock; written by the guarded UPDATE together with the state.
_DERIVED = ("status", "incident", "outcome", "completed_at", "accepted_on", "due_on", "promised_due_on",
            "clock_running", "clock_flag", "trips", "trip_flag", "materials_received_on", "acceptance_due_on",
            "deemed_accepted_on", "supplement_notices")


STALE = N_("This case was changed by someone else in the meantime. "
           "Reload the page to see the current state; nothing was saved.")


def _save_case(session: Session, case: Case, outcome: StepOutcome, seen_version: int) -> int:
    """Write the step's new state only if nobody else did since we read it."""
    now = utcnow()
    if case.status == "active" and outcome.completed:
        case.status, case.completed_at = "completed", now
        case.outcome = _outcome(outcome.data)
    _record_trips(case, outcome.data)
    values: dict[str, Any] = {name: getattr(case, name) for name in _DERIVED}
    values.update(
        state=outcome.state,
        serializer_version=runtime.SERIALIZER_VERSION,
        version=seen_version + 1,
        updated_at=now,
        next_timer_due=outcome.next_timer_due,
    )
    return _guarded_update(session, case, seen_version, values)


@functools.cache
def _guarded_statement(columns: tuple[str, ...]) -> Update:
    """UPDATE cases SET <columns> WHERE id = :case_id AND version = :seen_version, built once per column set:
    the command's hottest statement, whose construction cost more than its execution."""
    table = Case.__table__
    return (update(table)
            .where(table.c.id == bindparam("case_id"), table.c.version == bindparam("seen_version"))
            .values({name: bindparam(f"v_{name}", type_=table.c[name].type) for name in columns}))


def _guarded_update(session: Session, case: Case, seen_version: int, values: dict[str, Any]) -> int:
    result = session.execute(
        _guarded_statement(tuple(sorted(values))),
        {"case_id": case.id, "seen_version": seen_version, **{f"v_{k}": v for k, v in values.items()}},
    )
    if result.rowcount != 1:
        raise Conflict(STALE)
    for key, value in values.items():
        # Already written: record as the loaded value so the ORM does not write the state a second time.
        set_committed_value(case, key, value)
    summary.touch(session, case.id)  # the supervisors' summary follows before the commit
    return seen_version + 1


def _registered_on(case: Case, data: dict[str, Any]) -> str | None:
    """The day the application was registered (the applicant's visit for a window application)."""
    value = data.get("registered_on")
    if isinstance(value, str) and value:
        return value
    return case.created_at.astimezone(BEIJING).date().isoformat() if case.created_at else None


def _record_trips(case: Case, data: dict[str, Any]) -> None:
    count = trip_count(case, data)
    case.trips = count.trips
    case.trip_flag = None if count.meets_run_once else "；".join(count.reasons)


def trip_count(case: Case, data: dict[str, Any]) -> trips.TripCount:
    """Trips by the run-once rules, from what the case recorded so far (补正 visits, visits after delivery such as
    m08's cancellation at the window, the hand-over), with the reason of each.  即办 (result handed over in the
    application visit) is taken from the dates — the pick-up on the day of registration — not from the form's
    checkbox.  The case page shows the reasons beside the number."""
    registered = _registered_on(case, data)
    pickup = data.get("pickup_date")
    same_visit = (case.channel == "window" and case.delivery_mode == "window" and bool(data.get("delivered"))
                  and isinstance(pickup, str) and pickup == registered)
    count = trips.count_trips(
        case.channel,
        case.delivery_mode,
        same_visit_handover=same_visit,
        in_person_supplements=int(data.get("in_person_supplements") or 0),
        extra_visits=int(data.get("extra_visits") or 0),
        # An open case counts its planned pick-up; a case that ended without a result has none to collect.
        result_delivered=case.status in ("active", "incident") or bool(data.get("delivered")),
    )
    reasons, ids = list(count.reasons), list(count.reason_ids)
    if bool(data.get("same_visit_handover")) and not same_visit and case.delivery_mode == "window":
        reasons.insert(0, trips.handover_not_same_day(pickup if isinstance(pickup, str) else None, registered))
        ids.insert(0, (trips.HANDOVER_NOT_SAME_DAY, {"pickup": pickup if isinstance(pickup, str) else "—",
                                                     "applied": registered or "—"}))
    return dataclasses.replace(count, reasons=reasons, reason_ids=ids)


def _materials_payload(session: Session, received) -> list[dict[str, Any]]:
    """What the audit event keeps of the materials: items and file references, never bytes."""
    out = []
    for entry in received:
        item: dict[str, Any] = {"item": entry.item_code}
        if entry.file_id:
            stored = files.get(session, entry.file_id)
            item.update(file_id=entry.file_id, sha256=stored.sha256 if stored else None)
        if entry.paper_form:
            item["paper"] = entry.paper_form
        out.append(item)
    return out


def _outcome(data: dict[str, Any]) -> str | None:
    value = data.get("outcome")
    return str(value) if value else None


def _sync_tasks(
    session: Session, case: Case, ready_tasks: list[TaskRow], completed_id: str | None, actor: Actor
) -> list[TaskRow]:
    """Make the task rows match the engine: insert newly READY tasks, close the ones that went away.
    Returns the new ones."""
    now = utcnow()
    ready = {t.id: t for t in ready_tasks}
    open_rows = session.execute(
        select(HumanTask).where(HumanTask.case_id == case.id, HumanTask.state == "ready")
    ).scalars().all()
    for row in open_rows:
        if row.id in ready:
            continue
        if row.id == completed_id:
            # Checked when the command was read, and again here: a claim does not move the case's version.
            if row.claimed_by not in (None, actor.user_id) and not actor.has_role("admin", "system", "applicant"):
                raise Conflict(N_("This task is claimed by someone else."))
            row.state, row.completed_at, row.completed_by = "completed", now, actor.user_id
        else:
            row.state, row.completed_at = "cancelled", now
    known = {row.id for row in open_rows}
    new = [task for task in ready.values() if task.id not in known]
    due = clock.task_due_at(session, case) if new else None
    for task in new:
        session.add(HumanTask(
            id=task.id, case_id=case.id, matter_code=case.matter_code, spec_name=task.spec_name,
            title=task.title, lane=lanes.resolve_lane(session, case.matter_code, task.lane), spec_lane=task.lane,
            role=task.properties.get("role") or None, form=task.form, state="ready", due_at=due, created_at=now,
        ))
    return new


def case_due_at(case: Case) -> datetime | None:
    """A due date ends at the close of that day in Beijing time."""
    if case.due_on is None:
        return None
    return datetime.combine(case.due_on, time(23, 59, 59), tzinfo=BEIJING)


def _apply_step(
    session: Session, case: Case, outcome: StepOutcome, seen_version: int, actor: Actor,
    completed_id: str | None = None,
) -> tuple[int, list[TaskRow]]:
    """The write phase shared by every engine command: incident or not, clock, guarded save, task rows.

    Returns (new version, the new tasks). A step that was stopped (`outcome.lost`) keeps the
    stored state and task rows: only the incident is written, so a retry runs the step again."""
    if outcome.incident is not None:
        case.status, case.incident = "incident", outcome.incident
    if outcome.lost:
        values = {"status": case.status, "incident": case.incident, "version": seen_version + 1,
                  "updated_at": utcnow()}
        return _guarded_update(session, case, seen_version, values), []
    clock.refresh(session, case, outcome.facts)
    version = _save_case(session, case, outcome, seen_version)
    return version, _sync_tasks(session, case, outcome.ready, completed_id, actor)


def _case_to_write(session: Session, case: Case, seen_version: int) -> Case:
    """The case read in the load phase, attached to the write transaction; Conflict when it changed since.

    Checked before anything is derived from the case (its clock rows, say), so a lost race is always a plain
    Conflict; the guarded UPDATE checks again at the end."""
    current = session.execute(select(Case.version).where(Case.id == case.id)).scalar_one_or_none()
    if current != seen_version:
        raise Conflict(STALE)
    session.add(case)
    return case


# ---------------------------------------------------------------- commands

def register_case(
    uow: UnitOfWork,
    *,
    matter_code: str,
    applicant: Applicant,
    channel: str,
    delivery_mode: str,
    actor: Actor,
    data: dict[str, Any] | None = None,
    received: list[materials.Received] | None = None,
    owner_token: str | None = None,
    also: Callable[[Session, Case], None] | None = None,
) -> Registration:
    """Register an application; ``received`` lists its materials by catalog item (uploaded files, made before
    the case existed under the applicant's ``owner_token``, or paper ticked at the window). ``also`` adds the
    caller's own writes to the registration's transaction (the API links its Idempotency-Key to the case)."""
    errors: dict[str, str] = {}
    if not applicant.name.strip():
        errors["applicant_name"] = N_("This field is required.")
    if applicant.credit_code and not credit_code.is_valid(applicant.credit_code):
        errors["applicant_credit_code"] = N_(
            "This unified social credit code is not valid (18 characters; the last one is a check character).")
    if channel not in CHANNELS:
        errors["channel"] = N_("Choose one of the offered values.")
    if delivery_mode not in DELIVERY_MODES:
        errors["delivery_mode"] = N_("Choose one of the offered values.")
    if errors:
        raise InvalidInput(N_("The application has errors; see the marked fields."), errors)
    if not actor.has_role("window", "admin", "system", "applicant"):
        raise Forbidden(N_("Only the approval office window can register applications."))

    process_id = _catalog_process_id(matter_code)
    start_data = copy.deepcopy(data or {})
    start_data.update(
        matter_code=matter_code, applicant=applicant.as_data(), channel=channel, delivery_mode=delivery_mode,
        registered_on=clock.today().isoformat(),
    )
    definition_id, definition_label, outcome = start_step(
        uow, process_id, start_data, N_("The application has errors; see the marked fields."))
    # write
    with uow:
        session = uow.session
        case = Case(
            reference=f"TMP-{secrets.token_hex(8)}", lookup_code=secrets.token_hex(4).upper(),
            matter_code=matter_code, definition_id=definition_id, status="active",
            applicant_name=applicant.name.strip(),
            applicant_credit_code=(applicant.credit_code or "").strip().upper() or None,
            applicant_contact=applicant.contact, applicant_phone=applicant.phone,
            applicant_email=applicant.email, channel=channel, delivery_mode=delivery_mode,
            email_consent_at=utcnow() if applicant.email and applicant.email_consent else None,
            state="", serializer_version=runtime.SERIALIZER_VERSION, version=0, created_by=actor.username,
        )
        session.add(case)
        session.flush()
        summary.touch(session, case.id)
        case.reference = f"{utcnow():%Y}{matter_code.upper()}{case.id:06d}"
        session.flush()
        files.attach(session, [r.file_id for r in received or () if r.file_id], case.id, owner_token)
        materials.record(session, case.id, matter_code, received or (), stage="application", channel=channel,
                         actor=actor.username)
        if outcome.state is None:  # the start itself failed: keep the case as an incident with no state
            case.status, case.incident, case.version = "incident", outcome.incident, 1
        else:
            _apply_step(session, case, outcome, 0, actor)
        # The 收件回执, numbered in this transaction (workflows/documents.toml: on_registration); its PDF follows.
        issued = documents.issue_on_registration(uow, case, actor=actor, data=start_data)
        if also is not None:
            also(session, case)
        audit_log.record(
            session, actor, "case.registered", case_id=case.id,
            after={"reference": case.reference, "matter_code": matter_code, "channel": channel,
                   "delivery_mode": delivery_mode, "applicant": applicant.as_data(),
                   "definition": definition_label,
                   "materials": _materials_payload(session, received or ()),
                   "email_consent": case.email_consent_at is not None},
            documents=[d.audit_entry() for d in issued],
        )
        uow.commit()
        registration = Registration(case.id, case.reference, case.lookup_code)
    document_rendering.after_commit(uow, [d.id for d in issued])
    return registration


def start_step(uow: UnitOfWork, process_id: str, start_data: dict[str, Any], refused: str
               ) -> tuple[int, str, StepOutcome]:
    """The load and compute phases of starting a case on the current version of `process_id`: (definition id,
    "process vN" for the audit, the start step's outcome). Start data the engine cannot store is refused with
    the message `refused`."""
    # load
    with uow.reader() as r:
        definition = current_definition(r.session, process_id)
        definition_id, label = definition.id, f"{definition.process_id} v{definition.version}"
        ref = definition_ref(definition)
    # compute
    outcome = run_step(ref, START, data=start_data)
    if outcome.refusal == BAD_DATA:
        raise InvalidInput(refused, {outcome.refusal_path or "__all__": N_("This value cannot be stored.")})
    return definition_id, label, outcome


def claim_task(uow: UnitOfWork, task_id: str, actor: Actor) -> None:
    with uow:
        session = uow.session
        task = _get_task(session, task_id)
        if not actor.works_lane(task.lane):
            raise Forbidden(N_("This task belongs to %(lane)s; you cannot claim it."), lane=task.lane)
        if not actor.has_task_role(task.role):
            raise Forbidden(N_("Only the lead of %(lane)s can do this task."), lane=task.lane)
        if task.state != "ready":
            raise Conflict(N_("This task is no longer open."))
        if task.claimed_by == actor.user_id:
            return
        result = session.execute(
            update(HumanTask)
            .where(HumanTask.id == task_id, HumanTask.state == "ready", HumanTask.claimed_by.is_(None))
            .values(claimed_by=actor.user_id).execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise Conflict(N_("Someone else claimed this task first."))
        audit_log.record(session, actor, "task.claimed", case_id=task.case_id, task=task_id, title=task.title,
                         before={"claimed_by": None}, after={"claimed_by": actor.username})
        uow.commit()


def claim_next_task(uow: UnitOfWork, case_id: int, lane: str | None, actor: Actor) -> HumanTask | None:
    """After completing a task: the case's next open task in the same lane, when this person may work it and
    nobody has claimed it, is claimed for them (one click to release it). None when there is no such task or
    a colleague was faster."""
    if lane is None or not actor.works_lane(lane) or actor.user_id is None:
        return None
    with uow.reader() as r:
        candidates = r.session.execute(
            select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "ready",
                                    HumanTask.lane == lane, HumanTask.claimed_by.is_(None))
            .order_by(HumanTask.created_at, HumanTask.id)
        ).scalars().all()
        offered = next((t for t in candidates if actor.has_task_role(t.role)), None)
        if offered is None:
            return None
        r.session.expunge(offered)
    try:
        claim_task(uow, offered.id, actor)
    except (Conflict, Forbidden):
        return None
    return offered


def release_task(uow: UnitOfWork, task_id: str, actor: Actor) -> None:
    with uow:
        session = uow.session
        task = _get_task(session, task_id)
        if task.state != "ready":
            raise Conflict(N_("This task is no longer open."))
        if task.claimed_by is None:
            return
        is_lead = actor.has_role("lead", "admin") and actor.works_lane(task.lane)
        if task.claimed_by != actor.user_id and not is_lead:
            if not actor.works_lane(task.lane):
                raise Forbidden(N_("Only the person who claimed this task or the unit lead can release it."))
            # Someone of the unit whose claim was taken over (reassigned) in the meantime: a lost race.
            raise Conflict(N_("This task is claimed by someone else."))
        previous = session.get(User, task.claimed_by)
        result = session.execute(
            update(HumanTask).where(HumanTask.id == task_id, HumanTask.claimed_by == task.claimed_by)
            .values(claimed_by=None).execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise Conflict(N_("This task was changed by someone else in the meantime."))
        audit_log.record(session, actor, "task.released", case_id=task.case_id, task=task_id, title=task.title,
                         before={"claimed_by": previous.username if previous else None},
                         after={"claimed_by": None})
        uow.commit()


def reassign_task(uow: UnitOfWork, task_id: str, to_user_id: int, actor: Actor, reason: str) -> None:
    """A lead gives a task to a colleague: the reason is audited and the new owner is told (bell and e-mail)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(N_("Say why the task is reassigned."), {"reason": N_("This field is required.")})
    with uow:
        session = uow.session
        task = _get_task(session, task_id)
        if not (actor.has_role("lead", "admin") and actor.works_lane(task.lane)):
            raise Forbidden(N_("Only the lead of the unit can reassign its tasks."))
        if task.state != "ready":
            raise Conflict(N_("This task is no longer open."))
        target = session.get(User, to_user_id)
        if target is None or not target.active:
            raise NotFound(N_("User %(id)s does not exist."), id=to_user_id)
        from services.actors import actor_for

        target_actor = actor_for(session, target)
        if not target_actor.works_lane(task.lane):
            raise InvalidInput(N_("%(user)s does not work in %(lane)s."), user=target.display_name,
                               lane=task.lane)
        if not target_actor.has_task_role(task.role):
            raise InvalidInput(N_("Only the lead of %(lane)s can do this task."), lane=task.lane)
        previous = session.get(User, task.claimed_by) if task.claimed_by else None
        result = session.execute(
            update(HumanTask).where(HumanTask.id == task_id, HumanTask.state == "ready",
                                    HumanTask.claimed_by.is_(task.claimed_by) if task.claimed_by is None
                                    else HumanTask.claimed_by == task.claimed_by)
            .values(claimed_by=target.id).execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise Conflict(N_("This task was changed by someone else in the meantime."))
        audit_log.record(session, actor, "task.reassigned", case_id=task.case_id, task=task_id, title=task.title,
                         reason=reason[:2000], before={"claimed_by": previous.username if previous else None},
                         after={"claimed_by": target.username})
        from services import reminders

        reminders.task_assigned(session, task, target_id=target.id, by=actor, reason=reason[:500])
        uow.commit()


def completion_conflict(task: HumanTask, case: Case | None, actor: Actor) -> Conflict | None:
    """Why completing `task` now would fail because someone else acted first (the task closed, claimed by
    another, the case no longer active), or None. A page answers such a refusal 409 with this message."""
    if task.state != "ready":
        return Conflict(N_("This task was already completed or cancelled."))
    # The applicant's own online answer (supplements) supersedes a clerk's claim on the receiving task.
    if task.claimed_by not in (None, actor.user_id) and not actor.has_role("admin", "system", "applicant"):
        return Conflict(N_("This task is claimed by someone else."))
    if case is not None and case.status != "active":
        return Conflict(N_("This case is %(status)s; its tasks cannot be completed."), status=case.status)
    return None


def complete_task(
    uow: UnitOfWork,
    task_id: str,
    form_data: dict[str, Any],
    actor: Actor,
    expected_version: int | None = None,
    also: Callable[[Session, Case], None] | None = None,
) -> CommandResult:
    """Validate → run the engine in a worker → persist and audit in one short transaction.

    ``also`` adds the caller's own writes to the same (write) transaction (e.g. materials recorded by item)."""
    # load
    with uow.reader() as r:
        session = r.session
        task = _get_task(session, task_id, with_case=True)
        if not actor.works_lane(task.lane):
            raise Forbidden(N_("This task belongs to %(lane)s; you cannot complete it."), lane=task.lane)
        if not actor.has_task_role(task.role):
            raise Forbidden(N_("Only the lead of %(lane)s can do this task."), lane=task.lane)
        conflict = completion_conflict(task, None, actor)
        if conflict is not None:
            raise conflict
        if task.form:
            context = form_context(session, matter_code=task.matter_code, task_name=task.spec_name, actor=actor)
            try:
                problems = validate_form(task.form, form_data, context)
            except UnknownForm:
                problems = {}
            if problems:
                raise InvalidInput(
                    N_("The form has errors; see the marked fields."),
                    {name: msgid % params if params.get("limit") is not None else msgid
                     for name, (msgid, params) in problems.items()},
                )
        foreign = files.foreign_refs(session, form_data, task.case_id)
        if foreign:
            raise InvalidInput(N_("The form has errors; see the marked fields."), foreign)
        case = _get_case(session, task.case_id)
        conflict = completion_conflict(task, case, actor)
        if conflict is not None:
            raise conflict
        seen, was_accepted, was_status = case.version, case.accepted_on is not None, case.status
        title, form_name, spec_name = task.title, task.form, task.spec_name
        if expected_version is not None and expected_version != seen:
            raise Conflict(STALE)
        _check_four_eyes(session, case, task.spec_name, actor)
        state, ref = case.state, definition_ref(case.definition)
    # compute
    outcome = run_step(ref, COMPLETE, state=state, task_id=task_id, data=form_data)
    if outcome.refusal == TASK_NOT_READY:
        raise Conflict(N_("This task was already completed or cancelled."))
    if outcome.refusal == BAD_DATA:
        raise InvalidInput(N_("The form has errors; see the marked fields."),
                           {outcome.refusal_path or "__all__": N_("This value cannot be stored.")})
    # write
    with uow:
        session = uow.session
        case = _case_to_write(session, case, seen)
        version, new_tasks = _apply_step(session, case, outcome, seen, actor, completed_id=task_id)
        new_ids = [t.id for t in new_tasks]
        if outcome.lost:  # the step did not run to its end: the task stays open, the input is kept here
            audit_log.record(session, actor, "case.incident", case_id=case.id, task=task_id, title=title,
                             form=form_data, after={"outcome": case.outcome, "incident": case.incident})
            uow.commit()
            return CommandResult(case.id, version, case.status, new_ids)
        if also is not None:
            also(session, case)
        new_specs = [t.spec_name for t in new_tasks]
        applicant_mail.after_step(session, case, was_accepted=was_accepted, was_status=was_status,
                                  new_task_specs=new_specs)
        webhooks.after_step(session, case, was_accepted=was_accepted, was_status=was_status,
                            new_task_specs=new_specs, before=outcome.before, after=outcome.data)
        materials.record_from_form(session, case.id, case.matter_code, form_name, form_data,
                                   actor=actor.username, task_id=task_id)
        issued: list[documents.Issued] = []
        if not (case.incident or "").startswith(f"{spec_name}:"):  # the task itself did not fail
            # The document this step issues (workflows/documents.toml), numbered in this transaction; its PDF
            # is rendered after the commit (services.document_rendering), outside the write transaction.
            issued = documents.issue_for_task(uow, case, process_id=outcome.task_process_id, element_id=spec_name,
                                              task_id=task_id, form=form_name, data={**outcome.data, **form_data},
                                              actor=actor)
        old, new = audit_log.changed(outcome.before, outcome.data)
        audit_log.record(session, actor, "task.completed", case_id=case.id, task=task_id, title=title,
                         form=form_data, before=old, after=new,
                         **({"documents": [d.audit_entry() for d in issued]} if issued else {}))
        if case.status in ("completed", "incident"):
            audit_log.record(session, actor, f"case.{case.status}", case_id=case.id,
                             after={"outcome": case.outcome, "incident": case.incident})
        uow.commit()
        result = CommandResult(case.id, version, case.status, new_ids, issued)
    document_rendering.after_commit(uow, [d.id for d in issued])
    return result


FOUR_EYES = "differentFrom"  # user-task property: the id of an earlier task of the case another person did


def _check_four_eyes(session: Session, case: Case, spec_name: str, actor: Actor) -> None:
    """A task marked ``differentFrom=<task id>`` (the second inspector's review of the first one's record) is not
    completed by whoever completed that task last in this case."""
    try:
        spec = compiled(case.definition).human_tasks.get(spec_name)
    except BpmnError:  # a version that no longer parses: the step itself will say so, as an incident
        return
    other = spec.properties.get(FOUR_EYES) if spec is not None else None
    if not other or actor.user_id is None:
        return
    last = session.execute(
        select(HumanTask.completed_by, HumanTask.title)
        .where(HumanTask.case_id == case.id, HumanTask.spec_name == other, HumanTask.state == "completed")
        .order_by(HumanTask.completed_at.desc()).limit(1)
    ).first()
    if last is not None and last.completed_by == actor.user_id:
        raise Forbidden(N_("Another person than the one who did “%(step)s” must do this step."), step=last.title)


def withdraw_case(uow: UnitOfWork, case_id: int, reason: str, actor: Actor) -> None:
    if not reason.strip():
        raise InvalidInput(N_("Give the reason for the withdrawal."), {"reason": N_("This field is required.")})
    with uow:
        session = uow.session
        case = _get_case(session, case_id)
        if not access.may_withdraw(session, actor, case):
            raise Forbidden(N_("Only the window lead or a lead of a unit handling this case can withdraw it."))
        if case.status not in ("active", "incident"):
            raise Conflict(N_("This case is %(status)s and cannot be withdrawn."), status=case.status)
        seen, before = case.version, case.status
        wf = case_workflow(case)
        case.status = "withdrawn"
        _record_trips(case, runtime.workflow_data(wf) if wf is not None else {})
        result = session.execute(
            update(Case).where(Case.id == case_id, Case.version == seen)
            .values(status="withdrawn", version=seen + 1, updated_at=utcnow(), completed_at=utcnow(),
                    outcome="withdrawn", next_timer_due=None, clock_running=False,
                    trips=case.trips, trip_flag=case.trip_flag, materials_received_on=None,
                    acceptance_due_on=None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise Conflict(N_("This case was changed by someone else in the meantime. "
                              "Reload the page to see the current state; nothing was saved."))
        summary.touch(session, case_id)
        session.execute(
            update(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "ready")
            .values(state="cancelled", completed_at=utcnow()).execution_options(synchronize_session=False)
        )
        clock.stop(session, case)
        audit_log.record(session, actor, "case.withdrawn", case_id=case_id, reason=reason.strip(),
                         before={"status": before}, after={"status": "withdrawn"})
        uow.commit()


def retry_incident(
    uow: UnitOfWork, case_id: int, actor: Actor, corrections: dict[str, Any] | None = None
) -> CommandResult:
    """Run the failed step of an incident again, optionally with corrected data (top-level keys); audited
    with the corrections. A step that fails again leaves the case an incident with the new message."""
    if not actor.has_role("admin", "system"):
        raise Forbidden(N_("Only an administrator can retry a stopped case."))
    # load
    with uow.reader() as r:
        case = _get_case(r.session, case_id)
        if case.status != "incident":
            raise Conflict(N_("This case is %(status)s; only a stopped case can be retried."), status=case.status)
        if not case.state:
            raise Conflict(N_("This case stopped before it started; withdraw it and register it again."))
        seen, problem = case.version, case.incident
        state, ref = case.state, definition_ref(case.definition)
    # compute
    outcome = run_step(ref, RETRY, state=state, data=corrections)
    if outcome.refusal == BAD_DATA:
        raise InvalidInput(N_("The corrected data cannot be stored."),
                           {outcome.refusal_path or "__all__": N_("This value cannot be stored.")})
    # write
    with uow:
        session = uow.session
        case = _case_to_write(session, case, seen)
        case.status, case.incident = "active", None
        version, new_tasks = _apply_step(session, case, outcome, seen, actor)
        old, new = audit_log.changed(outcome.before, outcome.data) if not outcome.lost else ({}, {})
        audit_log.record(session, actor, "case.retried", case_id=case.id, before=old, after=new,
                         corrections=corrections or {}, previous_incident=problem, retried=outcome.retried,
                         result=case.status, incident=case.incident)
        uow.commit()
        return CommandResult(case.id, version, case.status, [t.id for t in new_tasks])


def fire_due_timers(uow: UnitOfWork, now: datetime | None = None, limit: int = 200) -> int:
    """Advance every case whose next timer is due; each case in its own transaction."""
    now = now or utcnow()
    with uow.reader() as reader:
        due_ids = reader.session.execute(
            select(Case.id).where(Case.status == "active", Case.next_timer_due <= now)
            .order_by(Case.next_timer_due).limit(limit)
        ).scalars().all()
    fired = 0
    for case_id in due_ids:
        try:
            fired += _fire_case_timers(uow, case_id, now)
        except Conflict:
            continue  # someone advanced it first; the next tick looks again
    return fired


def _fire_case_timers(uow: UnitOfWork, case_id: int, now: datetime) -> int:
    actor = Actor.system("scheduler")
    # load
    with uow.reader() as r:
        case = _get_case(r.session, case_id)
        if case.status != "active" or case.next_timer_due is None or case.next_timer_due > now:
            return 0
        seen, due = case.version, case.next_timer_due
        was_accepted, was_status = case.accepted_on is not None, case.status
        state, ref = case.state, definition_ref(case.definition)
    # compute
    outcome = run_step(ref, ADVANCE, state=state, now=now)
    # write
    with uow:
        session = uow.session
        case = _case_to_write(session, case, seen)
        _version, new_tasks = _apply_step(session, case, outcome, seen, actor)
        if not outcome.lost:
            new_specs = [t.spec_name for t in new_tasks]
            applicant_mail.after_step(session, case, was_accepted=was_accepted, was_status=was_status,
                                      new_task_specs=new_specs)
            webhooks.after_step(session, case, was_accepted=was_accepted, was_status=was_status,
                                new_task_specs=new_specs, before=outcome.before, after=outcome.data)
        old, new = audit_log.changed(outcome.before, outcome.data) if not outcome.lost else ({}, {})
        audit_log.record(session, actor, "timer.fired", case_id=case.id, before=old, after=new,
                         due=due.isoformat())
        if case.status in ("completed", "incident"):
            audit_log.record(session, actor, f"case.{case.status}", case_id=case.id,
                             after={"outcome": case.outcome, "incident": case.incident})
        uow.commit()
        return 1


def case_workflow(case: Case):
    """The case's workflow for read views (its data, the marked diagram); None if it never started.

    Call it while the case's session is open: the state and the definition load lazily.
    """
    if not case.state:
        return None
    return runtime.loads(case.state, compiled(case.definition))
