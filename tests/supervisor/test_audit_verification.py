"""Verifying the audit chain as it grows: checkpoints, incremental checks, a full run with stored progress, and the
audit log's date range. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import update

from services import audit_verification
from services.actors import Actor
from storage import audit
from storage.models import AuditCheckpoint, AuditEvent

SUPERVISOR = Actor("supervisor1", roles=frozenset({"supervisor"}))


def _append(uow, n: int, start: int = 0) -> None:
    with uow:
        for i in range(n):
            audit.append(uow.session, actor="t", action="test.event", payload={"n": start + i})
        uow.commit()


def test_incremental_checks_go_on_from_the_last_good_checkpoint(uow):
    _append(uow, 30)
    first = audit_verification.verify_incremental(uow, SUPERVISOR)
    assert (first.kind, first.state, first.from_seq, first.seq, first.events) == ("full", "ok", 0, 30, 30)
    _append(uow, 5, 30)
    second = audit_verification.verify_incremental(uow, SUPERVISOR)
    assert (second.kind, second.state, second.from_seq, second.seq, second.events) == ("incremental", "ok", 30, 35, 5)
    # altering an event after the checkpoint is found by the next incremental check
    _append(uow, 3, 35)
    with uow:
        uow.session.execute(update(AuditEvent).where(AuditEvent.seq == 37).values(actor="mallory"))
        uow.commit()
    third = audit_verification.verify_incremental(uow, SUPERVISOR)
    assert (third.state, third.bad_seq, third.problem) == ("broken", 37, "altered")
    # after a broken result the next check starts again from the first event
    fourth = audit_verification.verify_incremental(uow, SUPERVISOR)
    assert (fourth.kind, fourth.from_seq, fourth.state) == ("full", 0, "broken")


def test_a_rewritten_checkpoint_event_is_found_and_older_ones_need_the_full_run(uow):
    _append(uow, 20)
    audit_verification.verify_incremental(uow, SUPERVISOR)
    with uow:
        uow.session.execute(update(AuditEvent).where(AuditEvent.seq == 5).values(actor="mallory"))
        uow.commit()
    # an incremental check only covers what came after the checkpoint (event 20): this is what it cannot see
    assert audit_verification.verify_incremental(uow, SUPERVISOR).state == "ok"
    run, new = audit_verification.start_full(uow, SUPERVISOR)
    again, second = audit_verification.start_full(uow, SUPERVISOR)
    assert new and (again.id, second) == (run.id, False)  # one run at a time
    audit_verification.run_full(uow, run.id, batch=4)
    with uow.reader() as r:
        done = audit_verification.get(r.session, run.id)
        assert (done.state, done.bad_seq, done.problem, done.total) == ("broken", 5, "altered", 20)
    with uow:  # the hash stored for a checkpoint no longer matching its event: found at once
        uow.session.execute(update(AuditEvent).where(AuditEvent.seq == 5).values(actor="t"))
        uow.session.execute(update(AuditEvent).where(AuditEvent.seq == 20).values(hash="0" * 64))
        uow.commit()
    with uow.reader() as r:
        good = r.session.query(AuditCheckpoint).filter_by(state="ok").order_by(AuditCheckpoint.id.desc()).first()
        check = audit.verify_from(r.session, good.seq, good.hash)
    assert (check.ok, check.bad_seq, check.problem) == (False, 20, "altered")


def test_progress_of_a_full_run_is_stored(uow):
    _append(uow, 12)
    seen = []
    with uow.reader() as r:
        audit.verify_from(r.session, 0, audit.GENESIS, batch=5, progress=lambda done, seq: seen.append((done, seq)))
    assert seen == [(5, 5), (10, 10)]
