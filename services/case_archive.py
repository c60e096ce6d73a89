"""The whole case file as one ZIP: every file once, in folders by part, with an index, streamed.

The archive is written chunk by chunk into a generator (zipfile on a non-seekable sink, so each member
carries a data descriptor): neither the archive nor a member is ever whole in memory, and the first bytes leave
before the last file is read. Files that are already compressed (PDF, images, DOCX, OFD, ZIP) are stored as
they are; the rest is deflated.

The index rows are built here from the case file; their texts (headers, stage and channel names) come through
the ``gettext`` the caller gives, so this module knows no Flask and no locale.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from services.case_file import APPLICANT, CaseFile, FileInfo, Person, Receipt
from storage.filestore import CHUNK, FileStore

BEIJING = ZoneInfo("Asia/Shanghai")
Gettext = Callable[[str], str]


def N_(msgid: str) -> str:
    return msgid


SECTIONS = {
    "materials": N_("Application materials"),
    "tasks": N_("Handling record"),
    "documents": N_("Documents issued"),
    "other": N_("Other files"),
}
STAGES = {"application": N_("with the application"), "supplement": N_("supplement (补正)"),
          "revision": N_("revision")}
CHANNELS = {"window": N_("at the window"), "post": N_("by post"), "online": N_("online")}
PAPER = {"original": N_("paper original"), "copy": N_("paper copy")}
HEADERS = (N_("No."), N_("Part"), N_("Item"), N_("File name"), N_("Path in the archive"), N_("By whom"),
           N_("When"), N_("How"), N_("Size (bytes)"), N_("SHA-256"))


@dataclass(frozen=True)
class Member:
    path: str
    file: FileInfo


@dataclass(frozen=True)
class IndexRow:
    part: str
    item: str
    file: FileInfo | None
    path: str
    by: str
    when: datetime | None
    how: str


@dataclass(frozen=True)
class Plan:
    members: tuple[Member, ...]
    rows: tuple[IndexRow, ...]

    def path_of(self, file_id: str) -> str | None:
        return next((m.path for m in self.members if m.file.id == file_id), None)


def person_text(person: Person | None, gettext: Gettext) -> str:
    if person is None:
        return ""
    if person.kind == APPLICANT:
        return gettext(N_("the applicant"))
    if person.name is None:
        return gettext(N_("the system"))
    return person.name


def how_text(receipt: Receipt, gettext: Gettext) -> str:
    parts = [gettext(CHANNELS.get(receipt.channel, receipt.channel)),
             gettext(STAGES.get(receipt.stage, receipt.stage))]
    if receipt.paper_form:
        paper = gettext(PAPER.get(receipt.paper_form, receipt.paper_form))
        if receipt.copies:
            paper += " × " + str(receipt.copies)
        parts.append(paper)
    return gettext(N_(", ")).join(parts)


def _part(name: str) -> str:
    """One folder or file name inside the archive: no separators, no dots alone, not too long."""
    cleaned = "".join("_" if ch in '/\\:*?"<>|' or not ch.isprintable() else ch for ch in name).strip(" .")
    return (cleaned or "_")[:120]


def plan(case_file: CaseFile, gettext: Gettext) -> Plan:
    """Where each file goes in the archive (each once, at its first place) and the index rows."""
    members: dict[str, Member] = {}
    used: set[str] = set()
    rows: list[IndexRow] = []

    def place(folder: str, f: FileInfo) -> str:
        if f.id in members:
            return members[f.id].path
        stem, dot, suffix = f.name.rpartition(".")
        base = f"{folder}/{_part(f.name)}"
        n = 2
        while base.lower() in used:
            base = f"{folder}/{_part(stem if dot else f.name)} ({n}){dot}{suffix if dot else ''}"
            n += 1
        used.add(base.lower())
        members[f.id] = Member(base, f)
        return base

    part = gettext(SECTIONS["materials"])
    for i, entry in enumerate((*case_file.materials, *case_file.other_materials), start=1):
        folder = f"01 {_part(part)}/{i:02d} {_part(entry.name)}"
        for receipt in entry.receipts:
            path = place(folder, receipt.file) if receipt.file else ""
            rows.append(IndexRow(part, entry.name, receipt.file, path, person_text(receipt.received_by, gettext),
                                 receipt.received_at, how_text(receipt, gettext)))
    part = gettext(SECTIONS["tasks"])
    for i, task in enumerate(case_file.tasks, start=1):
        folder = f"02 {_part(part)}/{i:02d} {_part(task.title)}"
        for answer in task.answers:
            for f in answer.files:
                rows.append(IndexRow(part, f"{task.title} · {answer.title}", f, place(folder, f),
                                     person_text(task.completed_by, gettext), task.completed_at,
                                     task.lane or ""))
    part = gettext(SECTIONS["documents"])
    for doc in case_file.documents:
        title = f"{doc.title} {doc.number}" if doc.number else doc.title
        rows.append(IndexRow(part, title, doc.file, place(f"03 {_part(part)}", doc.file),
                             person_text(doc.file.created_by, gettext), doc.file.created_at, ""))
    part = gettext(SECTIONS["other"])
    for f in case_file.other_files:
        rows.append(IndexRow(part, f.item_code or "", f, place(f"04 {_part(part)}", f),
                             person_text(f.created_by, gettext), f.created_at, ""))
    return Plan(tuple(members.values()), tuple(rows))


def local_time(when: datetime | None) -> str:
    if when is None:
        return ""
    if when.tzinfo is not None:
        when = when.astimezone(BEIJING)
    return when.strftime("%Y-%m-%d %H:%M")


def index_csv(rows: tuple[IndexRow, ...], gettext: Gettext) -> bytes:
    """The index as CSV in UTF-8 with a byte-order mark, which spreadsheet programs need to read Chinese."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([gettext(h) for h in HEADERS])
    for n, row in enumerate(rows, start=1):
        f = row.file
        writer.writerow([n, row.part, row.item, f.name if f else gettext(N_("(paper only)")), row.path, row.by,
                         local_time(row.when), row.how, f.size if f else "", f.sha256 if f else ""])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


class _Sink:
    """A write-only, non-seekable target for zipfile: what it receives is taken out by ``drain``."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def _zip_time(when: datetime) -> tuple[int, int, int, int, int, int]:
    if when.tzinfo is not None:
        when = when.astimezone(BEIJING)
    if when.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)


def stream(
    store: FileStore, plan_: Plan, extras: list[tuple[str, bytes]], *, now: datetime | None = None
) -> Iterator[bytes]:
    """The archive's bytes, chunk by chunk: the ``extras`` (index files) first, then every member."""
    now = now or datetime.now(BEIJING)
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:  # type: ignore[arg-type]
        for name, data in extras:
            info = zipfile.ZipInfo(name, _zip_time(now))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
            yield sink.drain()
        for member in plan_.members:
            info = zipfile.ZipInfo(member.path, _zip_time(member.file.created_at))
            info.compress_type = zipfile.ZIP_STORED if member.file.compressed else zipfile.ZIP_DEFLATED
            info.file_size = member.file.size  # lets zipfile choose ZIP64 up front for very large files
            with store.open(member.file.sha256) as source, archive.open(info, "w") as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    if sink.buffer:
                        yield sink.drain()
            yield sink.drain()
    yield sink.drain()
