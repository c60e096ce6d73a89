"""Third-party BPMN (../shared/corpus, read in place): each file compiles and runs as far as it goes, or is
rejected with a clear BpmnError. The table records which, so a change in behaviour shows up as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from engine_support import CORPUS
from roundtrip import roundtrip
from SpiffWorkflow.util.task import TaskState

from engine import runtime
from engine.clock import frozen_time
from engine.definitions import compile_process
from engine.errors import BpmnError, ScriptError

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")


@dataclass(frozen=True)
class Runs:
    """Compiles; driven with generic task completion (and clock jumps to the next timer) it ends like this."""

    process_id: str
    completed: bool = True
    data: dict[str, Any] = field(default_factory=dict)
    form: dict[str, Any] = field(default_factory=dict)
    timers_first: bool = False  # jump the clock before completing tasks (timer-driven diagrams)
    incident: tuple[str, str] | None = None  # (ScriptError code, element id) where it stops
    must_complete: tuple[str, ...] = ()  # element ids that must have run


@dataclass(frozen=True)
class Rejected:
    code: str
    element_id: str | None = None
    line: int | None = None


TABLE: dict[str, Runs | Rejected] = {
    # Layout-only MIWG file: its only process has isExecutable="false".
    "miwg/A.1.0.bpmn": Rejected("no_process"),
    # Camunda 7 invoice: the service task has camunda:delegateExpression but no spiffworkflow operator.
    # (Its ${approved} JUEL conditions would be translated; see test_engine_juel.py.)
    "miwg/C.1.0.bpmn": Rejected("parse", "archiveInvoice", 570),
    # Bare ISO timers R6/P1D and P7D now run: six daily reminders, then the one-week escalation.
    "miwg/C.9.1.bpmn": Runs(
        "requestDocument_en",
        must_complete=(
            "BoundaryEvent_1",
            "SendTask_SendReminderEmail",
            "BoundaryEvent_2",
            "UserTask_CallCustomer",
        ),
    ),
    # Zeebe FEEL condition "=fraud" is not Python (and its zeebe:loopCharacteristics multi-instance has no
    # cardinality Spiff understands, which would be the next error).
    "miwg/C.9.2.bpmn": Rejected("script_forbidden", "SequenceFlow_Yes", 165),
    "spiffworkflow/Approvals.bpmn": Runs(
        "Approvals", must_complete=("Approvals.Parallel_SP", "Parallel_Approvals_SP.Manager_Approval")
    ),
    "spiffworkflow/boundary_timer_on_task.bpmn": Runs("test_timer"),
    "spiffworkflow/event-subprocess.bpmn": Runs("main"),
    # No condition matches and there is no default flow: the gateway fails, the case is an incident.
    "spiffworkflow/exclusive_gateway_no_default.bpmn": Runs(
        "NoDefaultGateway", completed=False, data={"x": 1}, incident=("workflow_error", "Gateway_CheckValue")
    ),
    "spiffworkflow/human_task_metadata.bpmn": Runs("Process_human_task_metadata"),
    "spiffworkflow/lanes.bpmn": Runs("lanes", form={"NeedClarification": "No"}),
    "spiffworkflow/parallel_multiinstance_loop_input.bpmn": Runs(
        "main", data={"input_data": [1, 2, 3]}, form={"output_item": 7}
    ),
    "spiffworkflow/subWorkflowComplex.bpmn": Runs("SubWorkflow"),
    # The parallel join waits for the reminder branch, so the 0.2 s timer has to fire before work is done.
    "spiffworkflow/timer-non-interrupt-boundary.bpmn": Runs(
        "NonInterruptTimer",
        form={"work_done": "Yes", "delay_reason": "busy"},
        timers_first=True,
        must_complete=("Event_0jyy8ao", "GetReason"),
    ),
    "spiffworkflow/transaction.bpmn": Runs("Main_Process", form={"value": "v", "quantity": 2}),
}


def test_table_covers_every_corpus_file() -> None:
    on_disk = {p.relative_to(CORPUS).as_posix() for p in CORPUS.glob("*/*.bpmn")}
    assert on_disk == set(TABLE)


def drive(wf: Any, expected: Runs, start: datetime, max_steps: int = 60) -> Any:
    """Complete READY human tasks with the table's form data; when none is ready, jump to the next timer."""
    now = start
    for _ in range(max_steps):
        if runtime.is_completed(wf):
            break
        ready = runtime.ready_human_tasks(wf)
        due = runtime.next_timer_due(wf)
        if ready and not (expected.timers_first and due is not None):
            with frozen_time(now):
                runtime.complete_task(wf, ready[0].id, expected.form)
            wf = roundtrip(wf)
        elif due is not None:
            now = max(now, due) + timedelta(seconds=1)
            runtime.advance(wf, now=now)
        else:
            break
    return wf


@pytest.mark.parametrize("name", sorted(TABLE))
def test_corpus_file(name: str, t0: datetime) -> None:
    expected = TABLE[name]
    files = {name: (CORPUS / name).read_bytes()}
    if isinstance(expected, Rejected):
        with pytest.raises(BpmnError) as err:
            compile_process(files)
        assert err.value.code == expected.code
        assert err.value.filename == name
        assert err.value.element_id == expected.element_id
        if expected.line is not None:
            assert err.value.line == expected.line
        assert " / " in err.value.message
        return

    compiled = compile_process(files)
    assert compiled.process_id == expected.process_id
    try:
        with frozen_time(t0):
            wf = runtime.new_workflow(compiled, expected.data)
        wf = drive(wf, expected, t0)
    except ScriptError as err:
        assert expected.incident == (err.code, err.element_id), err
        return
    assert expected.incident is None
    assert runtime.is_completed(wf) == expected.completed
    assert set(expected.must_complete) <= set(runtime.element_states(wf)["completed"])


def test_miwg_c91_timers_in_detail(t0: datetime) -> None:
    """Bare `R6/P1D` (non-interrupting) and `P7D` (interrupting) on the receive task of C.9.1."""
    compiled = compile_process({"C.9.1.bpmn": (CORPUS / "miwg/C.9.1.bpmn").read_bytes()})
    with frozen_time(t0):
        wf = runtime.new_workflow(compiled)
    assert set(runtime.element_states(wf)["current"]) == {
        "ReceiveTask_WaitForDocument",
        "BoundaryEvent_1",
        "BoundaryEvent_2",
    }
    assert runtime.next_timer_due(wf) == t0 + timedelta(days=1)

    runtime.advance(wf, now=t0 + timedelta(days=2, hours=1))
    wf = roundtrip(wf)
    reminders = [
        t
        for t in wf.get_tasks()
        if t.task_spec.name == "EndEvent_ReminderSent" and t.state == TaskState.COMPLETED
    ]
    assert len(reminders) == 2
    assert runtime.ready_human_tasks(wf) == []
    assert runtime.next_timer_due(wf) == t0 + timedelta(days=3)

    runtime.advance(wf, now=t0 + timedelta(days=7, seconds=1))
    (call_customer,) = runtime.ready_human_tasks(wf)
    assert call_customer.spec_name == "UserTask_CallCustomer"
    assert runtime.next_timer_due(wf) is None  # the interrupting timer cancelled the daily reminders
    runtime.complete_task(wf, call_customer.id, {})
    assert runtime.is_completed(wf)
