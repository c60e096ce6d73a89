"""Hash-chained audit log: every event carries the hash of the previous one.

Appends lock the single audit_head row (SELECT … FOR UPDATE on PostgreSQL; SQLite write transactions are
already exclusive), so concurrent commands extend one chain instead of forking it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from storage import tx_cache
from storage.models import AuditEvent, AuditHead
from storage.types import utcnow

GENESIS = "0" * 64


def _digest(seq: int, case_id: int | None, actor: str, action: str, at: datetime, payload: Any, prev: str) -> str:
    body = json.dumps(
        [seq, case_id, actor, action, at.isoformat(), payload, prev],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _json_safe(payload: dict[str, Any]) -> dict[str, Any]:
    # What is hashed must be exactly what the JSON column gives back.
    return json.loads(json.dumps(payload, ensure_ascii=False, default=str))


# Every command appends: plain statements built once (the ORM's unit of work cost more than the writes).
_INSERT_EVENT = insert(AuditEvent.__table__)
_MOVE_HEAD = (update(AuditHead.__table__).where(AuditHead.__table__.c.id == 1)
              .values(last_seq=bindparam("seq"), last_hash=bindparam("digest")))


def append(
    session: Session, *, actor: str, action: str, payload: dict[str, Any], case_id: int | None = None
) -> None:
    # Write the command's own changes first and take the head lock last: every command then locks its rows
    # in the order (its rows …, audit head), so two commands never wait on each other in a cycle.
    session.flush()
    head = _locked_head(session)
    payload = _json_safe(payload)
    at = utcnow()
    seq = head.last_seq + 1
    digest = _digest(seq, case_id, actor, action, at, payload, head.last_hash)
    session.execute(_INSERT_EVENT, {"seq": seq, "case_id": case_id, "actor": actor, "action": action, "at": at,
                                    "payload": payload, "prev_hash": head.last_hash, "hash": digest})
    session.execute(_MOVE_HEAD, {"seq": seq, "digest": digest})
    # the row now holds these: the session's copy says so without writing them again
    set_committed_value(head, "last_seq", seq)
    set_committed_value(head, "last_hash", digest)


def _locked_head(session: Session) -> AuditHead:
    """The head row, locked for the rest of the transaction: read once, then kept (strongly) for the
    transaction's further events, which extend it in place."""
    return tx_cache.cached(session, AuditHead, lambda: _lock_head(session))


def _lock_head(session: Session) -> AuditHead:
    query = select(AuditHead).where(AuditHead.id == 1).with_for_update()
    head = session.execute(query).scalar_one_or_none()
    if head is None:
        # The migration creates the row; an emptied table is re-seeded without racing another writer.
        seed = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            seed(AuditHead).values(id=1, last_seq=0, last_hash=GENESIS).on_conflict_do_nothing()
        )
        head = session.execute(query.execution_options(populate_existing=True)).scalar_one()
    return head


def rechain(session: Session, first_seq: int) -> str:
    """Recompute the hashes from ``first_seq`` on, after a sanctioned rewrite of payloads (a data migration);
    returns the head hash from before, which the caller records in a new event so the rewrite stays visible."""
    head = _locked_head(session)
    old_head = head.last_hash
    previous = session.execute(select(AuditEvent.hash).where(AuditEvent.seq == first_seq - 1)).scalar()
    prev = previous or GENESIS
    query = select(AuditEvent).where(AuditEvent.seq >= first_seq).order_by(AuditEvent.seq)
    for event in session.execute(query).scalars():
        payload = _json_safe(event.payload)
        event.prev_hash = prev
        event.hash = _digest(event.seq, event.case_id, event.actor, event.action, event.at, payload, prev)
        prev = event.hash
    head.last_hash = prev
    session.flush()
    return old_head


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    events: int
    bad_seq: int | None = None
    problem: str | None = None
    last_seq: int = 0  # the last event verified (with its hash): where an incremental check goes on from
    last_hash: str = GENESIS


def verify(session: Session, batch: int = 2000) -> ChainCheck:
    """Recompute every hash in order; report the first altered, missing or extra row."""
    return verify_from(session, 0, GENESIS, batch)


def verify_from(session: Session, after_seq: int, after_hash: str, batch: int = 2000,
                progress: Callable[[int, int], None] | None = None) -> ChainCheck:
    """Verify the events after ``after_seq``, whose hash a previous verification found to be ``after_hash``
    (a checkpoint), up to the head. The checkpoint's own row must still carry that hash, so a rewrite or a
    truncation reaching back over the checkpoint is found too; rows before it are checked by a full run.
    ``progress(events_done, last_seq)`` is called after every batch."""
    if after_seq:
        kept = session.execute(select(AuditEvent.hash).where(AuditEvent.seq == after_seq)).scalar()
        if kept != after_hash:
            return ChainCheck(False, 0, after_seq, "missing" if kept is None else "altered", after_seq, after_hash)
    prev, expected_seq, count, last_seq = after_hash, after_seq + 1, 0, after_seq
    query = (select(AuditEvent).where(AuditEvent.seq > after_seq).order_by(AuditEvent.seq)
             .execution_options(yield_per=batch))
    for event in session.execute(query).scalars():
        if event.seq != expected_seq:
            return ChainCheck(False, count, expected_seq, "missing", last_seq, prev)
        if event.prev_hash != prev:
            return ChainCheck(False, count, event.seq, "broken link", last_seq, prev)
        digest = _digest(event.seq, event.case_id, event.actor, event.action, event.at, event.payload, prev)
        if digest != event.hash:
            return ChainCheck(False, count, event.seq, "altered", last_seq, prev)
        prev, expected_seq, count, last_seq = event.hash, expected_seq + 1, count + 1, event.seq
        if progress is not None and count % batch == 0:
            progress(count, last_seq)
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.last_seq, head.last_hash) if head else (0, GENESIS)
    if (head_seq, head_hash) != (last_seq, prev):
        return ChainCheck(False, count, last_seq + 1, "missing tail", last_seq, prev)
    return ChainCheck(True, count, last_seq=last_seq, last_hash=prev)
