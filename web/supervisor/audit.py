"""Supervisors: the audit log with filters, and a check of its hash chain."""

from __future__ import annotations

from flask import render_template as render
from flask import request
from sqlalchemy import func, select

from storage import audit
from storage.models import AuditEvent, Case
from web.common import reader, roles_required
from web.inputs import page_number, parse_int
from web.supervisor import bp

PAGE_SIZE = 50


@bp.get("/audit")
@roles_required("supervisor")
def audit_log():
    args = request.args
    reference = args.get("case", "").strip()
    actor_name = args.get("actor", "").strip()
    action = args.get("action", "").strip()
    page = page_number(args.get("page"))
    criteria = []
    with reader() as r:
        unknown_case = False
        if reference:
            case_id = r.session.execute(select(Case.id).where(Case.reference == reference)).scalar()
            if case_id is None:
                case_id = parse_int(reference, minimum=1)
            unknown_case = case_id is None
            criteria.append(AuditEvent.case_id == (case_id if case_id is not None else -1))
        if actor_name:
            criteria.append(AuditEvent.actor == actor_name)
        if action:
            criteria.append(AuditEvent.action == action)
        total = r.session.execute(select(func.count(AuditEvent.seq)).where(*criteria)).scalar_one()
        events = (
            r.session.execute(
                select(AuditEvent)
                .where(*criteria)
                .order_by(AuditEvent.seq.desc())
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            )
            .scalars()
            .all()
        )
        actions = (
            r.session.execute(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
            .scalars()
            .all()
        )
        references = dict(
            r.session.execute(
                select(Case.id, Case.reference).where(Case.id.in_({e.case_id for e in events if e.case_id}))
            ).all()
        )
        check = audit.verify(r.session) if args.get("verify") else None
    return render(
        "supervisor/audit.html",
        events=events,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        actions=actions,
        references=references,
        check=check,
        filters={"case": reference, "actor": actor_name, "action": action},
        unknown_case=unknown_case,
    )
