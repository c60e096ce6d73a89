"""Clients of the integration API (/api/v1): tokens, scopes, revocation, rotation, per-client rate limits.

A token is shown once, when it is made (create or rotate); only its SHA-256 is stored. Tokens are 256-bit
random values, so a fast hash is safe (no guessing, no dictionary) and a request is authenticated with one
indexed read. Rate limits count calls in the shared ``throttles`` table (services.throttle), per client and
per minute, so every web process sees the same count. Nothing here knows Flask.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services import audit_log, throttle
from services.actors import Actor
from services.errors import N_, Conflict, InvalidInput, NotFound
from services.uow import UnitOfWork
from storage.models import ApiClient
from storage.types import utcnow

SCOPES = (
    "matters:read",
    "applications:submit",
    "cases:read",
    "documents:read",
    "window:act",
    "webhooks:manage",
)
TOKEN_PREFIX = "ro_"
DEFAULT_RATE_PER_MINUTE = 600
RATE_RULE = throttle.Rule(scope="api_rate", window=timedelta(minutes=1))


@dataclass(frozen=True)
class ClientInfo:
    """What a request knows about its client (no ORM object crosses into the web layer)."""

    id: int
    name: str
    scopes: frozenset[str]
    rate_per_minute: int | None

    @property
    def actor_name(self) -> str:
        return f"api:{self.name}"


@dataclass(frozen=True)
class Issued:
    client_id: int
    name: str
    token: str  # shown once


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _clean_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InvalidInput(N_("Unknown scope %(scope)s; the scopes are %(known)s."), {},
                           scope=", ".join(unknown) or "—", known=", ".join(SCOPES))
    return sorted(set(scopes), key=SCOPES.index)


def create(uow: UnitOfWork, name: str, scopes: list[str], actor: Actor, rate_per_minute: int | None = None
           ) -> Issued:
    name = name.strip()
    if not name or len(name) > 80 or not name.isprintable():
        raise InvalidInput(N_("Give the client a name (at most 80 characters)."), {})
    clean = _clean_scopes(scopes)
    if rate_per_minute is not None and rate_per_minute < 1:
        raise InvalidInput(N_("The rate limit must be at least one call a minute."), {})
    token = _new_token()
    with uow:
        session = uow.session
        if session.execute(select(ApiClient.id).where(ApiClient.name == name)).first():
            raise Conflict(N_("An API client named %(name)s exists already."), name=name)
        client = ApiClient(name=name, scopes=" ".join(clean), token_hash=hash_token(token),
                           token_hint=token[:10], rate_per_minute=rate_per_minute, created_by=actor.username)
        session.add(client)
        session.flush()
        audit_log.record(session, actor, "api.client_created", after={"name": name, "scopes": clean,
                                                                       "rate_per_minute": rate_per_minute})
        uow.commit()
        return Issued(client.id, name, token)


def _by_name(session: Session, name: str) -> ApiClient:
    client = session.execute(select(ApiClient).where(ApiClient.name == name)).scalar_one_or_none()
    if client is None:
        raise NotFound(N_("There is no API client named %(name)s."), name=name)
    return client


def revoke(uow: UnitOfWork, name: str, actor: Actor) -> None:
    with uow:
        client = _by_name(uow.session, name)
        if client.revoked_at is None:
            client.revoked_at = utcnow()
            audit_log.record(uow.session, actor, "api.client_revoked", after={"name": name})
        uow.commit()


def rotate(uow: UnitOfWork, name: str, actor: Actor) -> Issued:
    """A new token for the client; the old one stops working at once."""
    token = _new_token()
    with uow:
        client = _by_name(uow.session, name)
        if client.revoked_at is not None:
            raise Conflict(N_("The API client %(name)s is revoked; create a new one."), name=name)
        client.token_hash, client.token_hint, client.rotated_at = hash_token(token), token[:10], utcnow()
        audit_log.record(uow.session, actor, "api.client_rotated", after={"name": name})
        uow.commit()
        return Issued(client.id, name, token)


def list_clients(session: Session) -> list[ApiClient]:
    return list(session.execute(select(ApiClient).order_by(ApiClient.name)).scalars())


def authenticate(session: Session, token: str) -> ClientInfo | None:
    """The active client holding this token, else None (unknown, revoked or malformed alike)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    digest = hash_token(token)
    client = session.execute(select(ApiClient).where(ApiClient.token_hash == digest)).scalar_one_or_none()
    if client is None or client.revoked_at is not None or not hmac.compare_digest(client.token_hash, digest):
        return None
    return ClientInfo(client.id, client.name, frozenset(client.scopes.split()), client.rate_per_minute)


def count_call(session: Session, client: ClientInfo, default_limit: int, now: datetime | None = None
               ) -> float:
    """Count one call in the client's current minute (fixed windows, shared by all processes); returns 0 when
    it is within the limit, else the seconds until the next minute (Retry-After)."""
    now = now or utcnow()
    minute = int(now.timestamp() // 60)
    count = throttle.record_failure(session, RATE_RULE, f"client:{client.id}", str(minute), now=now)
    limit = client.rate_per_minute or default_limit
    if count.failures <= limit:
        return 0.0
    return max(1.0, (minute + 1) * 60 - now.timestamp())


def touch(session: Session, client: ClientInfo, now: datetime | None = None) -> None:
    client_row = session.get(ApiClient, client.id)
    if client_row is not None:
        client_row.last_used_at = now or utcnow()
