"""Small BPMN builders for engine tests: inline diagrams without DI, wired by sequence flows."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from engine.definitions import CompiledProcess, compile_process

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://example.org/test">\n'
)


def definitions(*processes: str, extra: str = "") -> bytes:
    """A whole document around already built <bpmn:process> strings."""
    return (_HEAD + extra + "".join(processes) + "</bpmn:definitions>\n").encode("utf-8")


def process(process_id: str, *nodes: str, flows: str = "", lanes: str = "", executable: bool = True) -> str:
    """A process whose nodes are chained by sequence flows in the order given (plus any extra `flows`)."""
    ids = [_node_id(n) for n in nodes]
    chain = "".join(
        f'    <bpmn:sequenceFlow id="{process_id}_f{i}" sourceRef="{a}" targetRef="{b}"/>\n'
        for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False))
    )
    lane_set = f'    <bpmn:laneSet id="{process_id}_lanes">\n{lanes}    </bpmn:laneSet>\n' if lanes else ""
    return (
        f'  <bpmn:process id="{process_id}" isExecutable="{"true" if executable else "false"}">\n'
        + lane_set
        + "".join(nodes)
        + chain
        + flows
        + "  </bpmn:process>\n"
    )


def _node_id(node: str) -> str:
    return node.split('id="', 1)[1].split('"', 1)[0]


def start(node_id: str = "StartEvent") -> str:
    return f'    <bpmn:startEvent id="{node_id}"/>\n'


def end(node_id: str = "EndEvent") -> str:
    return f'    <bpmn:endEvent id="{node_id}"/>\n'


def script(node_id: str, code: str) -> str:
    body = f"<bpmn:script>{escape(code)}</bpmn:script>"
    return f'    <bpmn:scriptTask id="{node_id}">\n      {body}\n    </bpmn:scriptTask>\n'


def condition_flow(flow_id: str, source: str, target: str, condition: str) -> str:
    """A sequence flow with a condition; `condition` is inserted as XML text (escape < and & yourself)."""
    expression = (
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>'
    )
    return (
        f'    <bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">\n'
        f"      {expression}\n    </bpmn:sequenceFlow>\n"
    )


def user(
    node_id: str,
    name: str = "",
    form: str | None = None,
    doc: str | None = None,
    pre: str | None = None,
    post: str | None = None,
) -> str:
    ext = ""
    if form or pre or post:
        props = (
            "<spiffworkflow:properties>"
            f'<spiffworkflow:property name="formJsonSchemaFilename" value="{form}"/>'
            "</spiffworkflow:properties>"
            if form
            else ""
        )
        pre_xml = f"<spiffworkflow:preScript>{escape(pre)}</spiffworkflow:preScript>" if pre else ""
        post_xml = f"<spiffworkflow:postScript>{escape(post)}</spiffworkflow:postScript>" if post else ""
        ext = f"<bpmn:extensionElements>{props}{pre_xml}{post_xml}</bpmn:extensionElements>"
    documentation = f"<bpmn:documentation>{escape(doc)}</bpmn:documentation>" if doc else ""
    name_attr = f' name="{escape(name)}"' if name else ""
    return f'    <bpmn:userTask id="{node_id}"{name_attr}>{documentation}{ext}</bpmn:userTask>\n'


def timer_catch(node_id: str, kind: str, value: str) -> str:
    return (
        f'    <bpmn:intermediateCatchEvent id="{node_id}">\n'
        f'      <bpmn:timerEventDefinition id="{node_id}_def">'
        f"<bpmn:{kind}>{escape(value)}</bpmn:{kind}></bpmn:timerEventDefinition>\n"
        "    </bpmn:intermediateCatchEvent>\n"
    )


def call(node_id: str, called: str) -> str:
    return f'    <bpmn:callActivity id="{node_id}" calledElement="{called}"/>\n'


def simple(*nodes: str, process_id: str = "P") -> bytes:
    """One executable process: start, the nodes, end."""
    return definitions(process(process_id, start(), *nodes, end()))


def compiled(*nodes: str, process_id: str = "P") -> CompiledProcess:
    return compile_process({"test.bpmn": simple(*nodes, process_id=process_id)})


def line_of(document: bytes, needle: str) -> int:
    """1-based line of the first occurrence of `needle` (to assert reported line numbers)."""
    text = document.decode("utf-8")
    return text[: text.index(needle)].count("\n") + 1
