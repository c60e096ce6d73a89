"""Every diagram: BPMN 2.0 XSD, SpiffWorkflow parsing, executable-design rules, complete and readable DI."""

from __future__ import annotations

import re

import pytest
from driver import WORKFLOWS, bpmn_files, parser
from lxml import etree
from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from SpiffWorkflow.spiff.parser.process import VALIDATOR
from xmlmodel import load, local

FILES = bpmn_files()
IDS = [f.stem for f in FILES]
SHARED = {"window_acceptance", "result_delivery"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_thirteen_diagrams_and_the_departments_processes_are_there():
    from workflows.processes import shipped_processes

    names = {str(f.relative_to(WORKFLOWS)) for f in FILES}
    assert {"shared/window_acceptance.bpmn", "shared/result_delivery.bpmn"} <= names
    matters = sorted(n for n in names if re.fullmatch(r"m\d\d_[a-z0-9_]+\.bpmn", n))
    assert [n[:3] for n in matters] == [f"m{i:02d}" for i in range(1, 12)], matters
    processes = {p.diagram for p in shipped_processes().processes}  # workflows/processes.toml
    assert processes <= names and all(re.fullmatch(r"p\d\d_[a-z0-9_]+\.bpmn", n) for n in processes)
    assert len(names) == 13 + len(processes)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_xsd_valid(path):
    VALIDATOR.validate(etree.parse(str(path)))  # raises ValidationException with the line on failure


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_process_id_matches_file_name(path):
    assert load(path).process_id == path.stem


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_parses_with_spiff_and_call_activities_resolve(path):
    pid = path.stem
    p = parser()
    spec = p.get_spec(pid)
    subs = p.get_subprocess_specs(pid)
    called = load(path).called_elements()
    assert called <= set(subs), f"unresolved call activities {called - set(subs)}"
    if pid.startswith("m"):
        assert "result_delivery" in called, "every matter delivers its result through result_delivery"
    for name in load(path).user_tasks():
        assert spec.task_specs[name].lane, f"user task {name} is in no lane"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_executable_design_rules(path):
    m = load(path)
    assert m.process.get("isExecutable") == "true"
    for node_id, el in m.nodes.items():
        kind = local(el)
        assert kind not in {"complexGateway", "inclusiveGateway"}, f"{node_id}: {kind} is not used here"
        assert el.find(".//{*}linkEventDefinition") is None, f"{node_id}: link events end branches in Spiff"
        assert el.find(".//{*}compensateEventDefinition") is None, f"{node_id}: no compensation in Spiff"
        out = m.outgoing(node_id)
        if kind == "exclusiveGateway" and len(out) > 1:
            default = el.get("default")
            for f in out:
                assert f.get("id") == default or m.condition(f), f"{node_id}: flow {f.get('id')} has no condition"
        elif kind != "exclusiveGateway":
            assert len(out) <= 1, f"{node_id}: a {kind} with {len(out)} outgoing flows (use a gateway)"
        if kind in {"userTask", "scriptTask", "callActivity"} or kind.endswith("Event") and el.get("name"):
            assert CJK.search(el.get("name") or ""), f"{node_id}: name must be Chinese"
        if kind == "userTask":
            props = m.properties(node_id)
            assert props.get("formJsonSchemaFilename", "").endswith(".json"), f"{node_id}: no form"
            doc = el.findtext("{*}documentation") or ""
            assert CJK.search(doc), f"{node_id}: documentation (instructions for the handler) must be Chinese"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_expressions_compile_in_the_sandbox(path):
    """Conditions, scripts and timer expressions must compile with RestrictedPython (no imports, no dunders)."""
    m = load(path)
    for f in m.flows.values():
        if cond := m.condition(f):
            assert not compile_restricted_eval(cond).errors, f"{f.get('id')}: {cond}"
    for node_id, script in m.scripts().items():
        assert script.strip(), f"{node_id}: empty script"
        assert not compile_restricted_exec(script).errors, f"{node_id}: {compile_restricted_exec(script).errors}"
        assert "import" not in script
    for node_id, expr in m.timer_expressions().items():
        assert not compile_restricted_eval(expr).errors, f"{node_id}: {expr}"


def _di_targets(m):
    return {**m.nodes, **m.flows, **m.lanes, **m.participants}


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_di_complete(path):
    m = load(path)
    assert len(m.participants) == 1, "one collaboration participant holding the laneSet"
    assert m.lanes, "the process has lanes"
    missing_shapes = [i for i in [*m.nodes, *m.lanes, *m.participants] if i not in m.shapes]
    missing_edges = [i for i in m.flows if i not in m.edges]
    assert not missing_shapes, f"no BPMNShape for {missing_shapes}"
    assert not missing_edges, f"no BPMNEdge for {missing_edges}"
    dangling = (set(m.shapes) | set(m.edges)) - set(_di_targets(m))
    assert not dangling, f"DI for unknown elements {dangling}"
    for fid, pts in m.edges.items():
        assert len(pts) >= 2, f"{fid}: needs at least two waypoints"
    for lane in m.lanes.values():
        refs = [r.text for r in lane.findall("{*}flowNodeRef")]
        assert all(r in m.nodes for r in refs)
    in_lanes = [r.text for lane in m.lanes.values() for r in lane.findall("{*}flowNodeRef")]
    assert sorted(in_lanes) == sorted(m.nodes), "every flow node is in exactly one lane"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_layout_readable(path):
    """Shapes do not overlap, sit inside their lane, lanes are stacked horizontally, flows run orthogonally."""
    m = load(path)
    pool = m.shapes[next(iter(m.participants))]
    lanes = sorted((m.shapes[i] for i in m.lanes), key=lambda s: s.y)
    for a, b in zip(lanes, lanes[1:], strict=False):
        assert a.y + a.h == b.y and a.x == b.x and a.w == b.w, "lanes are stacked rows of equal width"
    for lane in lanes:
        assert lane.inside(pool)
    ids = list(m.nodes)
    for i, a in enumerate(ids):
        sa = m.shapes[a]
        lane = m.shapes[next(lid for lid, el in m.lanes.items() if el.get("name") == m.lane_of(a))]
        if m.kind(a) != "boundaryEvent":
            assert sa.inside(lane), f"{a} lies outside its lane"
        for b in ids[i + 1:]:
            host = {m.nodes[a].get("attachedToRef"), m.nodes[b].get("attachedToRef")}
            if a in host or b in host:
                continue
            assert not sa.overlaps(m.shapes[b]), f"{a} overlaps {b}"
        external_label = local(m.nodes[a]).endswith(("Event", "Gateway")) and m.kind(a) != "boundaryEvent"
        if external_label and m.nodes[a].get("name"):
            assert sa.label is not None, f"{a}: named event/gateway without label bounds"
    for fid, pts in m.edges.items():
        for (x1, y1), (x2, y2) in zip(pts, pts[1:], strict=False):
            assert x1 == x2 or y1 == y2, f"{fid}: diagonal segment"
        if m.flows[fid].get("name"):
            assert fid in m.edge_labels, f"{fid}: named flow without label bounds"
        first, last = pts[0], pts[-1]
        src = m.shapes[m.flows[fid].get("sourceRef")]
        tgt = m.shapes[m.flows[fid].get("targetRef")]
        assert _on_border(first, src), f"{fid}: does not start on its source"
        assert _on_border(last, tgt), f"{fid}: does not end on its target"


def _on_border(p, s, tol=1.0) -> bool:
    x, y = p
    inside_x = s.x - tol <= x <= s.x + s.w + tol
    inside_y = s.y - tol <= y <= s.y + s.h + tol
    on_v = abs(x - s.x) <= tol or abs(x - s.x - s.w) <= tol
    on_h = abs(y - s.y) <= tol or abs(y - s.y - s.h) <= tol
    return inside_x and inside_y and (on_v or on_h)


def test_shared_call_activities_outputs():
    acc = load(WORKFLOWS / "shared" / "window_acceptance.bpmn")
    scripts = "\n".join(acc.scripts().values())
    for key in ("accepted", "acceptance_outcome", "supplement_rounds", "in_person_supplements", "extra_visits"):
        assert key in scripts, f"window_acceptance must set {key}"
    delivery = load(WORKFLOWS / "shared" / "result_delivery.bpmn")
    assert "delivered = True" in "\n".join(delivery.scripts().values())
