"""What the pages show about a case's process: its data, the state of each diagram element, a task's
instructions, the working days left. Reads only; the engine is asked, never re-implemented here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from engine.calendar import UncoveredYear
from engine.deadlines import working_days_left
from storage.models import Case, ProcessDefinition

BEIJING = ZoneInfo("Asia/Shanghai")
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def today_in_beijing(now: datetime | None = None) -> date:
    return (now or datetime.now(BEIJING)).astimezone(BEIJING).date()


def load_workflow(case: Case) -> Any | None:
    from services.cases import case_workflow

    return case_workflow(case)


def workflow_data(case: Case) -> dict[str, Any]:
    wf = load_workflow(case)
    if wf is None:
        return {}
    from engine import runtime

    return dict(runtime.workflow_data(wf))


def element_markers(case: Case) -> dict[str, str]:
    """BPMN element id → marker ("completed", "current", "error") for the diagram of the case's process.

    An element run in a loop can be both done and current: current wins, then error."""
    wf = load_workflow(case)
    if wf is None:
        return {}
    from engine import runtime

    markers: dict[str, str] = {}
    states = runtime.element_states(wf, main_only=True)
    for key in ("completed", "error", "current"):
        for element_id in states.get(key, []):
            markers[str(element_id)] = key
    return markers


def main_diagram(definition: ProcessDefinition) -> str:
    return definition.files[definition.main_file]


SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_DOCS: dict[str, dict[str, list[tuple[str | None, str]]]] = {}


def _documentation_index(definition: ProcessDefinition) -> dict[str, list[tuple[str | None, str]]]:
    """Element id → [(form file, documentation)], per immutable version (keyed by its content hash).

    Ids repeat across the files of a bundle (a matter and its shared call activities both have "start"); the
    form file tells such tasks apart."""
    cached = _DOCS.get(definition.content_hash)
    if cached is not None:
        return cached
    index: dict[str, list[tuple[str | None, str]]] = {}
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    for _name, text in sorted(definition.files.items(), key=lambda kv: kv[0] != definition.main_file):
        root = etree.fromstring(text.encode("utf-8"), parser)
        for element in root.iter(f"{{{BPMN_NS}}}*"):
            element_id = element.get("id")
            doc = element.find(f"{{{BPMN_NS}}}documentation")
            if not element_id or doc is None or not doc.text:
                continue
            form = None
            for prop in element.iter(f"{{{SPIFF_NS}}}property"):
                if prop.get("name") == "formJsonSchemaFilename":
                    form = prop.get("value")
            index.setdefault(element_id, []).append((form, doc.text.strip()))
    _DOCS[definition.content_hash] = index
    return index


def task_documentation(definition: ProcessDefinition, spec_name: str, form: str | None = None) -> str | None:
    """The <bpmn:documentation> of the task's element, from the stored version the case runs on."""
    candidates = _documentation_index(definition).get(spec_name, [])
    for candidate_form, text in candidates:
        if form and candidate_form == form:
            return text
    return candidates[0][1] if candidates else None


@dataclass(frozen=True)
class DueInfo:
    due_on: date | None
    days_left: int | None  # working days; None when the calendar does not cover the year
    problem: str | None = None
    closed_on: date | None = None  # the case is closed: on time when closed_on <= due_on
    flag_year: int | None = None  # the time limit cannot be computed: this year's holiday notice is missing

    @property
    def on_time(self) -> bool | None:
        if self.closed_on is None or self.due_on is None:
            return None
        return self.closed_on <= self.due_on


def due_info(due_on: date | None, today: date | None = None, closed_at: datetime | None = None,
             flag: str | None = None) -> DueInfo:
    """The time limit as every staff page shows it (worklist, task, case): one answer for one case."""
    if closed_at is not None:
        return DueInfo(due_on, None, None, today_in_beijing(closed_at))
    from services.clock import flag_year

    year = flag_year(flag)
    if year is not None:  # the clock could not count: say so, never "not started yet" or a guessed date
        return DueInfo(due_on, None, None, flag_year=year)
    if due_on is None:
        return DueInfo(None, None)
    today = today or today_in_beijing()
    try:
        return DueInfo(due_on, working_days_left(_calendar(), due_on, today))
    except UncoveredYear as err:
        return DueInfo(due_on, None, str(err))


def case_due(case: Any) -> DueInfo:
    """``due_info`` of a case (or a worklist's brief of one): its due date, its clock flag, its closing."""
    return due_info(case.due_on, closed_at=getattr(case, "completed_at", None), flag=case.clock_flag)


def _calendar():
    """The working-day calendar with the admin-entered holiday notices, read once per request."""
    from flask import g

    from services.clock import calendar
    from web.common import reader

    if "working_calendar" not in g:
        with reader() as r:
            g.working_calendar = calendar(r.session)
    return g.working_calendar
