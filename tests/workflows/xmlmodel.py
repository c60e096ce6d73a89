"""Read the committed .bpmn files as XML (lxml) for the structural, DI and catalog tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lxml import etree

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
FLOW_NODE_TAGS = {
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "task", "userTask", "scriptTask", "serviceTask", "manualTask", "sendTask", "receiveTask", "businessRuleTask",
    "callActivity", "subProcess", "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
    "complexGateway",
}


def local(el) -> str:
    return etree.QName(el).localname


@dataclass
class Shape:
    x: float
    y: float
    w: float
    h: float
    label: tuple[float, float, float, float] | None = None

    def overlaps(self, o: Shape) -> bool:
        return not (self.x + self.w <= o.x or o.x + o.w <= self.x or self.y + self.h <= o.y or o.y + o.h <= self.y)

    def inside(self, o: Shape) -> bool:
        return o.x <= self.x and self.x + self.w <= o.x + o.w and o.y <= self.y and self.y + self.h <= o.y + o.h


@dataclass
class Model:
    path: Path
    tree: etree._ElementTree
    process: etree._Element
    process_id: str
    nodes: dict[str, etree._Element] = field(default_factory=dict)
    flows: dict[str, etree._Element] = field(default_factory=dict)
    lanes: dict[str, etree._Element] = field(default_factory=dict)  # lane id -> element
    participants: dict[str, etree._Element] = field(default_factory=dict)
    shapes: dict[str, Shape] = field(default_factory=dict)  # bpmnElement -> bounds
    edges: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    edge_labels: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

    def kind(self, node_id: str) -> str:
        return local(self.nodes[node_id])

    def lane_of(self, node_id: str) -> str:
        for lane in self.lanes.values():
            if node_id in [r.text for r in lane.findall("bpmn:flowNodeRef", NS)]:
                return lane.get("name")
        raise KeyError(node_id)

    def properties(self, node_id: str) -> dict[str, str]:
        props = self.nodes[node_id].findall(
            "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS
        )
        return {p.get("name"): p.get("value") for p in props}

    def user_tasks(self) -> list[str]:
        return [i for i, el in self.nodes.items() if local(el) == "userTask"]

    def called_elements(self) -> set[str]:
        return {el.get("calledElement") for el in self.nodes.values() if local(el) == "callActivity"}

    def outgoing(self, node_id: str) -> list[etree._Element]:
        return [f for f in self.flows.values() if f.get("sourceRef") == node_id]

    def condition(self, flow: etree._Element) -> str | None:
        c = flow.find("bpmn:conditionExpression", NS)
        return c.text if c is not None else None

    def scripts(self) -> dict[str, str]:
        return {i: el.findtext("bpmn:script", namespaces=NS) or "" for i, el in self.nodes.items()
                if local(el) == "scriptTask"}

    def timer_expressions(self) -> dict[str, str]:
        out = {}
        for i, el in self.nodes.items():
            for tag in ("timeDate", "timeDuration", "timeCycle"):
                t = el.find(f"bpmn:timerEventDefinition/bpmn:{tag}", NS)
                if t is not None:
                    out[i] = t.text or ""
        return out

    def step_kinds(self) -> set[str]:
        return {k for i in self.nodes if (k := self.properties(i).get("stepKind"))}


@cache
def load(path: Path) -> Model:
    tree = etree.parse(str(path))
    root = tree.getroot()
    processes = root.findall("bpmn:process", NS)
    assert len(processes) == 1, f"{path.name}: expected exactly one process"
    proc = processes[0]
    m = Model(path, tree, proc, proc.get("id"))
    for el in proc.iter():
        if not isinstance(el.tag, str):
            continue
        name = local(el)
        if name in FLOW_NODE_TAGS:
            m.nodes[el.get("id")] = el
        elif name == "sequenceFlow":
            m.flows[el.get("id")] = el
        elif name == "lane":
            m.lanes[el.get("id")] = el
    for p in root.iterfind("bpmn:collaboration/bpmn:participant", NS):
        m.participants[p.get("id")] = p
    for sh in root.iterfind(".//bpmndi:BPMNShape", NS):
        b = sh.find("dc:Bounds", NS)
        lab = sh.find("bpmndi:BPMNLabel/dc:Bounds", NS)
        m.shapes[sh.get("bpmnElement")] = Shape(
            *(float(b.get(k)) for k in ("x", "y", "width", "height")),
            label=tuple(float(lab.get(k)) for k in ("x", "y", "width", "height")) if lab is not None else None,
        )
    for ed in root.iterfind(".//bpmndi:BPMNEdge", NS):
        m.edges[ed.get("bpmnElement")] = [(float(w.get("x")), float(w.get("y")))
                                          for w in ed.findall("di:waypoint", NS)]
        lab = ed.find("bpmndi:BPMNLabel/dc:Bounds", NS)
        if lab is not None:
            m.edge_labels[ed.get("bpmnElement")] = tuple(float(lab.get(k)) for k in ("x", "y", "width", "height"))
    return m


DELIVERY_MODE_RE = re.compile(r'delivery_mode\s*==\s*"(\w+)"')
