"""The case file's ZIP is streamed: chunks stay small whatever the size of the files, memory stays flat, and
the archive that comes out is whole (every member readable, hashes as stored). No database is involved."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
import zipfile
from datetime import UTC, datetime

from services import case_archive
from services.case_file import CaseFile, FileInfo, MaterialEntry, Person, Receipt
from storage.filestore import CHUNK, FileStore

MIB = 1024 * 1024


def _put_big(store: FileStore, size: int) -> tuple[str, int]:
    """A file of random bytes written to the store in chunks (never whole in memory here either)."""
    source = store.root / "source.bin"
    store.root.mkdir(parents=True, exist_ok=True)
    with source.open("wb") as out:
        for _ in range(size // MIB):
            out.write(os.urandom(MIB))
    with source.open("rb") as handle:
        staged = store.stage(handle)
    store.commit(staged)
    return staged.sha256, staged.size


def _case_file(infos: list[FileInfo]) -> CaseFile:
    at = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)
    receipts = tuple(Receipt("application", "online", None, None, Person(None, "applicant"), at, f, None)
                     for f in infos)
    entry = MaterialEntry("eia_document", "环境影响报告书（报告表）全本", "required", None, "original", 1, None,
                          False, receipts)
    return CaseFile(1, "T1", "m01", "某公司", (entry,), (), (), (), ())


def test_a_large_file_streams_in_small_chunks_with_flat_memory(tmp_path):
    store = FileStore(tmp_path / "files")
    sha, size = _put_big(store, 24 * MIB)
    at = datetime(2026, 3, 10, tzinfo=UTC)
    infos = [
        FileInfo("a" * 32, "报告书.pdf", "application/pdf", size, sha, "material", "eia_document",
                 Person("x"), at),
        FileInfo("b" * 32, "报告书.doc", "application/msword", size, sha, "material", "eia_document",
                 Person("x"), at),  # same bytes, deflated this time
    ]
    plan = case_archive.plan(_case_file(infos), lambda s: s)
    target = tmp_path / "out.zip"
    largest = 0
    tracemalloc.start()
    try:
        with target.open("wb") as out:
            for chunk in case_archive.stream(store, plan, [("index.csv", b"x")]):
                largest = max(largest, len(chunk))
                out.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert largest <= CHUNK + 64 * 1024, largest  # one store chunk at most, plus headers
    assert peak < 8 * MIB, peak  # two 24 MiB members went through, never held
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names[0] == "index.csv" and len(names) == 3
        for info in archive.infolist()[1:]:
            digest = hashlib.sha256()
            with archive.open(info) as member:
                while block := member.read(MIB):
                    digest.update(block)
            assert digest.hexdigest() == sha and info.file_size == size
        kinds = [info.compress_type for info in archive.infolist()[1:]]
        assert kinds == [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]


def test_names_are_made_safe_and_unique_inside_the_archive(tmp_path):
    store = FileStore(tmp_path / "files")
    staged = store.put_bytes(b"%PDF-1.4 x")
    at = datetime(2026, 3, 10, tzinfo=UTC)
    infos = [FileInfo(c * 32, name, "application/pdf", staged.size, staged.sha256, "material", None,
                      Person("x"), at)
             for c, name in (("a", "报告.pdf"), ("b", "报告.pdf"), ("c", "../../etc/passwd"))]
    plan = case_archive.plan(_case_file(infos), lambda s: s)
    paths = [m.path for m in plan.members]
    assert len(set(paths)) == 3
    assert paths[0].endswith("/报告.pdf") and paths[1].endswith("/报告 (2).pdf")
    assert all(part not in ("..", ".", "") for p in paths for part in p.split("/"))
    assert paths[0].split("/")[1] == "01 环境影响报告书（报告表）全本"
    data = b"".join(case_archive.stream(store, plan, []))
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
