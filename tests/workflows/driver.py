"""Test helpers for the diagrams in ``workflows/``.

The scenario table and the driver that runs it are shipped in ``workflows/scenarios.py`` (the deploy gate runs
them on every new version of a matter's diagram); this module re-exports them for the tests and asserts on
their result: ``run_scenario(sc)`` runs a scenario on the shipped diagrams with the engine (sandbox, bounds,
pinned clock, every form payload validated against the task's form) and ``check_expectations`` fails the test
with the scenario's problems. The same table runs through the service layer (``services.cases``, both
database backends) in ``tests/services/test_matter_paths.py`` with ``tests/services/service_driver.py``.

The plain-SpiffWorkflow helpers below (``parser``, ``start_workflow``, ``complete_task``, ``fake_clock``) drive
the diagrams without the engine, for tests of the diagrams themselves:

* all .bpmn files are parsed once with ``SpiffBpmnParser`` (XSD-validated, call activities resolved);
* scripts, conditions and timer expressions run through a RestrictedPython environment (like the engine's
  sandbox: no imports, no dunders), so a diagram that needs more than that fails here;
* every form payload is validated against the task's ``formJsonSchemaFilename`` before it is submitted;
* timers are driven by a fake clock that replaces ``datetime`` in SpiffWorkflow's timer module.
"""

from __future__ import annotations

import copy
import json
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from RestrictedPython import compile_restricted_eval, compile_restricted_exec, limited_builtins, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from workflows import scenarios
from workflows.scenarios import *  # noqa: F403 - the scenario table and its payload builders
from workflows.scenarios import START_TIME, Scenario, ScenarioRun, end_state_problems

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
SCHEMAS = ROOT / "forms" / "schemas"


def bpmn_files() -> list[Path]:
    return sorted(WORKFLOWS.rglob("*.bpmn"))


@cache
def parser() -> SpiffBpmnParser:
    p = SpiffBpmnParser(validator=VALIDATOR)
    p.add_bpmn_files([str(f) for f in bpmn_files()])
    return p


@cache
def form_schema(filename: str) -> dict:
    return json.loads((SCHEMAS / filename).read_text(encoding="utf-8"))


@cache
def form_validator(filename: str) -> Draft202012Validator:
    schema = form_schema(filename)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate_form(filename: str, data: dict) -> None:
    errors = sorted(form_validator(filename).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        lines = "; ".join(f"{'/'.join(map(str, e.path)) or '(form)'}: {e.message}" for e in errors)
        raise AssertionError(f"form data rejected by {filename}: {lines}")


# -- restricted script environment (mirrors the engine's sandbox rules) ------------------------------------------

_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
            "//=": operator.ifloordiv, "%=": operator.imod}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    return _INPLACE[op](x, y)


class RestrictedEnvironment(TaskDataEnvironment):
    """Compiles every expression and script with RestrictedPython; no imports, no dunder attributes."""

    GUARDS = {
        "_getattr_": safer_getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": default_guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
    }

    def _sandbox(self) -> dict:
        return {"__builtins__": {**safe_builtins, **limited_builtins}, **self.GUARDS}

    def evaluate(self, expression, context, external_context=None):
        compiled = compile_restricted_eval(expression)
        if compiled.errors:
            raise SyntaxError(f"{expression!r}: {compiled.errors}")
        scope = {**self._sandbox(), **(external_context or {}), **context}
        return eval(compiled.code, scope)  # noqa: S307 - restricted code object

    def execute(self, script, context, external_context=None):
        compiled = compile_restricted_exec(script)
        if compiled.errors:
            raise SyntaxError(f"script: {compiled.errors}")
        sandbox = self._sandbox()
        context.update(sandbox)
        context.update(external_context or {})
        try:
            exec(compiled.code, context)  # noqa: S102 - restricted code object
        finally:
            for key in list(context):
                if key in sandbox or key == "__builtins__" or callable(context[key]):
                    context.pop(key)
        return True


def script_engine() -> PythonScriptEngine:
    return PythonScriptEngine(environment=RestrictedEnvironment())


# -- fake clock ---------------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, start: str = START_TIME):
        self.now = datetime.fromisoformat(start)

    def set(self, iso: str) -> None:
        new = datetime.fromisoformat(iso)
        if new < self.now:
            raise AssertionError(f"the clock only moves forward ({iso} < {self.now.isoformat()})")
        self.now = new


@contextmanager
def fake_clock(clock: FakeClock) -> Iterator[FakeClock]:
    real = spiff_timer.datetime

    class ClockDatetime(real):
        @classmethod
        def now(cls, tz=None):
            return clock.now.astimezone(tz) if tz else clock.now

    spiff_timer.datetime = ClockDatetime
    try:
        yield clock
    finally:
        spiff_timer.datetime = real


# -- scenarios (the table and the runner: workflows/scenarios.py) ------------------------------------------------

Run = ScenarioRun


def ready_user_tasks(wf: BpmnWorkflow):
    return wf.get_tasks(state=TaskState.READY, manual=True)


def start_workflow(process_id: str, start: dict) -> BpmnWorkflow:
    p = parser()
    wf = BpmnWorkflow(p.get_spec(process_id), p.get_subprocess_specs(process_id), script_engine=script_engine())
    for task in wf.get_tasks(state=TaskState.READY):
        task.set_data(**copy.deepcopy(start))
    wf.do_engine_steps()
    return wf


def complete_task(wf: BpmnWorkflow, spec_name: str, form: dict) -> tuple[str, str, str]:
    ready = [t for t in ready_user_tasks(wf) if t.task_spec.name == spec_name]
    if len(ready) != 1:
        names = sorted(t.task_spec.name for t in ready_user_tasks(wf))
        raise AssertionError(f"expected one READY task {spec_name!r}, READY user tasks are {names}")
    task = ready[0]
    props = task.task_spec.extensions.get("properties", {})
    filename = props.get("formJsonSchemaFilename")
    if not filename:
        raise AssertionError(f"user task {spec_name!r} has no formJsonSchemaFilename")
    validate_form(filename, form)
    task.data.update(copy.deepcopy(form))
    task.run()
    wf.do_engine_steps()
    return spec_name, task.task_spec.lane, filename


def run_scenario(sc: Scenario) -> ScenarioRun:
    """Run `sc` on the shipped diagrams with the engine; a step that cannot run fails the test."""
    run = scenarios.run_scenario(scenarios.shipped_process(sc.matter), sc)
    if run.failure is not None:
        raise AssertionError(run.failure.message_en)
    return run


def check_expectations(sc: Scenario, run: ScenarioRun) -> None:
    problems = end_state_problems(run)
    assert not problems, "; ".join(p.message_en for p in problems)
