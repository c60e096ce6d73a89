"""Months of historical cases for dashboards, benchmarks and new users (``seed-demo --cases N``).

Every case goes through the service layer as real work does (register, complete each task as a person of its
lane, fire timers, extend a limit) with a simulated clock: the services' "now" (``services.clock``), the
engine's timers and every row timestamp and audit event (``storage.types.recorded_time``) read the simulated
moment. Paths and form data are the shipped scenarios (``workflows/scenarios.py``: channels, delivery modes,
补正 rounds, second notices, refusals, withdrawals, hearings …); the simulation adds registration times spread
over the period, working-day delays between steps (some cases slow enough to run overdue), extensions by 厅领导,
and it stops at the period's end, so the latest cases are still open at some task.

Deterministic: the same ``seed``, period and N on an empty database give the same cases in the same order.
Events of all cases are interleaved in time order (a heap), so the audit log's order is the order of time.
"""

from __future__ import annotations

import copy
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from services import cases, clock, document_rendering
from services.actors import Actor, actor_for
from services.credit_code import CHARSET, check_character
from services.demo_cases import people_by_lane
from services.errors import ServiceError
from services.uow import UnitOfWork
from storage.models import Case, HumanTask, User
from storage.types import recorded_time
from workflows import scenarios as sc

# Steps done at the window within the day; other steps take working days (review, expert meetings …).
QUICK_STEPS = frozenset({"check_materials", "issue_acceptance", "issue_refusal", "notify_supplement",
                         "approve_second_notice", "issue_receipt", "issue_return", "issue_approval", "announce",
                         "receive_filing", "receive_report", "deliver_online", "deliver_post", "deliver_window"})
SLOW_SHARE = 0.12  # cases whose every step takes three times as long: some of them run overdue
EXTENSION_SHARE = 0.06  # accepted approval cases whose limit 厅领导 extends (+10 working days)
COMPANY_WORDS = ("化工", "热电", "水泥", "制药", "钢铁", "造纸", "环保科技", "矿业", "汽车零部件", "食品", "医院",
                 "检测", "新能源", "石化", "建材")
CITIES = ("长春", "吉林", "四平", "辽源", "通化", "白山", "松原", "白城", "延边", "梅河口")


@dataclass
class HistoryReport:
    cases: int = 0
    completed: int = 0
    open: int = 0
    extended: int = 0
    stopped: list[str] = field(default_factory=list)  # cases a step refused (reference: why), kept open there


@dataclass
class _Run:
    number: int
    scenario: sc.Scenario
    steps: list[tuple[str, Any]]
    slow: bool
    extend: bool
    position: int = 0
    case_id: int | None = None
    reference: str = ""


def company(rng: random.Random) -> tuple[str, str]:
    """A made-up enterprise and a valid unified social credit code (check character by GB 32100-2015)."""
    name = f"{rng.choice(CITIES)}{rng.choice(('市', ''))}某{rng.choice(COMPANY_WORDS)}有限公司"
    body = "9122" + "".join(rng.choice(CHARSET[:10]) for _ in range(4)) + "".join(
        rng.choice(CHARSET) for _ in range(9))
    return name, body + check_character(body)


def _work_moment(calendar: Any, day: date, rng: random.Random) -> datetime:
    """A moment within office hours (09:00–17:00 Beijing) on ``day`` or the next working day after it."""
    if not calendar.is_workday(day):
        day = calendar.add_working_days(day, 1)
    minutes = rng.randrange(0, 8 * 60)
    return datetime.combine(day, time(9), tzinfo=clock.BEIJING) + timedelta(minutes=minutes)


def _next_moment(calendar: Any, now: datetime, name: str, slow: bool, rng: random.Random) -> datetime:
    if name in QUICK_STEPS and rng.random() < 0.7:
        later = now + timedelta(minutes=rng.randrange(10, 180))
        if later.astimezone(clock.BEIJING).time() < time(17, 30):
            return later
        days = 1
    else:
        days = rng.choice((1, 1, 2, 2, 3, 4, 5, 6, 8)) if name not in QUICK_STEPS else rng.choice((1, 1, 2))
    if slow:
        days *= 3
    day = calendar.add_working_days(now.astimezone(clock.BEIJING).date(), days)
    return _work_moment(calendar, day, rng)


def _registration_days(calendar: Any, start: date, end: date, n: int, rng: random.Random) -> list[datetime]:
    days = [start + timedelta(d) for d in range((end - start).days + 1)]
    workdays = [d for d in days if calendar.is_workday(d)] or days
    return sorted(_work_moment(calendar, rng.choice(workdays), rng) for _ in range(n))


def _applicant(rng: random.Random) -> cases.Applicant:
    name, code = company(rng)
    surname = rng.choice("王李张刘陈杨赵黄周吴")
    return cases.Applicant(name=name, credit_code=code, contact=f"{surname}经理",
                           phone=f"139{rng.randrange(10**7, 10**8)}", email=None, address=f"吉林省{name[:2]}市")


def _window_actor(people: dict[str, Actor]) -> Actor:
    return people.get("审批办") or Actor(username="window1", roles=frozenset({"window"}))


def _leader(uow: UnitOfWork) -> Actor | None:
    with uow.reader() as r:
        for user in r.session.execute(select(User).where(User.active.is_(True)).order_by(User.id)).scalars():
            actor = actor_for(r.session, user)
            if actor.has_role("lead") and "厅领导" in actor.lanes:
                return actor
    return None


def simulate(uow: UnitOfWork, n: int, start: date, end: date, seed: int = 2018,
             log: Callable[[str], None] = lambda _: None) -> HistoryReport:
    """Drive ``n`` cases registered between ``start`` and ``end`` (inclusive) until the end of ``end``."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if end < start:
        raise ValueError("the period ends before it starts")
    rng = random.Random(seed)
    with uow.reader() as r:
        calendar = clock.calendar(r.session)
    people = people_by_lane(uow)
    leader = _leader(uow)
    horizon = datetime.combine(end + timedelta(days=1), time(0), tzinfo=clock.BEIJING)
    report = HistoryReport()
    queue: list[tuple[datetime, int, _Run]] = []
    for number, moment in enumerate(_registration_days(calendar, start, end, n, rng)):
        scenario = rng.choice(sc.SCENARIOS)
        run = _Run(number, scenario, list(scenario.steps), slow=rng.random() < SLOW_SHARE,
                   extend=rng.random() < EXTENSION_SHARE)
        heapq.heappush(queue, (moment, number, run))
    window = _window_actor(people)
    with clock.frozen(queue[0][0]) as simulated, recorded_time(simulated), document_rendering.inline():
        while queue:
            moment, number, run = heapq.heappop(queue)
            if moment >= horizon:
                continue  # the period is over: the case stays where it is
            simulated.set(moment)
            later = _advance(uow, run, rng, people, window, leader, report, calendar, simulated)
            if later is not None:
                heapq.heappush(queue, (later, number, run))
    report.open = report.cases - report.completed
    log(f"{report.cases} cases, {report.completed} completed, {report.extended} extended, "
        f"{len(report.stopped)} stopped by a refused step")
    return report


def _advance(uow: UnitOfWork, run: _Run, rng: random.Random, people: dict[str, Actor], window: Actor,
             leader: Actor | None, report: HistoryReport, calendar: Any,
             simulated: clock.FrozenClock) -> datetime | None:
    """Do the run's next thing at the simulated moment; the moment of the one after, or None when done."""
    now = simulated.moment
    if run.case_id is None:
        start = copy.deepcopy(run.scenario.start)
        extra = {k: v for k, v in start.items()
                 if k not in ("matter_code", "applicant", "channel", "delivery_mode") and not k.startswith("_")}
        actor = (Actor(username="applicant:online", roles=frozenset({"applicant"}))
                 if start["channel"] == "online" else window)
        registration = cases.register_case(uow, matter_code=start["matter_code"], applicant=_applicant(rng),
                                           channel=start["channel"], delivery_mode=start["delivery_mode"],
                                           actor=actor, data=extra)
        run.case_id, run.reference = registration.case_id, registration.reference
        report.cases += 1
        return _next_moment(calendar, now, "", run.slow, rng) if run.steps else _finish(run, report)
    if run.position >= len(run.steps):
        return _finish(run, report)
    name, payload = run.steps[run.position]
    run.position += 1
    if name == sc.CLOCK:
        target = max(now, datetime.fromisoformat(payload))
        if target > now:
            run.position -= 1  # come back at that moment and fire the timers then
            run.steps[run.position] = (name, target.isoformat())
            return target
        cases.fire_due_timers(uow, now)
        return now + timedelta(minutes=1)
    if run.extend and name in ("decide", "review") and leader is not None:
        run.extend = False
        try:
            clock.extend_deadline(uow, run.case_id, 10, "案情复杂，需延长审查期限（模拟）", leader)
            report.extended += 1
        except ServiceError:
            pass  # no running limit (a filing) or already expired: the case goes on without one
    try:
        done = _complete(uow, run.case_id, name, payload, people)
    except ServiceError as err:
        report.stopped.append(f"{run.reference}: {name}: {err}")
        return None
    if not done:
        due = _next_timer_due(uow, run.case_id)
        if due is not None and due > now:
            # The scenario's clock step was later than the simulated moment, so a timer the diagram set from
            # "now" (e.g. m08's 20 days after the activity) is due later: wait for it, then do this step.
            run.position -= 1
            run.steps.insert(run.position, (sc.CLOCK, (due + timedelta(seconds=1)).isoformat()))
            return due + timedelta(seconds=1)
        report.stopped.append(f"{run.reference}: {name}: no such task ready")
        return None
    return _next_moment(calendar, now, name, run.slow, rng) if run.position < len(run.steps) else _finish(
        run, report)


def _next_timer_due(uow: UnitOfWork, case_id: int) -> datetime | None:
    with uow.reader() as r:
        return r.session.execute(select(Case.next_timer_due).where(Case.id == case_id)).scalar()


def _finish(run: _Run, report: HistoryReport) -> None:
    report.completed += 1
    return None


def _complete(uow: UnitOfWork, case_id: int, name: str, payload: Any, people: dict[str, Actor]) -> bool:
    with uow.reader() as r:
        task = r.session.execute(select(HumanTask).where(
            HumanTask.case_id == case_id, HumanTask.state == "ready", HumanTask.spec_name == name)).scalars().first()
        if task is None:
            return False
        task_id, lane, role = task.id, task.lane, task.role
    actor = people.get(f"{lane}#{role}") if role else people.get(lane or "")
    if actor is None:
        return False
    cases.complete_task(uow, task_id, copy.deepcopy(payload), actor)
    return True
