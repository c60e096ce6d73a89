"""The administration page (role admin; supervisors may read it): the holiday notices the working-day calendar
uses (and the form to enter a year's notice), the open cases whose time limit cannot be computed, the cases
stopped by an incident, and the matters' settings (promised limit, responsible unit) with their run-once status.

Every change goes through ``services.clock`` (audited there); this module only reads, parses and shows.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField, TextAreaField

from engine.calendar import LIBRARY_YEARS, WorkingDayCalendar, YearNotice, library_notice, load_notice_dir
from services import cases, clock, reminders
from services.errors import InvalidInput, ServiceError
from storage.models import Case, HolidayNotice, MatterSetting, Unit
from web import labels
from web.common import actor, flash_service_error, reader, roles_required, uow
from web.i18n import current_language, error_text, field_error_text
from web.inputs import MSG_JSON_INVALID, InputProblem, parse_int, parse_json
from workflows.catalog import Limit

bp = Blueprint("admin", __name__, url_prefix="/admin")

READ_ROLES = ("admin", "supervisor")
YEAR_RANGE = (2000, 2100)
PROMISED_UNITS = (
    ("working_days", lazy_gettext("working days")),
    ("days", lazy_gettext("calendar days")),
)
INCIDENT_LIMIT = 200
MAX_CORRECTIONS = 64 * 1024  # corrected data typed into the incident form (a JSON object of a few keys)


# ================================================================ reading dates typed by a person

_RANGE_MARK = re.compile(r"\s*(?:~|～|至|到|—|–|\.\.)\s*")
_SPLIT = re.compile(r"[\s,，、;；]+")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def _one_date(text: str) -> date | None:
    match = _DATE.match(text)
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def parse_dates(text: str | None) -> tuple[list[date], list[str]]:
    """Dates from what an admin typed: one per line or separated by commas, spaces or 、; a range as
    ``2027-02-05 ~ 2027-02-11`` (also 至 / 到 / ..).  Returns (sorted unique dates, the pieces not understood)."""
    found: set[date] = set()
    bad: list[str] = []
    normalized = _RANGE_MARK.sub("~", (text or "").strip())
    for token in (t for t in _SPLIT.split(normalized) if t):
        if "~" in token:
            first, _sep, last = token.partition("~")
            start, end = _one_date(first), _one_date(last)
            if start is None or end is None or end < start or "~" in last:
                bad.append(token)
                continue
            found.update(start + timedelta(n) for n in range((end - start).days + 1))
        else:
            day = _one_date(token)
            if day is None:
                bad.append(token)
            else:
                found.add(day)
    return sorted(found), bad


def format_dates(days: Any) -> str:
    """Dates as the form shows them: one per line, consecutive days as a range."""
    ordered = sorted(days)
    lines: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] - ordered[j] == timedelta(1):
            j += 1
        lines.append(ordered[i].isoformat() if i == j else f"{ordered[i].isoformat()} ~ {ordered[j].isoformat()}")
        i = j + 1
    return "\n".join(lines)


def _listed(days: list[date]) -> str:
    return labels.join_list(d.isoformat() for d in days[:10]) + ("…" if len(days) > 10 else "")


# ================================================================ the holiday notice form

REQUIRED = lazy_gettext("This field is required.")


class HolidayForm(FlaskForm):
    year = StringField(lazy_gettext("Year"))
    holidays = TextAreaField(
        lazy_gettext("Days off (放假)"),
        description=lazy_gettext(
            "Every Monday–Friday that is off; one date per line (2027-01-01) or a range "
            "(2027-02-05 ~ 2027-02-11). Dates of the previous December may be listed."
        ),
        render_kw={"rows": 8},
    )
    workdays = TextAreaField(
        lazy_gettext("Working weekend days (调休上班)"),
        description=lazy_gettext("The Saturdays and Sundays the notice makes working days."),
        render_kw={"rows": 4},
    )
    source = StringField(
        lazy_gettext("Source document"),
        description=lazy_gettext("The notice's title and number, cited next to computed time limits."),
    )


@dataclass
class ParsedNotice:
    year: int
    holidays: list[date]
    workdays: list[date]
    source: str


def check_holiday_form(form: HolidayForm) -> ParsedNotice | None:
    """Parse and check the form; on problems put a message on each field concerned and return None."""
    errors: dict[str, str] = {}
    year_text = (form.year.data or "").strip()
    year = parse_int(year_text, minimum=YEAR_RANGE[0], maximum=YEAR_RANGE[1])
    if not year_text:
        errors["year"] = _("This field is required.")
    elif year is None:
        errors["year"] = _("Enter a year between %(first)s and %(last)s.", first=YEAR_RANGE[0], last=YEAR_RANGE[1])
    holidays, bad_holidays = parse_dates(form.holidays.data)
    workdays, bad_workdays = parse_dates(form.workdays.data)
    for name, bad in (("holidays", bad_holidays), ("workdays", bad_workdays)):
        if bad:
            errors[name] = _("Not understood as a date: %(values)s. Write 2027-01-01, or a range such as "
                             "2027-02-05 ~ 2027-02-11.", values=labels.join_list(bad[:5]))
    source = (form.source.data or "").strip()
    if not source:
        errors["source"] = _("This field is required.")
    elif len(source) > 500:
        errors["source"] = _("Too long: at most %(limit)s characters.", limit=500)
    if year is not None:
        for name, days in (("holidays", holidays), ("workdays", workdays)):
            # A notice moves days of its own year and, at most, of the December before.
            outside = [d for d in days if not (d.year == year or (d.year == year - 1 and d.month == 12))]
            if outside and name not in errors:
                errors[name] = _("Outside %(year)s and the December before: %(dates)s.", year=year,
                                 dates=_listed(outside))
    weekdays = [d for d in workdays if d.weekday() < 5]
    if weekdays and "workdays" not in errors:
        errors["workdays"] = _("Not a Saturday or Sunday (Monday–Friday are working days anyway): %(dates)s.",
                               dates=_listed(weekdays))
    both = sorted(set(holidays) & set(workdays))
    if both and "workdays" not in errors:
        errors["workdays"] = _("Listed both as a day off and as a working day: %(dates)s.", dates=_listed(both))
    if not holidays and "holidays" not in errors:
        errors["holidays"] = _("List the days off of the notice.")
    for name, message in errors.items():
        form[name].errors = [message]
    if errors or year is None:
        return None
    return ParsedNotice(year, holidays, workdays, source)


def _prefill(form: HolidayForm, year: int, session) -> None:
    """Load a year's current data into the form (to correct it): the admin's entry, else a data file, else
    the library; a year nobody covers gets only its number."""
    form.year.data = str(year)
    notice: YearNotice | None = None
    row = session.get(HolidayNotice, year)
    if row is not None:
        notice = clock.notice_from_row(row)
    else:
        notice = _file_notices()[0].get(year)
        if notice is None and year in LIBRARY_YEARS:
            notice = library_notice(year)
    if notice is not None:
        form.holidays.data = format_dates(notice.holidays)
        form.workdays.data = format_dates(notice.extra_workdays)
        form.source.data = notice.source


# ================================================================ what the page shows


def _file_notices() -> tuple[dict[int, YearNotice], str | None]:
    """The data files of ``workflows/holidays`` by year, and the loading problem if one is broken."""
    try:
        return {n.year: n for n in load_notice_dir()}, None
    except ValueError as err:
        return {}, str(err)


@dataclass
class CoveredYear:
    year: int
    origin: str  # "admin" | "file"
    source: str
    holidays: int
    workdays: int
    entered_by: str | None = None
    entered_at: Any = None
    replaces: str | None = None  # "library" | "file": what the admin's entry overrides


def _limit_text(limit: Any) -> str:
    if limit is None:
        return "—"
    if limit.unit == "applicant_due":
        parts = [_("The applicant's deadline (see the note)")]
    elif limit.unit == "working_days":
        parts = [_("%(n)s working days", n=limit.value)]
    else:
        parts = [_("%(n)s calendar days", n=limit.value)]
    if limit.extendable_by:
        parts.append(_("(+%(n)s working days with the head's approval)", n=limit.extendable_by))
    if not limit.confirmed:
        parts.append(_("(to be confirmed)"))
    # Chinese full-width brackets need no space before them.
    return ("" if current_language() == "zh_CN" else " ").join(parts)


REPORT_TYPE_NAMES = {"report": lazy_gettext("EIA report"), "table": lazy_gettext("EIA form")}


@dataclass
class MatterRow:
    matter: Any
    name: str
    statutory: list[tuple[str | None, str, str]]  # (document type, text, note)
    statutory_note: str
    promised_catalog: list[tuple[str | None, str]]
    promised_note: str
    setting: MatterSetting | None
    plan_unit: str | None  # unit name, None for matter 11
    standin_unit: str | None  # the catalog's stand-in owner while the plan names none
    owner_unit: str | None  # the admin's choice
    month: int
    year: int
    deadline: date
    past: bool  # the plan's month is over
    promised_set: str | None  # the admin's promised limit, as text
    placeholder: str  # shown in the empty field: the catalog's number
    status: reminders.RunOnceStatus
    status_text: str
    modes: list[str]
    # the form: values as typed (kept on errors) and the field messages
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _unit_name(code: str | None, units: dict[str, Unit]) -> str | None:
    if not code:
        return None
    unit = units.get(code)
    if unit is None:
        try:
            unit = clock.catalog().unit(code)
        except KeyError:
            return code
    return unit.name_zh if current_language() == "zh_CN" else unit.name_en


def _mode_text(channel: str, delivery: str) -> str:
    from web.labels import CHANNEL, DELIVERY

    return f"{CHANNEL.get(channel, channel)} → {DELIVERY.get(delivery, delivery)}"


def _status_text(status: reminders.RunOnceStatus) -> str:
    if status.ok:
        return _("Run-once reached")
    if status.msgid == reminders.ROLLOUT_TRIPS:
        share = f"{round(status.multi_trip_share * 100)}%"
        return _("Not reached: %(share)s of %(n)s counted cases needed more than one trip or a second notice",
                 share=share, n=status.counted_cases)
    if status.deployed_version is None:
        return _("Not reached: no version of its process is deployed")
    return _("Not reached: the deployed version offers no service mode with at most one trip")


def _matter_rows(session, settings: dict[str, MatterSetting], units: dict[str, Unit]) -> list[MatterRow]:
    cat = clock.catalog()
    zh = current_language() == "zh_CN"
    rows = []
    for matter in cat.matters:
        statutory = [(None, _limit_text(matter.statutory_limit), getattr(matter.statutory_limit, "note", ""))]
        if matter.statutory_limit_by_report_type:
            statutory = [(str(REPORT_TYPE_NAMES.get(k, k)), _limit_text(v), v.note)
                         for k, v in matter.statutory_limit_by_report_type.items()]
        promised = [(None, _limit_text(matter.promised_limit))]
        if matter.promised_limit_by_report_type:
            promised = [(str(REPORT_TYPE_NAMES.get(k, k)), _limit_text(v))
                        for k, v in matter.promised_limit_by_report_type.items()]
        setting = settings.get(matter.code)
        status = reminders.run_once_status(session, matter)
        owner = setting.owner_unit_code if setting else None
        rows.append(MatterRow(
            matter=matter,
            name=matter.name_zh if zh else matter.name_en,
            statutory=statutory,
            statutory_note=matter.statutory_limit_note,
            promised_catalog=promised,
            promised_note=matter.promised_limit.note,
            setting=setting,
            plan_unit=_unit_name(matter.unit, units) if matter.unit else None,
            standin_unit=_unit_name(matter.owner, units) if matter.unit_missing_in_plan else None,
            owner_unit=_unit_name(owner, units),
            month=int(matter.run_once_month),
            year=cat.plan_year,
            deadline=cat.run_once_deadline(matter),
            past=clock.today() > cat.run_once_deadline(matter),
            placeholder=str(matter.promised_limit.value or ""),
            promised_set=(_limit_text(Limit(setting.promised_value, setting.promised_unit))
                          if setting and setting.promised_value and setting.promised_unit else None),
            status=status,
            status_text=_status_text(status),
            modes=[_mode_text(c, d) for c, d in status.run_once_modes],
            values={
                "promised_value": str(setting.promised_value) if setting and setting.promised_value else "",
                "promised_unit": (setting.promised_unit if setting and setting.promised_unit else
                                  matter.promised_limit.unit if matter.promised_limit.unit in dict(PROMISED_UNITS)
                                  else "working_days"),
                "owner_unit_code": owner or "",
            },
        ))
    return rows


def render_page(holiday_form: HolidayForm | None = None, matter_input: dict[str, dict[str, Any]] | None = None,
                status: int = 200, retry_input: dict[int, str] | None = None):
    with reader() as r:
        session = r.session
        form = holiday_form or HolidayForm(formdata=None)
        wanted = parse_int(request.args.get("year", ""), minimum=YEAR_RANGE[0], maximum=YEAR_RANGE[1])
        if holiday_form is None and wanted is not None:
            _prefill(form, wanted, session)
        files, file_problem = _file_notices()
        rows = session.execute(select(HolidayNotice).order_by(HolidayNotice.year)).scalars().all()
        covered: dict[int, CoveredYear] = {
            n.year: CoveredYear(n.year, "file", n.source, len(n.holidays), len(n.extra_workdays))
            for n in files.values()
        }
        for row in rows:
            replaces = "file" if row.year in files else "library" if row.year in LIBRARY_YEARS else None
            covered[row.year] = CoveredYear(row.year, "admin", row.source, len(row.holidays), len(row.workdays),
                                            row.entered_by, row.entered_at, replaces)
        this_year = clock.today().year
        try:
            cal = clock.calendar(session)
            next_years = [(y, cal.covers(y)) for y in (this_year, this_year + 1)]
        except ValueError:  # a broken data file: said above the table (file_problem)
            next_years = []
        flagged = clock.uncovered_cases(session)
        waiting = Counter(item.year for item in flagged)
        incidents = session.execute(
            select(Case.id, Case.reference, Case.matter_code, Case.incident, Case.updated_at)
            .where(Case.status == "incident").order_by(Case.updated_at.desc(), Case.id.desc()).limit(INCIDENT_LIMIT)
        ).all()
        settings = {s.matter_code: s for s in session.execute(select(MatterSetting)).scalars()}
        units = {u.code: u for u in session.execute(select(Unit).order_by(Unit.code)).scalars()}
        matters = _matter_rows(session, settings, units)
    for row in matters:
        entered = (matter_input or {}).get(row.matter.code)
        if entered:
            row.values.update(entered["values"])
            row.errors = entered["errors"]
    unit_choices = sorted(((code, _unit_name(code, units) or code) for code in units), key=lambda c: c[1])
    return render_template(
        "admin/index.html",
        form=form,
        library_years=(LIBRARY_YEARS[0], LIBRARY_YEARS[-1]),
        library_source=WorkingDayCalendar().source(LIBRARY_YEARS[0]),
        covered=[covered[y] for y in sorted(covered)],
        file_problem=file_problem,
        next_years=next_years,
        waiting=sorted(waiting.items()),
        flagged=flagged,
        incidents=incidents,
        retry_input=retry_input or {},
        matters=matters,
        counting_rule=reminders.render(
            reminders.COUNTING_RULE,
            {"limit": f"{round(reminders.current_policy().max_multi_trip_share * 100)}%"},
            current_language()),
        units=unit_choices,
        promised_units=PROMISED_UNITS,
        can_edit=actor().has_role("admin"),
        describe_flag=_flag_text,
    ), status


def _flag_text(year: int) -> str:
    described = clock.describe_flag(f"{clock.FLAG_UNCOVERED}:{year}")
    if described is None:
        return ""
    msgid, params = described
    return _(msgid) % params


# ================================================================ views


@bp.get("/")
@roles_required(*READ_ROLES)
def index():
    return render_page()


@bp.post("/holidays")
@roles_required("admin")
def save_holidays():
    form = HolidayForm()  # the CSRF token was checked by CSRFProtect before the view runs
    parsed = check_holiday_form(form)
    if parsed is None:
        flash(_("The holiday notice was not saved: see the marked fields."), "error")
        return render_page(holiday_form=form, status=422)
    try:
        changed = clock.save_holiday_notice(
            uow(), year=parsed.year, holidays=parsed.holidays, workdays=parsed.workdays, source=parsed.source,
            actor=actor(),
        )
    except InvalidInput as err:
        flash_service_error(err)
        for name, message in err.errors.items():
            if name in form:
                form[name].errors = [*list(form[name].errors), field_error_text(message)]
        return render_page(holiday_form=form, status=422)
    except ServiceError as err:
        flash_service_error(err)
        return render_page(holiday_form=form, status=err.http_status)
    flash(_("The holiday notice for %(year)s is saved. Time limits recomputed: %(n)s case(s).",
            year=parsed.year, n=changed), "success")
    return redirect(url_for("admin.index", _anchor="holiday-notices"))


def _check_matter_input(matter: Any, values: dict[str, str]) -> tuple[int | None, str | None, dict[str, str]]:
    errors: dict[str, str] = {}
    text = values["promised_value"]
    unit = values["promised_unit"]
    if not text:
        return None, None, errors
    if unit not in dict(PROMISED_UNITS):
        errors["promised_unit"] = _("Choose one of the offered values.")
    value = parse_int(text, minimum=1, maximum=365)
    if value is None:
        errors["promised_value"] = _("Enter a whole number from %(first)s to %(last)s.", first=1, last=365)
        return None, None, errors
    statutory = [matter.statutory_limit, *matter.statutory_limit_by_report_type.values()]
    comparable = [s for s in statutory if s is not None and s.unit == unit and s.value is not None]
    shortest = min(comparable, key=lambda s: s.value, default=None)
    if shortest is not None and value > shortest.value and not errors:
        errors["promised_value"] = _("The promised time limit cannot be longer than the statutory one "
                                     "(%(limit)s).", limit=_limit_text(shortest))
    return value, unit, errors


@bp.post("/matters/<code>")
@roles_required("admin")
def save_matter(code: str):
    try:
        matter = clock.catalog().matter(code)
    except KeyError:
        abort(404)
    values = {
        "promised_value": request.form.get("promised_value", "").strip(),
        "promised_unit": request.form.get("promised_unit", "").strip(),
    }
    with reader() as r:
        setting = r.session.get(MatterSetting, code)
        current_owner = setting.owner_unit_code if setting else None
    if matter.unit_missing_in_plan:
        values["owner_unit_code"] = request.form.get("owner_unit_code", "").strip()
        owner = values["owner_unit_code"] or None
    else:
        owner = current_owner  # the plan names the unit: kept as it is
    value, unit, errors = _check_matter_input(matter, values)
    if errors:
        flash(_("The settings of matter %(number)s were not saved: see the marked fields.", number=matter.number),
              "error")
        return render_page(matter_input={code: {"values": values, "errors": errors}}, status=422)
    try:
        clock.save_matter_setting(uow(), code, actor=actor(), promised_value=value, promised_unit=unit,
                                  owner_unit_code=owner)
    except InvalidInput as err:
        flash_service_error(err)
        errors = {name: field_error_text(message) for name, message in err.errors.items()}
        return render_page(matter_input={code: {"values": values, "errors": errors}}, status=422)
    except ServiceError as err:
        flash(error_text(err), "error")
        return render_page(matter_input={code: {"values": values, "errors": {}}}, status=err.http_status)
    flash(_("The settings of matter %(number)s are saved. A new promised time limit applies to cases accepted "
            "from now on.", number=matter.number), "success")
    return redirect(url_for("admin.index", _anchor=f"matter-{code}"))


@bp.post("/incidents/<int:case_id>/retry")
@roles_required("admin")
def retry_incident(case_id: int):
    """Run a stopped case's failed step again, optionally with corrected data (a JSON object of top-level
    keys); what was typed comes back with the message when it is refused."""
    text = (request.form.get("corrections") or "").strip()
    corrections: dict[str, Any] | None = None
    if text:
        try:
            corrections = parse_json(text, max_bytes=MAX_CORRECTIONS)
        except InputProblem as problem:
            if problem.msgid != MSG_JSON_INVALID:  # too large, too deep, a bad character: say which
                flash(_(problem.msgid) % problem.params if problem.params else _(problem.msgid), "error")
                return render_page(retry_input={case_id: text[:MAX_CORRECTIONS]}, status=422)
            corrections = None
        if not isinstance(corrections, dict):
            flash(_("Corrected data must be a JSON object, e.g. {\"field\": \"value\"}; nothing was retried."),
                  "error")
            return render_page(retry_input={case_id: text[:MAX_CORRECTIONS]}, status=422)
    try:
        result = cases.retry_incident(uow(), case_id, actor(), corrections)
    except ServiceError as err:
        flash_service_error(err)
        return render_page(retry_input={case_id: text}, status=err.http_status)
    if result.status == "incident":
        flash(_("The step failed again; the case is still stopped. See its error below."), "error")
    else:
        flash(_("The case runs again."), "success")
    return redirect(url_for("admin.index", _anchor="incidents"))
