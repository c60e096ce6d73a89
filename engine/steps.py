"""One engine step as a plain function: a request in, an outcome out. This is what a worker process runs.

The service layer never holds a running workflow while it writes: it sends the saved state, the id (content
hash) of the deployed version and the operation, and gets back the new state plus everything it needs to
write afterwards (workflow data before and after, the READY human tasks, completion, an incident, the next
timer due, the facts the deadline clock reads). Requests and outcomes are plain picklable data.

`execute` never raises for anything a diagram, a form or a saved state can cause: a failing script is an
`incident`, a refused input a `refusal`, anything else a `failure` (the text of an engine bug), so that one
bad case cannot take the worker down with an exception. Out-of-memory is reported as an incident too, and
asks for the worker to be replaced (`recycle`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.util.task import TaskState

from . import limits as engine_limits
from . import runtime
from .clock import frozen_time
from .definitions import CompiledProcess, compile_process
from .errors import DataError, ScriptError
from .limits import EngineLimits

START, COMPLETE, ADVANCE, RETRY = "start", "complete", "advance", "retry"
OPERATIONS = (START, COMPLETE, ADVANCE, RETRY)

# Why a step was refused without changing the case (the service layer turns these into its own errors).
TASK_NOT_READY = "task_not_ready"
BAD_DATA = "bad_data"


@dataclass(frozen=True)
class StepRequest:
    op: str  # one of OPERATIONS
    definition_key: str  # the deployed version's content hash: the worker caches the parsed spec by it
    process_id: str
    state: str | None = None  # the saved case (not for START)
    data: dict[str, Any] | None = None  # START: start data; COMPLETE: the form; RETRY: corrections
    task_id: str | None = None  # COMPLETE
    now: datetime | None = None  # ADVANCE: fire the timers due by this moment
    pinned: datetime | None = None  # the caller's pinned engine clock (tests, the scheduler's "now")
    limits: EngineLimits | None = None  # the caller's bounds of engine work (engine.limits); None: defaults
    files: Mapping[str, bytes] | None = None  # the version's files, sent only to a worker that lacks them


@dataclass(frozen=True)
class TaskRow:
    """A READY human task as its derived row needs it."""

    id: str
    spec_name: str
    title: str
    lane: str | None
    form: str | None
    properties: dict[str, str] = field(default_factory=dict)  # the element's spiffworkflow:property values


@dataclass(frozen=True)
class WorkflowFacts:
    """What the deadline clock (services.clock.refresh) reads from a workflow."""

    accepted: bool
    decided: bool
    completed: bool
    report_type: str | None
    step_kinds: dict[str, str]  # stepKind -> id of a current element carrying it
    delivered: bool = False  # the result (决定书, 备案回执 or 退回通知) went out: result_delivery ran
    ready: frozenset[str] = frozenset()  # ids of the READY user tasks (the shared acceptance's included)
    supplement_received_date: str | None = None
    supplement_notices: int = 0


@dataclass
class StepOutcome:
    state: str | None = None  # the new saved state; None: keep the stored one (see `lost`) or none at all
    before: dict[str, Any] = field(default_factory=dict)  # workflow data before the step (not for START)
    data: dict[str, Any] = field(default_factory=dict)  # workflow data after it
    ready: list[TaskRow] = field(default_factory=list)
    completed: bool = False
    next_timer_due: datetime | None = None
    facts: WorkflowFacts | None = None
    incident: str | None = None  # "<element id>: <message>" when the case stops
    retried: list[str] = field(default_factory=list)  # RETRY: element ids run again
    task_process_id: str | None = None  # COMPLETE: the process (main or called) that defines the task
    refusal: str | None = None  # TASK_NOT_READY | BAD_DATA: nothing happened
    refusal_path: str = ""  # BAD_DATA: which value
    failure: str | None = None  # an unexpected engine error (a bug or a damaged state), as text
    lost: bool = False  # the step did not finish (worker stopped): nothing of it is kept
    recycle: bool = False  # the worker ran out of memory and should be replaced
    need_definition: bool = False  # the worker does not know `definition_key`: send the files
    seconds: float = 0.0  # time spent in the worker

    @classmethod
    def stopped(cls, message: str) -> StepOutcome:
        """The outcome of a step whose worker was stopped: the case becomes an incident, state unchanged."""
        return cls(incident=f": {message}", lost=True)


class DefinitionCache:
    """Parsed specs by content hash (deployed versions are immutable), the most recently used kept."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[str, CompiledProcess] = OrderedDict()

    def get(self, key: str) -> CompiledProcess | None:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
        return hit

    def put(self, key: str, compiled: CompiledProcess) -> CompiledProcess:
        self._items[key] = compiled
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return compiled

    def __contains__(self, key: str) -> bool:
        return key in self._items


MEMORY_MESSAGE = ("流程步骤占用内存超出上限，已被终止；请检查流程中的脚本后重试",
                  "the step used more memory than allowed and was stopped; check the diagram's scripts, then retry")


def execute(request: StepRequest, definitions: DefinitionCache) -> StepOutcome:
    """Run one step; see the module docstring for what comes back."""
    started = time.perf_counter()
    compiled = definitions.get(request.definition_key)
    if compiled is None:
        if request.files is None:
            return StepOutcome(need_definition=True)
        try:
            compiled = definitions.put(request.definition_key,
                                       compile_process(request.files, request.process_id))
        except Exception as exc:  # a stored version always compiled once; this is an engine problem
            return StepOutcome(failure=f"the deployed version cannot be compiled: {exc!r}")
    pin = frozen_time(request.pinned) if request.pinned is not None else nullcontext()
    # The bounds are the caller's (its configuration, a test's override), not this process's defaults.
    bounds = (engine_limits.overridden(**request.limits.as_dict()) if request.limits is not None
              else nullcontext())
    try:
        with pin, bounds:
            outcome = _run(request, compiled)
    except MemoryError:
        outcome = replace(StepOutcome.stopped(" / ".join(MEMORY_MESSAGE)), recycle=True)
    except Exception as exc:  # noqa: BLE001 - reported to the caller, who raises it there
        outcome = StepOutcome(failure=f"{exc.__class__.__name__}: {exc}")
    outcome.seconds = time.perf_counter() - started
    return outcome


def _caused_by_memory(exc: BaseException) -> bool:
    """MemoryError anywhere in the chain of causes (a chain may loop back on itself: stop there)."""
    visited: set[int] = set()
    seen: BaseException | None = exc
    while seen is not None and id(seen) not in visited:
        if isinstance(seen, MemoryError):
            return True
        visited.add(id(seen))
        seen = seen.__cause__ or seen.__context__
    return False


def _run(request: StepRequest, compiled: CompiledProcess) -> StepOutcome:
    wf = None
    before: dict[str, Any] = {}
    task_process: str | None = None
    incident: str | None = None
    recycle = False
    retried: list[str] = []
    try:
        if request.op == START:
            wf = runtime.new_workflow(compiled, request.data)
        else:
            if request.state is None:
                raise ValueError(f"{request.op} needs the saved state")
            wf = runtime.loads(request.state, compiled)
            before = runtime.workflow_data(wf)
            if request.op == COMPLETE:
                # Read before it runs: a completed subprocess goes away (element ids repeat across the files of
                # a bundle, so the documents a task issues are keyed by its process too).
                task_process = _process_of_task(wf, str(request.task_id))
                runtime.complete_task(wf, str(request.task_id), request.data or {})
            elif request.op == ADVANCE:
                runtime.advance(wf, request.now)
            elif request.op == RETRY:
                retried = runtime.retry_failed(wf, request.data)
            else:
                raise ValueError(f"unknown operation {request.op!r}")
    except runtime.TaskNotReady:
        return StepOutcome(refusal=TASK_NOT_READY)
    except DataError as err:
        return StepOutcome(refusal=BAD_DATA, refusal_path=err.path)
    except ScriptError as err:
        if _caused_by_memory(err):
            # The worker hit its address-space limit inside a script: say so plainly, and replace the worker
            # (its heap may be fragmented far beyond what it needs).
            incident, recycle = f"{err.element_id or ''}: {' / '.join(MEMORY_MESSAGE)}", True
        else:
            incident = f"{err.element_id or ''}: {err.message}"
        if request.op == START:
            wf = None  # a start that failed half-way keeps no state (the case stops before it started)
    if wf is None:
        return StepOutcome(incident=incident, recycle=recycle)
    return StepOutcome(
        state=runtime.dumps(wf),
        before=before,
        data=runtime.workflow_data(wf),
        ready=[TaskRow(t.id, t.spec_name, t.title, t.lane, t.form, t.properties)
               for t in runtime.ready_human_tasks(wf)],
        completed=runtime.is_completed(wf),
        next_timer_due=runtime.next_timer_due(wf),
        facts=workflow_facts(wf),
        incident=incident,
        retried=retried,
        task_process_id=task_process,
        recycle=recycle,
    )


def _process_of_task(wf: Any, task_id: str) -> str | None:
    try:
        task = wf.get_task_from_id(UUID(task_id))
    except Exception:  # not a UUID, or unknown: Spiff raises its own TaskNotFoundException
        return None
    return getattr(getattr(getattr(task, "workflow", None), "spec", None), "name", None)


def workflow_facts(wf: Any) -> WorkflowFacts:
    """What the clock needs from the engine: the current elements (READY user tasks, WAITING timer and
    other catch events, STARTED call activities) with their ``stepKind`` property, and a few data keys."""
    current = wf.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)
    datas = [t.data for t in current]
    last = getattr(wf, "last_task", None)
    if last is not None:
        datas.append(last.data)
    datas.append(getattr(wf, "data", None) or {})
    kinds: dict[str, str] = {}
    for task in current:
        props = (getattr(task.task_spec, "extensions", None) or {}).get("properties") or {}
        kind = props.get("stepKind")
        if kind:
            kinds.setdefault(str(kind), str(getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name))
    report_type = next((d["report_type"] for d in datas if d.get("report_type")), None)
    ready = frozenset(
        str(getattr(t.task_spec, "bpmn_id", None) or t.task_spec.name)
        for t in current if t.state == TaskState.READY and getattr(t.task_spec, "manual", False)
    )
    received = next((d["supplement_received_date"] for d in datas if d.get("supplement_received_date")), None)
    notices = max((d.get("supplement_notices") or 0 for d in datas
                   if isinstance(d.get("supplement_notices"), int)), default=0)
    return WorkflowFacts(
        accepted=any(d.get("accepted") is True for d in datas),
        decided=any(d.get("decision") in ("approve", "refuse") for d in datas),
        completed=bool(wf.is_completed()),
        report_type=str(report_type) if report_type else None,
        step_kinds=kinds,
        delivered=any(d.get("delivered") is True for d in datas),
        ready=ready,
        supplement_received_date=str(received) if received else None,
        supplement_notices=int(notices),
    )
