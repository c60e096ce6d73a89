"""What a file really is, from its content: the accepted types of the case file and the archive checks.

Accepted: PDF, OFD (GB/T 33190: a ZIP package with OFD.xml at its root), JPEG, PNG, DOC (OLE2), DOCX, and ZIP
archives of these. The client's media type is never trusted; the name's suffix must agree with the content.
ZIP-based types (DOCX, OFD, ZIP) are opened and decompressed with a byte budget, so an archive bomb is refused
instead of filling the disk or memory later (when it is previewed, downloaded as part of the case ZIP, …).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import filetype

from services.errors import N_


@dataclass(frozen=True)
class Kind:
    code: str
    media_type: str
    label: str
    suffixes: tuple[str, ...]


PDF = Kind("pdf", "application/pdf", "PDF", (".pdf",))
OFD = Kind("ofd", "application/ofd", "OFD", (".ofd",))
JPEG = Kind("jpeg", "image/jpeg", "JPEG", (".jpg", ".jpeg"))
PNG = Kind("png", "image/png", "PNG", (".png",))
DOC = Kind("doc", "application/msword", "DOC", (".doc",))
DOCX = Kind("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "DOCX", (".docx",))
ZIP = Kind("zip", "application/zip", "ZIP", (".zip",))
KINDS = (PDF, OFD, JPEG, PNG, DOC, DOCX, ZIP)
_BY_SUFFIX = {suffix: kind for kind in KINDS for suffix in kind.suffixes}
_BY_MEDIA = {kind.media_type: kind for kind in KINDS} | {kind.code: kind for kind in KINDS}
MAX_MEMBERS = 1000


class ArchiveProblem(Exception):
    """Completed with the item and file name by services.files, which knows them."""

    def __init__(self, msgid: str, **params: object) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.params = params


def kind_for_name(name: str) -> Kind | None:
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return _BY_SUFFIX.get(suffix)


def label_of(media_type_or_code: str) -> str:
    kind = _BY_MEDIA.get(media_type_or_code)
    return kind.label if kind else media_type_or_code


def accept_attribute(kinds: tuple[Kind, ...] = KINDS) -> str:
    """The suffixes for an <input type=file accept=…> (a hint to the browser; the server decides)."""
    return ",".join(s for kind in kinds for s in kind.suffixes)


def _by_magic(head: bytes) -> Kind | None:
    if head.startswith(b"%PDF-"):
        return PDF
    guess = filetype.guess(head)
    if guess is None:
        return None
    return {"jpg": JPEG, "png": PNG, "doc": DOC, "docx": ZIP, "zip": ZIP}.get(guess.extension)


def identify(path: Path, head: bytes, *, zip_expand_limit: int) -> Kind | None:
    """The accepted kind of the file at ``path`` (``head`` = its first bytes), or None when it is none of them.
    A ZIP-based file is classified by its members and checked (ArchiveProblem when it is unsafe)."""
    kind = _by_magic(head)
    if kind is not ZIP:
        return kind
    return _zip_kind(path, zip_expand_limit)


def _zip_kind(path: Path, expand_limit: int) -> Kind:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ArchiveProblem(N_("%(item)s: the archive “%(name)s” cannot be read.")) from None
    with archive:
        members = archive.infolist()
        names = {m.filename for m in members}
        if "OFD.xml" in names:
            kind = OFD
        elif "[Content_Types].xml" in names and any(n.startswith("word/") for n in names):
            kind = DOCX
        else:
            kind = ZIP
        if len(members) > MAX_MEMBERS:
            raise ArchiveProblem(N_("%(item)s: the archive “%(name)s” holds more than %(count)s files."),
                                 count=MAX_MEMBERS)
        budget = expand_limit
        for member in members:
            if member.is_dir():
                continue
            if member.flag_bits & 0x1:
                raise ArchiveProblem(N_("%(item)s: the archive “%(name)s” is encrypted; send it without a "
                                        "password."))
            budget = _inflate(archive, member, budget, expand_limit)
            if kind is ZIP:
                _check_member(archive, member)
    return kind


def _inflate(archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: int, limit: int) -> int:
    """Decompress one member counting real bytes (declared sizes can lie); the budget is for the whole file."""
    from services.files import human_size

    try:
        with archive.open(member) as stream:
            while chunk := stream.read(1024 * 1024):
                budget -= len(chunk)
                if budget < 0:
                    raise ArchiveProblem(N_("%(item)s: the archive “%(name)s” expands to more than %(limit)s."),
                                         limit=human_size(limit))
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError):
        raise ArchiveProblem(N_("%(item)s: the archive “%(name)s” cannot be read.")) from None
    return budget


def _check_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """A member of a plain ZIP is one of the accepted document types, never another archive."""
    with archive.open(member) as stream:
        head = stream.read(8192)
    by_name = kind_for_name(member.filename)
    by_content = _by_magic(head)
    if by_name in (OFD, DOCX) and by_content is ZIP:
        return  # a package format of its own, not a nested archive
    if by_content is ZIP or by_name is ZIP:
        raise ArchiveProblem(N_("%(item)s: the archive “%(name)s” contains another archive (%(member)s); put "
                                "all files into one archive."), member=member.filename)
    if by_name is None or by_content is not by_name:
        raise ArchiveProblem(N_("%(item)s: the archive “%(name)s” contains “%(member)s”, whose type is not "
                                "accepted."), member=member.filename)
