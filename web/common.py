"""Small helpers shared by the blueprints: units of work, the acting user, role checks, messages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, flash
from flask_login import current_user, login_required

from services.actors import Actor
from services.errors import InvalidInput, ServiceError
from services.uow import UnitOfWork
from web.i18n import error_text, field_error_text

F = TypeVar("F", bound=Callable[..., Any])


def uow() -> UnitOfWork:
    from app import uow_for

    return uow_for(current_app)


@contextmanager
def reader() -> Iterator[UnitOfWork]:
    """A read-only unit of work whose objects stay readable after it closes (templates render them later):
    they are detached before the closing rollback would expire them."""
    from app import uow_for

    with uow_for(current_app, write=False) as r:
        try:
            yield r
        finally:
            r.session.expunge_all()


def actor() -> Actor:
    return current_user.actor


def roles_required(*roles: str) -> Callable[[F], F]:
    """Signed in and holding one of the roles (admin passes everywhere), else 403."""

    def decorate(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.actor.has_role(*roles, "admin"):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def flash_service_error(err: ServiceError) -> None:
    flash(error_text(err), "error")


def show_refusal(form: Any, err: ServiceError) -> int:
    """Show a refused command on its form: the message on top, field messages on their fields (what was
    typed stays in the form). Returns the HTTP status to answer with."""
    flash_service_error(err)
    if isinstance(err, InvalidInput):
        for name, message in err.errors.items():
            if name in form:
                form[name].errors = [*list(form[name].errors), field_error_text(message)]
    return err.http_status
