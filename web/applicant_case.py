"""The applicant's own case page (办件详情), opened with the reference number and the look-up code: status in
words, history, the one-time notice with every missing item, supplements uploaded online, downloads.

A successful look-up (web.applicant.track) grants this browser session access to that one case for a while
(``APPLICANT_GRANT_TTL``, default two hours); without the grant every page here answers like an unknown case.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import TextAreaField
from wtforms.validators import Length

from forms.widgets import FileRefField, Optional
from services import applicant as applicant_service
from services import document_rendering, documents, file_types, files, materials
from services.errors import ServiceError
from storage.models import Case
from web import uploads
from web.common import flash_service_error, reader, uow
from web.files import stored_file_response

bp = Blueprint("applicant_case", __name__, url_prefix="/public/case")

GRANTS_KEY = "applicant_grants"
ITEM_PREFIX = "item__"
OTHER_FIELD = "item__other"


def grant(case_id: int) -> None:
    """Called after a successful look-up: this browser may open that case's pages for a while."""
    grants = {k: v for k, v in (session.get(GRANTS_KEY) or {}).items() if _fresh(v)}
    grants[str(case_id)] = time.time()
    session[GRANTS_KEY] = dict(list(grants.items())[-5:])  # a shared terminal keeps a few at most


def _fresh(at: Any) -> bool:
    ttl = float(current_app.config.get("APPLICANT_GRANT_TTL", 2 * 3600))
    try:
        return time.time() - float(at) < ttl
    except (TypeError, ValueError):
        return False


def _granted_case(session_db, reference: str) -> Case:
    case = session_db.execute(select(Case).where(Case.reference == reference.strip().upper())).scalar_one_or_none()
    if case is None or not _fresh((session.get(GRANTS_KEY) or {}).get(str(case.id))):
        abort(404)
    return case


class SupplementForm(FlaskForm):
    note = TextAreaField(lazy_gettext("Note to the window (optional)"), validators=[Length(max=2000)],
                         render_kw={"rows": 3})


def supplement_form_class(notice: applicant_service.Notice) -> type[SupplementForm]:
    """One upload per missing item of the notice, plus one for anything else the applicant sends."""
    accept = file_types.accept_attribute().split(",")
    attrs: dict[str, Any] = {
        ITEM_PREFIX + item.code: FileRefField(item.name, [Optional()], multiple=True, max_items=20, accept=accept,
                                              gettext=_)
        for item in notice.items
    }
    attrs[OTHER_FIELD] = FileRefField(lazy_gettext("Other materials"), [Optional()], multiple=True, max_items=20,
                                      accept=accept, gettext=_)
    return type("NoticeAnswerForm", (SupplementForm,), attrs)


def _received(form: SupplementForm, matter_code: str) -> list[materials.Received]:
    known = materials.matter_items(matter_code)
    out = []
    for field in uploads.file_fields(form):
        code = field.name[len(ITEM_PREFIX):]
        for ref in field.refs():
            if code in known:
                out.append(materials.Received(code, file_id=ref["file_id"]))
            else:  # "other", or an item the notice named in its own words
                out.append(materials.Received(materials.OTHER, file_id=ref["file_id"], label=str(field.label.text)))
    return out


@bp.route("/<reference>", methods=["GET", "POST"])
def case_page(reference: str):
    with reader() as r:
        case_id = _granted_case(r.session, reference).id
    document_rendering.settle(uow(), case_id)  # the documents are listed with their PDFs
    with reader() as r:
        case = _granted_case(r.session, reference)
        view = applicant_service.view(r.session, case)
    form = None
    status = 200
    if view.notice is not None:
        form = supplement_form_class(view.notice)()
        if form.is_submitted():
            uploads.ingest(form, actor=f"applicant:{case.applicant_credit_code or case.reference}",
                           limit=files.upload_limit(case.matter_code), case_id=case.id, purpose="supplement")
            if form.validate_on_submit():
                received = _received(form, case.matter_code)
                try:
                    applicant_service.submit_supplements(uow(), case.id, received, form.note.data or "")
                except ServiceError as err:
                    flash_service_error(err)
                    status = err.http_status
                else:
                    flash(_("Your supplements were received online; the window checks them now. No visit is "
                            "needed."), "success")
                    return redirect(url_for("applicant_case.case_page", reference=case.reference))
            else:
                status = 422
        else:
            with reader() as r:
                uploads.describe(form, r.session)
    with reader() as r:
        names = files.names_for(r.session, [{"file_id": m.file_id, "sha256": ""} for m in view.own_files])
    from web.applicant import OUTCOME, _matter_name_by_code
    from web.ratings import rating_summary

    return render_template(
        "applicant/case.html", view=view, form=form, file_rows=names, matter_label=_matter_name_by_code,
        rating=rating_summary(case),
        outcome_label=lambda v: OUTCOME.get(v, v) if v else "",
        item_fields=uploads.file_fields(form) if form is not None else [],
        upload_limit=files.human_size(files.upload_limit(case.matter_code)),
    ), status


@bp.get("/<reference>/documents/<int:document_id>")
def document(reference: str, document_id: int):
    """A document addressed to the applicant; the first download is its date of service (电子送达)."""
    with reader() as r:
        case = _granted_case(r.session, reference)
        case_id, actor = case.id, applicant_service.applicant_actor(case)
    document_rendering.settle(uow(), case_id)
    try:
        row = documents.applicant_download(uow(), case_id, document_id, actor)
    except ServiceError:
        abort(404)
    with reader() as r:
        stored = files.get(r.session, row.file_id)
        if stored is None:
            abort(404)
        path = r.files.path(stored.sha256)
    return stored_file_response(stored, path, inline=request.args.get("inline") == "1")


@bp.get("/<reference>/files/<file_id>")
def download(reference: str, file_id: str):
    with reader() as r:
        case = _granted_case(r.session, reference)
        row = files.get(r.session, file_id)
        if row is None or row.case_id != case.id or row.id not in applicant_service.visible_file_ids(
                r.session, case.id):
            abort(404)
        path = r.files.path(row.sha256)
    return stored_file_response(row, path, inline=request.args.get("inline") == "1")
