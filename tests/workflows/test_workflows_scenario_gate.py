"""`workflows.scenarios.run_scenarios(bundle, matter)`, the deploy gate's scenario run: green on every shipped
diagram, and a failure at the element when a designer's edit breaks a path the scenarios drive."""

from __future__ import annotations

import pytest
from modeler_edits import delete_step, rename_id

from workflows import scenarios
from workflows.catalog import load_catalog

pytestmark = pytest.mark.timeout(120)

M07 = "m07_radiation_project_confirmation"
M07_FILE = f"{M07}.bpmn"


def _m07(edit=None) -> dict[str, bytes]:
    bundle = scenarios.shipped_bundle(M07)
    if edit is not None:
        bundle[M07_FILE] = edit(bundle[M07_FILE])
    return bundle


@pytest.mark.parametrize("matter", [m.code for m in load_catalog().matters])
def test_every_shipped_matter_runs_green(matter):
    process_id = load_catalog().matter(matter).process_id
    assert scenarios.scenarios_for(process_id), f"{matter} has no scenarios"
    assert scenarios.run_scenarios(scenarios.shipped_bundle(process_id), matter) == []


def test_deleting_the_decision_fails_at_the_gateway_that_reads_it():
    failures = scenarios.run_scenarios(_m07(lambda xml: delete_step(xml, "decide")), "m07")
    assert failures, "the scenarios must notice that 审批决定 is gone"
    stopped = {f.element_id for f in failures}
    assert stopped == {"gw_decision"}
    assert all("decision" in f.message_zh and "NameError" not in f.message for f in failures)
    assert {f.scenario for f in failures} == {f"{M07}:confirm_online_post", f"{M07}:refuse_window_window",
                                              f"{M07}:second_notice_rejected_then_accepted"}


def test_a_removed_step_that_a_scenario_needs_is_a_failure_where_the_case_stands():
    # Nothing reads the approval document's fields, so only the scenarios notice that the step is gone.
    failures = scenarios.run_scenarios(_m07(lambda xml: delete_step(xml, "issue_approval")), "m07")
    assert {f.scenario for f in failures} == {f"{M07}:confirm_online_post",
                                              f"{M07}:second_notice_rejected_then_accepted"}
    failure = next(f for f in failures if f.scenario == f"{M07}:confirm_online_post")
    assert failure.step == "issue_approval"
    assert "出具确认文件" in failure.message_zh and "已不存在" in failure.message_zh
    # marked where the case stood instead: in the delivery call activity (邮寄送达 is in the shared file)
    assert failure.element_id == "call_delivery" and "deliver_post" in failure.message_en


def test_a_step_whose_id_changed_is_found_by_its_name():
    assert scenarios.run_scenarios(_m07(lambda xml: rename_id(xml, "decide", "leader_decision")), "m07") == []


def test_a_form_that_refuses_the_scenario_data_is_a_failure_at_the_step():
    def other_form(xml: bytes) -> bytes:
        return xml.replace(b'value="decision.json"', b'value="review_opinion.json"', 1)

    failures = scenarios.run_scenarios(_m07(other_form), "m07")
    assert failures and all(f.element_id == "decide" and "review_opinion.json" in f.message_zh for f in failures)


def test_the_scenario_run_has_a_wall_clock_bound():
    [failure] = scenarios.run_scenarios(_m07(), "m07", time_limit=0)
    assert "超时" in failure.message_zh


def test_a_bundle_that_does_not_compile_is_one_failure():
    [failure] = scenarios.run_scenarios({M07_FILE: b"<nope/>"}, "m07")
    assert failure.message_zh
