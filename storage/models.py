"""Core tables: units, users, process-definition versions, cases, derived human-task rows, the audit log.

Derived rows (human_tasks, cases.next_timer_due, cases.due_on) make every list an indexed query; the
serialized workflow in cases.state is the source of truth for the engine.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.db import Base
from storage.types import UTCDateTime, utcnow

ROLES = ("window", "handler", "lead", "supervisor", "designer", "admin")


class Unit(Base):
    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(120))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), index=True)
    email: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # No longer written: sign-in failures are counted in `throttles` (by account and by client address) since
    # migration 0005_auth. Kept, because dropping them would rebuild the users table on SQLite.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Stored in each signed-in session and checked on every request: signing out or changing the password
    # increments it, so every session cookie issued before stops working (server-side revocation).
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    roles: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", back_populates="user"
    )

    @property
    def role_names(self) -> set[str]:
        return {r.role for r in self.roles}

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_names.intersection(roles))


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")


class ProcessDefinition(Base):
    """An immutable deployed version of one process and the files it calls, keyed by content hash."""

    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("process_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(120), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    main_file: Mapped[str] = mapped_column(String(200))
    # file name -> BPMN XML text; deferred: lists and case loads never need the XML
    files: Mapped[dict[str, str]] = mapped_column(JSON, deferred=True)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deployed_by: Mapped[str] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(Text)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    lookup_code: Mapped[str] = mapped_column(String(20))  # given to the applicant for status look-up
    matter_code: Mapped[str] = mapped_column(String(10), index=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    status: Mapped[str] = mapped_column(String(20), index=True)  # active | completed | withdrawn | incident
    outcome: Mapped[str | None] = mapped_column(String(30))
    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    applicant_contact: Mapped[str | None] = mapped_column(String(100))
    applicant_phone: Mapped[str | None] = mapped_column(String(40))
    applicant_email: Mapped[str | None] = mapped_column(String(200))
    # The applicant agreed, when applying, to be told by e-mail of each step that needs them (and when).
    email_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(10))
    delivery_mode: Mapped[str] = mapped_column(String(10))
    # The serialized workflow: deferred, so lists and pages that show case columns never load it.
    state: Mapped[str] = mapped_column(Text, deferred=True)
    serializer_version: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=1)
    incident: Mapped[str | None] = mapped_column(Text)
    trips: Mapped[int | None] = mapped_column(Integer)
    trip_flag: Mapped[str | None] = mapped_column(Text)
    accepted_on: Mapped[date | None] = mapped_column(Date, index=True)  # index: 0010_supervisor
    due_on: Mapped[date | None] = mapped_column(Date, index=True)
    next_timer_due: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The deadline clock (services.clock): statutory due date in due_on, the promised one here.
    promised_due_on: Mapped[date | None] = mapped_column(Date, index=True)
    clock_running: Mapped[bool] = mapped_column(Boolean, default=False)
    clock_flag: Mapped[str | None] = mapped_column(Text)  # e.g. a year whose holiday notice is missing
    # 行政许可法 Art.32 (migration 0007_domain): materials received on ... must be accepted, refused or answered
    # with the one-time notice within 5 working days (acceptance_due_on; None while the applicant has the turn);
    # otherwise the application counts as accepted from the day of receipt (deemed_accepted_on, a flag).
    materials_received_on: Mapped[date | None] = mapped_column(Date)
    acceptance_due_on: Mapped[date | None] = mapped_column(Date, index=True)
    deemed_accepted_on: Mapped[date | None] = mapped_column(Date)
    # 一次性告知补正 notices issued; a second one (with the window lead's approval) breaks "tell everything once"
    supplement_notices: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # index: 0010_supervisor

    definition: Mapped[ProcessDefinition] = relationship(lazy="select")


class HumanTask(Base):
    """One row per user task the engine made READY: the worklists query these, never the case JSON."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_human_tasks_lane_state_due", "lane", "state", "due_at"),
        Index("ix_human_tasks_claimed_state_due", "claimed_by", "state", "due_at"),
        Index("ix_human_tasks_case_state", "case_id", "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the engine's task id
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    matter_code: Mapped[str] = mapped_column(String(10), index=True)
    spec_name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(200))
    # The unit (its Chinese name) whose members work the task: the diagram's lane resolved through the catalog
    # and the matter's settings (matter 11's owner); spec_lane keeps the diagram's own lane name.
    lane: Mapped[str | None] = mapped_column(String(40))
    spec_lane: Mapped[str | None] = mapped_column(String(40))
    # A role the worker needs within the lane (the task's spiffworkflow property "role", e.g. lead), or None.
    role: Mapped[str | None] = mapped_column(String(20))
    form: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(12))  # ready | completed | cancelled
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    case: Mapped[Case] = relationship(lazy="select")


class AuditEvent(Base):
    """Append-only; each row carries the hash of the one before it (see storage.audit)."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # index: 0010_supervisor (date range)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """A single row: the last sequence number and hash. Locking it orders concurrent appends, and comparing
    it with the last row detects a deleted tail."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class SchedulerLease(Base):
    """One row per scheduler role; whoever holds an unexpired lease runs the jobs (see services.scheduler)."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(120))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseSuspension(Base):
    """Time not counted against the limit (行政许可法 Art.45): 补正, expert review, hearing, public notice."""

    __tablename__ = "case_suspensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    start_on: Mapped[date] = mapped_column(Date)
    end_on: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(120))  # the task or element that opened it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseExtension(Base):
    """An extension of the limit (Art.42: +10 working days with the head's approval), with its reason."""

    __tablename__ = "case_extensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    working_days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str] = mapped_column(String(80))
    on_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HolidayNotice(Base):
    """A year's holiday and 调休 notice entered by an admin (for years the calendar library lacks)."""

    __tablename__ = "holiday_notices"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    holidays: Mapped[list[str]] = mapped_column(JSON)
    workdays: Mapped[list[str]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text)
    entered_by: Mapped[str] = mapped_column(String(80))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MatterSetting(Base):
    """Editable settings over the catalog: the promised limit (承诺时限) and the owner of a matter."""

    __tablename__ = "matter_settings"

    matter_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    promised_value: Mapped[int | None] = mapped_column(Integer)
    promised_unit: Mapped[str | None] = mapped_column(String(20))
    owner_unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    updated_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reminder(Base):
    """A reminder exists once per subject, kind and threshold: `key` is unique, so a job may run any number
    of times. It is addressed to a unit and/or a role; each reader marks it read for themselves."""

    __tablename__ = "reminders"
    __table_args__ = (
        Index("ix_reminders_unit_created", "unit_code", "created_at"),
        # The audiences of group reminders, for index-only counts (services.reminders.unread_count).
        Index("ix_reminders_audience", "unit_code", "user_id", "role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    subject_type: Mapped[str] = mapped_column(String(20))  # case | matter
    subject_id: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    matter_code: Mapped[str | None] = mapped_column(String(10))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    role: Mapped[str | None] = mapped_column(String(20), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    msgid: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReminderRead(Base):
    """One reader has read one reminder. The reminder's audience is copied here (it never changes), so that
    the unread count is two index-only counts (what the reader may see minus what they read), not a scan."""

    __tablename__ = "reminder_reads"
    __table_args__ = (
        Index("ix_reminder_reads_audience", "user_id", "audience_user", "audience_unit", "audience_role"),
    )

    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    audience_user: Mapped[int | None] = mapped_column(Integer)  # reminder.user_id
    audience_unit: Mapped[str | None] = mapped_column(String(40))  # reminder.unit_code
    audience_role: Mapped[str | None] = mapped_column(String(20))  # reminder.role


# ---- deadlines work (migration 0003_clock_mail) ---------------------------------------------------------------


class CaseClock(Base):
    """The limits a case's clock runs against, fixed when the case is accepted (the promise told to the
    applicant does not move when the matter's setting changes later), and when the clock stopped for good."""

    __tablename__ = "case_clocks"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    report_type: Mapped[str | None] = mapped_column(String(20))
    statutory_value: Mapped[int | None] = mapped_column(Integer)
    statutory_unit: Mapped[str | None] = mapped_column(String(20))  # working_days | days | applicant_due
    statutory_extendable_by: Mapped[int | None] = mapped_column(Integer)
    promised_value: Mapped[int | None] = mapped_column(Integer)
    promised_unit: Mapped[str | None] = mapped_column(String(20))
    excluded_kinds: Mapped[list[str]] = mapped_column(JSON)
    # decision taken or case ended: no more reminders (index: 0010_supervisor, the dashboard's "concluded")
    stopped_on: Mapped[date | None] = mapped_column(Date, index=True)
    # Working days the case used, fixed when the clock stopped (services.clock.working_days_used; 0010_supervisor):
    # the dashboard's averages and percentiles are then a GROUP BY, not a calendar walk per case.
    working_days_used: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReminderEmail(Base):
    """Delivery of one reminder by e-mail: the row is the claim (inserted before sending), so a reminder is
    never mailed twice, even by two schedulers. status: sending | sent | failed | no_recipients."""

    __tablename__ = "reminder_emails"

    reminder_id: Mapped[int] = mapped_column(
        ForeignKey("reminders.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ---- the case file (migration 0004_files) ---------------------------------------------------------------------


class StoredFile(Base):
    """One file received or issued: its bytes live in the file store (storage.filestore) under its sha256;
    workflow data and audit payloads hold only ``{"file_id", "sha256"}``.

    An applicant's upload made before the case exists carries ``owner_token`` (kept in their browser session)
    and no case; registering the application attaches it to the case."""

    __tablename__ = "files"
    __table_args__ = (Index("ix_files_case_item", "case_id", "item_code"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    item_code: Mapped[str | None] = mapped_column(String(80))  # material item, form field or document kind
    purpose: Mapped[str] = mapped_column(String(20))  # material | supplement | attachment | document | migrated
    original_name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))  # sniffed from the content, never the client's claim
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    owner_token: Mapped[str | None] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseMaterial(Base):
    """A material of the case file (申请材料) by catalog item: received with the application, as a supplement
    (补正) or a revision, on paper at the window, by post, or online (then with its file)."""

    __tablename__ = "case_materials"
    __table_args__ = (Index("ix_case_materials_case_item", "case_id", "item_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    item_code: Mapped[str] = mapped_column(String(80))  # a catalog item code, or "other"
    label: Mapped[str | None] = mapped_column(String(200))  # the free-text name for "other"
    file_id: Mapped[str | None] = mapped_column(ForeignKey("files.id", ondelete="SET NULL"))
    stage: Mapped[str] = mapped_column(String(20))  # application | supplement | revision
    channel: Mapped[str] = mapped_column(String(10))  # window | post | online
    paper_form: Mapped[str | None] = mapped_column(String(20))  # original | copy (paper received at the window)
    copies: Mapped[int | None] = mapped_column(Integer)
    received_by: Mapped[str] = mapped_column(String(80))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    task_id: Mapped[str | None] = mapped_column(String(36))  # the task that received it, if any


class ApplicantMessage(Base):
    """An e-mail to the applicant (outbox): written in the transaction of the step that needs them (a notice of
    missing materials, acceptance, the result ready), sent by the scheduler's mail job, each once (``key``)."""

    __tablename__ = "applicant_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # supplement_notice | accepted | not_accepted | result_ready
    email: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True, default="pending")  # pending|sending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


# ---- official documents (migration 0006_documents) ---------------------------------------------------------------


class DocumentSequence(Base):
    """The next number of each document kind in each year. The row is updated (and so locked) by the command
    that issues a document, in its own transaction: concurrent issuers queue and get consecutive numbers."""

    __tablename__ = "document_sequences"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_value: Mapped[int] = mapped_column(Integer)


class Document(Base):
    """An official document the department issued for a case: its number, the stored PDF and its delivery."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("kind", "year", "seq"),
        # the few documents still waiting for their PDF (services.document_rendering's sweep and page views)
        Index("ix_documents_unrendered", "case_id", postgresql_where=text("file_id IS NULL"),
              sqlite_where=text("file_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(100))  # as printed (a decision's title follows the matter's wording)
    number: Mapped[str] = mapped_column(String(100))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    # The PDF in the file store and its hash: empty until it is rendered, after the issuing command committed
    # (services.document_rendering); until then `pending_html` holds the page as numbered and worded then.
    file_id: Mapped[str | None] = mapped_column(ForeignKey("files.id"))
    sha256: Mapped[str | None] = mapped_column(String(64))
    pending_html: Mapped[str | None] = mapped_column(Text, deferred=True)
    rendered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    task_id: Mapped[str | None] = mapped_column(String(36))  # the task whose completion issued it
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by: Mapped[str] = mapped_column(String(80))
    addressed_to_applicant: Mapped[bool] = mapped_column(Boolean)
    # Delivery (送达): the date the applicant was served (window pick-up, signed-for post, first download), the
    # first download by the applicant (电子送达), and the 送达回证 that records the service.
    served_on: Mapped[date | None] = mapped_column(Date)
    first_downloaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    service_proof_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))


# ---- sign-in and look-up throttling (migration 0005_auth) ----------------------------------------------------


class Throttle(Base):
    """Failures counted per scope and subject, shared by every process (services.throttle). The subject and
    detail are SHA-256 hashes of what is counted (a user name as typed, a client address, a reference number),
    so no such value is stored in clear and every key has the same size."""

    __tablename__ = "throttles"

    scope: Mapped[str] = mapped_column(String(20), primary_key=True)  # e.g. signin_pair, lookup_address
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    detail: Mapped[str] = mapped_column(String(64), primary_key=True, default="")  # e.g. the address of a pair
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


# ---- the integration API (migration 0011_api) ----------------------------------------------------------------


class ApiClient(Base):
    """A system that calls /api/v1 (the provincial 一窗受理 platform …). Only the SHA-256 of its token is kept:
    tokens are 256-bit random values, so a fast hash is enough and a look-up by hash is one index read."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, e.g. "matters:read cases:read"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_hint: Mapped[str] = mapped_column(String(12))  # the token's first characters, to recognise it
    rate_per_minute: Mapped[int | None] = mapped_column(Integer)  # None: the configured default
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(80))
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiIdempotency(Base):
    """One submission per (client, Idempotency-Key): the first request inserts the row (the unique key makes a
    concurrent twin wait or fail), the body's hash decides between "same case again" and 409."""

    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("client_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[str] = mapped_column(String(200))  # space-separated event types
    # The shared HMAC key: the receiver checks signatures with it, so it is kept (not hashed), shown once.
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """The webhook outbox: one row per event and subscription, written in the step's transaction, sent by the
    scheduler's webhook job with back-off; the row is also the delivery log."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "event_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
                                                 index=True)
    event_key: Mapped[str] = mapped_column(String(120))  # e.g. "12:case.accepted:1"
    event_id: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    payload: Mapped[str] = mapped_column(Text)  # the JSON body as sent (signed bytes)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|sending|delivered|failed|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# ---- public services of the reform: 好差评 (migration 0012_public) ----------------------------------------------


class Rating(Base):
    """The applicant's rating (政务服务“好差评”) of one case, at most one per case (the unique case_id). A level of
    不满意 or 非常不满意 starts a rectification case (workflows/p01_rectification.bpmn), linked here."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    matter_code: Mapped[str] = mapped_column(String(10), index=True)
    unit_code: Mapped[str | None] = mapped_column(String(40), index=True)  # the unit handling the matter then
    channel: Mapped[str] = mapped_column(String(10))  # online (by look-up code) | window (the clerk's page)
    level: Mapped[int] = mapped_column(Integer)  # 5 非常满意 … 1 非常不满意
    indicators: Mapped[dict[str, int]] = mapped_column(JSON)  # indicator code → 1..5
    comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_by: Mapped[str] = mapped_column(String(80))  # "applicant" online, the clerk's user name at the window
    rectification_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))


# ---- credit records (信用记录) and 双随机一公开 spot checks (migration 0012_public) ----------------------------


class CreditRecord(Base):
    """A finding the law ties to credit, recorded against a unified social credit code: shown to staff at the
    window and in the review of an application until it expires, never to other applicants. ``source_key`` makes
    a finding derived from a case (an inspection's violation) recorded once."""

    __tablename__ = "credit_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18), index=True)
    subject_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))  # false_materials | deception | inspection_failure | other
    finding: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200))  # e.g. the case reference, the decision's number
    source_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    source_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    recorded_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date, index=True)
    recorded_by: Mapped[str] = mapped_column(String(80))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RegulatedEntity(Base):
    """The registry of regulated entities for 双随机 spot checks: from completed permits and filings, and imports."""

    __tablename__ = "regulated_entities"
    __table_args__ = (UniqueConstraint("credit_code", "entity_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18), index=True)
    name: Mapped[str] = mapped_column(String(200))
    entity_type: Mapped[str] = mapped_column(String(40), index=True)  # the matter code, or a type of the import
    address: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(20))  # case | import
    source_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Inspector(Base):
    """The roster of law-enforcement inspectors by unit (执法检查人员名录)."""

    __tablename__ = "inspectors"
    __table_args__ = (UniqueConstraint("unit_code", "badge"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    badge: Mapped[str] = mapped_column(String(40))  # 执法证号: the stable key the draw ranks
    unit_code: Mapped[str] = mapped_column(String(40), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SpotCheckPlan(Base):
    """A 双随机 spot-check plan: which entities (type), how many (count or share), when, and the seed announced
    before the draw, so that anyone can re-run it."""

    __tablename__ = "spot_check_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    entity_type: Mapped[str] = mapped_column(String(40))
    inspector_unit: Mapped[str] = mapped_column(String(40))
    sample_count: Mapped[int | None] = mapped_column(Integer)
    sample_share: Mapped[int | None] = mapped_column(Integer)  # percent
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    seed: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SpotCheckDraw(Base):
    """One draw of a plan (round 1, and a redraw only with a reason: both stay, both are public and audited).
    ``candidates`` is the registry as drawn from (credit codes in order), ``digest`` the SHA-256 of the result."""

    __tablename__ = "spot_check_draws"
    __table_args__ = (UniqueConstraint("plan_id", "round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("spot_check_plans.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    candidates: Mapped[list[str]] = mapped_column(JSON)
    inspectors: Mapped[list[str]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)  # why a redraw was made (None for round 1)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    drawn_by: Mapped[str] = mapped_column(String(80))
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SpotCheckItem(Base):
    """One drawn entity with its two inspectors and the inspection case that checks it."""

    __tablename__ = "spot_check_items"
    __table_args__ = (UniqueConstraint("draw_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("spot_check_draws.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    entity_id: Mapped[int] = mapped_column(ForeignKey("regulated_entities.id"))
    inspector1_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"))
    inspector2_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"))
    inspection_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))


# ---- supervisors (migration 0010_supervisor) --------------------------------------------------------------------


class AuditCheckpoint(Base):
    """One verification of the audit chain: up to which event it is good (``seq`` and its ``hash``), so the next
    check starts there (incremental) instead of at the first event. A full verification starts at the first event;
    while it runs, ``state`` is running and ``events`` grows (its progress, readable by any process)."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # incremental | full
    state: Mapped[str] = mapped_column(String(12), index=True)  # running | ok | broken | abandoned
    from_seq: Mapped[int] = mapped_column(Integer)  # verified the events after this one
    seq: Mapped[int] = mapped_column(Integer)  # … up to this one
    hash: Mapped[str] = mapped_column(String(64))  # the hash of event ``seq`` (GENESIS for none)
    events: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)  # events to verify (full runs: for the progress)
    bad_seq: Mapped[int | None] = mapped_column(Integer)
    problem: Mapped[str | None] = mapped_column(String(40))
    started_by: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# ---- the supervisors' summary (migration 0015_summary; kept by services.summary) --------------------------------


class StatsCaseFacts(Base):
    """What the supervisors' measures and heatmap read of one case, as the summary last counted it: the columns of
    ``cases`` and ``case_clocks`` the measures are written over (same names), whether it was extended, and its task
    rows as the heatmap sees them (``heat``: element, done, days created and completed). Written by the case
    commands in their transaction (``services.summary``): the difference between what this row counts for and what
    the case as it is now counts for is what they add to the summary's tables. Also the narrow table some lists
    behind the dashboard's numbers are read from."""

    __tablename__ = "stats_case_facts"
    __table_args__ = (
        # the overdue list: the cases ever overdue (late, or open past the due date), with the rule's columns and the
        # list's order, read from this index alone
        Index("ix_stats_case_facts_overdue", "due_on", "status", "accepted_on", "stopped_on", "created_at",
              postgresql_where=text("stopped_on IS NULL OR stopped_on > due_on"),
              sqlite_where=text("stopped_on IS NULL OR stopped_on > due_on")),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    matter_code: Mapped[str] = mapped_column(String(10))
    definition_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_on: Mapped[date | None] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20))
    stopped_on: Mapped[date | None] = mapped_column(Date, index=True)
    due_on: Mapped[date | None] = mapped_column(Date)
    promised_due_on: Mapped[date | None] = mapped_column(Date)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trips: Mapped[int | None] = mapped_column(Integer)
    supplement_notices: Mapped[int | None] = mapped_column(Integer)
    extended: Mapped[bool] = mapped_column(Boolean)
    working_days_used: Mapped[int | None] = mapped_column(Integer)
    heat: Mapped[list[list[Any]]] = mapped_column(JSON)  # services.summary.heat_tasks


class StatsDay(Base):
    """Per matter and Beijing day, the cases counted on that day by each measure: registered / accepted on it,
    concluded (clock stopped) on it, finished on it; ``open_delta`` and ``open_overdue_delta`` are +1 on the day a
    case becomes open (overdue) and -1 on the day it stops being so, so the open cases on a day are the sum up to
    it. ``day`` 0001-01-01 stands for "no date" (a completed case without ``completed_at``)."""

    __tablename__ = "stats_days"
    __table_args__ = {"sqlite_with_rowid": False}  # the rows are their key (SQLite: no second b-tree to look up)

    matter_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    registered: Mapped[int] = mapped_column(Integer, default=0)
    supplement: Mapped[int] = mapped_column(Integer, default=0)
    second_notice: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    extended: Mapped[int] = mapped_column(Integer, default=0)
    concluded: Mapped[int] = mapped_column(Integer, default=0)
    timed: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    late: Mapped[int] = mapped_column(Integer, default=0)
    promised: Mapped[int] = mapped_column(Integer, default=0)
    early: Mapped[int] = mapped_column(Integer, default=0)
    days_missing: Mapped[int] = mapped_column(Integer, default=0)  # concluded without a stored working_days_used
    finished: Mapped[int] = mapped_column(Integer, default=0)
    run_once: Mapped[int] = mapped_column(Integer, default=0)
    zero_trip: Mapped[int] = mapped_column(Integer, default=0)
    multi_trip: Mapped[int] = mapped_column(Integer, default=0)
    trips: Mapped[int] = mapped_column(Integer, default=0)
    open_delta: Mapped[int] = mapped_column(Integer, default=0)
    open_overdue_delta: Mapped[int] = mapped_column(Integer, default=0)


class StatsDayWorkingDays(Base):
    """Per matter and day the clock stopped: how many concluded cases used how many working days (keyed in the order
    the dashboard groups them)."""

    __tablename__ = "stats_day_working_days"
    __table_args__ = {"sqlite_with_rowid": False}

    matter_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    working_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    cases: Mapped[int] = mapped_column(Integer, default=0)


class StatsHeat(Base):
    """Per deployed version and diagram element, task rows by kind: passed | waiting | judged and late (passed
    rows of a case with a due date; late = completed after it) | waiting_due (waiting rows by their case's due
    date, ``value`` = its ordinal: late or not depends on the day the heatmap is drawn)."""

    __tablename__ = "stats_heat"
    __table_args__ = {"sqlite_with_rowid": False}

    matter_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    definition_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    element: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class StatsHeatStep(Base):
    """Per deployed version: how many cases went from one element to the next ('' = the case's first element)."""

    __tablename__ = "stats_heat_steps"
    __table_args__ = {"sqlite_with_rowid": False}

    matter_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    definition_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    previous: Mapped[str] = mapped_column(String(200), primary_key=True)
    element: Mapped[str] = mapped_column(String(200), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class StatsHeatDwell(Base):
    """Per deployed version and element, passed task rows by (Beijing day created, day completed) as day
    ordinals: the dwell in working days is counted from these with the calendar when the heatmap is drawn."""

    __tablename__ = "stats_heat_dwell"
    __table_args__ = {"sqlite_with_rowid": False}

    matter_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    definition_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    element: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    completed_day: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
