"""Every path of every matter, driven with plain SpiffWorkflow (see driver.py for the scenario table)."""

from __future__ import annotations

import copy

import pytest
from driver import (
    ACCEPTANCE_NOTICE,
    CANCELLATION,
    CLOCK,
    SCENARIOS,
    FakeClock,
    acceptance,
    check_expectations,
    complete_task,
    fake_clock,
    m08_steps,
    materials_check,
    notice,
    offsite_intake,
    ready_user_tasks,
    run_scenario,
    script_engine,
    start_data,
    validate_form,
)
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from xmlmodel import load

from workflows.catalog import load_catalog

RUNS = {}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario):
    run = run_scenario(scenario)
    RUNS[scenario.id] = run
    check_expectations(scenario, run)


def _traversed_flows(run) -> set[tuple[str, str]]:
    """(source, target) node pairs that the case went through, in the matter and in its called processes."""
    pairs = set()
    for task in run.workflow.get_tasks(state=TaskState.COMPLETED | TaskState.READY | TaskState.WAITING):
        parent = task.parent
        while parent is not None and ("." in parent.task_spec.name or parent.task_spec.name in {"Start", "Root"}):
            parent = parent.parent  # skip Spiff's own helper specs (e.g. <task>.BoundaryEventSplit)
        if parent is not None:
            pairs.add((task.workflow.spec.name, parent.task_spec.name, task.task_spec.name))
    return pairs


def test_scenarios_traverse_every_sequence_flow():
    """The table is complete: every sequence flow of every diagram is taken by at least one scenario."""
    runs = [RUNS.get(s.id) or run_scenario(s) for s in SCENARIOS]
    taken = set().union(*(_traversed_flows(r) for r in runs))
    cat = load_catalog()
    paths = [cat.diagram_path(m) for m in cat.matters]
    paths += [cat.path.parent / "shared" / f"{name}.bpmn" for name in ("window_acceptance", "result_delivery")]
    missing = []
    for path in paths:
        m = load(path)
        for fid, f in m.flows.items():
            if (m.process_id, f.get("sourceRef"), f.get("targetRef")) not in taken:
                missing.append(f"{m.process_id}:{fid}")
    assert not missing, f"flows no scenario takes: {missing}"


def test_every_submitted_form_is_validated():
    """The driver refuses form data that the task's schema rejects (so the scenarios cannot cheat)."""
    with fake_clock(FakeClock()):
        from driver import start_workflow

        wf = start_workflow("m03_hazardous_waste_storage", start_data("m03"))
        with pytest.raises(AssertionError, match="intake_result"):
            complete_task(wf, "check_materials", {"received_date": "2018-05-02", "intake_result": "maybe"})
        with pytest.raises(AssertionError, match="received_date"):
            complete_task(wf, "check_materials", {"received_date": "2 May 2018", "intake_result": "complete"})
        with pytest.raises(AssertionError, match="expected one READY task 'issue_acceptance'"):
            complete_task(wf, "issue_acceptance", ACCEPTANCE_NOTICE)
    with pytest.raises(AssertionError, match="tracking_no"):
        validate_form("delivery_post.json", {"tracking_no": "x", "carrier": "EMS", "posted_date": "2018-07-02"})


def test_gateway_without_a_matching_value_stops_loudly():
    """Enumerated choices are covered by conditions, not by a catch-all default: a bad value is an error."""
    with fake_clock(FakeClock()):
        from driver import start_workflow

        wf = start_workflow("m07_radiation_project_confirmation", start_data("m07"))
        task = next(t for t in ready_user_tasks(wf) if t.task_spec.name == "check_materials")
        task.data.update(received_date="2018-05-02", intake_result="bogus")
        task.run()
        with pytest.raises(Exception, match="(?i)no conditions|default"):
            wf.do_engine_steps()


def test_acceptance_notice_period_holds_the_case_until_its_end():
    clock = FakeClock("2018-05-02T09:00:00+08:00")
    with fake_clock(clock):
        from driver import start_workflow

        wf = start_workflow("m01_eia_approval", start_data("m01", report_type="report"))
        for name, data in acceptance("direct"):
            complete_task(wf, name, data)
        complete_task(wf, "publish_acceptance_public_notice", notice("2018-05-03", "2018-05-16"))
        assert not ready_user_tasks(wf)
        [event] = wf.waiting_events()
        assert event.value == "2018-05-16T23:59:59+08:00"
        clock.set("2018-05-16T23:00:00+08:00")
        wf.refresh_timers()
        wf.do_engine_steps()
        assert not ready_user_tasks(wf), "the notice is still running"
        clock.set("2018-05-17T00:00:00+08:00")
        wf.refresh_timers()
        wf.do_engine_steps()
        assert [(t.task_spec.name, t.task_spec.lane) for t in ready_user_tasks(wf)] == [("expert_review", "环评处")]


def _m08_until_activity_end(clock):
    from driver import start_workflow

    wf = start_workflow("m08_radioactive_source_offsite_filing", start_data("m08", "online", "online"))
    for name, data in m08_steps(mode="online")[:4]:
        complete_task(wf, name, data)
    assert not ready_user_tasks(wf)
    clock.set("2018-05-25T23:00:00+08:00")  # the activity is not over yet
    wf.refresh_timers()
    wf.do_engine_steps()
    assert not ready_user_tasks(wf)
    clock.set("2018-05-26T08:00:00+08:00")
    wf.refresh_timers()
    wf.do_engine_steps()
    assert {t.task_spec.name for t in ready_user_tasks(wf)} == {"receive_cancellation"}
    return wf


def test_m08_reminder_is_due_only_after_20_days():
    clock = FakeClock()
    with fake_clock(clock):
        wf = _m08_until_activity_end(clock)
        clock.set("2018-06-15T07:59:00+08:00")  # 19 days 23 h 59 min later
        wf.refresh_timers()
        wf.do_engine_steps()
        assert {t.task_spec.name for t in ready_user_tasks(wf)} == {"receive_cancellation"}
        clock.set("2018-06-15T08:00:01+08:00")
        wf.refresh_timers()
        wf.do_engine_steps()
        ready = {(t.task_spec.name, t.task_spec.lane) for t in ready_user_tasks(wf)}
        assert ready == {("receive_cancellation", "审批办"), ("remind_cancellation", "核安全局")}


def test_m08_cancellation_on_time_cancels_the_reminder():
    clock = FakeClock()
    with fake_clock(clock):
        wf = _m08_until_activity_end(clock)
        complete_task(wf, "receive_cancellation", CANCELLATION)
        assert not [e for e in wf.waiting_events()], "the 20-day reminder timer is gone"
        clock.set("2018-07-30T00:00:00+08:00")
        wf.refresh_timers()
        wf.do_engine_steps()
        assert {t.task_spec.name for t in ready_user_tasks(wf)} == {"cancel_filing"}


def test_m08_lead_time_is_computed_in_days():
    with fake_clock(FakeClock()):
        from driver import start_workflow

        for received, start, days in [("2018-02-19", "2018-03-01", 10), ("2018-12-25", "2019-01-03", 9),
                                      ("2020-02-20", "2020-03-01", 10)]:
            wf = start_workflow("m08_radioactive_source_offsite_filing", start_data("m08"))
            complete_task(wf, "receive_filing", offsite_intake(received, start, start))
            data = ready_user_tasks(wf)[0].data
            assert (data["lead_days"], data["lead_time_ok"]) == (days, days >= 10)
            assert not {"y", "m", "d", "era", "day_numbers"} & set(data), "script helpers leak into case data"


def test_a_waiting_case_survives_serialization():
    clock = FakeClock()
    ser = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    with fake_clock(clock):
        wf = _m08_until_activity_end(clock)
        wf = ser.deserialize_json(ser.serialize_json(wf))
        wf.script_engine = script_engine()  # deserialize_json installs the unrestricted default engine
        clock.set("2018-06-16T00:00:00+08:00")
        wf.refresh_timers()
        wf.do_engine_steps()
        assert {t.task_spec.name for t in ready_user_tasks(wf)} == {"receive_cancellation", "remind_cancellation"}


def test_scenario_steps_are_not_shared_between_runs():
    before = copy.deepcopy(SCENARIOS[0].steps)
    run_scenario(SCENARIOS[0])
    assert SCENARIOS[0].steps == before
    assert SCENARIOS[0].steps[0] == ("check_materials", materials_check("complete"))
    assert CLOCK in [name for name, _ in SCENARIOS[0].steps]
