"""Hard bounds on the engine work of one command (start, complete, timer tick, incident retry).

A diagram that deploys cleanly can still ask for unbounded work: a call activity that calls its own process,
a multi-instance activity with ten million instances, a timer cycle of one millisecond, a script -> gateway
loop that never ends. Every such case is cut off here and becomes an incident with a plain message (a
LimitExceeded, which is a ScriptError, so the service layer's incident path handles it) instead of a hang, a
memory blow-up or SpiffWorkflow silently marking the case "completed".

The defaults live in EngineLimits; `configure()` replaces them (config.py reads ENGINE_* variables). What
can be checked statically is refused at deploy (engine/bounds.py), with the same numbers.

How the bounds are enforced, at run time:
- steps, call depth, task-tree depth and the wall clock: on every automatic step (the `will_complete_task`
  callback of `do_engine_steps`);
- tasks created: on every Task construction while a command runs (Task.__init__ is wrapped once, below);
  this also bounds a multi-instance activity over a data collection;
- multi-instance cardinality: where the engine evaluates the cardinality expression (sandbox.py), and the
  size of a multi-instance data collection before any instance exists (where the MI specs read it, wrapped
  once below: each instance deep-copies the task data, so the count must be known up front);
- timer cycles: the interval when a cycle is first computed, the firings per command when one fires
  (CycleTimerEventDefinition.cycle_complete is wrapped once, below). Firings over the limit are not an
  error: the timer stays due and fires on the next tick.
- task data: every value set a command writes (start data, form input, script results, corrections).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import (
    ParallelMultiInstanceTask,
    SequentialMultiInstanceTask,
)
from SpiffWorkflow.task import Task

from .errors import CODE_LIMIT, ScriptError

# SpiffWorkflow's task iterator stops at depth 1000 (TaskIterator.max_depth): deeper tasks are invisible to
# get_tasks(), do_engine_steps() and is_completed(), which is how an endless loop ends up "completed".
SPIFF_ITERATOR_DEPTH = 1000


@dataclass(frozen=True)
class EngineLimits:
    max_steps_per_command: int = 500  # automatic steps (scripts, gateways, events) one command may run
    max_tasks_per_command: int = 2000  # task objects one command may create (the shipped matters: < 60)
    max_multi_instance: int = 100  # instances of one multi-instance activity
    max_call_depth: int = 5  # nested call activities / sub-processes (the shipped matters use 1)
    max_task_depth: int = 800  # depth of a case's task tree; Spiff stops seeing tasks at 1000
    min_timer_cycle_seconds: int = 60  # shortest interval of a repeating timer
    max_timer_firings_per_tick: int = 10  # cycle firings one command runs; the rest fire on the next tick
    max_task_data_bytes: int = 32 * 1024 * 1024  # JSON size of the data one command writes into a task
    command_seconds: float = 30.0  # wall clock of one command's engine work (checked between steps)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_limits = EngineLimits()


def current() -> EngineLimits:
    return _limits


def configure(**overrides: Any) -> EngineLimits:
    """Set the limits of this process: the defaults with `overrides` (unknown names raise TypeError)."""
    global _limits
    _limits = EngineLimits(**{k: v for k, v in overrides.items() if v is not None})
    return _limits


@contextmanager
def overridden(**overrides: Any) -> Iterator[EngineLimits]:
    """Temporarily other limits (tests)."""
    global _limits
    saved = _limits
    _limits = replace(_limits, **overrides)
    try:
        yield _limits
    finally:
        _limits = saved


class LimitExceeded(ScriptError):
    """A bound of the engine was hit; the case becomes an incident with this message."""

    default_code = CODE_LIMIT


def _element_id(task: Any) -> str | None:
    spec = getattr(task, "task_spec", None)
    return getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)


class CommandBudget:
    """What one command has used so far; one instance per command, reached through a ContextVar."""

    def __init__(self, limits: EngineLimits) -> None:
        self.limits = limits
        self.steps = 0
        self.tasks_created = 0
        self.timer_firings = 0
        self.deadline = time.monotonic() + limits.command_seconds

    def on_step(self, task: Any) -> None:
        """Before an automatic step runs: steps, wall clock, call depth, task-tree depth."""
        limits = self.limits
        self.steps += 1
        if self.steps > limits.max_steps_per_command:
            raise LimitExceeded(
                f"一次操作中自动执行的步骤超过 {limits.max_steps_per_command} 步（流程可能陷入死循环），已停止",
                f"more than {limits.max_steps_per_command} automatic steps in one command (the process may "
                "loop forever); stopped",
                element_id=_element_id(task),
            )
        if time.monotonic() > self.deadline:
            raise LimitExceeded(
                f"一次操作的引擎运行时间超过 {limits.command_seconds:g} 秒，已停止",
                f"the engine work of one command took longer than {limits.command_seconds:g} s; stopped",
                element_id=_element_id(task),
            )
        workflow = getattr(task, "workflow", None)
        depth = getattr(workflow, "depth", 0) or 0
        if depth > limits.max_call_depth:
            raise LimitExceeded(
                f"调用活动嵌套超过 {limits.max_call_depth} 层（流程可能在调用自身），已停止",
                f"call activities nested deeper than {limits.max_call_depth} levels (a process may call "
                "itself); stopped",
                element_id=_calling_element(workflow) or _element_id(task),
            )
        check_task_depth(task, limits)

    def on_task_created(self) -> None:
        self.tasks_created += 1
        if self.tasks_created > self.limits.max_tasks_per_command:
            raise LimitExceeded(
                f"一次操作中创建的任务超过 {self.limits.max_tasks_per_command} 个，已停止",
                f"more than {self.limits.max_tasks_per_command} tasks created in one command; stopped",
            )

    def may_fire_timer(self) -> bool:
        return self.timer_firings < self.limits.max_timer_firings_per_tick


def _calling_element(workflow: Any) -> str | None:
    """The call activity (or sub-process) that started `workflow`, for the message."""
    try:
        caller = workflow.top_workflow.get_task_from_id(workflow.parent_task_id)
    except Exception:  # not a subworkflow, or the caller is gone
        return None
    return _element_id(caller)


def check_task_depth(task: Any, limits: EngineLimits | None = None) -> None:
    limits = limits or _limits
    depth = task.depth
    if depth > limits.max_task_depth:
        raise LimitExceeded(
            f"本案件的流程已循环执行过多次（任务树深度 {depth}，上限 {limits.max_task_depth}），已停止",
            f"the case went round its loops too often (task tree depth {depth}, limit "
            f"{limits.max_task_depth}); stopped",
            element_id=_element_id(task),
        )


_budget: ContextVar[CommandBudget | None] = ContextVar("runonce_engine_budget", default=None)


def active() -> CommandBudget | None:
    return _budget.get()


@contextmanager
def command() -> Iterator[CommandBudget]:
    """The budget of one command; a nested call (advance inside complete_task) shares the outer one."""
    outer = _budget.get()
    if outer is not None:
        yield outer
        return
    budget = CommandBudget(_limits)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


# --- checks called from the sandbox and the runtime -------------------------------------------------


def check_cardinality(value: Any, element_id: str | None) -> None:
    limit = _limits.max_multi_instance
    if isinstance(value, bool) or not isinstance(value, int):
        raise LimitExceeded(
            f"多实例的数量必须是整数，实际为 {type(value).__name__}",
            f"the multi-instance cardinality must be an integer, not {type(value).__name__}",
            element_id=element_id,
        )
    if value < 0 or value > limit:
        raise LimitExceeded(
            f"多实例的数量 {value} 超出允许范围（0 到 {limit}）",
            f"the multi-instance cardinality {value} is outside 0 … {limit}",
            element_id=element_id,
        )


def check_cycle_seconds(seconds: float, element_id: str | None, value: str = "") -> None:
    minimum = _limits.min_timer_cycle_seconds
    if seconds < minimum:
        raise LimitExceeded(*cycle_too_short_texts(seconds, value), element_id=element_id)


def cycle_too_short_texts(seconds: float, value: str = "") -> tuple[str, str]:
    minimum = _limits.min_timer_cycle_seconds
    shown = f"{value}（{seconds:g} 秒）" if value else f"{seconds:g} 秒"
    shown_en = f"{value} ({seconds:g} s)" if value else f"{seconds:g} s"
    return (
        f"循环定时器的间隔 {shown} 短于允许的最小间隔 {minimum} 秒",
        f"the repeating timer's interval {shown_en} is shorter than the minimum of {minimum} s",
    )


def data_too_large(size: int) -> tuple[str, str] | None:
    """(zh, en) when `size` bytes of task data exceed the limit, else None."""
    limit = _limits.max_task_data_bytes
    if size <= limit:
        return None
    return (
        f"数据量过大（约 {size // 1024} KB，上限 {limit // 1024} KB）",
        f"too much data (about {size // 1024} KB, limit {limit // 1024} KB)",
    )


# --- the wrapped SpiffWorkflow methods ------------------------------------------------------------------
# Installed once at import, like engine/clock.py's timer clock. Outside a command they only add the cycle
# interval and collection size checks, which hold everywhere.

_original_task_init = Task.__init__
_original_cycle_complete = CycleTimerEventDefinition.cycle_complete


def _counted_task_init(self: Task, *args: Any, **kwargs: Any) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.on_task_created()
    _original_task_init(self, *args, **kwargs)


def _bounded_cycle_complete(self: CycleTimerEventDefinition, my_task: Any) -> bool:
    first = my_task._get_internal_data("event_value") is None
    budget = _budget.get()
    if not first and budget is not None and not budget.may_fire_timer():
        return False  # stays due: the next tick fires it
    fired = bool(_original_cycle_complete(self, my_task))
    if first:
        value = my_task._get_internal_data("event_value")
        if isinstance(value, dict) and isinstance(value.get("duration"), int | float):
            try:
                check_cycle_seconds(value["duration"], _element_id(my_task))
            except LimitExceeded:
                my_task.internal_data.pop("event_value", None)  # evaluated again (and refused) on retry
                raise
    if fired and budget is not None:
        budget.timer_firings += 1
    return fired


def _check_collection(spec: Any, my_task: Any) -> None:
    data_input = getattr(spec, "data_input", None)
    if data_input is None or not data_input.exists(my_task):
        return
    try:
        size = len(data_input.get(my_task))
    except TypeError:  # not sized: Spiff refuses it itself
        return
    check_cardinality(size, _element_id(my_task))


def _parallel_create_children(original: Any) -> Any:
    def create_children(self: Any, my_task: Any) -> Any:
        _check_collection(self, my_task)
        return original(self, my_task)

    create_children.runonce_bounded = True  # type: ignore[attr-defined]
    return create_children


def _sequential_remaining(original: Any) -> Any:
    def init_remaining_items(self: Any, my_task: Any) -> Any:
        _check_collection(self, my_task)
        return original(self, my_task)

    init_remaining_items.runonce_bounded = True  # type: ignore[attr-defined]
    return init_remaining_items


def _install() -> None:
    # Where each multi-instance kind reads its collection (task data is inherited only just before).
    for spec_class, name, wrap in (
        (ParallelMultiInstanceTask, "create_children", _parallel_create_children),
        (SequentialMultiInstanceTask, "init_remaining_items", _sequential_remaining),
    ):
        method = getattr(spec_class, name)
        if not getattr(method, "runonce_bounded", False):
            setattr(spec_class, name, wrap(method))
    if Task.__init__ is not _counted_task_init:
        Task.__init__ = _counted_task_init  # type: ignore[method-assign]
    if CycleTimerEventDefinition.cycle_complete is not _bounded_cycle_complete:
        CycleTimerEventDefinition.cycle_complete = _bounded_cycle_complete  # type: ignore[method-assign]


_install()
