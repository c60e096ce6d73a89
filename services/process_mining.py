"""Execution analytics of a matter on its diagram, its event log as XES (IEEE 1849) and a conformance report.
Queries and pure computation, no Flask; pm4py is imported only by ``conformance`` (it pulls numpy, pandas, scipy).

The diagram: the matter's main process of a deployed version (``Model``: its nodes and sequence flows). A human
task of a called process (the shared acceptance and delivery call activities) counts at the call activity that
calls it, so every task row lands on an element of the diagram the supervisor sees.

- ``heatmap``: per element, how many task rows passed (completed), how many wait there now, the median and 90th
  percentile of the dwell time in working days (from the day the task was created to the day it was completed,
  the first day not counted), and the share of the element's tasks that ended (or still wait) after the case's
  statutory due date. Per sequence flow, how often cases took it: consecutive elements of a case's tasks are
  joined by the shortest path of flows between them through gateways, events and script tasks.
- ``xes_lines``: one trace per case (concept:name = reference), a start and a complete event per task row
  (activity = task name, org:resource = the user who completed it, org:group = the unit), streamed.
- ``conformance``: the diagram as a Petri net built here (flows are places; exclusive gateways, events and script
  tasks are silent transitions; user tasks and call activities are labelled by element id), token-based replay
  (pm4py) of every finished case's sequence of elements; the share of cases that fit and the elements where
  replay found problems. A non-interrupting boundary event (m08's reminder) starts a branch beside its task that
  ends on its own.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from xml.sax.saxutils import quoteattr

from lxml import etree
from sqlalchemy import case, literal, select
from sqlalchemy.orm import Session

from services import clock
from storage.models import Case, HumanTask, ProcessDefinition, User

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
LABELLED = {"userTask", "callActivity", "manualTask", "task"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


@dataclass
class Model:
    process_id: str
    nodes: dict[str, tuple[str, str]]  # id -> (BPMN type, name)
    flows: dict[str, tuple[str, str]]  # flow id -> (source, target)
    attached: dict[str, str] = field(default_factory=dict)  # boundary event -> the task it is attached to
    non_interrupting: set[str] = field(default_factory=set)  # boundary events with cancelActivity="false"
    task_element: dict[str, str] = field(default_factory=dict)  # "spec name|form" -> element of the main diagram

    def outgoing(self, node: str) -> list[str]:
        return [f for f, (s, _) in self.flows.items() if s == node]

    def incoming(self, node: str) -> list[str]:
        return [f for f, (_, t) in self.flows.items() if t == node]


_MODELS: dict[str, Model] = {}


def model_of(definition: ProcessDefinition) -> Model:
    """The main process of a deployed version (cached per immutable version, by its content hash)."""
    cached = _MODELS.get(definition.content_hash)
    if cached is not None:
        return cached
    processes: dict[str, etree._Element] = {}
    for text in definition.files.values():
        root = etree.fromstring(text.encode("utf-8"), _PARSER)
        for process in root.iter(f"{{{BPMN_NS}}}process"):
            processes[process.get("id")] = process
    main = processes.get(definition.process_id)
    if main is None:
        main = next(iter(processes.values()))
    nodes: dict[str, tuple[str, str]] = {}
    flows: dict[str, tuple[str, str]] = {}
    attached: dict[str, str] = {}
    non_interrupting: set[str] = set()
    task_element: dict[str, str] = {}
    for child in main:
        kind, element_id = _local(child.tag), child.get("id")
        if not element_id or kind in ("laneSet", "documentation", "extensionElements"):
            continue
        if kind == "sequenceFlow":
            flows[element_id] = (child.get("sourceRef"), child.get("targetRef"))
            continue
        nodes[element_id] = (kind, child.get("name") or element_id)
        if kind == "boundaryEvent" and child.get("attachedToRef"):
            attached[element_id] = child.get("attachedToRef")
            if child.get("cancelActivity") == "false":
                non_interrupting.add(element_id)
        if kind == "callActivity" and child.get("calledElement") in processes:
            for inner in processes[child.get("calledElement")].iter(f"{{{BPMN_NS}}}userTask"):
                task_element.setdefault(_task_key(inner), element_id)
        elif kind in LABELLED:
            task_element[_task_key(child)] = element_id
    model = Model(main.get("id"), nodes, flows, attached, non_interrupting, task_element)
    _MODELS[definition.content_hash] = model
    return model


def _task_key(task: etree._Element) -> str:
    """Task ids repeat across the files of a bundle (the acceptance's and the matter's own issue_refusal): a task
    is known by its id and its form (``HumanTask.form``)."""
    form = None
    for prop in task.iter("{http://spiffworkflow.org/bpmn/schema/1.0/core}property"):
        if prop.get("name") == "formJsonSchemaFilename":
            form = prop.get("value")
    return f"{task.get('id')}|{form or ''}"


def element_of(model: Model, spec_name: str, form: str | None) -> str | None:
    return model.task_element.get(f"{spec_name}|{form or ''}")


def _path(model: Model, source: str | None, target: str) -> list[str]:
    """The flows of the shortest path from ``source`` (None: a start event) to ``target`` through unlabelled
    nodes (gateways, events, script tasks)."""
    starts = [n for n, (k, _) in model.nodes.items() if k == "startEvent"] if source is None else [source]
    queue = deque((s, []) for s in starts)
    seen = set(starts)
    out_index: dict[str, list[str]] = defaultdict(list)
    for f, (s, _) in model.flows.items():
        out_index[s].append(f)
    for boundary, task in model.attached.items():
        out_index[task] += out_index.get(boundary, [])  # a boundary event leaves from its task
    while queue:
        node, path = queue.popleft()
        for flow in out_index.get(node, ()):
            nxt = model.flows[flow][1]
            if nxt == target:
                return [*path, flow]
            kind = model.nodes.get(nxt, ("", ""))[0]
            if nxt in seen or kind in LABELLED:
                continue
            seen.add(nxt)
            queue.append((nxt, [*path, flow]))
    return []


# ---------------------------------------------------------------- the heatmap


def _quantile(values: list[int], share: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def versions(session: Session, matter_code: str) -> list[ProcessDefinition]:
    matter = next((m for m in clock.catalog().matters if m.code == matter_code), None)
    if matter is None:
        return []
    return list(session.execute(select(ProcessDefinition).where(ProcessDefinition.process_id == matter.process_id)
                                .order_by(ProcessDefinition.version.desc())).scalars())


def _task_rows(session: Session, matter_code: str, definition_id: int, today: date):
    """Task rows in case order with their Beijing days and lateness worked out in SQL (no datetime per row)."""
    from services.statistics import beijing_day

    created = beijing_day(session, HumanTask.created_at)
    completed = beijing_day(session, HumanTask.completed_at)
    done = HumanTask.state == "completed"
    late = case((Case.due_on.is_(None), None), (done, completed > Case.due_on), else_=literal(today) > Case.due_on)
    return session.connection().execute(
        select(HumanTask.case_id, HumanTask.spec_name, HumanTask.form, done, created, completed, late)
        .join(Case, Case.id == HumanTask.case_id)
        .where(HumanTask.matter_code == matter_code, Case.definition_id == definition_id,
               HumanTask.state != "cancelled")
        .order_by(HumanTask.case_id, HumanTask.created_at, HumanTask.id)
        .execution_options(yield_per=5000))


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass
class _Tallies:
    """What the heatmap is drawn from: task rows per element passed / waiting / judged against the due date / late,
    passed rows per distinct (created day, completed day), and how many cases went from one element to the next
    (None: the case's first element)."""

    passed: Counter[str] = field(default_factory=Counter)
    waiting: Counter[str] = field(default_factory=Counter)
    late: Counter[str] = field(default_factory=Counter)
    judged: Counter[str] = field(default_factory=Counter)
    # dwell counted per distinct (start day, end day): one calendar look-up per pair, not per task
    dwell_pairs: dict[str, Counter[tuple[Any, Any]]] = field(default_factory=lambda: defaultdict(Counter))
    steps: Counter[tuple[str | None, str]] = field(default_factory=Counter)


def heatmap(session: Session, matter_code: str, definition: ProcessDefinition,
            now: datetime | None = None, use_summary: bool | None = None) -> dict[str, Any]:
    """The heatmap's data. From the summary tables when they count every case (``use_summary`` None), else (or
    when False) from the task rows: the same data."""
    from services import summary

    now = now or clock.now()
    model = model_of(definition)
    today = clock.beijing_date(now)
    if summary.covers(session) if use_summary is None else use_summary:
        tallies = _summary_tallies(session, matter_code, definition.id, today)
    else:
        tallies = _live_tallies(session, matter_code, definition.id, model, today)
    return _drawn(session, matter_code, definition, model, tallies)


def _summary_tallies(session: Session, matter_code: str, definition_id: int, today: date) -> _Tallies:
    from storage.models import StatsHeat, StatsHeatDwell, StatsHeatStep

    out = _Tallies()
    connection = session.connection()
    key = (StatsHeat.matter_code == matter_code, StatsHeat.definition_id == definition_id)
    for element, kind, value, n in connection.execute(
            select(StatsHeat.element, StatsHeat.kind, StatsHeat.value, StatsHeat.n).where(*key)):
        if kind == "waiting_due":  # a waiting task is late when its case's due date is before today
            out.judged[element] += n
            out.late[element] += n if value < today.toordinal() else 0
        else:
            getattr(out, kind)[element] += n
    for previous, element, n in connection.execute(
            select(StatsHeatStep.previous, StatsHeatStep.element, StatsHeatStep.n)
            .where(StatsHeatStep.matter_code == matter_code, StatsHeatStep.definition_id == definition_id)):
        if n:
            out.steps[(previous or None, element)] += n
    for element, created, completed, n in connection.execute(
            select(StatsHeatDwell.element, StatsHeatDwell.created_day, StatsHeatDwell.completed_day, StatsHeatDwell.n)
            .where(StatsHeatDwell.matter_code == matter_code, StatsHeatDwell.definition_id == definition_id)):
        if n:
            out.dwell_pairs[element][(date.fromordinal(created), date.fromordinal(completed))] += n
    return out


def _live_tallies(session: Session, matter_code: str, definition_id: int, model: Model, today: date) -> _Tallies:
    out = _Tallies()
    # Per row only two counts: of the row's (element, done, days, lateness) and, per case, of its trail of
    # elements; everything else is worked out once per distinct value after the scan (tens of thousands of rows
    # become a few thousand tallies and a few dozen distinct trails).
    tally: Counter[tuple[str, bool, Any, Any, Any]] = Counter()
    trails: Counter[tuple[str, ...]] = Counter()
    elements_of: dict[tuple[str, str | None], str | None] = {}
    current_case, trail = None, []
    for case_id, spec_name, form, done, created_day, completed_day, is_late in _task_rows(
            session, matter_code, definition_id, today):
        key = (spec_name, form)
        if key not in elements_of:
            elements_of[key] = element_of(model, spec_name, form)
        element = elements_of[key]
        if element is None:
            continue
        if case_id != current_case:
            if trail:
                trails[tuple(trail)] += 1
            current_case, trail = case_id, []
        if not trail or trail[-1] != element:
            trail.append(element)
        finished = bool(done) and completed_day is not None
        tally[(element, finished, created_day if finished else None, completed_day if finished else None,
               is_late)] += 1
    if trail:
        trails[tuple(trail)] += 1
    for (element, finished, created_day, completed_day, is_late), count in tally.items():
        if finished:
            out.passed[element] += count
            out.dwell_pairs[element][(_as_date(created_day), _as_date(completed_day))] += count
        else:
            out.waiting[element] += count
        if is_late is not None:
            out.judged[element] += count
            out.late[element] += count if is_late else 0
    for elements, count in trails.items():
        previous: str | None = None
        for element in elements:
            out.steps[(previous, element)] += count
            previous = element
    return out


def _drawn(session: Session, matter_code: str, definition: ProcessDefinition, model: Model,
           t: _Tallies) -> dict[str, Any]:
    calendar = clock.calendar(session)
    taken: Counter[str] = Counter()
    for (previous, element), count in t.steps.items():
        for flow in _path(model, previous, element):
            taken[flow] += count
    cases = sum(count for (previous, _), count in t.steps.items() if previous is None)
    dwell: dict[str, list[int]] = defaultdict(list)
    for element, pairs in t.dwell_pairs.items():
        for (start, end), count in pairs.items():
            try:
                dwell[element].extend([calendar.working_days_between(start, end)] * count)
            except Exception:  # a year without holiday data: left out, never guessed
                continue
    elements = {}
    for element in {e for e, n in t.passed.items() if n} | {e for e, n in t.waiting.items() if n}:
        elements[element] = {
            "name": model.nodes.get(element, ("", element))[1],
            "passed": t.passed[element], "waiting": t.waiting[element],
            "median": _quantile(dwell[element], 0.5), "p90": _quantile(dwell[element], 0.9),
            "overdue_share": round(t.late[element] / t.judged[element], 4) if t.judged[element] else None,
        }
    return {"matter": matter_code, "version": definition.version, "definition_id": definition.id, "cases": cases,
            "elements": elements, "flows": dict(taken),
            "max_median": max((e["median"] or 0 for e in elements.values()), default=0)}


# ---------------------------------------------------------------- XES


def _xes_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _string(key: str, value: Any) -> str:
    return f"<string key={quoteattr(key)} value={quoteattr(str(value))}/>"


def xes_lines(session: Session, matter_code: str) -> Iterator[str]:
    """The matter's event log as XES, line by line, reading the task rows in batches (memory stays flat)."""
    names = dict(session.execute(select(User.id, User.username)).all())
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield ('<log xes.version="1849-2016" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">\n'
           '<extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>\n'
           '<extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>\n'
           '<extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>\n'
           '<extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>\n'
           '<global scope="trace"><string key="concept:name" value="UNKNOWN"/></global>\n'
           '<global scope="event"><string key="concept:name" value="UNKNOWN"/>'
           '<date key="time:timestamp" value="1970-01-01T00:00:00.000+00:00"/>'
           '<string key="lifecycle:transition" value="complete"/></global>\n'
           '<classifier name="Activity" keys="concept:name"/>\n'
           f"{_string('concept:name', matter_code)}\n")
    query = (select(Case.reference, Case.status, Case.outcome, HumanTask.spec_name, HumanTask.title,
                    HumanTask.lane, HumanTask.state, HumanTask.created_at, HumanTask.completed_at,
                    HumanTask.completed_by)
             .join(Case, Case.id == HumanTask.case_id)
             .where(HumanTask.matter_code == matter_code, HumanTask.state != "cancelled")
             .order_by(HumanTask.case_id, HumanTask.created_at, HumanTask.id)
             .execution_options(yield_per=2000))
    current = None
    for reference, status, outcome, spec, title, lane, state, created_at, completed_at, completed_by in (
            session.execute(query)):
        if reference != current:
            if current is not None:
                yield "</trace>\n"
            current = reference
            yield (f"<trace>{_string('concept:name', reference)}{_string('status', status)}"
                   f"{_string('outcome', outcome or '')}\n")
        common = (f"{_string('concept:name', title)}{_string('activity:element', spec)}"
                  f"{_string('org:group', lane or '')}")
        yield (f"<event>{common}{_string('lifecycle:transition', 'start')}"
               f"<date key=\"time:timestamp\" value=\"{_xes_time(created_at)}\"/></event>\n")
        if state == "completed" and completed_at is not None:
            resource = names.get(completed_by) or lane or ""
            yield (f"<event>{common}{_string('lifecycle:transition', 'complete')}{_string('org:resource', resource)}"
                   f"<date key=\"time:timestamp\" value=\"{_xes_time(completed_at)}\"/></event>\n")
    if current is not None:
        yield "</trace>\n"
    yield "</log>\n"


# ---------------------------------------------------------------- conformance


def _branch_ends(model: Model) -> set[str]:
    """End events reached from a non-interrupting boundary event's branch."""
    ends: set[str] = set()
    for boundary in model.non_interrupting:
        queue, seen = deque([boundary]), {boundary}
        while queue:
            node = queue.popleft()
            for flow in model.outgoing(node):
                target = model.flows[flow][1]
                if target in seen:
                    continue
                seen.add(target)
                if model.nodes.get(target, ("", ""))[0] == "endEvent":
                    ends.add(target)
                else:
                    queue.append(target)
    return ends


def _petri_net(model: Model):
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.petri_net.utils.petri_utils import add_arc_from_to

    net = PetriNet(f"{model.process_id}")
    places = {f: PetriNet.Place(f) for f in model.flows}
    source, sink = PetriNet.Place("source"), PetriNet.Place("sink")
    for place in [*places.values(), source, sink]:
        net.places.add(place)
    counter = 0

    def transition(label: str | None, inputs: list, outputs: list, name: str) -> None:
        nonlocal counter
        counter += 1
        outputs = [q for q in outputs if q not in dropped]
        t = PetriNet.Transition(f"{name}#{counter}", label)
        net.transitions.add(t)
        for p in inputs:
            add_arc_from_to(p, t, net)
        for p in outputs:
            add_arc_from_to(t, p, net)

    # A non-interrupting boundary event starts a branch beside its task: its token goes back to the task, and the
    # branch simply ends with the step before its end event (the flows into those end events carry no token), so
    # the main path alone reaches the final marking.
    branch_ends = _branch_ends(model)
    dropped = {places[f] for f, (_, target) in model.flows.items() if target in branch_ends}
    for node, (kind, _) in model.nodes.items():
        ins = [places[f] for f in model.incoming(node)]
        outs = [places[f] for f in model.outgoing(node)]
        label = node if kind in LABELLED else None
        if kind == "startEvent":
            transition(None, [source], outs, node)
        elif kind == "endEvent":
            for p in ins:
                if node not in branch_ends:
                    transition(None, [p], [sink], node)
        elif kind == "boundaryEvent" and node in model.non_interrupting:
            task = model.attached.get(node)
            for p in [places[f] for f in model.incoming(task)] if task else []:
                transition(None, [p], [p, *outs], node)
        elif kind == "exclusiveGateway" or kind == "eventBasedGateway":
            for p in ins:
                for q in outs:
                    transition(None, [p], [q], node)
        elif kind == "parallelGateway":
            transition(None, ins, outs, node)
        elif kind == "boundaryEvent":
            task = model.attached.get(node)
            for p in [places[f] for f in model.incoming(task)] if task else []:
                transition(None, [p], outs, node)
        else:  # tasks, call activities, intermediate events: an implicit merge of their incoming flows
            for p in ins or [source]:
                transition(label, [p], outs or [sink], node)
    return net, Marking({source: 1}), Marking({sink: 1})


@dataclass
class ConformanceReport:
    matter: str
    version: int
    cases: int
    fitting: int
    fit_share: float | None
    average_fitness: float | None
    problems: list[tuple[str, str, int]]  # element id, name, cases with a problem there
    unfit_cases: list[tuple[str, list[str]]]  # reference, its sequence of elements (first 50)


def traces(session: Session, matter_code: str, definition: ProcessDefinition) -> dict[str, list[str]]:
    """Finished cases (completed, not withdrawn) → their sequence of diagram elements (repeats collapsed)."""
    model = model_of(definition)
    out: dict[str, list[str]] = {}
    query = (select(Case.reference, HumanTask.spec_name, HumanTask.form)
             .join(Case, Case.id == HumanTask.case_id)
             .where(HumanTask.matter_code == matter_code, Case.definition_id == definition.id,
                    Case.status == "completed", HumanTask.state == "completed")
             .order_by(HumanTask.case_id, HumanTask.completed_at, HumanTask.id).execution_options(yield_per=5000))
    for reference, spec, form in session.execute(query):
        trail = out.setdefault(reference, [])
        element = element_of(model, spec, form) or spec
        if not trail or trail[-1] != element:
            trail.append(element)
    return out


def replay(model: Model, found: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Token-based replay (pm4py) of each sequence of elements on the diagram's Petri net, in ``found``'s order."""
    from pm4py.algo.conformance.tokenreplay import algorithm as token_replay
    from pm4py.objects.log.obj import Event, EventLog, Trace

    net, initial, final = _petri_net(model)
    log = EventLog()
    base = datetime(2000, 1, 1, tzinfo=UTC)
    for reference, trail in found.items():
        trace = Trace(attributes={"concept:name": reference})
        for n, element in enumerate(trail):
            trace.append(Event({"concept:name": element, "time:timestamp": base.replace(second=n % 60)}))
        log.append(trace)
    if not len(log):
        return []
    return token_replay.apply(log, net, initial, final, parameters={"show_progress_bar": False})


def conformance(session: Session, matter_code: str, definition: ProcessDefinition) -> ConformanceReport:
    model = model_of(definition)
    found = traces(session, matter_code, definition)
    results = replay(model, found)
    references = list(found)
    if not results:
        return ConformanceReport(matter_code, definition.version, 0, 0, None, None, [], [])
    problems: Counter[str] = Counter()
    unfit = []
    fitting = 0
    for reference, result in zip(references, results, strict=True):
        if result["trace_is_fit"]:
            fitting += 1
            continue
        where = {t.label or t.name.split("#")[0] for t in result.get("transitions_with_problems", [])}
        where |= {e for e in found[reference] if e not in model.nodes}
        problems.update(where or {"?"})
        if len(unfit) < 50:
            unfit.append((reference, found[reference]))
    total = len(results)
    return ConformanceReport(
        matter_code, definition.version, total, fitting, round(fitting / total, 4),
        round(sum(r["trace_fitness"] for r in results) / total, 4),
        sorted(((e, model.nodes.get(e, ("", e))[1], n) for e, n in problems.items()), key=lambda x: -x[2]),
        unfit)


def today_version(session: Session, matter_code: str, version: int | None) -> ProcessDefinition | None:
    """The requested deployed version of the matter, else its newest."""
    found = versions(session, matter_code)
    if version is not None:
        return next((d for d in found if d.version == version), None)
    return found[0] if found else None

