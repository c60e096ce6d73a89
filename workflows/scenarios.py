"""The scenario suite of the matters: every flow of the 13 diagrams, as data, and the driver that runs it.

Shipped (not only a test helper) because the deploy gate runs a matter's scenarios on every new version of
its diagram before it may be deployed (services/deploy_gate.py); the tests run the same table on the shipped
diagrams (tests/workflows) and through the service layer on both databases (tests/services).

A scenario is: the matter's process id, a path name, the start data, the steps — (element id of a user task,
form data) or (CLOCK, ISO time: move the clock and fire due timers) — and what must hold at the end.

`run_scenario(compiled, scenario)` drives one scenario on the engine exactly as cases run (engine.runtime:
the sandbox, the engine bounds, the clock pinned with engine.clock), validating every form payload against
the task's form. A step finds its READY task by element id, else by the task's name in the shipped
diagram (a designer may rename an id); a step whose task the version lacks is a failure at the element where
the case stands. `run_scenarios(bundle, matter)` runs all of a matter's scenarios with a wall-clock bound and
returns the failures (empty: green). Messages are bilingual (Chinese first), like the engine's.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import runtime
from engine.clock import frozen_time
from engine.definitions import CompiledProcess, compile_process
from engine.errors import BpmnError, DataError, ScriptError, bilingual

WORKFLOWS = Path(__file__).resolve().parent
SHARED_DIR = WORKFLOWS / "shared"
CLOCK = "@clock"  # a scenario step (CLOCK, "2018-05-17T00:00:01+08:00") moves time on and fires due timers
START_TIME = "2018-05-02T09:00:00+08:00"
DEFAULT_TIME_LIMIT = 60.0  # seconds for all scenarios of one matter (the shipped ones take well under 1 s)


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


@dataclass(frozen=True)
class ScenarioFailure:
    """Why a scenario did not run green on a version; `element_id` is where to mark the diagram."""

    scenario: str
    message_zh: str
    message_en: str
    element_id: str | None = None
    step: str | None = None  # the step (element id) being run, None for the end state

    @property
    def message(self) -> str:
        return bilingual(self.message_zh, self.message_en)


@dataclass
class ScenarioRun:
    scenario: Scenario
    workflow: BpmnWorkflow | None
    completed_user_tasks: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # (id, lane, form)
    failure: ScenarioFailure | None = None

    @property
    def data(self) -> dict[str, Any]:
        return self.workflow.last_task.data if self.workflow is not None else {}

    @property
    def reached_ends(self) -> set[str]:
        if self.workflow is None:
            return set()
        return {
            t.task_spec.name
            for t in self.workflow.get_tasks(state=TaskState.COMPLETED)
            if type(t.task_spec).__name__ == "EndEvent" and t.workflow is self.workflow
        }


# --- the shipped diagrams ------------------------------------------------------------------------------------


def shipped_bundle(process_id: str) -> dict[str, bytes]:
    """The shipped diagram of a process with the shared call activities (as services.definitions.bundle_for)."""
    diagram = WORKFLOWS / f"{process_id}.bpmn"
    files = {diagram.name: diagram.read_bytes()}
    for path in sorted(SHARED_DIR.glob("*.bpmn")):
        files[f"{SHARED_DIR.name}/{path.name}"] = path.read_bytes()
    return files


@cache
def shipped_process(process_id: str) -> CompiledProcess:
    return compile_process(shipped_bundle(process_id), process_id)


@cache
def shipped_titles(process_id: str) -> dict[str, str]:
    """Element id -> name of every user task of the shipped version (to find a task whose id was renamed)."""
    return {name: spec.title for name, spec in shipped_process(process_id).human_tasks.items()}


def scenarios_for(process_id: str) -> list[Scenario]:
    return [s for s in SCENARIOS if s.matter == process_id]


# --- running one scenario ------------------------------------------------------------------------------------


def _where(wf: BpmnWorkflow | None) -> str | None:
    """The element where the case stands: a task in error, else a READY user task, else the last one done."""
    if wf is None:
        return None
    states = runtime.element_states(wf, main_only=True)
    for key in ("error", "current"):
        if states[key]:
            return states[key][0]
    last = wf.last_task
    return getattr(last.task_spec, "bpmn_id", None) if last is not None else None


def _stopped(sc: Scenario, step: str | None, wf: BpmnWorkflow | None, err: Exception) -> ScenarioFailure:
    if isinstance(err, ScriptError):
        zh, en, element = err.message_zh, err.message_en, err.element_id or _where(wf)
    else:
        zh = en = str(err) or err.__class__.__name__
        element = _where(wf)
    at_zh = f"在步骤 “{step}” " if step else "开始时"
    at_en = f"at step {step!r}" if step else "at the start"
    return ScenarioFailure(sc.id, f"场景 “{sc.id}” {at_zh}出错：{zh}", f"scenario {sc.id} failed {at_en}: {en}",
                           element, step)


def _describe(name: str, titles: Mapping[str, str]) -> tuple[str, str]:
    title = titles.get(name)
    return (f"“{title}”（{name}）", f"{title!r} ({name})") if title else (f"“{name}”", repr(name))


def _find_step(
    wf: BpmnWorkflow, compiled: CompiledProcess, sc: Scenario, name: str, titles: Mapping[str, str]
) -> tuple[runtime.ReadyTask | None, ScenarioFailure | None]:
    ready = runtime.ready_human_tasks(wf)
    matching = [t for t in ready if t.spec_name == name]
    if not matching and name in titles:  # the id changed in the modeler, the step (by its name) did not
        matching = [t for t in ready if t.title == titles[name]]
    if len(matching) == 1:
        return matching[0], None
    step_zh, step_en = _describe(name, titles)
    ready_names = ", ".join(sorted(f"{t.title}（{t.spec_name}）" for t in ready)) or "无"
    ready_en = ", ".join(sorted(t.spec_name for t in ready)) or "none"
    exists = name in compiled.human_tasks or (
        name in titles and any(t.title == titles[name] for t in compiled.human_tasks.values())
    )
    if not exists:
        zh = f"场景 “{sc.id}” 需要的步骤 {step_zh} 在这个版本中已不存在（案件停在：{ready_names}）"
        en = f"scenario {sc.id} needs the step {step_en}, which this version no longer has (the case is at: {ready_en})"
    else:
        zh = f"场景 “{sc.id}” 此时应办理步骤 {step_zh}，但案件停在：{ready_names}"
        en = f"scenario {sc.id} expects the step {step_en} now, but the case is at: {ready_en}"
    return None, ScenarioFailure(sc.id, zh, en, _where(wf), name)


@cache
def _calendar():
    from engine.calendar import DEFAULT_NOTICE_DIR, WorkingDayCalendar

    return WorkingDayCalendar.from_directory(DEFAULT_NOTICE_DIR, [])


def _form_problems(form: str | None, payload: dict[str, Any], matter_code: str | None = None,
                   task_name: str | None = None) -> str | None:
    """The form's problems with the payload, checked as the service checks it: the matter's materials for the
    一次性告知书, 公示 periods in working days by the shipped calendar."""
    if not form:
        return None
    from forms.schemas import UnknownForm, validate_form

    context = None
    if matter_code:
        from services.form_context import context_for  # pure: no database

        context = context_for(matter_code, task_name, _calendar())
    try:
        problems = validate_form(form, payload, context)
    except UnknownForm:
        return f"unknown form {form}"
    if not problems:
        return None
    return "; ".join(f"{name}: {msgid % params if params.get('limit') is not None else msgid}"
                     for name, (msgid, params) in sorted(problems.items()))


def run_scenario(
    compiled: CompiledProcess,
    sc: Scenario,
    *,
    titles: Mapping[str, str] | None = None,
    deadline: float | None = None,
) -> ScenarioRun:
    """Drive `sc` on `compiled` with the engine; the first problem ends the run (`run.failure`)."""
    titles = titles if titles is not None else {}
    now = datetime.fromisoformat(sc.start.get("_start_time", START_TIME))
    start = copy.deepcopy({k: v for k, v in sc.start.items() if not k.startswith("_")})
    run = ScenarioRun(sc, None)
    try:
        with frozen_time(now):
            run.workflow = runtime.new_workflow(compiled, start)
    except (ScriptError, DataError) as err:
        run.failure = _stopped(sc, None, run.workflow, err)
        return run
    wf = run.workflow
    for name, payload in sc.steps:
        if deadline is not None and time.monotonic() > deadline:
            run.failure = _timed_out(sc)
            return run
        try:
            if name == CLOCK:
                moment = datetime.fromisoformat(payload)
                if moment < now:
                    raise ValueError(f"the clock only moves forward ({payload} < {now.isoformat()})")
                now = moment
                runtime.advance(wf, now)
                continue
            task, failure = _find_step(wf, compiled, sc, name, titles)
            if failure is not None:
                run.failure = failure
                return run
            problem = _form_problems(task.form, payload, start.get("matter_code"), task.spec_name)
            if problem:
                step_zh, step_en = _describe(name, titles)
                run.failure = ScenarioFailure(
                    sc.id,
                    f"场景 “{sc.id}” 的步骤 {step_zh} 的数据不被表单 {task.form} 接受：{problem}",
                    f"the form {task.form} of step {step_en} refuses the data of scenario {sc.id}: {problem}",
                    task.spec_name,
                    name,
                )
                return run
            with frozen_time(now):
                runtime.complete_task(wf, task.id, copy.deepcopy(payload))
            run.completed_user_tasks.append((task.spec_name, task.lane, task.form))
        except (ScriptError, DataError, ValueError) as err:
            run.failure = _stopped(sc, name, wf, err)
            return run
    try:
        runtime.advance(wf, now)  # anything due at the last moment has fired
    except ScriptError as err:
        run.failure = _stopped(sc, None, wf, err)
    return run


def _timed_out(sc: Scenario) -> ScenarioFailure:
    return ScenarioFailure(sc.id, f"场景检查超时，场景 “{sc.id}” 未能完成",
                           f"the scenario check ran out of time at {sc.id}")


# --- checking the end state ----------------------------------------------------------------------------------


def end_state_problems(run: ScenarioRun) -> list[ScenarioFailure]:
    """Every expectation of the scenario that the run does not meet (empty: green)."""
    if run.failure is not None:
        return [run.failure]
    sc, exp, wf = run.scenario, run.scenario.expect, run.workflow
    assert wf is not None
    found: list[tuple[str, str, str | None]] = []
    ready = {t.task_spec.name for t in wf.get_tasks(state=TaskState.READY, manual=True)}
    completed = bool(wf.is_completed())
    if completed != exp.completed:
        found.append((f"案件{'已' if completed else '未'}办结，应为{'已' if exp.completed else '未'}办结"
                      f"（待办步骤：{', '.join(sorted(ready)) or '无'}）",
                      f"completed={completed}, expected {exp.completed} (READY user tasks {sorted(ready)})", None))
    reached = run.reached_ends
    for end in sorted(exp.ends - reached):
        found.append((f"没有到达结束事件 “{end}”（到达了：{', '.join(sorted(reached)) or '无'}）",
                      f"end event {end!r} not reached (reached {sorted(reached)})", end))
    for end in sorted(exp.not_ends & reached):
        found.append((f"不应到达结束事件 “{end}”", f"end event {end!r} reached although it should not be", end))
    if ready != exp.ready:
        found.append((f"待办步骤为 {sorted(ready)}，应为 {sorted(exp.ready)}",
                      f"READY user tasks {sorted(ready)} != expected {sorted(exp.ready)}", None))
    if exp.waiting_timers is not None:
        waiting = [e for e in wf.waiting_events() if e.event_type.endswith("EventDefinition")]
        if len(waiting) != exp.waiting_timers:
            found.append((f"等待中的定时器有 {len(waiting)} 个，应为 {exp.waiting_timers} 个",
                          f"{len(waiting)} waiting events, expected {exp.waiting_timers}", None))
    data = run.data
    for key, value in exp.data.items():
        if key not in data:
            found.append((f"案件数据缺少 “{key}”", f"data key {key!r} missing", None))
        elif data[key] != value:
            found.append((f"案件数据 {key} = {data[key]!r}，应为 {value!r}",
                          f"{key} = {data[key]!r}, expected {value!r}", None))
    if exp.trips is not None and {"channel", "delivery_mode"} <= data.keys():
        from services.trips import count_trips  # pure: the run-once trip rules

        tc = count_trips(
            data["channel"], data["delivery_mode"],
            same_visit_handover=bool(data.get("same_visit_handover", False)),
            in_person_supplements=data.get("in_person_supplements", 0),
            extra_visits=data.get("extra_visits", 0),
        )
        if tc.trips != exp.trips:
            found.append((f"跑动次数为 {tc.trips}，应为 {exp.trips}（{'；'.join(tc.reasons)}）",
                          f"trips {tc.trips} != {exp.trips} ({tc.reasons})", None))
    where = _where(wf)
    return [ScenarioFailure(sc.id, f"场景 “{sc.id}”：{zh}", f"scenario {sc.id}: {en}", element or where)
            for zh, en, element in found]


# --- the gate's entry point ----------------------------------------------------------------------------------


def _process_id(matter: str) -> str:
    from workflows.catalog import shipped_catalog

    catalog = shipped_catalog()
    try:
        return catalog.matter(matter).process_id
    except KeyError:
        return matter  # already a process id


def run_scenarios(
    bundle: Mapping[str, bytes], matter: str, *, process_id: str | None = None, time_limit: float = DEFAULT_TIME_LIMIT
) -> list[ScenarioFailure]:
    """Run every scenario of `matter` (code "m07" or its process id) on the version in `bundle` (file name ->
    BPMN bytes, the diagram with its shared call activities); [] when all are green.

    Plain data in, plain data out, so that it can run in a worker process. The wall-clock bound is checked
    between steps; each step's engine work is bounded by engine/limits.py.
    """
    pid = process_id or _process_id(matter)
    deadline = time.monotonic() + time_limit
    try:
        compiled = compile_process(dict(bundle), pid)
    except BpmnError as err:
        return [ScenarioFailure("", err.message_zh, err.message_en, err.element_id)]
    titles = shipped_titles(pid) if (WORKFLOWS / f"{pid}.bpmn").is_file() else {}
    failures: list[ScenarioFailure] = []
    for sc in scenarios_for(pid):
        if time.monotonic() > deadline:
            failures.append(_timed_out(sc))
            break
        failures.extend(end_state_problems(run_scenario(compiled, sc, titles=titles, deadline=deadline)))
    return failures


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


SUPPLEMENT_NOTICE = {  # codes from the matter's materials list (every approval matter has application_form)
    "missing_items": ["application_form", "other"],
    "missing_items_detail": "1. 申请书未加盖公章；2. 缺少授权委托书。",
    "notice_date": "2018-05-02",
    "supplement_due_date": "2018-05-12",
}


def supplement(channel: str) -> dict:
    return {"supplement_outcome": "submitted", "supplement_received_date": "2018-05-04", "supplement_channel": channel}


def second_notice_approval(decision_value: str) -> dict:
    return {"second_notice_reason": "补正的监测报告超过有效期，需重新提交。", "second_notice_decision": decision_value,
            "second_notice_approver": "审批办负责人", "second_notice_approval_date": "2018-05-07"}


WITHDRAWN = {"supplement_outcome": "withdrawn", "supplement_notes": "申请人书面撤回申请"}
ACCEPTANCE_NOTICE = {"acceptance_date": "2018-05-04"}  # the number is allocated
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
    if kind.startswith("second_notice_"):  # second_notice_approve / second_notice_reject (the unit lead decides)
        decision_value = kind.removeprefix("second_notice_")
        first = [("check_materials", materials_check("incomplete")), ("notify_supplement", SUPPLEMENT_NOTICE),
                 ("receive_supplement", supplement("post")), ("check_materials", materials_check("incomplete")),
                 ("approve_second_notice", second_notice_approval(decision_value))]
        if decision_value == "approve":
            first += [("notify_supplement", SUPPLEMENT_NOTICE), ("receive_supplement", supplement("post"))]
        return first + [("check_materials", materials_check("complete")), ("issue_acceptance", ACCEPTANCE_NOTICE)]
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


FILING_RECEIPT = {"filing_date": "2018-05-09"}  # the number is allocated
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
              site_result="compliant", mode="post", cancellation="on_time", cancellation_channel="online"):
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
        return steps + [("receive_cancellation", {**CANCELLATION, "cancellation_channel": cancellation_channel}),
                        ("cancel_filing", CANCELLATION_CHECK)]
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
    Scenario(M03, "second_notice_approved_by_lead", start_data("m03", "post", "post"),
             m03_steps(acc="second_notice_approve", site_needed="no"),
             Expect(ends={DONE}, data={**APPROVED, "supplement_notices": 2, "supplement_rounds": 2,
                                       "second_notice_decision": "approve"}, trips=0)),
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
    Scenario(M07, "second_notice_rejected_then_accepted", start_data("m07", "online", "post"),
             m07_steps(acc="second_notice_reject"),
             Expect(ends={DONE}, data={**APPROVED, "supplement_notices": 1, "supplement_rounds": 1,
                                       "second_notice_decision": "reject"}, trips=0)),
    Scenario(M07, "not_accepted", start_data("m07", "window", "post"), acceptance("refused"),
             Expect(ends={NOT_ACCEPTED}, data={"outcome": "not_accepted"})),
    # --- m08 放射源异地使用备案 (备案 → 回执 → 等待活动结束 → 20 日内注销，否则督促)
    Scenario(M08, "filed_cancelled_on_time", start_data("m08", "online", "online"), m08_steps(mode="online"),
             Expect(ends={"end_cancelled"}, not_ends={"end_reminded", "end_returned"},
                    data={"outcome": "filed", "lead_days": 18, "lead_time_ok": True, "cancelled": True,
                          "activity_end_at": "2018-05-25T23:59:59+08:00"}, trips=0)),
    Scenario(M08, "cancellation_handed_in_at_the_window_is_a_trip", start_data("m08", "online", "online"),
             m08_steps(mode="online", cancellation_channel="window"),
             Expect(ends={"end_cancelled"}, data={"outcome": "filed", "cancelled": True, "extra_visits": 1},
                    trips=1)),
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
