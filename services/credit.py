"""Credit records (信用记录, plan task 13): findings the law ties to credit, recorded against the unified social
credit code with their source, date and expiry.

- Recorded by a unit lead or an administrator (``record``), or from an inspection that found a violation
  (``services.spot_checks``, once per inspection case through ``source_key``); every record is audited.
- Shown only to staff (``visible_to``): at the window and in the review of an application (the handler's case and
  task pages), and to supervisors in a list with a CSV export; never on a public page, never to an applicant.
- A record counts until its expiry date (``active_for``); expired ones stay in the supervisors' list.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import audit_log, clock, credit_code
from services.actors import Actor
from services.errors import N_, Conflict, Forbidden, InvalidInput
from services.uow import UnitOfWork
from storage.models import CreditRecord
from storage.types import utcnow

KINDS = ("false_materials", "deception", "inspection_failure", "other")
KIND_ZH = {"false_materials": "提供虚假材料", "deception": "以欺骗等不正当手段申请被不予许可或撤销许可",
           "inspection_failure": "双随机抽查发现违法问题", "other": "其他失信行为"}
STAFF_ROLES = ("window", "handler", "lead", "supervisor", "admin", "system")
MAX_YEARS = 5


def visible_to(actor: Actor | None) -> bool:
    """Credit records are for staff: never for an applicant, a complainant or the public."""
    return actor is not None and actor.has_role(*STAFF_ROLES) and not actor.has_role("applicant")


@dataclass(frozen=True)
class NewRecord:
    credit_code: str
    subject_name: str
    kind: str
    finding: str
    source: str
    recorded_on: date
    expires_on: date


def _check(rec: NewRecord) -> None:
    errors: dict[str, str] = {}
    if not credit_code.is_valid(rec.credit_code):
        errors["credit_code"] = N_(
            "This unified social credit code is not valid (18 characters; the last one is a check character).")
    if rec.kind not in KINDS:
        errors["kind"] = N_("Choose one of the offered values.")
    for name in ("subject_name", "finding", "source"):
        if not getattr(rec, name).strip():
            errors[name] = N_("This field is required.")
    if rec.expires_on <= rec.recorded_on:
        errors["expires_on"] = N_("The expiry must come after the date of the finding.")
    elif rec.expires_on > rec.recorded_on.replace(year=rec.recorded_on.year + MAX_YEARS):
        errors["expires_on"] = N_("A credit record expires within %(years)s years.")
    if errors:
        raise InvalidInput(N_("The credit record has errors; see the marked fields."), errors)


def add(session: Session, rec: NewRecord, actor: Actor, *, source_key: str | None = None,
        source_case_id: int | None = None) -> CreditRecord | None:
    """Add a record inside the caller's transaction; None when ``source_key`` was recorded already."""
    _check(rec)
    if source_key is not None and session.execute(
            select(CreditRecord.id).where(CreditRecord.source_key == source_key)).first() is not None:
        return None
    row = CreditRecord(credit_code=rec.credit_code.strip().upper(), subject_name=rec.subject_name.strip(),
                       kind=rec.kind, finding=rec.finding.strip(), source=rec.source.strip(), source_key=source_key,
                       source_case_id=source_case_id, recorded_on=rec.recorded_on, expires_on=rec.expires_on,
                       recorded_by=actor.username, recorded_at=utcnow())
    session.add(row)
    session.flush()
    audit_log.record(session, actor, "credit.recorded", case_id=source_case_id,
                     after={"credit_code": row.credit_code, "kind": row.kind, "finding": row.finding,
                            "source": row.source, "recorded_on": row.recorded_on.isoformat(),
                            "expires_on": row.expires_on.isoformat()})
    return row


def record(uow: UnitOfWork, rec: NewRecord, actor: Actor) -> int:
    if not actor.has_role("lead", "admin"):
        raise Forbidden(N_("Only a unit lead records a credit finding."))
    with uow:
        try:
            row = add(uow.session, rec, actor)
        except IntegrityError:
            raise Conflict(N_("This finding is recorded already.")) from None
        uow.commit()
        return row.id  # type: ignore[union-attr]


def active_for(session: Session, code: str | None, actor: Actor | None, on: date | None = None
               ) -> list[CreditRecord]:
    """The records of ``code`` that have not expired, for a staff member; [] for anyone else."""
    if not code or not visible_to(actor):
        return []
    on = on or clock.today()
    return list(session.execute(
        select(CreditRecord).where(CreditRecord.credit_code == code.strip().upper(), CreditRecord.expires_on >= on)
        .order_by(CreditRecord.recorded_on.desc(), CreditRecord.id.desc())
    ).scalars())


def listing(session: Session, actor: Actor, *, code: str | None = None, include_expired: bool = True,
            on: date | None = None) -> list[CreditRecord]:
    if not actor.has_role("supervisor", "lead", "admin"):
        raise Forbidden(N_("Only supervisors and unit leads see the list of credit records."))
    query = select(CreditRecord)
    if code:
        query = query.where(CreditRecord.credit_code == code.strip().upper())
    if not include_expired:
        query = query.where(CreditRecord.expires_on >= (on or clock.today()))
    return list(session.execute(query.order_by(CreditRecord.recorded_on.desc(), CreditRecord.id.desc())).scalars())


def export_csv(rows: list[CreditRecord], on: date | None = None) -> str:
    on = on or clock.today()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["统一社会信用代码", "主体名称", "类别", "认定事实", "来源", "认定日期", "有效期至", "状态",
                     "记录人"])
    for row in rows:
        writer.writerow([_cell(v) for v in (
            row.credit_code, row.subject_name, KIND_ZH.get(row.kind, row.kind), row.finding, row.source,
            row.recorded_on.isoformat(), row.expires_on.isoformat(), "有效" if row.expires_on >= on else "已过期",
            row.recorded_by)])
    return out.getvalue()


def _cell(value: str) -> str:
    """A spreadsheet must not run a typed-in finding as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
