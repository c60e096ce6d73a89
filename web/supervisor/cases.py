"""Case search for supervisors (also the list behind every number of the dashboard) and a case's full history,
read-only."""

from __future__ import annotations

import json

from flask import abort, request
from flask import render_template as render

from services import case_search, clock
from web.common import reader, roles_required
from web.inputs import page_number
from web.supervisor import bp, params

PAGE_SIZE = 50


@bp.app_template_filter("readable_json")
def readable_json(value: object) -> str:
    """Data of an audit event as JSON with its Chinese text as written (not \\u escapes); autoescaped by Jinja."""
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


@bp.get("/cases")
@roles_required("supervisor")
def cases():
    search, problems = params.search()
    page = page_number(request.args.get("page"))
    with reader() as r:
        found, total = case_search.search(r.session, search, page, PAGE_SIZE)
    catalog = clock.catalog()
    query = search.as_query()
    return render("supervisor/cases.html", found=found, total=total, page=page,
                  pages=max(1, -(-total // PAGE_SIZE)), search=search, query=query, problems=problems,
                  matters=catalog.matters, matter_names={m.code: m for m in catalog.matters},
                  units={u.code: u for u in catalog.units}, statuses=case_search.STATUSES,
                  outcomes=case_search.OUTCOMES, sorts=list(case_search.SORTS),
                  measure_labels=params.MEASURE_LABELS)


@bp.get("/cases/<int:case_id>")
@roles_required("supervisor")
def case_history(case_id: int):
    with reader() as r:
        history = case_search.case_history(r.session, case_id)
    if history is None:
        abort(404)
    catalog = clock.catalog()
    return render("supervisor/case_history.html", h=history, matter=next(
        (m for m in catalog.matters if m.code == history.case.matter_code), None))
