"""Typed loader for ``workflows/documents.toml``: which task issues which document, per-matter wording.

    m = shipped_map()
    m.kind_for_task("window_acceptance", "issue_acceptance")   # "acceptance_notice"
    m.wording("m07")                                          # "confirmation"
    m.particulars("m08", "filing_receipt")                    # (("offsite_filing_intake.json", "licence_no"), …)

Every problem is collected and raised together as one ``MappingError``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from documents.kinds import KINDS, WORDINGS

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "workflows" / "documents.toml"
_PARTICULAR = re.compile(r"(?P<form>[a-z0-9_]+\.json):(?P<field>[a-z0-9_]+)")


class MappingError(ValueError):
    """documents.toml is missing, unreadable or names unknown kinds; the message lists every problem."""


@dataclass(frozen=True)
class MatterDocuments:
    wording: str = "licence"
    particulars: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class DocumentMap:
    on_registration: str | None
    tasks: Mapping[tuple[str, str], str]  # (process id, element id) -> kind
    matters: Mapping[str, MatterDocuments]
    path: Path

    def kind_for_task(self, process_id: str | None, element_id: str) -> str | None:
        if process_id is None:
            return None
        return self.tasks.get((process_id, element_id))

    def wording(self, matter_code: str) -> str:
        return self.matters.get(matter_code, MatterDocuments()).wording

    def particulars(self, matter_code: str, kind: str) -> tuple[tuple[str, str], ...]:
        return self.matters.get(matter_code, MatterDocuments()).particulars.get(kind, ())


def _matter(problems: list[str], code: str, raw: Any) -> MatterDocuments | None:
    if not isinstance(raw, Mapping):
        problems.append(f"matters.{code}: must be a table")
        return None
    wording = raw.get("wording", "licence")
    if wording not in WORDINGS:
        problems.append(f"matters.{code}.wording: {wording!r} is not one of {', '.join(WORDINGS)}")
    particulars: dict[str, tuple[tuple[str, str], ...]] = {}
    for key, value in raw.items():
        if key == "wording":
            continue
        if key not in KINDS:
            problems.append(f"matters.{code}: {key!r} is neither 'wording' nor a document kind")
            continue
        if not isinstance(value, list):
            problems.append(f"matters.{code}.{key}: must be a list of \"form.json:field\"")
            continue
        items = []
        for item in value:
            match = _PARTICULAR.fullmatch(item) if isinstance(item, str) else None
            if match is None:
                problems.append(f"matters.{code}.{key}: {item!r} is not \"form.json:field\"")
                continue
            items.append((match["form"], match["field"]))
        particulars[key] = tuple(items)
    return MatterDocuments(wording, MappingProxyType(particulars))


def load_map(path: str | Path | None = None) -> DocumentMap:
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MappingError(f"document mapping not found: {p}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{p.name}: not valid TOML: {exc}") from exc
    problems: list[str] = []
    unknown = set(raw) - {"schema_version", "on_registration", "tasks", "matters"}
    if unknown:
        problems.append(f"unknown top-level keys {sorted(unknown)}")
    on_registration = raw.get("on_registration")
    if on_registration is not None and on_registration not in KINDS:
        problems.append(f"on_registration: {on_registration!r} is not a document kind")
    tasks: dict[tuple[str, str], str] = {}
    for process_id, elements in (raw.get("tasks") or {}).items():
        if not isinstance(elements, Mapping):
            problems.append(f"tasks.{process_id}: must be a table of element id = kind")
            continue
        for element_id, kind in elements.items():
            if kind not in KINDS:
                problems.append(f"tasks.{process_id}.{element_id}: {kind!r} is not a document kind "
                                f"({', '.join(KINDS)})")
                continue
            tasks[(process_id, element_id)] = kind
    matters: dict[str, MatterDocuments] = {}
    for code, table in (raw.get("matters") or {}).items():
        parsed = _matter(problems, code, table)
        if parsed is not None:
            matters[code] = parsed
    if problems:
        raise MappingError(f"invalid {p.name}:\n  " + "\n  ".join(problems))
    return DocumentMap(on_registration, MappingProxyType(tasks), MappingProxyType(matters), p.resolve())


@cache
def shipped_map() -> DocumentMap:
    """The mapping shipped in workflows/, read and validated once per process."""
    return load_map()
