"""Failure counters shared by every process (the ``throttles`` table): sign-in and the applicants' look-up.

A counter is kept per rule (its scope) and subject; what is counted (a user name as typed, a client address,
a reference number) is stored only as a SHA-256 hash. A counter forgets its failures once ``window`` has passed
since the last one; at ``lock_after`` failures the subject is refused for ``lock_for(failures)`` (by default
for one window); beyond ``free`` failures
each answer is slowed by ``delay`` seconds per extra failure, up to ``delay_max`` (the caller sleeps).

The functions run inside the caller's transaction (a unit of work): counting a failure is an insert-if-missing
followed by a locked read and an update, so concurrent processes never lose a count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import Throttle
from storage.types import utcnow

MAX_WINDOW = timedelta(days=1)  # no rule remembers longer; older rows are purged


@dataclass(frozen=True)
class Rule:
    scope: str
    window: timedelta
    free: int = 0
    lock_after: int | None = None
    lock_for: Callable[[int], timedelta] | None = None
    delay: float = 0.0
    delay_max: float = 0.0

    def delay_for(self, failures: int) -> float:
        """Seconds to answer more slowly after `failures` failures."""
        extra = failures - self.free
        return min(self.delay * extra, self.delay_max) if extra > 0 and self.delay > 0 else 0.0


@dataclass(frozen=True)
class Count:
    failures: int
    locked_until: datetime | None = None
    lock_started: bool = False  # this failure reached the lock

    def retry_after(self, now: datetime) -> float:
        return max(0.0, (self.locked_until - now).total_seconds()) if self.locked_until else 0.0


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _key(rule: Rule, subject: str, detail: str | None) -> tuple[str, str, str]:
    return rule.scope, digest(subject), digest(detail) if detail is not None else ""


def _row(session: Session, key: tuple[str, str, str], *, for_update: bool = False) -> Throttle | None:
    query = select(Throttle).where(Throttle.scope == key[0], Throttle.subject == key[1], Throttle.detail == key[2])
    if for_update:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def _expired(rule: Rule, row: Throttle, now: datetime) -> bool:
    return row.last_failure_at <= now - rule.window and (row.locked_until is None or row.locked_until <= now)


def locked_until(session: Session, rule: Rule, subject: str, detail: str | None = None,
                 now: datetime | None = None) -> datetime | None:
    """When the subject may try again, if it is refused now; else None."""
    now = now or utcnow()
    row = _row(session, _key(rule, subject, detail))
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return row.locked_until


def record_failure(session: Session, rule: Rule, subject: str, detail: str | None = None,
                   now: datetime | None = None) -> Count:
    """Count one failure; returns the count within the window and the lock it leads to, if any."""
    now = now or utcnow()
    key = _key(rule, subject, detail)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(Throttle)
        .values(scope=key[0], subject=key[1], detail=key[2], failures=0, first_failure_at=now, last_failure_at=now)
        .on_conflict_do_nothing()
    )
    row = _row(session, key, for_update=True)
    assert row is not None  # inserted above or already there
    if _expired(rule, row, now):
        row.failures, row.first_failure_at, row.locked_until = 0, now, None
    row.failures += 1
    row.last_failure_at = now
    started = False
    if rule.lock_after is not None and row.failures >= rule.lock_after:
        row.locked_until = now + (rule.lock_for(row.failures) if rule.lock_for else rule.window)
        started = True
    session.flush()
    return Count(row.failures, row.locked_until if started else None, started)


def clear(session: Session, rule: Rule, subject: str, detail: str | None = None) -> None:
    """Forget a subject's failures (after a success)."""
    scope, subject_hash, detail_hash = _key(rule, subject, detail)
    session.execute(delete(Throttle).where(Throttle.scope == scope, Throttle.subject == subject_hash,
                                           Throttle.detail == detail_hash))


def clear_subject(session: Session, scopes: list[str], subject: str) -> int:
    """Forget every counter of a subject in these scopes, whatever their detail (an administrator's unlock)."""
    result = session.execute(delete(Throttle).where(Throttle.scope.in_(scopes), Throttle.subject == digest(subject)))
    return result.rowcount or 0


def purge(session: Session, now: datetime | None = None) -> int:
    """Drop counters no rule remembers any more (called now and then by the commands that count)."""
    now = now or utcnow()
    result = session.execute(
        delete(Throttle).where(
            Throttle.last_failure_at < now - MAX_WINDOW,
            (Throttle.locked_until.is_(None)) | (Throttle.locked_until < now),
        )
    )
    return result.rowcount or 0
