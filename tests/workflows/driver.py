"""Drive the diagrams in ``workflows/`` with plain SpiffWorkflow 3.2.0.

The scenario table at the end of this module is also run through the service layer (``services.cases``, both
database backends) by ``tests/services/test_matter_paths.py`` with ``tests/services/service_driver.py``.

* all .bpmn files are parsed once with ``SpiffBpmnParser`` (XSD-validated, call activities resolved);
* scripts, conditions and timer expressions run through a RestrictedPython environment (like the engine's
  sandbox: no imports, no dunders), so a diagram that needs more than that fails here;
* every form payload is validated against the task's ``formJsonSchemaFilename`` before it is submitted;
* timers are driven by a fake clock that replaces ``datetime`` in SpiffWorkflow's timer module.
"""

from __future__ import annotations

import copy
import json
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from RestrictedPython import compile_restricted_eval, compile_restricted_exec, limited_builtins, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
SCHEMAS = ROOT / "forms" / "schemas"
CLOCK = "@clock"  # a scenario step (CLOCK, "2018-05-17T00:00:01+08:00") moves time on and fires due timers
START_TIME = "2018-05-02T09:00:00+08:00"


def bpmn_files() -> list[Path]:
    return sorted(WORKFLOWS.rglob("*.bpmn"))


@cache
def parser() -> SpiffBpmnParser:
    p = SpiffBpmnParser(validator=VALIDATOR)
    p.add_bpmn_files([str(f) for f in bpmn_files()])
    return p


@cache
def form_schema(filename: str) -> dict:
    return json.loads((SCHEMAS / filename).read_text(encoding="utf-8"))


@cache
def form_validator(filename: str) -> Draft202012Validator:
    schema = form_schema(filename)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate_form(filename: str, data: dict) -> None:
    errors = sorted(form_validator(filename).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        lines = "; ".join(f"{'/'.join(map(str, e.path)) or '(form)'}: {e.message}" for e in errors)
        raise AssertionError(f"form data rejected by {filename}: {lines}")


# -- restricted script environment (mirrors the engine's sandbox rules) ------------------------------------------

_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
            "//=": operator.ifloordiv, "%=": operator.imod}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    return _INPLACE[op](x, y)


class RestrictedEnvironment(TaskDataEnvironment):
    """Compiles every expression and script with RestrictedPython; no imports, no dunder attributes."""

    GUARDS = {
        "_getattr_": safer_getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": default_guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
    }

    def _sandbox(self) -> dict:
        return {"__builtins__": {**safe_builtins, **limited_builtins}, **self.GUARDS}

    def evaluate(self, expression, context, external_context=None):
        compiled = compile_restricted_eval(expression)
        if compiled.errors:
            raise SyntaxError(f"{expression!r}: {compiled.errors}")
        scope = {**self._sandbox(), **(external_context or {}), **context}
        return eval(compiled.code, scope)  # noqa: S307 - restricted code object

    def execute(self, script, context, external_context=None):
        compiled = compile_restricted_exec(script)
        if compiled.errors:
            raise SyntaxError(f"script: {compiled.errors}")
        sandbox = self._sandbox()
        context.update(sandbox)
        context.update(external_context or {})
        try:
            exec(compiled.code, context)  # noqa: S102 - restricted code object
        finally:
            for key in list(context):
                if key in sandbox or key == "__builtins__" or callable(context[key]):
                    context.pop(key)
        return True


def script_engine() -> PythonScriptEngine:
    return PythonScriptEngine(environment=RestrictedEnvironment())


# -- fake clock ---------------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, start: str = START_TIME):
        self.now = datetime.fromisoformat(start)

    def set(self, iso: str) -> None:
        new = datetime.fromisoformat(iso)
        if new < self.now:
            raise AssertionError(f"the clock only moves forward ({iso} < {self.now.isoformat()})")
        self.now = new


@contextmanager
def fake_clock(clock: FakeClock) -> Iterator[FakeClock]:
    real = spiff_timer.datetime

    class ClockDatetime(real):
        @classmethod
        def now(cls, tz=None):
            return clock.now.astimezone(tz) if tz else clock.now

    spiff_timer.datetime = ClockDatetime
    try:
        yield clock
    finally:
        spiff_timer.datetime = real


# -- scenarios ------------------------------------------------------------------------------------------------------


@dataclass
class Expect:
    """Expected end state of a scenario."""

    completed: bool = True
    ends: set[str] = field(default_factory=set)  # end events (spec names) that must have been reached
    data: dict[str, Any] = field(default_factory=dict)  # key -> value in the last task's data
    not_ends: set[str] = field(default_factory=set)  # end events that must NOT have been reached
    ready: set[str] = field(default_factory=set)  # user tasks still READY (for open cases)
    waiting_timers: int | None = None  # number of timers still waiting
    trips: int | None = None  # services.trips.count_trips(...) over the case data


@dataclass
class Scenario:
    matter: str  # process id
    path: str
    start: dict[str, Any]
    steps: list[tuple[str, Any]]
    expect: Expect

    @property
    def id(self) -> str:
        return f"{self.matter}:{self.path}"


@dataclass
class Run:
    workflow: BpmnWorkflow
    completed_user_tasks: list[tuple[str, str, str]]  # (spec name, lane, form file)
    reached_ends: set[str]

    @property
    def data(self) -> dict:
        return self.workflow.last_task.data


def ready_user_tasks(wf: BpmnWorkflow):
    return wf.get_tasks(state=TaskState.READY, manual=True)


def start_workflow(process_id: str, start: dict) -> BpmnWorkflow:
    p = parser()
    wf = BpmnWorkflow(p.get_spec(process_id), p.get_subprocess_specs(process_id), script_engine=script_engine())
    for task in wf.get_tasks(state=TaskState.READY):
        task.set_data(**copy.deepcopy(start))
    wf.do_engine_steps()
    return wf


def complete_task(wf: BpmnWorkflow, spec_name: str, form: dict) -> tuple[str, str, str]:
    ready = [t for t in ready_user_tasks(wf) if t.task_spec.name == spec_name]
    if len(ready) != 1:
        names = sorted(t.task_spec.name for t in ready_user_tasks(wf))
        raise AssertionError(f"expected one READY task {spec_name!r}, READY user tasks are {names}")
    task = ready[0]
    props = task.task_spec.extensions.get("properties", {})
    filename = props.get("formJsonSchemaFilename")
    if not filename:
        raise AssertionError(f"user task {spec_name!r} has no formJsonSchemaFilename")
    validate_form(filename, form)
    task.data.update(copy.deepcopy(form))
    task.run()
    wf.do_engine_steps()
    return spec_name, task.task_spec.lane, filename


def run_scenario(sc: Scenario) -> Run:
    clock = FakeClock(sc.start.get("_start_time", START_TIME))
    start = {k: v for k, v in sc.start.items() if not k.startswith("_")}
    done = []
    with fake_clock(clock):
        wf = start_workflow(sc.matter, start)
        for name, payload in sc.steps:
            if name == CLOCK:
                clock.set(payload)
                wf.refresh_timers()
                wf.do_engine_steps()
            else:
                done.append(complete_task(wf, name, payload))
        wf.refresh_timers()
        wf.do_engine_steps()
    ends = {
        t.task_spec.name
        for t in wf.get_tasks(state=TaskState.COMPLETED)
        if type(t.task_spec).__name__ == "EndEvent" and t.workflow is wf
    }
    return Run(wf, done, ends)


def check_expectations(sc: Scenario, run: Run) -> None:
    wf = run.workflow
    exp = sc.expect
    ready = {t.task_spec.name for t in ready_user_tasks(wf)}
    assert wf.is_completed() == exp.completed, (
        f"{sc.id}: completed={wf.is_completed()}, READY user tasks {sorted(ready)}"
    )
    missing = exp.ends - run.reached_ends
    assert not missing, f"{sc.id}: end events not reached {sorted(missing)} (reached {sorted(run.reached_ends)})"
    unexpected = exp.not_ends & run.reached_ends
    assert not unexpected, f"{sc.id}: end events reached although they should not be: {sorted(unexpected)}"
    assert ready == exp.ready, f"{sc.id}: READY user tasks {sorted(ready)} != expected {sorted(exp.ready)}"
    if exp.waiting_timers is not None:
        waiting = [e for e in wf.waiting_events() if e.event_type.endswith("EventDefinition")]
        assert len(waiting) == exp.waiting_timers, f"{sc.id}: waiting events {waiting}"
    for key, value in exp.data.items():
        assert key in run.data, f"{sc.id}: data key {key!r} missing"
        assert run.data[key] == value, f"{sc.id}: {key} = {run.data[key]!r}, expected {value!r}"
    if exp.trips is not None:
        from services.trips import count_trips

        d = run.data
        tc = count_trips(
            d["channel"], d["delivery_mode"],
            same_visit_handover=bool(d.get("same_visit_handover", False)),
            in_person_supplements=d.get("in_person_supplements", 0),
            extra_visits=d.get("extra_visits", 0),
        )
        assert tc.trips == exp.trips, f"{sc.id}: trips {tc.trips} != {exp.trips} ({tc.reasons})"


# =================================================================================================================
# Form payloads (each is validated against the task's schema when submitted)

APPLICANT = {
    "name": "吉林某化工有限公司",
    "credit_code": "91220000123456789K",  # valid check character (GB 32100-2015)
    "contact": "张三",
    "phone": "0431-88888888",
    "address": "吉林省长春市某区某路1号",
}


def start_data(code: str, channel: str = "window", delivery_mode: str = "post", **extra) -> dict:
    return {"matter_code": code, "applicant": dict(APPLICANT), "channel": channel, "delivery_mode": delivery_mode,
            **extra}


def materials_check(result: str) -> dict:
    return {"received_date": "2018-05-02", "intake_result": result, "check_notes": "按办事指南逐项核对"}


SUPPLEMENT_NOTICE = {
    "missing_items": ["business_licence", "eia_document", "other"],
    "missing_items_detail": "1. 营业执照复印件未加盖公章；2. 环评文件缺少附图；3. 缺少项目备案文件。",
    "notice_date": "2018-05-02",
    "supplement_due_date": "2018-05-12",
}


def supplement(channel: str) -> dict:
    return {"supplement_outcome": "submitted", "supplement_received_date": "2018-05-04", "supplement_channel": channel}


WITHDRAWN = {"supplement_outcome": "withdrawn", "supplement_notes": "申请人书面撤回申请"}
ACCEPTANCE_NOTICE = {"acceptance_date": "2018-05-04"}
REFUSAL_NOTICE = {"refusal_reasons": "该事项不属于本部门职权范围，请向所在地市级生态环境部门申请。",
                  "refusal_basis": "《行政许可法》第三十二条第一款第（二）项", "refusal_date": "2018-05-02"}
DELIVERY = {
    "post": ("deliver_post", {"tracking_no": "EA123456789CN", "carrier": "中国邮政 EMS", "posted_date": "2018-07-02",
                              "recipient_address": APPLICANT["address"]}),
    "window": ("deliver_window", {"notified_date": "2018-07-02", "pickup_date": "2018-07-03",
                                  "picked_up_by": "张三", "identity_checked": True, "same_visit_handover": False}),
    "online": ("deliver_online", {"published_date": "2018-07-02", "notice_sent_via": ["sms"]}),
}


def notice(start: str, end: str) -> dict:
    return {"notice_url": "http://hbt.jl.gov.cn/gs/2018/001.html", "notice_start": start, "notice_end": end,
            "notice_summary": "公示项目基本情况"}


FEEDBACK_NONE = {"objections_received": "no", "hearing_requested": "no"}
FEEDBACK_HEARING = {"objections_received": "yes", "objection_summary": "周边居民对噪声影响提出意见。",
                    "hearing_requested": "yes"}
HEARING = {"hearing_notice_date": "2018-06-08", "hearing_date": "2018-06-20", "hearing_host": "李四",
           "hearing_summary": "听证会听取了建设单位和周边居民的意见。"}


def expert(conclusion: str) -> dict:
    return {"review_org": "吉林省环境工程评估中心", "expert_meeting_date": "2018-05-20", "experts": "王五、赵六、钱七",
            "expert_opinion": "报告书编制规范，结论总体可信。", "expert_conclusion": conclusion}


def revision(channel: str) -> dict:
    return {"revision_received_date": "2018-05-25", "revision_channel": channel}


def review(recommendation: str) -> dict:
    d = {"review_opinion": "经审查，项目符合相关规划和环境准入要求。", "recommendation": recommendation,
         "reviewer": "孙八", "review_date": "2018-05-28"}
    if recommendation == "refuse":
        d["refusal_reasons"] = "项目选址位于饮用水水源保护区内，不符合法律规定。"
    return d


def decision(value: str) -> dict:
    d = {"decision": value, "signer": "分管厅长", "decision_date": "2018-06-25"}
    if value == "refuse":
        d["refusal_reasons"] = "项目选址位于饮用水水源保护区内，依法不予批准。"
    return d


APPROVAL_DOCUMENT = {"document_no": "吉环辐证〔2018〕88号", "issue_date": "2018-06-26"}  # the licence's number
REFUSAL_DOCUMENT = {"issue_date": "2018-06-26", "refusal_reasons": "项目选址位于饮用水水源保护区内，依法不予批准。"}
ANNOUNCEMENT = {"announcement_url": "http://hbt.jl.gov.cn/gg/2018/088.html", "announcement_date": "2018-06-28"}


def acceptance(kind: str = "direct") -> list[tuple[str, Any]]:
    """Steps of the window_acceptance call activity."""
    if kind == "direct":
        return [("check_materials", materials_check("complete")), ("issue_acceptance", ACCEPTANCE_NOTICE)]
    if kind.startswith("supplement_"):  # supplement_window / supplement_post / supplement_online
        return [("check_materials", materials_check("incomplete")), ("notify_supplement", SUPPLEMENT_NOTICE),
                ("receive_supplement", supplement(kind.removeprefix("supplement_"))),
                ("check_materials", materials_check("complete")), ("issue_acceptance", ACCEPTANCE_NOTICE)]
    if kind == "refused":
        return [("check_materials", materials_check("refuse")), ("issue_refusal", REFUSAL_NOTICE)]
    if kind == "withdrawn":
        return [("check_materials", materials_check("incomplete")), ("notify_supplement", SUPPLEMENT_NOTICE),
                ("receive_supplement", WITHDRAWN)]
    raise ValueError(kind)


def delivery(mode: str) -> list[tuple[str, Any]]:
    return [DELIVERY[mode]]


def m01_steps(*, acc="direct", expert_path=("pass",), hearing=False, decide="approve", mode="post"):
    steps = acceptance(acc)
    steps += [("publish_acceptance_public_notice", notice("2018-05-03", "2018-05-16")),
              (CLOCK, "2018-05-17T00:00:01+08:00")]
    for conclusion in expert_path:
        steps.append(("expert_review", expert(conclusion)))
        if conclusion == "revise":
            steps.append(("receive_revision", revision("post")))
    steps += [("review", review("approve" if decide == "approve" else "refuse")),
              ("publish_pre_approval_notice", notice("2018-06-01", "2018-06-07")),
              (CLOCK, "2018-06-08T00:00:01+08:00")]
    if hearing:
        steps += [("notice_feedback", FEEDBACK_HEARING), ("hold_hearing", HEARING)]
    else:
        steps.append(("notice_feedback", FEEDBACK_NONE))
    steps.append(("decide", decision(decide)))
    steps.append(("issue_approval", APPROVAL_DOCUMENT) if decide == "approve" else ("issue_refusal", REFUSAL_DOCUMENT))
    steps.append(("announce", ANNOUNCEMENT))
    return steps + delivery(mode)


MATERIAL_REVIEW = {"review_notes": "经营设施、技术人员和管理制度材料齐全，需现场核实贮存设施。", "reviewer": "孙八",
                   "review_date": "2018-05-08"}


def site(result: str = "compliant") -> dict:
    return {"inspection_date": "2018-05-10", "inspectors": "周九、吴十",
            "inspection_findings": "现场设施与申请材料一致。" if result == "compliant" else "贮存设施未设置防渗层。",
            "inspection_result": result}


def storage_review(site_needed: str, recommendation: str = "approve") -> dict:
    return {"extension_reason": "处置单位检修，暂无法接收。", "waste_categories": "HW08 废矿物油",
            "storage_amount_t": 12.5, "storage_site": "厂区危废暂存库",
            "review_points_checked": ["reason", "categories", "amounts", "storage_conditions", "disposal_plan",
                                      "permit"],
            "site_check_needed": site_needed, **review(recommendation)}


def reserve_review(foreign: bool = False, recommendation: str = "approve") -> dict:
    d = {"reserve_name": "吉林长白山国家级自然保护区", "activity_purpose": "开展东北虎豹种群监测研究。",
         "activity_route": "核心区北坡既定样线。", "planned_entry_start": "2018-07-01",
         "planned_entry_end": "2018-07-10",
         "participants": "张三，某大学，220102198001011234", "reserve_opinion": "agree", **review(recommendation)}
    if foreign:
        d.update(participants="John Smith，美国，P12345678，某大学", host_unit="某大学生命科学学院",
                 passport_numbers="P12345678")
    return d


def reserve_decision(value: str) -> dict:
    d = decision(value)
    if value == "approve":
        d.update(approved_persons="张三，220102198001011234", entry_start="2018-07-01", entry_end="2018-07-10")
    return d


RESULTS = {"results_received_date": "2018-07-20", "results_summary": "监测报告一份。"}


def offsite_intake(received: str, start: str, end: str) -> dict:
    return {"received_date": received, "licence_no": "国环辐证[00001]",
            "source_description": "Ir-192，3.7E+12 Bq，II类",
            "activity_location": "吉林市某工地", "activity_start": start, "activity_end": end}


def check(result: str, **extra) -> dict:
    d = {"check_result": result, "checker": "郑十一", "check_date": "2018-05-08", **extra}
    if result == "return":
        d["refusal_reasons"] = "材料不全：缺少放射源使用场所的辐射环境监测报告。"
    return d


FILING_RECEIPT = {"filing_date": "2018-05-09"}
RETURN_NOTICE = {"return_date": "2018-05-09", "refusal_reasons": "未在活动实施前10日备案，或材料不符合要求。"}
CANCELLATION = {"cancellation_received_date": "2018-06-01", "cancellation_channel": "online"}
REMINDER = {"reminder_date": "2018-06-16", "reminder_methods": ["phone", "letter"]}
CANCELLATION_CHECK = {"cancellation_done_date": "2018-06-02"}


def annual_intake(year: int, received: str) -> dict:
    return {"report_year": year, "received_date": received, "licence_no": "吉环辐证[00123]"}


LATE_RECORD = {"late_handling": "remind", "late_notes": "电话提醒并责令限期补报。"}


def import_intake(period: str) -> dict:
    d = {"report_period": period, "report_year": 2018, "received_date": "2018-04-10", "waste_categories": "废纸",
         "import_amount_t": 1200.0, "monitoring_summary": "废水、废气达标排放。"}
    if period == "quarterly":
        d["report_quarter"] = 1
    return d


POST_ASSESSMENT = {"received_date": "2018-07-05", "project_name": "某化工园区污水处理厂",
                   "eia_approval_no": "吉环审字〔2012〕45号", "assessment_org": "某环境科学研究院"}


def approval_tail(decide: str, doc_task: str = "issue_approval") -> list[tuple[str, Any]]:
    return [("decide", decision(decide)),
            (doc_task, APPROVAL_DOCUMENT) if decide == "approve" else ("issue_refusal", REFUSAL_DOCUMENT)]


def notice_and_feedback(hearing: bool) -> list[tuple[str, Any]]:
    steps = [("publish_permit_notice", notice("2018-06-01", "2018-06-07")), (CLOCK, "2018-06-08T00:00:01+08:00")]
    if hearing:
        return steps + [("notice_feedback", FEEDBACK_HEARING), ("hold_hearing", HEARING)]
    return steps + [("notice_feedback", FEEDBACK_NONE)]


def m02_steps(*, acc="direct", expert_path=("pass",), hearing=False, decide="approve", mode="post"):
    steps = acceptance(acc) + [("material_review", MATERIAL_REVIEW), ("site_inspection", site())]
    for conclusion in expert_path:
        steps.append(("expert_review", expert(conclusion)))
        if conclusion == "revise":
            steps.append(("receive_revision", revision("window")))
    steps += [("review", review(decide))] + notice_and_feedback(hearing) + approval_tail(decide)
    return steps + [("announce", ANNOUNCEMENT)] + delivery(mode)


def m03_steps(*, acc="direct", site_needed="yes", decide="approve", mode="post"):
    steps = acceptance(acc) + [("storage_review", storage_review(site_needed, decide))]
    if site_needed == "yes":
        steps.append(("site_inspection", site()))
    return steps + approval_tail(decide) + delivery(mode)


def m04_steps(*, acc="direct", hearing=False, decide="approve", mode="post"):
    steps = acceptance(acc) + [("material_review", MATERIAL_REVIEW), ("site_survey", site()),
                               ("review", review(decide))]
    return steps + notice_and_feedback(hearing) + approval_tail(decide) + delivery(mode)


def reserve_steps(*, foreign=False, acc="direct", decide="approve", mode="post", results=True):
    steps = acceptance(acc) + [("reserve_review", reserve_review(foreign, decide)),
                               ("decide", reserve_decision(decide)),
                               ("issue_approval", APPROVAL_DOCUMENT) if decide == "approve"
                               else ("issue_refusal", REFUSAL_DOCUMENT)] + delivery(mode)
    if decide == "approve" and results:
        steps += [(CLOCK, "2018-07-11T00:00:01+08:00"), ("receive_results", RESULTS)]
    return steps


def m07_steps(*, acc="direct", decide="approve", mode="post"):
    return acceptance(acc) + [("review", review(decide))] + approval_tail(decide) + delivery(mode)


def m08_steps(*, received="2018-05-02", start="2018-05-20", end="2018-05-25", result="accept", site_needed="no",
              site_result="compliant", mode="post", cancellation="on_time"):
    steps = [("receive_filing", offsite_intake(received, start, end)),
             ("check_filing", check(result, site_check_needed=site_needed))]
    if result == "accept" and site_needed == "yes":
        steps.append(("site_inspection", site(site_result)))
    filed = result == "accept" and site_result == "compliant" and received <= "2018-05-10"
    steps.append(("issue_receipt", FILING_RECEIPT) if filed else ("issue_return", RETURN_NOTICE))
    steps += delivery(mode)
    if not filed:
        return steps
    steps.append((CLOCK, "2018-05-26T00:00:01+08:00"))  # activity over: waiting for the cancellation
    if cancellation == "on_time":
        return steps + [("receive_cancellation", CANCELLATION), ("cancel_filing", CANCELLATION_CHECK)]
    steps += [(CLOCK, "2018-06-16T09:00:00+08:00"), ("remind_cancellation", REMINDER)]  # 20 days passed
    if cancellation == "after_reminder":
        steps += [("receive_cancellation", {**CANCELLATION, "cancellation_received_date": "2018-06-18"}),
                  ("cancel_filing", {"cancellation_done_date": "2018-06-19"})]
    return steps


def m09_steps(*, year=2017, received="2018-01-20", result="accept", mode="post"):
    steps = [("receive_report", annual_intake(year, received))]
    if received > f"{year + 1}-01-31":
        steps.append(("record_late", LATE_RECORD))
    steps.append(("check_filing", check(result)))
    steps.append(("issue_receipt", FILING_RECEIPT) if result == "accept" else ("issue_return", RETURN_NOTICE))
    return steps + delivery(mode)


def m10_steps(*, period="quarterly", result="accept", spot="no", mode="online"):
    steps = [("receive_report", import_intake(period)), ("check_filing", check(result, spot_check_needed=spot)),
             ("issue_receipt", FILING_RECEIPT) if result == "accept" else ("issue_return", RETURN_NOTICE)]
    steps += delivery(mode)
    if result == "accept" and spot == "yes":
        steps.append(("spot_check", site("non_compliant")))
    return steps


def m11_steps(*, result="accept", mode="online"):
    document = ("issue_receipt", FILING_RECEIPT) if result == "accept" else ("issue_return", RETURN_NOTICE)
    return [("receive_report", POST_ASSESSMENT), ("check_filing", check(result)), document] + delivery(mode)


# =================================================================================================================
# The scenario table: matter, path, start data, steps [(task spec name | CLOCK, form data | time)], expected end.

DONE = "end_done"
NOT_ACCEPTED = "end_not_accepted"
M01, M02, M03 = "m01_eia_approval", "m02_hazardous_waste_permit", "m03_hazardous_waste_storage"
M04, M05, M06 = "m04_radiation_safety_permit", "m05_nature_reserve_core_entry", "m06_nature_reserve_foreign_entry"
M07, M08 = "m07_radiation_project_confirmation", "m08_radioactive_source_offsite_filing"
M09, M10 = "m09_radiation_annual_assessment_filing", "m10_imported_solid_waste_report"
M11 = "m11_eia_post_assessment_filing"

APPROVED = {"outcome": "approved", "accepted": True, "delivered": True}
REFUSED = {"outcome": "refused", "accepted": True, "delivered": True}

SCENARIOS: list[Scenario] = [
    # --- m01 建设项目环境影响评价文件审批 (受理公示 → 技术评估 → 审查 → 拟审批公示 → 决定 → 公告 → 送达)
    Scenario(M01, "grant_window_post", start_data("m01", "window", "post", report_type="report"), m01_steps(),
             Expect(ends={DONE}, not_ends={NOT_ACCEPTED},
                    data={**APPROVED, "tracking_no": "EA123456789CN",
                          "acceptance_public_notice_end_at": "2018-05-16T23:59:59+08:00",
                          "pre_approval_notice_end_at": "2018-06-07T23:59:59+08:00"}, trips=1)),
    Scenario(M01, "grant_supplement_in_person_revise_window_pickup",
             start_data("m01", "window", "window", report_type="table"),
             m01_steps(acc="supplement_window", expert_path=("revise", "pass"), mode="window"),
             Expect(ends={DONE}, data={**APPROVED, "supplement_rounds": 1, "in_person_supplements": 1,
                                       "revision_rounds": 1, "extra_visits": 0}, trips=3)),
    Scenario(M01, "refuse_after_hearing_online_post", start_data("m01", "online", "post", report_type="report"),
             m01_steps(acc="supplement_online", hearing=True, decide="refuse", mode="post"),
             Expect(ends={DONE}, data={**REFUSED, "in_person_supplements": 0, "hearing_requested": "yes",
                                       "refusal_reasons": REFUSAL_DOCUMENT["refusal_reasons"]}, trips=0)),
    Scenario(M01, "expert_fail_refuse_post_window", start_data("m01", "post", "window", report_type="report"),
             m01_steps(expert_path=("fail",), decide="refuse", mode="window"),
             Expect(ends={DONE}, data={**REFUSED, "expert_conclusion": "fail"}, trips=1)),
    Scenario(M01, "not_accepted", start_data("m01", "post", "post", report_type="report"), acceptance("refused"),
             Expect(ends={NOT_ACCEPTED}, not_ends={DONE},
                    data={"outcome": "not_accepted", "accepted": False, "acceptance_outcome": "refused"}, trips=0)),
    Scenario(M01, "withdrawn_during_supplement", start_data("m01", "online", "post", report_type="table"),
             acceptance("withdrawn"),
             Expect(ends={NOT_ACCEPTED}, data={"outcome": "withdrawn", "accepted": False,
                                               "acceptance_outcome": "withdrawn", "supplement_rounds": 0})),
    # --- m02 危险废物经营许可
    Scenario(M02, "grant_post", start_data("m02", "window", "post"), m02_steps(),
             Expect(ends={DONE}, data={**APPROVED, "inspection_result": "compliant"}, trips=1)),
    Scenario(M02, "revise_in_person_hearing_refuse_online_window",
             start_data("m02", "online", "window"),
             m02_steps(expert_path=("revise", "pass"), hearing=True, decide="refuse", mode="window"),
             Expect(ends={DONE}, data={**REFUSED, "revision_rounds": 1, "extra_visits": 1}, trips=2)),
    Scenario(M02, "supplement_post_grant", start_data("m02", "post", "post"), m02_steps(acc="supplement_post"),
             Expect(ends={DONE}, data={**APPROVED, "supplement_rounds": 1, "in_person_supplements": 0}, trips=0)),
    Scenario(M02, "not_accepted", start_data("m02", "window", "post"), acceptance("refused"),
             Expect(ends={NOT_ACCEPTED}, data={"outcome": "not_accepted"})),
    # --- m03 贮存危险废物超过一年的批准
    Scenario(M03, "grant_with_site_check", start_data("m03", "window", "window"), m03_steps(mode="window"),
             Expect(ends={DONE}, data={**APPROVED, "site_check_needed": "yes"}, trips=2)),
    Scenario(M03, "refuse_without_site_check", start_data("m03", "post", "post"),
             m03_steps(site_needed="no", decide="refuse"),
             Expect(ends={DONE}, data={**REFUSED, "site_check_needed": "no"}, trips=0)),
    Scenario(M03, "withdrawn", start_data("m03", "window", "post"), acceptance("withdrawn"),
             Expect(ends={NOT_ACCEPTED}, data={"outcome": "withdrawn"})),
    # --- m04 辐射安全许可
    Scenario(M04, "grant_online_window", start_data("m04", "online", "window"), m04_steps(mode="window"),
             Expect(ends={DONE}, data={**APPROVED}, trips=1)),
    Scenario(M04, "hearing_refuse_post", start_data("m04", "window", "post"), m04_steps(hearing=True, decide="refuse"),
             Expect(ends={DONE}, data={**REFUSED, "hearing_requested": "yes"}, trips=1)),
    Scenario(M04, "not_accepted", start_data("m04", "online", "post"), acceptance("refused"),
             Expect(ends={NOT_ACCEPTED}, data={"outcome": "not_accepted"})),
    # --- m05 进入国家级自然保护区核心区审批
    Scenario(M05, "grant_results_filed", start_data("m05", "window", "post"), reserve_steps(),
             Expect(ends={DONE}, data={**APPROVED, "entry_end_at": "2018-07-10T23:59:59+08:00",
                                       "results_received_date": "2018-07-20"}, trips=1)),
    Scenario(M05, "granted_waiting_for_activity_end", start_data("m05", "window", "post"),
             reserve_steps(results=False),
             Expect(completed=False, ends=set(), not_ends={DONE}, waiting_timers=1, data={"outcome": "approved"})),
    Scenario(M05, "refuse_window_pickup", start_data("m05", "post", "window"), reserve_steps(decide="refuse",
                                                                                             mode="window"),
             Expect(ends={DONE}, data={**REFUSED}, trips=1)),
    Scenario(M05, "not_accepted", start_data("m05", "window", "post"), acceptance("refused"),
             Expect(ends={NOT_ACCEPTED}, data={"outcome": "not_accepted"})),
    # --- m06 外国人进入国家级自然保护区审批
    Scenario(M06, "grant_results_filed", start_data("m06", "post", "post"), reserve_steps(foreign=True),
             Expect(ends={DONE}, data={**APPROVED, "passport_numbers": "P12345678"}, trips=0)),
    Scenario(M06, "supplement_in_person_refuse", start_data("m06", "window", "window"),
             reserve_steps(foreign=True, acc="supplement_window", decide="refuse", mode="window"),
             Expect(ends={DONE}, data={**REFUSED, "in_person_supplements": 1}, trips=3)),
    Scenario(M06, "withdrawn", start_data("m06", "post", "window"), acceptance("withdrawn"),
             Expect(ends={NOT_ACCEPTED}, not_ends={DONE}, data={"outcome": "withdrawn"})),
    # --- m07 辐射项目行政确认
    Scenario(M07, "confirm_online_post", start_data("m07", "online", "post"), m07_steps(),
             Expect(ends={DONE}, data={**APPROVED}, trips=0)),
    Scenario(M07, "refuse_window_window", start_data("m07", "window", "window"), m07_steps(decide="refuse",
                                                                                           mode="window"),
             Expect(ends={DONE}, data={**REFUSED}, trips=2)),
    Scenario(M07, "not_accepted", start_data("m07", "window", "post"), acceptance("refused"),
             Expect(ends={NOT_ACCEPTED}, data={"outcome": "not_accepted"})),
    # --- m08 放射源异地使用备案 (备案 → 回执 → 等待活动结束 → 20 日内注销，否则督促)
    Scenario(M08, "filed_cancelled_on_time", start_data("m08", "online", "online"), m08_steps(mode="online"),
             Expect(ends={"end_cancelled"}, not_ends={"end_reminded", "end_returned"},
                    data={"outcome": "filed", "lead_days": 18, "lead_time_ok": True, "cancelled": True,
                          "activity_end_at": "2018-05-25T23:59:59+08:00"}, trips=0)),
    Scenario(M08, "site_check_reminder_then_cancelled", start_data("m08", "window", "post"),
             m08_steps(site_needed="yes", cancellation="after_reminder"),
             Expect(ends={"end_cancelled", "end_reminded"}, not_ends={"end_returned"}, trips=1)),
    Scenario(M08, "reminder_sent_still_waiting", start_data("m08", "post", "window"),
             m08_steps(cancellation="reminder_only", mode="window"),
             Expect(completed=False, ends={"end_reminded"}, not_ends={"end_cancelled"},
                    ready={"receive_cancellation"}, waiting_timers=0)),
    Scenario(M08, "returned_less_than_10_days", start_data("m08", "online", "post"),
             m08_steps(received="2018-05-15"),
             Expect(ends={"end_returned"}, not_ends={"end_cancelled"},
                    data={"outcome": "returned", "lead_days": 5, "lead_time_ok": False,
                          "refusal_reasons": RETURN_NOTICE["refusal_reasons"]})),
    Scenario(M08, "returned_by_check", start_data("m08", "window", "window"), m08_steps(result="return",
                                                                                       mode="window"),
             Expect(ends={"end_returned"}, data={"outcome": "returned", "check_result": "return"}, trips=2)),
    Scenario(M08, "returned_after_failed_site_check", start_data("m08", "post", "post"),
             m08_steps(site_needed="yes", site_result="non_compliant"),
             Expect(ends={"end_returned"}, data={"outcome": "returned", "inspection_result": "non_compliant"})),
    # --- m09 年度评估报告备案 (1 月 31 日截止)
    Scenario(M09, "on_time_filed", start_data("m09", "online", "online"), m09_steps(mode="online"),
             Expect(ends={DONE}, data={"outcome": "filed", "late": False, "due_date": "2018-01-31"}, trips=0)),
    Scenario(M09, "due_day_is_on_time", start_data("m09", "post", "post"), m09_steps(received="2018-01-31"),
             Expect(ends={DONE}, data={"outcome": "filed", "late": False})),
    Scenario(M09, "late_filed", start_data("m09", "window", "post"), m09_steps(received="2018-02-01"),
             Expect(ends={DONE}, data={"outcome": "filed", "late": True, "late_handling": "remind"}, trips=1)),
    Scenario(M09, "late_returned", start_data("m09", "online", "window"),
             m09_steps(year=2016, received="2017-03-01", result="return", mode="window"),
             Expect(ends={DONE}, data={"outcome": "returned", "late": True, "due_date": "2017-01-31"}, trips=1)),
    # --- m10 进口固体废物经营情况和环境监测情况报告
    Scenario(M10, "quarterly_filed_online", start_data("m10", "online", "online"), m10_steps(),
             Expect(ends={DONE}, data={"outcome": "filed", "report_quarter": 1}, trips=0)),
    Scenario(M10, "annual_filed_spot_check", start_data("m10", "post", "post"),
             m10_steps(period="annual", spot="yes", mode="post"),
             Expect(ends={DONE}, data={"outcome": "filed", "inspection_result": "non_compliant"}, trips=0)),
    Scenario(M10, "returned_no_spot_check", start_data("m10", "window", "post"),
             m10_steps(result="return", spot="yes", mode="post"),
             Expect(ends={DONE}, data={"outcome": "returned"}, trips=1)),
    # --- m11 环境影响后评价报告备案
    Scenario(M11, "filed_online", start_data("m11", "online", "online"), m11_steps(),
             Expect(ends={DONE}, data={"outcome": "filed", "delivered": True}, trips=0)),
    Scenario(M11, "returned_window", start_data("m11", "window", "window"), m11_steps(result="return", mode="window"),
             Expect(ends={DONE}, data={"outcome": "returned"}, trips=2)),
]
