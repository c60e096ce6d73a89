"""Every scenario of the matter table (tests/workflows/driver.py) through the service layer, on both backends.

The Spiff-level run (tests/workflows/test_workflows_paths.py) proves the diagrams; this one proves that
registering, completing tasks as the users of each lane and firing timers through ``services.cases`` gives
the same cases, with the derived rows, trips, outcome and audit trail the rest of the system reads.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from driver import M08, SCENARIOS, START_TIME, Expect, Scenario, m08_steps, start_data
from service_driver import (
    ROOT,
    WINDOW,
    _ready_rows,
    _split_start,
    check_expectations,
    check_service_facts,
    read_back,
    run_scenario,
)
from sqlalchemy import select

from engine.clock import frozen_time
from services import cases
from services.errors import Conflict, Forbidden, InvalidInput
from storage import audit
from storage.models import AuditEvent, Case


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario_through_services(installed, scenario):
    run = run_scenario(installed.uow, scenario, installed.people)
    got = read_back(installed.uow, run)
    check_expectations(run, got)
    check_service_facts(run, got)


def _case(uow, case_id):
    with uow.reader() as r:
        case = r.session.get(Case, case_id)
        r.session.expunge(case)
        return case


def test_fire_due_timers_runs_the_engine_at_the_given_now(installed):
    """``fire_due_timers(uow, now)`` must evaluate timers at ``now``, not at the wall clock.

    m08: the activity ends 2018-05-25; when that timer fires at 2018-05-26 08:00 (Beijing) the 20-day
    cancellation reminder (boundary timer "P20D") starts, so it is due 2018-06-15 08:00 Beijing = 00:00 UTC.
    Nothing pins the engine's clock here except the ``now`` handed to the command (catch-up after downtime,
    the CLI, tests).
    """
    uow = installed.uow
    start = datetime.fromisoformat(START_TIME)
    steps = m08_steps(mode="online")[:4]  # receive, check, receipt, online delivery: then waiting for the end
    sc = Scenario(M08, "timer_now", start_data("m08", "online", "online"), steps, Expect(completed=False))
    run = run_scenario(uow, sc, installed.people)
    case = _case(uow, run.case_id)
    assert case.next_timer_due == datetime(2018, 5, 25, 15, 59, 59, tzinfo=UTC)
    assert cases.fire_due_timers(uow, start) == 0, "not due yet at the time the case was filed"

    fire_at = datetime.fromisoformat("2018-05-26T08:00:00+08:00")
    assert cases.fire_due_timers(uow, fire_at) == 1
    case = _case(uow, run.case_id)
    assert case.next_timer_due == datetime(2018, 6, 15, 0, 0, tzinfo=UTC), (
        f"the P20D reminder must count from the `now` the timers were fired at, got {case.next_timer_due}"
    )


def test_a_task_is_completed_only_by_a_user_of_its_lane(installed):
    uow, people = installed.uow, installed.people
    sc = SCENARIOS[0]
    kwargs, extra = _split_start(sc.start)
    with frozen_time(datetime.fromisoformat(START_TIME)):
        reg = cases.register_case(uow, actor=WINDOW, data=extra, **kwargs)
        with uow.reader() as r:
            [row] = _ready_rows(r.session, reg.case_id)
            task_id, lane = row.id, row.lane
        assert lane == "审批办"
        with pytest.raises(Forbidden):
            cases.complete_task(uow, task_id, sc.steps[0][1], people["环评处"])
        with pytest.raises(InvalidInput):
            cases.complete_task(uow, task_id, {"received_date": "2018-05-02", "intake_result": "maybe"},
                                people[lane])
        result = cases.complete_task(uow, task_id, sc.steps[0][1], people[lane])
        assert result.status == "active" and len(result.new_tasks) == 1
        with pytest.raises(Conflict):
            cases.complete_task(uow, task_id, sc.steps[0][1], people[lane])
    with uow.reader() as r:
        actions = [e.action for e in r.session.execute(
            select(AuditEvent).where(AuditEvent.case_id == reg.case_id).order_by(AuditEvent.seq)).scalars()]
        # (the 收件回执's PDF, made after the registration, is the document.issued event)
        assert actions == ["case.registered", "document.issued", "task.completed"], "refused commands leave no trace"
        assert audit.verify(r.session).ok


def test_every_lane_of_the_diagrams_is_staffed_by_the_demo_users(installation):
    lanes = set()
    for path in sorted((ROOT / "workflows").rglob("*.bpmn")):
        lanes |= set(re.findall(r'<bpmn:lane id="[^"]+" name="([^"]+)"', path.read_text(encoding="utf-8")))
    assert lanes and lanes <= set(installation.people), sorted(lanes - set(installation.people))
