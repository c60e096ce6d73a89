"""The deploy gate: a new version of a catalog matter's diagram is deployed only if

(a) the static data-flow check finds every variable that a condition, script or timer reads written upstream
    on every path (engine/dataflow.py, with the start data of services.cases and the fields of forms/schemas/);
    a designer may override (a) with a reason, which is audited on the deploy event;
(b) the matter's scenario suite (workflows/scenarios.py, the same table the tests drive) runs green on the new
    version. (b) is never overridable for catalog matters: acceptance, decision and delivery — what the
    catalog's clock and trip rules depend on — are exactly what the scenarios exercise.

Problems carry the file and element id so that the designer page marks them on the diagram; messages are
bilingual (Chinese first), like the engine's. The department's own processes (workflows/processes.toml:
rectification, complaints, inspections) get check (a) with the start data their services give
(``PROCESS_START_VARIABLES``); they have no scenario table. Other processes (a designer's new process) have no start
data of their own and are not gated.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from engine.dataflow import check_data_flow
from engine.definitions import CompiledProcess
from engine.jobs import JobRequest
from forms.schemas import UnknownForm, load_schema
from services.errors import N_, ServiceError, ServiceUnavailable

KIND_DATA_FLOW = "data_flow"
KIND_SCENARIO = "scenario"
SCENARIO_TIME_LIMIT = 60.0  # seconds of wall clock for one matter's scenarios
SCENARIO_GRACE = 15.0  # the worker's own deadline is this much later (the suite checks its limit between steps)

# Start data every case gets from services.cases.register_case, and what some matters add.
START_VARIABLES = ("matter_code", "applicant", "channel", "delivery_mode", "registered_on")
REPORT_TYPE_VARIABLE = "report_type"  # matters whose limits depend on the EIA document type
# What services.processes.start_process and its callers (ratings, complaints, spot_checks) put into a case.
PROCESS_START_VARIABLES = {
    "p01": ("matter_code", "started_on", "rating", "rated_case"),
    "p02": ("matter_code", "started_on", "complaint"),
    "p03": ("matter_code", "started_on", "inspection"),
}


@dataclass(frozen=True)
class GateProblem:
    kind: str  # data_flow | scenario
    message_zh: str
    message_en: str
    filename: str | None = None
    element_id: str | None = None
    line: int | None = None
    scenario: str | None = None

    @property
    def overridable(self) -> bool:
        return self.kind == KIND_DATA_FLOW

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "overridable": self.overridable}


class DeployRefused(ServiceError):
    """The gate refused the version; nothing was deployed. `problems` say where and why."""

    http_status = 422

    def __init__(self, problems: list[GateProblem]) -> None:
        self.problems = problems
        self.overridable = all(p.overridable for p in problems)
        if self.overridable:
            super().__init__(N_("Not deployed: %(count)s data-flow findings (variables read where no step on the "
                                "way writes them). Correct the diagram, or deploy anyway with a reason (recorded in "
                                "the audit log)."), count=len(problems))
        else:
            super().__init__(N_("Not deployed: the new version fails %(count)s checks of the matter's scenarios "
                                "or data flow; the problems are marked on the diagram. The deployed version is "
                                "unchanged."), count=len(problems))


def catalog_matter(process_id: str) -> Any | None:
    from workflows.catalog import shipped_catalog

    for matter in shipped_catalog().matters:
        if matter.process_id == process_id:
            return matter
    return None


def start_variables(matter: Any) -> set[str]:
    """What register_case puts into a case of `matter` (workflows/README.md, "Start data")."""
    found = set(START_VARIABLES)
    by_report_type = matter.statutory_limit_by_report_type or matter.promised_limit_by_report_type
    if by_report_type:  # the window asks for the report type of these matters only (web/window.py)
        found.add(REPORT_TYPE_VARIABLE)
    return found


def form_fields(name: str) -> set[str] | None:
    """The fields a form's JSON Schema declares (top level, including its if/then/else and combinators)."""
    try:
        schema = load_schema(name)
    except UnknownForm:
        return None
    fields: set[str] = set()

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        fields.update((node.get("properties") or {}).keys())
        for key in ("allOf", "anyOf", "oneOf"):
            for item in node.get(key) or []:
                walk(item)
        for key in ("if", "then", "else"):
            walk(node.get(key))

    walk(schema)
    return fields


def data_flow_problems(files: Mapping[str, bytes], compiled: CompiledProcess, matter: Any) -> list[GateProblem]:
    return [
        GateProblem(KIND_DATA_FLOW, p.message_zh, p.message_en, p.filename, p.element_id, p.line)
        for p in check_data_flow(files, compiled.process_id, start_variables=start_variables(matter),
                                 form_fields=form_fields)
    ]


def scenario_problems(
    files: Mapping[str, bytes], main_file: str, compiled: CompiledProcess, matter: Any
) -> list[GateProblem]:
    """The matter's scenarios on the new version, run in an engine worker (engine.pool): the new version's
    scripts and conditions are diagram code, which the web and scheduler processes never run themselves."""
    from engine.pool import JobFailed, PoolBusy, WorkerLost, shared_pool

    job = JobRequest(
        "workflows.scenarios:run_scenarios", (dict(files), matter.code),
        {"process_id": compiled.process_id, "time_limit": SCENARIO_TIME_LIMIT},
        deadline=SCENARIO_TIME_LIMIT + SCENARIO_GRACE, cpu_seconds=int(SCENARIO_TIME_LIMIT + SCENARIO_GRACE),
    )
    try:
        failures = shared_pool().call(job)
    except WorkerLost as lost:
        return [GateProblem(KIND_SCENARIO, f"运行本事项的场景时执行进程被终止：{lost.message_zh}",
                            f"the process running the matter's scenarios was stopped: {lost.message_en}")]
    except JobFailed as failed:
        return [GateProblem(KIND_SCENARIO, f"无法运行本事项的场景：{failed}",
                            f"the matter's scenarios could not run: {failed}")]
    except PoolBusy:
        raise ServiceUnavailable(
            N_("The workflow engine is busy. Nothing was deployed; try again in a minute.")) from None
    return [
        GateProblem(KIND_SCENARIO, f.message_zh, f.message_en, _file_of(files, f.element_id, main_file),
                    f.element_id, None, f.scenario or None)
        for f in failures
    ]


def _file_of(files: Mapping[str, bytes], element_id: str | None, main_file: str) -> str | None:
    """The file that defines `element_id`: the main diagram first (ids repeat across a bundle's files)."""
    if not element_id:
        return None
    marker = f'id="{element_id}"'.encode()
    for name in [main_file, *sorted(n for n in files if n != main_file)]:
        if marker in files.get(name, b""):
            return name
    return None


# Gate results by content hash: versions are immutable, and demo seeding / the CLI deploy the same bundles
# again and again. Bounded, oldest out.
_RESULTS: OrderedDict[str, list[GateProblem]] = OrderedDict()
_RESULTS_MAX = 128


def problems_for(
    digest: str, files: Mapping[str, bytes], main_file: str, compiled: CompiledProcess
) -> list[GateProblem]:
    """Everything the gate finds for this version of a catalog matter or a department's process ([] when it
    passes or is not gated)."""
    matter = catalog_matter(compiled.process_id)
    if matter is None:
        return process_problems(digest, files, compiled)
    cached = _RESULTS.get(digest)
    if cached is None:
        cached = data_flow_problems(files, compiled, matter) + scenario_problems(files, main_file, compiled, matter)
        _RESULTS[digest] = cached
        while len(_RESULTS) > _RESULTS_MAX:
            _RESULTS.popitem(last=False)
    return list(cached)


def process_problems(digest: str, files: Mapping[str, bytes], compiled: CompiledProcess) -> list[GateProblem]:
    """Check (a) for a department's own process; [] for a process that is neither a matter nor one of those."""
    from workflows.processes import shipped_processes

    process = shipped_processes().by_process_id(compiled.process_id)
    if process is None:
        return []
    cached = _RESULTS.get(digest)
    if cached is None:
        start = set(PROCESS_START_VARIABLES.get(process.code, ("matter_code", "started_on")))
        cached = [
            GateProblem(KIND_DATA_FLOW, p.message_zh, p.message_en, p.filename, p.element_id, p.line)
            for p in check_data_flow(files, compiled.process_id, start_variables=start, form_fields=form_fields)
        ]
        _RESULTS[digest] = cached
    return list(cached)


def enforce(
    digest: str,
    files: Mapping[str, bytes],
    main_file: str,
    compiled: CompiledProcess,
    override_reason: str | None = None,
) -> list[GateProblem]:
    """Raise DeployRefused unless the version passes; returns the data-flow problems a reason overrode."""
    problems = problems_for(digest, files, main_file, compiled)
    if not problems:
        return []
    reason = (override_reason or "").strip()
    if reason and all(p.overridable for p in problems):
        return problems
    raise DeployRefused(problems)
