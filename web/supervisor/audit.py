"""Supervisors: the audit log with filters (case, actor, action, date range), and the verification of its hash
chain: incremental from the last good checkpoint, or in full on demand with its progress shown."""

from __future__ import annotations

import threading

from flask import abort, current_app, jsonify, redirect, request, url_for
from flask import render_template as render
from sqlalchemy import func, select

from services import audit_verification, statistics
from storage.models import AuditEvent, Case
from web.common import actor, reader, roles_required, uow
from web.inputs import page_number, parse_int
from web.supervisor import bp, params

PAGE_SIZE = 50


@bp.get("/audit")
@roles_required("supervisor")
def audit_log():
    args = request.args
    reference = args.get("case", "").strip()
    actor_name = args.get("actor", "").strip()
    action = args.get("action", "").strip()
    problems = params.Problems()
    start, end = params.case_search.as_date_range(params.date_arg(args, "from", problems),
                                                  params.date_arg(args, "to", problems))
    page = page_number(args.get("page"))
    criteria = statistics.moment_between(AuditEvent.at, start, end)
    check = audit_verification.verify_incremental(uow(), actor()) if args.get("verify") else None
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
        last = audit_verification.last_finished(r.session)
        run = audit_verification.running(r.session)
    filters = {"case": reference, "actor": actor_name, "action": action,
               "from": start.isoformat() if start else "", "to": end.isoformat() if end else ""}
    return render(
        "supervisor/audit.html",
        events=events,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        actions=actions,
        references=references,
        check=check,
        last=last,
        run=run,
        filters={k: v for k, v in filters.items() if v},
        form=filters,
        problems=problems,
        unknown_case=unknown_case,
    )


@bp.post("/audit/verify-full")
@roles_required("supervisor")
def verify_full():
    started, new = audit_verification.start_full(uow(), actor())
    if new:
        app = current_app._get_current_object()
        from app import uow_for

        # The verification reads the whole chain: it runs beside the request, its progress stored as it goes.
        threading.Thread(target=audit_verification.run_full, args=(uow_for(app), started.id),
                         name=f"audit-verify-{started.id}", daemon=True).start()
    return redirect(url_for("supervisor.audit_log", run=started.id))


@bp.get("/audit/verification/<int:checkpoint_id>.json")
@roles_required("supervisor")
def verification(checkpoint_id: int):
    with reader() as r:
        row = audit_verification.get(r.session, checkpoint_id)
        if row is None:
            abort(404)
        return jsonify({"id": row.id, "kind": row.kind, "state": row.state, "events": row.events,
                        "total": row.total, "seq": row.seq, "bad_seq": row.bad_seq, "problem": row.problem,
                        "started_at": row.started_at.isoformat(),
                        "finished_at": row.finished_at.isoformat() if row.finished_at else None})
