"""Every expression SpiffWorkflow will hand to its script engine was compiled at deploy time.

The deploy-time check walks the XML; SpiffWorkflow evaluates what its parser put into the specs. This test
walks the parsed specs and asserts that nothing there escaped the XML walk, for a diagram that uses every
kind of expression site and for the corpus files that compile.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from engine_support import CORPUS, condition_flow, definitions, end, process, script, start, user
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition

from engine import expressions
from engine.definitions import CompiledProcess, compile_process
from engine.errors import BpmnError

EVERY_SITE = definitions(
    process(
        "P",
        start(),
        script("Prep", "n = 2\nitems = [1, 2]\nready = True\ncustomer_id = 'c1'"),
        user("Form", pre="shown = 1", post="done = True"),
        '    <bpmn:intermediateCatchEvent id="Wait"><bpmn:timerEventDefinition id="Wait_def">'
        "<bpmn:timeDuration>'PT' + str(n) + 'M'</bpmn:timeDuration></bpmn:timerEventDefinition>"
        "</bpmn:intermediateCatchEvent>\n",
        '    <bpmn:userTask id="Sign"><bpmn:multiInstanceLoopCharacteristics>'
        "<bpmn:loopCardinality>n + 1</bpmn:loopCardinality>"
        "<bpmn:completionCondition>signed_count &gt;= n</bpmn:completionCondition>"
        "</bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>\n",
        '    <bpmn:userTask id="Retry"><bpmn:standardLoopCharacteristics>'
        "<bpmn:loopCondition>attempts &lt; 3</bpmn:loopCondition>"
        "</bpmn:standardLoopCharacteristics></bpmn:userTask>\n",
        '    <bpmn:intermediateCatchEvent id="WhenReady"><bpmn:conditionalEventDefinition id="c_def">'
        "<bpmn:condition>ready and not blocked</bpmn:condition></bpmn:conditionalEventDefinition>"
        "</bpmn:intermediateCatchEvent>\n",
        '    <bpmn:sendTask id="Notify" messageRef="Msg"><bpmn:extensionElements>'
        "<spiffworkflow:messagePayload>{'n': n}</spiffworkflow:messagePayload>"
        "</bpmn:extensionElements></bpmn:sendTask>\n",
        '    <bpmn:intermediateThrowEvent id="Shout"><bpmn:signalEventDefinition id="s_def" signalRef="Sig"/>'
        "</bpmn:intermediateThrowEvent>\n",
        '    <bpmn:receiveTask id="Answer" messageRef="Msg"><bpmn:extensionElements>'
        "<spiffworkflow:processVariableCorrelation><spiffworkflow:propertyId>cid</spiffworkflow:propertyId>"
        "<spiffworkflow:expression>customer_id</spiffworkflow:expression>"
        "</spiffworkflow:processVariableCorrelation></bpmn:extensionElements></bpmn:receiveTask>\n",
        '    <bpmn:exclusiveGateway id="Gw" default="P_f10"/>\n',
        '    <bpmn:serviceTask id="Svc"><bpmn:extensionElements>'
        '<spiffworkflow:serviceTaskOperator id="http/get"><spiffworkflow:parameters>'
        '<spiffworkflow:parameter id="url" type="str" value="base_url + \'/x\'"/>'
        "</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator></bpmn:extensionElements>"
        "</bpmn:serviceTask>\n",
        end(),
        flows=condition_flow("to_svc_alt", "Gw", "EndEvent", "amount &gt; 10"),
    ),
    extra=(
        '  <bpmn:message id="Msg" name="m"/>\n'
        '  <bpmn:signal id="Sig" name="sig"><bpmn:extensionElements>'
        "<spiffworkflow:payloadExpression>{'who': 'me'}</spiffworkflow:payloadExpression>"
        "</bpmn:extensionElements></bpmn:signal>\n"
        '  <bpmn:correlationProperty id="cid" name="cid">'
        '<bpmn:correlationPropertyRetrievalExpression messageRef="Msg">'
        "<bpmn:formalExpression>n</bpmn:formalExpression>"
        "</bpmn:correlationPropertyRetrievalExpression></bpmn:correlationProperty>\n"
    ),
)


def _spec_expressions(result: CompiledProcess) -> Iterator[str]:
    """What SpiffWorkflow 3.2.0 passes to script_engine.evaluate/execute (see engine/expressions.py)."""
    for spec in [result.spec, *result.subprocess_specs.values()]:
        if isinstance(getattr(spec, "completion_condition", None), str):
            yield spec.completion_condition
        for task_spec in spec.task_specs.values():
            for attr in ("script", "prescript", "postscript", "cardinality", "condition"):
                value = getattr(task_spec, attr, None)
                if isinstance(value, str):
                    yield value
            for condition, _ in getattr(task_spec, "cond_task_specs", []):
                if condition is not None:
                    yield condition.args[0]
            for param in (getattr(task_spec, "operation_params", None) or {}).values():
                yield param["value"]
            yield from _event_expressions(getattr(task_spec, "event_definition", None))


def _event_expressions(definition: Any) -> Iterator[str]:
    if definition is None:
        return
    if isinstance(definition, MultipleEventDefinition):
        for item in definition.event_definitions:
            yield from _event_expressions(item)
        return
    if isinstance(getattr(definition, "expression", None), str):
        yield definition.expression
    for prop in [
        *getattr(definition, "correlation_properties", []),
        *getattr(definition, "process_correlations", []),
    ]:
        yield prop.retrieval_expression


def _compile_recording(
    files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> tuple[CompiledProcess, set]:
    checked: set[str] = set()
    original = expressions.compile_restricted

    def record(source: str, mode: str):
        checked.add(source)
        return original(source, mode)

    monkeypatch.setattr(expressions, "compile_restricted", record)
    return compile_process(files), checked


def test_every_expression_site_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    result, checked = _compile_recording({"all.bpmn": EVERY_SITE}, monkeypatch)
    evaluated = set(_spec_expressions(result))
    assert len(evaluated) >= 14  # the diagram really exercises the sites listed in engine/expressions.py
    assert evaluated <= checked


@pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus not found")
@pytest.mark.parametrize("path", sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.glob("*/*.bpmn")))
def test_every_expression_in_the_corpus_is_checked(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        result, checked = _compile_recording({path: (CORPUS / path).read_bytes()}, monkeypatch)
    except BpmnError:
        pytest.skip("rejected at deploy time (see test_engine_corpus.py)")
    assert set(_spec_expressions(result)) <= checked
