"""Chinese working days (工作日) for statutory time limits.

行政许可法 Art.82 counts the department's limits in working days: Monday–Friday, minus statutory holidays,
plus the weekend days that the State Council's yearly notice makes working days (调休).  The data come from
``chinese_calendar`` (years it ships) and from ``YearNotice`` overrides entered by an admin or read from
``workflows/holidays/<year>.toml``.  A year that neither covers is never guessed: ``UncoveredYear`` is raised.
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar
from chinese_calendar import constants as _cc_data

__all__ = [
    "DEFAULT_NOTICE_DIR",
    "LIBRARY_YEARS",
    "UncoveredYear",
    "WorkingDayCalendar",
    "YearNotice",
    "library_notice",
    "load_notice_dir",
    "load_notice_file",
]

# The shipped data files; kept next to the workflow definitions so the lead can commit a notice with them.
DEFAULT_NOTICE_DIR = Path(__file__).resolve().parent.parent / "workflows" / "holidays"

# Derived from the library's own tables (not hard-coded) so that upgrading chinesecalendar extends coverage.
LIBRARY_YEARS = range(min(_cc_data.holidays).year, max(_cc_data.holidays).year + 1)
_LIBRARY_SOURCE = f"chinesecalendar {getattr(chinese_calendar, '__version__', '?')}"


class UncoveredYear(Exception):
    """No holiday data for ``year``: working days there cannot be computed without guessing."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"{year} 年的节假日安排尚未录入，无法计算工作日 / "
            f"the {year} holiday notice has not been entered; working days cannot be computed"
        )

    def __reduce__(self) -> tuple[type[UncoveredYear], tuple[int]]:
        # The default would re-call __init__ with the message instead of the year (pickling, process pools).
        return (type(self), (self.year,))


@dataclass(frozen=True, init=False)
class YearNotice:
    """The State Council's holiday arrangement for one year (国务院办公厅关于<year>年部分节假日安排的通知).

    ``holidays``: days off (放假); listing weekend days inside a holiday block is harmless.
    ``extra_workdays``: weekend days that are working days (调休上班).
    Dates may lie in ``year - 1`` as well: a notice sometimes moves days at the end of the previous December
    (the 2019 notice made 2018-12-29 a working day and 2018-12-30/31 days off).
    """

    year: int
    holidays: frozenset[date]
    extra_workdays: frozenset[date]
    source: str

    def __init__(
        self, year: int, holidays: Iterable[date], extra_workdays: Iterable[date], source: str
    ) -> None:
        # A custom __init__ so callers may pass plain sets or lists; the stored value is always immutable.
        object.__setattr__(self, "year", year)
        object.__setattr__(self, "holidays", frozenset(holidays))
        object.__setattr__(self, "extra_workdays", frozenset(extra_workdays))
        object.__setattr__(self, "source", source.strip())
        self._validate()

    def _validate(self) -> None:
        if not self.source:
            raise ValueError(f"{self.year}: source (the notice's title) is required")
        for d in self.holidays | self.extra_workdays:
            if not isinstance(d, date):
                raise ValueError(f"{self.year}: {d!r} is not a date")
            if d.year not in (self.year - 1, self.year):
                raise ValueError(f"{self.year}: {d} is outside the years {self.year - 1}–{self.year}")
        both = self.holidays & self.extra_workdays
        if both:
            raise ValueError(f"{self.year}: listed as holiday and as working day: {sorted(both)}")


def library_notice(year: int) -> YearNotice:
    """The library's data for a covered ``year`` as a notice (e.g. to prefill an admin's correction)."""
    if year not in LIBRARY_YEARS:
        raise UncoveredYear(year)
    # Only the year's own dates: the library has already folded the next notice's December moves in.
    return YearNotice(
        year,
        holidays={d for d in _cc_data.holidays if d.year == year},
        extra_workdays={d for d in _cc_data.workdays if d.year == year},
        source=_LIBRARY_SOURCE,
    )


_FILE_NAME = re.compile(r"^(\d{4})\.toml$")
_FILE_KEYS = {"source", "holidays", "workdays"}


def _parse_date(value: Any, where: str) -> date:
    # TOML has native dates (2027-01-01) and people also write strings ("2027-01-01"); accept both.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{where}: {value!r} is not a date (YYYY-MM-DD)")


def load_notice_file(path: Path) -> YearNotice:
    """Read ``<year>.toml`` (keys: source, holidays, workdays); unknown keys are errors, to catch typos."""
    path = Path(path)
    match = _FILE_NAME.match(path.name)
    if not match:
        raise ValueError(f"{path}: holiday files are named <year>.toml")
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; expected {sorted(_FILE_KEYS)}")
    for key in ("holidays", "workdays"):
        if not isinstance(data.get(key, []), list):
            raise ValueError(f"{path}: {key} must be a list of dates")
    if not isinstance(data.get("source"), str):
        raise ValueError(f"{path}: source must be the notice's title (a string)")
    try:
        return YearNotice(
            int(match.group(1)),
            holidays=[_parse_date(v, str(path)) for v in data.get("holidays", [])],
            extra_workdays=[_parse_date(v, str(path)) for v in data.get("workdays", [])],
            source=data["source"],
        )
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def load_notice_dir(directory: Path = DEFAULT_NOTICE_DIR) -> list[YearNotice]:
    """All ``<year>.toml`` files of ``directory`` (other files, such as README.md, are ignored), by year."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return [load_notice_file(p) for p in sorted(directory.glob("*.toml"))]


class WorkingDayCalendar:
    """Working days from chinese_calendar plus admin-entered notices; notices win over the library.

    A notice replaces the whole of its year (so a correction can also remove a wrong holiday); its dates in
    the previous December patch that year on top.  Later notices for the same year replace earlier ones.
    """

    def __init__(self, notices: Iterable[YearNotice] = ()) -> None:
        self._notices: dict[int, YearNotice] = {}
        # Per year, its working days as sorted ordinals: bisect gives membership and counts in O(log n).
        self._years: dict[int, list[int]] = {}
        for notice in notices:
            self._notices[notice.year] = notice

    @classmethod
    def from_directory(
        cls, directory: Path = DEFAULT_NOTICE_DIR, notices: Iterable[YearNotice] = ()
    ) -> WorkingDayCalendar:
        """Files first, then ``notices`` (the admin's, from storage), so the admin's entry wins."""
        return cls([*load_notice_dir(directory), *notices])

    def add_notice(self, notice: YearNotice) -> None:
        # New dicts rather than in-place edits: a thread building a year from the old notices stores it in
        # the old cache, which is dropped.  The notice may move days of the previous year, so drop all years.
        self._notices = {**self._notices, notice.year: notice}
        self._years = {}

    def notice(self, year: int) -> YearNotice | None:
        return self._notices.get(year)

    def covers(self, year: int) -> bool:
        return year in self._notices or year in LIBRARY_YEARS

    def source(self, year: int) -> str:
        """Where the year's data come from, to cite next to a deadline."""
        if year in self._notices:
            return self._notices[year].source
        if year in LIBRARY_YEARS:
            return _LIBRARY_SOURCE
        raise UncoveredYear(year)

    # -- the per-year cache ------------------------------------------------------------------------------

    def _year(self, year: int) -> list[int]:
        cache = self._years
        ordinals = cache.get(year)
        if ordinals is None:
            ordinals = cache[year] = self._build(year)
        return ordinals

    def _build(self, year: int) -> list[int]:
        first = date(year, 1, 1)
        days = [first + timedelta(n) for n in range((date(year + 1, 1, 1) - first).days)]
        notice = self._notices.get(year)
        if notice is not None:
            off, on = notice.holidays, notice.extra_workdays
            work = {d for d in days if (d.weekday() < 5 and d not in off) or d in on}
        elif year in LIBRARY_YEARS:
            try:
                work = {d for d in days if chinese_calendar.is_workday(d)}
            except NotImplementedError:
                # The library raises for years it lacks; say so in the department's terms.
                raise UncoveredYear(year) from None
        else:
            raise UncoveredYear(year)
        following = self._notices.get(year + 1)
        if following is not None:
            # The next year's notice decides the days it moves at the end of this year.
            work -= following.holidays
            work |= {d for d in following.extra_workdays if d.year == year}
        return sorted(d.toordinal() for d in work)

    # -- queries -----------------------------------------------------------------------------------------

    def is_workday(self, d: date) -> bool:
        ordinals = self._year(d.year)
        o = d.toordinal()
        i = bisect_left(ordinals, o)
        return i < len(ordinals) and ordinals[i] == o

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (the start day never counts; 民法典 Art.201).

        n = 0 returns ``start`` unchanged; n < 0 gives the |n|-th working day before ``start``.
        Only the years actually crossed must be covered.
        """
        o = start.toordinal()
        year = start.year
        if n >= 0:
            ordinals = self._year(year)
            idx = bisect_right(ordinals, o)  # working days up to and including start
            while n > len(ordinals) - idx:
                n -= len(ordinals) - idx
                year += 1
                ordinals, idx = self._year(year), 0
            return start if n == 0 else date.fromordinal(ordinals[idx + n - 1])
        n = -n
        ordinals = self._year(year)
        idx = bisect_left(ordinals, o)  # working days strictly before start
        while n > idx:
            n -= idx
            year -= 1
            ordinals = self._year(year)
            idx = len(ordinals)
        return date.fromordinal(ordinals[idx - n])

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in (a, b]; negative (−count in (b, a]) when b < a, so f(a, b) == −f(b, a)."""
        if b < a:
            return -self.working_days_between(b, a)
        if a.year == b.year:
            ordinals = self._year(a.year)
            return bisect_right(ordinals, b.toordinal()) - bisect_right(ordinals, a.toordinal())
        first = self._year(a.year)
        count = len(first) - bisect_right(first, a.toordinal())
        for year in range(a.year + 1, b.year):
            count += len(self._year(year))
        return count + bisect_right(self._year(b.year), b.toordinal())
