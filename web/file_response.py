"""Serve a stored file: streamed from the store (``send_file`` with conditional and range support), named with
its UTF-8 original name (RFC 6266 ``filename*``), never sniffed by the browser, inline only for PDF and images."""

from __future__ import annotations

from flask import Response, send_file

from storage.filestore import FileStore
from storage.models import StoredFile

INLINE_TYPES = ("application/pdf", "image/jpeg", "image/png")


def send_stored(row: StoredFile, store: FileStore, *, inline: bool = False) -> Response:
    as_inline = inline and row.media_type in INLINE_TYPES
    response = send_file(
        store.path(row.sha256), mimetype=row.media_type, as_attachment=not as_inline,
        download_name=row.original_name, conditional=True, etag=row.sha256, max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    if not as_inline:
        # Nothing a downloaded file contains may run in this site's origin.
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
