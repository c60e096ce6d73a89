"""Hostile diagrams from the review: each one deployed cleanly and then hung, blew up memory or was marked
"completed" by SpiffWorkflow. Now each is refused at deploy (with the element id) or stopped by a bound of
engine/limits.py and reported as a ScriptError (LimitExceeded), which the service layer turns into an incident.

Every test carries a timeout: on the old engine several of them never return.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from xml.sax.saxutils import escape

import pytest
from engine_support import call, compiled, definitions, end, process, script, simple, start, timer_catch, user

from engine import bounds, limits, runtime
from engine.clock import frozen_time
from engine.definitions import compile_process
from engine.errors import BpmnError, DataError, ScriptError
from engine.limits import LimitExceeded

pytestmark = pytest.mark.timeout(60)


def _multi_instance(node_id: str, cardinality: str, *, sequential: bool = False, kind: str = "task") -> str:
    seq = ' isSequential="true"' if sequential else ""
    body = "<bpmn:script>x = 1</bpmn:script>" if kind == "scriptTask" else ""
    return (
        f'    <bpmn:{kind} id="{node_id}"><bpmn:multiInstanceLoopCharacteristics{seq}>'
        f"<bpmn:loopCardinality>{escape(cardinality)}</bpmn:loopCardinality>"
        f"</bpmn:multiInstanceLoopCharacteristics>{body}</bpmn:{kind}>\n"
    )


def _cycle_boundary_on_user_task(cycle: str) -> bytes:
    """A user task with a non-interrupting repeating timer whose branch runs a script and ends."""
    extra = (
        '    <bpmn:boundaryEvent id="every" attachedToRef="wait" cancelActivity="false">'
        f"<bpmn:timerEventDefinition><bpmn:timeCycle>{escape(cycle)}</bpmn:timeCycle>"
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>\n"
        + script("remind", "reminders = reminders + 1")
        + '    <bpmn:endEvent id="reminded"/>\n'
        '    <bpmn:sequenceFlow id="b1" sourceRef="every" targetRef="remind"/>\n'
        '    <bpmn:sequenceFlow id="b2" sourceRef="remind" targetRef="reminded"/>\n'
    )
    return definitions(process("P", start(), script("init", "reminders = 0"), user("wait"), end(), flows=extra))


def _endless_loop() -> bytes:
    """start -> init -> inc -> gateway --(True)--> inc (the default flow to the end is never taken)."""
    flows = (
        '    <bpmn:sequenceFlow id="f_back" sourceRef="gw" targetRef="inc">'
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">True</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>\n"
    )
    gateway = '    <bpmn:exclusiveGateway id="gw" default="P_f3"/>\n'
    return definitions(
        process("P", start(), script("init", "n = 0"), script("inc", "n = n + 1"), gateway, end(), flows=flows)
    )


# --- refused at deploy, with the element id -------------------------------------------------------------


def test_a_call_activity_that_calls_its_own_process_is_refused() -> None:
    with pytest.raises(BpmnError) as err:
        compile_process({"self.bpmn": simple(call("again", "P"))}, "P")
    assert (err.value.code, err.value.element_id, err.value.filename) == ("call_recursion", "again", "self.bpmn")
    assert "递归" in err.value.message_zh


def test_a_process_calling_itself_without_a_process_id_is_refused_as_recursion() -> None:
    # Without the check the compile says "cannot tell which process is the main one" and a named deploy runs.
    with pytest.raises(BpmnError) as err:
        compile_process({"self.bpmn": simple(call("again", "P"))})
    assert err.value.code == "call_recursion"


def test_mutual_recursion_across_files_of_the_bundle_is_refused() -> None:
    files = {
        "main.bpmn": simple(call("to_a", "A"), process_id="Main"),
        "a.bpmn": definitions(process("A", start("a_start"), call("a_to_b", "B"), end("a_end"))),
        "b.bpmn": definitions(process("B", start("b_start"), call("b_to_a", "A"), end("b_end"))),
    }
    with pytest.raises(BpmnError) as err:
        compile_process(files, "Main")
    assert err.value.code == "call_recursion"
    assert err.value.element_id in {"a_to_b", "b_to_a"}
    assert err.value.filename in {"a.bpmn", "b.bpmn"}
    assert "A → B → A" in err.value.message_zh or "B → A → B" in err.value.message_zh


def test_call_activities_nested_deeper_than_the_limit_are_refused() -> None:
    depth = limits.current().max_call_depth + 1
    files = {"main.bpmn": simple(call("c0", "L1"), process_id="Main")}
    for level in range(1, depth + 1):
        nodes = [call(f"c{level}", f"L{level + 1}")] if level < depth else []
        files[f"l{level}.bpmn"] = definitions(
            process(f"L{level}", start(f"s{level}"), *nodes, end(f"e{level}"))
        )
    with pytest.raises(BpmnError) as err:
        compile_process(files, "Main")
    assert (err.value.code, err.value.element_id) == ("bound", "c0")
    # one level less is fine
    del files[f"l{depth}.bpmn"]
    files[f"l{depth - 1}.bpmn"] = definitions(
        process(f"L{depth - 1}", start(f"s{depth - 1}"), end(f"e{depth - 1}"))
    )
    compile_process(files, "Main")


@pytest.mark.parametrize("sequential", [False, True])
def test_a_literal_multi_instance_cardinality_over_the_cap_is_refused(sequential: bool) -> None:
    # The review: ten million instances, 1.4 GB in 30 s.
    with pytest.raises(BpmnError) as err:
        compile_process({"mi.bpmn": simple(_multi_instance("many", "10000000", sequential=sequential))})
    assert (err.value.code, err.value.element_id) == ("bound", "many")
    assert "10000000" in err.value.message_zh


def test_a_literal_cardinality_within_the_cap_deploys_and_runs() -> None:
    wf = runtime.new_workflow(compiled(_multi_instance("few", "3", kind="scriptTask")))
    assert runtime.is_completed(wf)


@pytest.mark.parametrize(
    "cycle", ["R/PT0.001S", '"R/PT0.001S"', "R5/PT30S", "  'R/PT59S'  ", "R/2024-01-01T00:00:00Z/PT1S"]
)
def test_a_timer_cycle_shorter_than_a_minute_is_refused(cycle: str) -> None:
    with pytest.raises(BpmnError) as err:
        compile_process({"cycle.bpmn": _cycle_boundary_on_user_task(cycle)})
    assert (err.value.code, err.value.element_id) == ("bound", "every")
    assert "60" in err.value.message_zh


@pytest.mark.parametrize("cycle", ["R/PT1M", '"R3/P1D"', "R/PT60S"])
def test_a_timer_cycle_of_a_minute_or_more_deploys(cycle: str) -> None:
    compile_process({"cycle.bpmn": _cycle_boundary_on_user_task(cycle)})


# --- stopped at run time, as an incident ---------------------------------------------------------------


def test_an_endless_script_gateway_loop_is_an_incident_not_completed() -> None:
    # Old engine: SpiffWorkflow's task iterator stops at depth 1000, so after ~500 rounds it sees no READY
    # task and reports the case completed (n == 499).
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as err:
        runtime.new_workflow(compile_process({"loop.bpmn": _endless_loop()}))
    assert err.value.element_id in {"inc", "gw"}
    assert "死循环" in err.value.message_zh and "loop" in err.value.message_en
    assert time.monotonic() - started < 20


def test_recursion_that_slipped_past_deploy_stops_at_the_call_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    # The review: the request never returned. With the static check switched off the run-time bound holds.
    monkeypatch.setattr(bounds, "check_call_graph", lambda trees: None)
    process_spec = compile_process({"self.bpmn": simple(call("again", "P"))}, "P")
    with pytest.raises(LimitExceeded) as err:
        runtime.new_workflow(process_spec)
    assert err.value.element_id == "again"
    assert "嵌套" in err.value.message_zh


def test_a_cardinality_computed_at_run_time_is_checked_before_any_instance_exists() -> None:
    spec = compiled(_multi_instance("many", "count", kind="scriptTask"))
    before = time.monotonic()
    with pytest.raises(LimitExceeded) as err:
        runtime.new_workflow(spec, {"count": 10_000_000})
    assert err.value.element_id == "many"
    assert "10000000" in err.value.message_zh
    assert time.monotonic() - before < 5
    # a fine value runs
    assert runtime.is_completed(runtime.new_workflow(spec, {"count": 2}))


def test_a_non_integer_cardinality_is_an_incident() -> None:
    with pytest.raises(LimitExceeded):
        runtime.new_workflow(compiled(_multi_instance("many", "count", kind="scriptTask")), {"count": "3"})


@pytest.mark.parametrize("sequential", [False, True])
def test_a_multi_instance_over_a_huge_collection_is_checked_before_any_instance_exists(sequential: bool) -> None:
    seq = ' isSequential="true"' if sequential else ""
    node = (
        f'    <bpmn:scriptTask id="each"><bpmn:multiInstanceLoopCharacteristics{seq}>'
        '<bpmn:loopDataInputRef>items</bpmn:loopDataInputRef>'
        '<bpmn:inputDataItem id="item" name="item"/>'
        "</bpmn:multiInstanceLoopCharacteristics><bpmn:script>y = item</bpmn:script></bpmn:scriptTask>\n"
    )
    spec = compiled(script("make", "items = list(range(size))"), node)
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as err:
        runtime.new_workflow(spec, {"size": 200_000})  # every instance would deep-copy the 200,000 items
    assert err.value.element_id == "each" and "200000" in err.value.message_zh
    assert time.monotonic() - started < 5
    if not sequential:  # (Spiff's sequential instances trip over their own merged input item)
        assert runtime.is_completed(runtime.new_workflow(spec, {"size": 3}))


def test_the_tasks_one_command_creates_are_bounded() -> None:
    spec = compiled(*[script(f"s{i}", "x = 1") for i in range(30)])
    with limits.overridden(max_tasks_per_command=20), pytest.raises(LimitExceeded) as err:
        runtime.new_workflow(spec)
    assert "20" in err.value.message_zh and "任务" in err.value.message_zh


def test_a_timer_cycle_computed_at_run_time_is_checked(t0: datetime) -> None:
    document = _cycle_boundary_on_user_task("every_value")  # an expression: deploys, checked when computed
    spec = compile_process({"cycle.bpmn": document})
    with pytest.raises(LimitExceeded) as err:
        runtime.new_workflow(spec, {"every_value": "R/PT0.001S"})
    assert err.value.element_id == "every"
    wf = runtime.new_workflow(spec, {"every_value": "R/PT5M"})
    assert not runtime.is_completed(wf)


def test_cycle_firings_per_tick_are_capped_and_the_rest_fire_on_the_next_tick(t0: datetime) -> None:
    cap = limits.current().max_timer_firings_per_tick
    start_at = (t0 - timedelta(minutes=cap * 3)).isoformat()  # missed 3 x cap cycles
    spec = compile_process({"cycle.bpmn": _cycle_boundary_on_user_task(f'"R{cap * 3}/{start_at}/PT1M"')})
    with frozen_time(t0):
        wf = runtime.new_workflow(spec, {})  # the old engine ran all 3 x cap firings here
    assert _reminders(wf) == cap
    assert runtime.next_timer_due(wf) <= t0, "the rest stays due"
    runtime.advance(wf, t0)
    assert _reminders(wf) == 2 * cap
    runtime.advance(wf, t0)
    assert _reminders(wf) == 3 * cap
    runtime.advance(wf, t0)
    assert _reminders(wf) == 3 * cap


def _reminders(wf) -> int:
    return sum(1 for w in [wf, *wf.subprocesses.values()] for t in w.tasks.values()
               if t.task_spec.name == "remind" and t.state == 64)  # TaskState.COMPLETED


def test_a_human_task_loop_deeper_than_spiff_can_see_is_an_incident_not_completed() -> None:
    flows = (
        '    <bpmn:sequenceFlow id="again" sourceRef="gw" targetRef="work">'
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">more == True</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>\n"
    )
    gateway = '    <bpmn:exclusiveGateway id="gw" default="P_f2"/>\n'
    document = definitions(process("P", start(), user("work"), gateway, end(), flows=flows))
    spec = compile_process({"rework.bpmn": document})
    with limits.overridden(max_task_depth=40):
        wf = runtime.new_workflow(spec)
        with pytest.raises(LimitExceeded) as err:
            for _ in range(100):
                [task] = runtime.ready_human_tasks(wf)
                runtime.complete_task(wf, task.id, {"more": True})
    assert "循环" in err.value.message_zh
    assert not runtime.is_completed(wf)


def test_the_engine_work_of_one_command_has_a_wall_clock_bound() -> None:
    steps = [script(f"s{i}", "x = sum(range(900000))") for i in range(40)]
    spec = compiled(*steps)
    with limits.overridden(command_seconds=0.05), pytest.raises(LimitExceeded) as err:
        runtime.new_workflow(spec)
    assert "秒" in err.value.message_zh


def test_the_steps_of_one_command_are_bounded() -> None:
    spec = compiled(*[script(f"s{i}", "x = 1") for i in range(30)])
    with limits.overridden(max_steps_per_command=10), pytest.raises(LimitExceeded) as err:
        runtime.new_workflow(spec)
    assert "10" in err.value.message_zh
    assert runtime.is_completed(runtime.new_workflow(spec))


def test_task_data_written_by_a_script_is_bounded() -> None:
    spec = compiled(script("big", "blob = 'x' * 600000"))
    with limits.overridden(max_task_data_bytes=500_000), pytest.raises(LimitExceeded) as err:
        runtime.new_workflow(spec)
    assert err.value.element_id == "big"
    runtime.new_workflow(spec)  # within the default


def test_task_data_from_a_form_is_bounded() -> None:
    wf = runtime.new_workflow(compiled(user("A")))
    [task] = runtime.ready_human_tasks(wf)
    with limits.overridden(max_task_data_bytes=1000), pytest.raises(DataError):
        runtime.complete_task(wf, task.id, {"text": "x" * 2000})


def test_a_missing_variable_is_reported_plainly_with_the_element() -> None:
    # The review: the handler saw "NameError: name 'decision' is not defined".
    flows = (
        '    <bpmn:sequenceFlow id="yes" sourceRef="gw" targetRef="E1">'
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">decision == "approve"</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>\n"
        '    <bpmn:sequenceFlow id="no" sourceRef="gw" targetRef="E2">'
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">decision == "refuse"</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>\n"
    )
    chained = process("P", start(), user("review"), '    <bpmn:exclusiveGateway id="gw"/>\n', end("E1"), end("E2"),
                      flows=flows)
    for chain_flow in ('<bpmn:sequenceFlow id="P_f2" sourceRef="gw" targetRef="E1"/>\n',
                       '<bpmn:sequenceFlow id="P_f3" sourceRef="E1" targetRef="E2"/>\n'):
        chained = chained.replace(chain_flow, "")
    doc = definitions(chained)
    wf = runtime.new_workflow(compile_process({"p.bpmn": doc}))
    [task] = runtime.ready_human_tasks(wf)
    with pytest.raises(ScriptError) as err:
        runtime.complete_task(wf, task.id, {"recommendation": "approve"})
    assert err.value.element_id == "gw"
    assert "NameError" not in str(err.value) and "is not defined" not in str(err.value)
    assert err.value.message_en == "variable decision is not set at element gw"
    assert "decision" in err.value.message_zh and "gw" in err.value.message_zh


def test_a_one_off_duration_timer_is_not_a_cycle_and_is_unaffected(t0: datetime) -> None:
    spec = compiled(timer_catch("T", "timeDuration", "PT1S"))
    with frozen_time(t0):
        wf = runtime.new_workflow(spec)
    runtime.advance(wf, t0 + timedelta(seconds=2))
    assert runtime.is_completed(wf)
