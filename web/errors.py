"""Error pages (403/404/409/422, CSRF failures, oversized uploads) that say what happened and what to do."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from services.errors import ServiceError
from web.i18n import error_text


def _page(status: int, title: str, message: str, hint: str | None = None):
    return render_template(
        "errors/error.html", status=status, title=title, message=message, hint=hint, back=request.referrer
    ), status


def init_app(app: Flask) -> None:
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
        )

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
        return _page(err.http_status, titles.get(err.http_status, _("Cannot be done")), error_text(err))
