"""Idempotent submissions (``Idempotency-Key``): the same key and body give the same case, a different body
with the same key is refused (409), two identical requests at the same moment make one case.

The first request claims the key with an insert (unique per client and key: a concurrent twin's insert waits
for it on PostgreSQL and queues behind it on SQLite, then finds the row); the case is linked to the claim in
the registration's own transaction (``services.cases.register_case(also=…)``), so either both exist or
neither. A twin that finds a claim without a case yet waits for it a little; a claim left without a case (its
registration failed) is released so the client can send again. Nothing here knows Flask.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.errors import N_, Conflict
from services.uow import UnitOfWork
from storage.models import ApiIdempotency, Case
from storage.types import utcnow

STALE_CLAIM = timedelta(minutes=5)  # a claim without a case this old was abandoned (its process died)


class KeyReused(Conflict):
    """The key was used before with a different request body."""


class StillRunning(Conflict):
    """A request with this key is still being processed."""


@dataclass(frozen=True)
class Claim:
    claim_id: int | None  # ours to fill (None: an earlier request's case is the answer)
    case_id: int | None


def request_hash(fields: dict[str, Any], files: list[tuple[str, str, str]]) -> str:
    """SHA-256 of the request as the client meant it: its fields (canonical JSON) and each file's item, name
    and content hash, in order of item and name (multipart order is not meaningful)."""
    canonical = json.dumps({"fields": fields, "files": sorted(files)}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _existing(session: Session, client_id: int, key: str) -> ApiIdempotency | None:
    return session.execute(
        select(ApiIdempotency).where(ApiIdempotency.client_id == client_id, ApiIdempotency.key == key)
    ).scalar_one_or_none()


def existing_case(session: Session, client_id: int, key: str) -> int | None:
    """The case an earlier request with this key made, if any."""
    row = _existing(session, client_id, key)
    return row.case_id if row is not None else None


def claim(uow: UnitOfWork, client_id: int, key: str, digest: str, *, wait_seconds: float = 30.0) -> Claim:
    """Claim the key for this request, or find the case an identical earlier request made."""
    deadline = time.monotonic() + wait_seconds
    while True:
        with uow:
            session = uow.session
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            inserted = session.execute(
                insert(ApiIdempotency).values(client_id=client_id, key=key, request_hash=digest, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["client_id", "key"]).returning(ApiIdempotency.id)
            ).first()
            if inserted is not None:
                uow.commit()
                return Claim(inserted[0], None)
            row = _existing(session, client_id, key)
            if row is None:  # released meanwhile: try again
                continue
            if row.request_hash != digest:
                raise KeyReused(N_("This Idempotency-Key was used with a different request; use a new key."))
            if row.case_id is not None:
                return Claim(None, row.case_id)
            if row.created_at < utcnow() - STALE_CLAIM:  # abandoned: take it over
                session.execute(update(ApiIdempotency).where(ApiIdempotency.id == row.id)
                                .values(created_at=utcnow()))
                uow.commit()
                return Claim(row.id, None)
        if time.monotonic() >= deadline:
            raise StillRunning(N_("A request with this Idempotency-Key is still being processed; try again."))
        time.sleep(0.1)


def link(session: Session, claim_id: int, case: Case) -> None:
    """In the registration's transaction: the claim's case."""
    session.execute(update(ApiIdempotency).where(ApiIdempotency.id == claim_id).values(case_id=case.id))


def release(uow: UnitOfWork, claim_id: int) -> None:
    """The request failed before it made a case: the key is free again."""
    with uow:
        uow.session.execute(delete(ApiIdempotency).where(ApiIdempotency.id == claim_id,
                                                         ApiIdempotency.case_id.is_(None)))
        uow.commit()


KEEP = timedelta(days=7)  # a client retries within minutes; a week covers any outage of theirs


def purge(uow: UnitOfWork, now: datetime, keep: timedelta = KEEP) -> int:
    """The scheduler's housekeeping: keys older than ``keep`` are forgotten (the same key then makes a new
    case). Returns how many were removed."""
    with uow:
        removed = uow.session.execute(delete(ApiIdempotency).where(ApiIdempotency.created_at < now - keep)).rowcount
        uow.commit()
    return removed or 0
