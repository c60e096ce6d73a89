"""Webhooks: case events sent to the API clients that subscribed, signed, retried, logged (an outbox, like
services.applicant_mail).

An event is queued in the transaction of the step that caused it (one ``webhook_deliveries`` row per
subscription, keyed so each event exists once) for the cases the subscribing client registered; the
scheduler's ``webhooks`` job POSTs the due rows. Each request carries

    X-Runonce-Event: case.accepted
    X-Runonce-Delivery: <event id>          (the same on every retry: receivers de-duplicate on it)
    X-Runonce-Timestamp: <unix seconds>
    X-Runonce-Signature: t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

A 2xx answer delivers it; anything else (or no answer within the timeout) is retried with exponential
back-off (30 s, 1, 2, 4 … minutes, at most an hour apart) up to ``MAX_ATTEMPTS``, then the row is ``dead``
until an administrator replays it. A URL must lead to a public address (services.webhook_targets): checked
when subscribing and again before every request, which goes to the address that was checked; redirects are
not followed. Finished deliveries leave the log after ``DELIVERY_KEEP`` (the scheduler's housekeeping). Nothing
here knows Flask.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services import audit_log, webhook_targets
from services.actors import Actor
from services.errors import N_, Conflict, InvalidInput, NotFound
from services.uow import UnitOfWork
from storage.models import ApiClient, Case, WebhookDelivery, WebhookSubscription
from storage.types import utcnow

log = logging.getLogger(__name__)

ACCEPTED = "case.accepted"
NOTICE_ISSUED = "case.notice_issued"
DECIDED = "case.decided"
DELIVERED = "case.delivered"
OVERDUE = "case.overdue"
EVENTS = (ACCEPTED, NOTICE_ISSUED, DECIDED, DELIVERED, OVERDUE)
# Workflow data written by a decision: the leadership's 决定 (decision), a filing's check (check_result), the
# outcome the diagram records at its end (also a refusal at acceptance).
DECISION_KEYS = ("decision", "check_result", "outcome")
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
TIMEOUT_SECONDS = 10.0
SEND_LEASE = timedelta(minutes=5)  # a row left "sending" this long (its process died) is sent again


# ------------------------------------------------------------------------------------------- subscriptions


def subscribe(uow: UnitOfWork, client_id: int, url: str, events: list[str], actor: Actor,
              allowed_hosts: Iterable[str] = ()) -> tuple[WebhookSubscription, str]:
    """Subscribe ``url`` (a public address, or a host on the allow-list: services.webhook_targets)."""
    unknown = [e for e in events if e not in EVENTS]
    if unknown or not events:
        raise InvalidInput(N_("Unknown event %(event)s."), {"events": N_("Unknown event.")},
                           event=", ".join(unknown) or "—")
    try:
        webhook_targets.check(url, allowed_hosts)
    except webhook_targets.UnsafeTarget as refused:
        raise InvalidInput(refused.msgid, {"url": N_("This address cannot receive webhooks.")},
                           **refused.params) from None
    secret = "whsec_" + secrets.token_urlsafe(32)
    with uow:
        row = WebhookSubscription(client_id=client_id, url=url, events=" ".join(sorted(set(events))), secret=secret,
                                  active=True)
        uow.session.add(row)
        uow.session.flush()
        audit_log.record(uow.session, actor, "webhook.subscribed", after={"id": row.id, "url": url,
                                                                          "events": sorted(set(events))})
        uow.commit()
        uow.session.expunge(row)
        return row, secret


def subscriptions(session: Session, client_id: int) -> list[WebhookSubscription]:
    return list(session.execute(select(WebhookSubscription).where(
        WebhookSubscription.client_id == client_id, WebhookSubscription.active.is_(True))
        .order_by(WebhookSubscription.id)).scalars())


def own_subscription(session: Session, client_id: int, subscription_id: int) -> WebhookSubscription:
    row = session.get(WebhookSubscription, subscription_id)
    if row is None or row.client_id != client_id or not row.active:
        raise NotFound(N_("Webhook %(id)s does not exist."), id=subscription_id)
    return row


def unsubscribe(uow: UnitOfWork, client_id: int, subscription_id: int, actor: Actor) -> None:
    with uow:
        row = own_subscription(uow.session, client_id, subscription_id)
        row.active = False
        audit_log.record(uow.session, actor, "webhook.unsubscribed", after={"id": row.id, "url": row.url})
        uow.commit()


def deliveries(session: Session, subscription_id: int | None = None, limit: int = 100) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    return list(session.execute(query).scalars())


# ------------------------------------------------------------------------------------------- queueing events


def _client_of(session: Session, case: Case) -> int | None:
    if not (case.created_by or "").startswith("api:"):
        return None
    return session.execute(select(ApiClient.id).where(ApiClient.name == case.created_by[4:])).scalar_one_or_none()


def queue(session: Session, case: Case, event: str, round_key: str = "1") -> int:
    """Queue ``event`` of ``case`` for every active subscription of its client that wants it (in the caller's
    transaction); returns how many rows were queued (0 when the event was queued before)."""
    client_id = _client_of(session, case)
    if client_id is None:
        return 0
    subs = [s for s in subscriptions(session, client_id) if event in s.events.split()]
    if not subs:
        return 0
    now = utcnow()
    event_id = uuid.uuid4().hex
    body = json.dumps({
        "id": event_id, "type": event, "created_at": now.isoformat(),
        "data": {"reference": case.reference, "matter_code": case.matter_code, "status": case.status,
                 "outcome": case.outcome,
                 "accepted_on": case.accepted_on.isoformat() if case.accepted_on else None,
                 "due_on": case.due_on.isoformat() if case.due_on else None},
    }, ensure_ascii=False, sort_keys=True)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    queued = 0
    for sub in subs:
        inserted = session.execute(insert(WebhookDelivery).values(
            subscription_id=sub.id, event_key=f"{case.id}:{event}:{round_key}", event_id=event_id,
            event_type=event, case_id=case.id, payload=body, status="pending", attempts=0,
            next_attempt_at=now, created_at=now,
        ).on_conflict_do_nothing(index_elements=["subscription_id", "event_key"])
            .returning(WebhookDelivery.id)).first()  # RETURNING: psycopg's rowcount is -1 here
        queued += inserted is not None
    return queued


def after_step(session: Session, case: Case, *, was_accepted: bool, was_status: str, new_task_specs: list[str],
               before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """The events a step caused (called inside the step's transaction, next to the applicant's e-mail)."""
    if not (case.created_by or "").startswith("api:"):
        return
    if "receive_supplement" in new_task_specs:
        queue(session, case, NOTICE_ISSUED, str(case.supplement_notices or 1))
    if case.accepted_on is not None and not was_accepted:
        queue(session, case, ACCEPTED)
    before, after = before or {}, after or {}
    decided = any(after.get(key) and after.get(key) != before.get(key) for key in DECISION_KEYS)
    if decided or (was_status == "active" and case.status == "completed" and case.outcome):
        queue(session, case, DECIDED)  # once per case (the event key), at the first decision
    if was_status == "active" and case.status == "completed":
        queue(session, case, DELIVERED)


# ------------------------------------------------------------------------------------------- sending


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does (and the tests): the signature matches and the timestamp is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


@dataclass(frozen=True)
class Answer:
    status: int | None
    error: str | None


Poster = Callable[[str, bytes, dict[str, str]], Answer]


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever a new DNS lookup would say (no rebinding); the Host
    header names the URL's host."""

    def __init__(self, target: webhook_targets.PinnedTarget, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to the checked address; the certificate is verified against the URL's host name (SNI too)."""

    def __init__(self, target: webhook_targets.PinnedTarget, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self.address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def pinned_post(target: webhook_targets.PinnedTarget, body: bytes, headers: dict[str, str]) -> Answer:
    """POST to a checked target. Redirects are not followed (http.client never does): a 3xx is an answer, not
    a new address to post the case's data to, and counts as a failure."""
    connection_class = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = connection_class(target, TIMEOUT_SECONDS)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)  # the receiver's answer is not used; read a little so it can finish
        if 200 <= response.status < 300:
            return Answer(response.status, None)
        return Answer(response.status, f"HTTP {response.status}")
    except (OSError, http.client.HTTPException, ValueError) as err:
        return Answer(None, f"{type(err).__name__}: {err}"[:500])
    finally:
        connection.close()


def safe_poster(allowed_hosts: Iterable[str] = ()) -> Poster:
    """The poster of the scheduler's job: each delivery checks its URL again (DNS answers change) and connects
    to the address it checked (services.webhook_targets); a refused address is a failed attempt, logged."""
    allowed = frozenset(allowed_hosts)

    def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            target = webhook_targets.check(url, allowed)
        except webhook_targets.UnsafeTarget as refused:
            return Answer(None, refused.reason[:500])
        return pinned_post(target, body, headers)

    return post




def backoff(attempts: int) -> timedelta:
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), LONGEST_RETRY)


def _claim(uow: UnitOfWork, delivery_id: int, moment: datetime
           ) -> tuple[WebhookDelivery, WebhookSubscription] | None:
    """pending/failed (or a send abandoned by a dead process: ``sending`` past its lease) → sending."""
    with uow:
        s = uow.session
        claimed = s.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                          WebhookDelivery.status.in_(("pending", "failed", "sending")),
                                          WebhookDelivery.next_attempt_at <= moment)
            .values(status="sending", attempts=WebhookDelivery.attempts + 1, next_attempt_at=moment + SEND_LEASE)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        if not claimed:
            return None
        delivery = s.get(WebhookDelivery, delivery_id)
        sub = s.get(WebhookSubscription, delivery.subscription_id)
        uow.commit()
        s.expunge_all()
        return delivery, sub


def _finish(uow: UnitOfWork, delivery: WebhookDelivery, answer: Answer, moment: datetime) -> None:
    ok = answer.status is not None and 200 <= answer.status < 300
    if ok:
        values: dict[str, Any] = {"status": "delivered", "delivered_at": moment, "last_error": None}
    elif delivery.attempts >= MAX_ATTEMPTS:
        values = {"status": "dead", "last_error": answer.error}
    else:
        values = {"status": "failed", "last_error": answer.error,
                  "next_attempt_at": moment + backoff(delivery.attempts)}
    values["last_status_code"] = answer.status
    with uow:
        uow.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(**values)
                            .execution_options(synchronize_session=False))
        uow.commit()


def deliver_due(uow: UnitOfWork, now: datetime | None = None, post: Poster | None = None, limit: int = 100,
                allowed_hosts: Iterable[str] = ()) -> tuple[int, int]:
    """Send the due deliveries; returns (delivered, failed). Safe to run in two processes at once: a row is
    claimed (pending/failed → sending) before it is sent. Each URL is checked again before its request
    (``safe_poster``; ``allowed_hosts``: the WEBHOOK_ALLOWED_HOSTS setting)."""
    post = post or safe_poster(allowed_hosts)
    moment = now or utcnow()
    with uow.reader() as r:
        ids = list(r.session.execute(
            select(WebhookDelivery.id).where(WebhookDelivery.status.in_(("pending", "failed", "sending")),
                                             WebhookDelivery.next_attempt_at <= moment)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)
        ).scalars())
    delivered = failed = 0
    for delivery_id in ids:
        claimed = _claim(uow, delivery_id, moment)
        if claimed is None:
            continue
        delivery, sub = claimed
        if sub is None or not sub.active:
            _finish(uow, delivery, Answer(None, "subscription removed"), moment)
            failed += 1
            continue
        body = delivery.payload.encode("utf-8")
        timestamp = int(time.time())
        answer = post(sub.url, body, {
            "Content-Type": "application/json; charset=utf-8", "User-Agent": "RunOnce-Webhooks/1",
            "X-Runonce-Event": delivery.event_type, "X-Runonce-Delivery": delivery.event_id,
            "X-Runonce-Timestamp": str(timestamp), "X-Runonce-Signature": signature(sub.secret, timestamp, body),
        })
        _finish(uow, delivery, answer, moment)
        if answer.status is not None and 200 <= answer.status < 300:
            delivered += 1
        else:
            log.warning("webhook %s to %s failed: %s", delivery.id, sub.url, answer.error)
            failed += 1
    return delivered, failed


def replay(uow: UnitOfWork, delivery_id: int, actor: Actor) -> None:
    """An administrator sends a delivery again (delivered, failed or dead): queued now, attempts from zero."""
    if not actor.has_role("admin", "system"):
        from services.errors import Forbidden

        raise Forbidden(N_("Only an administrator can replay a webhook delivery."))
    with uow:
        row = uow.session.get(WebhookDelivery, delivery_id)
        if row is None:
            raise NotFound(N_("Webhook delivery %(id)s does not exist."), id=delivery_id)
        if row.status == "sending":
            raise Conflict(N_("This delivery is being sent right now."))
        before = row.status
        row.status, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
        audit_log.record(uow.session, actor, "webhook.replayed", case_id=row.case_id,
                         before={"status": before}, after={"status": "pending", "delivery": row.id,
                                                           "event": row.event_type})
        uow.commit()


DELIVERY_KEEP = timedelta(days=90)


def purge_deliveries(uow: UnitOfWork, now: datetime, keep: timedelta = DELIVERY_KEEP) -> int:
    """The scheduler's housekeeping: finished deliveries (delivered, or dead and not replayed) older than
    ``keep`` leave the log; pending and failed ones stay whatever their age. Returns how many were removed."""
    with uow:
        removed = uow.session.execute(delete(WebhookDelivery).where(
            WebhookDelivery.status.in_(("delivered", "dead")), WebhookDelivery.created_at < now - keep)).rowcount
        uow.commit()
    return removed or 0
