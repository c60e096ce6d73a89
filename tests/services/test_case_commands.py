"""Case commands through the service layer: concurrency, restarts, stale edits, permissions, bad input,
incidents and deployments — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from world import APPLICANT, ROOT, build_world

from engine.errors import BpmnError
from services import cases, definitions
from services.actors import Actor
from services.errors import Conflict, Forbidden, InvalidInput
from services.uow import UnitOfWork
from storage import audit
from storage.models import AuditEvent, Case, HumanTask, ProcessDefinition

COMPLETE = {"received_date": "2018-05-02", "intake_result": "complete", "check_notes": "材料齐全"}
ACCEPT = {"acceptance_date": "2018-05-04"}


@pytest.fixture
def world(uow):
    return build_world(uow)


def _register(world, **kw) -> int:
    args = dict(matter_code="m01", applicant=APPLICANT, channel="window", delivery_mode="post",
                actor=world.actors["window1"], data={"report_type": "report"})
    args.update(kw)
    return cases.register_case(world.uow, **args).case_id


def _count(uow: UnitOfWork, query) -> int:
    with uow.reader() as r:
        return r.session.execute(query).scalar_one()


def _case(uow: UnitOfWork, case_id: int) -> Case:
    with uow.reader() as r:
        return r.session.get(Case, case_id)


def test_register_starts_the_case_at_the_window(world):
    case_id = _register(world)
    case = _case(world.uow, case_id)
    assert case.status == "active" and case.version == 1 and case.reference.endswith(f"{case_id:06d}")
    [task] = world.ready_tasks(case_id)
    assert (task.spec_name, task.lane, task.form) == ("check_materials", "审批办", "materials_check.json")
    assert case.trips == 1 and case.trip_flag is None  # window application, result by post


def test_register_rejects_a_bad_credit_code_and_writes_nothing(world):
    bad = cases.Applicant("某公司", "91350100M000100Y44")
    with pytest.raises(InvalidInput) as err:
        _register(world, applicant=bad)
    assert "applicant_credit_code" in err.value.errors
    assert _count(world.uow, select(func.count()).select_from(Case)) == 0


@pytest.mark.parametrize("round_", range(12))
def test_two_people_complete_the_same_task_at_once(world, round_):
    """Exactly one wins; the other is told of the conflict; the log holds one completion."""
    case_id = _register(world)
    task_id = world.ready_task(case_id, "check_materials").id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def complete() -> None:
        uow = UnitOfWork(world.uow.session_factory)
        barrier.wait()
        try:
            cases.complete_task(uow, task_id, COMPLETE, world.actors["window1"])
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=complete) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    completions = _count(world.uow, select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "task.completed", AuditEvent.case_id == case_id))
    assert completions == 1
    assert _case(world.uow, case_id).version == 2
    with world.uow.reader() as r:
        assert audit.verify(r.session).ok


def test_a_stale_form_is_refused_and_nothing_is_half_written(world):
    case_id = _register(world)
    task_id = world.ready_task(case_id, "check_materials").id
    events_before = _count(world.uow, select(func.count()).select_from(AuditEvent))
    with pytest.raises(Conflict):
        cases.complete_task(world.uow, task_id, COMPLETE, world.actors["window1"], expected_version=0)
    case = _case(world.uow, case_id)
    assert case.version == 1
    assert world.ready_task(case_id, "check_materials").id == task_id
    assert _count(world.uow, select(func.count()).select_from(AuditEvent)) == events_before


def test_claims_are_exclusive_and_lanes_are_enforced(world):
    case_id = _register(world)
    task_id = world.ready_task(case_id, "check_materials").id
    with pytest.raises(Forbidden):
        cases.claim_task(world.uow, task_id, world.actors["eia1"])  # another unit's lane
    cases.claim_task(world.uow, task_id, world.actors["window1"])
    window2 = world.actors["window2"]
    with pytest.raises(Conflict):
        cases.claim_task(world.uow, task_id, window2)
    with pytest.raises(Conflict):
        cases.complete_task(world.uow, task_id, COMPLETE, window2)
    with pytest.raises(Conflict):  # a colleague's claim: from the page, a claim taken over meanwhile
        cases.release_task(world.uow, task_id, window2)
    with pytest.raises(Forbidden):  # another unit's task
        cases.release_task(world.uow, task_id, world.actors["eia1"])
    cases.release_task(world.uow, task_id, world.actors["window1"])
    cases.claim_task(world.uow, task_id, window2)
    actions = [e for e, in _events(world.uow, case_id)]
    assert actions.count("task.claimed") == 2 and actions.count("task.released") == 1


def test_a_lead_reassigns_within_the_unit_only(world, uow):
    case_id = _register(world)
    cases.complete_task(uow, world.ready_task(case_id, "check_materials").id, COMPLETE, world.actors["window1"])
    cases.complete_task(uow, world.ready_task(case_id, "issue_acceptance").id, ACCEPT, world.actors["window1"])
    task = world.ready_task(case_id, "publish_acceptance_public_notice")
    assert task.lane == "环评处"
    with pytest.raises(Forbidden):
        cases.reassign_task(uow, task.id, world.actors["eia2"].user_id, world.actors["eia1"], "leave")  # not a lead
    with pytest.raises(InvalidInput):
        cases.reassign_task(uow, task.id, world.actors["window1"].user_id, world.actors["eia_lead"], "leave")
    with pytest.raises(InvalidInput):  # a reason is required
        cases.reassign_task(uow, task.id, world.actors["eia2"].user_id, world.actors["eia_lead"], "  ")
    cases.reassign_task(uow, task.id, world.actors["eia2"].user_id, world.actors["eia_lead"], "李强休假")
    assert world.ready_task(case_id, "publish_acceptance_public_notice").claimed_by == world.actors["eia2"].user_id
    # audited with the reason; the new owner is told in the bell and by e-mail (the mail job's message)
    from services import mailer
    from storage.models import Reminder

    with uow.reader() as r:
        event = r.session.execute(select(AuditEvent).where(AuditEvent.action == "task.reassigned")).scalar_one()
        assert event.payload["reason"] == "李强休假"
        reminder = r.session.execute(select(Reminder).where(Reminder.kind == "task_assigned")).scalar_one()
        assert reminder.user_id == world.actors["eia2"].user_id and reminder.subject_id == task.id
        mail = mailer.compose(reminder, "zh_CN", ["eia2@example.cn"], mailer.MailSettings())
    body = mail.get_content()
    assert "改派给您" in body and "李强休假" in body and "任务改派" in mail["Subject"]


def test_bad_form_values_are_refused_with_field_messages(world):
    case_id = _register(world)
    task_id = world.ready_task(case_id, "check_materials").id
    with pytest.raises(InvalidInput) as err:
        cases.complete_task(world.uow, task_id, {"intake_result": "maybe"}, world.actors["window1"])
    assert {"intake_result", "received_date"} <= set(err.value.errors)
    assert _case(world.uow, case_id).version == 1


def test_completing_records_who_and_the_data_before_and_after(world):
    case_id = _register(world)
    task_id = world.ready_task(case_id, "check_materials").id
    cases.complete_task(world.uow, task_id, COMPLETE, world.actors["window1"])
    with world.uow.reader() as r:
        event = r.session.execute(select(AuditEvent).where(AuditEvent.action == "task.completed")).scalar_one()
    assert event.actor == "window1" and event.case_id == case_id and event.at is not None
    assert event.payload["after"]["intake_result"] == "complete"
    assert event.payload["before"].get("intake_result") is None
    assert event.payload["form"] == COMPLETE


def test_withdraw_cancels_open_tasks(world):
    case_id = _register(world)
    lead = world.actors["eia_lead"]  # a lead of the matter's unit (services.access.may_withdraw)
    with pytest.raises(InvalidInput):
        cases.withdraw_case(world.uow, case_id, "  ", lead)
    cases.withdraw_case(world.uow, case_id, "申请人书面撤回", lead)
    assert _case(world.uow, case_id).status == "withdrawn"
    assert world.ready_tasks(case_id) == []
    with pytest.raises(Conflict):
        cases.withdraw_case(world.uow, case_id, "again", lead)


RESTART_SCRIPT = """
import json, sys
from services import cases
from services.actors import Actor
from services.uow import UnitOfWork
from storage.db import make_engine, make_session_factory
from storage.models import HumanTask
from sqlalchemy import select

url, case_id, actor = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
uow = UnitOfWork(make_session_factory(make_engine(url)))
actor = Actor(actor["username"], actor["user_id"], frozenset(actor["roles"]), None, frozenset(actor["lanes"]))
with uow.reader() as r:
    query = select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "ready")
    task = r.session.execute(query).scalar_one()
result = cases.complete_task(uow, task.id, json.loads(sys.argv[4]), actor)
print(json.dumps({"task": task.spec_name, "version": result.version}))
"""


def test_a_case_survives_a_process_restart(world, db_url, db_engine):
    case_id = _register(world)
    cases.complete_task(world.uow, world.ready_task(case_id, "check_materials").id, COMPLETE,
                        world.actors["window1"])
    db_engine.dispose()
    definitions._COMPILED.clear()
    w = world.actors["window1"]
    actor = {"username": w.username, "user_id": w.user_id, "roles": sorted(w.roles), "lanes": sorted(w.lanes)}
    out = subprocess.run(
        [sys.executable, "-c", RESTART_SCRIPT, db_url, str(case_id), json.dumps(actor), json.dumps(ACCEPT)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"task": "issue_acceptance", "version": 3}
    fresh = UnitOfWork(world.uow.session_factory)
    assert [t.spec_name for t in world.ready_tasks(case_id)] == ["publish_acceptance_public_notice"]
    assert _case(fresh, case_id).version == 3


def test_a_rejected_upload_leaves_the_deployed_version_untouched(world):
    with world.uow.reader() as r:
        before = r.session.execute(select(ProcessDefinition.id, ProcessDefinition.content_hash)).all()
    diagram = ROOT / "workflows" / "m01_eia_approval.bpmn"
    files = definitions.bundle_for(diagram)
    hostile = files[diagram.name].replace(
        b"<bpmn:script>", b"<bpmn:script>__import__('os').system('touch /tmp/runonce-canary')\n", 1)
    assert hostile != files[diagram.name]
    with pytest.raises(BpmnError) as err:
        definitions.deploy_bundle(world.uow, {**files, diagram.name: hostile}, diagram.name, Actor.system())
    assert err.value.filename == diagram.name and err.value.element_id
    assert not Path("/tmp/runonce-canary").exists()
    with world.uow.reader() as r:
        assert r.session.execute(select(ProcessDefinition.id, ProcessDefinition.content_hash)).all() == before


def test_unchanged_diagrams_are_not_re_versioned(world):
    diagram = ROOT / "workflows" / "m01_eia_approval.bpmn"
    again = definitions.deploy_bundle(world.uow, definitions.bundle_for(diagram), diagram.name, Actor.system())
    assert not again.created and again.version == 1
    changed = definitions.bundle_for(diagram)
    changed[diagram.name] = changed[diagram.name].replace(b"</bpmn:definitions>", b"<!-- v2 --></bpmn:definitions>")
    new = definitions.deploy_bundle(world.uow, changed, diagram.name, Actor.system())
    assert new.created and new.version == 2


RUNAWAY = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="runaway" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="first" name="first">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:scriptTask id="spin" name="spin"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>while True:
    pass</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first"/>
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="spin"/>
    <bpmn:sequenceFlow id="f3" sourceRef="spin" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_a_runaway_script_becomes_a_visible_incident(world, monkeypatch):
    definitions.deploy_bundle(world.uow, {"runaway.bpmn": RUNAWAY}, "runaway.bpmn", Actor.system())
    monkeypatch.setattr(cases, "_catalog_process_id", lambda code: "runaway")
    case_id = _register(world)
    task_id = world.ready_task(case_id, "first").id
    result = cases.complete_task(world.uow, task_id, {}, world.actors["window1"])
    case = _case(world.uow, case_id)
    assert result.status == "incident" and case.status == "incident"
    assert "spin" in case.incident
    assert "incident" in [e for e, in _events(world.uow, case_id)][-1]


def _events(uow: UnitOfWork, case_id: int) -> list[tuple[str]]:
    with uow.reader() as r:
        return r.session.execute(
            select(AuditEvent.action).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)
        ).all()


def test_human_task_rows_follow_the_engine(world):
    case_id = _register(world)
    cases.complete_task(world.uow, world.ready_task(case_id, "check_materials").id,
                        {**COMPLETE, "intake_result": "incomplete"}, world.actors["window1"])
    assert [t.spec_name for t in world.ready_tasks(case_id)] == ["notify_supplement"]
    with world.uow.reader() as r:
        done = r.session.execute(select(HumanTask).where(HumanTask.state == "completed")).scalars().all()
    assert [(t.spec_name, t.completed_by) for t in done] == [("check_materials", world.actors["window1"].user_id)]


@pytest.mark.parametrize("round_", range(8))
def test_a_claim_racing_a_completion_never_deadlocks(world, round_):
    """One person completes the task while another claims it: each gets success or a plain conflict."""
    case_id = _register(world)
    task_id = world.ready_task(case_id, "check_materials").id
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(command) -> None:
        uow = UnitOfWork(world.uow.session_factory)
        barrier.wait()
        try:
            command(uow)
        except Conflict:
            pass
        except BaseException as exc:  # noqa: BLE001 - anything else (a deadlock, say) fails the test
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(lambda u: cases.complete_task(u, task_id, COMPLETE,
                                                                         world.actors["window1"]),)),
        threading.Thread(target=run, args=(lambda u: cases.claim_task(u, task_id, world.actors["window2"]),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with world.uow.reader() as r:
        assert audit.verify(r.session).ok


DIVIDE = RUNAWAY.replace(b'id="runaway"', b'id="divide"').replace(
    b"""<bpmn:script>while True:
    pass</bpmn:script>""", b"<bpmn:script>share = 100 / parts</bpmn:script>")


def test_an_incident_is_retried_with_corrected_data(world, monkeypatch):
    definitions.deploy_bundle(world.uow, {"divide.bpmn": DIVIDE}, "divide.bpmn", Actor.system())
    monkeypatch.setattr(cases, "_catalog_process_id", lambda code: "divide")
    case_id = _register(world)
    cases.complete_task(world.uow, world.ready_task(case_id, "first").id, {"parts": 0}, world.actors["window1"])
    assert _case(world.uow, case_id).status == "incident"
    admin = Actor("admin", roles=frozenset({"admin"}))
    with pytest.raises(Forbidden):
        cases.retry_incident(world.uow, case_id, world.actors["window1"])
    again = cases.retry_incident(world.uow, case_id, admin)  # nothing corrected: it stops again
    assert again.status == "incident" and "ZeroDivisionError" in _case(world.uow, case_id).incident
    fixed = cases.retry_incident(world.uow, case_id, admin, {"parts": 4})
    case = _case(world.uow, case_id)
    assert fixed.status == case.status == "completed" and case.incident is None
    with world.uow.reader() as r:
        events = r.session.execute(select(AuditEvent).where(AuditEvent.action == "case.retried")
                                   .order_by(AuditEvent.seq)).scalars().all()
        assert audit.verify(r.session).ok
    assert [e.payload["result"] for e in events] == ["incident", "completed"]
    assert events[-1].payload["corrections"] == {"parts": 4} and events[-1].payload["after"]["share"] == 25
    with pytest.raises(Conflict):
        cases.retry_incident(world.uow, case_id, admin)


def test_the_next_step_in_the_same_lane_is_claimed_for_whoever_finished_the_last(world, uow):
    case_id = _register(world)
    window1 = world.actors["window1"]
    cases.complete_task(uow, world.ready_task(case_id, "check_materials").id, COMPLETE, window1)
    assert cases.claim_next_task(uow, case_id, "审批办", world.actors["eia1"]) is None  # not their lane
    offered = cases.claim_next_task(uow, case_id, "审批办", window1)
    assert offered is not None and offered.spec_name == "issue_acceptance"
    assert world.ready_task(case_id, "issue_acceptance").claimed_by == window1.user_id
    # already claimed: nothing more to offer, to anyone
    assert cases.claim_next_task(uow, case_id, "审批办", window1) is None
    assert "task.claimed" in [e for e, in _events(uow, case_id)]


def test_a_case_waiting_at_a_timer_says_which(world, uow):
    """What the case waits for names the timer (公示期满) and its date: the sentence of the case page."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from services import applicant, clock
    from workflows.scenarios import notice

    with clock.frozen(datetime(2018, 5, 4, 9, tzinfo=ZoneInfo("Asia/Shanghai"))):  # the notice still runs
        case_id = _register(world)
        window1 = world.actors["window1"]
        cases.complete_task(uow, world.ready_task(case_id, "check_materials").id, COMPLETE, window1)
        cases.complete_task(uow, world.ready_task(case_id, "issue_acceptance").id, ACCEPT, window1)
        cases.complete_task(uow, world.ready_task(case_id, "publish_acceptance_public_notice").id,
                            notice("2018-05-04", "2018-05-17"), world.actors["eia1"])
        with uow.reader() as r:
            case = r.session.get(Case, case_id)
            name = applicant._timer_name(case)
            assert name and "公示" in name, name  # the timer's own name in the diagram
            assert world.ready_tasks(case_id) == []  # nothing else open: the sentence names the timer
            waiting = applicant.waiting(r.session, case)
            assert waiting.kind == "timer" and waiting.step == name
            assert waiting.until is not None and waiting.until.isoformat() == "2018-05-17"  # the last day
