"""The case file page (卷宗) and its ZIP: ``/cases/<id>/file`` and ``/cases/<id>/file.zip``.

The assembling is services.case_file (read model) and services.case_archive (the archive); this module only
checks access and renders.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from services import case_archive, case_file, document_rendering
from web.common import roles_required, uow
from web.files import content_disposition
from web.i18n import current_language

bp = Blueprint("case_file", __name__)

VIEW_ROLES = ("handler", "window", "lead", "supervisor")
ARCHIVE_LOCALE = "zh_CN"  # the archive is the department's record: its index is always in Chinese
REQUIREMENT = {"required": _l("Required"), "conditional": _l("If applicable"), "other": _l("Other material")}
MATERIAL_FORM = {"original": _l("Original"), "copy": _l("Copy"), "electronic": _l("Electronic")}


def size_text(n: int) -> str:
    """A file size as people read it: 812 B, 3.0 KB, 200.0 MB."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    """Texts of the case file's codes, shared by the case file page, the task pages and the archive index."""
    return {
        "cf_size": size_text,
        "cf_how": lambda receipt: case_archive.how_text(receipt, _),
        "cf_person": lambda person: case_archive.person_text(person, _),
        "cf_requirement": lambda code: REQUIREMENT.get(code, code),
        "cf_material_form": lambda code: MATERIAL_FORM.get(code, code),
    }


def load_case_file(case_id: int, locale: str | None = None):
    """(case, case file) for a case the user may see, else 404/403."""
    from web.handler import viewable_case

    document_rendering.settle(uow(), case_id)  # the documents with their PDFs
    with viewable_case(case_id) as (case, session):
        return case, case_file.load(session, case, locale=locale or current_language())


@bp.get("/cases/<int:case_id>/file")
@roles_required(*VIEW_ROLES)
def page(case_id: int):
    case, cf = load_case_file(case_id)
    return render_template("handler/case_file.html", case=case, cf=cf)


@bp.get("/cases/<int:case_id>/file.zip")
@roles_required(*VIEW_ROLES)
def archive(case_id: int):
    case, cf = load_case_file(case_id, ARCHIVE_LOCALE)
    with force_locale(ARCHIVE_LOCALE):
        plan = case_archive.plan(cf, _)
        index_html = render_template(
            "handler/case_file_index.html", case=case, cf=cf, plan=plan,
            link=lambda file_id: quote(plan.path_of(file_id) or ""),
        ).encode("utf-8")
        index_csv = case_archive.index_csv(plan.rows, _)
        name = _("Case file %(ref)s", ref=case.reference) + ".zip"
    store = current_app.extensions["runonce.files"]
    body = case_archive.stream(store, plan, [("index.html", index_html), ("index.csv", index_csv)])
    response = Response(body, mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Disposition"] = content_disposition("attachment", name)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
