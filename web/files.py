"""Staff download of the case file's stored files: ``GET /files/<file_id>``.

The bytes are streamed from the file store (send_file on the store path: conditional requests and ranges,
never read whole), with the UTF-8 original name (RFC 5987 ``filename*``), the media type sniffed when the file
was received, no sniffing by the browser and no shared caching. ``?inline=1`` shows a PDF or an image in the
browser (the case file's preview frames it); anything else is always an attachment. Only files of a case, only
to users who may see that case.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, request, send_file
from flask_login import login_required

from services import files
from services.case_file import PREVIEWABLE
from storage.models import Case, StoredFile
from web.common import reader

bp = Blueprint("files", __name__)

# A file shown inline may be framed by our own pages (the preview), nothing else; it runs no script. Browsers
# show a PDF through their built-in viewer, an embedded plugin: ``object-src 'self'`` keeps it allowed (a
# precaution; headless Chromium has no viewer, so the browser test checks the framing, not the rendering).
INLINE_CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; object-src 'self'; "
              "frame-ancestors 'self'")
ATTACHMENT_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"


def content_disposition(kind: str, name: str) -> str:
    """``attachment``/``inline`` with an ASCII fallback name and the exact name as RFC 5987 ``filename*``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = "".join(ch for ch in ascii_name if ch.isprintable() and ch not in '"\\;')
    stem, dot, suffix = ascii_name.rpartition(".")
    if not (stem if dot else ascii_name).strip(" ._-"):
        ascii_name = "file" + (dot + suffix if dot else "")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@bp.get("/files/<file_id>")
@login_required
def download(file_id: str):
    from web.handler import may_view_case  # the case-access rule (moving to services.access)

    with reader() as r:
        row = files.get(r.session, file_id)
        if row is None or row.case_id is None:  # applicants' files before their case exists are not served here
            abort(404)
        case = r.session.get(Case, row.case_id)
        if case is None:
            abort(404)
        if not may_view_case(r.session, case):
            abort(403)
        path = r.files.path(row.sha256)
    return stored_file_response(row, path, inline=request.args.get("inline") == "1")


def stored_file_response(row: StoredFile, path: Path, *, inline: bool = False) -> Response:
    """The bytes of a stored file as a response (staff and applicant downloads alike)."""
    if not path.is_file():
        current_app.logger.error("file %s (sha256 %s) is missing from the file store", row.id, row.sha256)
        abort(404)
    inline = inline and row.media_type in PREVIEWABLE
    response = send_file(
        path, mimetype=row.media_type, conditional=True, etag=row.sha256, last_modified=row.created_at,
        max_age=None,
    )
    response.headers["Content-Disposition"] = content_disposition(
        "inline" if inline else "attachment", row.original_name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = INLINE_CSP if inline else ATTACHMENT_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN" if inline else "DENY"
    response.headers["Cache-Control"] = "private, no-cache"
    return response
