"""JUEL conditions (`${approved}`, MIWG C.1.0) are translated to Python and still run in the sandbox."""

from __future__ import annotations

import pytest
from engine_support import CORPUS, condition_flow, definitions, end, start, user
from lxml import etree

from engine import juel, runtime
from engine.definitions import compile_process
from engine.errors import BpmnError
from engine.sandbox import SandboxedEnvironment

CASES = [
    ("${approved}", {"approved": True}, True),
    ("${!approved}", {"approved": True}, False),
    ("${not approved}", {"approved": False}, True),
    ("${clarified == 'yes'}", {"clarified": "yes"}, True),
    ('${clarified eq "no"}', {"clarified": "yes"}, False),
    ("${amount > 1000 && !rejected}", {"amount": 1500, "rejected": False}, True),
    ("${amount gt 1000 and rejected}", {"amount": 1500, "rejected": False}, False),
    ("${a || b}", {"a": False, "b": True}, True),
    ("${!a == b}", {"a": True, "b": False}, True),  # JUEL: (!a) == b
    ("${invoice.amount >= 10}", {"invoice": {"amount": 10}}, True),
    ("${items[0] ne null}", {"items": ["x"]}, True),
    ("${empty comment}", {"comment": ""}, True),
    ("${empty comment}", {"comment": "ok"}, False),
    ("${x div 2 == 2 && x mod 2 == 0}", {"x": 4}, True),
    ("${vip ? 1 : 2}", {"vip": False}, 2),
    ("#{-n < 0}", {"n": 3}, True),
]


@pytest.mark.parametrize(("text", "data", "expected"), CASES)
def test_translation_evaluates_like_juel(text: str, data: dict, expected: object) -> None:
    python = juel.translate(text)
    assert SandboxedEnvironment().evaluate(python, data) == expected


@pytest.mark.parametrize(
    "text",
    [
        "${execution.getVariable('x')}",
        "${fn(1)}",
        "${a} and ${b}",
        "${a instanceof B}",
        "${__class__}",
        "${a =",
    ],
)
def test_unsupported_juel_is_refused(text: str) -> None:
    with pytest.raises(juel.JuelUnsupported):
        juel.translate(text)


def test_plain_python_is_left_alone() -> None:
    assert not juel.is_juel("amount > 10")
    assert juel.is_juel("  ${ok}\n")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus not found")
def test_every_condition_of_miwg_c10_translates() -> None:
    tree = etree.parse(str(CORPUS / "miwg" / "C.1.0.bpmn"))
    texts = [e.text for e in tree.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}conditionExpression")]
    assert texts and all(juel.is_juel(t) for t in texts)
    env = SandboxedEnvironment()
    results = {t: env.evaluate(juel.translate(t), {"approved": True, "clarified": "yes"}) for t in texts}
    assert results == {
        "${approved}": True,
        "${!approved}": False,
        "${clarified == 'yes'}": True,
        "${clarified == 'no'}": False,
    }


def _gateway(condition: str) -> bytes:
    return definitions(
        '  <bpmn:process id="P" isExecutable="true">\n'
        + start()
        + user("Decide")
        + '    <bpmn:exclusiveGateway id="Gw" default="no"/>\n'
        + user("Approved")
        + user("Rejected")
        + end()
        + '    <bpmn:sequenceFlow id="a" sourceRef="StartEvent" targetRef="Decide"/>\n'
        + '    <bpmn:sequenceFlow id="b" sourceRef="Decide" targetRef="Gw"/>\n'
        + condition_flow("yes", "Gw", "Approved", condition)
        + '    <bpmn:sequenceFlow id="no" sourceRef="Gw" targetRef="Rejected"/>\n'
        + '    <bpmn:sequenceFlow id="c" sourceRef="Approved" targetRef="EndEvent"/>\n'
        + '    <bpmn:sequenceFlow id="d" sourceRef="Rejected" targetRef="EndEvent"/>\n'
        + "  </bpmn:process>\n"
    )


@pytest.mark.parametrize(("approved", "next_task"), [(True, "Approved"), (False, "Rejected")])
def test_juel_gateway_routes(approved: bool, next_task: str) -> None:
    wf = runtime.new_workflow(compile_process({"g.bpmn": _gateway("${approved &amp;&amp; amount &gt; 10}")}))
    runtime.complete_task(wf, runtime.ready_human_tasks(wf)[0].id, {"approved": approved, "amount": 11})
    assert [t.spec_name for t in runtime.ready_human_tasks(wf)] == [next_task]


def test_untranslatable_juel_is_rejected_at_deploy_time() -> None:
    with pytest.raises(BpmnError) as err:
        compile_process({"g.bpmn": _gateway("${execution.getVariable('approved')}")})
    assert (err.value.code, err.value.element_id) == ("juel_unsupported", "yes")
    assert err.value.line is not None
