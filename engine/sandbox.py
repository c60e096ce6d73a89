"""The script environment and script engine that SpiffWorkflow runs every script and expression through.

SpiffWorkflow calls `environment.evaluate` / `environment.execute` for script tasks, pre/post scripts,
gateway conditions, timer values, multi-instance expressions, message payloads and correlations (some of
them bypass the engine and call the environment directly), so the sandbox lives in the environment:

- the source is compiled by the restricted compiler (policy.py), cached by source text;
- it runs with SAFE_BUILTINS only, inside a time/memory Budget;
- task data goes in as globals and comes back as plain variables: no guard name, builtin or function is
  ever written into task data, and what comes back must be storable as JSON (jsondata.py).
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask

from . import limits
from .budget import DEFAULT_MEMORY_LIMIT, DEFAULT_TIME_LIMIT, Budget, BudgetExceeded
from .errors import CODE_DATA, CODE_MEMORY, CODE_SCRIPT_ERROR, ScriptError, ScriptTimeout, VariableUnset
from .guards import SAFE_BUILTINS
from .jsondata import DataProblem, check_data
from .policy import BUDGET_CHECK, SCRIPT_FILENAME, compile_restricted

# Raised by a script, these would stop the worker thread or the process if they got out.
_CAUGHT = (Exception, SystemExit, KeyboardInterrupt, GeneratorExit)


def _script_line(exc: BaseException) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == SCRIPT_FILENAME:
            line = frame.lineno
    return line


def _runtime_error(exc: BaseException) -> ScriptError:
    line = _script_line(exc)
    name = exc.__class__.__name__
    detail = str(exc)
    at_zh = f"（第 {line} 行）" if line else ""
    at_en = f" (line {line})" if line else ""
    if isinstance(exc, NameError) and getattr(exc, "name", None):
        # A plain message, never Python's "NameError: name 'x' is not defined".
        return VariableUnset(str(exc.name), line=line)
    if isinstance(exc, KeyError):
        zh = f"脚本运行出错{at_zh}：键 {detail} 不存在"
    else:
        zh = f"脚本运行出错{at_zh}：{name}: {detail}"
    return ScriptError(zh, f"script failed{at_en}: {name}: {detail}", code=CODE_SCRIPT_ERROR, line=line)


def _budget_error(exc: BudgetExceeded, budget: Budget) -> ScriptError:
    if exc.kind == "memory":
        limit_mb = (budget.memory_limit or 0) // (1024 * 1024)
        return ScriptError(
            f"脚本占用内存过多（超过 {limit_mb} MB），已被终止",
            f"script stopped: it used more than {limit_mb} MB of memory",
            code=CODE_MEMORY,
        )
    return ScriptTimeout(
        f"脚本运行超时（超过 {budget.time_limit:g} 秒），已被终止",
        f"script stopped: it ran longer than {budget.time_limit:g} s",
    )


def _is_variable(value: Any) -> bool:
    # Like Spiff: functions, classes and modules a script defines never become task data.
    return not (callable(value) or isinstance(value, ModuleType))


class SandboxedEnvironment(TaskDataEnvironment):
    """TaskDataEnvironment that compiles with RestrictedPython and runs under a Budget."""

    def __init__(
        self, time_limit: float = DEFAULT_TIME_LIMIT, memory_limit: int | None = DEFAULT_MEMORY_LIMIT
    ):
        # No environment globals: helpers live in the restricted builtins, so a form field that happens to
        # be called "date" or "sum" simply shadows the helper instead of tripping Spiff's overwrite check.
        super().__init__({})
        self.time_limit = time_limit
        self.memory_limit = memory_limit

    def _namespace(self, *sources: Mapping[str, Any]) -> dict[str, Any]:
        namespace: dict[str, Any] = {"__builtins__": SAFE_BUILTINS, "__name__": "bpmn_script"}
        for source in sources:
            for key, value in source.items():
                # Scripts cannot name "_x" variables anyway; keeping them out means data can never shadow
                # a guard such as _getattr_.
                if isinstance(key, str) and not key.startswith("_"):
                    namespace[key] = value
        return namespace

    def _run(self, code: Any, namespace: dict[str, Any], mode: str) -> Any:
        budget = Budget(self.time_limit, self.memory_limit)
        namespace[BUDGET_CHECK] = budget.check
        try:
            with budget:
                if mode == "eval":
                    return eval(code, namespace)  # noqa: S307 - restricted code object, see policy.py
                exec(code, namespace)  # noqa: S102 - restricted code object, see policy.py
                return None
        except BudgetExceeded as exc:
            raise _budget_error(exc, budget) from None
        except ScriptError as exc:  # raised by a guard
            exc.line = exc.line or _script_line(exc)
            raise
        except _CAUGHT as exc:
            raise _runtime_error(exc) from exc

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> Any:
        code = compile_restricted(expression, "eval")
        namespace = self._namespace(external_context or {}, context)
        return self._run(code, namespace, "eval")

    def execute(
        self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> bool:
        if script is None or not script.strip():
            return True  # a script task still waiting for its script is a no-op, not an incident
        code = compile_restricted(script, "exec")
        external = external_context or {}
        namespace = self._namespace(external, context)
        self._run(code, namespace, "exec")

        updates = {
            key: value
            for key, value in namespace.items()
            if not key.startswith("_") and key not in external and _is_variable(value)
        }
        sizes: dict[str, int] = {}
        try:
            check_data(updates, sizes=sizes)
        except DataProblem as problem:
            raise ScriptError(
                f"脚本产生的数据无法保存（{problem.path}）：{problem.zh}",
                f"the script left data that cannot be stored ({problem.path}): {problem.en}",
                code=CODE_DATA,
            ) from None
        # What the script wrote (new or rebound variables) is bounded; data it merely inherited is not its doing.
        written = sum(size for key, size in sizes.items() if key not in context or context[key] is not updates[key])
        too_large = limits.data_too_large(written)
        if too_large:
            raise limits.LimitExceeded(f"脚本产生的{too_large[0]}", f"the script left {too_large[1]}")
        # Variables the script deleted (or turned into functions) leave the task data too, as in Spiff.
        for key in [k for k in context if isinstance(k, str) and not k.startswith("_") and k not in updates]:
            del context[key]
        context.update(updates)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        raise ScriptError("不支持服务任务", "service tasks are not supported", code=CODE_SCRIPT_ERROR)


def _element_id(task: Any) -> str | None:
    spec = getattr(task, "task_spec", None)
    return getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)


class SandboxedScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose errors are ScriptError carrying the BPMN element id."""

    def __init__(self, environment: SandboxedEnvironment | None = None) -> None:
        super().__init__(environment or SandboxedEnvironment())

    def validate(self, expression: str) -> None:
        compile_restricted(expression, "eval")

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        try:
            value = self.environment.evaluate(expression, task.data, external_context)
            spec = getattr(task, "task_spec", None)
            if isinstance(spec, MultiInstanceTask) and spec.cardinality is not None and expression == spec.cardinality:
                # A cardinality computed at run time is bounded before Spiff creates the instances.
                limits.check_cardinality(value, _element_id(task))
            return value
        except ScriptError as exc:
            exc.locate(_element_id(task))
            raise

    def execute(self, task: Any, script: str, external_context: dict[str, Any] | None = None) -> bool:
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except ScriptError as exc:
            exc.locate(_element_id(task))
            raise

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        raise ScriptError(
            "不支持服务任务",
            "service tasks are not supported",
            code=CODE_SCRIPT_ERROR,
            element_id=_element_id(task),
        )


def is_sandboxed(engine: Any) -> bool:
    return isinstance(engine, SandboxedScriptEngine) and isinstance(engine.environment, SandboxedEnvironment)
