"""Supervisors' case search and a case's full history: read-only queries, no Flask.

The search takes the dashboard's measures too (``measure`` + the dashboard's period, matter and unit), so the list
behind any number on the dashboard is the same query that counted it (``services.statistics.population``).
Every filter is an indexed column of ``cases`` (or a join on an indexed key); sorting is by a fixed list of
columns with the id as tie-breaker, so paging is stable.

A list behind a measure (and the overdue filter), whose rule spans a case and its clock, is read from the
summary's facts rows (``stats_case_facts``: the same columns, one narrow row per case, kept by the commands)
when they count every case and the search needs nothing else of ``cases`` (no applicant, reference or outcome,
no sorting by reference): the count and the page's ids from there, the page's rows from ``cases``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from services import statistics, summary
from services.statistics import LIVE, SUMMARY, Filters, Source
from storage.models import (
    AuditEvent,
    Case,
    CaseClock,
    CaseExtension,
    CaseSuspension,
    HumanTask,
    StatsCaseFacts,
    User,
)

SORTS: dict[str, Any] = {
    "registered": Case.created_at,
    "reference": Case.reference,
    "accepted": Case.accepted_on,
    "due": Case.due_on,
    "closed": Case.completed_at,
    "trips": Case.trips,
}
STATUSES = ("active", "completed", "withdrawn", "incident")
OUTCOMES = ("approved", "refused", "not_accepted", "withdrawn", "filed", "returned")


@dataclass(frozen=True)
class Search:
    matter: str | None = None
    unit: str | None = None
    applicant: str | None = None  # name (part of it) or the exact credit code
    reference: str | None = None
    status: str | None = None
    outcome: str | None = None
    registered_from: date | None = None
    registered_to: date | None = None
    accepted_from: date | None = None
    accepted_to: date | None = None
    closed_from: date | None = None
    closed_to: date | None = None
    overdue: bool = False
    multi_trip: bool = False  # trips > 1
    second_notice: bool = False
    extended: bool = False
    # a dashboard measure over the dashboard's period (from/to)
    measure: str | None = None
    period_from: date | None = None
    period_to: date | None = None
    sort: str = "registered"
    descending: bool = True
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def as_query(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or value in (None, False, ""):
                continue
            if f.name == "sort" and value == "registered":
                continue
            if f.name == "descending":
                continue
            key = {"period_from": "from", "period_to": "to"}.get(f.name, f.name)
            out[key] = "1" if value is True else value.isoformat() if isinstance(value, date) else str(value)
        if not self.descending:
            out["order"] = "asc"
        return out


def _period(column: Any, start: date | None, end: date | None, moment: bool = False) -> list[Any]:
    if moment:
        return statistics.moment_between(column, start, end)
    return statistics.between(column, start, end)


def criteria(session: Session, s: Search, today: date | None = None, src: Source = LIVE) -> list[Any]:
    """The search's criteria over ``cases`` outer-joined with ``case_clocks`` or (``src`` SUMMARY, see
    ``on_facts``) over ``stats_case_facts``."""
    out: list[Any] = []
    dashboard = Filters(s.period_from, s.period_to, s.matter, s.unit)
    codes = statistics.matter_codes(session, dashboard)
    if s.matter or s.unit:
        out.append(src.matter_code.in_(codes))
    if s.measure:
        out.append(statistics.population(s.measure, dashboard, today, src))
    if s.applicant:
        text = s.applicant.strip()
        out.append(or_(Case.applicant_credit_code == text.upper(), Case.applicant_name.contains(text,
                                                                                                autoescape=True)))
    if s.reference:
        out.append(Case.reference == s.reference.strip().upper())
    if s.status:
        out.append(src.status == s.status)
    if s.outcome:
        out.append(Case.outcome == s.outcome)
    out += _period(src.created_at, s.registered_from, s.registered_to, moment=True)
    out += _period(src.accepted_on, s.accepted_from, s.accepted_to)
    out += _period(src.completed_at, s.closed_from, s.closed_to, moment=True)
    if s.overdue:
        out.append(statistics.population("overdue", Filters(), today, src))
    if s.multi_trip:
        out.append(src.trips > 1)
    if s.second_notice:
        out.append(func.coalesce(src.supplement_notices, 0) >= 2)
    if s.extended:
        out.append(src.extended if src is SUMMARY else exists().where(CaseExtension.case_id == Case.id))
    return out


FACT_SORTS: dict[str, Any] = {
    "registered": StatsCaseFacts.created_at,
    "accepted": StatsCaseFacts.accepted_on,
    "due": StatsCaseFacts.due_on,
    "closed": StatsCaseFacts.completed_at,
    "trips": StatsCaseFacts.trips,
}


# Measures whose rule needs a case's clock beyond a date range: the live list reads every candidate case with its
# clock (the overdue list of a quarter: 40,000 look-ups at 100,000 cases); the others' live lists walk one index.
FACT_MEASURES = ("open", "open_overdue", "overdue", "late")


def on_facts(session: Session, s: Search, check: bool = True) -> bool:
    """Whether the search is read from the summary's facts rows (see the module's text)."""
    return ((s.measure in FACT_MEASURES or (s.overdue and not s.measure))
            and not (s.applicant or s.reference or s.outcome) and s.sort in FACT_SORTS
            and (not check or summary.covers(session)))


@dataclass(frozen=True)
class Found:
    id: int
    reference: str
    matter_code: str
    applicant_name: str
    applicant_credit_code: str | None
    status: str
    outcome: str | None
    channel: str
    delivery_mode: str
    created_at: Any
    accepted_on: date | None
    due_on: date | None
    stopped_on: date | None
    completed_at: Any
    trips: int | None
    supplement_notices: int | None

    @property
    def overdue(self) -> bool:
        if self.due_on is None:
            return False
        return (self.stopped_on or date.max) > self.due_on


COLUMNS = (Case.id, Case.reference, Case.matter_code, Case.applicant_name, Case.applicant_credit_code, Case.status,
           Case.outcome, Case.channel, Case.delivery_mode, Case.created_at, Case.accepted_on, Case.due_on,
           CaseClock.stopped_on, Case.completed_at, Case.trips, Case.supplement_notices)


def search(session: Session, s: Search, page: int = 1, page_size: int = 50,
           today: date | None = None, use_summary: bool | None = None) -> tuple[list[Found], int]:
    """A page of the search and the number of matching cases. ``use_summary`` False: never from the facts rows
    (True: from them whenever the search allows it, whether or not they count every case)."""
    if use_summary is not False and on_facts(session, s, check=use_summary is None):
        return _search_facts(session, s, page, page_size, today)
    where = criteria(session, s, today)
    total = session.execute(statistics.base_query((func.count(Case.id),)).where(*where)).scalar_one()
    order = SORTS.get(s.sort, Case.created_at)
    ordering = (order.desc(), Case.id.desc()) if s.descending else (order.asc(), Case.id.asc())
    rows = session.execute(statistics.base_query(COLUMNS).where(*where).order_by(*ordering)
                           .limit(page_size).offset((page - 1) * page_size)).all()
    return [Found(*row) for row in rows], total


def _search_facts(session: Session, s: Search, page: int, page_size: int,
                  today: date | None) -> tuple[list[Found], int]:
    """``search`` over the facts rows: the count and the page's ids from that narrow table (for the overdue list
    from one index), then the page's rows."""
    where = criteria(session, s, today, SUMMARY)
    if s.measure and s == Search(measure=s.measure, period_from=s.period_from, period_to=s.period_to,
                                 matter=s.matter, unit=s.unit, sort=s.sort, descending=s.descending):
        # the list behind a number of the dashboard: its total is that number, added up from the daily counts
        total = statistics.summary_total(session, s.measure, Filters(s.period_from, s.period_to, s.matter, s.unit),
                                         today)
    else:
        total = session.execute(select(func.count()).select_from(StatsCaseFacts).where(*where)).scalar_one()
    order = FACT_SORTS[s.sort]
    key = StatsCaseFacts.case_id
    ordering = (order.desc(), key.desc()) if s.descending else (order.asc(), key.asc())
    ids = list(session.execute(select(key).where(*where).order_by(*ordering)
                               .limit(page_size).offset((page - 1) * page_size)).scalars())
    rows = {row.id: row for row in session.execute(statistics.base_query(COLUMNS).where(Case.id.in_(ids)))}
    return [Found(*rows[i]) for i in ids if i in rows], total


def iterate(session: Session, s: Search, today: date | None = None, batch: int = 1000):
    """Every matching case in the search's order, in batches (exports)."""
    where = criteria(session, s, today)
    order = SORTS.get(s.sort, Case.created_at)
    ordering = (order.desc(), Case.id.desc()) if s.descending else (order.asc(), Case.id.asc())
    query = statistics.base_query(COLUMNS).where(*where).order_by(*ordering).execution_options(yield_per=batch)
    for row in session.execute(query):
        yield Found(*row)


# ---------------------------------------------------------------- one case's history


@dataclass(frozen=True)
class Change:
    key: str
    before: Any
    after: Any


@dataclass(frozen=True)
class HistoryEvent:
    seq: int
    at: Any
    actor: str
    action: str
    task: str | None
    title: str | None
    changes: list[Change]
    detail: dict[str, Any]


@dataclass
class CaseHistory:
    case: Case
    clock: CaseClock | None
    events: list[HistoryEvent]
    tasks: list[tuple[HumanTask, str | None, str | None]]  # task, claimed by, completed by (user names)
    extensions: list[CaseExtension]
    suspensions: list[CaseSuspension]


def _changes(payload: dict[str, Any]) -> list[Change]:
    before, after = payload.get("before"), payload.get("after")
    if not isinstance(before, dict):
        before = {}
    if not isinstance(after, dict):
        after = {}
    keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
    return [Change(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


def case_history(session: Session, case_id: int) -> CaseHistory | None:
    case = session.get(Case, case_id)
    if case is None:
        return None
    events = []
    for e in session.execute(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)
                             ).scalars():
        payload = e.payload if isinstance(e.payload, dict) else {}
        detail = {k: v for k, v in payload.items() if k not in ("before", "after", "task", "title")}
        events.append(HistoryEvent(e.seq, e.at, e.actor, e.action, payload.get("task"), payload.get("title"),
                                   _changes(payload), detail))
    names = dict(session.execute(select(User.id, User.username)).all())
    tasks = [(t, names.get(t.claimed_by), names.get(t.completed_by)) for t in session.execute(
        select(HumanTask).where(HumanTask.case_id == case_id).order_by(HumanTask.created_at, HumanTask.id)
    ).scalars()]
    return CaseHistory(
        case=case, clock=session.get(CaseClock, case_id), events=events, tasks=tasks,
        extensions=list(session.execute(select(CaseExtension).where(CaseExtension.case_id == case_id)
                                        .order_by(CaseExtension.id)).scalars()),
        suspensions=list(session.execute(select(CaseSuspension).where(CaseSuspension.case_id == case_id)
                                         .order_by(CaseSuspension.id)).scalars()),
    )


def as_date_range(start: date | None, end: date | None) -> tuple[date | None, date | None]:
    """A range typed the wrong way round is read the right way round."""
    if start and end and end < start:
        return end, start
    return start, end

