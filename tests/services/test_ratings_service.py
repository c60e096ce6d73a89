"""好差评 (services/ratings.py) and the rectification process (workflows/p01_rectification.bpmn) through the service
layer, on SQLite and PostgreSQL: once per case, a poor rating starts the rectification case with its 15-working-day
clock and the matters' reminders, the case walks 核实 → 整改 → 回访, the outcome reaches the applicant, aggregates."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from world import APPLICANT, ROOT

from services import cases, clock, definitions, ratings, reminders, users
from services.actors import Actor, actor_for
from services.errors import Conflict, Forbidden, InvalidInput
from services.uow import UnitOfWork
from storage import audit
from storage.models import Case, Rating, Reminder, User
from workflows.catalog import load_catalog

BEIJING = ZoneInfo("Asia/Shanghai")
START = datetime(2018, 3, 1, 9, 0, tzinfo=BEIJING)
ONLINE = {"efficiency": 2, "guide_accuracy": 3, "convenience": 2, "platform": 4}
WINDOW = {"service_efficiency": 5, "service_level": 5, "service_attitude": 4}
SYSTEM = Actor.system("test")
PEOPLE = {"window1": ("approval_office", ("window", "handler")), "regs1": ("regulations", ("handler", "lead"))}


@pytest.fixture
def world(uow):
    catalog = load_catalog()
    users.ensure_units(uow, [(u.code, u.name_zh, u.name_en) for u in catalog.units], SYSTEM)
    for name, (unit, roles) in PEOPLE.items():
        users.create_user(uow, username=name, password="secret-123", display_name=name, roles=roles,
                          unit_code=unit, actor=SYSTEM)
    for stem in ("m11_eia_post_assessment_filing", "p01_rectification"):
        path = ROOT / "workflows" / f"{stem}.bpmn"
        definitions.deploy_bundle(uow, definitions.bundle_for(path), path.name, SYSTEM)
    with uow.reader() as r:
        actors = {u.username: actor_for(r.session, u) for u in r.session.execute(select(User)).scalars()}
    return uow, actors


def _closed_case(uow, actors) -> int:
    case_id = cases.register_case(uow, matter_code="m11", applicant=APPLICANT, channel="window",
                                  delivery_mode="post", actor=actors["window1"]).case_id
    cases.withdraw_case(uow, case_id, "申请人撤回", SYSTEM)
    return case_id


def _task(uow, case_id):
    from storage.models import HumanTask

    with uow.reader() as r:
        [task] = r.session.execute(select(HumanTask).where(HumanTask.case_id == case_id,
                                                           HumanTask.state == "ready")).scalars()
        return task


def test_a_case_is_rated_once_and_a_good_rating_starts_nothing(world):
    uow, actors = world
    with clock.frozen(START):
        case_id = _closed_case(uow, actors)
        rated = ratings.rate(uow, case_id, channel="window", level=5, indicators=WINDOW, comment=None,
                             actor=actors["window1"])
        assert not rated.poor and rated.rectification_case_id is None
        with pytest.raises(Conflict):
            ratings.rate(uow, case_id, channel="online", level=1, indicators=ONLINE, comment="太慢",
                         actor=Actor("applicant", roles=frozenset({"applicant"})))
    with uow.reader() as r:
        assert r.session.execute(select(Case).where(Case.matter_code == "p01")).first() is None
        [only] = r.session.execute(select(Rating)).scalars()
        assert only.level == 5 and only.indicators == WINDOW and only.unit_code == "regulations"
        assert audit.verify(r.session).ok


def test_ratings_are_checked_and_only_the_window_rates_at_the_window(world):
    uow, actors = world
    applicant = Actor("applicant", roles=frozenset({"applicant"}))
    with clock.frozen(START):
        open_case = cases.register_case(uow, matter_code="m11", applicant=APPLICANT, channel="window",
                                        delivery_mode="post", actor=actors["window1"]).case_id
        with pytest.raises(Conflict):  # online only once closed
            ratings.rate(uow, open_case, channel="online", level=5, indicators=ONLINE, comment="", actor=applicant)
        with pytest.raises(Forbidden):
            ratings.rate(uow, open_case, channel="window", level=5, indicators=WINDOW, comment="", actor=applicant)
        with pytest.raises(InvalidInput) as bad:  # a poor rating says why; indicators of the channel, 1..5
            ratings.rate(uow, open_case, channel="window", level=1, indicators={**WINDOW, "service_level": 9},
                         comment="", actor=actors["window1"])
        assert {"comment", "service_level"} <= set(bad.value.errors)


def test_a_poor_rating_starts_the_rectification_with_its_clock_reminders_and_outcome(world):
    uow, actors = world
    applicant = Actor("applicant", roles=frozenset({"applicant"}))
    with clock.frozen(START) as now:
        case_id = _closed_case(uow, actors)
        rated = ratings.rate(uow, case_id, channel="online", level=1, indicators=ONLINE,
                             comment="窗口告知不清楚，跑了两次", actor=applicant)
        assert rated.poor and rated.rectification_reference.startswith("2018P01")
        with uow.reader() as r:
            rect = r.session.get(Case, rated.rectification_case_id)
            expected_due = clock.calendar(r.session).add_working_days(START.date(), 15)
            assert rect.matter_code == "p01" and rect.status == "active"
            assert rect.accepted_on == START.date() and rect.due_on == expected_due and rect.clock_running
        task = _task(uow, rect.id)
        assert (task.spec_name, task.lane) == ("verify_rating", "法规处")
        assert task.due_at is not None and task.due_at.astimezone(BEIJING).date() == expected_due
        # overdue: the matters' reminders and escalation watch it like any case
        now.set(datetime.combine(expected_due + timedelta(days=5), START.timetz()))
        reminders.scan_deadlines(uow)
        with uow.reader() as r:
            kinds = {(x.kind, x.unit_code, x.role) for x in r.session.execute(
                select(Reminder).where(Reminder.case_id == rect.id)).scalars()}
        assert ("deadline_overdue", "regulations", None) in kinds and any(k[0] == "escalation_lead" for k in kinds)
        now.set(START + timedelta(days=1))
        cases.complete_task(uow, task.id, {"verification_result": "rectify", "verification_notes": "属实",
                                           "verifier": "regs1", "verified_on": "2018-03-02"}, actors["regs1"])
        task = _task(uow, rect.id)
        assert (task.spec_name, task.lane) == ("rectify", "审批办")
        cases.complete_task(uow, task.id, {"rectification_measures": "窗口一次性告知清单已修订，经办人已培训",
                                           "rectified_by": "window1", "rectified_on": "2018-03-05"},
                            actors["window1"])
        task = _task(uow, rect.id)
        assert task.spec_name == "return_call"
        cases.complete_task(uow, task.id, {"call_date": "2018-03-06", "applicant_view": "satisfied",
                                           "caller": "regs1"}, actors["regs1"])
    with uow.reader() as r:
        rect = r.session.get(Case, rated.rectification_case_id)
        assert rect.status == "completed" and rect.outcome == "rectified" and not rect.clock_running
        row = ratings.existing(r.session, case_id)
        view = ratings.rectification_view(r.session, row)
        assert view.status == "completed" and view.measures == "窗口一次性告知清单已修订，经办人已培训"
        [agg] = ratings.aggregates(r.session, "matter")
        assert (agg.key, agg.count, agg.poor, agg.rectified, agg.average) == ("m11", 1, 1, 1, 1.0)
        assert ratings.open_rectifications(r.session) == []
        assert audit.verify(r.session).ok


def test_two_simultaneous_poor_ratings_make_one_rating_and_one_rectification(world):
    uow, actors = world
    applicant = Actor("applicant", roles=frozenset({"applicant"}))
    with clock.frozen(START):
        case_id = _closed_case(uow, actors)
    results: list[object] = []

    def submit() -> None:
        try:  # each request has its own unit of work, as each web request does
            results.append(ratings.rate(UnitOfWork(uow.session_factory), case_id, channel="online", level=2,
                                        indicators=ONLINE, comment="等太久", actor=applicant))
        except Conflict as err:
            results.append(err)

    # one frozen clock around both threads: clock.frozen sets a process-wide source, and nested entries from two
    # threads would restore each other's
    with clock.frozen(START):
        threads = [threading.Thread(target=submit) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(type(x).__name__ for x in results) == ["Conflict", "Rated"]
    with uow.reader() as r:
        assert len(r.session.execute(select(Rating)).all()) == 1
        assert len(r.session.execute(select(Case).where(Case.matter_code == "p01")).all()) == 1


def test_the_deploy_gate_checks_the_data_flow_of_a_departments_process(uow):
    """A rectification diagram whose gateway reads a variable nothing writes is refused like a matter's."""
    from services.deploy_gate import DeployRefused

    path = ROOT / "workflows" / "p01_rectification.bpmn"
    files = definitions.bundle_for(path)
    assert b'verification_result == "rectify"' in files[path.name]
    files[path.name] = files[path.name].replace(b'verification_result == "rectify"', b'verification == "rectify"')
    with pytest.raises(DeployRefused) as refused:
        definitions.deploy_bundle(uow, files, path.name, SYSTEM)
    assert refused.value.overridable and {p.element_id for p in refused.value.problems} >= {
        "Flow_gw_verified_to_rectify"}
    definitions.deploy_bundle(uow, definitions.bundle_for(path), path.name, SYSTEM)  # the shipped one passes
