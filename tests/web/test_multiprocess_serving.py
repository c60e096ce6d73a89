"""`python app.py serve --workers 2` (gunicorn) and `python app.py scheduler` as real processes on one
PostgreSQL database: completions go through both web processes, timers are fired by exactly one scheduler
(the lease), and the audit chain holds."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from bench import http as m07
from bench.web_client import WebClient, free_port, running
from services import cases, definitions
from services.actors import Actor
from services.demo import DEMO_PASSWORD
from services.uow import UnitOfWork
from storage import audit
from storage.db import make_engine, make_session_factory
from storage.models import AuditEvent, Case, HumanTask

RELAY = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="relay" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="window" name="\xe5\xae\xa1\xe6\x89\xb9\xe5\x8a\x9e">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>first</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>wait</bpmn:flowNodeRef><bpmn:flowNodeRef>second</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>end</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="first" name="first"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition id="wait_timer"><bpmn:timeDuration>"PT2S"</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:userTask id="second" name="second"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first"/>
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="wait"/>
    <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="second"/>
    <bpmn:sequenceFlow id="f4" sourceRef="second" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""
POST_BY = re.compile(r'^<(\d+)> \S+ "POST /tasks/[^/ ]+ ')


def _wait_for(check, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # one database, several real processes
def test_two_web_processes_and_a_scheduler_process(db_url, tmp_path, monkeypatch):
    port = free_port()
    env = {"DATABASE_URL": db_url, "SECRET_KEY": "multi-" + "x" * 32, "RUNONCE_PASSWORD_HASH": "pbkdf2:sha256:1000",
           "SCHEDULER_ENABLED": "1", "ENGINE_WORKERS": "1"}  # every web process has a scheduler on standby
    web_log, scheduler_log = tmp_path / "web.log", tmp_path / "scheduler.log"
    engine = make_engine(db_url)
    uow = UnitOfWork(make_session_factory(engine))
    try:
        with running(["serve", "--workers", "2", "--threads", "4", "--port", str(port), "--access-log"], env,
                     port=port, log=web_log), \
             running(["scheduler", "--lease-ttl", "3"], env, log=scheduler_log):
            with uow.reader() as r:  # serve makes demo cases on an empty database: leave them out
                before = r.session.execute(select(func.coalesce(func.max(Case.id), 0))).scalar_one()
            # Cases of a small diagram with a 2-second timer, registered here; and m07 cases over HTTP.
            definitions.deploy_bundle(uow, {"relay.bpmn": RELAY}, "relay.bpmn", Actor.system())
            monkeypatch.setattr(cases, "_catalog_process_id", lambda code: "relay")
            relays = [cases.register_case(uow, matter_code="m01", applicant=cases.Applicant("某公司"),
                                          channel="window", delivery_mode="post", actor=Actor.system()).case_id
                      for _ in range(4)]
            find = m07.TaskFinder(db_url)
            errors: list[BaseException] = []
            done: list[int] = []

            def client(index: int) -> None:
                try:
                    # New connections for every request, so that both processes get some of them.
                    by_lane = {}
                    for lane, name in m07.USERS.items():
                        by_lane[lane] = WebClient("127.0.0.1", port, keep_alive=False)
                        by_lane[lane].login(name, DEMO_PASSWORD)
                    done.append(m07.http_case(by_lane, find))
                    window = by_lane["审批办"]
                    for case_id in relays[index::2]:
                        task_id, _lane = find(case_id)
                        assert window.post(f"/tasks/{task_id}", {}).status == 302
                    for case_id in relays[index::2]:  # the scheduler process fires the timer
                        _wait_for(lambda c=case_id: _open_task(uow, c) == "second", what=f"timer of {case_id}")
                        task_id, _lane = find(case_id)
                        assert window.post(f"/tasks/{task_id}", {}).status == 302
                except BaseException as exc:  # noqa: BLE001 - re-raised below
                    errors.append(exc)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
    except BaseException:
        print("--- web log ---", web_log.read_text()[-4000:] if web_log.exists() else "(none)",
              "--- scheduler log ---", scheduler_log.read_text()[-3000:] if scheduler_log.exists() else "(none)",
              sep="\n")
        raise
    assert done == [len(m07.steps())] * 2
    with uow.reader() as r:
        statuses = Counter(r.session.execute(select(Case.status).where(Case.id > before)).scalars())
        fired = r.session.execute(select(AuditEvent.case_id, func.count()).where(
            AuditEvent.action == "timer.fired", AuditEvent.case_id > before).group_by(AuditEvent.case_id)).all()
        assert audit.verify(r.session).ok
    assert statuses == {"completed": 6}
    assert sorted(count for _case, count in fired) == [1, 1, 1, 1]  # each timer fired once, by one scheduler
    pids = {match.group(1) for line in web_log.read_text().splitlines() if (match := POST_BY.match(line))}
    assert len(pids) == 2, pids  # completions went through both web processes
    engine.dispose()


def _open_task(uow: UnitOfWork, case_id: int) -> str | None:
    with uow.reader() as r:
        return r.session.execute(select(HumanTask.spec_name).where(HumanTask.case_id == case_id,
                                                                   HumanTask.state == "ready")).scalar()
