"""双随机一公开 pages: the public results (plans, seeds, every draw with its digest and inputs, inspection results)
and the staff page (registry import, roster, plans, the draw). Rules live in services/spot_checks.py."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import func, select
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from forms.widgets import choices
from services import spot_checks
from services.errors import InvalidInput, ServiceError
from storage.models import Inspector, RegulatedEntity, SpotCheckDraw, SpotCheckPlan, Unit
from web.common import actor, reader, roles_required, show_refusal, uow
from web.i18n import current_language

bp = Blueprint("spot_checks", __name__)

REQUIRED = _l("This field is required.")
RESULT = {"compliant": _l("No problem found"), "rectify": _l("Problems found, rectification ordered"),
          "violation": _l("Violation found and dealt with")}
STATUS = {"pending": _l("Not started"), "active": _l("Being inspected"), "completed": _l("Done"),
          "withdrawn": _l("Cancelled by a redraw"), "incident": _l("Being inspected")}
MAX_CSV = 2 * 1024 * 1024


def _entity_types() -> list[tuple[str, str]]:
    from workflows.catalog import shipped_catalog

    zh = current_language() == "zh_CN"
    return [(m.code, m.name_zh if zh else m.name_en or m.name_zh) for m in shipped_catalog().matters]


def _units() -> list[tuple[str, str]]:
    zh = current_language() == "zh_CN"
    with reader() as r:
        return [(u.code, u.name_zh if zh else u.name_en) for u in r.session.execute(select(Unit)).scalars()]


class PlanForm(FlaskForm):
    title = StringField(_l("Title"), validators=[InputRequired(REQUIRED), Length(max=200)])
    entity_type = SelectField(_l("Entities of the matter"), validators=[InputRequired(REQUIRED)])
    inspector_unit = SelectField(_l("Inspectors of the unit"), validators=[InputRequired(REQUIRED)])
    sample_count = IntegerField(_l("Number of entities"), validators=[Optional(), NumberRange(min=1, max=10000)])
    sample_share = IntegerField(_l("or share (percent)"), validators=[Optional(), NumberRange(min=1, max=100)])
    period_start = DateField(_l("Period from"), validators=[InputRequired(REQUIRED)])
    period_end = DateField(_l("Period until"), validators=[InputRequired(REQUIRED)])
    seed = StringField(_l("Seed"), validators=[InputRequired(REQUIRED), Length(min=4, max=64)],
                       description=_l("Announce it before the draw, e.g. the numbers of a public lottery draw on a "
                                      "named day; anyone can re-run the draw with it."))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.entity_type.choices = choices(_entity_types())
        self.inspector_unit.choices = choices(_units())
        if not self.is_submitted():
            self.inspector_unit.data = "inspection_corps"


class InspectorForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired(REQUIRED), Length(max=100)])
    badge = StringField(_l("Badge number"), validators=[InputRequired(REQUIRED), Length(max=40)])
    unit_code = SelectField(_l("Unit"), validators=[InputRequired(REQUIRED)])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.unit_code.choices = choices(_units())


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file"))  # its columns are named under it, as code (manage.html)


class DrawForm(FlaskForm):
    reason = TextAreaField(_l("Reason for a redraw"), validators=[Length(max=2000)], render_kw={"rows": 2})


# -- public ------------------------------------------------------------------------------------------------------------

@bp.get("/public/spot-checks")
def public():
    with reader() as r:
        plans = spot_checks.public_plans(r.session)
    return render_template("spot_checks/public.html", plans=plans, result=RESULT, status=STATUS,
                           types=dict(_entity_types()))


@bp.get("/public/spot-checks/draws/<int:draw_id>.json")
def draw_inputs(draw_id: int):
    """Everything needed to re-run one draw, as published."""
    with reader() as r:
        row = r.session.get(SpotCheckDraw, draw_id)
        if row is None:
            abort(404)
        plan = r.session.get(SpotCheckPlan, row.plan_id)
        n = spot_checks.sample_size(len(row.candidates), plan.sample_count, plan.sample_share)
        return jsonify({"plan": plan.title, "seed": plan.seed, "round": row.round, "n": n,
                        "candidates": row.candidates, "inspectors": row.inspectors, "digest": row.digest,
                        "reason": row.reason, "superseded": row.superseded,
                        "rule": "entity rank = sha256('<seed>|<round>|entity|<credit_code>'), the n smallest; "
                                "inspectors of an entity = the 2 smallest sha256('<seed>|<round>|<credit_code>|"
                                "<badge>'); digest = sha256 of the JSON [[credit_code, [badge, badge]], ...] "
                                "without spaces",
                        "verified": spot_checks.verify(r.session, draw_id)})


# -- staff ------------------------------------------------------------------------------------------------------------

def _staff_page(plan_form: PlanForm, inspector_form: InspectorForm, import_form: ImportForm, status: int = 200,
                import_lines: list | None = None):
    with reader() as r:
        plans = spot_checks.public_plans(r.session)
        inspectors = list(r.session.execute(select(Inspector).order_by(Inspector.unit_code, Inspector.badge))
                          .scalars())
        registry = r.session.execute(select(RegulatedEntity.entity_type, func.count(RegulatedEntity.id))
                                     .group_by(RegulatedEntity.entity_type)
                                     .order_by(RegulatedEntity.entity_type)).all()
    return render_template("spot_checks/manage.html", plans=plans, inspectors=inspectors, registry=registry,
                           plan_form=plan_form, inspector_form=inspector_form, import_form=import_form,
                           draw_form=DrawForm(), may_manage=actor().has_role("lead", "admin"), result=RESULT,
                           status=STATUS, types=dict(_entity_types()), units=dict(_units()),
                           import_lines=import_lines or []), status


@bp.get("/spot-checks/")
@roles_required("supervisor", "lead")
def manage():
    return _staff_page(PlanForm(formdata=None), InspectorForm(formdata=None), ImportForm(formdata=None))


@bp.post("/spot-checks/plans")
@roles_required("lead")
def create_plan():
    form = PlanForm()
    if form.validate_on_submit():
        try:
            spot_checks.create_plan(uow(), spot_checks.NewPlan(
                form.title.data, form.entity_type.data, form.inspector_unit.data, form.sample_count.data,
                form.sample_share.data, form.period_start.data, form.period_end.data, form.seed.data), actor())
        except ServiceError as err:
            return _staff_page(form, InspectorForm(formdata=None), ImportForm(formdata=None),
                               show_refusal(form, err))
        flash(_("The plan and its seed are published."), "success")
        return redirect(url_for("spot_checks.manage"))
    return _staff_page(form, InspectorForm(formdata=None), ImportForm(formdata=None), 422)


@bp.post("/spot-checks/inspectors")
@roles_required("lead")
def add_inspector():
    form = InspectorForm()
    if form.validate_on_submit():
        try:
            spot_checks.add_inspector(uow(), form.name.data, form.badge.data, form.unit_code.data, actor())
        except ServiceError as err:
            return _staff_page(PlanForm(formdata=None), form, ImportForm(formdata=None), show_refusal(form, err))
        return redirect(url_for("spot_checks.manage"))
    return _staff_page(PlanForm(formdata=None), form, ImportForm(formdata=None), 422)


@bp.post("/spot-checks/registry")
@roles_required("lead")
def import_registry():
    form = ImportForm()
    upload = request.files.get("file")
    if not form.validate_on_submit() or upload is None:
        return _staff_page(PlanForm(formdata=None), InspectorForm(formdata=None), form, 422)
    data = upload.stream.read(MAX_CSV + 1)
    try:
        text = data.decode("utf-8") if len(data) <= MAX_CSV else ""
    except UnicodeDecodeError:
        text = ""
    if not text:
        form.file.errors = [_("Send a CSV file in UTF-8 of at most 2 MB.")]
        return _staff_page(PlanForm(formdata=None), InspectorForm(formdata=None), form, 422)
    try:
        done = spot_checks.import_entities(uow(), text, actor())
    except InvalidInput as err:
        status = show_refusal(form, err)
        return _staff_page(PlanForm(formdata=None), InspectorForm(formdata=None), form, status,
                           import_lines=getattr(err, "lines", []))
    except ServiceError as err:
        return _staff_page(PlanForm(formdata=None), InspectorForm(formdata=None), form, show_refusal(form, err))
    flash(_("%(added)s entities added, %(unchanged)s known already.", added=done.added, unchanged=done.unchanged),
          "success")
    return redirect(url_for("spot_checks.manage"))


@bp.post("/spot-checks/plans/<int:plan_id>/draw")
@roles_required("lead")
def draw(plan_id: int):
    form = DrawForm()
    if not form.validate_on_submit():
        return _staff_page(PlanForm(formdata=None), InspectorForm(formdata=None), ImportForm(formdata=None), 422)
    try:
        done = spot_checks.draw(uow(), plan_id, actor(), reason=form.reason.data)
    except ServiceError as err:
        from web.common import flash_service_error

        flash_service_error(err)
        return _staff_page(PlanForm(formdata=None), InspectorForm(formdata=None), ImportForm(formdata=None),
                           err.http_status)
    flash(_("Round %(round)s drawn: %(n)s entities, each with an inspection case.", round=done.round, n=done.items),
          "success")
    return redirect(url_for("spot_checks.manage"))
