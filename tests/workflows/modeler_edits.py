"""Edits a designer makes in the modeler, applied to a diagram's XML for tests of the deploy gate."""

from __future__ import annotations

from lxml import etree

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
}


def _one(tree: etree._Element, xpath: str, **params: str) -> etree._Element:
    [found] = tree.xpath(xpath, namespaces=NS, **params)
    return found


def _remove(tree: etree._Element, xpath: str, **params: str) -> None:
    for element in tree.xpath(xpath, namespaces=NS, **params):
        element.getparent().remove(element)


def delete_step(xml: bytes | str, element_id: str) -> bytes:
    """Delete a step with one outgoing flow, as in the modeler: the step, its shape and its outgoing flow go,
    and the flows that came in are reconnected to where the step led."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    tree = etree.fromstring(data)
    step = _one(tree, "//bpmn:*[@id=$id]", id=element_id)
    [out] = tree.xpath("//bpmn:sequenceFlow[@sourceRef=$id]", namespaces=NS, id=element_id)
    target = out.get("targetRef")
    target_node = _one(tree, "//bpmn:*[@id=$id]", id=target)
    _remove(tree, "//bpmn:*[@id=$id]/bpmn:incoming[text()=$flow]", id=target, flow=out.get("id"))
    for flow in tree.xpath("//bpmn:sequenceFlow[@targetRef=$id]", namespaces=NS, id=element_id):
        flow.set("targetRef", target)
        incoming = etree.Element(f"{{{NS['bpmn']}}}incoming")
        incoming.text = flow.get("id")
        outgoing = target_node.find("bpmn:outgoing", NS)  # XSD order: ..., incoming, outgoing
        if outgoing is not None:
            outgoing.addprevious(incoming)
        else:
            target_node.append(incoming)
    step.getparent().remove(step)
    out.getparent().remove(out)
    _remove(tree, "//bpmn:flowNodeRef[text()=$id]", id=element_id)
    _remove(tree, "//bpmndi:BPMNShape[@bpmnElement=$id]", id=element_id)
    _remove(tree, "//bpmndi:BPMNEdge[@bpmnElement=$id]", id=out.get("id"))
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def rename_id(xml: bytes | str, old: str, new: str) -> bytes:
    """Give an element another id (its name stays), with every reference to it."""
    text = xml.decode("utf-8") if isinstance(xml, bytes) else xml
    for pattern in ('id="{}"', 'sourceRef="{}"', 'targetRef="{}"', 'bpmnElement="{}"', ">{}<", 'attachedToRef="{}"'):
        text = text.replace(pattern.format(old), pattern.format(new))
    return text.encode("utf-8")


def add_condition_flow(xml: bytes | str, flow_id: str, source: str, target: str, condition: str) -> bytes:
    """One more conditional sequence flow (without DI: bpmn-js tolerates it, the engine ignores DI)."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    tree = etree.fromstring(data)
    process = _one(tree, "//bpmn:*[@id=$id]/..", id=source)
    flow = etree.SubElement(process, f"{{{NS['bpmn']}}}sequenceFlow", id=flow_id, sourceRef=source, targetRef=target)
    expression = etree.SubElement(flow, f"{{{NS['bpmn']}}}conditionExpression")
    expression.set("{http://www.w3.org/2001/XMLSchema-instance}type", "bpmn:tFormalExpression")
    expression.text = condition
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
