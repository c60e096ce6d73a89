"""好差评 pages: the applicant's rating (online after the case closed, opened from the case page reached with the
look-up code; at the window on a page the clerk opens for the applicant), public aggregates per matter and unit,
and the supervisors' list of rates, open and overdue rectifications. Rules live in services/ratings.py."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from forms.widgets import choices
from services import processes, ratings
from services.actors import Actor
from services.errors import ServiceError
from services.processes import is_application
from storage.models import Case, Unit
from web.common import actor, reader, roles_required, show_refusal, uow
from web.i18n import current_language

bp = Blueprint("ratings", __name__)

REQUIRED = _l("This field is required.")
LEVEL = {5: _l("Very satisfied"), 4: _l("Satisfied"), 3: _l("Fairly satisfied"), 2: _l("Dissatisfied"),
         1: _l("Very dissatisfied")}
INDICATOR = {
    "efficiency": _l("Efficiency of the handling"), "guide_accuracy": _l("Accuracy of the service guide"),
    "convenience": _l("Convenience"), "platform": _l("Ease of use of the platform"),
    "service_efficiency": _l("Efficiency of the service"), "service_level": _l("Quality of the service"),
    "service_attitude": _l("Attitude of the staff"),
}
RECTIFICATION_OUTCOME = {"rectified": _l("Rectified"), "explained": _l("Explained")}
APPLICANT = Actor("applicant", roles=frozenset({"applicant"}))


def _level_choices() -> list[Any]:
    return choices([(level, LEVEL[level]) for level in ratings.LEVELS])


class RatingForm(FlaskForm):
    level = RadioField(_l("Overall"), coerce=int, choices=_level_choices(), validators=[InputRequired(REQUIRED)])
    comment = TextAreaField(_l("What went well, what went wrong"), validators=[Length(max=ratings.MAX_COMMENT)],
                            render_kw={"rows": 4},
                            description=_l("Needed for a rating of dissatisfied: say what went wrong, so that it "
                                           "can be put right."))


def rating_form_class(channel: str) -> type[RatingForm]:
    attrs = {code: RadioField(INDICATOR[code], coerce=int, choices=_level_choices(),
                              validators=[InputRequired(REQUIRED)])
             for code in ratings.INDICATORS[channel]}
    return type(f"RatingForm_{channel}", (RatingForm,), attrs)


def _indicator_fields(form: RatingForm, channel: str) -> list[Any]:
    return [form[code] for code in ratings.INDICATORS[channel]]


def _submit(form: RatingForm, case_id: int, channel: str, who: Actor) -> tuple[ratings.Rated | None, int]:
    try:
        done = ratings.rate(uow(), case_id, channel=channel, level=form.level.data,
                            indicators={c: form[c].data for c in ratings.INDICATORS[channel]},
                            comment=form.comment.data, actor=who)
    except ServiceError as err:
        return None, show_refusal(form, err)
    return done, 200


def rating_summary(case: Case) -> dict[str, Any]:
    """What the applicant's case page shows: the rating given (and its rectification), or whether one may be
    given now."""
    with reader() as r:
        row = ratings.existing(r.session, case.id)
        rect = ratings.rectification_view(r.session, row) if row is not None else None
    return {"row": row, "rectification": rect, "may_rate": row is None and ratings.may_rate_online(case),
            "level_label": LEVEL, "outcome_label": RECTIFICATION_OUTCOME}


# -- online, by the applicant ------------------------------------------------------------------------------------------

@bp.route("/public/case/<reference>/rating", methods=["GET", "POST"])
def rate_online(reference: str):
    from web.applicant_case import _granted_case

    with reader() as r:
        case = _granted_case(r.session, reference)  # 404 without a look-up by reference and code
    form = rating_form_class("online")()
    status = 200
    if form.validate_on_submit():
        done, status = _submit(form, case.id, "online", APPLICANT)
        if done is not None:
            flash(_("Thank you for your rating.") + (" " + _(
                "The department checks what went wrong and tells you the result here within 15 working days.")
                if done.poor else ""), "success")
            return redirect(url_for("applicant_case.case_page", reference=case.reference))
    elif form.is_submitted():
        status = 422
    with reader() as r:
        if ratings.existing(r.session, case.id) is not None or not ratings.may_rate_online(case):
            return redirect(url_for("applicant_case.case_page", reference=case.reference))
    return render_template("ratings/rate.html", form=form, case=case, channel="online",
                           indicator_fields=_indicator_fields(form, "online"),
                           back=url_for("applicant_case.case_page", reference=case.reference)), status


# -- at the window --------------------------------------------------------------------------------------------------

class WindowLookupForm(FlaskForm):
    reference = StringField(_l("Reference number"), validators=[DataRequired(REQUIRED), Length(max=40)],
                            filters=[lambda v: v.strip().upper() if isinstance(v, str) else v])


@bp.route("/window/rating", methods=["GET", "POST"])
@roles_required("window")
def window_lookup():
    form = WindowLookupForm()
    status = 200
    if form.validate_on_submit():
        with reader() as r:
            case = r.session.execute(select(Case).where(Case.reference == form.reference.data)).scalar_one_or_none()
        if case is not None and is_application(case.matter_code):
            return redirect(url_for("ratings.rate_at_window", reference=case.reference))
        form.reference.errors = [*form.reference.errors, _("No case has this reference number.")]
        status = 404
    elif form.is_submitted():
        status = 422
    return render_template("ratings/window_lookup.html", form=form), status


@bp.route("/window/rating/<reference>", methods=["GET", "POST"])
@roles_required("window")
def rate_at_window(reference: str):
    with reader() as r:
        case = r.session.execute(select(Case).where(Case.reference == reference.strip().upper())
                                 ).scalar_one_or_none()
        if case is None or not is_application(case.matter_code):
            abort(404)
        done_before = ratings.existing(r.session, case.id)
    form = rating_form_class("window")()
    status = 200
    if done_before is None and form.validate_on_submit():
        done, status = _submit(form, case.id, "window", actor())
        if done is not None:
            flash(_("Thank you for your rating."), "success")
            return redirect(url_for("ratings.window_lookup"))
    elif form.is_submitted():
        status = 409 if done_before is not None else 422
    return render_template("ratings/rate.html", form=form, case=case, channel="window", already=done_before,
                           indicator_fields=_indicator_fields(form, "window"),
                           back=url_for("ratings.window_lookup")), status


# -- public figures and the supervisors' list --------------------------------------------------------------------------

def _names() -> tuple[dict[str, str], dict[str, str]]:
    from workflows.catalog import shipped_catalog

    zh = current_language() == "zh_CN"
    cat = shipped_catalog()
    matters = {m.code: (m.name_zh if zh else m.name_en or m.name_zh) for m in cat.matters}
    with reader() as r:
        units = {u.code: (u.name_zh if zh else u.name_en) for u in r.session.execute(select(Unit)).scalars()}
    for u in cat.units:
        units.setdefault(u.code, u.name_zh if zh else u.name_en)
    return matters, units


@bp.get("/public/ratings")
def public_figures():
    with reader() as r:
        by_matter = ratings.aggregates(r.session, "matter")
        by_unit = ratings.aggregates(r.session, "unit")
    matters, units = _names()
    return render_template("ratings/figures.html", by_matter=by_matter, by_unit=by_unit, matters=matters,
                           units=units, staff=False)


@bp.get("/supervisor/ratings")
@roles_required("supervisor", "lead")
def supervisor_figures():
    with reader() as r:
        by_matter = ratings.aggregates(r.session, "matter")
        by_unit = ratings.aggregates(r.session, "unit")
        open_rows = ratings.open_rectifications(r.session)
        load = processes.open_load(r.session)
    matters, units = _names()
    only = request.args.get("show") == "overdue"
    rows = [row for row in open_rows if row.overdue] if only else open_rows
    return render_template("ratings/figures.html", by_matter=by_matter, by_unit=by_unit, matters=matters,
                           units=units, staff=True, open_rows=rows, overdue_only=only,
                           overdue_count=sum(1 for row in open_rows if row.overdue), level_label=LEVEL,
                           load=load, zh=current_language() == "zh_CN")
