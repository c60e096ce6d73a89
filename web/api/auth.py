"""Who calls the API: the bearer token's client, its scopes, its rate limit and the audit of the call.

``requires(scope)`` marks a view (and documents the scope in the OpenAPI operation); ``authenticate`` runs
before every API view: one short write transaction looks the token up, counts the call in the client's
current minute (services.throttle's shared table) and appends the ``api.call`` audit event with the client's
name as the actor. A refused call (no token, unknown, revoked, missing scope, over the limit) never reaches
the view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request

from services import api_clients, audit_log
from services.actors import Actor
from services.api_clients import ClientInfo
from services.errors import N_
from web.api.problems import ApiProblem

F = TypeVar("F", bound=Callable[..., Any])

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "API client token (`python app.py create-api-client`); each operation names its "
                              "scope in `x-required-scope` and in the security requirement."},
}
APPROVAL_OFFICE_LANE = "审批办"  # the window's lane in the diagrams (catalog unit approval_office)


def requires(scope: str | None) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        view.required_scope = scope  # type: ignore[attr-defined]
        return view

    return decorate


def operation_doc(scope: str | None, operation_id: str) -> dict[str, Any]:
    """The OpenAPI security requirement, scope extension and operationId of an operation
    (``@blp.doc(**operation_doc(scope, view name))``)."""
    return {"security": [{"bearer": [scope] if scope else []}], "x-required-scope": scope,
            "operationId": operation_id}


def case_links(status: int) -> dict[str, Any]:
    """OpenAPI links from an answer carrying a case to the operations that take its reference."""
    reference = {"reference": "$response.body#/reference"}
    return {"responses": {status: {"links": {
        name: {"operationId": name, "parameters": reference}
        for name in ("get_case", "list_documents", "list_tasks", "submit_supplements")}}}}


def client() -> ClientInfo:
    return g.api_client


def client_actor(*, window: bool = False) -> Actor:
    """The client as the service layer's actor: an applicant's channel, or the window (scope window:act)."""
    info = client()
    if window:
        return Actor(username=info.actor_name, roles=frozenset({"window"}),
                     lanes=frozenset({APPROVAL_OFFICE_LANE}))
    return Actor(username=info.actor_name, roles=frozenset({"applicant"}))


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate() -> None:
    """before_request of every API blueprint."""
    from flask import current_app as app

    view = app.view_functions.get(request.endpoint or "")
    scope = getattr(view, "required_scope", None)
    token = _bearer()
    unauthorised = {"WWW-Authenticate": 'Bearer realm="runonce"'}
    if token is None:
        raise ApiProblem(401, N_("Send the client's token: Authorization: Bearer <token>."), headers=unauthorised)
    from web.common import uow

    unit = uow()
    with unit:
        session = unit.session
        info = api_clients.authenticate(session, token)
        if info is None:
            raise ApiProblem(401, N_("The token is unknown or revoked."), headers=unauthorised)
        wait = api_clients.count_call(session, info, int(current_app.config["API_RATE_PER_MINUTE"]))
        api_clients.touch(session, info)
        if not wait:
            audit_log.record(session, Actor(username=info.actor_name, roles=frozenset({"api"})), "api.call",
                             method=request.method, path=request.path, scope=scope)
        unit.commit()
    if wait:
        raise ApiProblem(429, N_("The client's rate limit is reached; try again in %(seconds)s seconds."),
                         headers={"Retry-After": str(int(wait))}, seconds=int(wait))
    if scope is not None and scope not in info.scopes:
        raise ApiProblem(403, N_("This operation needs the scope %(scope)s."), scope=scope)
    g.api_client = info
