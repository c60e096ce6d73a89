"""Resumable uploads of large materials (an EIA report of 200 MB over a provincial network): the client announces
the file's length, then sends it in chunks, each at the offset the server holds (``Content-Range``); after a
broken connection it asks for the offset and continues from there. The last chunk makes the file: checked like
any upload (type sniffed from the content, the matter's limit) and stored under the client's owner token, so
the application names it in its ``uploads`` exactly like a file from a one-request upload slot.

The bytes so far live in the file store's ``partial/`` directory (storage.partial_uploads); an upload that no
chunk reached for a day is swept by the scheduler's housekeeping. Nothing here knows Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

from services import files
from services.errors import N_, Conflict, NotFound, ServiceError
from services.files import FileRejected
from services.uow import UnitOfWork
from storage.models import StoredFile
from storage.partial_uploads import Busy, Partial, PartialUploads

ABANDONED_AFTER = timedelta(hours=24)
MAX_OPEN = 20  # per client: announced lengths reserve nothing, but each open upload is a file on the volume


class BadRange(ServiceError):
    """The chunk's Content-Range does not fit the upload (400)."""


class OffsetMismatch(Conflict):
    """The chunk does not start where the upload stands; ``offset`` says where it does."""

    def __init__(self, offset: int) -> None:
        super().__init__(N_("This upload stands at byte %(offset)s; send the chunk that starts there."),
                         offset=offset)
        self.offset = offset


@dataclass(frozen=True)
class Chunked:
    upload: Partial
    stored: StoredFile | None  # the finished file, after the last chunk


def _partials(uow: UnitOfWork) -> PartialUploads:
    return PartialUploads(uow.files.root)


def start(uow: UnitOfWork, *, owner_token: str, matter_code: str, item_code: str, name: str, length: int,
          limit: int) -> Partial:
    """Open an upload of ``length`` bytes (refused at once past the matter's ``limit``)."""
    if length > limit:
        raise FileRejected(N_("%(item)s: the file “%(name)s” is larger than the limit of %(limit)s."),
                           item=item_code, name=files.clean_name(name), limit=files.human_size(limit))
    partials = _partials(uow)
    if partials.open_count(owner_token) >= MAX_OPEN:
        raise Conflict(N_("%(count)s uploads are open already; finish or delete one first."), count=MAX_OPEN)
    return partials.create(length, {"owner": owner_token, "matter": matter_code, "item": item_code,
                                    "name": files.clean_name(name), "limit": limit})


def find(uow: UnitOfWork, upload_id: str, owner_token: str) -> Partial:
    """The owner's upload (another client's answers like a missing one)."""
    found = _partials(uow).get(upload_id)
    if found is None or found.meta.get("owner") != owner_token:
        raise NotFound(N_("Upload %(id)s does not exist."), id=upload_id[:40])
    return found


def write_chunk(uow: UnitOfWork, upload_id: str, owner_token: str, *, start_at: int, stop: int, total: int | None,
                stream: BinaryIO, actor: str) -> Chunked:
    """Append the chunk ``[start_at, stop)`` (``total``: the length the client states, if any). The chunk that
    completes the file stores it (FileRejected: refused, the upload is gone)."""
    partials = _partials(uow)
    upload = find(uow, upload_id, owner_token)
    if total is not None and total != upload.length:
        raise BadRange(N_("The upload was announced with %(length)s bytes, not %(total)s."),
                       length=upload.length, total=total)
    if stop > upload.length or stop <= start_at:
        raise BadRange(N_("The chunk must lie within the upload's %(length)s bytes."), length=upload.length)
    if start_at != upload.offset:
        raise OffsetMismatch(upload.offset)
    try:
        _written, offset = partials.append(upload_id, start_at, stream, stop - start_at)
    except Busy:
        raise Conflict(N_("Another chunk of this upload is being written; ask for the offset and try again."),
                       ) from None
    except FileNotFoundError:  # deleted (or finished) by another request meanwhile
        raise NotFound(N_("Upload %(id)s does not exist."), id=upload_id[:40]) from None
    upload = Partial(upload_id, offset, upload.length, upload.meta)
    if offset < upload.length:
        return Chunked(upload, None)
    staged = partials.staged(upload_id)
    try:
        with uow:
            stored = files.receive_staged(uow, staged, upload.meta["name"], upload.meta["item"], actor=actor,
                                          purpose="material", item_code=upload.meta["item"],
                                          owner_token=owner_token, limit=int(upload.meta["limit"]))
            uow.session.flush()
            uow.commit()
            uow.session.expunge(stored)
    finally:
        partials.remove(upload_id)
    return Chunked(upload, stored)


def abandon(uow: UnitOfWork, upload_id: str, owner_token: str) -> None:
    find(uow, upload_id, owner_token)
    _partials(uow).remove(upload_id)


def sweep(uow: UnitOfWork, abandoned_after: timedelta = ABANDONED_AFTER) -> int:
    return _partials(uow).sweep(abandoned_after.total_seconds())
