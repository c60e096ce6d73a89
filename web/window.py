"""The approval office window: register an application and print its receipt (the PDF issued with it)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField, ValidationError
from wtforms.validators import Email, InputRequired, Length
from wtforms.validators import Optional as OptionalValue

from forms.widgets import choices
from services import cases, document_rendering, documents, materials
from services.errors import ServiceError
from web.common import actor, roles_required, show_refusal, uow
from web.handler import load_catalog_cached, matter_choices, viewable_case
from web.i18n import current_language
from web.validators import phone_number, unified_credit_code

bp = Blueprint("window", __name__)

CHANNELS = (
    ("window", lazy_gettext("At the window")),
    ("post", lazy_gettext("By post")),
    ("online", lazy_gettext("Online")),
)
DELIVERY_MODES = (
    ("window", lazy_gettext("Collect at the window")),
    ("post", lazy_gettext("Delivery by post")),
    ("online", lazy_gettext("Download online")),
)
# Start data some matters need (workflow variable → choices), keyed by the matter's process.
REPORT_TYPES = (
    ("report", lazy_gettext("Environmental impact report (报告书)")),
    ("table", lazy_gettext("Environmental impact form (报告表)")),
)
REQUIRED = lazy_gettext("This field is required.")

class RegisterForm(FlaskForm):
    matter = SelectField(lazy_gettext("Matter"), validators=[InputRequired(REQUIRED)])
    report_type = RadioField(
        lazy_gettext("Type of EIA document"), choices=choices(REPORT_TYPES), validate_choice=False
    )
    applicant_name = StringField(
        lazy_gettext("Applicant (enterprise or organisation)"),
        validators=[InputRequired(REQUIRED), Length(max=200)],
    )
    applicant_credit_code = StringField(
        lazy_gettext("Unified social credit code"),
        validators=[InputRequired(REQUIRED), unified_credit_code],
        render_kw={"maxlength": 18, "autocomplete": "off"},
    )
    applicant_contact = StringField(
        lazy_gettext("Contact person"), validators=[InputRequired(REQUIRED), Length(max=100)]
    )
    applicant_phone = StringField(lazy_gettext("Phone"), validators=[InputRequired(REQUIRED), phone_number])
    applicant_email = StringField(
        lazy_gettext("E-mail"),
        validators=[OptionalValue(), Email(lazy_gettext("Enter a valid e-mail address."))],
    )
    applicant_address = TextAreaField(
        lazy_gettext("Postal address"), validators=[Length(max=300)], render_kw={"rows": 2}
    )
    channel = RadioField(
        lazy_gettext("Application channel"),
        choices=choices(CHANNELS),
        default="window",
        validators=[InputRequired(REQUIRED)],
    )
    delivery_mode = RadioField(
        lazy_gettext("Delivery of the result"),
        choices=choices(DELIVERY_MODES),
        default="post",
        validators=[InputRequired(REQUIRED)],
    )

    def validate_report_type(self, field: RadioField) -> None:
        if self.matter.data in report_type_matters() and field.data not in dict(REPORT_TYPES):
            raise ValidationError(_("Choose whether an EIA report or an EIA form is submitted."))

    def validate_delivery_mode(self, field: RadioField) -> None:
        matter = find_matter(self.matter.data)
        offers = getattr(matter, "offers", None)
        if matter is not None and offers is not None and not offers(self.channel.data, field.data):
            raise ValidationError(
                _(
                    "This matter is not offered with this combination of application channel and "
                    "delivery; choose another."
                )
            )

    def validate_applicant_address(self, field: TextAreaField) -> None:
        if self.delivery_mode.data == "post" and not (field.data or "").strip():
            raise ValidationError(_("Delivery by post needs the postal address."))


def report_type_matters() -> set[str]:
    """Matters whose time limit depends on the EIA document type (start data key report_type)."""
    catalog = load_catalog_cached()
    return {m.code for m in catalog.matters if getattr(m, "statutory_limit_by_report_type", None)}


def find_matter(code: str | None):
    catalog = load_catalog_cached()
    if not code:
        return None
    try:
        return catalog.matter(code)
    except KeyError:
        return None


PAPER_CHOICES = (
    ("", lazy_gettext("not received")),
    ("original", lazy_gettext("original")),
    ("copy", lazy_gettext("copy")),
)


def ticked_materials(matter_code: str | None) -> list[materials.Received]:
    """The chosen matter's items ticked as received on paper (other matters' ticks are ignored)."""
    matter = find_matter(matter_code)
    if matter is None:
        return []
    out = []
    for item in matter.materials:
        value = request.form.get(f"paper__{matter.code}__{item.code}", "")
        if value in ("original", "copy"):
            out.append(materials.Received(item.code, paper_form=value, copies=item.copies))
    return out


@bp.route("/cases/new", methods=["GET", "POST"])
@roles_required("window")
def register():
    form = RegisterForm()
    form.matter.choices = choices([("", _("— choose —")), *matter_choices()])
    status = 200
    if form.validate_on_submit():
        start: dict[str, Any] = {}
        if form.matter.data in report_type_matters():
            start["report_type"] = form.report_type.data
        applicant = cases.Applicant(
            name=form.applicant_name.data.strip(),
            credit_code=form.applicant_credit_code.data or None,
            contact=form.applicant_contact.data.strip(),
            phone=re.sub(r"\s", "", form.applicant_phone.data),
            email=(form.applicant_email.data or "").strip() or None,
            address=(form.applicant_address.data or "").strip() or None,
        )
        try:
            registration = cases.register_case(
                uow(),
                matter_code=form.matter.data,
                applicant=applicant,
                channel=form.channel.data,
                delivery_mode=form.delivery_mode.data,
                actor=actor(),
                data=start,
                received=ticked_materials(form.matter.data),
            )
        except ServiceError as err:
            status = show_refusal(form, err)
        else:
            return redirect(url_for("window.receipt", case_id=registration.case_id))
    elif form.is_submitted():
        status = 422
    return render_template(
        "window/register.html", form=form, eia_matters=sorted(report_type_matters()),
        materials_by_matter=load_catalog_cached().matters, paper_choices=PAPER_CHOICES,
        service_modes={m.code: [f"{s.channel}/{s.delivery_mode}" for s in m.service_modes]
                       for m in load_catalog_cached().matters},
        ticked={k: v for k, v in request.form.items() if k.startswith("paper__")}, lang=current_language(),
    ), status


def _matter_name(code: str) -> str:
    return dict(matter_choices()).get(code, code)


@bp.get("/cases/<int:case_id>/receipt")
@roles_required("window", "supervisor")
def receipt(case_id: int):
    """After registration: the reference and look-up code, and the 收件回执 as issued (PDF) to print."""
    document_rendering.settle(uow(), case_id)
    with viewable_case(case_id) as (case, session):
        issued = [d for d in documents.case_documents(session, case.id) if d.kind == "receipt"]
    return render_template(
        "window/receipt.html",
        case=case,
        matter_name=_matter_name(case.matter_code),
        receipt=issued[0] if issued else None,
    )
