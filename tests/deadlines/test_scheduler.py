"""The scheduler: the lease keeps one active among many; a restarted one catches up; two real processes on
one PostgreSQL database over a simulated minute (60× real time) fire every timer once and raise every
reminder once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from deadline_support import ROOT, SYSTEM, at, deploy
from sqlalchemy import func, select

from services import cases, clock, lease
from services.scheduler import LEASE_NAME, Job, Scheduler, default_jobs
from services.uow import UnitOfWork
from storage.models import AuditEvent, Case, HumanTask, Reminder

M10 = "m10_imported_solid_waste_report"
TIMER_STEPS = [("timer", "wait", "timer_duration"), ("user", "after_timer", None)]
APRIL = {"m01": "eia", "m02": "soil", "m03": "soil", "m04": "nuclear_safety", "m05": "ecology", "m06": "ecology"}


class LeaseClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_second_scheduler_stands_by_while_the_first_holds_the_lease(uow, session_factory):
    runs: list[str] = []
    lease_now = LeaseClock()

    def make(name: str) -> Scheduler:
        job = Job("count", 1.0, lambda _uow, _now: runs.append(name))
        return Scheduler(session_factory, jobs=[job], holder=name, lease_ttl=timedelta(seconds=15),
                         lease_clock=lease_now)

    first, second = make("first"), make("second")
    for _ in range(3):
        first.run_all_once()
        second.run_all_once()
        lease_now.now += timedelta(seconds=5)  # the first renews on every tick
    assert runs == ["first"] * 3
    assert lease.current_holder(UnitOfWork(session_factory), LEASE_NAME, lease_now.now) == "first"

    lease_now.now += timedelta(seconds=16)  # the first went silent (crashed): its lease expires
    second.run_all_once()
    first.run_all_once()
    assert runs == ["first"] * 3 + ["second"]
    assert second.stats["standby"] == 3 and first.stats["standby"] == 1

    second.shutdown()  # a clean stop releases the lease: the other takes over at once
    first.run_all_once()
    assert runs[-1] == "first"


def register_timer_cases(uow, start: datetime, durations: list[str]) -> list[int]:
    with clock.frozen(start):
        return [cases.register_case(uow, matter_code="m10", applicant=cases.Applicant(name=f"企业{i}"),
                                    channel="online", delivery_mode="online", actor=SYSTEM,
                                    data={"timer_duration": d}).case_id
                for i, d in enumerate(durations)]


def fired_per_case(uow) -> dict[int, int]:
    with uow.reader() as r:
        return dict(r.session.execute(
            select(AuditEvent.case_id, func.count(AuditEvent.seq)).where(AuditEvent.action == "timer.fired")
            .group_by(AuditEvent.case_id)
        ).all())


def after_timer_tasks(uow) -> dict[int, int]:
    with uow.reader() as r:
        return dict(r.session.execute(
            select(HumanTask.case_id, func.count(HumanTask.id)).where(HumanTask.spec_name == "after_timer")
            .group_by(HumanTask.case_id)
        ).all())


def test_a_restarted_scheduler_catches_up(uow, people, session_factory):
    """Nothing ran for two days: the first run fires every overdue timer once and raises what is due."""
    deploy(uow, M10, TIMER_STEPS)
    ids = register_timer_cases(uow, at(2018, 4, 26, 10), ["PT10S", "PT1H", "PT2H", "P30D"])
    restarted = Scheduler(session_factory, jobs=default_jobs({}), holder="restarted",
                          clock=lambda: at(2018, 4, 28, 9).astimezone(UTC))
    restarted.run_all_once()
    assert fired_per_case(uow) == {i: 1 for i in ids[:3]}
    assert after_timer_tasks(uow) == {i: 1 for i in ids[:3]}
    with uow.reader() as r:
        assert r.session.get(Case, ids[3]).next_timer_due is not None  # the 30-day timer still waits
        warned = set(r.session.execute(select(Reminder.case_id).where(Reminder.kind == "deadline_warning")).scalars())
    assert warned == set(ids)  # due 4 May (Saturday 28 April worked; 29 April–1 May off): 3 left
    restarted.run_all_once()
    assert fired_per_case(uow) == {i: 1 for i in ids[:3]}
    assert restarted.stats["errors"] == 0


# ---------------------------------------------------------------- two processes, one PostgreSQL database

T0 = at(2018, 4, 30, 23, 59, 30)  # the simulated minute crosses midnight into 1 May (Beijing)
SPEED = 60.0


def expected_keys(deadline_cases: dict[str, int]) -> set[str]:
    keys = {f"case:{deadline_cases['overdue']}:promised:2018-04-27:overdue",
            f"case:{deadline_cases['warned']}:promised:2018-05-04:warning",
            "matter:m11:no-unit", "plan:2018-04:rollout-target"}
    for matter, unit in APRIL.items():
        keys |= {f"matter:{matter}:rollout:2018-04-30:{unit}", f"matter:{matter}:rollout:2018-04-30:regulations"}
    return keys


def run_processes(url: str, specs: list[list[str]]) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), clock.ENV_START: T0.isoformat(), clock.ENV_SPEED: str(SPEED)}
    env.pop("SMTP_HOST", None)
    procs = [subprocess.Popen([sys.executable, "-m", "services.scheduler", "--database-url", url, "--json", *args],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in specs]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # one database, several real processes
@pytest.mark.parametrize("mode", ["lease", "no-lease"])
def test_two_scheduler_processes_over_a_simulated_minute(uow, people, db_url, mode):
    deploy(uow, M10, TIMER_STEPS)
    deadline_cases = {
        "overdue": register_timer_cases(uow, at(2018, 4, 20, 10), ["P30D"])[0],  # due 27 April
        "warned": register_timer_cases(uow, at(2018, 4, 26, 10), ["P30D"])[0],  # due 4 May
    }
    timer_ids = register_timer_cases(uow, T0, [f"PT{4 * k}S" for k in range(1, 13)])  # due T0+4s … T0+48s
    if mode == "lease":
        # A short lease; the first process stops early (and releases it), the second carries on.
        specs = [["--run-for", "0.8", "--lease-ttl", "0.3", "--holder", "one"],
                 ["--run-for", "2.0", "--lease-ttl", "0.3", "--holder", "two"]]
    else:
        # No lease: both run every job at the same time; the jobs alone must keep everything exactly-once.
        specs = [["--run-for", "1.8", "--no-lease", "--tick", "0.01", "--holder", h] for h in ("one", "two")]
    results = run_processes(db_url, specs)

    assert fired_per_case(uow) == {i: 1 for i in timer_ids}
    assert after_timer_tasks(uow) == {i: 1 for i in timer_ids}
    with uow.reader() as r:
        waiting = r.session.execute(select(func.count(Case.id)).where(Case.id.in_(timer_ids),
                                                                      Case.next_timer_due.is_not(None))).scalar()
        found = list(r.session.execute(select(Reminder.key)).scalars())
    assert waiting == 0
    assert len(found) == len(set(found))
    assert set(found) == expected_keys(deadline_cases)
    assert all(res["errors"] == 0 for res in results), results
    runs = [sum(res["runs"].values()) for res in results]
    if mode == "lease":
        assert sum(res["standby"] for res in results) > 0  # one stood by while the other held the lease
        assert sum(runs) > 0
    else:
        assert all(n > 0 for n in runs) and all(res["standby"] == 0 for res in results)


def test_the_web_service_starts_its_scheduler_unless_testing_or_disabled(db_url):
    from app import create_app

    base = {"DATABASE_URL": db_url, "SECRET_KEY": "x" * 32}
    for overrides in ({"SCHEDULER_ENABLED": True, "TESTING": True}, {"SCHEDULER_ENABLED": False}):
        app = create_app({**base, **overrides})
        assert "runonce.scheduler" not in app.extensions
        app.extensions["runonce.engine"].dispose()
    app = create_app({**base, "SCHEDULER_ENABLED": True})
    scheduler = app.extensions["runonce.scheduler"]
    try:
        assert scheduler.running and {job.name for job in scheduler.jobs} >= {"timers", "deadlines", "rollout"}
    finally:
        scheduler.shutdown()
        app.extensions["runonce.engine"].dispose()
    assert lease.current_holder(UnitOfWork(app.extensions["runonce.session_factory"]), LEASE_NAME) is None
