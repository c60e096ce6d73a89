"""Run time: cases start, wait, survive dumps/loads, stay sandboxed, and report what the web layer needs."""

from __future__ import annotations

import json
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from engine_support import (
    call,
    compiled,
    condition_flow,
    definitions,
    end,
    process,
    script,
    simple,
    start,
    timer_catch,
    user,
)
from roundtrip import roundtrip
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine import runtime
from engine.clock import frozen_time
from engine.definitions import compile_process
from engine.errors import DataError, ScriptError, ScriptTimeout
from engine.sandbox import is_sandboxed


def _ready(wf) -> list[runtime.ReadyTask]:
    return runtime.ready_human_tasks(wf)


def _complete_only(wf, form: dict | None = None) -> None:
    (task,) = _ready(wf)
    runtime.complete_task(wf, task.id, form or {})


# --- starting and completing ----------------------------------------------------------------------


def test_new_workflow_runs_to_the_first_user_task_with_a_copy_of_the_data() -> None:
    data = {"applicant": {"name": "甲公司"}, "when": date(2024, 5, 1)}
    wf = runtime.new_workflow(
        compiled(script("Prep", "greeting = '你好 ' + applicant['name']"), user("Accept", "受理")), data
    )
    data["applicant"]["name"] = "changed later"
    (task,) = _ready(wf)
    assert (task.spec_name, task.title, task.lane, task.form) == ("Accept", "受理", None, None)
    assert task.data["applicant"] == {"name": "甲公司"}
    assert task.data["greeting"] == "你好 甲公司"
    task.data["applicant"]["name"] = "mutating the returned copy"
    assert _ready(wf)[0].data["applicant"] == {"name": "甲公司"}
    assert wf.script_engine is runtime.SCRIPT_ENGINE
    assert is_sandboxed(runtime.SCRIPT_ENGINE)


@pytest.mark.parametrize(
    "bad", [{"s": {1, 2}}, {"d": {"typename": "BpmnWorkflow"}}, {"k": {1: "x"}}, {"f": object()}]
)
def test_data_that_cannot_be_stored_is_refused(bad: dict) -> None:
    result = compiled(user("A"))
    with pytest.raises(DataError):
        runtime.new_workflow(result, bad)
    wf = runtime.new_workflow(result)
    with pytest.raises(DataError):
        runtime.complete_task(wf, _ready(wf)[0].id, bad)
    assert len(_ready(wf)) == 1  # nothing happened


def test_complete_task_replaces_top_level_keys_with_a_deep_copy() -> None:
    wf = runtime.new_workflow(compiled(user("A"), user("B")), {"doc": {"x": 1, "y": 2}})
    form = {"doc": {"x": 10}, "note": ["a"]}
    runtime.complete_task(wf, _ready(wf)[0].id, form)
    form["doc"]["x"] = 999
    form["note"].append("b")
    (b,) = _ready(wf)
    assert b.spec_name == "B"
    assert b.data["doc"] == {"x": 10}  # replaced, not merged
    assert b.data["note"] == ["a"]


def test_complete_task_refuses_tasks_that_are_not_ready() -> None:
    wf = runtime.new_workflow(compiled(user("A"), user("B")))
    a = _ready(wf)[0].id
    runtime.complete_task(wf, a, {})
    for task_id in (a, "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(runtime.TaskNotReady):
            runtime.complete_task(wf, task_id, {})
    automatic = next(t for t in wf.get_tasks() if t.task_spec.name == "StartEvent")
    with pytest.raises(runtime.TaskNotReady):
        runtime.complete_task(wf, str(automatic.id), {})


def test_post_script_runs_on_completion_in_the_sandbox() -> None:
    wf = runtime.new_workflow(compiled(user("A", post="total = price * 2"), user("B")))
    runtime.complete_task(wf, _ready(wf)[0].id, {"price": 21})
    assert _ready(wf)[0].data["total"] == 42


# --- save and load -----------------------------------------------------------------------------------


def test_round_trip_mid_case_keeps_going_and_keeps_the_sandbox() -> None:
    result = compiled(
        user("A"), script("Calc", "n = n * 2\nwhen = date(2024, 1, 1) + timedelta(days=n)"), user("B")
    )
    wf = runtime.new_workflow(result, {"n": 2})
    state = runtime.dumps(wf)
    assert json.loads(state)["serializer_version"] == runtime.SERIALIZER_VERSION
    assert runtime.SERIALIZER_VERSION.startswith("1.5")
    loaded = runtime.loads(state, result)
    assert loaded.script_engine is runtime.SCRIPT_ENGINE
    runtime.complete_task(loaded, _ready(loaded)[0].id, {})
    again = roundtrip(loaded)  # a date in task data survives the serializer
    assert _ready(again)[0].data["when"] == date(2024, 1, 5)
    runtime.complete_task(again, _ready(again)[0].id, {})
    assert runtime.is_completed(again)


def test_loads_refuses_states_that_would_need_a_migration(canary: Path) -> None:
    state = json.loads(runtime.dumps(runtime.new_workflow(compiled(user("A")))))
    # Spiff's 1.0/1.1 migrations eval() timer expressions found in the JSON, outside any sandbox.
    state["serializer_version"] = "1.1"
    with pytest.raises(runtime.StateError):
        runtime.loads(json.dumps(state))
    for broken in ("not json", "[]", json.dumps({"serializer_version": runtime.SERIALIZER_VERSION})):
        with pytest.raises(runtime.StateError):
            runtime.loads(broken)


def _unchecked_state(document: bytes, process_id: str, run_until_user_task: bool = True) -> str:
    """A state built with plain SpiffWorkflow, bypassing every deploy-time check (a sneaked payload)."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(document, "sneaked.bpmn")
    wf = BpmnWorkflow(parser.get_spec(process_id), parser.get_subprocess_specs(process_id))
    if run_until_user_task:
        wf.do_engine_steps()
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    return serializer.serialize_json(wf)


def test_payload_that_sneaked_past_deploy_is_stopped_at_run_time(canary: Path) -> None:
    document = simple(user("Wait"), script("Evil", f"__import__('os').system('touch {canary}')"))
    wf = runtime.loads(_unchecked_state(document, "P"))
    with pytest.raises(ScriptError) as err:
        runtime.complete_task(wf, _ready(wf)[0].id, {})
    assert err.value.code == "script_forbidden"
    assert err.value.element_id == "Evil"
    assert not canary.exists()
    assert runtime.element_states(wf)["error"] == ["Evil"]


SNEAKED = "__import__('os').system('touch {canary}') or 'P1D'"


def _sneaked_gateway(canary: Path) -> bytes:
    return definitions(
        '  <bpmn:process id="P" isExecutable="true">\n'
        + start()
        + user("Wait")
        + '    <bpmn:exclusiveGateway id="Gw" default="other"/>\n'
        + end()
        + '    <bpmn:sequenceFlow id="a" sourceRef="StartEvent" targetRef="Wait"/>\n'
        + '    <bpmn:sequenceFlow id="b" sourceRef="Wait" targetRef="Gw"/>\n'
        + condition_flow("evil", "Gw", "EndEvent", SNEAKED.format(canary=canary))
        + '    <bpmn:sequenceFlow id="other" sourceRef="Gw" targetRef="EndEvent"/>\n'
        + "  </bpmn:process>\n"
    )


SNEAKED_SITES = {
    "timer": (
        lambda c: simple(user("Wait"), timer_catch("Evil", "timeDuration", SNEAKED.format(canary=c))),
        "Evil",
    ),
    "gateway": (_sneaked_gateway, "Gw"),
    "multi-instance": (
        lambda c: simple(
            user("Wait"),
            '    <bpmn:userTask id="Evil"><bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>'
            + SNEAKED.format(canary=c).replace("'", "&apos;")
            + "</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>\n",
        ),
        "Evil",
    ),
    "post-script": (lambda c: simple(user("Wait", post=f"import os\nos.system('touch {c}')")), "Wait"),
}


@pytest.mark.parametrize("site", sorted(SNEAKED_SITES))
def test_sneaked_expressions_are_stopped_everywhere(site: str, canary: Path) -> None:
    build, element_id = SNEAKED_SITES[site]
    wf = runtime.loads(_unchecked_state(build(canary), "P"))
    with pytest.raises(ScriptError) as err:
        runtime.complete_task(wf, _ready(wf)[0].id, {})
    assert (err.value.code, err.value.element_id) == ("script_forbidden", element_id)
    assert not canary.exists()


def test_call_activity_scripts_are_sandboxed_after_a_round_trip(canary: Path) -> None:
    main = process("Main", start(), call("CallSub", "Sub"), end())
    sub = process(
        "Sub",
        start("SubStart"),
        user("InSub", "子流程任务"),
        script("SubEvil", f"import os\nos.system('touch {canary}')"),
        end("SubEnd"),
    )
    wf = runtime.loads(_unchecked_state(definitions(main, sub), "Main"))
    (task,) = _ready(wf)
    assert task.spec_name == "InSub"
    assert wf.subprocesses, "the case is paused inside the called process"
    assert all(sp.script_engine is runtime.SCRIPT_ENGINE for sp in wf.subprocesses.values())
    with pytest.raises(ScriptError) as err:
        runtime.complete_task(wf, task.id, {})
    assert (err.value.code, err.value.element_id) == ("script_forbidden", "SubEvil")
    assert not canary.exists()


def test_call_activity_case_round_trip_completes() -> None:
    main = process("Main", start(), call("CallSub", "Sub"), user("After"), end())
    sub = process("Sub", start("SubStart"), user("InSub"), script("Double", "x = x * 2"), end("SubEnd"))
    wf = runtime.new_workflow(compile_process({"m.bpmn": definitions(main, sub)}), {"x": 21})
    wf = roundtrip(wf)
    runtime.complete_task(wf, _ready(wf)[0].id, {})
    wf = roundtrip(wf)
    (after,) = _ready(wf)
    assert (after.spec_name, after.data["x"]) == ("After", 42)
    states = runtime.element_states(wf)
    assert {"CallSub", "InSub", "Double"} <= set(states["completed"])
    assert states["current"] == ["After"]


# --- failures become ScriptError with the element id ---------------------------------------------


def test_failing_script_leaves_an_incident_with_the_element_id() -> None:
    wf = runtime.new_workflow(compiled(user("A"), script("Calc", "x = missing + 1")))
    with pytest.raises(ScriptError) as err:
        runtime.complete_task(wf, _ready(wf)[0].id, {})
    assert (err.value.code, err.value.element_id) == ("script_error", "Calc")
    assert "Calc" in str(err.value)
    # an incident case can still be saved and inspected
    assert runtime.element_states(roundtrip(wf))["error"] == ["Calc"]


@pytest.mark.parametrize("code", ["x = 10**10**10", "x = 'a' * 10**10", "x = list(range(10**9))"])
def test_oversized_results_in_a_case_are_refused(code: str) -> None:
    with pytest.raises(ScriptError) as err:
        runtime.new_workflow(compiled(script("Big", code), user("A")))
    assert (err.value.code, err.value.element_id) == ("sandbox", "Big")


def test_runaway_script_in_a_case_times_out(short_budget: float) -> None:
    result = compiled(user("A"), script("Spin", "while True:\n    pass"))
    wf = runtime.new_workflow(result)
    errors: list[BaseException] = []

    def worker() -> None:  # the scheduler runs cases off the main thread
        try:
            runtime.complete_task(wf, _ready(wf)[0].id, {})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < short_budget + 1.0
    assert isinstance(errors[0], ScriptTimeout)
    assert errors[0].element_id == "Spin"


def test_gateway_without_a_matching_condition_is_an_incident() -> None:
    # A -> Gw -(amount > 10)-> End, no default flow.
    document = definitions(
        '  <bpmn:process id="P" isExecutable="true">\n'
        + start()
        + user("A")
        + '    <bpmn:exclusiveGateway id="Gw"/>\n'
        + end()
        + '    <bpmn:sequenceFlow id="a" sourceRef="StartEvent" targetRef="A"/>\n'
        + '    <bpmn:sequenceFlow id="b" sourceRef="A" targetRef="Gw"/>\n'
        + condition_flow("c", "Gw", "EndEvent", "amount &gt; 10")
        + "  </bpmn:process>\n"
    )
    wf = runtime.new_workflow(compile_process({"g.bpmn": document}))
    with pytest.raises(ScriptError) as err:
        runtime.complete_task(wf, _ready(wf)[0].id, {"amount": 5})
    assert (err.value.code, err.value.element_id) == ("workflow_error", "Gw")


# --- what the web layer reads -------------------------------------------------------------------------


def test_workflow_data_is_json_safe_and_free_of_sandbox_names() -> None:
    wf = runtime.new_workflow(
        compiled(
            script(
                "Calc",
                "due = datetime(2024, 5, 1, 8, 30) + timedelta(days=1)\nday = date(2024, 5, 2)\n"
                "span = timedelta(days=1, hours=2)\ndef f():\n    return 1\nres = f()",
            ),
            user("A"),
        ),
        {"name": "甲"},
    )
    data = runtime.workflow_data(wf)
    json.dumps(data)
    assert data == {
        "name": "甲",
        "due": "2024-05-02T08:30:00",
        "day": "2024-05-02",
        "span": "P1DT2H",
        "res": 1,
    }


def test_element_states_and_completion() -> None:
    wf = runtime.new_workflow(compiled(script("S1", "a = 1"), user("A"), user("B")))
    assert runtime.element_states(wf) == {"completed": ["StartEvent", "S1"], "current": ["A"], "error": []}
    assert not runtime.is_completed(wf)
    _complete_only(wf)
    _complete_only(wf)
    states = runtime.element_states(wf)
    assert states["completed"] == ["StartEvent", "S1", "A", "B", "EndEvent"] and states["current"] == []
    assert runtime.is_completed(wf)
    assert runtime.workflow_data(wf)["a"] == 1


def test_next_timer_due_and_waiting_state(t0: datetime) -> None:
    with frozen_time(t0):
        wf = runtime.new_workflow(compiled(timer_catch("Wait", "timeDuration", "PT5M"), user("A")))
    assert runtime.next_timer_due(wf) == t0 + timedelta(minutes=5)
    assert runtime.element_states(wf)["current"] == ["Wait"]
    runtime.advance(wf, now=t0 + timedelta(minutes=6))
    assert [t.spec_name for t in _ready(wf)] == ["A"]
    assert runtime.next_timer_due(wf) is None


def test_lanes_and_forms_on_ready_tasks() -> None:
    lanes = '      <bpmn:lane id="L" name="环评处"><bpmn:flowNodeRef>Review</bpmn:flowNodeRef></bpmn:lane>\n'
    document = definitions(
        process("P", start(), user("Review", "技术审查", form="review.json"), end(), lanes=lanes)
    )
    wf = runtime.new_workflow(compile_process({"l.bpmn": document}))
    (task,) = _ready(wf)
    assert (task.lane, task.form, task.properties) == (
        "环评处",
        "review.json",
        {"formJsonSchemaFilename": "review.json"},
    )
    assert wf.get_tasks(state=TaskState.READY, manual=True, lane="环评处")


def test_advance_is_idempotent_when_nothing_is_due(t0: datetime) -> None:
    wf = runtime.new_workflow(compiled(user("A")))
    before = runtime.dumps(wf)
    runtime.advance(wf, now=t0 + timedelta(days=400))
    assert len(json.loads(runtime.dumps(wf))["tasks"]) == len(json.loads(before)["tasks"])


def test_hand_built_workflow_gets_the_sandbox_on_advance(canary: Path) -> None:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(simple(script("Evil", f"open('{canary}', 'w')")), "x.bpmn")
    wf = BpmnWorkflow(parser.get_spec("P"))
    with pytest.raises(ScriptError):
        runtime.advance(wf)
    assert is_sandboxed(wf.script_engine)
    assert not canary.exists()


def test_empty_script_task_is_a_no_op() -> None:
    wf = runtime.new_workflow(compiled(script("Todo", "  "), user("A")), {"k": 1})
    assert [(t.spec_name, t.data) for t in _ready(wf)] == [("A", {"k": 1})]


def test_element_states_of_the_main_process_only() -> None:
    main = process("Main", start(), call("CallSub", "Sub"), user("After"), end())
    sub = process("Sub", start("SubStart"), user("InSub"), end("SubEnd"))
    wf = runtime.new_workflow(compile_process({"m.bpmn": definitions(main, sub)}))
    everything = runtime.element_states(wf)
    assert "InSub" in everything["current"]
    main_only = runtime.element_states(wf, main_only=True)
    assert "InSub" not in main_only["current"] and "SubStart" not in main_only["completed"]
    assert "CallSub" in main_only["current"]


def test_a_failed_step_can_be_retried_once_its_cause_is_gone() -> None:
    wf = runtime.new_workflow(compiled(user("A"), script("Calc", "y = 10 / divisor"), user("B")))
    with pytest.raises(ScriptError):
        runtime.complete_task(wf, _ready(wf)[0].id, {"divisor": 0})
    assert runtime.element_states(wf)["error"] == ["Calc"]
    with pytest.raises(ScriptError):  # nothing changed: it fails again, still an incident
        runtime.retry_failed(wf)
    assert runtime.retry_failed(wf, {"divisor": 5}) == ["Calc"]  # the data the step reads, corrected
    assert [t.spec_name for t in runtime.ready_human_tasks(wf)] == ["B"]
    assert runtime.ready_human_tasks(wf)[0].data["y"] == 2


def test_a_failed_step_inside_a_call_activity_can_be_retried() -> None:
    main = process("Main", start(), call("CallSub", "Sub"), user("After"), end())
    sub = process("Sub", start("SubStart"), user("InSub"), script("Div", "y = 10 / divisor"), end("SubEnd"))
    wf = runtime.new_workflow(compile_process({"m.bpmn": definitions(main, sub)}))
    with pytest.raises(ScriptError):
        runtime.complete_task(wf, _ready(wf)[0].id, {"divisor": 0})
    wf = roundtrip(wf)
    assert runtime.retry_failed(wf, {"divisor": 2}) == ["Div"]
    (after,) = _ready(wf)
    assert after.spec_name == "After" and after.data["y"] == 5
