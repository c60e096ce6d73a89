"""Drive the scenario table of ``tests/workflows/driver.py`` through the service layer (``services.cases``).

The same scenarios that ``tests/workflows`` runs on plain SpiffWorkflow run here as a user would: the case is
registered, each step finds the READY ``HumanTask`` row of that name for the case and completes it as a user of
the task's lane (a demo user of that unit, through ``services.actors.actor_for``), and a CLOCK step pins the
engine's clock (``engine.clock.frozen_time``) and calls ``fire_due_timers(uow, now)``. Every command runs with
the engine's clock pinned to the scenario's time, so duration timers start when the scenario says they do.

At the end the Spiff-level expectations are checked against what the service layer stored (case row, task
rows, the saved engine state) plus service-level facts: the audit chain verifies, one ``task.completed`` event
per completed step, no READY task rows left on a completed case, the derived rows match the engine.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from driver import CLOCK, START_TIME, Scenario
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from engine import runtime
from engine.clock import frozen_time
from services import cases, demo
from services.actors import Actor, actor_for
from services.definitions import compiled
from services.uow import UnitOfWork
from storage import audit
from storage.db import Base
from storage.models import AuditEvent, Case, HumanTask, Unit, User
from workflows.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"

# Tables that hold what the seeding made (units, users, deployed definitions, settings); everything else is
# per-case data (cases, task rows, clocks, reminders, the audit log) and is emptied between scenarios.
SEEDED_TABLES = frozenset({"units", "users", "user_roles", "process_definitions", "matter_settings",
                           "holiday_notices", "scheduler_leases"})

WINDOW = Actor(username="window-registrar", roles=frozenset({"window"}))


# -- seeding and cleaning ------------------------------------------------------------------------------------------

def seed(uow: UnitOfWork) -> dict[str, Actor]:
    """The demo installation (units of the catalog, demo users, every matter deployed); returns lane -> Actor.

    The actor of a lane is the first demo user (by name) of the unit so named who is a handler and not a lead,
    built through ``actor_for`` exactly as the web layer builds it for a signed-in user.
    """
    demo.seed(uow, WORKFLOWS)
    people: dict[str, Actor] = {}
    with uow.reader() as r:
        session = r.session
        rows = session.execute(
            select(User, Unit.name_zh).join(Unit, User.unit_code == Unit.code).order_by(User.username)
        ).all()
        for user, lane in rows:
            if lane in people or not user.has_role("handler") or user.has_role("lead"):
                continue
            people[lane] = actor_for(session, user)
        for user, lane in rows:  # a unit staffed only by its lead (e.g. 厅领导, 法规处)
            if lane not in people and user.has_role("handler"):
                people[lane] = actor_for(session, user)
        for user, lane in rows:  # tasks restricted to a role within the lane (property "role": lead)
            for role in ("lead",):
                if user.has_role(role) and f"{lane}#{role}" not in people:
                    people[f"{lane}#{role}"] = actor_for(session, user)
    return people


def clear_cases(engine: Engine) -> None:
    """Delete every per-case row (and the audit log with its head), keeping units, users and definitions."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in SEEDED_TABLES:
                conn.execute(delete(table))


# -- running -------------------------------------------------------------------------------------------------------

@dataclass
class Step:
    spec_name: str
    task_id: str
    lane: str | None
    username: str
    title: str


@dataclass
class ServiceRun:
    scenario: Scenario
    case_id: int
    reference: str
    lookup_code: str
    steps: list[Step] = field(default_factory=list)
    fired: int = 0  # cases advanced by fire_due_timers during the scenario


def _split_start(start: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(register_case keyword arguments, extra start data such as report_type)."""
    data = copy.deepcopy({k: v for k, v in start.items() if not k.startswith("_")})
    kwargs = {
        "matter_code": data.pop("matter_code"),
        "applicant": cases.Applicant(**data.pop("applicant")),
        "channel": data.pop("channel"),
        "delivery_mode": data.pop("delivery_mode"),
    }
    return kwargs, data


def _ready_rows(session: Session, case_id: int) -> list[HumanTask]:
    return list(session.execute(
        select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "ready")
        .order_by(HumanTask.created_at, HumanTask.spec_name)
    ).scalars())


def process_id_of(matter_code: str) -> str:
    return load_catalog().matter(matter_code).process_id


def run_scenario(uow: UnitOfWork, sc: Scenario, people: dict[str, Actor]) -> ServiceRun:
    now = datetime.fromisoformat(sc.start.get("_start_time", START_TIME))
    kwargs, extra = _split_start(sc.start)
    assert process_id_of(kwargs["matter_code"]) == sc.matter, f"{sc.id}: start data names another matter"
    with frozen_time(now):
        reg = cases.register_case(uow, actor=WINDOW, data=extra, **kwargs)
    run = ServiceRun(sc, reg.case_id, reg.reference, reg.lookup_code)
    for name, payload in sc.steps:
        if name == CLOCK:
            moment = datetime.fromisoformat(payload)
            assert moment >= now, f"{sc.id}: the clock only moves forward ({payload} < {now.isoformat()})"
            now = moment
            with frozen_time(now):
                run.fired += cases.fire_due_timers(uow, now)
            continue
        with uow.reader() as r:
            rows = _ready_rows(r.session, reg.case_id)
            matching = [row for row in rows if row.spec_name == name]
            if len(matching) != 1:
                status = r.session.get(Case, reg.case_id)
                raise AssertionError(
                    f"{sc.id}: expected one READY task row {name!r}, READY rows are "
                    f"{sorted(row.spec_name for row in rows)} (case {status.status}, incident {status.incident!r})"
                )
            row = matching[0]
            task_id, lane, title, role = row.id, row.lane, row.title, row.role
        actor = (people.get(f"{lane}#{role}") if role else people.get(lane)) if lane else WINDOW
        assert actor is not None, f"{sc.id}: no user works the lane {lane!r} of {name!r}"
        with frozen_time(now):
            result = cases.complete_task(uow, task_id, copy.deepcopy(payload), actor)
        assert result.status in ("active", "completed"), (
            f"{sc.id}: after {name!r} the case is {result.status}: {_incident(uow, reg.case_id)}"
        )
        run.steps.append(Step(name, task_id, lane, actor.username, title))
    with frozen_time(now):  # like the Spiff-level driver: anything due at the last moment has fired
        run.fired += cases.fire_due_timers(uow, now)
    return run


def _incident(uow: UnitOfWork, case_id: int) -> str | None:
    with uow.reader() as r:
        return r.session.get(Case, case_id).incident


# -- checking ------------------------------------------------------------------------------------------------------

@dataclass
class Stored:
    """What the service layer stored for one case, read back after the run."""

    case: dict[str, Any]
    ready_rows: list[tuple[str, str, str | None]]  # (spec name, title, lane)
    task_rows: dict[str, tuple[str, int | None]]  # task id -> (state, completed_by)
    engine_ready: set[str]
    data: dict[str, Any]
    completed_elements: set[str]
    waiting_events: int
    events: list[tuple[str, str, dict[str, Any]]]  # (action, actor, payload) of the case, in order
    chain: audit.ChainCheck
    user_ids: dict[str, int]


def read_back(uow: UnitOfWork, run: ServiceRun) -> Stored:
    with uow.reader() as r:
        s = r.session
        case = s.get(Case, run.case_id)
        snapshot = {name: getattr(case, name) for name in (
            "status", "outcome", "incident", "trips", "trip_flag", "next_timer_due", "completed_at", "reference",
            "lookup_code", "channel", "delivery_mode", "applicant_name", "applicant_credit_code")}
        ready = [(row.spec_name, row.title, row.lane) for row in _ready_rows(s, run.case_id)]
        task_rows = {row.id: (row.state, row.completed_by) for row in s.execute(
            select(HumanTask).where(HumanTask.case_id == run.case_id)).scalars()}
        wf = runtime.loads(case.state, compiled(case.definition))
        events = [(e.action, e.actor, e.payload) for e in s.execute(
            select(AuditEvent).where(AuditEvent.case_id == run.case_id).order_by(AuditEvent.seq)).scalars()]
        chain = audit.verify(s)
        user_ids = dict(s.execute(select(User.username, User.id)).all())
    waiting = [e for e in wf.waiting_events() if e.event_type.endswith("EventDefinition")]
    return Stored(
        case=snapshot,
        ready_rows=ready,
        task_rows=task_rows,
        engine_ready={t.spec_name for t in runtime.ready_human_tasks(wf)},
        data=runtime.workflow_data(wf),
        completed_elements=set(runtime.element_states(wf)["completed"]),
        waiting_events=len(waiting),
        events=events,
        chain=chain,
        user_ids=user_ids,
    )


def check_expectations(run: ServiceRun, got: Stored) -> None:
    """The Spiff-level expectations of the scenario, checked on what the service layer stored."""
    sc, exp = run.scenario, run.scenario.expect
    case = got.case
    ready = {name for name, _, _ in got.ready_rows}
    assert case["incident"] is None, f"{sc.id}: incident {case['incident']!r}"
    assert case["status"] == ("completed" if exp.completed else "active"), (
        f"{sc.id}: case status {case['status']!r}, READY task rows {sorted(ready)}"
    )
    assert ready == exp.ready, f"{sc.id}: READY task rows {sorted(ready)} != expected {sorted(exp.ready)}"
    assert ready == got.engine_ready, f"{sc.id}: task rows {sorted(ready)} != engine {sorted(got.engine_ready)}"
    missing = exp.ends - got.completed_elements
    assert not missing, f"{sc.id}: end events not reached {sorted(missing)}"
    unexpected = exp.not_ends & got.completed_elements
    assert not unexpected, f"{sc.id}: end events reached although they should not be: {sorted(unexpected)}"
    if exp.waiting_timers is not None:
        assert got.waiting_events == exp.waiting_timers, f"{sc.id}: {got.waiting_events} waiting events"
        assert (case["next_timer_due"] is not None) == (exp.waiting_timers > 0), (
            f"{sc.id}: next_timer_due {case['next_timer_due']} with {exp.waiting_timers} waiting timers"
        )
    if exp.completed:
        assert case["next_timer_due"] is None, f"{sc.id}: a completed case has next_timer_due"
    for key, value in exp.data.items():
        assert key in got.data, f"{sc.id}: data key {key!r} missing from the stored case"
        assert got.data[key] == value, f"{sc.id}: {key} = {got.data[key]!r}, expected {value!r}"
    if exp.completed:
        assert case["outcome"] == got.data.get("outcome"), (
            f"{sc.id}: case.outcome {case['outcome']!r} != workflow outcome {got.data.get('outcome')!r}"
        )
        assert case["outcome"], f"{sc.id}: a completed case has no outcome"
        if "outcome" in exp.data:
            assert case["outcome"] == exp.data["outcome"]
    else:
        assert case["outcome"] is None, f"{sc.id}: an open case has outcome {case['outcome']!r}"
    if exp.trips is not None:
        assert case["trips"] == exp.trips, f"{sc.id}: case.trips {case['trips']} != {exp.trips}"
        assert (case["trip_flag"] is not None) == (exp.trips > 1), (
            f"{sc.id}: trips {case['trips']}, trip_flag {case['trip_flag']!r}"
        )


def check_service_facts(run: ServiceRun, got: Stored) -> None:
    """What the service layer promises beyond the engine: audit, derived rows, registration."""
    sc = run.scenario
    assert got.chain.ok, f"{sc.id}: audit chain broken at {got.chain.bad_seq}: {got.chain.problem}"
    actions = [action for action, _, _ in got.events]
    assert actions[0] == "case.registered", f"{sc.id}: first event {actions[:1]}"
    completed = [(actor, payload) for action, actor, payload in got.events if action == "task.completed"]
    assert len(completed) == len(run.steps), (
        f"{sc.id}: {len(completed)} task.completed events for {len(run.steps)} completed steps"
    )
    for step, (actor, payload) in zip(run.steps, completed, strict=True):
        assert payload.get("task") == step.task_id and actor == step.username, (
            f"{sc.id}: task.completed event {payload.get('task')} by {actor} != step {step}"
        )
        assert payload.get("title") == step.title
        state, completed_by = got.task_rows[step.task_id]
        assert state == "completed", f"{sc.id}: task row of {step.spec_name} is {state}"
        assert completed_by == got.user_ids[step.username], f"{sc.id}: {step.spec_name} completed_by {completed_by}"
    ends = actions.count("case.completed")
    assert ends == (1 if got.case["status"] == "completed" else 0), f"{sc.id}: case.completed events {ends}"
    if got.case["status"] == "completed":
        # the last step's document (if any) gets its PDF after the command: its document.issued may follow
        last = [a for a in actions if a != "document.issued"][-1]
        assert last == "case.completed", f"{sc.id}: last event {last}"
        assert not got.ready_rows, f"{sc.id}: READY task rows left on a completed case: {got.ready_rows}"
        assert got.case["completed_at"] is not None
    assert "incident" not in " ".join(actions)
    for name, title, lane in got.ready_rows:  # open tasks are shown by their Chinese title and lane
        assert title and title != name and any("\u4e00" <= ch <= "\u9fff" for ch in title), (name, title)
        assert lane, f"{sc.id}: task {name} has no lane"
    applicant = sc.start["applicant"]
    assert got.case["applicant_name"] == applicant["name"]
    assert got.case["applicant_credit_code"] == applicant["credit_code"]
    assert (got.case["channel"], got.case["delivery_mode"]) == (sc.start["channel"], sc.start["delivery_mode"])
    assert got.case["reference"] == run.reference and got.case["lookup_code"] == run.lookup_code


def truncate_all(engine: Engine) -> None:
    """Empty every table of a migrated database (the PostgreSQL test database is shared by the session)."""
    import storage.models  # noqa: F401 - registers the tables

    if engine.dialect.name == "postgresql":
        from sqlalchemy import text

        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        return
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))
