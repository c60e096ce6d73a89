"""投诉举报 pages, public: the complaint form (anonymous or named, with attachments), the reference number and
look-up code shown once, and the follow-up page (reference + code → stage, reply). Failed look-ups are counted and
slowed like the case look-up (services.lookup_guard). Rules live in services/complaints.py."""

from __future__ import annotations

import re
import time

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from forms.widgets import FileRefField, Optional, choices
from services import complaints, file_types, files, lookup_guard
from services.errors import ServiceError
from web import uploads
from web.applicant import LookupForm, _lookup_policy
from web.common import reader, show_refusal, uow
from web.i18n import current_language

bp = Blueprint("complaints", __name__, url_prefix="/public/complaints")

REQUIRED = _l("This field is required.")
KIND = {"complaint": _l("Complaint about our service (投诉)"), "report": _l("Report of a violation (举报)")}
STAGE = {"registration": _l("Received, being registered"), "investigation": _l("Being investigated"),
         "reply": _l("The reply is being written"), "closed": _l("Answered")}
RESULT = {"substantiated": _l("Substantiated and dealt with"),
          "partly_substantiated": _l("Partly substantiated and dealt with"),
          "unsubstantiated": _l("Not substantiated"), "not_accepted": _l("Not accepted")}
TOKEN_KEY = "complaint_upload_token"
RECEIPT_KEY = "complaint_receipt"
ATTACHMENT_LIMIT = 20 * 1024 * 1024


def _matter_choices() -> list:
    from workflows.catalog import shipped_catalog

    zh = current_language() == "zh_CN"
    return choices([("", _("Not about a particular matter"))] + [
        (m.code, m.name_zh if zh else m.name_en or m.name_zh) for m in shipped_catalog().matters])


class ComplaintForm(FlaskForm):
    kind = RadioField(_l("Type"), choices=choices(list(KIND.items())), validators=[InputRequired(REQUIRED)])
    subject = StringField(_l("Subject"), validators=[InputRequired(REQUIRED), Length(max=complaints.MAX_SUBJECT)])
    content = TextAreaField(_l("What happened"), validators=[InputRequired(REQUIRED),
                                                             Length(max=complaints.MAX_CONTENT)],
                            render_kw={"rows": 6}, description=_l("Where, when, who; what you ask for."))
    matter_code = SelectField(_l("Matter concerned"), validators=[Optional()])
    case_reference = StringField(_l("Reference number of the application concerned"),
                                 validators=[Optional(), Length(max=40)])
    attachments = FileRefField(_l("Attachments"), [Optional()], multiple=True, max_items=10,
                               accept=file_types.accept_attribute().split(","), gettext=_)
    anonymous = BooleanField(_l("Stay anonymous (no name or contact is kept; read the reply here)"))
    name = StringField(_l("Your name"), validators=[Length(max=100)])
    phone = StringField(_l("Phone"), validators=[Length(max=40)])
    email = StringField(_l("E-mail (optional)"), validators=[Length(max=200)])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.matter_code.choices = _matter_choices()


def _token() -> str:
    """Uploads made before the case exists belong to this browser session only (web.uploads.owner_token)."""
    return uploads.owner_token(TOKEN_KEY)


@bp.route("", methods=["GET", "POST"])
def new():
    form = ComplaintForm()
    status = 200
    token = _token()
    if form.is_submitted():
        uploads.ingest(form, actor="public", limit=ATTACHMENT_LIMIT, owner_token=token, purpose="complaint")
    if form.validate_on_submit():
        anonymous = bool(form.anonymous.data)
        complaint = complaints.Complaint(
            kind=form.kind.data, subject=form.subject.data or "", content=form.content.data or "",
            anonymous=anonymous, name=(form.name.data or "").strip() or None,
            phone=re.sub(r"\s", "", form.phone.data or "") or None, email=(form.email.data or "").strip() or None,
            matter_code=form.matter_code.data or None, case_reference=form.case_reference.data or None)
        try:
            reg = complaints.submit(uow(), complaint, attachments=form.attachments.refs(), owner_token=token)
        except ServiceError as err:
            status = show_refusal(form, err)
        else:
            session[RECEIPT_KEY] = {"reference": reg.reference, "lookup_code": reg.lookup_code, "at": time.time()}
            session.pop(TOKEN_KEY, None)
            return redirect(url_for("complaints.submitted"))
    elif form.is_submitted():
        status = 422
    return render_template("complaints/new.html", form=form,
                           upload_limit=files.human_size(ATTACHMENT_LIMIT)), status


@bp.get("/submitted")
def submitted():
    receipt = session.get(RECEIPT_KEY)
    ttl = float(current_app.config.get("APPLICANT_RECEIPT_TTL", 30 * 60))
    if not receipt or time.time() - float(receipt.get("at", 0)) > ttl:
        session.pop(RECEIPT_KEY, None)
        return redirect(url_for("complaints.new"))
    return render_template("complaints/submitted.html", receipt=receipt)


@bp.route("/track", methods=["GET", "POST"])
def track():
    form = LookupForm()
    result = None
    problem = None
    status = 200
    if form.validate_on_submit():
        policy = _lookup_policy()
        wait = lookup_guard.retry_after(uow(), request.remote_addr, policy)
        if wait:
            status = 429
            problem = _("Too many failed look-ups from your connection. Try again in %(minutes)s minutes.",
                        minutes=max(1, int(wait // 60) + (1 if wait % 60 else 0)))
        else:
            with reader() as r:
                result = complaints.find(r.session, form.reference.data, form.lookup_code.data)
            if result is None:
                delay = lookup_guard.record_failure(uow(), request.remote_addr, form.reference.data, policy)
                if delay:
                    time.sleep(delay)
                status = 404
                problem = _("No complaint matches this reference number and lookup code. Check both and try again.")
    elif form.is_submitted():
        status = 422
    return render_template("complaints/track.html", form=form, result=result, problem=problem, stage=STAGE,
                           result_label=RESULT), status
