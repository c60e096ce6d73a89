"""The supervisors' tables as header + rows, from the same data the dashboard's JSON serves (no Flask): the
exports (CSV, XLSX) write these. Headers are Chinese (the department's working language) with the English
in ``Column.en``; dates stay ``date`` objects so a spreadsheet gets real dates.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from services import case_search, clock, statistics


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str


@dataclass
class Table:
    name: str
    title_zh: str
    columns: list[Column]
    rows: Iterator[list[Any]]


STAT_COLUMNS = [
    Column("label", "名称", "Name"),
    Column("registered", "申请量", "Registered"),
    Column("accepted", "受理量", "Accepted"),
    Column("concluded", "办结量", "Concluded"),
    Column("open", "在办量", "Open"),
    Column("on_time_rate", "按时办结率", "On-time rate"),
    Column("early_rate", "提前办结率", "Early rate"),
    Column("overdue", "超期件", "Overdue"),
    Column("days_avg", "平均用时（工作日）", "Average working days used"),
    Column("days_p90", "90%分位用时（工作日）", "90th percentile working days used"),
    Column("statutory", "法定时限", "Statutory limit"),
    Column("promised", "承诺时限", "Promised limit"),
    Column("supplement_rate", "补正率", "Supplement rate"),
    Column("trips_per_case", "件均跑动次数", "Trips per case"),
    Column("run_once_share", "只跑一次占比", "Run-once share"),
    Column("zero_trip_share", "零跑动占比", "Zero-trip share"),
    Column("finished", "已结束件数（跑动统计）", "Finished (trips counted)"),
]
COUNT_KEYS = {"registered", "accepted", "concluded", "open", "overdue", "finished"}

MONTH_COLUMNS = [
    Column("month", "月份", "Month"),
    Column("accepted", "受理量", "Accepted"),
    Column("concluded", "办结量", "Concluded"),
    Column("on_time", "按时办结", "Concluded on time"),
    Column("on_time_rate", "按时办结率", "On-time rate"),
    Column("finished", "已结束件数", "Finished"),
    Column("run_once", "只跑一次件数", "Run-once cases"),
    Column("run_once_share", "只跑一次占比", "Run-once share"),
]

ROLLOUT_COLUMNS = [
    Column("number", "序号", "No."),
    Column("name", "事项", "Matter"),
    Column("month", "实现月份", "Run-once month"),
    Column("ok_at_deadline", "到期时是否实现", "Reached by its month"),
    Column("counted_at_deadline", "到期时计入件数", "Counted by its month"),
    Column("failing_at_deadline", "到期时未达标件数", "Missed by its month"),
    Column("ok_now", "目前是否实现", "Reached now"),
    Column("counted_now", "目前计入件数", "Counted now"),
    Column("failing_now", "目前未达标件数", "Missed now"),
]

CASE_COLUMNS = [
    Column("reference", "办件编号", "Reference"),
    Column("matter", "事项", "Matter"),
    Column("applicant_name", "申请人", "Applicant"),
    Column("applicant_credit_code", "统一社会信用代码", "Credit code"),
    Column("status", "状态", "Status"),
    Column("outcome", "结果", "Outcome"),
    Column("channel", "申请方式", "Channel"),
    Column("delivery_mode", "送达方式", "Delivery"),
    Column("registered_on", "申请日期", "Registered"),
    Column("accepted_on", "受理日期", "Accepted"),
    Column("due_on", "法定期限", "Statutory due date"),
    Column("stopped_on", "办结日期", "Concluded"),
    Column("trips", "跑动次数", "Trips"),
    Column("supplement_notices", "补正告知次数", "Supplement notices"),
    Column("overdue", "超期", "Overdue"),
]
YES, NO = "是", "否"


LIMIT_UNITS = {"working_days": "个工作日", "days": "日"}


def limit_zh(text: str | None) -> str | None:
    """"20 working_days" → "20 个工作日" (the statistics keep the catalog's unit codes)."""
    if not text:
        return text
    value, _, unit = text.partition(" ")
    return f"{value} {LIMIT_UNITS.get(unit, unit)}"


def _stat_rows(rows: list[dict[str, Any]]) -> Iterator[list[Any]]:
    for row in rows:
        yield [row["counts"][c.key] if c.key in COUNT_KEYS
               else limit_zh(row.get(c.key)) if c.key in ("statutory", "promised") else row.get(c.key)
               for c in STAT_COLUMNS]


def _matter_names() -> dict[str, str]:
    return {m.code: f"{m.number}. {m.name_zh}" for m in clock.catalog().matters}


def case_rows(found: Iterator[case_search.Found]) -> Iterator[list[Any]]:
    names = _matter_names()
    for c in found:
        registered = clock.beijing_date(c.created_at) if isinstance(c.created_at, datetime) else None
        yield [c.reference, names.get(c.matter_code, c.matter_code), c.applicant_name, c.applicant_credit_code,
               c.status, c.outcome, c.channel, c.delivery_mode, registered, c.accepted_on, c.due_on, c.stopped_on,
               c.trips, c.supplement_notices, YES if c.overdue else NO]


def stat_table(session: Session, name: str, f: statistics.Filters, today: date | None = None) -> Table:
    data = statistics.dashboard(session, f, today)
    if name == "matters":
        return Table(name, "分事项统计", STAT_COLUMNS, _stat_rows([*data["matters"], data["total"]]))
    return Table(name, "分单位统计", STAT_COLUMNS, _stat_rows([*data["units"], data["total"]]))


def months_table(session: Session, f: statistics.Filters, today: date | None = None) -> Table:
    rows = statistics.months(session, f, today)
    return Table("months", "月度趋势", MONTH_COLUMNS, iter([[r[c.key] for c in MONTH_COLUMNS] for r in rows]))


def rollout_table(session: Session, today: date | None = None) -> Table:
    data = statistics.rollout(session, today)

    def cell(row: dict[str, Any], key: str) -> Any:
        value = row[key]
        return (YES if value else NO) if isinstance(value, bool) else value

    return Table("rollout", "“只跑一次”推进", ROLLOUT_COLUMNS,
                 iter([[cell(r, c.key) for c in ROLLOUT_COLUMNS] for r in data["matters"]]))


def cases_table(session: Session, search: case_search.Search, today: date | None = None) -> Table:
    return Table("cases", "办件清单", CASE_COLUMNS, case_rows(case_search.iterate(session, search, today)))


NAMES = ("matters", "units", "months", "rollout", "cases")
