"""``/api/v1/webhooks`` (scope ``webhooks:manage``): subscribe to case events of the client's cases, list and
remove subscriptions, read the delivery log. Sending, signing and retries: services.webhooks."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from services import webhook_targets, webhooks
from web.api.auth import authenticate, client, client_actor, operation_doc, requires
from web.api.schemas import DeliveryListSchema, WebhookInSchema, WebhookListSchema, WebhookSchema
from web.common import reader, uow

blp = Blueprint("api_webhooks", __name__, description="事件推送 / webhooks (HMAC-SHA256 signed)")
blp.before_request(authenticate)


def _body(row: Any, secret: str | None = None) -> dict[str, Any]:
    body = {"id": row.id, "url": row.url, "events": row.events.split(), "active": row.active,
            "created_at": row.created_at}
    if secret:
        body["secret"] = secret
    return body


@blp.route("/webhooks")
@blp.doc(**operation_doc("webhooks:manage", "list_webhooks"))
@blp.response(200, WebhookListSchema)
@requires("webhooks:manage")
def list_webhooks():
    """The client's active subscriptions."""
    with reader() as r:
        return {"items": [_body(s) for s in webhooks.subscriptions(r.session, client().id)]}


@blp.route("/webhooks", methods=["POST"])
@blp.doc(**operation_doc("webhooks:manage", "create_webhook"))
@blp.arguments(WebhookInSchema)
@blp.doc(responses={201: {"links": {name: {"operationId": name, "parameters": {"webhook_id": "$response.body#/id"}}
                                     for name in ("list_deliveries", "delete_webhook")}}})
@blp.response(201, WebhookSchema, description="the subscription with its signing secret (shown once)")
@requires("webhooks:manage")
def create_webhook(data: dict[str, Any]):
    """Subscribe a URL to events: case.accepted, case.notice_issued, case.decided, case.delivered,
    case.overdue."""
    row, secret = webhooks.subscribe(uow(), client().id, data["url"], data["events"], client_actor(),
                                     allowed_hosts=webhook_targets.allowed_hosts(current_app.config))
    return _body(row, secret), 201


@blp.route("/webhooks/<int:webhook_id>", methods=["DELETE"])
@blp.doc(**operation_doc("webhooks:manage", "delete_webhook"))
@blp.response(204)
@requires("webhooks:manage")
def delete_webhook(webhook_id: int):
    """Remove a subscription (its delivery log stays)."""
    webhooks.unsubscribe(uow(), client().id, webhook_id, client_actor())
    return None


@blp.route("/webhooks/<int:webhook_id>/deliveries")
@blp.doc(**operation_doc("webhooks:manage", "list_deliveries"))
@blp.response(200, DeliveryListSchema)
@requires("webhooks:manage")
def list_deliveries(webhook_id: int):
    """The delivery log of a subscription, newest first (status, attempts, last answer)."""
    from storage.models import Case

    with reader() as r:
        webhooks.own_subscription(r.session, client().id, webhook_id)
        rows = webhooks.deliveries(r.session, webhook_id)
        refs = {c.id: c.reference for c in r.session.query(Case).filter(Case.id.in_({d.case_id for d in rows}))}
        return {"items": [
            {"id": d.id, "event_id": d.event_id, "event_type": d.event_type, "reference": refs.get(d.case_id),
             "status": d.status, "attempts": d.attempts,
             "next_attempt_at": d.next_attempt_at if d.status in ("pending", "failed") else None,
             "last_status_code": d.last_status_code, "last_error": d.last_error, "created_at": d.created_at,
             "delivered_at": d.delivered_at} for d in rows]}
