"""The case's official documents for the office: the stored PDF (the same bytes the applicant downloads),
and the signed-for date of a 送达回证 sent by post. Documents are rendered once, after the command that issued
them (services.document_rendering); a page waits for one still being rendered, never renders one twice."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from services import document_rendering, documents, files
from services.errors import ServiceError
from storage.models import Document
from web.common import actor, flash_service_error, reader, roles_required, uow
from web.files import stored_file_response
from web.handler import WORK_ROLES, viewable_case

bp = Blueprint("documents", __name__)


def _document(session, case_id: int, document_id: int) -> Document:
    row = session.get(Document, document_id)
    if row is None or row.case_id != case_id:
        abort(404)
    return row


@bp.get("/cases/<int:case_id>/documents/<int:document_id>.pdf")
@roles_required(*WORK_ROLES, "supervisor")
def pdf(case_id: int, document_id: int) -> Response:
    """Inline (the browser's viewer prints it) or, with ?download=1, as an attachment: the stored bytes with the
    headers of every file download (web.files: UTF-8 file name in Content-Disposition, no sniffing)."""
    document_rendering.settle(uow(), case_id)
    with viewable_case(case_id) as (_case, session):
        row = _document(session, case_id, document_id)
        stored = files.get(session, row.file_id)
        if stored is None:
            abort(404)
        session.expunge(stored)
    with reader() as r:
        path = r.files.path(stored.sha256)
    return stored_file_response(stored, path, inline=request.args.get("download") != "1")


@bp.post("/cases/<int:case_id>/documents/<int:document_id>/signed-for")
@roles_required("window")
def signed_for(case_id: int, document_id: int):
    """The returned 送达回证 of a post delivery: the date the applicant signed for the documents."""
    with viewable_case(case_id) as (_case, session):
        _document(session, case_id, document_id)
    raw = (request.form.get("signed_on") or "").strip()
    try:
        signed_on = date.fromisoformat(raw)
    except ValueError:
        flash(_("Enter the signed-for date as a date (YYYY-MM-DD)."), "error")
        return redirect(url_for("handler.case", case_id=case_id, _anchor="documents"))
    try:
        documents.record_signed_for(uow(), document_id, signed_on, actor())
    except ServiceError as err:
        flash_service_error(err)
        for message in getattr(err, "errors", {}).values():
            flash(_(message), "error")
    else:
        flash(_("The date of service %(date)s is recorded.", date=signed_on.isoformat()), "success")
    return redirect(url_for("handler.case", case_id=case_id, _anchor="documents"))
