"""A matter on its diagram (m07, the shipped bundle) with four hand-made cases: the heatmap's counts, dwell times
in working days across the 2018 holidays and flow counts; the XES export read back by pm4py; the conformance
report finding the case that skipped the review. SQLite and PostgreSQL.

    case  tasks (element)                                                       status
    P     check_materials, issue_acceptance, review, decide, issue_approval, deliver_post   completed
    Q     the same                                                                         completed
    R     check_materials, issue_acceptance, decide, issue_approval, deliver_post  (no review: off the model)
    S     check_materials, issue_acceptance done; review waiting                          active
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from services import process_mining
from services.clock import BEIJING
from storage.models import Case, HumanTask, ProcessDefinition
from workflows.scenarios import shipped_bundle

PROCESS = "m07_radiation_project_confirmation"
NOW = datetime(2018, 12, 31, 12, tzinfo=BEIJING)


def at(day: str, hour: int = 10) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(hour), tzinfo=BEIJING)


PATH = ["check_materials", "issue_acceptance", "review", "decide", "issue_approval", "deliver_post"]
CASES = {
    # key: (status, due, [(spec, created, completed or None)])
    "P": ("completed", "2018-05-31", [("review", "2018-04-04", "2018-04-09")]),
    "Q": ("completed", "2018-06-19", [("review", "2018-06-11", "2018-06-20")]),
    "R": ("completed", "2018-06-30", []),
    "S": ("active", "2018-06-01", [("review", "2018-05-10", None)]),
}


@pytest.fixture
def mined(uow):
    files = {name: data.decode("utf-8") for name, data in shipped_bundle(PROCESS).items()}
    with uow:
        s = uow.session
        definition = ProcessDefinition(process_id=PROCESS, version=1, content_hash="t" * 64,
                                       main_file=f"{PROCESS}.bpmn", files=files, deployed_by="test")
        s.add(definition)
        s.flush()
        model = process_mining.model_of(definition)
        forms = {key.split("|")[0]: key.split("|")[1] or None for key in model.task_element}
        for n, (key, (status, due, special)) in enumerate(CASES.items(), start=1):
            case = Case(reference=f"2018M07{n:06d}", lookup_code="X", matter_code="m07",
                        definition_id=definition.id, status=status, applicant_name=key, channel="online",
                        delivery_mode="post", state="", serializer_version="t", due_on=date.fromisoformat(due),
                        created_by="t", created_at=at("2018-04-02"), updated_at=at("2018-04-02"))
            s.add(case)
            s.flush()
            steps = {"R": [p for p in PATH if p != "review"], "S": PATH[:3]}.get(key, PATH)
            special_times = {spec: (created, done) for spec, created, done in special}
            moment = at("2018-04-02")
            for m, spec in enumerate(steps):
                created, done = special_times.get(spec, (None, None))
                start = at(created) if created else moment
                end = at(done, 15) if done else (None if spec in special_times else start + timedelta(hours=1))
                s.add(HumanTask(id=f"{key}-{m}", case_id=case.id, matter_code="m07", spec_name=spec, title=spec,
                                lane="审批办", form=forms.get(spec), state="completed" if end else "ready",
                                created_at=start, completed_at=end))
                moment = (end or start) + timedelta(hours=1)
        uow.commit()
        definition_id = definition.id
    return uow, definition_id


def _definition(session, definition_id):
    return session.get(ProcessDefinition, definition_id)


def test_heatmap_counts_dwell_and_flows(mined):
    uow, definition_id = mined
    with uow.reader() as r:
        definition = _definition(r.session, definition_id)
        data = process_mining.heatmap(r.session, "m07", definition, now=NOW)
        model = process_mining.model_of(definition)
    review = data["elements"]["review"]
    # P: (4 Apr, 9 Apr] = Sunday 8 Apr (worked) and 9 Apr → 2; Q: (11 Jun, 20 Jun] without 端午 18 Jun → 6
    assert (review["passed"], review["waiting"], review["median"], review["p90"]) == (2, 1, 2, 6)
    assert review["overdue_share"] == round(2 / 3, 4)  # Q finished after its due date, S waits past it
    acceptance = data["elements"]["call_acceptance"]  # the shared acceptance's tasks count at the call activity
    assert (acceptance["passed"], acceptance["waiting"]) == (8, 0)
    assert data["elements"]["call_delivery"]["passed"] == 3 and data["cases"] == 4
    into_review = [f for f, (_, target) in model.flows.items() if target == "review"]
    assert [data["flows"].get(f) for f in into_review] == [3]  # P, Q and S went on to the review
    into_decide = [f for f, (source, _) in model.flows.items() if source == "review"]
    assert sum(data["flows"].get(f, 0) for f in into_decide) == 2  # R's skip is no flow of the diagram


def test_xes_read_back_by_pm4py(mined, tmp_path):
    import pm4py

    uow, _ = mined
    path = tmp_path / "m07.xes"
    with uow.reader() as r, path.open("w", encoding="utf-8") as out:
        for line in process_mining.xes_lines(r.session, "m07"):
            out.write(line)
    frame = pm4py.read_xes(str(path))
    # a start and a complete event per finished task, a start for the waiting one: 12 + 12 + 10 + 5
    assert frame["case:concept:name"].nunique() == 4 and len(frame) == 39
    assert set(frame["lifecycle:transition"]) == {"start", "complete"}
    first = frame[frame["case:concept:name"] == "2018M07000001"].sort_values("time:timestamp")
    assert list(first["concept:name"])[:2] == ["check_materials", "check_materials"]


def test_conformance_finds_the_case_off_the_model(mined):
    uow, definition_id = mined
    with uow.reader() as r:
        report = process_mining.conformance(r.session, "m07", _definition(r.session, definition_id))
    assert (report.cases, report.fitting, report.fit_share) == (3, 2, round(2 / 3, 4))
    assert [reference for reference, _ in report.unfit_cases] == ["2018M07000003"]
    assert "decide" in {element for element, _, _ in report.problems}


def test_replay_of_m08_with_its_non_interrupting_reminder():
    """m08's reminder (a non-interrupting boundary timer on 接收注销申请) runs beside the task: reminded and then
    cancelled fits, as do the plain paths; cancelling before the cancellation was received does not."""
    process = "m08_radioactive_source_offsite_filing"
    files = {name: data.decode("utf-8") for name, data in shipped_bundle(process).items()}
    model = process_mining.model_of(ProcessDefinition(process_id=process, version=1, content_hash="m08" * 21 + "x",
                                                      main_file=f"{process}.bpmn", files=files))
    head = ["receive_filing", "check_filing", "issue_receipt", "call_delivery"]
    results = process_mining.replay(model, {
        "on_time": [*head, "receive_cancellation", "cancel_filing"],
        "reminded_then_cancelled": [*head, "remind_cancellation", "receive_cancellation", "cancel_filing"],
        "returned": ["receive_filing", "check_filing", "issue_return", "call_delivery"],
        "off_model": [*head, "cancel_filing", "receive_cancellation"],
    })
    assert [r["trace_is_fit"] for r in results] == [True, True, True, False]
