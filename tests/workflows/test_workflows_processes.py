"""The department's own diagrams (workflows/processes.toml) on the engine: a table of paths, each form answer checked
against its JSON Schema, together reaching every element and every sequence flow of each diagram, each path ending
with the outcome its script records."""

from __future__ import annotations

import pytest
from driver import WORKFLOWS, validate_form
from xmlmodel import load

from engine import runtime
from engine.definitions import compile_process
from services.definitions import bundle_for
from workflows.processes import shipped_processes

D = "2018-03-05"
VERIFY = {"verification_notes": "核实", "verifier": "甲", "verified_on": D}
RECTIFY = {"rectification_measures": "整改", "rectified_by": "乙", "rectified_on": D}
EXPLAIN = {"explanation": "说明", "explained_by": "乙", "explained_on": D}
CALL = {"call_date": D, "applicant_view": "satisfied", "caller": "甲"}
REGISTER = {"registration_summary": "摘要", "registrar": "甲", "registered_on": D}
INVESTIGATE = {"investigation_findings": "查明", "investigation_opinion": "处理", "investigator": "丙",
               "investigated_on": D}
REPLY = {"reply_text": "答复", "replied_by": "甲", "replied_on": D}
RECORD = {"inspection_date": D, "inspection_record": "记录", "recorded_by": "甲"}
REVIEW = {"reviewed_by": "乙", "reviewed_on": D}
APPROVE = {"public_summary": "摘要", "approved_by": "丙", "approved_on": D}
UNITS = ("approval_office", "eia", "soil", "nuclear_safety", "ecology", "radiation_station", "solid_waste_centre",
         "inspection_corps")

# process code -> [(start data, [(task id, answers)], expected outcome)]
PATHS = {
    "p01": [
        ({}, [("verify_rating", {**VERIFY, "verification_result": "rectify"}), ("rectify", RECTIFY),
              ("return_call", CALL)], "rectified"),
        ({}, [("verify_rating", {**VERIFY, "verification_result": "explain"}), ("explain", EXPLAIN),
              ("return_call", {**CALL, "applicant_view": "not_reached"})], "explained"),
    ],
    "p02": [
        *[({}, [("register_complaint", {**REGISTER, "registration_result": "accept"}),
                ("assign_complaint", {"assigned_unit": unit, "assigned_by": "甲", "assigned_on": D}),
                (f"investigate_{unit}", INVESTIGATE),
                ("reply_complaint", {**REPLY, "reply_result": "substantiated"})], "substantiated") for unit in UNITS],
        ({}, [("register_complaint", {**REGISTER, "registration_result": "not_accept", "not_accept_reason": "非本厅"}),
              ("reply_complaint", {**REPLY, "reply_result": "not_accepted"})], "not_accepted"),
    ],
    "p03": [
        ({}, [("record_inspection", {**RECORD, "inspection_result": "compliant"}),
              ("review_inspection", {**REVIEW, "review_decision": "return", "review_notes": "记录不全"}),
              ("record_inspection", {**RECORD, "inspection_result": "violation"}),
              ("review_inspection", {**REVIEW, "review_decision": "confirm"}),
              ("approve_result", APPROVE)], "violation"),
    ],
}
PROCESSES = shipped_processes().processes


def _run(compiled, start: dict, steps: list[tuple[str, dict]]) -> tuple[dict, set[str]]:
    wf = runtime.new_workflow(compiled, {"matter_code": "p", "started_on": D, **start})
    runtime.advance(wf)
    for name, answers in steps:
        ready = {t.spec_name: t for t in runtime.ready_human_tasks(wf)}
        assert name in ready, f"{name} is not ready; ready: {sorted(ready)}"
        if ready[name].form:
            validate_form(ready[name].form, answers)
        runtime.complete_task(wf, ready[name].id, answers)
        runtime.advance(wf)
    assert runtime.is_completed(wf), f"not completed; ready: {[t.spec_name for t in runtime.ready_human_tasks(wf)]}"
    return runtime.workflow_data(wf), set(runtime.element_states(wf, main_only=True)["completed"])


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.code)
def test_the_paths_reach_every_element_and_flow(process):
    path = WORKFLOWS / process.diagram
    compiled = compile_process(bundle_for(path), process.process_id)
    model = load(path)
    reached: set[str] = set()
    for start, steps, outcome in PATHS[process.code]:
        data, done = _run(compiled, start, steps)
        assert data["outcome"] == outcome
        reached |= done
    assert set(model.nodes) - reached == set(), "elements no path reaches"
    # a flow is taken when both its ends ran and no other flow joins them (gateways: by their conditions)
    for flow_id, flow in model.flows.items():
        assert {flow.get("sourceRef"), flow.get("targetRef")} <= reached, f"{flow_id} is never taken"
