"""Engine steps run in the worker pool: a runaway diagram (stuck in C code, where the in-process budget cannot
stop it) becomes an incident with a plain message, its worker is replaced, and the database is not held
while it runs — on SQLite and PostgreSQL, through the real pool."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psutil
import pytest
import runaway_diagrams
from sqlalchemy import select
from world import APPLICANT, build_world

from engine import pool as engine_pool
from services import cases, definitions, users
from services.actors import Actor
from services.uow import UnitOfWork
from storage.models import AuditEvent, Case, HumanTask
from storage.types import utcnow

LIMITS = engine_pool.PoolSettings(workers=2, deadline=4.0, cpu_seconds=1, memory_mb=400, acquire_timeout=30.0)


@pytest.fixture
def tight_pool():
    """The process's shared pool with short limits, so a runaway is stopped within seconds."""
    pool = engine_pool.configure(LIMITS)
    yield pool
    engine_pool.configure(engine_pool.PoolSettings.from_mapping())


@pytest.fixture
def world(uow):
    return build_world(uow)


def _deploy_and_register(world, monkeypatch, document: bytes, process_id: str) -> int:
    definitions.deploy_bundle(world.uow, {f"{process_id}.bpmn": document}, f"{process_id}.bpmn", Actor.system())
    monkeypatch.setattr(cases, "_catalog_process_id", lambda code: process_id)
    return cases.register_case(world.uow, matter_code="m01", applicant=APPLICANT, channel="window",
                               delivery_mode="post", actor=world.actors["window1"]).case_id


def _case(world, case_id: int) -> Case:
    with world.uow.reader() as r:
        return r.session.get(Case, case_id)


def _actions(world, case_id: int) -> list[AuditEvent]:
    with world.uow.reader() as r:
        return list(r.session.execute(select(AuditEvent).where(AuditEvent.case_id == case_id)
                                      .order_by(AuditEvent.seq)).scalars())


@pytest.mark.parametrize(("document", "process_id", "words"), [
    # Killed by its CPU limit or the deadline: the step is lost, the case keeps its state before it.
    (runaway_diagrams.CPU, "runaway_cpu", ("秒", " s ")),
    # MemoryError at the address-space limit: the script fails like any other (the task is completed, the
    # script task is in error), and the worker is replaced all the same.
    (runaway_diagrams.MEMORY, "runaway_memory", ("内存", "memory")),
], ids=["cpu", "memory"])
def test_a_runaway_step_becomes_an_incident_while_the_database_stays_free(
    world, monkeypatch, tight_pool, document, process_id, words
):
    case_id = _deploy_and_register(world, monkeypatch, document, process_id)
    task_id = world.ready_task(case_id, "first").id
    workers_before = set(tight_pool.worker_pids())
    replaced_before = tight_pool.stats["replaced"]
    rss_before = psutil.Process().memory_info().rss
    result: dict = {}

    def complete() -> None:
        own = UnitOfWork(world.uow.session_factory)  # a unit of work belongs to one thread
        result["value"] = cases.complete_task(own, task_id, {"note": "提交的内容"}, world.actors["window1"])

    runaway = threading.Thread(target=complete)
    runaway.start()
    time.sleep(0.3)
    # Meanwhile other commands write at once: nothing holds the database (SQLite's write lock included).
    latencies = []
    while runaway.is_alive():
        began = time.monotonic()
        users.create_user(world.uow, username=f"u{len(latencies)}", password="secret-123", display_name="x",
                          roles=("handler",), unit_code=None, actor=Actor.system())
        latencies.append(time.monotonic() - began)
        time.sleep(0.2)
    runaway.join()
    assert latencies and max(latencies) < 1.0, latencies
    assert psutil.Process().memory_info().rss - rss_before < 50 * 1024 * 1024  # the growth was the worker's

    assert result["value"].status == "incident"
    case = _case(world, case_id)
    assert case.status == "incident" and "已被终止" in case.incident
    assert any(w in case.incident for w in words), case.incident
    assert tight_pool.stats["replaced"] == replaced_before + 1
    assert not workers_before & set(tight_pool.worker_pids())  # the stopped worker is gone
    events = _actions(world, case_id)
    if process_id == "runaway_cpu":
        # The step did not finish: the task stays open, and what was entered is in the audit log.
        assert world.ready_task(case_id, "first").id == task_id
        assert events[-1].action == "case.incident" and events[-1].payload["form"] == {"note": "提交的内容"}
    else:
        assert world.ready_tasks(case_id) == [] and case.incident.startswith("spin: ")
        assert [e.action for e in events[-2:]] == ["task.completed", "case.incident"]
    # The pool serves the next case normally.
    monkeypatch.setattr(cases, "_catalog_process_id", lambda code: "m01_eia_approval")
    other = cases.register_case(world.uow, matter_code="m01", applicant=APPLICANT, channel="window",
                                delivery_mode="post", actor=world.actors["window1"], data={"report_type": "report"})
    assert _case(world, other.case_id).status == "active"


def test_a_stopped_step_is_retried_from_where_the_case_was(world, monkeypatch, tight_pool):
    case_id = _deploy_and_register(world, monkeypatch, runaway_diagrams.CPU, "runaway_cpu")
    task_id = world.ready_task(case_id, "first").id
    assert cases.complete_task(world.uow, task_id, {}, world.actors["window1"]).status == "incident"
    admin = Actor("admin", roles=frozenset({"admin"}))
    again = cases.retry_incident(world.uow, case_id, admin)  # nothing had failed in the saved state
    assert again.status == "active" and again.new_tasks == [], _case(world, case_id).incident
    assert world.ready_task(case_id, "first").id == task_id  # the person completes it again
    retried = _actions(world, case_id)[-1]
    assert retried.action == "case.retried" and "已被终止" in retried.payload["previous_incident"]


def test_a_script_out_of_memory_is_retried_and_stops_again(world, monkeypatch, tight_pool):
    case_id = _deploy_and_register(world, monkeypatch, runaway_diagrams.MEMORY, "runaway_memory")
    cases.complete_task(world.uow, world.ready_task(case_id, "first").id, {}, world.actors["window1"])
    replaced = tight_pool.stats["replaced"]
    again = cases.retry_incident(world.uow, case_id, Actor("admin", roles=frozenset({"admin"})))
    assert again.status == "incident" and "内存" in _case(world, case_id).incident
    assert tight_pool.stats["replaced"] == replaced + 1


def test_a_runaway_timer_stops_its_case_and_the_scheduler_goes_on(world, monkeypatch, tight_pool):
    case_id = _deploy_and_register(world, monkeypatch, runaway_diagrams.TIMER_CPU, "runaway_timer")
    assert _case(world, case_id).next_timer_due is not None
    later = utcnow() + timedelta(hours=2)
    assert cases.fire_due_timers(world.uow, later) == 1
    case = _case(world, case_id)
    assert case.status == "incident" and "已被终止" in case.incident
    assert [e.action for e in _actions(world, case_id)][-2:] == ["timer.fired", "case.incident"]
    assert cases.fire_due_timers(world.uow, later) == 0  # an incident is not fired again
    with world.uow.reader() as r:
        assert r.session.execute(select(HumanTask).where(HumanTask.case_id == case_id)).first() is None
