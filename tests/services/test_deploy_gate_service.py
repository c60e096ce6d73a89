"""The deploy gate through the service layer (services.definitions.deploy_bundle), on SQLite and PostgreSQL.

The hostile finding: a designer deleted the 审批决定 step of m07 in the modeler; check and deploy accepted it and
the next case broke with a raw NameError. Now the version is refused with the elements named, nothing is
deployed, and the next case runs on the deployed version as before.
"""

from __future__ import annotations

import uuid

import pytest
from driver import M07, M11, SCENARIOS
from modeler_edits import add_condition_flow, delete_step
from service_driver import ROOT, check_expectations, read_back, run_scenario
from sqlalchemy import func, select

from services import definitions
from services.actors import Actor
from services.deploy_gate import KIND_DATA_FLOW, KIND_SCENARIO, DeployRefused
from storage import audit
from storage.models import AuditEvent, ProcessDefinition

pytestmark = pytest.mark.timeout(300)

DESIGNER = Actor("designer1", roles=frozenset({"designer"}))


def _bundle(process_id: str, edit) -> tuple[dict[str, bytes], str]:
    diagram = ROOT / "workflows" / f"{process_id}.bpmn"
    files = definitions.bundle_for(diagram)
    files[diagram.name] = edit(files[diagram.name])
    return files, diagram.name


def _stored(uow) -> list[tuple[str, int, str]]:
    with uow.reader() as r:
        return list(r.session.execute(select(ProcessDefinition.process_id, ProcessDefinition.version,
                                             ProcessDefinition.content_hash).order_by(ProcessDefinition.id)).all())


def _deploy_events(uow) -> int:
    with uow.reader() as r:
        return r.session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "definition.deployed")
        ).scalar_one()


def test_deleting_the_decision_step_is_refused_and_the_deployed_version_stays(installed):
    uow = installed.uow
    before, events = _stored(uow), _deploy_events(uow)
    files, main = _bundle(M07, lambda xml: delete_step(xml, "decide"))
    with pytest.raises(DeployRefused) as refused:
        definitions.deploy_bundle(uow, files, main, DESIGNER)
    problems = refused.value.problems
    flow = {(p.element_id, p.filename) for p in problems if p.kind == KIND_DATA_FLOW}
    assert flow == {("Flow_gw_decision_to_issue_approval", main), ("Flow_gw_decision_to_issue_refusal", main),
                    ("record_outcome", main)}
    scenario = {(p.element_id, p.scenario) for p in problems if p.kind == KIND_SCENARIO}
    assert scenario == {("gw_decision", f"{M07}:confirm_online_post"), ("gw_decision", f"{M07}:refuse_window_window"),
                        ("gw_decision", f"{M07}:second_notice_rejected_then_accepted")}
    assert all("decision" in p.message_zh and "NameError" not in p.message_en for p in problems)
    assert not refused.value.overridable
    # the scenarios are never overridable, whatever the reason
    with pytest.raises(DeployRefused):
        definitions.deploy_bundle(uow, files, main, DESIGNER, override_reason="厅领导口头同意")
    with pytest.raises(DeployRefused):
        definitions.check_bundle(files, main)
    assert _stored(uow) == before and _deploy_events(uow) == events

    # the next case of m07 runs on the deployed version, through 审批决定, to the end
    sc = next(s for s in SCENARIOS if s.id == f"{M07}:confirm_online_post")
    run = run_scenario(uow, sc, installed.people)
    assert "decide" in [step.spec_name for step in run.steps]
    check_expectations(run, read_back(uow, run))


def test_data_flow_findings_alone_deploy_only_with_an_audited_reason(installed):
    uow = installed.uow
    # a new branch whose condition reads a variable nothing writes; the scenarios still run green
    files, main = _bundle(M11, lambda xml: add_condition_flow(
        xml, "Flow_urgent", "gw_check", "issue_return", 'check_result == "later" and urgent_flag == True'))
    with pytest.raises(DeployRefused) as refused:
        definitions.deploy_bundle(uow, files, main, DESIGNER)
    [problem] = refused.value.problems
    assert (problem.kind, problem.element_id, problem.filename) == (KIND_DATA_FLOW, "Flow_urgent", main)
    assert "urgent_flag" in problem.message_zh and refused.value.overridable
    with pytest.raises(DeployRefused):
        definitions.deploy_bundle(uow, files, main, DESIGNER, override_reason="   ")  # a reason, not blanks

    deployed = definitions.deploy_bundle(uow, files, main, DESIGNER, override_reason="紧急件标记由下一版表单提供")
    assert deployed.created and deployed.version == 2
    with uow.reader() as r:
        event = r.session.execute(select(AuditEvent).where(AuditEvent.action == "definition.deployed")
                                  .order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
        assert audit.verify(r.session).ok
    assert event.actor == "designer1"
    override = event.payload["check_override"]
    assert override["reason"] == "紧急件标记由下一版表单提供"
    assert [(p["element_id"], p["file"]) for p in override["problems"]] == [("Flow_urgent", main)]


def test_every_shipped_diagram_passes_the_gate(installed):
    # seeded by definitions.deploy_directory, the path of `python app.py deploy`: all eleven are deployed
    with installed.uow.reader() as r:
        deployed = set(r.session.execute(select(ProcessDefinition.process_id)).scalars())
    assert {s.matter for s in SCENARIOS} <= deployed


def test_the_gate_assumes_exactly_the_start_data_that_registration_gives(installed):
    from datetime import datetime

    from service_driver import WINDOW, _split_start

    from engine import runtime
    from engine.clock import frozen_time
    from services import cases, deploy_gate
    from services.definitions import compiled
    from storage.models import Case
    from workflows.catalog import load_catalog

    for matter in ("m01", "m07"):
        sc = next(s for s in SCENARIOS if s.start["matter_code"] == matter)
        kwargs, extra = _split_start(sc.start)
        with frozen_time(datetime.fromisoformat("2018-05-02T09:00:00+08:00")):
            reg = cases.register_case(installed.uow, actor=WINDOW, data=extra, **kwargs)
        with installed.uow.reader() as r:
            case = r.session.get(Case, reg.case_id)
            start = runtime.loads(case.state, compiled(case.definition)).task_tree.data
        assert set(start) == deploy_gate.start_variables(load_catalog().matter(matter)), matter


def test_the_scenarios_run_in_an_engine_worker_not_in_this_process(installed, monkeypatch):
    """The new version's scripts are diagram code: its scenarios run as a job of the engine pool. A worker that
    overruns the gate's deadline is stopped there, and the version is refused with the reason."""
    from engine.pool import shared_pool
    from services import deploy_gate

    def touched(xml: bytes) -> bytes:  # a new version (the gate keeps its results by content hash)
        return xml.replace(b"</bpmn:definitions>", f"<!-- {uuid.uuid4()} --></bpmn:definitions>".encode())

    files, main = _bundle(M07, touched)
    jobs = shared_pool().stats["jobs"]
    definitions.deploy_bundle(installed.uow, files, main, DESIGNER)
    assert shared_pool().stats["jobs"] == jobs + 1, (jobs, shared_pool().stats)

    files, main = _bundle(M07, touched)
    monkeypatch.setattr(deploy_gate, "SCENARIO_GRACE", -deploy_gate.SCENARIO_TIME_LIMIT)  # a deadline of 0 s
    with pytest.raises(DeployRefused) as refused:
        definitions.deploy_bundle(installed.uow, files, main, DESIGNER)
    [problem] = refused.value.problems
    assert problem.kind == KIND_SCENARIO and not problem.overridable
    assert "被终止" in problem.message_zh
