"""Errors of the integration API as ``application/problem+json`` (RFC 9457).

Every answer under /api/ that is not a success is a problem document: a stable ``type`` URI per kind of
problem (clients branch on it), a Chinese ``title`` (the department's working language, whatever the
client's Accept-Language), the HTTP ``status``, a ``detail`` for this occurrence and, for refused fields,
``errors`` (field → message). The page handlers of web/errors.py hand /api/ requests to ``problem_response``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, json, request
from flask_babel import force_locale
from flask_babel import gettext as _

from services.errors import N_

API_PREFIX = "/api/"
TYPE_BASE = "https://runonce.invalid/problems/"  # a URI that names the kind; not meant to be fetched

# status → (type slug, title msgid)
KINDS: dict[int, tuple[str, str]] = {
    400: ("bad-request", N_("Request cannot be accepted")),
    401: ("unauthenticated", N_("Missing or invalid access token")),
    403: ("insufficient-scope", N_("The token lacks the scope for this operation")),
    404: ("not-found", N_("Not found")),
    405: ("method-not-allowed", N_("Method not allowed")),
    409: ("conflict", N_("Conflict with the current state")),
    413: ("too-large", N_("Request too large")),
    415: ("unsupported-media-type", N_("Unsupported media type")),
    422: ("invalid", N_("The values sent cannot be processed")),
    428: ("precondition-required", N_("A required header is missing")),
    429: ("rate-limited", N_("Too many requests")),
    500: ("internal", N_("Internal error")),
    503: ("unavailable", N_("Service unavailable, try again")),
}


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    kind: str | None = None,
    title: str | None = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    slug, title_id = KINDS.get(status, KINDS[500 if status >= 500 else 400])
    with force_locale("zh_CN"):
        body: dict[str, Any] = {
            "type": TYPE_BASE + (kind or slug),
            "title": title or _(title_id),
            "status": status,
        }
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    if errors:
        from web.api.messages import field_messages  # marshmallow's English field messages in Chinese

        body["errors"] = {str(k): field_messages(v if isinstance(v, str | list) else str(v))
                          for k, v in errors.items()}
    response = current_app.response_class(json.dumps(body, ensure_ascii=False), status=status,
                                          mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


class ApiProblem(Exception):
    """Raised by API views for a problem the service layer does not know (a missing scope, a header …)."""

    def __init__(self, status: int, msgid: str, *, kind: str | None = None, headers: dict[str, str] | None = None,
                 **params: Any) -> None:
        super().__init__(msgid % params if params else msgid)
        self.status, self.msgid, self.kind, self.headers, self.params = status, msgid, kind, headers, params

    def response(self) -> Response:
        text = _(self.msgid)
        return problem_response(self.status, text % self.params if self.params else text, kind=self.kind,
                                headers=self.headers)
