"""A small BPMN 2.0 writer: grid layout (lane x column x row) with full diagram interchange (DI).

Used by ``workflows/tools/diagrams.py`` to draw the first version of every diagram. The committed .bpmn
files are the source of truth; this module only helps to (re)draw them readably:

* one collaboration, one participant holding the process' laneSet; lanes stacked top to bottom;
* every node sits in a cell (lane, column, row); columns are ``COLW`` wide, rows ``ROWH`` high;
* sequence flows are routed orthogonally (styles below) and every flow gets a BPMNEdge with waypoints;
* external labels (events, gateways, named flows) get BPMNLabel bounds;
* ``Diagram.check_layout()`` reports overlapping shapes, flows crossing shapes and colliding labels.

Edge styles: ``h`` straight horizontal, ``v`` straight vertical, ``hv`` horizontal then vertical,
``vh`` vertical then horizontal, ``hvh`` horizontal-vertical-horizontal (``mid`` = x of the vertical part),
``vhv`` vertical-horizontal-vertical (``mid`` = y of the horizontal part; used for loops back).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}

COLW = 150  # column pitch
ROWH = 130  # row pitch inside a lane
LANE_PAD = 10
POOL_X = 100
POOL_Y = 60
HEADER = 30  # participant header and lane header widths (bpmn-js draws both on the left)
X0 = POOL_X + 2 * HEADER + 70  # centre x of column 0

SIZES = {
    "start": (36, 36),
    "end": (36, 36),
    "timer": (36, 36),
    "boundary": (36, 36),
    "xor": (50, 50),
    "user": (110, 80),
    "script": (110, 80),
    "call": (110, 80),
}
TAGS = {
    "start": "startEvent",
    "end": "endEvent",
    "timer": "intermediateCatchEvent",
    "boundary": "boundaryEvent",
    "xor": "exclusiveGateway",
    "user": "userTask",
    "script": "scriptTask",
    "call": "callActivity",
}
EXTERNAL_LABEL = {"start", "end", "timer", "boundary", "xor"}


def q(prefix: str, tag: str) -> str:
    return f"{{{NS[prefix]}}}{tag}"


def text_width(text: str) -> int:
    return sum(12 if ord(ch) > 255 else 7 for ch in text) + 4


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def intersects(self, other: Box, margin: float = 0) -> bool:
        return not (
            self.right - margin <= other.x
            or other.right - margin <= self.x
            or self.bottom - margin <= other.y
            or other.bottom - margin <= self.y
        )

    def hit_by_segment(self, a: tuple[float, float], b: tuple[float, float], margin: float = 2) -> bool:
        """True when an axis-parallel segment a-b passes through the box (shrunk by margin)."""
        x1, y1 = a
        x2, y2 = b
        left, right = self.x + margin, self.right - margin
        top, bottom = self.y + margin, self.bottom - margin
        if y1 == y2:
            lo, hi = sorted((x1, x2))
            return top < y1 < bottom and lo < right and hi > left
        if x1 == x2:
            lo, hi = sorted((y1, y2))
            return left < x1 < right and lo < bottom and hi > top
        return False


@dataclass
class Node:
    id: str
    kind: str
    name: str
    lane: str
    col: float
    row: int = 0
    doc: str = ""
    form: str | None = None
    ui: str | None = None
    props: dict[str, str] = field(default_factory=dict)
    script: str | None = None
    called: str | None = None
    time_date: str | None = None
    duration: str | None = None
    attached_to: str | None = None
    interrupting: bool = True
    default: str | None = None  # gateways: id of the default flow
    box: Box | None = None
    label: Box | None = None
    incoming: list[str] = field(default_factory=list)
    outgoing: list[str] = field(default_factory=list)


@dataclass
class Flow:
    id: str
    source: str
    target: str
    name: str = ""
    cond: str | None = None
    style: str | None = None
    mid: float | None = None
    drop: float | None = None  # vhv: run the horizontal part this many rows below the source's centre
    points: list[tuple[float, float]] = field(default_factory=list)
    label: Box | None = None


class Diagram:
    def __init__(self, pid: str, name: str, lanes: list[tuple[str, str]], doc: str = ""):
        """lanes: (lane id suffix, lane name) from top to bottom."""
        self.pid = pid
        self.name = name
        self.doc = doc
        self.lanes = lanes
        self.nodes: dict[str, Node] = {}
        self.flows: dict[str, Flow] = {}
        self.lane_boxes: dict[str, Box] = {}
        self.pool: Box | None = None

    # -- building -------------------------------------------------------------------------------------------
    def _add(self, node: Node) -> Node:
        if node.id in self.nodes:
            raise ValueError(f"duplicate node id {node.id}")
        if node.kind != "boundary" and node.lane not in {name for _, name in self.lanes}:
            raise ValueError(f"{node.id}: unknown lane {node.lane}")
        self.nodes[node.id] = node
        return node

    def start(self, id, name, lane, col, row=0, **kw):
        return self._add(Node(id, "start", name, lane, col, row, **kw))

    def end(self, id, name, lane, col, row=0, **kw):
        return self._add(Node(id, "end", name, lane, col, row, **kw))

    def user(self, id, name, lane, col, row=0, *, form, doc, ui=None, **kw):
        return self._add(Node(id, "user", name, lane, col, row, doc=doc, form=form, ui=ui, **kw))

    def script(self, id, name, lane, col, row=0, *, script, **kw):
        return self._add(Node(id, "script", name, lane, col, row, script=script, **kw))

    def call(self, id, name, lane, col, row=0, *, called, **kw):
        return self._add(Node(id, "call", name, lane, col, row, called=called, **kw))

    def xor(self, id, name, lane, col, row=0, **kw):
        return self._add(Node(id, "xor", name, lane, col, row, **kw))

    def timer(self, id, name, lane, col, row=0, *, time_date=None, duration=None, **kw):
        return self._add(Node(id, "timer", name, lane, col, row, time_date=time_date, duration=duration, **kw))

    def boundary_timer(self, id, name, host, *, duration, interrupting=False, **kw):
        h = self.nodes[host]
        return self._add(
            Node(id, "boundary", name, h.lane, h.col, h.row, attached_to=host, duration=duration,
                 interrupting=interrupting, **kw)
        )

    def flow(self, source, target, name="", cond=None, *, default=False, style=None, mid=None, drop=None, id=None):
        fid = id or f"Flow_{source}_to_{target}"
        if fid in self.flows:
            raise ValueError(f"duplicate flow {fid}")
        self.flows[fid] = Flow(fid, source, target, name, cond, style, mid, drop)
        self.nodes[source].outgoing.append(fid)
        self.nodes[target].incoming.append(fid)
        if default:
            self.nodes[source].default = fid
        return fid

    # -- layout ---------------------------------------------------------------------------------------------
    def layout(self) -> None:
        rows = {name: 1 for _, name in self.lanes}
        for n in self.nodes.values():
            rows[n.lane] = max(rows[n.lane], n.row + 1)
        max_col = max(n.col for n in self.nodes.values())
        width = (X0 - POOL_X) + max_col * COLW + 110
        y = POOL_Y
        for _, lane in self.lanes:
            h = rows[lane] * ROWH + 2 * LANE_PAD
            self.lane_boxes[lane] = Box(POOL_X + HEADER, y, width - HEADER, h)
            y += h
        self.pool = Box(POOL_X, POOL_Y, width, y - POOL_Y)
        for n in self.nodes.values():
            w, h = SIZES[n.kind]
            if n.kind == "boundary":
                host = self.nodes[n.attached_to].box
                n.box = Box(host.right - 30 - w / 2, host.bottom - h / 2, w, h)
                continue
            lane = self.lane_boxes[n.lane]
            cx = X0 + n.col * COLW
            cy = lane.y + LANE_PAD + n.row * ROWH + ROWH / 2
            n.box = Box(cx - w / 2, cy - h / 2, w, h)
        for n in self.nodes.values():  # boundaries after their hosts
            if n.kind == "boundary":
                host = self.nodes[n.attached_to].box
                w, h = SIZES[n.kind]
                n.box = Box(host.right - 30 - w / 2, host.bottom - h / 2, w, h)
        for f in self.flows.values():
            self._route(f)
        for n in self.nodes.values():
            if n.kind in EXTERNAL_LABEL and n.name:
                n.label = self._node_label(n)
        for f in self.flows.values():
            if f.name:
                f.label = self._flow_label(f)

    @staticmethod
    def _auto_style(s: Node, t: Node) -> str:
        if s.kind == "boundary":
            return "vh"
        if abs(s.box.cy - t.box.cy) < 1:
            return "h" if t.box.cx > s.box.cx else "vhv"
        if abs(s.box.cx - t.box.cx) < 1:
            return "v"
        if t.box.cx > s.box.cx:
            if s.kind == "xor":
                return "vh"
            if t.kind == "xor":
                return "hv"
            return "hvh"
        return "vhv"

    def _route(self, f: Flow) -> None:
        s, t = self.nodes[f.source].box, self.nodes[f.target].box
        style = f.style or self._auto_style(self.nodes[f.source], self.nodes[f.target])
        right = t.cx > s.cx
        down = t.cy > s.cy
        if style == "h":
            pts = [(s.right, s.cy), (t.x, t.cy)] if right else [(s.x, s.cy), (t.right, t.cy)]
        elif style == "v":
            pts = [(s.cx, s.bottom), (t.cx, t.y)] if down else [(s.cx, s.y), (t.cx, t.bottom)]
        elif style == "vh":
            pts = [(s.cx, s.bottom if down else s.y), (s.cx, t.cy), (t.x if right else t.right, t.cy)]
        elif style == "hv":
            pts = [(s.right if right else s.x, s.cy), (t.cx, s.cy), (t.cx, t.y if down else t.bottom)]
        elif style == "hvh":
            mx = f.mid if f.mid is not None else (s.right + t.x) / 2 if right else (s.x + t.right) / 2
            a, b = (s.right, t.x) if right else (s.x, t.right)
            pts = [(a, s.cy), (mx, s.cy), (mx, t.cy), (b, t.cy)]
        elif style == "vhv":
            if f.drop is not None:
                my = s.cy + f.drop * ROWH
            elif f.mid is not None:
                my = f.mid
            else:
                my = max(s.bottom, t.bottom) + 22
            sy = s.bottom if my > s.cy else s.y
            ty = t.bottom if my > t.cy else t.y
            pts = [(s.cx, sy), (s.cx, my), (t.cx, my), (t.cx, ty)]
        else:
            raise ValueError(f"{f.id}: unknown style {style}")
        f.style = style
        f.points = [(round(x), round(y)) for x, y in pts]

    def _sides_used(self, n: Node) -> set[str]:
        used = set()
        b = n.box
        for fid in n.incoming + n.outgoing:
            f = self.flows[fid]
            p = f.points[0] if f.source == n.id else f.points[-1]
            if p[1] <= b.y + 0.5:
                used.add("top")
            elif p[1] >= b.bottom - 0.5:
                used.add("bottom")
            elif p[0] <= b.x + 0.5:
                used.add("left")
            else:
                used.add("right")
        if n.kind == "boundary":
            used.add("top")
        return used

    def _node_label(self, n: Node) -> Box:
        w = min(text_width(n.name), 100)
        lines = -(-text_width(n.name) // 100)
        h = 14 * lines
        b = n.box
        used = self._sides_used(n)
        if n.kind == "boundary":
            return Box(b.right + 4, b.bottom - 4, w, h)
        if "bottom" not in used:
            return Box(b.cx - w / 2, b.bottom + 5, w, h)
        if "top" not in used:
            return Box(b.cx - w / 2, b.y - 5 - h, w, h)
        return Box(b.x - w - 2, b.y - h - 2, w, h)

    def _flow_label(self, f: Flow) -> Box:
        w, h = text_width(f.name), 14
        p0, p1 = f.points[0], f.points[1]
        if p0[1] == p1[1]:  # first segment horizontal: label above it, just after the source
            x = p0[0] + 6 if p1[0] > p0[0] else p0[0] - 6 - w
            return Box(x, p0[1] - h - 3, w, h)
        # first segment vertical: label beside it, near the bend
        if len(f.points) > 2:
            p2 = f.points[2]
            if p2[0] > p1[0]:  # turning right: put the label above the horizontal part
                return Box(p1[0] + 6, p1[1] - h - 3, w, h)
            return Box(p1[0] - 6 - w, p1[1] - h - 3, w, h)
        return Box(p0[0] + 5, (p0[1] + p1[1]) / 2 - h / 2, w, h)

    def check_layout(self) -> list[str]:
        problems = []
        nodes = list(self.nodes.values())
        for i, a in enumerate(nodes):
            for b in nodes[i + 1 :]:
                if a.attached_to == b.id or b.attached_to == a.id:
                    continue
                if a.box.intersects(b.box, margin=-4):
                    problems.append(f"{self.pid}: shapes overlap: {a.id} / {b.id}")
        for f in self.flows.values():
            src = self.nodes[f.source]
            skip = {f.source, f.target, src.attached_to}
            for a, b in zip(f.points, f.points[1:], strict=False):
                if a[0] != b[0] and a[1] != b[1]:
                    problems.append(f"{self.pid}: {f.id} has a diagonal segment")
                for n in nodes:
                    if n.id in skip or n.attached_to in {f.source, f.target} and n.kind == "boundary":
                        continue
                    if n.box.hit_by_segment(a, b):
                        problems.append(f"{self.pid}: {f.id} crosses {n.id}")
        labels = [(n.id, n.label) for n in nodes if n.label] + [(f.id, f.label) for f in self.flows.values() if f.label]
        for i, (la, ba) in enumerate(labels):
            for n in nodes:
                if n.id != la and ba.intersects(n.box):
                    problems.append(f"{self.pid}: label of {la} covers {n.id}")
            for lb, bb in labels[i + 1 :]:
                if ba.intersects(bb):
                    problems.append(f"{self.pid}: labels of {la} and {lb} overlap")
            for f in self.flows.values():
                if f.id == la or la in {f.source, f.target}:
                    continue
                for a, b in zip(f.points, f.points[1:], strict=False):
                    if ba.hit_by_segment(a, b, margin=1):
                        problems.append(f"{self.pid}: label of {la} lies on {f.id}")
        for n in nodes:
            if n.kind == "boundary":
                continue
            lane = self.lane_boxes[n.lane]
            if not (lane.x < n.box.x and n.box.right < lane.right and lane.y < n.box.y and n.box.bottom < lane.bottom):
                problems.append(f"{self.pid}: {n.id} is outside its lane {n.lane}")
        return problems

    # -- XML --------------------------------------------------------------------------------------------------
    def to_xml(self) -> bytes:
        if self.pool is None:
            self.layout()
        for n in self.nodes.values():
            if n.kind == "xor" and len(n.outgoing) > 1 and n.default is None:
                conds = [self.flows[f].cond for f in n.outgoing]
                if any(c is None for c in conds):
                    raise ValueError(f"{n.id}: a split flow has neither condition nor default")
            if n.kind not in {"xor"} and len(n.outgoing) > 1:
                raise ValueError(f"{n.id}: a task or event with two outgoing flows")
        E = etree.Element
        S = etree.SubElement
        defs = E(q("bpmn", "definitions"), nsmap=NS)
        defs.set("id", f"Definitions_{self.pid}")
        defs.set("targetNamespace", "http://bpmn.io/schema/bpmn")
        defs.set("exporter", "runonce workflows/tools/bpmngen.py")
        defs.set("exporterVersion", "1.0")
        collab = S(defs, q("bpmn", "collaboration"), id=f"Collaboration_{self.pid}")
        S(collab, q("bpmn", "participant"), id=f"Participant_{self.pid}", name=self.name, processRef=self.pid)
        proc = S(defs, q("bpmn", "process"), id=self.pid, name=self.name, isExecutable="true")
        if self.doc:
            S(proc, q("bpmn", "documentation")).text = self.doc
        lane_set = S(proc, q("bpmn", "laneSet"), id=f"LaneSet_{self.pid}")
        for lane_id, lane_name in self.lanes:
            lane = S(lane_set, q("bpmn", "lane"), id=f"Lane_{lane_id}", name=lane_name)
            for n in self.nodes.values():
                if n.lane == lane_name:
                    S(lane, q("bpmn", "flowNodeRef")).text = n.id
        for n in self.nodes.values():
            self._node_xml(proc, n)
        for f in self.flows.values():
            el = S(proc, q("bpmn", "sequenceFlow"), id=f.id, sourceRef=f.source, targetRef=f.target)
            if f.name:
                el.set("name", f.name)
            if f.cond is not None:
                c = S(el, q("bpmn", "conditionExpression"))
                c.set(q("xsi", "type"), "bpmn:tFormalExpression")
                c.text = f.cond
        self._di_xml(defs)
        etree.indent(defs, space="  ")
        return etree.tostring(defs, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    def _node_xml(self, proc, n: Node) -> None:
        S = etree.SubElement
        el = S(proc, q("bpmn", TAGS[n.kind]), id=n.id)
        if n.name:
            el.set("name", n.name)
        if n.kind == "xor" and n.default:
            el.set("default", n.default)
        if n.kind == "call":
            el.set("calledElement", n.called)
        if n.kind == "script":
            el.set("scriptFormat", "python")
        if n.kind == "boundary":
            el.set("attachedToRef", n.attached_to)
            el.set("cancelActivity", "true" if n.interrupting else "false")
        if n.doc:
            S(el, q("bpmn", "documentation")).text = n.doc
        props = dict(n.props)
        from workflows.titles_en import TASK_TITLES_EN

        if n.kind in ("user", "manual") and n.name in TASK_TITLES_EN:  # the English pages' title
            props["x-title-en"] = TASK_TITLES_EN[n.name]
        if n.form:
            props = {"formJsonSchemaFilename": n.form, **({"formUiSchemaFilename": n.ui} if n.ui else {}), **props}
        if props:
            ext = S(el, q("bpmn", "extensionElements"))
            pe = S(ext, q("spiffworkflow", "properties"))
            for k, v in props.items():
                S(pe, q("spiffworkflow", "property"), name=k, value=v)
        for fid in n.incoming:
            S(el, q("bpmn", "incoming")).text = fid
        for fid in n.outgoing:
            S(el, q("bpmn", "outgoing")).text = fid
        if n.kind == "script":
            S(el, q("bpmn", "script")).text = n.script
        if n.kind in {"timer", "boundary"}:
            ted = S(el, q("bpmn", "timerEventDefinition"), id=f"TimerEventDefinition_{n.id}")
            if n.time_date is not None:
                t = S(ted, q("bpmn", "timeDate"))
                t.text = n.time_date
            else:
                t = S(ted, q("bpmn", "timeDuration"))
                t.text = n.duration
            t.set(q("xsi", "type"), "bpmn:tFormalExpression")

    def _di_xml(self, defs) -> None:
        S = etree.SubElement
        dia = S(defs, q("bpmndi", "BPMNDiagram"), id=f"BPMNDiagram_{self.pid}")
        plane = S(dia, q("bpmndi", "BPMNPlane"), id=f"BPMNPlane_{self.pid}", bpmnElement=f"Collaboration_{self.pid}")

        def bounds(parent, b: Box, tag="Bounds"):
            S(parent, q("dc", tag), x=str(round(b.x)), y=str(round(b.y)), width=str(round(b.w)), height=str(round(b.h)))

        sh = S(plane, q("bpmndi", "BPMNShape"), id=f"Participant_{self.pid}_di",
               bpmnElement=f"Participant_{self.pid}", isHorizontal="true")
        bounds(sh, self.pool)
        for lane_id, lane_name in self.lanes:
            sh = S(plane, q("bpmndi", "BPMNShape"), id=f"Lane_{lane_id}_di", bpmnElement=f"Lane_{lane_id}",
                   isHorizontal="true")
            bounds(sh, self.lane_boxes[lane_name])
        for n in self.nodes.values():
            sh = S(plane, q("bpmndi", "BPMNShape"), id=f"{n.id}_di", bpmnElement=n.id)
            if n.kind == "xor":
                sh.set("isMarkerVisible", "true")
            if n.kind == "call":
                sh.set("isExpanded", "false")
            bounds(sh, n.box)
            if n.label:
                lab = S(sh, q("bpmndi", "BPMNLabel"))
                bounds(lab, n.label)
        for f in self.flows.values():
            ed = S(plane, q("bpmndi", "BPMNEdge"), id=f"{f.id}_di", bpmnElement=f.id)
            for x, y in f.points:
                S(ed, q("di", "waypoint"), x=str(x), y=str(y))
            if f.label:
                lab = S(ed, q("bpmndi", "BPMNLabel"))
                bounds(lab, f.label)
