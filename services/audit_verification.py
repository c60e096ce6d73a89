"""Verifying the audit chain as it grows: incremental checks from the last good checkpoint, a full verification on
demand with its progress stored (any process can show it), and the last result with its time.

An incremental check verifies the events after the last checkpoint that was found good, and that the checkpoint's
own event still carries the hash it had (a rewrite or truncation reaching back over it is found); it cannot see an
alteration of older events — that is what the full verification, which starts at the first event, is for.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.actors import Actor
from services.uow import UnitOfWork
from storage import audit
from storage.models import AuditCheckpoint, AuditHead
from storage.types import utcnow

STALE_RUN = timedelta(minutes=10)  # a running full verification without progress for this long was abandoned


def last_finished(session: Session) -> AuditCheckpoint | None:
    return session.execute(select(AuditCheckpoint).where(AuditCheckpoint.state.in_(("ok", "broken")))
                           .order_by(AuditCheckpoint.id.desc()).limit(1)).scalar_one_or_none()


def running(session: Session) -> AuditCheckpoint | None:
    return session.execute(select(AuditCheckpoint).where(AuditCheckpoint.state == "running")
                           .order_by(AuditCheckpoint.id.desc()).limit(1)).scalar_one_or_none()


def _last_good(session: Session) -> AuditCheckpoint | None:
    """The newest good checkpoint, unless a later verification found the chain broken (then start over)."""
    last = last_finished(session)
    return last if last is not None and last.state == "ok" else None


def _record(uow: UnitOfWork, row: AuditCheckpoint) -> AuditCheckpoint:
    with uow:
        uow.session.add(row)
        uow.commit()
        uow.session.refresh(row)
        uow.session.expunge(row)
    return row


def verify_incremental(uow: UnitOfWork, actor: Actor) -> AuditCheckpoint:
    with uow.reader() as r:
        good = _last_good(r.session)
        start_seq, start_hash = (good.seq, good.hash) if good else (0, audit.GENESIS)
        check = audit.verify_from(r.session, start_seq, start_hash)
    return _record(uow, AuditCheckpoint(
        kind="incremental" if good else "full", state="ok" if check.ok else "broken", from_seq=start_seq,
        seq=check.last_seq, hash=check.last_hash, events=check.events, bad_seq=check.bad_seq,
        problem=check.problem, started_by=actor.username, finished_at=utcnow()))


def start_full(uow: UnitOfWork, actor: Actor) -> tuple[AuditCheckpoint, bool]:
    """Record a full verification as running (its id is the handle; True: new), ``run_full`` does the work. A run
    already going (with progress within STALE_RUN) is returned instead of a second one (False)."""
    with uow:
        session = uow.session
        current = running(session)
        if current is not None:
            if utcnow() - (current.finished_at or current.started_at) < STALE_RUN:
                session.expunge(current)
                return current, False
            current.state = "abandoned"
        head = session.get(AuditHead, 1)
        row = AuditCheckpoint(kind="full", state="running", from_seq=0, seq=0, hash=audit.GENESIS, events=0,
                              total=head.last_seq if head else 0, started_by=actor.username)
        session.add(row)
        uow.commit()
        session.refresh(row)
        session.expunge(row)
        return row, True


def run_full(uow: UnitOfWork, checkpoint_id: int, batch: int = 5000) -> None:
    """Verify from the first event, storing the progress after every batch (short transactions of their own)."""

    def progress(done: int, last_seq: int) -> None:
        with uow:
            # finished_at doubles as "last progress" while the run goes on
            uow.session.execute(update(AuditCheckpoint).where(AuditCheckpoint.id == checkpoint_id)
                                .values(events=done, seq=last_seq, finished_at=utcnow()))
            uow.commit()

    with uow.reader() as r:
        check = audit.verify_from(r.session, 0, audit.GENESIS, batch, progress)
    with uow:
        uow.session.execute(update(AuditCheckpoint).where(AuditCheckpoint.id == checkpoint_id).values(
            state="ok" if check.ok else "broken", seq=check.last_seq, hash=check.last_hash, events=check.events,
            bad_seq=check.bad_seq, problem=check.problem, finished_at=utcnow()))
        uow.commit()


def get(session: Session, checkpoint_id: int) -> AuditCheckpoint | None:
    return session.get(AuditCheckpoint, checkpoint_id)
