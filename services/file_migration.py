"""Data migration: attachments that the first version kept as data URLs inside case states and audit payloads
move into the file store, leaving ``{"file_id", "sha256"}`` references in their place.

Run by ``init-db`` after the schema upgrade (and by ``python app.py migrate-files``); it is idempotent: a second
run finds nothing. Rewriting audit payloads changes their hashes, so the chain is re-hashed from the first
rewritten event, and a final ``storage.files_migrated`` event records the previous head hash and what moved,
so the rewrite itself stays on the record.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Text, select, update

from services import audit_log, files
from services.actors import Actor
from services.uow import UnitOfWork
from storage import audit
from storage.models import AuditEvent, Case

_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w-]+=[^;,]*)*);base64,(?P<data>[A-Za-z0-9+/=]*)$"
)
_MARKER = "%;base64,%"


@dataclass
class Report:
    cases: int = 0
    events: int = 0
    files: int = 0
    rehashed_from: int | None = None
    file_ids: list[str] = field(default_factory=list)


def _name(params: str) -> str:
    for part in params.split(";"):
        if part.startswith("name="):
            return unquote(part[5:])
    return "attachment"


class _Mover:
    """Replaces data URLs in JSON values by references, storing each distinct file once per case."""

    def __init__(self, unit: UnitOfWork, report: Report) -> None:
        self.unit = unit
        self.report = report
        self.seen: dict[tuple[int | None, str], dict[str, str]] = {}

    def rewrite(self, value: Any, case_id: int | None, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self.rewrite(v, case_id, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.rewrite(v, case_id, key) for v in value]
        if isinstance(value, str) and value.startswith("data:"):
            match = _DATA_URL.match(value)
            if match:
                return self._store(match, case_id, key)
        return value

    def _store(self, match: re.Match, case_id: int | None, key: str | None) -> Any:
        cache_key = (case_id, match.group("data"))
        if cache_key in self.seen:
            return self.seen[cache_key]
        try:
            data = base64.b64decode(match.group("data"), validate=True)
        except (binascii.Error, ValueError):
            return match.group(0)
        row = files.store_bytes(
            self.unit, data, name=_name(match.group("params")),
            media_type=(match.group("mime") or "application/octet-stream").lower(), case_id=case_id,
            actor="migration", purpose="migrated", item_code=key,
        )
        self.report.files += 1
        self.report.file_ids.append(row.id)
        self.seen[cache_key] = files.ref(row)
        return self.seen[cache_key]


def move_data_urls(unit: UnitOfWork) -> Report:
    report = Report()
    with unit:
        session = unit.session
        mover = _Mover(unit, report)
        case_ids = session.execute(select(Case.id).where(Case.state.like(_MARKER)).order_by(Case.id)).scalars().all()
        for case_id in case_ids:
            case = session.get(Case, case_id)
            state = json.loads(case.state)
            new_state = mover.rewrite(state, case_id)
            if new_state != state:
                session.execute(update(Case).where(Case.id == case_id).values(
                    state=json.dumps(new_state), version=Case.version + 1))
                report.cases += 1
        events = session.execute(
            select(AuditEvent).where(AuditEvent.payload.cast(Text).like(_MARKER)).order_by(AuditEvent.seq)
        ).scalars().all()
        for event in events:
            payload = mover.rewrite(event.payload, event.case_id)
            if payload != event.payload:
                event.payload = payload
                report.events += 1
                if report.rehashed_from is None:
                    report.rehashed_from = event.seq
        session.flush()
        if report.rehashed_from is not None:
            old_head = audit.rechain(session, report.rehashed_from)
            audit_log.record(session, Actor.system("migration"), "storage.files_migrated",
                             after={"cases": report.cases, "events": report.events, "files": report.files},
                             rehashed_from=report.rehashed_from, previous_head_hash=old_head)
        elif report.files:
            audit_log.record(session, Actor.system("migration"), "storage.files_migrated",
                             after={"cases": report.cases, "events": 0, "files": report.files})
        unit.commit()
    return report
