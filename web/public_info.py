"""The information column (信息公开栏) and the service guides (办事指南), public, no sign-in.

``/public/`` (web/applicant.py) lists every matter with its run-once status, modes and links here;
``/public/guide/<code>`` is the matter's guide, ``/public/guide/<code>.pdf`` the same guide printable,
``/public/guide/<code>/diagram.bpmn`` the deployed diagram the guide's flowchart shows read-only. Everything comes
from ``services.guide`` (catalog + deployed diagram): nothing here is typed a second time.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import lazy_gettext as _l

from engine.pool import JobFailed, PoolBusy, WorkerLost
from services import documents, guide
from web.common import reader
from web.i18n import current_language

bp = Blueprint("public_info", __name__, url_prefix="/public")

MATERIAL_FORM = {"original": _l("Original"), "copy": _l("Copy"), "electronic": _l("Electronic file")}
LIMIT_UNIT = {"working_days": _l("working days"), "days": _l("calendar days")}
EXCLUDED_KIND = {
    "supplement": _l("time for supplementing materials"),
    "expert_review": _l("expert review and technical assessment"),
    "applicant_revision": _l("time the applicant revises the materials"),
    "public_notice": _l("public notice periods"),
    "hearing": _l("hearings"),
}
REPORT_TYPE = {"report": _l("Environmental impact report (报告书)"),
               "table": _l("Environmental impact form (报告表)")}
KIND = {"approval": _l("Approval"), "filing": _l("Filing")}


def _catalog() -> Any:
    from workflows.catalog import shipped_catalog

    return shipped_catalog()


def _zh() -> bool:
    return current_language() == "zh_CN"


def name_of(item: Any) -> str:
    """The Chinese or English name of a catalog entry (matter, unit, material) in the page's language."""
    return item.name_zh if _zh() else (getattr(item, "name_en", "") or item.name_zh)


def lane_label(name: str) -> str:
    """A step's unit (the lane's Chinese name) in the page's language."""
    if _zh():
        return name
    try:
        return _catalog().unit_by_name(name).name_en
    except KeyError:
        return name


def limit_label(limit: Any) -> str:
    if limit is None or limit.value is None:
        return str(_l("No statutory limit for the department"))
    return f"{limit.value} {LIMIT_UNIT.get(limit.unit, limit.unit)}" if not _zh() else guide.limit_text(limit)


def run_once_month(matter: Any) -> str:
    year = _catalog().plan_year
    return f"{year}年{int(matter.run_once_month)}月" if _zh() else f"{year}-{matter.run_once_month}"


def information_column() -> list[dict[str, Any]]:
    """One row per catalog matter for the information column on /public/."""
    from services.reminders import run_once_status

    catalog = _catalog()
    with reader() as r:
        rows = [(guide.guide_for(r.session, catalog, m.code), run_once_status(r.session, m)) for m in catalog.matters]
    return [
        {"guide": g, "matter": g.matter, "zero_trip": g.fewest_trips == 0, "status": status,
         # the share of finished cases that met run-once (the supervisors' rollout rule), when there are any
         "met_share": round(100 * (1 - status.multi_trip_share)) if status.counted_cases else None,
         "online": any(mode.channel == "online" for mode in g.modes)}
        for g, status in rows
    ]


def _guide(code: str) -> guide.Guide:
    catalog = _catalog()
    with reader() as r:
        try:
            return guide.guide_for(r.session, catalog, code)
        except KeyError:
            abort(404)


def _context(found: guide.Guide) -> dict[str, Any]:
    return {
        "g": found, "m": found.matter, "settings": documents.settings(), "name_of": name_of,
        "limit_label": limit_label, "lane_label": lane_label, "run_once_month": run_once_month,
        "material_form": MATERIAL_FORM,
        "excluded_kind": EXCLUDED_KIND, "report_type": REPORT_TYPE, "kind_label": KIND, "zh": _zh(),
    }


@bp.get("/guide/<code>")
def guide_page(code: str):
    return render_template("public/guide.html", **_context(_guide(code)))


@bp.get("/guide/<code>.pdf")
def guide_pdf(code: str):
    found = _guide(code)
    return _pdf_response(render_template("public/guide_print.html", **_context(found)),
                         f"guide-{found.matter.code}.pdf")


def _pdf_response(html: str, filename: str) -> Response:
    """The page as PDF, made in an engine worker and cached by content (services.document_rendering.page_pdf);
    the engine being busy is a 503 with the usual message, never a wait on this thread's CPU."""
    from services.document_rendering import page_pdf

    try:
        pdf, sha256 = page_pdf(html)
    except (WorkerLost, JobFailed, PoolBusy):
        abort(503)
    response = Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff"})
    response.set_etag(sha256)
    return response.make_conditional(request)


@bp.get("/guide/<code>/application-form.pdf")
def application_form(code: str):
    """The blank application form (申请表) of the matter, generated from its catalog entry: applicant's details,
    the offered modes to tick and the materials list with form and copies."""
    found = _guide(code)
    return _pdf_response(render_template("public/application_form_print.html", **_context(found)),
                         f"application-form-{found.matter.code}.pdf")


@bp.get("/guide/<code>/diagram.bpmn")
def guide_diagram(code: str):
    catalog = _catalog()
    with reader() as r:
        try:
            xml = guide.diagram_xml(r.session, catalog, code)
        except KeyError:
            abort(404)
    return Response(xml, mimetype="application/xml", headers={"X-Content-Type-Options": "nosniff"})
