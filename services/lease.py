"""A lease row in the database keeps exactly one scheduler active among many processes.

The holder renews it on every tick; another process takes over only after it expired, so a crashed
scheduler is replaced within one lease period and a restarted one catches up on what is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.uow import UnitOfWork
from storage.models import SchedulerLease
from storage.types import utcnow


def acquire(uow: UnitOfWork, name: str, holder: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Take or renew the lease; True when `holder` holds it until now + ttl."""
    now = now or utcnow()
    with uow:
        session = uow.session
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(SchedulerLease).values(name=name).on_conflict_do_nothing())
        result = session.execute(
            update(SchedulerLease)
            .where(
                SchedulerLease.name == name,
                or_(
                    SchedulerLease.holder == holder,
                    SchedulerLease.holder.is_(None),
                    SchedulerLease.expires_at < now,
                ),
            )
            .values(holder=holder, expires_at=now + ttl, last_run_at=now)
            .execution_options(synchronize_session=False)
        )
        uow.commit()
        return result.rowcount == 1


def release(uow: UnitOfWork, name: str, holder: str) -> None:
    with uow:
        uow.session.execute(
            update(SchedulerLease)
            .where(SchedulerLease.name == name, SchedulerLease.holder == holder)
            .values(holder=None, expires_at=None)
            .execution_options(synchronize_session=False)
        )
        uow.commit()


def current_holder(uow: UnitOfWork, name: str, now: datetime | None = None) -> str | None:
    """Who holds the lease now (None when nobody holds an unexpired one)."""
    now = now or utcnow()
    with uow.reader() as r:
        row = r.session.get(SchedulerLease, name)
        if row is None or row.holder is None or row.expires_at is None or row.expires_at < now:
            return None
        return row.holder
