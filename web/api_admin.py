"""``/admin/api``: the integration API's clients (revoke, rotate: the new token is shown once on the answer
page) and the webhook delivery log with a replay button. Administrators act; supervisors read."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from services import api_clients, webhooks
from services.errors import ServiceError
from storage.models import ApiClient, WebhookSubscription
from web.common import actor, flash_service_error, reader, roles_required, uow

bp = Blueprint("api_admin", __name__, url_prefix="/admin/api")


@bp.get("/")
@roles_required("admin", "supervisor")
def index():
    with reader() as r:
        clients = api_clients.list_clients(r.session)
        deliveries = webhooks.deliveries(r.session, limit=200)
        subs = {s.id: s for s in r.session.query(WebhookSubscription)}
        names = {c.id: c.name for c in r.session.query(ApiClient)}
    return render_template("admin/api.html", clients=clients, deliveries=deliveries, subs=subs, names=names,
                           can_edit=actor().has_role("admin"), new_token=None)


@bp.post("/clients/<int:client_id>/revoke")
@roles_required("admin")
def revoke(client_id: int):
    with reader() as r:
        client = r.session.get(ApiClient, client_id)
        name = client.name if client else None
    if name is None:
        return redirect(url_for("api_admin.index"))
    try:
        api_clients.revoke(uow(), name, actor())
        flash(_("The client's token is revoked."), "success")
    except ServiceError as err:
        flash_service_error(err)
    return redirect(url_for("api_admin.index"))


@bp.post("/clients/<int:client_id>/rotate")
@roles_required("admin")
def rotate(client_id: int):
    with reader() as r:
        client = r.session.get(ApiClient, client_id)
        name = client.name if client else None
    if name is None:
        return redirect(url_for("api_admin.index"))
    try:
        issued = api_clients.rotate(uow(), name, actor())
    except ServiceError as err:
        flash_service_error(err)
        return redirect(url_for("api_admin.index"))
    # Shown on this answer only (not in a redirect's flash, which the session cookie would carry).
    return render_template("admin/api_token.html", name=name, token=issued.token)


@bp.post("/deliveries/<int:delivery_id>/replay")
@roles_required("admin")
def replay(delivery_id: int):
    try:
        webhooks.replay(uow(), delivery_id, actor())
        flash(_("The delivery is queued again."), "success")
    except ServiceError as err:
        flash_service_error(err)
    return redirect(url_for("api_admin.index") + "#deliveries")
