"""The case file's store: uploads streamed in, their type sniffed from the content, bad files refused with a
message naming the item, bytes content-addressed on disk and only references in the database rows."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from services import files
from services.files import FileRejected, Upload
from services.uow import UnitOfWork
from storage.filestore import FileStore
from storage.models import StoredFile

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


DOCX = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
OFD = _zip({"OFD.xml": b"<ofd:OFD/>", "Doc_0/Document.xml": b"<ofd:Document/>"})


@pytest.fixture
def store(tmp_path) -> FileStore:
    return FileStore(tmp_path / "files")


@pytest.fixture
def uow(session_factory, store) -> UnitOfWork:
    return UnitOfWork(session_factory, files=store)


def _receive(uow, store, data: bytes, name: str, **kwargs) -> StoredFile:
    with uow:
        row = files.receive(uow, Upload(io.BytesIO(data), name, "环境影响报告书"), actor="t",
                            purpose="material", **kwargs)
        uow.commit()
        return row


@pytest.mark.parametrize(
    ("data", "name", "media_type"),
    [
        (PDF, "报告书.pdf", "application/pdf"),
        (PNG, "照片.png", "image/png"),
        (JPEG, "照片.JPG", "image/jpeg"),
        (DOCX, "申请表.docx", files.file_types.DOCX.media_type),
        (OFD, "批复.ofd", "application/ofd"),
        (_zip({"a.pdf": PDF, "b.png": PNG, "c.docx": DOCX}), "附件.zip", "application/zip"),
    ],
)
def test_accepted_types_are_stored_by_content(uow, store, data, name, media_type):
    row = _receive(uow, store, data, name)
    assert row.media_type == media_type and row.size == len(data)
    assert row.sha256 == hashlib.sha256(data).hexdigest()
    assert store.path(row.sha256).read_bytes() == data
    with uow.reader() as r:
        saved = r.session.get(StoredFile, row.id)
        assert saved.original_name == name and saved.sha256 == row.sha256


def _refused(uow, store, data: bytes, name: str, **kwargs) -> str:
    with pytest.raises(FileRejected) as caught:
        _receive(uow, store, data, name, **kwargs)
    message = caught.value.msgid % caught.value.params
    assert "环境影响报告书" in message and name in message  # names the item and the file
    assert not list((store.root / "tmp").glob("*")), "a refused upload leaves nothing behind"
    return message


def test_bad_files_are_refused_with_the_item_named(uow, store):
    assert "empty" in _refused(uow, store, b"", "报告书.pdf")
    assert "larger than the limit of 1 KB" in _refused(uow, store, PDF + b"x" * 2048, "报告书.pdf", limit=1024)
    assert "does not match its name" in _refused(uow, store, PNG, "报告书.pdf")
    assert "does not match its name" in _refused(uow, store, PDF, "报告书.docx")
    assert "not accepted" in _refused(uow, store, b"MZ\x90\x00" + b"\x00" * 60, "setup.exe")
    assert "not accepted" in _refused(uow, store, b"just text", "说明.txt")
    with uow.reader() as r:
        assert r.session.query(StoredFile).count() == 0


def test_archives_are_checked_before_they_are_kept(uow, store):
    nested = _zip({"inner.zip": _zip({"a.pdf": PDF})})
    assert "another archive" in _refused(uow, store, nested, "材料.zip")
    bomb = _zip({"a.pdf": PDF + b"\0" * (20 * 1024 * 1024)})
    assert len(bomb) < 100 * 1024
    assert "expands to more than" in _refused(uow, store, bomb, "材料.zip", limit=1024 * 1024)
    assert "expands to more than" in _refused(uow, store, _zip({
        "[Content_Types].xml": b"<Types/>", "word/document.xml": b"\0" * (20 * 1024 * 1024)}), "申请表.docx",
        limit=1024 * 1024)
    assert "whose type is not accepted" in _refused(uow, store, _zip({"run.exe": b"MZ" + b"\0" * 60}), "材料.zip")
    assert "whose type is not accepted" in _refused(uow, store, _zip({"a.pdf": PNG}), "材料.zip")
    assert "cannot be read" in _refused(uow, store, b"PK\x03\x04" + b"\0" * 100, "材料.zip")


def test_an_item_may_narrow_the_types(uow, store):
    message = _refused(uow, store, PDF, "现场.pdf", accept=["image/jpeg", "image/png"])
    assert "JPEG" in message and "PNG" in message
    assert _receive(uow, store, PNG, "现场.png", accept=["image/jpeg", "image/png"]).media_type == "image/png"


def test_identical_bytes_are_stored_once(uow, store):
    first = _receive(uow, store, PDF, "a.pdf")
    second = _receive(uow, store, PDF, "b.pdf")
    assert first.id != second.id and first.sha256 == second.sha256
    assert len([p for p in (store.root / "objects").rglob("*") if p.is_file()]) == 1


def test_a_large_file_is_streamed_not_read_whole(uow, store):
    class Chunks(io.RawIOBase):
        """A 64 MiB stream that refuses to be read in one piece."""

        def __init__(self) -> None:
            self.left = 64 * 1024 * 1024
            self.first = True

        def read(self, size=-1):
            assert 0 < size <= 4 * 1024 * 1024, "read in bounded chunks"
            if self.left <= 0:
                return b""
            chunk = (PDF if self.first else b"\0" * size)[: min(size, self.left)]
            self.first = False
            self.left -= len(chunk)
            return chunk

    with uow:
        row = files.receive(uow, Upload(Chunks(), "big.pdf", "报告书"), actor="t", purpose="m",
                            limit=100 * 1024 * 1024)
        uow.commit()
    assert row.size == 64 * 1024 * 1024


def test_names_keep_their_suffix_and_lose_paths_and_control_characters():
    assert files.clean_name("C:\\Users\\x\\报告书.pdf") == "报告书.pdf"
    assert files.clean_name("../../etc/passwd") == "passwd"
    assert files.clean_name("a\x00b\n.pdf") == "ab.pdf"
    long = files.clean_name("长" * 400 + ".pdf")
    assert len(long) == 255 and long.endswith(".pdf")


def test_kept_files_resolve_only_within_their_case_or_browser_session(uow, store, session_factory):
    from storage.models import Case, ProcessDefinition

    with uow:
        # Two bare cases are enough here: the rule is about files, not workflows.
        uow.session.add(ProcessDefinition(id=1, process_id="p", version=1, content_hash="h", main_file="p.bpmn",
                                          files={}, deployed_by="t"))
        uow.session.flush()
        for n in (1, 2):
            uow.session.add(Case(id=n, reference=f"R{n}", lookup_code="X", matter_code="m07", definition_id=1,
                                 status="active", applicant_name="甲", channel="online", delivery_mode="online",
                                 state="", serializer_version="x", version=1, created_by="t"))
        uow.session.flush()
        uow.commit()
    mine = _receive(uow, store, PDF, "a.pdf", case_id=1)
    other = _receive(uow, store, PNG, "b.png", case_id=2)
    pending = _receive(uow, store, JPEG, "c.jpg", owner_token="tok-1")
    with uow.reader() as r:
        s = r.session
        assert [f.id for f in files.kept(s, [mine.id, other.id, "zz"], case_id=1)] == [mine.id]
        assert [f.id for f in files.kept(s, [pending.id, mine.id], owner_token="tok-1")] == [pending.id]
        assert files.kept(s, [pending.id], owner_token="tok-2") == []
        assert files.kept(s, [pending.id]) == []
        answers = {"ok": files.ref(mine), "bad": [files.ref(other)],
                   "forged": {"file_id": mine.id, "sha256": "0" * 64}}
        assert set(files.foreign_refs(s, answers, 1)) == {"bad", "forged"}
