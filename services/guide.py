"""办事指南 (service guide) of a matter, generated from the catalog and the deployed diagram — never typed twice.

Everything the guide says comes from one source:
- name, legal basis, unit, limits, excluded time, service modes, materials: ``workflows/catalog.toml``;
- the steps: the user tasks of the deployed diagram (the latest version; the shipped file when none is deployed),
  walked from the start event along the sequence flows, call activities expanded in place (受理, 送达), each with
  the lane (unit) that works it;
- trips per mode: ``services.trips`` (the run-once rules the cases are counted by);
- where to go: the document settings (window address, phone, hours).

Pure over its inputs (``build_guide``); ``guide_for`` reads the deployed version in a session.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.expressions import BPMN_NS
from engine.xml_safety import load_xml
from services import trips
from services.definitions import bundle_for
from storage.models import MatterSetting, ProcessDefinition
from workflows.catalog import Limit

# 《行政许可法》第五十八条: licensing is free unless a law or administrative regulation says otherwise; none of the
# catalog's matters names a fee.
NO_FEE_BASIS = "《中华人民共和国行政许可法》第五十八条"
EXCLUDED_KIND_ZH = {
    "supplement": "补正材料时间",
    "expert_review": "专家评审、技术评估时间",
    "applicant_revision": "申请人修改材料时间",
    "public_notice": "公示时间",
    "hearing": "听证时间",
}
LIMIT_UNIT_ZH = {"working_days": "个工作日", "days": "日（自然日）"}


@dataclass(frozen=True)
class GuideStep:
    element_id: str
    name: str
    lane: str  # the unit (Chinese name) that works the step


@dataclass(frozen=True)
class GuideMode:
    channel: str
    delivery_mode: str
    label_zh: str
    trips: int  # trips the applicant makes with complete materials (run-once rules)


@dataclass(frozen=True)
class Guide:
    matter: Any  # workflows.catalog.Matter
    unit_name_zh: str
    unit_name_en: str
    materials: tuple[Any, ...]  # MaterialItem, in catalog order
    statutory: Any  # Limit | None
    promised: Any  # Limit
    limits_by_report_type: tuple[tuple[str, Any, Any], ...]  # (report type, statutory, promised)
    excluded: tuple[str, ...]  # Chinese names of the excluded periods
    modes: tuple[GuideMode, ...]
    steps: tuple[GuideStep, ...]
    fee_zh: str
    process_id: str
    version: int | None  # deployed version the steps come from; None = the shipped file
    main_file: str

    @property
    def fewest_trips(self) -> int:
        return min((m.trips for m in self.modes), default=1)


def limit_text(limit: Any) -> str:
    """A limit in Chinese words: "20个工作日", "60日（自然日）"; an applicant's due date has no department limit."""
    if limit is None or limit.value is None:
        return "无法定办理时限"
    return f"{limit.value}{LIMIT_UNIT_ZH.get(limit.unit, limit.unit)}"


# -- the diagram's steps ----------------------------------------------------------------------------------------------

def _q(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


class _Process:
    """One executable process of a bundle: its nodes, flows and the lane of every node."""

    def __init__(self, element: etree._Element, lanes: dict[str, str]) -> None:
        self.nodes: dict[str, etree._Element] = {}
        self.outgoing: dict[str, list[str]] = {}
        for child in element:
            if not isinstance(child.tag, str):
                continue
            if child.tag == _q("sequenceFlow"):
                self.outgoing.setdefault(child.get("sourceRef", ""), []).append(child.get("targetRef", ""))
            elif child.get("id") and child.tag != _q("laneSet"):
                self.nodes[child.get("id")] = child
        self.lanes = lanes
        # boundary events leave from their host: an escalation path follows the task it is attached to
        for node_id, node in self.nodes.items():
            host = node.get("attachedToRef")
            if host:
                self.outgoing.setdefault(host, []).append(node_id)
        self.starts = [i for i, n in self.nodes.items() if n.tag == _q("startEvent")]


def _processes(files: dict[str, bytes]) -> dict[str, _Process]:
    found: dict[str, _Process] = {}
    for name, data in sorted(files.items()):
        root = load_xml(data, name).getroot()
        for proc in root.iter(_q("process")):
            lanes = {ref.text: lane.get("name", "") for lane in proc.iter(_q("lane"))
                     for ref in lane.findall(_q("flowNodeRef")) if ref.text}
            found[proc.get("id", "")] = _Process(proc, lanes)
    return found


def diagram_steps(files: dict[str, bytes], process_id: str) -> tuple[GuideStep, ...]:
    """The user tasks of ``process_id`` in the order a case meets them (breadth first from the start event), call
    activities expanded where they are called; each task once."""
    processes = _processes(files)
    steps: list[GuideStep] = []
    seen_tasks: set[tuple[str, str]] = set()

    def walk(pid: str, stack: tuple[str, ...]) -> None:
        proc = processes.get(pid)
        if proc is None or pid in stack:
            return
        queue, visited = deque(proc.starts), set(proc.starts)
        while queue:
            node_id = queue.popleft()
            node = proc.nodes.get(node_id)
            if node is None:
                continue
            if node.tag == _q("userTask") and (pid, node_id) not in seen_tasks:
                seen_tasks.add((pid, node_id))
                steps.append(GuideStep(node_id, node.get("name") or node_id, proc.lanes.get(node_id, "")))
            elif node.tag == _q("callActivity"):
                walk(node.get("calledElement", ""), (*stack, pid))
            for target in proc.outgoing.get(node_id, []):
                if target not in visited:
                    visited.add(target)
                    queue.append(target)

    walk(process_id, ())
    return tuple(steps)


# -- the guide ---------------------------------------------------------------------------------------------------------

def build_guide(catalog: Any, matter: Any, files: dict[str, bytes], *, version: int | None = None,
                main_file: str | None = None) -> Guide:
    try:
        unit = catalog.unit(matter.responsible_unit)
        unit_zh, unit_en = unit.name_zh, unit.name_en
    except KeyError:
        unit_zh = unit_en = ""
    modes = tuple(
        GuideMode(sm.channel, sm.delivery_mode, sm.label_zh,
                  trips.count_trips(sm.channel, sm.delivery_mode,
                                    same_visit_handover=sm.channel == sm.delivery_mode == "window").trips)
        for sm in matter.service_modes
    )
    by_type = tuple(
        (rt, matter.statutory_for(rt), matter.promised_for(rt))
        for rt in sorted(set(matter.statutory_limit_by_report_type) | set(matter.promised_limit_by_report_type))
    )
    return Guide(
        matter=matter, unit_name_zh=unit_zh, unit_name_en=unit_en, materials=tuple(matter.materials),
        statutory=matter.statutory_limit, promised=matter.promised_limit, limits_by_report_type=by_type,
        excluded=tuple(EXCLUDED_KIND_ZH.get(k, k) for k in matter.excluded_time),
        modes=modes, steps=diagram_steps(files, matter.process_id), fee_zh=f"不收费（{NO_FEE_BASIS}）",
        process_id=matter.process_id, version=version, main_file=main_file or matter.diagram,
    )


def deployed_files(session: Session, process_id: str) -> tuple[dict[str, bytes], int, str] | None:
    """The latest deployed version's files, its number and main file; None when the process is not deployed."""
    row = session.execute(
        select(ProcessDefinition).where(ProcessDefinition.process_id == process_id)
        .order_by(ProcessDefinition.version.desc()).limit(1)
    ).scalar_one_or_none()
    if row is None:
        return None
    return {n: t.encode("utf-8") for n, t in row.files.items()}, row.version, row.main_file


def guide_for(session: Session, catalog: Any, code: str) -> Guide:
    """The guide of matter ``code`` (KeyError when the catalog has no such matter), with what the administrator
    set over the catalog: the promised limit the clock counts and the unit that handles the matter."""
    matter = catalog.matter(code)
    deployed = deployed_files(session, matter.process_id)
    if deployed is not None:
        files, version, main_file = deployed
        found = build_guide(catalog, matter, files, version=version, main_file=main_file)
    else:
        path: Path = catalog.diagram_path(matter)
        found = build_guide(catalog, matter, bundle_for(path), main_file=path.name)
    return _with_settings(session, catalog, found)


def _with_settings(session: Session, catalog: Any, found: Guide) -> Guide:
    from services import clock

    changes: dict[str, Any] = {}
    setting = session.get(MatterSetting, found.matter.code)
    if setting is not None and setting.promised_value and setting.promised_unit:
        # services.clock uses this promise for every case accepted from now on, whatever the report type
        promised = Limit(setting.promised_value, setting.promised_unit, note="")
        changes["promised"] = promised
        changes["limits_by_report_type"] = tuple((rt, st, promised) for rt, st, _ in found.limits_by_report_type)
    unit = clock.handling_unit(session, found.matter.code)
    if unit and unit != found.matter.responsible_unit:
        try:
            row = catalog.unit(unit)
            changes.update(unit_name_zh=row.name_zh, unit_name_en=row.name_en)
        except KeyError:
            pass
    return replace(found, **changes) if changes else found


def diagram_xml(session: Session, catalog: Any, code: str) -> bytes:
    """The matter's main diagram as deployed (the flowchart the guide shows read-only)."""
    matter = catalog.matter(code)
    deployed = deployed_files(session, matter.process_id)
    if deployed is not None:
        files, _version, main_file = deployed
        return files[main_file]
    return catalog.diagram_path(matter).read_bytes()
