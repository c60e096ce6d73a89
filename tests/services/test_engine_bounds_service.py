"""A breach of an engine bound at run time, through the service layer: the case becomes an incident with a plain
message, on SQLite and PostgreSQL — for each command that runs diagram code (register/start, complete a task,
timer firing, incident retry). Never a hang, never a silent "completed", never a raw NameError.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from world import APPLICANT, build_world

from engine.clock import frozen_time
from services import cases, definitions
from services.actors import Actor
from storage.models import AuditEvent, Case

pytestmark = [
    pytest.mark.timeout(120),
    # A runaway loop grows the task tree until the engine's step bound (500) stops it: ~200 KB of state.
    pytest.mark.large_state("runaway diagrams run to the step bound"),
]

ADMIN = Actor("admin", roles=frozenset({"admin"}))
T0 = datetime(2024, 3, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def world(uow):
    return build_world(uow)


def _diagram(process_id: str, body: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
  <bpmn:process id="{process_id}" isExecutable="true">
{body}
  </bpmn:process>
</bpmn:definitions>""".encode()


def _flow(fid: str, source: str, target: str, condition: str | None = None) -> str:
    if condition is None:
        return f'    <bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}"/>'
    return (f'    <bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">'
            f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>'
            "</bpmn:sequenceFlow>")


LOOP = """
    <bpmn:scriptTask id="init"><bpmn:script>n = 0</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="inc"><bpmn:script>n = n + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" default="to_end"/>
""" + "\n".join([_flow("to_inc", "init", "inc"), _flow("to_gw", "inc", "gw"),
                 _flow("again", "gw", "inc", "True"), _flow("to_end", "gw", "end")])

# start -> user task "first" -> endless script/gateway loop
LOOP_AFTER_TASK = _diagram("loop_after_task", """
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="first" name="first"/>
    <bpmn:endEvent id="end"/>
""" + LOOP + "\n" + "\n".join([_flow("f1", "start", "first"), _flow("f2", "first", "init")]))

# start -> 1 minute timer -> endless loop: breaks when the scheduler fires the timer
LOOP_AFTER_TIMER = _diagram("loop_after_timer", """
    <bpmn:startEvent id="start"/>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>
      <bpmn:timeDuration>PT1M</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"/>
""" + LOOP + "\n" + "\n".join([_flow("f1", "start", "wait"), _flow("f2", "wait", "init")]))

# start -> user task "first" -> multi-instance with the cardinality the form gives
MANY = _diagram("many", """
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="first" name="first"/>
    <bpmn:scriptTask id="each"><bpmn:multiInstanceLoopCharacteristics>
      <bpmn:loopCardinality>copies</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"/>
""" + "\n".join([_flow("f1", "start", "first"), _flow("f2", "first", "each"), _flow("f3", "each", "end")]))

# a user task with a repeating reminder whose interval comes from the start data
CYCLE = _diagram("cycle", """
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="first" name="first"/>
    <bpmn:boundaryEvent id="every" attachedToRef="first" cancelActivity="false"><bpmn:timerEventDefinition>
      <bpmn:timeCycle>reminder_cycle</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:boundaryEvent>
    <bpmn:endEvent id="end"/>
    <bpmn:endEvent id="reminded"/>
""" + "\n".join([_flow("f1", "start", "first"), _flow("f2", "first", "end"), _flow("f3", "every", "reminded")]))

# the decision step removed: the gateway reads a variable nobody sets
NO_DECISION = _diagram("no_decision", """
    <bpmn:startEvent id="start"/>
    <bpmn:userTask id="review" name="review"/>
    <bpmn:exclusiveGateway id="gw_decision"/>
    <bpmn:endEvent id="approved"/>
    <bpmn:endEvent id="refused"/>
""" + "\n".join([_flow("f1", "start", "review"), _flow("f2", "review", "gw_decision"),
                 _flow("yes", "gw_decision", "approved", 'decision == "approve"'),
                 _flow("no", "gw_decision", "refused", 'decision == "refuse"')]))


def _use(world, monkeypatch, process_id: str, document: bytes) -> None:
    definitions.deploy_bundle(world.uow, {f"{process_id}.bpmn": document}, f"{process_id}.bpmn", Actor.system())
    monkeypatch.setattr(cases, "_catalog_process_id", lambda code: process_id)


def _register(world, data: dict | None = None) -> int:
    with frozen_time(T0):
        return cases.register_case(world.uow, matter_code="m01", applicant=APPLICANT, channel="window",
                                   delivery_mode="post", actor=world.actors["window1"], data=data).case_id


def _case(world, case_id: int) -> Case:
    with world.uow.reader() as r:
        case = r.session.get(Case, case_id)
        r.session.expunge(case)
        return case


def _actions(world, case_id: int) -> list[str]:
    with world.uow.reader() as r:
        return list(r.session.execute(select(AuditEvent.action).where(AuditEvent.case_id == case_id)
                                      .order_by(AuditEvent.seq)).scalars())


def _complete_first(world, case_id: int, form: dict) -> cases.CommandResult:
    task = world.ready_task(case_id, "first")
    return cases.complete_task(world.uow, task.id, form, world.actors["window1"])


def test_an_endless_loop_after_a_task_is_an_incident_not_completed(world, monkeypatch):
    _use(world, monkeypatch, "loop_after_task", LOOP_AFTER_TASK)
    case_id = _register(world)
    result = _complete_first(world, case_id, {})
    case = _case(world, case_id)
    assert result.status == case.status == "incident"
    assert case.completed_at is None and case.outcome is None
    assert "死循环" in case.incident and "loop forever" in case.incident
    assert _actions(world, case_id)[-1] == "case.incident"


def test_retrying_the_endless_loop_stops_again_with_the_message(world, monkeypatch):
    _use(world, monkeypatch, "loop_after_task", LOOP_AFTER_TASK)
    case_id = _register(world)
    _complete_first(world, case_id, {})
    again = cases.retry_incident(world.uow, case_id, ADMIN)
    assert again.status == "incident"
    # the retry runs the loop on from where it stopped, until a bound (steps, or the depth of the task tree)
    incident = _case(world, case_id).incident
    assert "循环" in incident and "stopped" in incident


def test_an_endless_loop_behind_a_timer_is_an_incident_when_the_scheduler_fires_it(world, monkeypatch):
    _use(world, monkeypatch, "loop_after_timer", LOOP_AFTER_TIMER)
    case_id = _register(world)
    assert _case(world, case_id).status == "active"
    later = T0 + timedelta(minutes=2)
    with frozen_time(later):
        assert cases.fire_due_timers(world.uow, later) == 1
    case = _case(world, case_id)
    assert case.status == "incident" and "死循环" in case.incident
    with frozen_time(later + timedelta(minutes=1)):  # an incident is not fired again
        assert cases.fire_due_timers(world.uow, later + timedelta(minutes=1)) == 0


def test_a_runaway_cardinality_from_a_form_is_an_incident(world, monkeypatch):
    # The review: ten million instances, 1.4 GB in 30 s.
    _use(world, monkeypatch, "many", MANY)
    case_id = _register(world)
    result = _complete_first(world, case_id, {"copies": 10_000_000})
    case = _case(world, case_id)
    assert result.status == "incident"
    assert case.incident.startswith("each:") and "10000000" in case.incident


def test_a_timer_cycle_computed_too_short_is_an_incident_at_registration(world, monkeypatch):
    _use(world, monkeypatch, "cycle", CYCLE)
    case_id = _register(world, {"reminder_cycle": "R/PT0.001S"})
    case = _case(world, case_id)
    assert case.status == "incident"
    assert case.incident.startswith("every:") and "60" in case.incident
    fine = _register(world, {"reminder_cycle": "R/PT5M"})
    assert _case(world, fine).status == "active"


def test_a_missing_variable_is_an_incident_with_a_plain_message(world, monkeypatch):
    # The review: a designer deleted 审批决定; the handler saw "NameError: name 'decision' is not defined".
    _use(world, monkeypatch, "no_decision", NO_DECISION)
    case_id = _register(world)
    task = world.ready_task(case_id, "review")
    result = cases.complete_task(world.uow, task.id, {"recommendation": "approve"}, world.actors["window1"])
    case = _case(world, case_id)
    assert result.status == "incident"
    assert "NameError" not in case.incident and "is not defined" not in case.incident
    assert "variable decision is not set at element gw_decision" in case.incident
    assert "变量 “decision” 未定义" in case.incident
