"""Credit records for staff: the panel on the window's receipt and the handler's case and task pages (template
global ``credit_records_for``), and the list for supervisors and leads with a CSV export; leads record findings.
Rules (who sees, who records) live in services/credit.py."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from forms.widgets import choices
from services import clock, credit
from services.errors import ServiceError
from web.common import actor, reader, roles_required, show_refusal, uow
from web.validators import unified_credit_code

bp = Blueprint("credit", __name__, url_prefix="/credit")

REQUIRED = _l("This field is required.")
KIND = {"false_materials": _l("False materials"),
        "deception": _l("Licence refused or revoked for deception"),
        "inspection_failure": _l("Violation found in a spot check"),
        "other": _l("Other breach of trust")}


@bp.app_template_global()
def credit_records_for(code: str | None) -> list[Any]:
    """The unexpired records of a credit code, for the signed-in staff member; [] for anyone else."""
    if not code or not getattr(current_user, "is_authenticated", False):
        return []
    with reader() as r:
        return credit.active_for(r.session, code, current_user.actor)


@bp.app_template_global()
def credit_kind_label(kind: str) -> str:
    return str(KIND.get(kind, kind))


class CreditRecordForm(FlaskForm):
    credit_code = StringField(_l("Unified social credit code"), validators=[InputRequired(REQUIRED),
                                                                          unified_credit_code])
    subject_name = StringField(_l("Name of the enterprise or organisation"),
                               validators=[InputRequired(REQUIRED), Length(max=200)])
    kind = SelectField(_l("Type"), choices=choices(list(KIND.items())), validators=[InputRequired(REQUIRED)])
    finding = TextAreaField(_l("Finding"), validators=[InputRequired(REQUIRED), Length(max=4000)],
                            render_kw={"rows": 3})
    source = StringField(_l("Source (case reference, decision number)"),
                         validators=[InputRequired(REQUIRED), Length(max=200)])
    recorded_on = DateField(_l("Date of the finding"), validators=[InputRequired(REQUIRED)])
    expires_on = DateField(_l("Valid until"), validators=[InputRequired(REQUIRED)])


@bp.route("/", methods=["GET", "POST"])
@roles_required("supervisor", "lead")
def index():
    me = actor()
    form = CreditRecordForm()
    if not form.is_submitted():
        today = clock.today()
        form.recorded_on.data = today
        form.expires_on.data = today + timedelta(days=3 * 365)
    status = 200
    if request.method == "POST" and me.has_role("lead", "admin"):
        if form.validate_on_submit():
            rec = credit.NewRecord(form.credit_code.data.strip().upper(), form.subject_name.data, form.kind.data,
                                   form.finding.data, form.source.data, form.recorded_on.data, form.expires_on.data)
            try:
                credit.record(uow(), rec, me)
            except ServiceError as err:
                status = show_refusal(form, err)
            else:
                return redirect(url_for("credit.index"))
        else:
            status = 422
    elif request.method == "POST":
        status = 403
    code = (request.args.get("code") or "").strip()[:18]
    with reader() as r:
        rows = credit.listing(r.session, me, code=code or None)
    return render_template("credit/index.html", rows=rows, form=form, code=code, today=clock.today(),
                           may_record=me.has_role("lead", "admin")), status


@bp.get("/check")
@roles_required("window", "handler", "lead", "supervisor")
def check():
    """The unexpired records of a credit code as JSON, for the window's registration form (web/static/credit.js)."""
    code = (request.args.get("code") or "").strip().upper()[:18]
    with reader() as r:
        rows = credit.active_for(r.session, code, actor()) if len(code) == 18 else []
    return jsonify({"records": [
        {"kind": credit_kind_label(row.kind), "finding": row.finding, "source": row.source,
         "recorded_on": row.recorded_on.isoformat(), "expires_on": row.expires_on.isoformat()} for row in rows]})


@bp.get("/export.csv")
@roles_required("supervisor", "lead")
def export():
    with reader() as r:
        rows = credit.listing(r.session, actor())
    body = "\ufeff" + credit.export_csv(rows)  # a BOM, so that spreadsheet programs read the Chinese as UTF-8
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="credit-records-{date.today().isoformat()}.csv"'})


