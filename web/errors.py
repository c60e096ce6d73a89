"""Error pages (400/403/404/409/413/415/422, CSRF failures, refused input, database errors caused by input,
and a plain page for anything unexpected) that say what happened and what to do; never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, DBAPIError, StatementError
from werkzeug.exceptions import HTTPException, InternalServerError

from services.errors import N_, ServiceError
from web.api.problems import is_api_request, problem_response
from web.edge import BadInput, same_site_path
from web.i18n import error_text, field_error_text

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _page(status: int, title: str, message: str, hint: str | None = None, errors: dict | None = None,
          headers: dict[str, str] | None = None):
    if is_api_request():  # the integration API answers every error as application/problem+json
        return problem_response(status, message, errors=errors, headers=headers)
    if _wants_json():
        return jsonify({"ok": False, "error": "invalid" if status < 500 else "failed", "message": message}), status
    return render_template(
        "errors/error.html", status=status, title=title, message=message, hint=hint,
        back=same_site_path(request.referrer),
    ), status


def _input_caused(err: StatementError) -> bool:
    """A database error that the values sent caused: the server refused a value (DataError: out of range,
    NUL in text, bad encoding), or a value could not even be bound (no DBAPI error underneath)."""
    if isinstance(err, DataError):
        return True
    return not isinstance(err, DBAPIError) and isinstance(err.orig, ValueError | OverflowError | TypeError)


def init_app(app: Flask) -> None:
    @app.errorhandler(BadInput)
    def bad_input(err: BadInput):
        return _page(
            err.code or 400,
            _("Cannot be accepted"),
            _(err.msgid) % err.params if err.params else _(err.msgid),
            _("Go back, correct what was sent and try again."),
        )

    @app.errorhandler(StatementError)
    def database_refused(err: StatementError):
        if not _input_caused(err):
            raise err
        # Inputs are bounded at the edge (web.edge, web.inputs); reaching here means a bound is missing.
        log.warning("database refused a value sent to %s %s: %s", request.method, request.path, err.orig)
        return _page(
            400,
            _("Cannot be accepted"),
            _("A value sent cannot be stored (out of range or not allowed)."),
            _("Go back, correct what was sent and try again."),
        )

    @app.errorhandler(InternalServerError)
    def internal_error(err: InternalServerError):
        # Flask has logged the exception with its traceback; the person gets a plain page without it. The
        # page does not extend base.html, which reads the database (that may be what failed).
        try:
            body = render_template("errors/internal.html")
        except Exception:  # noqa: BLE001 - the last resort must not fail itself
            body = "服务器内部错误，已记录。请稍后重试。 / Internal error; it has been logged."
        if is_api_request():
            return problem_response(500, "服务器内部错误，已记录。请稍后重试。")
        if _wants_json():
            return jsonify({"ok": False, "error": "failed", "message": "服务器内部错误，已记录。请稍后重试。"}), 500
        return body, 500

    @app.errorhandler(415)
    def unsupported(err: HTTPException):
        return _page(
            415,
            _("Cannot be accepted"),
            _("This address accepts form submissions only, not JSON."),
            _("Go back, correct what was sent and try again."),
        )

    @app.errorhandler(403)
    def forbidden(err: HTTPException):
        return _page(
            403,
            _("Not allowed"),
            _("You do not have the right to open this page or do this."),
            _("If you think you should, ask the lead of your unit or the administrator."),
        )

    @app.errorhandler(404)
    def not_found(err: HTTPException):
        return _page(
            404,
            _("Not found"),
            _("This page or record does not exist."),
            _("Check the address, or go back to the worklist."),
        )

    @app.errorhandler(409)
    def conflict(err: HTTPException):
        return _page(
            409,
            _("Changed in the meantime"),
            _("Someone else changed this first; nothing was saved."),
            _("Reload the page to see the current state."),
        )

    @app.errorhandler(413)
    def too_large(err: HTTPException):
        return _page(
            413,
            _("Upload too large"),
            _("The files sent together are too large."),
            _("Go back and send smaller files."),
        )

    @app.errorhandler(422)
    def unprocessable(err: HTTPException):
        return _page(
            422,
            _("Cannot be processed"),
            _("The values sent cannot be processed."),
            _("Go back, correct the marked fields and send again."),
            errors=_argument_errors(err),
        )

    # Every other HTTP error (405, 429, 400, 401, 410, 431 …) in the active language too: werkzeug's own pages
    # are English. A status not listed gets the generic wording of its class. Under /api/ the same words come
    # as problem+json (_page).
    generic = {
        400: (N_("Cannot be accepted"), N_("The request was not understood."),
              N_("Go back, correct what was sent and try again.")),
        401: (N_("Not signed in"), N_("Sign in to open this page."), N_("Sign in, then try again.")),
        405: (N_("Not possible here"), N_("This address does not accept this kind of request."),
              N_("Use the buttons and links of the pages instead of typing the address.")),
        410: (N_("Not found"), N_("This page or record no longer exists."),
              N_("Check the address, or go back to the worklist.")),
        429: (N_("Too many attempts"), N_("Too many requests in a short time; this is paused for a while."),
              N_("Wait a few minutes, then try again.")),
        431: (N_("Cannot be accepted"), N_("The request's headers are too large."),
              N_("Delete this site's cookies in the browser, then try again.")),
    }

    @app.errorhandler(HTTPException)
    def other_http_error(err: HTTPException):
        status = err.code or 500
        if status < 400:  # not an error (a redirect raised as an exception): werkzeug's own answer
            return err
        if status >= 500:
            return internal_error(InternalServerError())
        if is_api_request():  # the API's own Chinese detail (e.g. which method this address does not accept)
            from web.api.messages import http_detail

            allow = getattr(err, "valid_methods", None)
            return problem_response(status, http_detail(status, request.method, err.description),
                                    headers={"Allow": ", ".join(allow)} if allow else None)
        title, message, hint = generic.get(status, generic[400] if status != 404 else generic[410])
        page = app.make_response(_page(status, _(title), _(message), _(hint)))
        # Keep what werkzeug's answer says besides its text (Allow for 405, Retry-After for 429).
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            value = err.get_response().headers.get(header)
            if value:
                page.headers[header] = value
        return page

    @app.errorhandler(CSRFError)
    def csrf_failed(err: CSRFError):
        return _page(
            400,
            _("The form has expired"),
            _("This form could not be accepted because its security token is missing or expired."),
            _("Go back, reload the page and send the form again."),
        )

    @app.errorhandler(ServiceError)
    def service_error(err: ServiceError):
        titles = {
            403: _("Not allowed"),
            404: _("Not found"),
            409: _("Changed in the meantime"),
            422: _("Cannot be processed"),
        }
        errors = {k: field_error_text(v) for k, v in getattr(err, "errors", {}).items()} or None
        return _page(err.http_status, titles.get(err.http_status, _("Cannot be done")), error_text(err),
                     errors=errors)


def _argument_errors(err: HTTPException) -> dict | None:
    """The per-field messages of a request the API's schemas refused (webargs puts them on the error)."""
    messages = (getattr(err, "data", None) or {}).get("messages")
    if not isinstance(messages, dict):
        return None
    flat: dict[str, object] = {}

    def walk(prefix: str, problem: object) -> None:  # nested fields and list items: "json.events.0"
        if isinstance(problem, dict):
            for name, inner in problem.items():
                walk(f"{prefix}.{name}", inner)
        else:
            flat[prefix] = problem if isinstance(problem, str | list) else str(problem)

    for location, fields in messages.items():
        if isinstance(fields, dict):
            for name, problem in fields.items():
                walk(f"{location}.{name}", problem)
    return flat or None
