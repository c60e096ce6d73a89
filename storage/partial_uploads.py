"""Resumable uploads being written: ``<FILES_DIR>/partial/<id>.part`` (the bytes so far) and ``<id>.json``
(who started it, for which item, how long it will be). The offset is the part file's size, so a client that
lost its connection asks for it and sends the rest from there.

Chunks are appended under an exclusive lock of the part file (two requests for the same upload cannot
interleave; the second is told to wait) and only at the current offset. The part lives in the same file system
as the store, so the finished file moves into ``objects/`` by a rename (storage.filestore). Several nodes share
FILES_DIR, so nothing here is held in memory between requests. Knows nothing of the database or of Flask.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from storage.filestore import CHUNK, Staged

_ID = re.compile(r"^[0-9a-f]{32}$")


class Busy(Exception):
    """Another request is writing to this upload right now."""


@dataclass(frozen=True)
class Partial:
    upload_id: str
    offset: int
    length: int
    meta: dict[str, Any]


class PartialUploads:
    def __init__(self, files_root: str | Path) -> None:
        self.root = Path(files_root) / "partial"

    def _paths(self, upload_id: str) -> tuple[Path, Path]:
        if not _ID.match(upload_id or ""):
            raise FileNotFoundError(upload_id)
        return self.root / f"{upload_id}.part", self.root / f"{upload_id}.json"

    def create(self, length: int, meta: dict[str, Any]) -> Partial:
        self.root.mkdir(parents=True, exist_ok=True)
        upload_id = secrets.token_hex(16)
        part, info = self._paths(upload_id)
        part.touch(mode=0o640, exist_ok=False)
        tmp = info.with_suffix(".tmp")
        tmp.write_text(json.dumps({"length": length, **meta}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, info)  # the meta appears whole or not at all
        return Partial(upload_id, 0, length, meta)

    def open_count(self, owner: str) -> int:
        """How many uploads ``owner`` has open (a scan of the small meta files)."""
        if not self.root.is_dir():
            return 0
        count = 0
        for info in self.root.glob("*.json"):
            try:
                count += json.loads(info.read_text(encoding="utf-8")).get("owner") == owner
            except (FileNotFoundError, ValueError):
                continue
        return count

    def get(self, upload_id: str) -> Partial | None:
        try:
            part, info = self._paths(upload_id)
            meta = json.loads(info.read_text(encoding="utf-8"))
            offset = part.stat().st_size
        except (FileNotFoundError, ValueError):
            return None
        length = int(meta.pop("length"))
        return Partial(upload_id, offset, length, meta)

    @contextmanager
    def _locked(self, upload_id: str) -> Iterator[BinaryIO]:
        part, _info = self._paths(upload_id)
        handle = part.open("r+b")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Busy(upload_id) from None
            yield handle
        finally:
            handle.close()  # releases the lock

    def append(self, upload_id: str, start: int, stream: BinaryIO, count: int) -> tuple[int, int]:
        """Append up to ``count`` bytes of ``stream`` at ``start`` (which must be the current offset: the caller
        checked it; it is checked again under the lock). Returns (bytes written, new offset); a stream that
        ends early keeps what arrived (the client resumes from the new offset); bytes past ``count`` are not
        read."""
        with self._locked(upload_id) as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() != start:
                raise Busy(upload_id)  # another request appended meanwhile
            written = 0
            while written < count:
                chunk = stream.read(min(CHUNK, count - written))
                if not chunk:
                    break
                handle.write(chunk)
                written += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
            return written, start + written

    def staged(self, upload_id: str) -> Staged:
        """The completed bytes as a staged file of the store (hashed in one streaming pass); the caller
        commits or discards it, then ``remove``s the upload."""
        part, _info = self._paths(upload_id)
        digest = hashlib.sha256()
        head = b""
        size = 0
        with part.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                if len(head) < 8192:
                    head += chunk[: 8192 - len(head)]
                digest.update(chunk)
                size += len(chunk)
        return Staged(part, digest.hexdigest(), size, head)

    def remove(self, upload_id: str) -> None:
        part, info = self._paths(upload_id)
        part.unlink(missing_ok=True)
        info.unlink(missing_ok=True)

    def sweep(self, older_than_seconds: float) -> int:
        """Remove uploads no chunk reached for ``older_than_seconds`` (abandoned). Returns how many."""
        if not self.root.is_dir():
            return 0
        removed = 0
        cutoff = time.time() - older_than_seconds
        for info in self.root.glob("*.json"):
            part = info.with_suffix(".part")
            try:
                newest = max(info.stat().st_mtime, part.stat().st_mtime if part.exists() else 0.0)
            except FileNotFoundError:
                continue
            if newest < cutoff:
                part.unlink(missing_ok=True)
                info.unlink(missing_ok=True)
                removed += 1
        return removed
