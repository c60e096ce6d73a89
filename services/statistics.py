"""The plan's measures for supervisors: queries only (no Flask, no writes), shared by the dashboard's JSON, the
case list behind every number and the exports.

Each measure is a *population* of cases (``population(name, filters)``: SQL criteria over ``cases`` outer-joined
with ``case_clocks``), so a number on the dashboard and the list of cases it links to are the same query.
Dates are Beijing dates; a period is inclusive at both ends; no bound means "from the first case" / "until today".

The rules (also stated on the dashboard, ``RULES``):
- 受理量 accepted: accepted (``accepted_on``) within the period.
- 办结量 concluded: accepted cases whose clock stopped (decision taken, filing receipt or return delivered,
  ``case_clocks.stopped_on``) within the period; withdrawn cases excluded.
- 在办量 open: accepted by the period's end, clock not stopped by then, not withdrawn.
- 按时办结 on time: concluded by the statutory due date (``cases.due_on``, extensions and excluded time included);
  the rate's denominator is the concluded cases that have a statutory due date.
- 提前办结 early: concluded by the promised due date (承诺时限, shorter than the statutory one).
- 超期件 overdue: concluded after the statutory due date, or still open at the period's end (or today) with the
  due date passed.
- working days used: working days from acceptance to the stop (the acceptance day not counted), minus the working
  days the clock stood still for the matter's excluded kinds (补正, 专家评审, 公示 …), as ``engine.deadlines``
  counts them; average and 90th percentile (nearest rank) of the concluded cases.
- 补正率 supplement rate: cases registered in the period with at least one 一次性告知补正 notice / registered.
- trips: cases finished (any end, ``completed_at``) in the period: trips made (``cases.trips``); run-once share =
  at most one trip; 零跑动 share = none.
- rollout: a matter has reached run-once by a date under the rule of ``services.reminders.COUNTING_RULE``
  applied to the cases finished by that date; the plan's targets (40 % / 60 % / 80 % of the matters at the end
  of April / June / July) are met when that share of the eleven matters had reached it at the month's end.
"""

from __future__ import annotations

import calendar as pycalendar
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, and_, case, cast, func, literal_column, not_, or_, select, text, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from services import clock
from services import summary as kept
from storage.models import (
    Case,
    CaseClock,
    CaseExtension,
    CaseSuspension,
    StatsCaseFacts,
    StatsDay,
    StatsDayWorkingDays,
)

MEASURES = ("registered", "accepted", "concluded", "timed", "on_time", "late", "promised", "early", "open",
            "open_overdue", "overdue", "finished", "run_once", "zero_trip", "multi_trip", "supplement",
            "second_notice", "extended")


@dataclass(frozen=True)
class Filters:
    start: date | None = None
    end: date | None = None
    matter: str | None = None  # a matter code
    unit: str | None = None  # a unit code: the matters it handles

    def as_query(self) -> dict[str, str]:
        out = {"from": self.start.isoformat() if self.start else "", "to": self.end.isoformat() if self.end else "",
               "matter": self.matter or "", "unit": self.unit or ""}
        return {k: v for k, v in out.items() if v}


def _utc_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.BEIJING)


def as_of(filters: Filters, today: date | None = None) -> date:
    """The day "open" and "overdue" are judged on: the period's end, never later than today."""
    today = today or clock.today()
    return min(filters.end, today) if filters.end else today


class unindexed(FunctionElement):  # noqa: N801 - used like a SQL function
    """A column the SQLite planner must not reach through an index: ``+column`` there (a no-op SQLite will not
    match to an index), the bare column elsewhere (PostgreSQL costs its plans from statistics).

    For queries that read most of ``cases`` (all matters, a unit's matters, a wide period), SQLite would otherwise
    walk an index and look every row up by id — slower than reading the table in order (the whole-year dashboard
    took 1.8 s that way, 0.6 s without)."""

    inherit_cache = True

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type  # keeps the column's result processing (dates on SQLite)


@compiles(unindexed)
def _unindexed_default(element: unindexed, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


def in_matters(codes: list[str]) -> ColumnElement[bool]:
    """The matter filter; none at all when every matter is wanted (a plain scan beats eleven index look-ups), and
    through the index only for a single matter (a unit's two or three matters are a fifth of the table or more:
    reading it in order is faster than an index walk with a look-up per row)."""
    if set(codes) >= {m.code for m in clock.catalog().matters}:
        return true()
    if len(codes) == 1:
        return Case.matter_code.in_(codes)
    return unindexed(Case.matter_code).in_(codes)


def grouping_matter(codes: list[str]) -> Any:
    """The matter as a GROUP BY key: never through its index unless one matter is wanted (see ``in_matters``)."""
    return Case.matter_code if len(codes) == 1 else unindexed(Case.matter_code)


def matter_codes(session: Session, filters: Filters) -> list[str]:
    codes = [m.code for m in clock.catalog().matters]
    if filters.matter:
        codes = [c for c in codes if c == filters.matter]
    if filters.unit:
        codes = [c for c in codes if clock.handling_unit(session, c) == filters.unit]
    return codes


def between(column: Any, start: date | None, end: date | None) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if start:
        out.append(column >= start)
    if end:
        out.append(column <= end)
    return out


def moment_between(column: Any, start: date | None, end: date | None) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if start:
        out.append(column >= _utc_start(start))
    if end:
        out.append(column < _utc_start(end + timedelta(days=1)))
    return out


@dataclass(frozen=True)
class Facts:
    """The facts of a case the measures are made of, as SQL: over the columns of ``cases`` and ``case_clocks``
    (``facts``), or as the columns of a subquery that worked them out once per row (``_counts``). Each measure is
    written once, in ``_RULES``, over these."""

    registered: Any  # registered in the period
    accepted: Any  # accepted in the period
    concluded: Any  # clock stopped in the period (accepted, not withdrawn)
    has_due: Any
    in_time: Any  # stopped by the statutory due date
    has_promised: Any
    by_promise: Any  # stopped by the promised due date
    open: Any  # accepted by the day judged on, clock not stopped then, not withdrawn
    past_due: Any  # statutory due date before the day judged on
    finished: Any  # completed in the period
    trips: Any
    notices: Any  # 补正 notices sent (0 when none)
    extended: Any  # has at least one extension


@dataclass(frozen=True)
class Source:
    """The columns the facts are written over: the live tables (``cases`` outer-joined with ``case_clocks``) or the
    summary's copy of them, one row per case with the same names (``stats_case_facts``, kept by the commands)."""

    id: Any
    matter_code: Any
    created_at: Any
    accepted_on: Any
    status: Any
    stopped_on: Any
    due_on: Any
    promised_due_on: Any
    completed_at: Any
    trips: Any
    supplement_notices: Any
    extended: Any


LIVE = Source(Case.id, Case.matter_code, Case.created_at, Case.accepted_on, Case.status, CaseClock.stopped_on,
              Case.due_on, Case.promised_due_on, Case.completed_at, Case.trips, Case.supplement_notices,
              # an uncorrelated IN: the extended cases are read once, not probed by a subquery per row
              Case.id.in_(select(CaseExtension.case_id)))
SUMMARY = Source(*(getattr(StatsCaseFacts, "case_id" if name == "id" else name)
                   for name in Source.__dataclass_fields__))


def facts(f: Filters, today: date | None = None, src: Source = LIVE) -> Facts:
    on = as_of(f, today)
    stopped = src.stopped_on
    not_withdrawn = src.status != "withdrawn"
    return Facts(
        registered=and_(true(), *moment_between(src.created_at, f.start, f.end)),
        accepted=and_(src.accepted_on.is_not(None), *between(src.accepted_on, f.start, f.end)),
        concluded=and_(src.accepted_on.is_not(None), not_withdrawn, stopped.is_not(None),
                       *between(stopped, f.start, f.end)),
        has_due=src.due_on.is_not(None),
        in_time=stopped <= src.due_on,
        has_promised=src.promised_due_on.is_not(None),
        by_promise=stopped <= src.promised_due_on,
        open=and_(src.accepted_on.is_not(None), src.accepted_on <= on, not_withdrawn,
                  or_(stopped.is_(None), stopped > on)),
        past_due=src.due_on < on,
        finished=and_(src.status == "completed", *moment_between(src.completed_at, f.start, f.end)),
        trips=src.trips,
        notices=func.coalesce(src.supplement_notices, 0),
        extended=src.extended,
    )


def _late(b: Facts) -> Any:
    return and_(b.concluded, b.has_due, not_(b.in_time))


def _open_overdue(b: Facts) -> Any:
    return and_(b.open, b.past_due)


_RULES: dict[str, Any] = {
    "registered": lambda b: b.registered,
    "accepted": lambda b: b.accepted,
    "concluded": lambda b: b.concluded,
    "timed": lambda b: and_(b.concluded, b.has_due),
    "on_time": lambda b: and_(b.concluded, b.has_due, b.in_time),
    "late": _late,
    "promised": lambda b: and_(b.concluded, b.has_promised),
    "early": lambda b: and_(b.concluded, b.has_promised, b.by_promise),
    "open": lambda b: b.open,
    "open_overdue": _open_overdue,
    "overdue": lambda b: or_(_late(b), _open_overdue(b)),
    "finished": lambda b: b.finished,
    "run_once": lambda b: and_(b.finished, b.trips <= 1),
    "zero_trip": lambda b: and_(b.finished, b.trips == 0),
    "multi_trip": lambda b: and_(b.finished, b.trips > 1),
    "supplement": lambda b: and_(b.registered, b.notices >= 1),
    "second_notice": lambda b: and_(b.registered, b.notices >= 2),
    "extended": lambda b: and_(b.accepted, b.extended),
}
assert set(_RULES) == set(MEASURES)


def population(name: str, f: Filters, today: date | None = None, src: Source = LIVE) -> ColumnElement[bool]:
    """The criteria of one measure (over ``cases`` outer-joined with ``case_clocks``, or over ``stats_case_facts``),
    without the matter filter."""
    if name not in _RULES:
        raise KeyError(name)
    rule = _RULES[name](facts(f, today, src))
    if name in ("overdue", "late", "open_overdue"):
        # Implied by the rule, stated on ``cases`` alone so that the rows that cannot match are dropped before the
        # look-up of their clock (the rule's OR spans both tables): accepted, not withdrawn, a due date before
        # the period's end (late: due < stopped <= end; open and overdue: due < the day judged on <= end).
        bounds = [src.accepted_on.is_not(None), src.status != "withdrawn", src.due_on.is_not(None)]
        if f.end:
            bounds.append(src.due_on < f.end)
        if src is SUMMARY:  # also implied (stopped after the due date, or not stopped): the partial index's rows
            bounds.append(or_(src.stopped_on.is_(None), src.stopped_on > src.due_on))
        rule = and_(*bounds, rule)
    return rule


def beijing_day(session: Session, column: Any) -> Any:
    """The Beijing date of a stored (naive UTC) moment, in SQL: grouping by day without fetching every row."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(column + text("interval '8 hours'"), Date)
    return func.date(column, "+8 hours")


def base_query(columns: Iterable[Any]):
    return select(*columns).select_from(Case).outerjoin(CaseClock, CaseClock.case_id == Case.id)


# ---------------------------------------------------------------- working days used


working_days_used = clock.working_days_used  # one definition: the clock stores it, the statistics read it


def percentile(values: list[int], share: float) -> int | None:
    """Nearest rank: the smallest value with at least ``share`` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def histogram_percentile(counts: Counter[int], share: float) -> int | None:
    """``percentile`` of the values counted in ``counts`` (value -> how many times)."""
    total = sum(counts.values())
    if not total:
        return None
    rank = max(0, math.ceil(share * total) - 1)  # 0-based position in the sorted values
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen > rank:
            return value
    return None  # not reached


def _days_not_stored(session: Session, f: Filters, codes: list[str], today: date | None,
                     out: dict[str, Counter[int]]) -> None:
    """Working days used by concluded cases whose clock stopped before the value was stored, computed here and
    added by matter to ``out`` (per distinct pair of days; the ones with suspension windows one by one)."""
    connection = session.connection()
    missing = and_(population("concluded", f, today), in_matters(codes), CaseClock.working_days_used.is_(None))
    calendar = clock.calendar(session)
    windows: dict[int, list[tuple[date, date | None]]] = defaultdict(list)
    facts: dict[int, tuple[str, date, date]] = {}
    for case_id, code, accepted_on, stopped_on, start_on, end_on, kind, excluded in connection.execute(
            base_query((Case.id, Case.matter_code, Case.accepted_on, CaseClock.stopped_on, CaseSuspension.start_on,
                        CaseSuspension.end_on, CaseSuspension.kind, CaseClock.excluded_kinds))
            .join(CaseSuspension, CaseSuspension.case_id == Case.id).where(missing)):
        if kind in (excluded or ()):
            windows[case_id].append((start_on, end_on))
            facts[case_id] = (code, accepted_on, stopped_on)

    def add(code: str, accepted_on: date, stopped_on: date, stops: list, times: int = 1) -> None:
        try:
            out[code][working_days_used(calendar, accepted_on, stopped_on, stops)] += times
        except Exception:  # a year without holiday data: the case is left out rather than guessed
            return

    pairs: Counter[tuple[str, date, date]] = Counter()
    for code, accepted_on, stopped_on, count in connection.execute(
            base_query((Case.matter_code, Case.accepted_on, CaseClock.stopped_on, func.count(Case.id)))
            .where(missing).group_by(Case.matter_code, Case.accepted_on, CaseClock.stopped_on)):
        pairs[(code, accepted_on, stopped_on)] += count
    for case_id, stops in windows.items():
        code, accepted_on, stopped_on = facts[case_id]
        pairs[(code, accepted_on, stopped_on)] -= 1  # counted here instead, with its windows
        add(code, accepted_on, stopped_on, stops)
    for (code, accepted_on, stopped_on), count in pairs.items():
        if count > 0:
            add(code, accepted_on, stopped_on, [], count)


# ---------------------------------------------------------------- the dashboard


@dataclass
class Row:
    key: str  # matter code or unit code, "" for the total
    label: str
    label_en: str
    unit: str | None
    counts: dict[str, int]
    trips: int
    days: Counter[int]  # working days used -> concluded cases
    statutory: str | None = None
    promised: str | None = None

    def rates(self) -> dict[str, float | None]:
        c = self.counts
        n_days = sum(self.days.values())

        def share(num: str, den: str) -> float | None:
            return round(c[num] / c[den], 4) if c[den] else None

        return {
            "on_time_rate": share("on_time", "timed"),
            "early_rate": share("early", "promised"),
            "supplement_rate": share("supplement", "registered"),
            "run_once_share": share("run_once", "finished"),
            "zero_trip_share": share("zero_trip", "finished"),
            "trips_per_case": round(self.trips / c["finished"], 2) if c["finished"] else None,
            "days_avg": round(sum(v * n for v, n in self.days.items()) / n_days, 1) if n_days else None,
            "days_p90": histogram_percentile(self.days, 0.9),
        }

    def as_dict(self) -> dict[str, Any]:
        out = {"key": self.key, "label": self.label, "label_en": self.label_en, "unit": self.unit,
               "counts": dict(self.counts), "trips": self.trips, "statutory": self.statutory,
               "promised": self.promised}
        out.update(self.rates())
        return out


def _limit_text(limit: Any) -> str | None:
    if limit is None or limit.value is None:
        return None
    return f"{limit.value} {limit.unit}"


def _counts(session: Session, f: Filters, codes: list[str], today: date | None
            ) -> tuple[dict[str, tuple[dict, int]], dict[str, Counter[int]]]:
    """Every measure's count, the trips and the working days used, by matter, in one pass over the cases.

    An inner query works out each case's facts once (``Facts``); OFFSET 0 keeps it a separate step (SQLite and
    PostgreSQL would otherwise fold it into the outer query and evaluate every fact again inside each of the
    eighteen counts: twice the time). The outer query counts each measure's rule over those facts, grouped by
    matter and by the stored working days of the concluded cases (NULL for the others), so the days'
    distribution comes out of the same pass. Concluded cases without a stored value are computed afterwards."""
    direct = facts(f, today)
    names = [field.name for field in dataclass_fields(Facts)]
    inner = base_query((grouping_matter(codes).label("matter"), CaseClock.working_days_used.label("days_used"),
                        *(getattr(direct, n).label(n) for n in names)))
    row = inner.where(in_matters(codes)).offset(0).subquery("fact")
    by_row = Facts(**{n: row.c[n] for n in names})
    used = case((by_row.concluded, row.c.days_used), else_=None).label("used")
    columns = [row.c.matter, used, func.count()]
    columns += [func.count().filter(_RULES[m](by_row)) for m in MEASURES]
    columns.append(func.coalesce(func.sum(by_row.trips).filter(by_row.finished), 0))
    rows = session.connection().execute(select(*columns).group_by(row.c.matter, literal_column(used.name)))
    counted: dict[str, tuple[dict, int]] = {}
    days: dict[str, Counter[int]] = defaultdict(Counter)
    stored: Counter[str] = Counter()
    for code, value, in_group, *measures, trips in rows:
        counts, total_trips = counted.get(code, (_empty(), 0))
        for m, n in zip(MEASURES, measures, strict=True):
            counts[m] += n
        counted[code] = (counts, total_trips + int(trips))
        if value is not None:
            days[code][value] += in_group
            stored[code] += in_group
    if any(counts["concluded"] > stored[code] for code, (counts, _) in counted.items()):
        _days_not_stored(session, f, codes, today, days)
    return counted, days


# ---------------------------------------------------------------- the same, added up from the summary


_PERIOD_COLUMNS = ("registered", "supplement", "second_notice", "accepted", "extended", "concluded", "timed",
                   "on_time", "late", "promised", "early", "days_missing", "finished", "run_once", "zero_trip",
                   "multi_trip", "trips")


def _summary_matters(column: Any, codes: list[str]) -> ColumnElement[bool]:
    """The matter filter of ``in_matters`` on a summary table: none when every matter is wanted (so, like the live
    queries, cases of codes outside the catalog are in the months then)."""
    if set(codes) >= {m.code for m in clock.catalog().matters}:
        return true()
    return column.in_(codes)


def _day_period(column: Any, f: Filters) -> list[ColumnElement[bool]]:
    """A period over a summary day; a bounded period never holds the "no date" day (live: NULL is in no range)."""
    out = between(column, f.start, f.end)
    if out:
        out.append(column > kept.NO_DAY)
    return out


def _summary_counts(session: Session, f: Filters, codes: list[str], today: date | None, with_days: bool = True
                    ) -> tuple[dict[str, tuple[dict, int]], dict[str, Counter[int]]]:
    """``_counts`` from the summary tables: each measure's daily counts over the period; open (and overdue) cases
    as the sum of their +1/-1 days up to the day judged on; the working days used from their daily histogram."""
    on = as_of(f, today)
    connection = session.connection()
    period = _day_period(StatsDay.day, f)
    matters = _summary_matters(StatsDay.matter_code, codes)
    # plain sums over a day range each (a FILTER per column would test the range once per column and row)
    in_period = {code: [int(n) for n in sums] for code, *sums in connection.execute(
        select(StatsDay.matter_code, *(func.sum(getattr(StatsDay, c)) for c in _PERIOD_COLUMNS))
        .where(matters, *period).group_by(StatsDay.matter_code))}
    up_to_on = {code: (int(is_open), int(overdue)) for code, is_open, overdue in connection.execute(
        select(StatsDay.matter_code, func.sum(StatsDay.open_delta), func.sum(StatsDay.open_overdue_delta))
        .where(matters, StatsDay.day <= on).group_by(StatsDay.matter_code))}
    counted: dict[str, tuple[dict, int]] = {}
    missing = False
    for code in {*in_period, *up_to_on}:
        values = dict(zip(_PERIOD_COLUMNS, in_period.get(code, [0] * len(_PERIOD_COLUMNS)), strict=True))
        values["open"], values["open_overdue"] = up_to_on.get(code, (0, 0))
        counts = {m: values.get(m, 0) for m in MEASURES}
        counts["overdue"] = values["late"] + values["open_overdue"]
        counted[code] = (counts, values["trips"])
        missing = missing or values["days_missing"] > 0
    # concluded late after the day judged on: only when the period ends after it (or has no end)
    overlap = (f.end is None or on < f.end) and bool(connection.execute(
        select(func.coalesce(func.sum(StatsDay.late), 0)).where(matters, *period, StatsDay.day > on)).scalar_one())
    if overlap:
        # A case concluded late after the day judged on (a period that ends after today) was open and overdue on
        # it too: counted once. Read from the facts rows, never the common case.
        b = facts(f, today, SUMMARY)
        for code, both in connection.execute(
                select(StatsCaseFacts.matter_code, func.count())
                .where(_summary_matters(StatsCaseFacts.matter_code, codes), StatsCaseFacts.stopped_on > on,
                       _late(b), _open_overdue(b)).group_by(StatsCaseFacts.matter_code)):
            counted[code][0]["overdue"] -= both
    days: dict[str, Counter[int]] = defaultdict(Counter)
    if not with_days:
        return counted, days
    for code, used, n in connection.execute(
            select(StatsDayWorkingDays.matter_code, StatsDayWorkingDays.working_days,
                   func.sum(StatsDayWorkingDays.cases))
            .where(_summary_matters(StatsDayWorkingDays.matter_code, codes),
                   *_day_period(StatsDayWorkingDays.day, f))
            .group_by(StatsDayWorkingDays.matter_code, StatsDayWorkingDays.working_days)):
        if n:
            days[code][used] += int(n)
    if missing:
        _days_not_stored(session, f, codes, today, days)
    return counted, days


def summary_total(session: Session, name: str, f: Filters, today: date | None = None) -> int:
    """How many cases a measure counts, from the summary (the dashboard's number; the case list behind it counts
    the same rows): in the matters of ``f`` when it names a matter or unit, else in every matter code."""
    codes = matter_codes(session, f)
    counted, _ = _summary_counts(session, f, codes, today, with_days=False)
    wanted = set(codes) if (f.matter or f.unit) else set(counted)
    return sum(counts[name] for code, (counts, _) in counted.items() if code in wanted)


def _use_summary(session: Session, use: bool | None) -> bool:
    return kept.covers(session) if use is None else use


def _empty() -> dict[str, int]:
    return dict.fromkeys(MEASURES, 0)


def _merge(rows: list[Row], key: str, label: str, label_en: str, unit: str | None) -> Row:
    counts = _empty()
    for row in rows:
        for m in MEASURES:
            counts[m] += row.counts[m]
    days: Counter[int] = Counter()
    for row in rows:
        days.update(row.days)
    return Row(key, label, label_en, unit, counts, sum(r.trips for r in rows), days)


def dashboard(session: Session, f: Filters, today: date | None = None, use_summary: bool | None = None
              ) -> dict[str, Any]:
    """Everything the dashboard shows, as plain data (the JSON endpoints and the exports serve it). From the
    summary tables when they count every case (``use_summary`` None), else (or when False) from the live tables:
    the same numbers."""
    cat = clock.catalog()
    codes = matter_codes(session, f)
    count = _summary_counts if _use_summary(session, use_summary) else _counts
    counted, days = count(session, f, codes, today)
    units = {u.code: u for u in cat.units}
    matters: list[Row] = []
    for matter in cat.matters:
        if matter.code not in codes:
            continue
        counts, trips = counted.get(matter.code, (_empty(), 0))
        unit = clock.handling_unit(session, matter.code)
        matters.append(Row(matter.code, f"{matter.number}. {matter.name_zh}", f"{matter.number}. {matter.name_en}",
                           unit, counts, trips, days.get(matter.code, Counter()),
                           _limit_text(matter.statutory_limit), _limit_text(matter.promised_limit)))
    by_unit: dict[str, list[Row]] = defaultdict(list)
    for row in matters:
        by_unit[row.unit or ""].append(row)
    unit_rows = [_merge(rows, code, units[code].name_zh if code in units else code,
                        units[code].name_en if code in units else code, code)
                 for code, rows in by_unit.items()]
    total = _merge(matters, "", "合计", "Total", None)
    return {
        "filters": {"from": f.start.isoformat() if f.start else None, "to": f.end.isoformat() if f.end else None,
                    "matter": f.matter, "unit": f.unit, "as_of": as_of(f, today).isoformat()},
        "total": total.as_dict(),
        "matters": [r.as_dict() for r in matters],
        "units": [r.as_dict() for r in sorted(unit_rows, key=lambda r: r.key)],
    }


def month_of(session: Session, column: Any, moment: bool = False) -> Any:
    """The month of a date column, or of the Beijing day of a stored (naive UTC) moment, in SQL: a value whose
    text starts with 'YYYY-MM' (PostgreSQL: the month's first moment, cheaper than formatting every row)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("month", column + text("interval '8 hours'") if moment else column)
    if moment:
        return func.strftime("%Y-%m", column, "+8 hours")
    return func.substr(column, 1, 7)  # SQLite keeps a date as its ISO text


def months(session: Session, f: Filters, today: date | None = None, use_summary: bool | None = None
           ) -> list[dict[str, Any]]:
    """Month by month: accepted, concluded, concluded on time and the on-time rate; finished and run-once.

    Live, one pass: each case is grouped by the month it was accepted in, concluded in and finished in (NULL where
    it is not in that measure's population), a few hundred groups at most, added up here. From the summary: the
    same counts by day, added up by month."""
    codes = matter_codes(session, f)
    per: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
        ("accepted", "concluded", "timed", "on_time", "finished", "run_once"), 0))
    if _use_summary(session, use_summary):
        _summary_months(session, f, codes, per)
        return _month_rows(per)
    accepted, concluded, finished = (population(m, f, today) for m in ("accepted", "concluded", "finished"))
    keys = (case((accepted, month_of(session, Case.accepted_on)), else_=None).label("accepted_in"),
            case((concluded, month_of(session, CaseClock.stopped_on)), else_=None).label("concluded_in"),
            case((finished, month_of(session, Case.completed_at, moment=True)), else_=None).label("finished_in"))
    query = base_query((*keys, func.count(Case.id), func.count(Case.id).filter(Case.due_on.is_not(None)),
                        func.count(Case.id).filter(CaseClock.stopped_on <= Case.due_on),
                        func.count(Case.id).filter(Case.trips <= 1)))
    # No WHERE on the three periods: their OR spans two tables, which SQLite answers with an index walk per term
    # plus a scan; the cases in none of them fall into the group (NULL, NULL, NULL), skipped below.
    by_name = (literal_column(k.name) for k in keys)  # not the expressions again: computed once per row
    rows = session.connection().execute(query.where(in_matters(codes)).group_by(*by_name))
    for *months_in, n, timed, on_time, run_once in rows:
        accepted_in, concluded_in, finished_in = (str(m)[:7] if m is not None else None for m in months_in)
        if accepted_in:
            per[accepted_in]["accepted"] += n
        if concluded_in:
            bucket = per[concluded_in]
            bucket["concluded"] += n
            bucket["timed"] += timed
            bucket["on_time"] += on_time
        if finished_in:
            per[finished_in]["finished"] += n
            per[finished_in]["run_once"] += run_once
    return _month_rows(per)


def _summary_months(session: Session, f: Filters, codes: list[str], per: dict[str, dict[str, int]]) -> None:
    names = ("accepted", "concluded", "timed", "on_time", "finished", "run_once")
    rows = session.connection().execute(
        select(StatsDay.day, *(func.sum(getattr(StatsDay, n)) for n in names))
        .where(_summary_matters(StatsDay.matter_code, codes), StatsDay.day > kept.NO_DAY,
               *between(StatsDay.day, f.start, f.end))
        .group_by(StatsDay.day))
    for day, accepted, concluded, timed, on_time, finished, run_once in rows:
        month = day.isoformat()[:7]
        if accepted:
            per[month]["accepted"] += accepted
        if concluded:
            bucket = per[month]
            bucket["concluded"] += concluded
            bucket["timed"] += timed
            bucket["on_time"] += on_time
        if finished:
            per[month]["finished"] += finished
            per[month]["run_once"] += run_once


def _month_rows(per: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    out = []
    for month in sorted(per):
        b = per[month]
        out.append({"month": month, **b,
                    "on_time_rate": round(b["on_time"] / b["timed"], 4) if b["timed"] else None,
                    "run_once_share": round(b["run_once"] / b["finished"], 4) if b["finished"] else None})
    return out


# ---------------------------------------------------------------- the rollout panel


def month_end(year: int, month: int) -> date:
    return date(year, month, pycalendar.monthrange(year, month)[1])


def rollout(session: Session, today: date | None = None) -> dict[str, Any]:
    """Each matter against its run-once month; the plan's targets against the share of matters run-once."""
    from services import reminders

    today = today or clock.today()
    cat = clock.catalog()
    policy = reminders.current_policy()
    statuses: dict[tuple[str, date], Any] = {}

    def status(matter: Any, on: date) -> Any:
        key = (matter.code, on)
        if key not in statuses:
            statuses[key] = reminders.run_once_status(session, matter, policy, as_of=on)
        return statuses[key]

    matters = []
    for matter in cat.matters:
        deadline = cat.run_once_deadline(matter)
        judged_on = min(deadline, today)
        at_deadline, now = status(matter, judged_on), status(matter, today)
        matters.append({
            "code": matter.code, "number": matter.number, "name": matter.name_zh, "name_en": matter.name_en,
            "month": f"{cat.plan_year}-{matter.run_once_month}", "deadline": deadline.isoformat(),
            "due": deadline < today, "ok_at_deadline": at_deadline.ok, "ok_now": now.ok,
            "counted_at_deadline": at_deadline.counted_cases, "failing_at_deadline": at_deadline.failing_cases,
            "counted_now": now.counted_cases, "failing_now": now.failing_cases,
            "share_failing_now": round(now.multi_trip_share, 4),
        })
    targets = []
    for month, share in cat.rollout_targets:
        end = month_end(cat.plan_year, int(month))
        judged_on = min(end, today)
        done = sum(status(m, judged_on).ok for m in cat.matters)
        total = len(cat.matters)
        targets.append({"month": f"{cat.plan_year}-{month}", "end": end.isoformat(), "target": share,
                        "done": done, "total": total, "share": round(done / total, 4) if total else None,
                        "met": bool(total) and done / total >= share, "final": end < today})
    return {"matters": matters, "targets": targets, "limit": policy.max_multi_trip_share}
