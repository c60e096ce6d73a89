"""Run time: create, advance, save and load cases; list and complete their human tasks.

Every workflow this module hands out runs its scripts in the sandbox: `new_workflow` attaches it, and
`loads` (the one load path) attaches it again, because SpiffWorkflow's deserializer always builds workflows
with its unrestricted default engine. Subworkflows (call activities, sub-processes) have no engine of their
own in 3.2.0: `BpmnSubWorkflow.script_engine` reads the top workflow's, so one assignment covers them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from . import limits
from .clock import frozen_time
from .definitions import FORM_PROPERTY, CompiledProcess
from .errors import CODE_WORKFLOW, DataError, ScriptError
from .jsondata import DataProblem, check_data, to_json_safe
from .sandbox import SandboxedScriptEngine

# Spiff's format version plus ours: the state JSON carries it, and loads() accepts only formats that need no
# migration, because Spiff's migrations from 1.0/1.1 eval() timer expressions from the JSON unsandboxed.
# runonce.2 stores a case without its process spec (see _LeanWorkflowConverter); runonce.1 and plain 1.5
# states carry their spec and still load.
SERIALIZER_VERSION: str = f"{SPIFF_SERIALIZER_VERSION}-runonce.2"
_LOADABLE_VERSIONS = frozenset({SERIALIZER_VERSION, f"{SPIFF_SERIALIZER_VERSION}-runonce.1", SPIFF_SERIALIZER_VERSION})

SCRIPT_ENGINE = SandboxedScriptEngine()


class StateError(ValueError):
    """A saved state this engine refuses to load (unknown or old serializer version, not JSON)."""


class _LeanWorkflowConverter(BpmnWorkflowConverter):
    """Saves a case without its process spec and restores it onto the already parsed spec.

    A deployed version is immutable and every case row names it, so embedding the spec in each save (Spiff's
    default) only makes states larger and every load rebuild the same spec objects. Spec objects are shared
    read-only between workflows, exactly as when many workflows are started from one parsed spec.
    """

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["spec"] = workflow.spec.name  # a reference, not the spec
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], compiled: CompiledProcess | None = None) -> BpmnWorkflow:
        if not isinstance(dct.get("spec"), str):
            return super().from_dict(dct)  # a self-contained state (runonce.1, plain Spiff)
        if compiled is None:
            raise StateError("this saved state needs its process definition to be loaded")
        if dct["spec"] != compiled.spec.name:
            raise StateError(f"the saved state is of process {dct['spec']!r}, not {compiled.spec.name!r}")
        dct.pop("spec")
        workflow = self.target_class(compiled.spec, dict(compiled.subprocess_specs), deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _build_serializer() -> BpmnWorkflowSerializer:
    registry = BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BpmnWorkflow: _LeanWorkflowConverter})
    # Spiff knows datetime and timedelta; scripts and forms also produce plain dates.
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    return BpmnWorkflowSerializer(registry, version=SERIALIZER_VERSION)


SERIALIZER = _build_serializer()


class TaskNotReady(Exception):
    """The task does not exist in this case, is not a human task, or is not READY any more."""


@dataclass
class ReadyTask:
    id: str
    spec_name: str
    title: str
    lane: str | None
    form: str | None
    properties: dict[str, str]
    data: dict[str, Any]


# --- creating, saving, loading ---------------------------------------------------------------------


def _attach_sandbox(wf: BpmnWorkflow) -> BpmnWorkflow:
    wf.script_engine = SCRIPT_ENGINE
    return wf


def _checked(data: dict[str, Any] | None, what: str) -> dict[str, Any]:
    copied = copy.deepcopy(dict(data or {}))
    try:
        size = check_data(copied)
    except DataProblem as problem:
        raise DataError(
            f"{what}中的 {problem.path} 无法保存：{problem.zh}",
            f"{problem.path} cannot be stored: {problem.en}",
            path=problem.path,
        ) from None
    too_large = limits.data_too_large(size)
    if too_large:
        raise DataError(f"{what}{too_large[0]}，无法保存", f"{too_large[1]}; it cannot be stored")
    return copied


def new_workflow(compiled: CompiledProcess, data: dict[str, Any] | None = None) -> BpmnWorkflow:
    """A new case at its first wait state (user task READY, timer WAITING, ...).

    Raises ScriptError when a script on the way fails; DataError when `data` cannot be stored.
    """
    initial = _checked(data, "初始数据")
    with limits.command():
        wf = BpmnWorkflow(compiled.spec, dict(compiled.subprocess_specs), script_engine=SCRIPT_ENGINE)
        # The root (Start) task's data is what the first tasks inherit.
        wf.task_tree.data.update(initial)
        advance(wf)
    return wf


def dumps(wf: BpmnWorkflow) -> str:
    return SERIALIZER.serialize_json(wf)


def loads(state: str, compiled: CompiledProcess | None = None) -> BpmnWorkflow:
    """The one way back from a saved state; the workflow comes back sandboxed.

    `compiled` is the case's deployed version: states saved by `dumps` reference their spec instead of
    embedding it, and need it to load.
    """
    try:
        dct = json.loads(state)
    except (TypeError, ValueError) as exc:
        raise StateError(f"the saved state is not JSON: {exc}") from None
    if not isinstance(dct, dict):
        raise StateError("the saved state is not a serialized workflow")
    version = dct.pop(BpmnWorkflowSerializer.VERSION_KEY, None)
    if version not in _LOADABLE_VERSIONS:
        raise StateError(f"serializer version {version!r} cannot be loaded (expected {SERIALIZER_VERSION!r})")
    try:
        wf = SERIALIZER.from_dict(dct, compiled=compiled)
    except StateError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateError(f"the saved state is damaged: {exc!r}") from None
    if not isinstance(wf, BpmnWorkflow):
        raise StateError("the saved state is not a serialized workflow")
    return _attach_sandbox(wf)


# --- running ---------------------------------------------------------------------------------------


def _element_id_of_task(task: Any) -> str | None:
    spec = getattr(task, "task_spec", None)
    return getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)


def _as_script_error(exc: Exception, current: Any) -> ScriptError:
    if isinstance(exc, ScriptError):
        if current is not None:
            exc.locate(_element_id_of_task(current))
        return exc
    task = getattr(exc, "task", None) or current
    element_id = _element_id_of_task(task)
    spec = getattr(exc, "task_spec", None)
    if element_id is None and spec is not None:
        element_id = getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)
    detail = str(exc) or exc.__class__.__name__
    error = ScriptError(
        f"流程执行出错：{detail}",
        f"workflow step failed: {detail}",
        code=CODE_WORKFLOW,
        element_id=element_id,
    )
    error.__cause__ = exc
    return error


MAX_ROUNDS = 50  # timer/engine rounds per advance(); a long catch-up continues on the next call
_ALIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def _progress(wf: BpmnWorkflow) -> tuple[int, int]:
    tasks = [t for w in _workflows(wf) for t in w.tasks.values()]
    return len(tasks), sum(1 for t in tasks if t.state == TaskState.COMPLETED)


def advance(wf: BpmnWorkflow, now: datetime | None = None) -> None:
    """Fire due timers and run every automatic step until the case waits for a person or a timer.

    Spiff fires a cycle timer at most once per refresh, so rounds repeat while anything moves: a scheduler
    that was down for three days catches up three daily reminders in one call.
    Any failure comes out as ScriptError carrying the element id; the failing task is left in ERROR state,
    so the caller can save the case as an incident. `now` pins the clock for this call (tests, catch-up).
    """
    _attach_sandbox(wf)  # cheap, and makes a hand-built workflow safe too
    running: list[Any] = [None]

    try:
        with limits.command() as budget, frozen_time(now) if now is not None else nullcontext():

            def step(task: Any) -> None:
                running[0] = task
                budget.on_step(task)  # raises LimitExceeded when a bound is hit

            for _ in range(MAX_ROUNDS):
                before = _progress(wf)
                wf.refresh_timers()
                wf.do_engine_steps(will_complete_task=step)
                # Only a timer can make refresh_timers() move the case again; cycle firings over the
                # per-tick limit stay due for the next tick.
                if not _waiting_timer_tasks(wf) or _progress(wf) == before or not budget.may_fire_timer():
                    break
            _check_open_tasks(wf, budget.limits)
    except ScriptError as exc:
        raise _as_script_error(exc, running[0]) from exc.__cause__
    except Exception as exc:  # WorkflowException and Spiff's plain errors (e.g. a malformed timer value)
        raise _as_script_error(exc, running[0]) from exc


def _check_open_tasks(wf: BpmnWorkflow, bounds: limits.EngineLimits) -> None:
    """The case's open tasks are within the task-tree depth that SpiffWorkflow can see.

    Spiff's task iterator stops at depth 1000: beyond it, open tasks are invisible and a looping case is
    reported "completed" with work left. A human-task loop deepens the tree by a few levels per round, over
    many commands, so the depth is checked after every command, not only per step.
    """
    for workflow in _workflows(wf):
        for task in workflow.tasks.values():
            if task.state & _ALIVE:
                limits.check_task_depth(task, bounds)


def _find_ready_human_task(wf: BpmnWorkflow, task_id: str) -> Any:
    try:
        uuid = UUID(str(task_id))
    except ValueError:
        raise TaskNotReady(task_id) from None
    try:
        task = wf.get_task_from_id(uuid)
    except Exception:  # Spiff raises TaskNotFoundException (3.2.0) for unknown ids
        task = None
    if task is None or task.state != TaskState.READY or not task.task_spec.manual:
        raise TaskNotReady(task_id)
    return task


def complete_task(wf: BpmnWorkflow, task_id: str, form_data: dict[str, Any]) -> None:
    """Store the form input on the READY human task, complete it and advance the case.

    Top-level keys are replaced, never merged: nested values in task data are shared with earlier tasks.
    """
    task = _find_ready_human_task(wf, task_id)
    data = _checked(form_data, "表单数据")
    _attach_sandbox(wf)
    task.data.update(data)
    with limits.command():
        try:
            task.run()  # post-scripts run here
        except Exception as exc:
            raise _as_script_error(exc, task) from exc
        advance(wf)


# --- reading ---------------------------------------------------------------------------------------


def ready_human_tasks(wf: BpmnWorkflow) -> list[ReadyTask]:
    tasks = []
    for task in wf.get_tasks(state=TaskState.READY, manual=True):
        spec = task.task_spec
        properties = dict((getattr(spec, "extensions", None) or {}).get("properties", {}))
        tasks.append(
            ReadyTask(
                id=str(task.id),
                spec_name=spec.bpmn_id or spec.name,
                title=spec.bpmn_name or spec.bpmn_id or spec.name,
                lane=spec.lane,
                form=properties.get(FORM_PROPERTY),
                properties=properties,
                data=copy.deepcopy(task.data),
            )
        )
    return tasks


def _waiting_timer_tasks(wf: BpmnWorkflow) -> list[Any]:
    timer_kinds = (TimerEventDefinition, MultipleEventDefinition)
    return [
        t for t in wf.event_manager.tasks.values() if isinstance(t.task_spec.event_definition, timer_kinds)
    ]


def _timer_values(task: Any) -> Iterator[str]:
    definition = task.task_spec.event_definition
    definitions = (
        definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
    )
    for item in definitions:
        if isinstance(item, TimerEventDefinition):
            value = item.details(task).value
            if isinstance(value, str):
                yield value


def waiting_timer_names(wf: BpmnWorkflow) -> list[str]:
    """The names of the timer events the workflow waits at (e.g. 公示期满), for "waiting for …" sentences."""
    names = []
    for task in _waiting_timer_tasks(wf):
        name = getattr(task.task_spec, "bpmn_name", None)
        if name and name not in names:
            names.append(str(name))
    return names


def next_timer_due(wf: BpmnWorkflow) -> datetime | None:
    """Earliest due time of a waiting timer (aware UTC), from the same tasks `wf.waiting_events()` reports."""
    due: list[datetime] = []
    for task in _waiting_timer_tasks(wf):
        for value in _timer_values(task):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            due.append(moment.astimezone(UTC))
    return min(due) if due else None


def is_completed(wf: BpmnWorkflow) -> bool:
    """Completed by Spiff's account AND with no open task anywhere in the case (see _check_open_tasks)."""
    if not wf.is_completed():
        return False
    return not any(t.state & _ALIVE for w in _workflows(wf) for t in w.tasks.values())


def _workflows(wf: BpmnWorkflow) -> list[Any]:
    return [wf, *wf.subprocesses.values()]


def workflow_data(wf: BpmnWorkflow) -> dict[str, Any]:
    """What a case shows: the data of the most recently completed task, with the workflow's data over it.

    With parallel branches this is the data of the branch that moved last.
    """
    candidates = [w.last_task for w in _workflows(wf) if w.last_task is not None]
    latest = max(candidates, key=lambda t: t.last_state_change, default=None)
    merged: dict[str, Any] = dict(latest.data) if latest is not None else dict(wf.task_tree.data)
    merged.update(wf.data)
    return to_json_safe(merged)


_CURRENT = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def retry_failed(
    wf: BpmnWorkflow, corrections: dict[str, Any] | None = None, now: datetime | None = None
) -> list[str]:
    """Run again the steps that failed (an incident), after a passing fault or with corrected data.

    Each task in ERROR is reset to run again with the data of the step before it, `corrections` replacing
    top-level keys, and the case advances; a step that fails again raises ScriptError as before. Returns the
    element ids that were retried.
    """
    fixes = _checked(corrections, "更正数据") if corrections else None
    failed = [t for w in _workflows(wf) for t in w.tasks.values() if t.state == TaskState.ERROR]
    with limits.command():
        for task in failed:
            wf.reset_from_task_id(task.id)
            if fixes:  # after the reset: becoming ready again re-inherits the data of the step before
                task.data.update(copy.deepcopy(fixes))
        advance(wf, now)
    return [getattr(t.task_spec, "bpmn_id", None) or t.task_spec.name for t in failed]


def element_states(wf: BpmnWorkflow, main_only: bool = False) -> dict[str, list[str]]:
    """BPMN element ids by state over the case and all its (sub)workflows, for marking the diagram.

    Keys: "completed", "current" (READY/WAITING/STARTED) and "error". An element run in a loop can be in
    "completed" and "current" at once. `main_only` keeps to the main process: ids repeat across the files
    of a bundle (a called process may also have a `start`), so marking the main diagram needs only its own.
    """
    states: dict[str, list[str]] = {"completed": [], "current": [], "error": []}
    for workflow in [wf] if main_only else _workflows(wf):
        for task in workflow.tasks.values():
            element_id = getattr(task.task_spec, "bpmn_id", None)
            if not element_id:
                continue  # Spiff's internal tasks (Start, End, joins) are not on the diagram
            if task.state == TaskState.COMPLETED:
                key = "completed"
            elif task.state & _CURRENT:
                key = "current"
            elif task.state == TaskState.ERROR:
                key = "error"
            else:
                continue
            if element_id not in states[key]:
                states[key].append(element_id)
    return states
