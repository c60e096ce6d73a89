"""Errors a person can cause, raised by the service layer and shown by the web layer.

Each carries an English message id with %(name)s parameters; the web layer translates it through
Flask-Babel (zh_CN first), the CLI prints it translated the same way. `N_` marks ids for extraction.
"""

from __future__ import annotations

from typing import Any


def N_(msgid: str) -> str:
    return msgid


class ServiceError(Exception):
    http_status = 400

    def __init__(self, msgid: str, **params: Any) -> None:
        super().__init__(msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params


class NotFound(ServiceError):
    http_status = 404


class Forbidden(ServiceError):
    http_status = 403


class Conflict(ServiceError):
    """Someone else changed the same thing first; nothing of this command was written."""

    http_status = 409


class ServiceUnavailable(ServiceError):
    """The command could not run now (e.g. every engine worker is busy); nothing was written."""

    http_status = 503


class InvalidInput(ServiceError):
    """Bad values; `errors` maps field name to a message id (translated by the caller)."""

    http_status = 422

    def __init__(self, msgid: str, errors: dict[str, str] | None = None, **params: Any) -> None:
        super().__init__(msgid, **params)
        self.errors = errors or {}
