"""Content-addressed file bytes in a directory (FILES_DIR): written and read as streams, never whole in memory.

Layout: ``<root>/objects/ab/cd/<sha256>`` for stored bytes, ``<root>/tmp/`` for uploads being written. A file is
staged into tmp while its hash is computed, then renamed into place (atomic on one file system), so a reader
never sees half a file and identical bytes are stored once. Rows that describe files (storage.models.StoredFile)
live in the database; this module knows nothing of them, nor of Flask.

On several nodes, FILES_DIR is a shared volume (NFS or similar): renames within it are atomic, and two nodes
storing the same bytes converge on the same object.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class TooLarge(Exception):
    """The stream went past the limit; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


@dataclass
class Staged:
    """Bytes written to a temporary file and hashed, not yet in the store."""

    path: Path
    sha256: str
    size: int
    head: bytes  # the first bytes, for sniffing the type


class FileStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"

    def _ready(self) -> None:
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256 or ""):
            raise ValueError("not a sha256 hex digest")
        return self.objects / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def stage(self, source: BinaryIO, limit: int | None = None) -> Staged:
        """Copy a stream into a temporary file in chunks, hashing as it goes; TooLarge past ``limit``."""
        self._ready()
        digest = hashlib.sha256()
        size = 0
        head = b""
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="up-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = source.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise TooLarge(limit)
                    if len(head) < 8192:
                        head += chunk[: 8192 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return Staged(path, digest.hexdigest(), size, head)

    def stage_bytes(self, data: bytes) -> Staged:
        from io import BytesIO

        return self.stage(BytesIO(data))

    def commit(self, staged: Staged) -> Path:
        """Move staged bytes into place; identical bytes already stored are kept and the copy dropped."""
        target = self.path(staged.sha256)
        if target.is_file():
            staged.path.unlink(missing_ok=True)
            os.utime(target)  # just used again: a sweep of unreferenced bytes leaves recent objects alone
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged.path, 0o640)
        os.replace(staged.path, target)
        return target

    def discard(self, staged: Staged) -> None:
        staged.path.unlink(missing_ok=True)

    def idle(self, sha256: str, idle_seconds: float) -> bool:
        """The object was not written or reused (``commit``) for ``idle_seconds`` (or is not there)."""
        import time

        try:
            return time.time() - self.path(sha256).stat().st_mtime >= idle_seconds
        except FileNotFoundError:
            return True

    def remove_if_idle(self, sha256: str, idle_seconds: float) -> bool:
        """Delete stored bytes not written or reused (``commit``) for ``idle_seconds``; the caller has checked
        that no row names them. True when deleted."""
        import time

        target = self.path(sha256)
        try:
            if time.time() - target.stat().st_mtime < idle_seconds:
                return False
            target.unlink()
        except FileNotFoundError:
            return False
        return True

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def iter_chunks(self, sha256: str) -> Iterator[bytes]:
        with self.open(sha256) as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def put_bytes(self, data: bytes) -> Staged:
        staged = self.stage_bytes(data)
        self.commit(staged)
        return staged
