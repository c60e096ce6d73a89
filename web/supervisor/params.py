"""The supervisors' filters read from the query string: a value that does not parse is dropped and named (the page
says which), never an error page."""

from __future__ import annotations

from datetime import date

from flask import request
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from services import case_search, clock
from services.statistics import MEASURES, Filters

MEASURE_LABELS = {
    "registered": _l("Registered"),
    "accepted": _l("Accepted"),
    "concluded": _l("Concluded"),
    "timed": _l("Concluded with a statutory due date"),
    "on_time": _l("Concluded on time"),
    "late": _l("Concluded late"),
    "promised": _l("Concluded with a promised due date"),
    "early": _l("Concluded early"),
    "open": _l("Open"),
    "open_overdue": _l("Open and overdue"),
    "overdue": _l("Overdue"),
    "finished": _l("Ended (trips counted)"),
    "run_once": _l("Run-once"),
    "zero_trip": _l("Zero trips"),
    "multi_trip": _l("More than one trip"),
    "supplement": _l("Received a notice of missing materials"),
    "second_notice": _l("Second notice of missing materials"),
    "extended": _l("Time limit extended"),
}


class Problems(list):
    """Names of the parameters that were ignored."""


def date_arg(args: MultiDict, name: str, problems: Problems) -> date | None:
    text = (args.get(name) or "").strip()
    if not text:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        problems.append(name)
        return None
    if not 1900 <= value.year <= 2999:
        problems.append(name)
        return None
    return value


def choice_arg(args: MultiDict, name: str, allowed: set[str] | tuple[str, ...], problems: Problems) -> str | None:
    text = (args.get(name) or "").strip()
    if not text:
        return None
    if text not in allowed:
        problems.append(name)
        return None
    return text


def matter_codes() -> set[str]:
    return {m.code for m in clock.catalog().matters}


def unit_codes() -> set[str]:
    return {u.code for u in clock.catalog().units}


def filters(args: MultiDict | None = None) -> tuple[Filters, Problems]:
    args = request.args if args is None else args
    problems = Problems()
    start, end = case_search.as_date_range(date_arg(args, "from", problems), date_arg(args, "to", problems))
    return Filters(start, end, choice_arg(args, "matter", matter_codes(), problems),
                   choice_arg(args, "unit", unit_codes(), problems)), problems


def search(args: MultiDict | None = None) -> tuple[case_search.Search, Problems]:
    args = request.args if args is None else args
    problems = Problems()
    dates = {}
    for prefix in ("registered", "accepted", "closed"):
        dates[f"{prefix}_from"], dates[f"{prefix}_to"] = case_search.as_date_range(
            date_arg(args, f"{prefix}_from", problems), date_arg(args, f"{prefix}_to", problems))
    period_from, period_to = case_search.as_date_range(date_arg(args, "from", problems),
                                                       date_arg(args, "to", problems))
    text = {name: (args.get(name) or "").strip()[:200] or None for name in ("applicant", "reference")}
    flags = {name: args.get(name) in ("1", "on", "yes", "true") for name in
             ("overdue", "multi_trip", "second_notice", "extended")}
    found = case_search.Search(
        matter=choice_arg(args, "matter", matter_codes(), problems),
        unit=choice_arg(args, "unit", unit_codes(), problems),
        status=choice_arg(args, "status", case_search.STATUSES, problems),
        outcome=choice_arg(args, "outcome", case_search.OUTCOMES, problems),
        measure=choice_arg(args, "measure", MEASURES, problems),
        period_from=period_from, period_to=period_to,
        sort=choice_arg(args, "sort", tuple(case_search.SORTS), problems) or "registered",
        descending=args.get("order") != "asc",
        **text, **flags, **dates,
    )
    return found, problems
