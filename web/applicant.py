"""Pages for applicants (citizens and enterprises), no sign-in: apply online (网上申请), look a case up (办件查询).

Applying: the matters whose catalog service modes offer the online channel, each with the delivery modes offered
together with it. The case is registered by ``services.cases.register_case`` with ``channel="online"`` as the
actor ``applicant:<credit code>`` (role ``applicant``); the reference number and the lookup code are shown once
after a redirect (kept in the applicant's own session, so a reload does not submit twice).

Looking up: reference number + lookup code. A wrong code answers exactly like an unknown reference (same page,
same status), so neither reveals whether a reference exists; failed look-ups are slowed per client address and
per reference, and a client address with too many failures is refused for a while (``services.lookup_guard``:
counted in the database, so every worker process sees the same counts).
"""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, RadioField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, Email, InputRequired, Length

from forms.widgets import FileRefField, Optional, Required, choices
from services import cases, file_types, files, lookup_guard, materials
from services.actors import Actor
from services.errors import ServiceError
from services.processes import is_application
from storage.models import Case, HumanTask
from web import labels, uploads
from web.common import reader, show_refusal, uow
from web.i18n import current_language
from web.validators import phone_number, unified_credit_code

bp = Blueprint("applicant", __name__, url_prefix="/public")

ONLINE = "online"
REQUIRED = lazy_gettext("This field is required.")
REPORT_TYPES = (
    ("report", lazy_gettext("Environmental impact report (报告书)")),
    ("table", lazy_gettext("Environmental impact form (报告表)")),
)
# What an applicant is told about the outcome; filings end as filed/returned, which the staff labels lack.
OUTCOME = {
    **labels.OUTCOME,
    "filed": lazy_gettext("Filed"),
    "returned": lazy_gettext("Returned"),
}
# Status as the applicant sees it: a case stopped by an error is still being handled by the department.
STATUS = {**labels.CASE_STATUS, "incident": labels.CASE_STATUS["active"]}
RECEIPT_KEY = "applicant_receipt"


# -- the catalog: matters that can be applied for online ------------------------------------------------------------


def _catalog():
    from workflows.catalog import shipped_catalog

    return shipped_catalog()


def online_matters() -> list[Any]:
    return [m for m in _catalog().matters if any(sm.channel == ONLINE for sm in m.service_modes)]


def online_delivery_modes(matter: Any) -> list[str]:
    """Delivery modes offered together with the online channel, in the order of the choices."""
    offered = {sm.delivery_mode for sm in matter.service_modes if sm.channel == ONLINE}
    return [code for code in ("online", "post", "window") if code in offered]


def _online_matter(code: str) -> Any:
    for matter in online_matters():
        if matter.code == code:
            return matter
    abort(404)


def matter_name(matter: Any) -> str:
    return matter.name_zh if current_language() == "zh_CN" else (matter.name_en or matter.name_zh)


def _matter_name_by_code(code: str) -> str:
    try:
        return matter_name(_catalog().matter(code))
    except KeyError:
        return code


# -- applying --------------------------------------------------------------------------------------------------------


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class OnlineApplicationForm(FlaskForm):
    applicant_name = StringField(
        lazy_gettext("Enterprise or organisation name"),
        validators=[DataRequired(REQUIRED), Length(max=200)],
        filters=[_strip],
    )
    applicant_credit_code = StringField(
        lazy_gettext("Unified social credit code"),
        validators=[InputRequired(REQUIRED), unified_credit_code],
        render_kw={"maxlength": 18, "autocomplete": "off", "spellcheck": "false"},
        description=lazy_gettext("18 characters, as on the business licence."),
    )
    applicant_contact = StringField(
        lazy_gettext("Contact person"), validators=[DataRequired(REQUIRED), Length(max=100)], filters=[_strip]
    )
    applicant_phone = StringField(
        lazy_gettext("Phone"),
        validators=[DataRequired(REQUIRED), phone_number],
        filters=[_strip],
        render_kw={"autocomplete": "tel"},
    )
    applicant_email = StringField(
        lazy_gettext("E-mail"),
        validators=[
            DataRequired(REQUIRED),
            Email(lazy_gettext("Enter a valid e-mail address.")),
            Length(max=200),
        ],
        filters=[_strip],
        render_kw={"autocomplete": "email"},
    )
    applicant_address = TextAreaField(
        lazy_gettext("Postal address"), validators=[Length(max=300)], filters=[_strip], render_kw={"rows": 2}
    )
    email_consent = BooleanField(
        lazy_gettext("Send me e-mail at each step that needs me (missing materials, acceptance, result ready)"),
        default=True,
    )
    delivery_mode = RadioField(
        lazy_gettext("Delivery of the result"), validators=[InputRequired(REQUIRED)], validate_choice=False
    )
    report_type = RadioField(
        lazy_gettext("Type of EIA document"), choices=choices(REPORT_TYPES), validate_choice=False
    )

    def __init__(self, matter: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.matter = matter
        modes = online_delivery_modes(matter)
        self.delivery_mode.choices = choices([(code, labels.DELIVERY[code]) for code in modes])
        if len(modes) == 1 and not self.delivery_mode.data:
            self.delivery_mode.data = modes[0]
        self.needs_report_type = bool(matter.statutory_limit_by_report_type)

    def validate_delivery_mode(self, field: RadioField) -> None:
        if field.data not in online_delivery_modes(self.matter):
            raise ValidationError(_("Choose one of the offered delivery modes."))

    def validate_report_type(self, field: RadioField) -> None:
        if self.needs_report_type and field.data not in dict(REPORT_TYPES):
            raise ValidationError(_("Choose whether an EIA report or an EIA form is submitted."))

    def validate_applicant_address(self, field: TextAreaField) -> None:
        if self.delivery_mode.data == "post" and not field.data:
            raise ValidationError(_("Delivery by post needs the postal address."))


@bp.get("/")
def index():
    from web.public_info import information_column, run_once_month

    rows = [(m, online_delivery_modes(m)) for m in online_matters()]
    return render_template("applicant/index.html", rows=rows, matter_name=matter_name,
                           column=information_column(), run_once_month=run_once_month)


MATERIAL_PREFIX = "material__"
UPLOAD_TOKEN_KEY = "applicant_upload_token"


def material_label(item: Any) -> str:
    return item.name_zh if current_language() == "zh_CN" else (item.name_en or item.name_zh)


def material_help(item: Any) -> str:
    """Required or the condition, the form the office needs, and the note: what the applicant must know."""
    parts = []
    condition = item.condition_zh if current_language() == "zh_CN" else (item.condition_en or item.condition_zh)
    if item.requirement == "conditional" and condition:
        parts.append(_("Needed when: %(condition)s", condition=condition))
    if item.note_zh and current_language() == "zh_CN":
        parts.append(item.note_zh)
    return "；".join(parts)


def application_form_class(matter: Any) -> type[OnlineApplicationForm]:
    """The application form with one upload per item of the matter's materials list (申请材料目录)."""
    attrs: dict[str, Any] = {}
    for item in matter.materials:
        checks = [Required(_)] if item.requirement == "required" else [Optional()]
        attrs[MATERIAL_PREFIX + item.code] = FileRefField(
            material_label(item), checks, multiple=True, max_items=20, gettext=_,
            accept=file_types.accept_attribute().split(","), description=material_help(item),
        )
    return type("MatterApplicationForm", (OnlineApplicationForm,), attrs)


def material_fields(form: FlaskForm) -> list[FileRefField]:
    return [f for f in form if f.name.startswith(MATERIAL_PREFIX)]


def _upload_token() -> str:
    """Uploads made before the case exists belong to this browser session only (web.uploads.owner_token)."""
    return uploads.owner_token(UPLOAD_TOKEN_KEY)


@bp.route("/apply/<code>", methods=["GET", "POST"])
def apply(code: str):
    matter = _online_matter(code)
    form = application_form_class(matter)(matter)
    status = 200
    token = _upload_token()
    if form.is_submitted():
        uploads.ingest(form, actor="applicant", limit=matter.max_upload_bytes, owner_token=token,
                       purpose="material")
    if form.validate_on_submit():
        credit = form.applicant_credit_code.data
        applicant = cases.Applicant(
            name=form.applicant_name.data.strip(),
            credit_code=credit,
            contact=form.applicant_contact.data.strip(),
            phone=re.sub(r"\s", "", form.applicant_phone.data),
            email=form.applicant_email.data.strip(),
            address=(form.applicant_address.data or "").strip() or None,
            email_consent=bool(form.email_consent.data),
        )
        received = [
            materials.Received(field.name[len(MATERIAL_PREFIX):], file_id=ref["file_id"])
            for field in material_fields(form) for ref in field.refs()
        ]
        start = {"report_type": form.report_type.data} if form.needs_report_type else {}
        try:
            registration = cases.register_case(
                uow(),
                matter_code=matter.code,
                applicant=applicant,
                channel=ONLINE,
                delivery_mode=form.delivery_mode.data,
                actor=Actor(username=f"applicant:{credit}", roles=frozenset({"applicant"})),
                data=start,
                received=received,
                owner_token=token,
            )
        except ServiceError as err:
            status = show_refusal(form, err)
        else:
            session[RECEIPT_KEY] = {
                "reference": registration.reference,
                "lookup_code": registration.lookup_code,
                "matter": matter.code,
                "at": time.time(),
                "materials": [[field.label.text, [field.file_names.get(r["file_id"], "") for r in field.refs()]]
                              for field in material_fields(form) if field.refs()],
            }
            session.pop(UPLOAD_TOKEN_KEY, None)
            return redirect(url_for("applicant.submitted"))
    elif form.is_submitted():
        status = 422
    return render_template(
        "applicant/apply.html", form=form, matter=matter, matter_name=matter_name,
        material_fields=material_fields(form), upload_limit=files.human_size(matter.max_upload_bytes),
    ), status


@bp.get("/submitted")
def submitted():
    receipt = session.get(RECEIPT_KEY)
    # Shown for a while only: on a shared computer (a self-service terminal in the hall) the next person must
    # not find the previous applicant's lookup code.
    ttl = float(current_app.config.get("APPLICANT_RECEIPT_TTL", 30 * 60))
    if not receipt or time.time() - float(receipt.get("at", 0)) > ttl:
        session.pop(RECEIPT_KEY, None)
        return redirect(url_for("applicant.index"))
    return render_template(
        "applicant/submitted.html", receipt=receipt, matter_name=_matter_name_by_code(receipt["matter"])
    )


# -- looking a case up -----------------------------------------------------------------------------------------------


def _lookup_policy() -> lookup_guard.LookupPolicy:
    config = current_app.config
    return lookup_guard.LookupPolicy(
        window=timedelta(seconds=float(config.get("APPLICANT_LOOKUP_WINDOW", 15 * 60))),
        limit=int(config.get("APPLICANT_LOOKUP_LIMIT", 10)),
        free=int(config.get("APPLICANT_LOOKUP_FREE", 3)),
        delay=float(config.get("APPLICANT_LOOKUP_DELAY", 1.0)),
        delay_max=float(config.get("APPLICANT_LOOKUP_DELAY_MAX", 5.0)),
    )


def _normalise_reference(value: str | None) -> str:
    return re.sub(r"\s", "", value or "").upper()


class LookupForm(FlaskForm):
    reference = StringField(
        lazy_gettext("Reference number"),
        validators=[DataRequired(REQUIRED), Length(max=40)],
        filters=[_normalise_reference],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    lookup_code = StringField(
        lazy_gettext("Lookup code"),
        validators=[DataRequired(REQUIRED), Length(max=20)],
        filters=[_normalise_reference],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
        description=lazy_gettext("On your receipt, next to the reference number."),
    )


@dataclass
class CaseStatus:
    case_id: int
    reference: str
    matter: str
    applicant_name: str
    submitted_at: datetime
    channel: str
    delivery_mode: str
    status: str
    current_steps: list[str]
    completed_steps: list[tuple[str, datetime | None]]
    accepted_on: date | None
    due_on: date | None
    promised_due_on: date | None
    outcome: str | None
    completed_at: datetime | None
    tracking_no: str | None
    carrier: str | None
    posted_date: str | None


_DUMMY_CODE = "0" * 8


def find_case(reference: str, code: str) -> CaseStatus | None:
    """The case with this reference whose lookup code matches, else None (either way the same work)."""
    with reader() as r:
        s = r.session
        case = s.execute(select(Case).where(Case.reference == reference)).scalar_one_or_none()
        stored = case.lookup_code.upper() if case is not None else _DUMMY_CODE
        matches = hmac.compare_digest(stored.encode(), code.encode())
        # the department's own processes (complaints: /public/complaints/track) are not applications
        if case is None or not matches or not is_application(case.matter_code):
            return None
        tasks = list(
            s.execute(
                select(HumanTask)
                .where(HumanTask.case_id == case.id)
                .order_by(HumanTask.created_at, HumanTask.id)
            ).scalars()
        )
        posted = _posted(case)
        return CaseStatus(
            case_id=case.id,
            reference=case.reference,
            matter=_matter_name_by_code(case.matter_code),
            applicant_name=case.applicant_name,
            submitted_at=case.created_at,
            channel=case.channel,
            delivery_mode=case.delivery_mode,
            status=case.status,
            # Step titles only (the BPMN names shown to staff), never element ids or lanes' internals.
            current_steps=list(dict.fromkeys(t.title for t in tasks if t.state == "ready")),
            completed_steps=sorted(
                ((t.title, t.completed_at) for t in tasks if t.state == "completed"),
                key=lambda step: (step[1] is None, step[1] or datetime.min),
            ),
            accepted_on=case.accepted_on,
            due_on=case.due_on,
            promised_due_on=case.promised_due_on,
            outcome=case.outcome,
            completed_at=case.completed_at,
            tracking_no=posted.get("tracking_no"),
            carrier=posted.get("carrier"),
            posted_date=posted.get("posted_date"),
        )


def _posted(case: Case) -> dict[str, Any]:
    """Tracking number, carrier and date of a result sent by post, once the post step recorded them."""
    if case.delivery_mode != "post" or not case.state:
        return {}
    from engine import runtime
    from services.cases import case_workflow

    try:
        data = runtime.workflow_data(case_workflow(case))
    except Exception:  # noqa: BLE001 - a damaged state must not break the look-up page
        current_app.logger.exception("case %s: state could not be read for the look-up page", case.id)
        return {}
    return {key: str(data[key]) for key in ("tracking_no", "carrier", "posted_date") if data.get(key)}


@bp.route("/track", methods=["GET", "POST"])
def track():
    form = LookupForm()
    result: CaseStatus | None = None
    problem: str | None = None
    status = 200
    if form.validate_on_submit():
        policy = _lookup_policy()
        wait = lookup_guard.retry_after(uow(), request.remote_addr, policy)
        if wait:
            status = 429
            problem = _(
                "Too many failed look-ups from your connection. Try again in %(minutes)s minutes.",
                minutes=max(1, int(wait // 60) + (1 if wait % 60 else 0)),
            )
        else:
            result = find_case(form.reference.data, form.lookup_code.data)
            if result is not None:
                from web.applicant_case import grant

                grant(result.case_id)
            if result is None:
                delay = lookup_guard.record_failure(uow(), request.remote_addr, form.reference.data, policy)
                if delay:
                    time.sleep(delay)
                status = 404
                problem = _(
                    "No case matches this reference number and lookup code. Check both on your "
                    "receipt and try again."
                )
    elif form.is_submitted():
        status = 422
    return render_template(
        "applicant/track.html",
        form=form,
        result=result,
        problem=problem,
        status_label=lambda v: STATUS.get(v, v),
        outcome_label=lambda v: OUTCOME.get(v, v) if v else "",
    ), status
