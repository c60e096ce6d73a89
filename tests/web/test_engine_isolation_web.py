"""A runaway diagram completed over HTTP: while its step runs in an engine worker, sign-in and pages of the
same web process answer at once and the web process does not grow; the step ends as an incident with a plain
message. The task POST itself loads no workflow and builds no page in the web process."""

from __future__ import annotations

import threading
import time

import psutil
import pytest
import runaway_diagrams
from sqlalchemy import select
from web_support import PASSWORD, login

from app import uow_for
from engine import pool as engine_pool
from engine import runtime
from services import cases, definitions
from services.actors import Actor
from storage.models import Case, HumanTask
from web import case_view, handler

LIMITS = engine_pool.PoolSettings(workers=2, deadline=4.0, cpu_seconds=1, memory_mb=400, acquire_timeout=30.0)
APPLICANT = cases.Applicant("吉林某化工有限公司")


@pytest.fixture
def tight_pool():
    pool = engine_pool.configure(LIMITS)
    yield pool
    engine_pool.configure(engine_pool.PoolSettings.from_mapping())


def _case_with_task(app, monkeypatch, document: bytes, process_id: str) -> tuple[int, str]:
    definitions.deploy_bundle(uow_for(app), {f"{process_id}.bpmn": document}, f"{process_id}.bpmn",
                              Actor.system())
    monkeypatch.setattr(cases, "_catalog_process_id", lambda code: process_id)
    case_id = cases.register_case(uow_for(app), matter_code="m01", applicant=APPLICANT, channel="window",
                                  delivery_mode="post", actor=Actor.system()).case_id
    with uow_for(app, write=False) as r:
        task_id = r.session.execute(select(HumanTask.id).where(HumanTask.case_id == case_id)).scalar_one()
    return case_id, task_id


@pytest.mark.parametrize("document", [runaway_diagrams.CPU, runaway_diagrams.MEMORY], ids=["cpu", "memory"])
def test_sign_in_answers_at_once_while_a_runaway_step_runs(app, monkeypatch, tight_pool, document):
    process_id = "runaway_cpu" if document is runaway_diagrams.CPU else "runaway_memory"
    case_id, task_id = _case_with_task(app, monkeypatch, document, process_id)
    worker = app.test_client()
    assert login(worker, "window1").status_code == 302
    answers: dict = {}

    def complete() -> None:
        answers["response"] = worker.post(f"/tasks/{task_id}", data={"expected_version": "1"})

    def sign_in_and_open_the_worklist() -> tuple[float, float]:
        other = app.test_client()
        began = time.monotonic()
        assert login(other, "eia1").status_code == 302
        signed_in = time.monotonic()
        assert other.get("/").status_code == 200
        return signed_in - began, time.monotonic() - signed_in

    sign_in_and_open_the_worklist()  # warm: templates compiled, connections open
    me = psutil.Process()
    rss_before = me.memory_info().rss
    runaway = threading.Thread(target=complete)
    runaway.start()
    time.sleep(0.3)
    timings, peak = [], rss_before
    while runaway.is_alive():
        timings.append(sign_in_and_open_the_worklist())
        peak = max(peak, me.memory_info().rss)
        time.sleep(0.1)
    runaway.join()
    assert timings and all(sign_in < 1.0 and page < 1.0 for sign_in, page in timings), timings
    assert peak - rss_before < 50 * 1024 * 1024, (rss_before, peak)  # the runaway grew the worker, not us

    response = answers["response"]
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/cases/{case_id}")
    with uow_for(app, write=False) as r:
        case = r.session.get(Case, case_id)
        assert case.status == "incident" and "已被终止" in case.incident
    page = worker.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "异常件" in page  # the flash says plainly that the case stopped


def test_a_task_post_loads_no_workflow_and_builds_no_page_here(app, monkeypatch):
    _case_id, task_id = _case_with_task(app, monkeypatch, runaway_diagrams.runaway("plain", "x = 1"), "plain")
    client = app.test_client()
    login(client, "window1", PASSWORD)
    calls: list[str] = []
    real_loads, real_context = runtime.loads, handler._task_context
    monkeypatch.setattr(runtime, "loads", lambda *a, **k: calls.append("loads") or real_loads(*a, **k))
    monkeypatch.setattr(handler, "_task_context",
                        lambda *a, **k: calls.append("context") or real_context(*a, **k))
    monkeypatch.setattr(case_view, "workflow_data", lambda case: calls.append("data") or {})
    stale = client.post(f"/tasks/{task_id}", data={"expected_version": "7"})  # shown again: the page
    assert stale.status_code == 409 and "context" in calls
    calls.clear()
    response = client.post(f"/tasks/{task_id}", data={"expected_version": "1"})
    assert response.status_code == 302 and calls == []
