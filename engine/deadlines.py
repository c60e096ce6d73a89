"""The case clock: when must the department decide, given the recorded facts of a case.

Pure functions over facts (acceptance date, suspensions, extensions); nothing is stored here, so a corrected
fact or a newly entered holiday notice changes every derived due date on the next computation.

Rules, with the law where it speaks and our choice where it is silent:
- Counting starts the day after acceptance (民法典 Art.201: the first day is not counted); the limit's n-th
  counted day is the due date, and a decision on that day is on time.
- 行政许可法 Art.42/82: the 20-day limit counts working days; +N working days per approved extension.
- Art.45: time for 听证, 专家评审 etc. is not counted.  A suspension stops the clock for the days in
  (start, end]: the day it starts still counts, the day it ends does not (the same convention as acceptance).
  Only kinds in ``excluded_kinds`` stop the clock; overlapping suspensions are merged, never counted twice;
  suspension days before acceptance or after the due date change nothing.
- An open suspension (end None) is computed as if it ended on ``today``; ``running`` is False meanwhile.
- Calendar-day limits ("days") count every day except suspended ones; when the last day is not a working day
  the period ends on the next working day (民法典 Art.203, our choice for the law's silence here).  Extensions
  are in working days, added after that.
- A year without holiday data is never guessed: ``due_on`` is None and ``uncovered_year`` names it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, get_args

from engine.calendar import UncoveredYear, WorkingDayCalendar

__all__ = [
    "ART45_KINDS",
    "KIND_LABELS",
    "ClockState",
    "Extension",
    "Limit",
    "Suspension",
    "compute_due",
    "working_days_left",
]

Unit = Literal["working_days", "days", "applicant_due"]

# Labels for the case page; a matter's configuration chooses which kinds stop its clock.
KIND_LABELS: dict[str, str] = {
    "supplement": "补正",
    "expert_review": "专家评审",
    "hearing": "听证",
    "public_notice": "公示",
    "tender": "招标",
    "auction": "拍卖",
    "inspection": "检验",
    "testing": "检测",
    "quarantine": "检疫",
    "appraisal": "鉴定",
}
# The kinds 行政许可法 Art.45 itself excludes; 补正 and 公示 depend on the matter's own rules.
ART45_KINDS = frozenset(
    {"hearing", "tender", "auction", "inspection", "testing", "quarantine", "appraisal", "expert_review"}
)


@dataclass(frozen=True)
class Limit:
    """``applicant_due``: the limit binds the applicant (e.g. a 备案 filed before an activity), so the
    department has no decision clock and ``compute_due`` returns no due date."""

    value: int
    unit: Unit

    def __post_init__(self) -> None:
        if self.unit not in get_args(Unit):
            raise ValueError(f"unknown unit {self.unit!r}")
        if self.value < 0:
            raise ValueError("a limit cannot be negative")


@dataclass(frozen=True)
class Suspension:
    kind: str
    start: date
    end: date | None = None  # None: still suspended

    def __post_init__(self) -> None:
        if not self.kind:
            raise ValueError("a suspension needs a kind")
        if self.end is not None and self.end < self.start:
            raise ValueError(f"suspension ends ({self.end}) before it starts ({self.start})")


@dataclass(frozen=True)
class Extension:
    """Art.42: with the head's approval, reasons told to the applicant.  Whether it was approved within the
    period is the workflow's check; the clock counts every recorded extension."""

    working_days: int
    reason: str
    approved_by: str
    on: date

    def __post_init__(self) -> None:
        if self.working_days <= 0:
            raise ValueError("an extension adds at least one working day")


@dataclass(frozen=True)
class ClockState:
    due_on: date | None  # None: uncovered year, or no department clock (applicant_due)
    running: bool  # False while an excluded suspension is open
    suspended_working_days: int  # working days the clock stood still before the due date (0 if uncovered)
    extended_working_days: int
    uncovered_year: int | None
    suspended_days: int = 0  # the same stops in calendar days (what moved a "days" limit)


_Count = Callable[[date, date], int]
_Advance = Callable[[date, int], date]


def _calendar_days_between(a: date, b: date) -> int:
    return (b - a).days


def _add_calendar_days(start: date, n: int) -> date:
    return start + timedelta(days=n)


def _stops(
    suspensions: Sequence[Suspension], excluded_kinds: Collection[str], today: date
) -> list[tuple[date, date]]:
    """The (start, end] windows in which the clock stands still, merged so overlaps count once."""
    spans = sorted(
        (s.start, s.end if s.end is not None else max(s.start, today))
        for s in suspensions
        if s.kind in excluded_kinds
    )
    merged: list[tuple[date, date]] = []
    for start, end in spans:
        # (a, b] and (c, d] with c <= b are one stretch (a, max(b, d)].
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _walk(count: _Count, advance: _Advance, start: date, n: int, stops: list[tuple[date, date]]) -> date:
    """The n-th counted day after ``start``, skipping the stop windows (one calendar call per window)."""
    cursor = start
    for stop_start, stop_end in stops:
        if stop_end <= cursor:
            continue
        free = count(cursor, max(stop_start, cursor))
        if free >= n:
            break
        n -= free
        cursor = stop_end
    return advance(cursor, n)


def compute_due(
    calendar: WorkingDayCalendar,
    *,
    accepted_on: date,
    limit: Limit,
    suspensions: Sequence[Suspension] = (),
    extensions: Sequence[Extension] = (),
    excluded_kinds: Collection[str],
    today: date,
) -> ClockState:
    """The clock of one case.  Never raises for missing holiday data: the case page must still render.

    ``excluded_kinds`` comes from the matter's configuration (``ART45_KINDS`` is the law's minimum);
    ``today`` only matters for open suspensions, which count as ending today.
    """
    extended = sum(x.working_days for x in extensions)
    running = not any(s.end is None and s.kind in excluded_kinds for s in suspensions)
    if limit.unit == "applicant_due":
        return ClockState(None, False, 0, 0, None, 0)

    stops = _stops(suspensions, excluded_kinds, today)
    working = (calendar.working_days_between, calendar.add_working_days)
    try:
        if limit.unit == "working_days":
            due = _walk(*working, accepted_on, limit.value + extended, stops)
        else:
            due = _walk(_calendar_days_between, _add_calendar_days, accepted_on, limit.value, stops)
            if not calendar.is_workday(due):
                due = _walk(*working, due, 1, stops)
            due = _walk(*working, due, extended, stops)
        # The walk never ends inside a window, so clipping the windows to (accepted_on, due] gives the
        # days it skipped.
        clipped = [(max(s, accepted_on), min(e, due)) for s, e in stops]
        clipped = [(s, e) for s, e in clipped if e > s]
        suspended_working = sum(calendar.working_days_between(s, e) for s, e in clipped)
    except UncoveredYear as exc:
        return ClockState(None, running, 0, extended, exc.year, 0)
    suspended_days = sum((e - s).days for s, e in clipped)
    return ClockState(due, running, suspended_working, extended, None, suspended_days)


def working_days_left(calendar: WorkingDayCalendar, due_on: date, today: date) -> int:
    """0 on the due date, > 0 before it, < 0 after it (raises UncoveredYear like the calendar).

    The sign always tells before/after: a Saturday after a Friday due date is −1, not 0, and a weekend day
    right before a Monday due date is 1.
    """
    if today == due_on:
        return 0
    n = calendar.working_days_between(today, due_on)
    return max(1, n) if today < due_on else min(-1, n)
