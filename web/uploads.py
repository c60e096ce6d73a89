"""Files sent with a form: stored in the file store before the form is validated, so that a form refused for
another reason keeps them (as ``<name>__kept`` ids) and the person does not send 200 MB again.

Each upload is streamed from Werkzeug's spooled temporary file into the store in chunks; only references
(``{"file_id", "sha256"}``) reach the form's data, the workflow and the audit log.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from flask import current_app, session
from flask_babel import gettext as _
from flask_wtf.csrf import validate_csrf
from wtforms import Form, ValidationError

from forms.widgets import FileRefField
from services import file_types, files
from services.files import FileRejected, Upload
from web.common import uow


def file_fields(form: Form) -> list[FileRefField]:
    return [field for field in form if isinstance(field, FileRefField)]


def accepted_kinds(suffixes: Iterable[str]) -> list[str]:
    """The media types an ``x-accept`` list of suffixes allows (empty: every accepted type)."""
    kinds = {file_types.kind_for_name("x" + s) for s in suffixes if s.startswith(".")}
    kinds.discard(None)
    if not kinds or kinds >= set(file_types.KINDS) - {file_types.ZIP}:
        return []
    return sorted(kind.media_type for kind in kinds if kind is not None)


def rejection_text(err: FileRejected) -> str:
    return _(err.msgid, **err.params)


def ingest(
    form: Form,
    *,
    actor: str,
    limit: int,
    case_id: int | None = None,
    owner_token: str | None = None,
    purpose: str = "attachment",
) -> None:
    """Store the form's uploads and resolve its kept files; refused files become messages on their fields.

    Nothing is stored for a request without a valid CSRF token (the form's validation then reports it)."""
    fields = file_fields(form)
    if not fields or not _csrf_ok(form):
        return
    with uow() as unit:
        session = unit.session
        for field in fields:
            kept = files.kept(session, field.kept_ids, case_id=case_id, owner_token=owner_token)
            stored = []
            for upload in field.pending:
                try:
                    stored.append(files.receive(
                        unit, Upload(upload.stream, upload.filename, str(field.label.text)),
                        actor=actor, purpose=purpose, case_id=case_id, item_code=field.name,
                        owner_token=owner_token, limit=limit, accept=accepted_kinds(field.accept),
                    ))
                except FileRejected as err:
                    field.upload_errors.append(rejection_text(err))
            rows = kept + stored
            field.accept_stored([files.ref(r) for r in rows], {r.id: r.original_name for r in rows})
        session.flush()
        unit.commit()


def _csrf_ok(form: Form) -> bool:
    token = getattr(form, "csrf_token", None)
    if token is None or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return True
    try:
        validate_csrf(token.data)
    except ValidationError:
        return False
    return True


def describe(form: Form, session: Any) -> None:
    """Names for the files a form shows from stored data (a task opened again after a rework)."""
    fields = file_fields(form)
    refs = [r for field in fields for r in field.refs()]
    if not refs:
        return
    rows = files.names_for(session, refs)
    for field in fields:
        field.file_names.update({fid: row.original_name for fid, row in rows.items()})


def owner_token(key: str) -> str:
    """The browser session's token under `key`: uploads made before their case exists belong to this session
    only (services.files.kept), and a new one is made on first use."""
    token = session.get(key)
    if not token:
        token = session[key] = secrets.token_hex(16)
    return token
