"""The case file's bytes: receive uploads (streamed, type sniffed from the content, limits checked), store
issued documents, and resolve the references that workflow data and audit payloads keep.

A reference is ``{"file_id": <32 hex>, "sha256": <64 hex>}``: the workflow state and the audit log never hold
file bytes (a 200 MB EIA report would otherwise be copied into every save of the case and into its history).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services import file_types
from services.errors import N_
from services.uow import UnitOfWork
from storage.filestore import FileStore, Staged, TooLarge
from storage.models import StoredFile

DEFAULT_LIMIT = 50 * 1024 * 1024
NAME_MAX = 255
# An archive (or a DOCX/OFD package) may expand to this many times the upload limit; past it, a bomb.
ZIP_EXPANSION = 4


def default_files_dir() -> Path:
    """FILES_DIR from the environment, else ``instance/files`` beside the default database."""
    configured = os.environ.get("FILES_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "instance" / "files"


def default_store() -> FileStore:
    return FileStore(default_files_dir())


class FileRejected(Exception):
    """An upload that is not kept; ``msgid`` % ``params`` says why, naming the item and the file."""

    def __init__(self, msgid: str, **params: Any) -> None:
        super().__init__(msgid % params)
        self.msgid = msgid
        self.params = params


@dataclass(frozen=True)
class Upload:
    """One file as it arrived: its stream (read once, in chunks), the name the client gave, and the label of
    the item or field it was sent for (used in messages)."""

    stream: BinaryIO
    filename: str
    label: str


def clean_name(filename: str) -> str:
    """The last path segment, without control characters, at most 255 characters (keeping the suffix)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|').strip() or "file"
    if len(name) > NAME_MAX:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[: NAME_MAX - len(suffix) - 1] + dot + suffix) if dot and len(suffix) < 16 else name[:NAME_MAX]
    return name


def human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    if n >= 1024:
        return f"{n / 1024:g} KB"
    return f"{n} B"


def ref(stored: StoredFile) -> dict[str, str]:
    return {"file_id": stored.id, "sha256": stored.sha256}


def is_ref(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"file_id", "sha256"}
        and isinstance(value["file_id"], str)
        and isinstance(value["sha256"], str)
    )


def refs_in(value: Any) -> list[dict[str, str]]:
    """Every file reference inside a JSON value (form answers, task data)."""
    found: list[dict[str, str]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if is_ref(item):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


# ---------------------------------------------------------------- receiving


def receive(
    uow: UnitOfWork,
    upload: Upload,
    *,
    actor: str,
    purpose: str,
    case_id: int | None = None,
    item_code: str | None = None,
    owner_token: str | None = None,
    limit: int = DEFAULT_LIMIT,
    accept: Iterable[str] | None = None,
) -> StoredFile:
    """Stream one upload into the store and describe it in a row (added to the unit's session, not committed).

    Refused with FileRejected (nothing kept): empty, over ``limit``, a type outside the accepted ones, content
    that does not match the name's suffix, or a ZIP that is broken, nests archives, holds other types or
    expands past its limit. ``accept`` narrows the types further (media types, e.g. images for photos).
    """
    store = uow.files
    name = clean_name(upload.filename)
    label = upload.label
    try:
        staged = store.stage(upload.stream, limit)
    except TooLarge:
        raise FileRejected(N_("%(item)s: the file “%(name)s” is larger than the limit of %(limit)s."),
                           item=label, name=name, limit=human_size(limit)) from None
    return receive_staged(uow, staged, name, label, actor=actor, purpose=purpose, case_id=case_id,
                          item_code=item_code, owner_token=owner_token, limit=limit, accept=accept)


def receive_staged(
    uow: UnitOfWork,
    staged: Staged,
    name: str,
    label: str,
    *,
    actor: str,
    purpose: str,
    case_id: int | None = None,
    item_code: str | None = None,
    owner_token: str | None = None,
    limit: int = DEFAULT_LIMIT,
    accept: Iterable[str] | None = None,
) -> StoredFile:
    """Bytes already staged (a stream, or a resumable upload's completed parts) checked like ``receive`` and
    moved into the store; the staged copy is gone either way."""
    store = uow.files
    name = clean_name(name)
    try:
        if staged.size > limit:
            raise FileRejected(N_("%(item)s: the file “%(name)s” is larger than the limit of %(limit)s."),
                               item=label, name=name, limit=human_size(limit))
        media_type = _check(staged, name, label, limit, accept)
        store.commit(staged)
    except BaseException:
        store.discard(staged)
        raise
    stored = StoredFile(
        id=uuid.uuid4().hex, case_id=case_id, item_code=item_code, purpose=purpose, original_name=name,
        media_type=media_type, size=staged.size, sha256=staged.sha256, owner_token=owner_token,
        created_by=actor,
    )
    uow.session.add(stored)
    return stored


def _check(staged: Staged, name: str, label: str, limit: int, accept: Iterable[str] | None) -> str:
    if staged.size == 0:
        raise FileRejected(N_("%(item)s: the file “%(name)s” is empty."), item=label, name=name)
    try:
        kind = file_types.identify(staged.path, staged.head, zip_expand_limit=limit * ZIP_EXPANSION)
    except file_types.ArchiveProblem as problem:
        raise FileRejected(problem.msgid, item=label, name=name, **problem.params) from None
    if kind is None:
        raise FileRejected(
            N_("%(item)s: the type of “%(name)s” is not accepted; accepted are PDF, OFD, JPEG, PNG, DOC, DOCX "
               "and ZIP archives of these."), item=label, name=name)
    claimed = file_types.kind_for_name(name)
    if claimed != kind:
        raise FileRejected(
            N_("%(item)s: the content of “%(name)s” is %(actual)s, which does not match its name; rename it "
               "or choose the right file."), item=label, name=name, actual=kind.label)
    allowed = set(accept or ())
    if allowed and kind.media_type not in allowed and kind.code not in allowed:
        raise FileRejected(N_("%(item)s: “%(name)s” is %(actual)s; this item takes %(allowed)s."),
                           item=label, name=name, actual=kind.label,
                           allowed="、".join(file_types.label_of(a) for a in sorted(allowed)))
    return kind.media_type


def store_bytes(
    uow: UnitOfWork,
    data: bytes,
    *,
    name: str,
    media_type: str,
    case_id: int | None,
    actor: str,
    purpose: str,
    item_code: str | None = None,
) -> StoredFile:
    """Store bytes the system made itself (an issued document): no sniffing, the caller knows the type."""
    staged = uow.files.put_bytes(data)
    stored = StoredFile(
        id=uuid.uuid4().hex, case_id=case_id, item_code=item_code, purpose=purpose,
        original_name=clean_name(name), media_type=media_type, size=staged.size, sha256=staged.sha256,
        created_by=actor,
    )
    uow.session.add(stored)
    return stored


def open_file(uow: UnitOfWork, file_id: str) -> BinaryIO:
    """A readable stream of a stored file's bytes (close it after use)."""
    row = get(uow.session, file_id)
    if row is None:
        raise FileNotFoundError(file_id)
    return uow.files.open(row.sha256)


# ---------------------------------------------------------------- references


def get(session: Session, file_id: str) -> StoredFile | None:
    if not isinstance(file_id, str) or len(file_id) != 32 or not all(c in "0123456789abcdef" for c in file_id):
        return None
    return session.get(StoredFile, file_id)


def kept(
    session: Session, file_ids: Iterable[str], *, case_id: int | None = None, owner_token: str | None = None
) -> list[StoredFile]:
    """The files a re-displayed form may keep: only ids already stored for this case, or (before the case
    exists) uploaded under this browser session's token. Anything else is dropped, never trusted."""
    ids = [i for i in dict.fromkeys(file_ids) if get(session, i) is not None]
    if not ids or (case_id is None and not owner_token):
        return []
    query = select(StoredFile).where(StoredFile.id.in_(ids))
    if case_id is not None and owner_token:
        query = query.where((StoredFile.case_id == case_id) | (StoredFile.owner_token == owner_token))
    elif case_id is not None:
        query = query.where(StoredFile.case_id == case_id)
    else:
        query = query.where(StoredFile.owner_token == owner_token, StoredFile.case_id.is_(None))
    rows = {row.id: row for row in session.execute(query).scalars()}
    return [rows[i] for i in ids if i in rows]


def names_for(session: Session, refs: Iterable[dict[str, str]]) -> dict[str, StoredFile]:
    ids = [r["file_id"] for r in refs if is_ref(r)]
    if not ids:
        return {}
    rows = session.execute(select(StoredFile).where(StoredFile.id.in_(ids))).scalars()
    return {row.id: row for row in rows}


def attach(session: Session, file_ids: Iterable[str], case_id: int, owner_token: str | None) -> None:
    """Give an applicant's uploads (made before the case existed) to the new case."""
    ids = list(file_ids)
    if not ids:
        return
    for row in session.execute(select(StoredFile).where(StoredFile.id.in_(ids))).scalars():
        if row.case_id is None and owner_token and row.owner_token == owner_token:
            row.case_id = case_id
            row.owner_token = None


# ---------------------------------------------------------------- uploads never attached

UNATTACHED_KEEP = timedelta(hours=24)  # a form left half-filled this long is abandoned
IDLE_BYTES = timedelta(hours=1)  # bytes stored or reused more recently may belong to an upload in flight
FORGOTTEN = datetime(2000, 1, 1, tzinfo=UTC)  # the created_at of an upload handed to the next sweep


def forget_unattached(uow: UnitOfWork, file_ids: Iterable[str], owner_token: str) -> int:
    """Uploads made under ``owner_token`` that no case will take (a request that found its case already made,
    e.g. the losing twin of an idempotent submission, or was refused): rows whose bytes another file names
    (the twin's: the case holds the same bytes) are removed at once; the others are handed to the next sweep,
    which removes the bytes with them once no upload can be using them. Returns the rows removed now."""
    ids = [i for i in file_ids if i]
    if not ids:
        return 0
    with uow:
        session = uow.session
        mine = StoredFile.id.in_(ids) & (StoredFile.owner_token == owner_token) & StoredFile.case_id.is_(None)
        digests = set(session.execute(select(StoredFile.sha256).where(mine)).scalars())
        shared = set(session.execute(select(StoredFile.sha256).where(
            StoredFile.sha256.in_(digests), StoredFile.id.not_in(ids))).scalars()) if digests else set()
        removed = session.execute(delete(StoredFile).where(mine, StoredFile.sha256.in_(shared))).rowcount \
            if shared else 0
        session.execute(update(StoredFile).where(mine).values(created_at=FORGOTTEN))
        uow.commit()
    return removed or 0


def sweep_unattached(uow: UnitOfWork, now: datetime, keep: timedelta = UNATTACHED_KEEP,
                     idle: timedelta = IDLE_BYTES, limit: int = 500) -> int:
    """The scheduler's housekeeping: uploads made before a case existed (``owner_token``, no case) and older
    than ``keep`` are removed with their bytes, unless another file names those bytes (then only the row). Bytes
    written or reused within ``idle`` may belong to an upload in flight (its row not yet committed): such a row
    waits for a later sweep, so no bytes are ever left without a row to find them. Returns the rows removed."""
    store = uow.files
    with uow:
        session = uow.session
        rows = list(session.execute(
            select(StoredFile.id, StoredFile.sha256).where(StoredFile.case_id.is_(None),
                                                           StoredFile.owner_token.is_not(None),
                                                           StoredFile.created_at < now - keep).limit(limit)))
        if not rows:
            return 0
        ids = [r.id for r in rows]
        named = set(session.execute(select(StoredFile.sha256).where(
            StoredFile.sha256.in_({r.sha256 for r in rows}), StoredFile.id.not_in(ids))).scalars())
        going = [r for r in rows if r.sha256 in named or store.idle(r.sha256, idle.total_seconds())]
        if not going:
            return 0
        session.execute(delete(StoredFile).where(StoredFile.id.in_([r.id for r in going]),
                                                 StoredFile.case_id.is_(None)))
        uow.commit()
    for digest in {r.sha256 for r in going} - named:
        store.remove_if_idle(digest, idle.total_seconds())
    return len(going)


def foreign_refs(session: Session, answers: dict[str, Any], case_id: int) -> dict[str, str]:
    """Fields whose file references are not files of this case (or do not match their sha256): a client
    that bypasses the form must not attach another case's file. Field name → message id."""
    problems: dict[str, str] = {}
    for name, value in answers.items():
        refs = refs_in(value)
        if not refs:
            continue
        rows = names_for(session, refs)
        for item in refs:
            row = rows.get(item["file_id"])
            if row is None or row.case_id != case_id or row.sha256 != item["sha256"]:
                problems[name] = N_("This file does not belong to this case; send it again.")
                break
    return problems


def upload_limit(matter_code: str) -> int:
    from workflows.catalog import shipped_catalog

    try:
        return shipped_catalog().matter(matter_code).max_upload_bytes
    except KeyError:
        return DEFAULT_LIMIT
