"""The case deadline clock, refreshed after every command that changes a case; and the controllable "now".

What it keeps, per case (the facts are rows, the dates are derived from them by ``engine.deadlines``):

- ``cases.accepted_on``: the Beijing date on which ``accepted`` first became true in the workflow data (the shared
  acceptance call activity sets it).  A filing matter (kind ``filing``: 备案) has no acceptance step: the
  department's clock starts when the filing is registered (行政许可法 Art.32: what is not refused is accepted on
  receipt).
- ``case_clocks``: the statutory and promised limits the case runs against, fixed at acceptance (the promise
  told to the applicant; ``matter_settings.promised_*`` overrides the catalog's for cases accepted afterwards),
  and the matter's ``excluded_time`` step kinds.
- ``case_suspensions``: one open row per excluded step kind while the case is at an element carrying
  ``spiffworkflow:property name="stepKind"`` of that kind; closed (``end_on`` = today) when the case leaves it.
- ``case_extensions``: ``extend_deadline`` (厅领导 lead or admin, audited).
- ``cases.due_on`` (statutory), ``promised_due_on``, ``clock_running``, ``clock_flag`` (``uncovered_year:<year>``
  when a deadline needs a year whose holiday notice is missing: it is never guessed).

The clock stops for good once a decision is recorded (``decision`` in the data) or the case ends.

"Now" is ``now()`` / ``today()``: the engine's clock (``engine.clock``: real, or pinned) unless a test or
the simulated scheduler set a source (``frozen(...)``, ``SimulatedClock``, or the environment variables
``RUNONCE_CLOCK_START`` / ``RUNONCE_CLOCK_SPEED``).  ``frozen()`` pins the engine's clock too, and the
scheduler pins it to the job's "now" while a job runs, so SpiffWorkflow's timers follow.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine import clock as engine_clock
from engine.calendar import DEFAULT_NOTICE_DIR, UncoveredYear, WorkingDayCalendar, YearNotice
from engine.deadlines import ClockState, Extension, Limit, Suspension, compute_due, working_days_left
from engine.steps import WorkflowFacts
from engine.steps import workflow_facts as engine_workflow_facts
from services import access, audit_log, summary
from services.actors import Actor
from services.errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from services.uow import UnitOfWork
from storage import tx_cache
from storage.models import (
    Case,
    CaseClock,
    CaseExtension,
    CaseSuspension,
    HolidayNotice,
    HumanTask,
    MatterSetting,
    Unit,
)

log = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")
DEFAULT_EXTENSION_LIMIT = 10  # working days, Art.42, when the catalog names no other
FLAG_UNCOVERED = "uncovered_year"
ENV_START = "RUNONCE_CLOCK_START"
ENV_SPEED = "RUNONCE_CLOCK_SPEED"


# ================================================================ controllable time


class FrozenClock:
    """A clock that stands still until it is moved (tests).  Used through ``frozen()``, it also pins the
    engine's clock (``engine.clock``: SpiffWorkflow's timers) in the current thread."""

    def __init__(self, moment: datetime) -> None:
        self.moment = _aware(moment)
        self._pin: Any = None

    def __call__(self) -> datetime:
        return self.moment

    def set(self, moment: datetime) -> None:
        self.moment = _aware(moment)
        if self._pin is not None:
            self._unpin_engine()
            self._pin_engine()

    def advance(self, delta: timedelta) -> None:
        self.set(self.moment + delta)

    def _pin_engine(self) -> None:
        self._pin = engine_clock.frozen_time(self.moment)
        self._pin.__enter__()

    def _unpin_engine(self) -> None:
        pin, self._pin = self._pin, None
        if pin is not None:
            pin.__exit__(None, None, None)


class SimulatedClock:
    """Starts at ``start`` and runs ``speed`` times faster than real time (simulated scheduler runs)."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self.start = _aware(start)
        self.speed = speed
        self._origin = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)


_source: Callable[[], datetime] | None = None


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a clock needs an aware datetime (with a time zone)")
    return moment.astimezone(UTC)


def now() -> datetime:
    """The current time, aware UTC: the source set here, else the engine's clock (pinned or real)."""
    source = _source
    return _aware(source()) if source is not None else engine_clock.now()


def beijing_date(moment: datetime | None = None) -> date:
    return (moment or now()).astimezone(BEIJING).date()


def today() -> date:
    """Today in Beijing: the date every deadline is counted in."""
    return beijing_date(now())


def set_source(source: Callable[[], datetime] | datetime | None) -> None:
    """Replace the clock for the whole process (None: the real one).  The scheduler pins the engine's clock to
    this time while a job runs (``engine_time``); elsewhere use ``frozen()`` to move both."""
    global _source
    if isinstance(source, datetime):
        source = FrozenClock(source)
    _source = source


def is_controlled() -> bool:
    return _source is not None


@contextmanager
def frozen(moment: datetime) -> Iterator[FrozenClock]:
    """``with clock.frozen(datetime(2018, 2, 9, 9, tzinfo=BEIJING)) as c: ... c.set(...)``: services and the
    engine's timers (in this thread) see ``c``'s time."""
    previous = _source
    fake = FrozenClock(moment)
    set_source(fake)
    fake._pin_engine()
    try:
        yield fake
    finally:
        fake._unpin_engine()
        set_source(previous)


@contextmanager
def engine_time(moment: datetime) -> Iterator[None]:
    """Pin the engine's clock (SpiffWorkflow timers) to ``moment`` in this thread."""
    with engine_clock.frozen_time(moment):
        yield


def install_from_env(environ: Mapping[str, str] | None = None) -> SimulatedClock | None:
    """``RUNONCE_CLOCK_START`` (ISO datetime with zone) and ``RUNONCE_CLOCK_SPEED`` (default 1): a simulated
    clock for a whole process (the multi-process scheduler test).  Returns None when not configured."""
    env = os.environ if environ is None else environ
    start = env.get(ENV_START)
    if not start:
        return None
    simulated = SimulatedClock(datetime.fromisoformat(start), float(env.get(ENV_SPEED, "1")))
    log.warning("simulated clock: starts at %s, %sx real time", simulated.start.isoformat(), simulated.speed)
    set_source(simulated)
    return simulated


# ================================================================ calendar and catalog


_calendar_lock = threading.Lock()
_calendar_cache: dict[str, Any] = {"key": None, "calendar": None}


def notice_from_row(row: HolidayNotice) -> YearNotice:
    return YearNotice(
        row.year,
        holidays=[date.fromisoformat(d) for d in row.holidays],
        extra_workdays=[date.fromisoformat(d) for d in row.workdays],
        source=row.source,
    )


def calendar(session: Session) -> WorkingDayCalendar:
    """Working days from chinesecalendar, ``workflows/holidays/*.toml`` and the admin-entered
    ``holiday_notices`` rows (which win).  Rebuilt only when a row or a file changed; checked once per
    transaction (``save_holiday_notice`` forgets the answer after its change)."""
    return tx_cache.cached(session, _CALENDAR, lambda: _current_calendar(session))


_CALENDAR = "clock.calendar"


def _current_calendar(session: Session) -> WorkingDayCalendar:
    rows = session.execute(select(HolidayNotice.year, HolidayNotice.entered_at)).all()
    files = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in DEFAULT_NOTICE_DIR.glob("*.toml")))
    key = repr((files, sorted((year, at.isoformat()) for year, at in rows)))
    with _calendar_lock:
        if _calendar_cache["key"] == key:
            return _calendar_cache["calendar"]
    notices = [notice_from_row(r) for r in session.execute(select(HolidayNotice)).scalars()]
    built = WorkingDayCalendar.from_directory(DEFAULT_NOTICE_DIR, notices)
    with _calendar_lock:
        _calendar_cache.update(key=key, calendar=built)
    return built


def catalog():
    from workflows.catalog import shipped_catalog

    return shipped_catalog()


def _matter(code: str):
    """The catalog's matter, or the department's own process (workflows/processes.toml: rectification of a poor
    rating, …), whose cases run against its limit like a matter's; None for an unknown code."""
    try:
        return catalog().matter(code)
    except KeyError:
        pass
    from workflows.processes import shipped_processes

    try:
        return shipped_processes().process(code)
    except KeyError:
        return None


# ================================================================ reading the workflow


def _spiff_workflow(wf: Any) -> Any:
    if hasattr(wf, "get_tasks"):
        return wf
    for name in ("workflow", "bpmn_workflow", "wf"):
        inner = getattr(wf, name, None)
        if inner is not None and hasattr(inner, "get_tasks"):
            return inner
    raise TypeError(f"not a SpiffWorkflow workflow: {type(wf).__name__}")


def workflow_facts(wf: Any) -> WorkflowFacts:
    """What the clock needs from the engine (computed by ``engine.steps`` in the worker that ran the step;
    this is for a workflow at hand, e.g. in tests)."""
    return engine_workflow_facts(_spiff_workflow(wf))


# ================================================================ the clock of one case


@dataclass(frozen=True)
class ClockResult:
    due_on: date | None
    promised_due_on: date | None
    running: bool
    flag: str | None
    statutory: ClockState | None
    promised: ClockState | None


def clock_row(session: Session, case_id: int) -> CaseClock | None:
    """The case's clock row (None before acceptance), read once per transaction: a command's clock, task rows
    and documents all ask for it."""
    return tx_cache.cached(session, (CaseClock, case_id), lambda: session.get(CaseClock, case_id))


def _limit(value: int | None, unit: str | None) -> Limit | None:
    if not unit:
        return None
    if unit == "applicant_due":
        return Limit(0, "applicant_due")
    if value is None:
        return None
    return Limit(value, unit)  # type: ignore[arg-type]


def _new_clock_row(session: Session, case: Case, matter: Any, report_type: str | None) -> CaseClock:
    statutory = matter.statutory_for(report_type) if matter else None
    promised = matter.promised_for(report_type) if matter else None
    promised_value = promised.value if promised else None
    promised_unit = promised.unit if promised else None
    setting = matter_setting(session, case.matter_code)
    if setting is not None and setting.promised_value and setting.promised_unit:
        promised_value, promised_unit = setting.promised_value, setting.promised_unit
    return CaseClock(
        case_id=case.id,
        report_type=report_type,
        statutory_value=statutory.value if statutory else None,
        statutory_unit=statutory.unit if statutory else None,
        statutory_extendable_by=getattr(statutory, "extendable_by", None) if statutory else None,
        promised_value=promised_value,
        promised_unit=promised_unit,
        excluded_kinds=sorted(matter.excluded_time) if matter else [],
        updated_at=now(),
    )


# ================================================================ 行政许可法 Art.32: the acceptance clock

ACCEPTANCE_WORKING_DAYS = 5
# The window's turn in the shared acceptance: from these the department owes the applicant a decision (受理,
# 不予受理 or the one-time notice); at receive_supplement the applicant has the turn.
ACCEPTANCE_TURN = frozenset({"check_materials", "approve_second_notice", "notify_supplement", "issue_acceptance",
                             "issue_refusal"})


def _iso_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def acceptance_clock(session: Session, case: Case, facts: WorkflowFacts, matter: Any, on: date) -> None:
    """Receipt of materials → the acceptance decision within 5 working days (Art.32), per round of materials
    (the application, then each supplement).  A round not answered in time flags the case as deemed accepted
    from that round's receipt (``deemed_accepted_on``; the statutory clock then counts from that day)."""
    if case.acceptance_due_on is not None and on > case.acceptance_due_on and case.deemed_accepted_on is None:
        case.deemed_accepted_on = case.materials_received_on or case.acceptance_due_on
    waiting = (matter is not None and matter.kind == "approval" and case.accepted_on is None
               and case.status == "active" and not facts.accepted and bool(facts.ready & ACCEPTANCE_TURN))
    if not waiting:
        case.materials_received_on = case.acceptance_due_on = None
        return
    if case.materials_received_on is None:  # a new round: the application, or supplements just received
        received = _iso_date(facts.supplement_received_date) if facts.supplement_notices else None
        case.materials_received_on = received if received is not None and received <= on else on
        case.acceptance_due_on = None
    if case.acceptance_due_on is None:
        try:
            case.acceptance_due_on = calendar(session).add_working_days(
                case.materials_received_on, ACCEPTANCE_WORKING_DAYS)
        except UncoveredYear:
            case.acceptance_due_on = None  # the flag of the main clock tells the admin; never guessed


def refresh(session: Session, case: Case, wf: WorkflowFacts | Any) -> None:
    """Bring the case's clock rows and due dates up to date with the workflow's state.

    Called by every case command after the engine ran and before the case is saved, with the step's
    ``WorkflowFacts`` (or a workflow); sets the derived attributes on ``case`` (the command's guarded UPDATE
    writes them) and adds/closes suspension rows."""
    on = today()
    facts = wf if isinstance(wf, WorkflowFacts) else workflow_facts(wf)
    matter = _matter(case.matter_code)
    case.supplement_notices = facts.supplement_notices or case.supplement_notices
    acceptance_clock(session, case, facts, matter, on)
    if case.accepted_on is None:
        # a filing, and the department's own processes, have no acceptance step: the clock starts with the case
        filing = matter is not None and matter.kind in ("filing", "process") and case.status == "active"
        if facts.accepted or filing:
            # 行政许可法 Art.32: an application not answered within 5 working days counts as accepted on receipt
            case.accepted_on = case.deemed_accepted_on if facts.accepted and case.deemed_accepted_on else on
    if case.accepted_on is None:
        case.clock_running = False
        return
    row = clock_row(session, case.id)
    changed = row is None or case.due_on is None
    if row is None:
        row = _new_clock_row(session, case, matter, facts.report_type)
        session.add(row)
        tx_cache.keep(session, (CaseClock, case.id), row)
    ended = facts.completed or case.status in ("completed", "withdrawn")
    # A filing's department clock ends when its 备案回执 or 退回通知 is delivered; what follows (the cancellation
    # of m08, m10's spot check) is the applicant's obligation or supervision, not against the limit.
    filed = matter is not None and matter.kind == "filing" and facts.delivered
    stopping = (ended or facts.decided or filed) and row.stopped_on is None
    if stopping:
        row.stopped_on = on
        row.updated_at = now()
        changed = True
    excluded = set(row.excluded_kinds or ())
    current = {} if row.stopped_on else {k: e for k, e in facts.step_kinds.items() if k in excluded}
    # every window of the case, in order: the open ones are checked here, all of them count the due dates below
    windows = list(session.execute(
        select(CaseSuspension).where(CaseSuspension.case_id == case.id).order_by(CaseSuspension.id)
    ).scalars())
    still_open = set()
    for sus in windows:
        if sus.end_on is not None:
            continue
        if sus.kind in current and sus.kind not in still_open:
            still_open.add(sus.kind)
        else:
            sus.end_on = max(on, sus.start_on)
            changed = True
    for kind, element in sorted(current.items()):
        if kind not in still_open:
            opened = CaseSuspension(case_id=case.id, kind=kind, start_on=on, source=element[:120])
            session.add(opened)
            windows.append(opened)
            changed = True
    if stopping:
        _store_days_used(session, case, row)
    # Most commands change no clock fact: with no suspension open, the stored due dates still hold (an open
    # one moves them day by day, so those are recomputed every time).
    if changed or still_open or case.clock_flag:
        session.flush()
        recompute(session, case, on, windows)


def stop(session: Session, case: Case) -> None:
    """The case ended without the engine (withdrawal): close its suspensions and stop its clock for good.
    Sets the attributes on ``case``; the command's guarded UPDATE writes them."""
    on = today()
    row = clock_row(session, case.id)
    stopping = row is not None and row.stopped_on is None
    if stopping:
        row.stopped_on, row.updated_at = on, now()
    for sus in session.execute(
        select(CaseSuspension).where(CaseSuspension.case_id == case.id, CaseSuspension.end_on.is_(None))
    ).scalars():
        sus.end_on = max(on, sus.start_on)
    if stopping and case.accepted_on is not None:
        _store_days_used(session, case, row)
    session.flush()
    recompute(session, case, on)
    case.clock_running = False


def working_days_used(calendar: WorkingDayCalendar, accepted_on: date, stopped_on: date,
                      suspensions: Iterable[tuple[date, date | None]]) -> int:
    """Working days in (accepted_on, stopped_on] minus those in the merged (start, end] suspension windows (an
    open window runs to the stop), as ``engine.deadlines`` counts the clock."""
    spans = sorted((s, e if e is not None else stopped_on) for s, e in suspensions)
    merged: list[tuple[date, date]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    used = calendar.working_days_between(accepted_on, stopped_on)
    for s, e in merged:
        s, e = max(s, accepted_on), min(e, stopped_on)
        if e > s:
            used -= calendar.working_days_between(s, e)
    return used


def _store_days_used(session: Session, case: Case, row: CaseClock) -> None:
    """Fix the working days the case used when its clock stops (supervisors' statistics read it)."""
    session.flush()
    excluded = set(row.excluded_kinds or ())
    windows = [(s.start_on, s.end_on) for s in session.execute(
        select(CaseSuspension).where(CaseSuspension.case_id == case.id)).scalars() if s.kind in excluded]
    try:
        row.working_days_used = working_days_used(calendar(session), case.accepted_on, row.stopped_on, windows)
    except UncoveredYear:  # never guessed: the statistics leave the case out until the year is entered
        row.working_days_used = None


def recompute(session: Session, case: Case, on: date | None = None,
              windows: list[CaseSuspension] | None = None) -> ClockResult:
    """Due dates from the stored facts (no workflow needed); sets them on ``case`` and on its open task rows.
    ``windows``: the case's suspension rows in order, when the caller has them at hand."""
    on = on or today()
    row = clock_row(session, case.id) if case.accepted_on else None
    if row is None:
        case.due_on = case.promised_due_on = None
        case.clock_running, case.clock_flag = False, None
        return ClockResult(None, None, False, None, None, None)
    if windows is None:
        windows = list(session.execute(
            select(CaseSuspension).where(CaseSuspension.case_id == case.id).order_by(CaseSuspension.id)
        ).scalars())
    suspensions = [Suspension(s.kind, s.start_on, s.end_on) for s in windows]
    extensions = [
        Extension(x.working_days, x.reason or "-", x.approved_by, x.on_date)
        for x in session.execute(
            select(CaseExtension).where(CaseExtension.case_id == case.id).order_by(CaseExtension.id)
        ).scalars()
    ]
    cal = calendar(session)
    kinds = frozenset(row.excluded_kinds or ())
    states: list[ClockState | None] = []
    for value, unit in ((row.statutory_value, row.statutory_unit), (row.promised_value, row.promised_unit)):
        limit = _limit(value, unit)
        states.append(None if limit is None else compute_due(
            cal, accepted_on=case.accepted_on, limit=limit, suspensions=suspensions, extensions=extensions,
            excluded_kinds=kinds, today=on,
        ))
    statutory, promised = states
    uncovered = sorted({s.uncovered_year for s in states if s is not None and s.uncovered_year is not None})
    paused = any(s.end is None and s.kind in kinds for s in suspensions)
    result = ClockResult(
        due_on=statutory.due_on if statutory else None,
        promised_due_on=promised.due_on if promised else None,
        running=row.stopped_on is None and case.status in ("active", "incident") and not paused,
        flag=f"{FLAG_UNCOVERED}:{uncovered[0]}" if uncovered else None,
        statutory=statutory,
        promised=promised,
    )
    case.due_on, case.promised_due_on = result.due_on, result.promised_due_on
    case.clock_running, case.clock_flag = result.running, result.flag
    # Open task rows carry the case's due date for the worklists' "due soon / overdue" filters; once the clock
    # stopped for good (decision taken, filing receipt delivered) what is left is not against the limit.
    task_due = due_at(result.due_on) if row.stopped_on is None else None
    session.execute(
        update(HumanTask).where(HumanTask.case_id == case.id, HumanTask.state == "ready",
                                HumanTask.due_at.is_distinct_from(task_due))
        .values(due_at=task_due).execution_options(synchronize_session=False)
    )
    return result


def task_due_at(session: Session, case: Case) -> datetime | None:
    """The due moment a new task row of ``case`` carries: the case's, unless its clock stopped for good."""
    if case.due_on is None:
        return None
    row = clock_row(session, case.id)
    if row is not None and row.stopped_on is not None:
        return None
    return due_at(case.due_on)


def due_at(due_on: date | None) -> datetime | None:
    """A due date ends at the close of that day in Beijing (as ``services.cases.case_due_at``)."""
    return None if due_on is None else datetime.combine(due_on, dtime(23, 59, 59), tzinfo=BEIJING)


_CLOCK_COLUMNS = ("due_on", "promised_due_on", "clock_running", "clock_flag")


def _store(session: Session, case: Case, seen_version: int, bump: bool) -> bool:
    """Write the derived clock columns guarded by the version read.  A pure re-derivation (no new fact) does
    not bump the version: a command that read the case before still saves, with its own fresh derivation."""
    values: dict[str, Any] = {name: getattr(case, name) for name in _CLOCK_COLUMNS}
    if bump:
        values.update(version=seen_version + 1, updated_at=now())
    result = session.execute(
        update(Case).where(Case.id == case.id, Case.version == seen_version).values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    for key, value in values.items():
        set_committed_value(case, key, value)
    summary.touch(session, case.id)
    return True


def rederive(session: Session, case: Case, on: date | None = None) -> bool:
    """Recompute a stored case's clock outside a case command (a new holiday notice, a clock that stands
    still while suspended, a flagged year).  False when the case changed meanwhile (its command derived it)."""
    seen = case.version
    before = tuple(getattr(case, name) for name in _CLOCK_COLUMNS)
    recompute(session, case, on)
    after = tuple(getattr(case, name) for name in _CLOCK_COLUMNS)
    if before == after:
        for name, value in zip(_CLOCK_COLUMNS, after, strict=True):
            set_committed_value(case, name, value)
        return False
    return _store(session, case, seen, bump=False)


# ================================================================ for the web: display and admin lists


@dataclass(frozen=True)
class DaysLeft:
    statutory: int | None  # working days: 0 on the due date, < 0 overdue; None without a date
    promised: int | None
    running: bool
    problem: str | None = None  # e.g. the uncovered year's message


def days_left(session: Session, case: Case, on: date | None = None) -> DaysLeft:
    """Working days left against both limits, for display (the web calls this; it never guesses a year)."""
    on = on or today()
    cal = calendar(session)
    values: list[int | None] = []
    problem = None
    for due in (case.due_on, case.promised_due_on):
        if due is None:
            values.append(None)
            continue
        try:
            values.append(working_days_left(cal, due, on))
        except UncoveredYear as err:
            values.append(None)
            problem = str(err)
    if problem is None and case.clock_flag:
        problem = str(UncoveredYear(flag_year(case.clock_flag) or 0))
    return DaysLeft(values[0], values[1], bool(case.clock_running), problem)


def flag_year(flag: str | None) -> int | None:
    if flag and flag.startswith(f"{FLAG_UNCOVERED}:"):
        try:
            return int(flag.split(":", 1)[1])
        except ValueError:
            return None
    return None


def describe_flag(flag: str | None) -> tuple[str, dict[str, Any]] | None:
    """A case's clock flag as (English message id, params) for the web to translate."""
    year = flag_year(flag)
    if year is None:
        return None
    return (N_("The holiday notice for %(year)s has not been entered; this time limit cannot be computed."),
            {"year": year})


@dataclass(frozen=True)
class UncoveredCase:
    case_id: int
    reference: str
    matter_code: str
    accepted_on: date | None
    year: int


def uncovered_cases(session: Session) -> list[UncoveredCase]:
    """Open cases whose deadline needs a year without holiday data (for the admins' list)."""
    rows = session.execute(
        select(Case.id, Case.reference, Case.matter_code, Case.accepted_on, Case.clock_flag)
        .where(Case.clock_flag.like(f"{FLAG_UNCOVERED}:%"), Case.status.in_(("active", "incident")))
        .order_by(Case.accepted_on, Case.id)
    ).all()
    return [UncoveredCase(r.id, r.reference, r.matter_code, r.accepted_on, flag_year(r.clock_flag) or 0)
            for r in rows]


def uncovered_years(session: Session) -> dict[int, int]:
    """Year → number of open cases waiting for its holiday notice."""
    counts: dict[int, int] = {}
    for item in uncovered_cases(session):
        counts[item.year] = counts.get(item.year, 0) + 1
    return counts


# ================================================================ commands


def extend_deadline(uow: UnitOfWork, case_id: int, working_days: int, reason: str, actor: Actor) -> ClockResult:
    """Extend a case's limit by ``working_days`` (行政许可法 Art.42: +10 working days with the approval of the
    department's head, the reasons told to the applicant).  Only a lead of 厅领导 or an admin; audited."""
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = N_("This field is required.")
    if isinstance(working_days, bool) or not isinstance(working_days, int) or working_days < 1:
        errors["working_days"] = N_("Must be at least %(limit)s.") % {"limit": 1}
    if errors:
        raise InvalidInput(N_("The form has errors; see the marked fields."), errors)
    with uow:
        session = uow.session
        if not access.may_extend(session, actor):
            raise Forbidden(N_("Only department leadership can extend a time limit."))
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(N_("Case %(id)s does not exist."), id=case_id)
        row = session.get(CaseClock, case_id)
        if case.status != "active" or case.accepted_on is None or row is None or row.stopped_on is not None:
            raise Conflict(N_("This case has no running time limit to extend."))
        used = sum(session.execute(
            select(CaseExtension.working_days).where(CaseExtension.case_id == case_id)
        ).scalars())
        allowed = row.statutory_extendable_by or DEFAULT_EXTENSION_LIMIT
        if used + working_days > allowed:
            raise InvalidInput(
                N_("The time limit can be extended by at most %(limit)s working days in all."),
                {"working_days": N_("Must be at most %(limit)s.") % {"limit": max(allowed - used, 0)}},
                limit=allowed,
            )
        on = today()
        if case.due_on is not None and on > case.due_on:
            raise Conflict(N_("The time limit expired on %(date)s; it can no longer be extended."),
                           date=case.due_on.isoformat())
        seen = case.version
        before = {"due_on": _iso(case.due_on), "promised_due_on": _iso(case.promised_due_on)}
        session.add(CaseExtension(case_id=case_id, working_days=working_days, reason=reason,
                                  approved_by=actor.username, on_date=on))
        session.flush()
        result = recompute(session, case, on)
        if not _store(session, case, seen, bump=True):
            raise Conflict(N_("This case was changed by someone else in the meantime. "
                              "Reload the page to see the current state; nothing was saved."))
        audit_log.record(session, actor, "case.extended", case_id=case_id, working_days=working_days,
                         reason=reason, before=before,
                         after={"due_on": _iso(case.due_on), "promised_due_on": _iso(case.promised_due_on)})
        uow.commit()
        return result


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def save_holiday_notice(
    uow: UnitOfWork, *, year: int, holidays: list[date], workdays: list[date], source: str, actor: Actor
) -> int:
    """An admin enters (or corrects) a year's State Council holiday notice; every open clock is re-derived.
    Returns the number of cases whose dates changed."""
    if not actor.has_role("admin", "system"):
        raise Forbidden(N_("Only an administrator can change deadline settings."))
    try:
        notice = YearNotice(year, holidays, workdays, source)
    except ValueError as err:
        raise InvalidInput(N_("The holiday notice is not valid: %(problem)s"), problem=str(err)) from None
    with uow:
        session = uow.session
        row = session.get(HolidayNotice, year)
        before = None
        if row is None:
            row = HolidayNotice(year=year)
            session.add(row)
        else:
            before = {"holidays": row.holidays, "workdays": row.workdays, "source": row.source}
        row.holidays = sorted(d.isoformat() for d in notice.holidays)
        row.workdays = sorted(d.isoformat() for d in notice.extra_workdays)
        row.source, row.entered_by, row.entered_at = notice.source, actor.username, now()
        session.flush()
        tx_cache.forget(session, _CALENDAR)
        audit_log.record(session, actor, "holiday_notice.saved", before=before,
                         after={"year": year, "holidays": row.holidays, "workdays": row.workdays,
                                "source": row.source})
        changed = _rederive_open_cases(session)
        from services.reminders import resolve_holiday_reminders  # reminders imports this module

        resolve_holiday_reminders(session, year)
        uow.commit()
        return changed


def _rederive_open_cases(session: Session, only_flagged: bool = False) -> int:
    query = select(Case).where(Case.status.in_(("active", "incident")), Case.accepted_on.is_not(None))
    if only_flagged:
        query = query.where(Case.clock_flag.is_not(None))
    changed = 0
    for case in session.execute(query.order_by(Case.id)).scalars():
        changed += rederive(session, case)
    return changed


def save_matter_setting(
    uow: UnitOfWork,
    matter_code: str,
    *,
    actor: Actor,
    promised_value: int | None = None,
    promised_unit: str | None = None,
    owner_unit_code: str | None = None,
) -> None:
    """Override a matter's promised limit (承诺时限; applies to cases accepted from now on) and/or name the
    unit responsible for it (a matter the plan left without one): that unit's members then work the tasks
    of the matter's responsible lane, the open ones included (services.lanes).  Admin only; audited."""
    if not actor.has_role("admin", "system"):
        raise Forbidden(N_("Only an administrator can change deadline settings."))
    if _matter(matter_code) is None:
        raise NotFound(N_("Unknown matter %(code)s."), code=matter_code)
    if (promised_value is None) != (promised_unit is None) or (
        promised_unit is not None and promised_unit not in ("working_days", "days")
    ) or (promised_value is not None and promised_value < 1):
        raise InvalidInput(N_("The promised time limit needs a positive number of working days or days."),
                           {"promised_value": N_("Choose one of the offered values.")})
    with uow:
        session = uow.session
        if owner_unit_code and session.get(Unit, owner_unit_code) is None:
            raise InvalidInput(N_("Unknown unit %(code)s."), {"owner_unit_code": N_("Unknown unit.")},
                               code=owner_unit_code)
        row = session.get(MatterSetting, matter_code)
        before = None
        if row is None:
            row = MatterSetting(matter_code=matter_code)
            session.add(row)
        else:
            before = {"promised_value": row.promised_value, "promised_unit": row.promised_unit,
                      "owner_unit_code": row.owner_unit_code}
        row.promised_value, row.promised_unit = promised_value, promised_unit
        row.owner_unit_code = owner_unit_code or None
        row.updated_by, row.updated_at = actor.username, now()
        session.flush()
        tx_cache.keep(session, (MatterSetting, matter_code), row)
        # The owner works the matter's tasks from now on, the open ones included (services.lanes).
        from services.lanes import reroute_open_tasks

        moved = reroute_open_tasks(session, matter_code)
        audit_log.record(session, actor, "matter_setting.saved", before=before,
                         after={"matter_code": matter_code, "promised_value": promised_value,
                                "promised_unit": promised_unit, "owner_unit_code": owner_unit_code},
                         rerouted_tasks=moved)
        uow.commit()


def matter_setting(session: Session, matter_code: str) -> MatterSetting | None:
    """The admin's setting of a matter, if any; looked up once per transaction (most matters have none, and
    the identity map does not remember an absent row)."""
    return tx_cache.cached(session, (MatterSetting, matter_code), lambda: session.get(MatterSetting, matter_code))


def responsible_unit(session: Session, matter_code: str) -> str | None:
    """The unit answering for a matter: the admin's setting, else the plan's unit; None when the plan names
    none and nobody assigned one (matter 11)."""
    setting = matter_setting(session, matter_code)
    if setting is not None and setting.owner_unit_code:
        return setting.owner_unit_code
    matter = _matter(matter_code)
    return (matter.unit or None) if matter else None


def handling_unit(session: Session, matter_code: str) -> str | None:
    """Who handles the matter's cases meanwhile: the responsible unit, else the catalog's stand-in owner."""
    unit = responsible_unit(session, matter_code)
    if unit:
        return unit
    matter = _matter(matter_code)
    return (matter.owner or None) if matter else None
