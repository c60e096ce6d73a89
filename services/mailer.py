"""E-mail delivery of reminders over SMTP (standard library ``smtplib``), when ``SMTP_HOST`` is configured.

Each reminder is mailed at most once: a ``reminder_emails`` row is inserted as a claim before anything is
sent (``INSERT … ON CONFLICT DO NOTHING``), so two schedulers never both send it; after a successful send the
reminder's ``emailed_at`` is set.  A send that failed (server down) is retried a few times, some minutes
apart; a reminder whose recipients have no address is marked ``no_recipients``.  A process that dies between
the claim and the send loses that one e-mail rather than sending it twice.

Recipients: the active users the reminder is addressed to (``services.reminders.recipients``) with an e-mail
address; one message per language (``users.locale``: Chinese first, English).

Settings (app config, else environment): ``SMTP_HOST``, ``SMTP_PORT`` (25), ``MAIL_FROM``, optional
``SMTP_USERNAME`` / ``SMTP_PASSWORD``, ``SMTP_STARTTLS=1``, ``BASE_URL`` (a link to the reminders page).
"""

from __future__ import annotations

import logging
import os
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services import clock, reminders
from services.uow import UnitOfWork
from storage.models import Reminder, ReminderEmail

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailSettings:
    host: str | None = None
    port: int = 25
    mail_from: str = "runonce@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    base_url: str | None = None
    timeout: float = 10.0
    max_age: timedelta = timedelta(days=3)  # older unsent reminders are not mailed (e.g. SMTP set up later)
    max_attempts: int = 5
    retry_after: timedelta = timedelta(minutes=5)
    batch: int = 100

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None = None) -> MailSettings:
        config = config or {}

        def get(key: str, default: Any = None) -> Any:
            value = config.get(key)
            if value is None or value == "":
                value = os.environ.get(key)
            return default if value is None or value == "" else value

        return cls(
            host=get("SMTP_HOST"),
            port=int(get("SMTP_PORT", 25)),
            mail_from=str(get("MAIL_FROM", "runonce@localhost")),
            username=get("SMTP_USERNAME"),
            password=get("SMTP_PASSWORD"),
            starttls=str(get("SMTP_STARTTLS", "0")).lower() in ("1", "true", "yes"),
            base_url=get("BASE_URL"),
        )


@dataclass
class MailReport:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


BRAND = {"zh": "只跑一次", "en": "Run-Once"}
FOOTER = {  # {department}: the one DEPARTMENT_NAME setting (services.documents.settings)
    "zh": "本邮件由{department}“只跑一次”审批系统自动发送，请登录系统查看详情。",
    "en": "Sent automatically by the Run-Once approval system of the Jilin environmental protection department; "
          "sign in to see the details.",
}


def compose(reminder: Reminder, locale: str, addresses: list[str], settings: MailSettings) -> EmailMessage:
    lang = "zh" if reminders.is_chinese(locale) else "en"
    msg = EmailMessage()
    msg["Subject"] = f"【{BRAND[lang]}】{reminders.kind_label(reminder.kind, locale)}"
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(addresses)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or "localhost")
    msg["X-Runonce-Reminder"] = reminder.key
    body = [reminders.render(reminder.msgid, reminder.params or {}, locale), ""]
    if settings.base_url:
        body.append(settings.base_url.rstrip("/") + "/reminders/")
    from services.documents import settings as document_settings

    body.append(FOOTER[lang].format(department=document_settings().department_name))
    msg.set_content("\n".join(body))
    return msg


def _insert(session):
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _pending_ids(uow: UnitOfWork, moment: datetime, settings: MailSettings) -> list[int]:
    with uow.reader() as r:
        retry = and_(ReminderEmail.status == "failed", ReminderEmail.attempts < settings.max_attempts,
                     ReminderEmail.updated_at <= moment - settings.retry_after)
        return list(r.session.execute(
            select(Reminder.id)
            .outerjoin(ReminderEmail, ReminderEmail.reminder_id == Reminder.id)
            .where(Reminder.emailed_at.is_(None), Reminder.created_at >= moment - settings.max_age,
                   or_(ReminderEmail.reminder_id.is_(None), retry))
            .order_by(Reminder.id).limit(settings.batch)
        ).scalars())


def _claim(uow: UnitOfWork, reminder_id: int, moment: datetime, settings: MailSettings) -> list[EmailMessage]:
    """Take the reminder for sending (or give up on it); the messages to send, [] when there is nothing."""
    with uow:
        session = uow.session
        claimed = session.execute(
            _insert(session)(ReminderEmail).values(
                reminder_id=reminder_id, status="sending", attempts=1, recipients=[], updated_at=moment)
            .on_conflict_do_nothing(index_elements=["reminder_id"]).returning(ReminderEmail.reminder_id)
        ).first() is not None  # RETURNING: psycopg reports rowcount -1 for INSERT … ON CONFLICT
        if not claimed:
            claimed = session.execute(
                update(ReminderEmail).where(
                    ReminderEmail.reminder_id == reminder_id, ReminderEmail.status == "failed",
                    ReminderEmail.attempts < settings.max_attempts,
                    ReminderEmail.updated_at <= moment - settings.retry_after,
                ).values(status="sending", attempts=ReminderEmail.attempts + 1, updated_at=moment)
                .execution_options(synchronize_session=False)
            ).rowcount == 1
        if not claimed:
            return []
        reminder = session.get(Reminder, reminder_id)
        by_locale: dict[str, list[str]] = {}
        for user in reminders.recipients(session, reminder):
            if user.email and user.email.strip():
                locale = "zh_CN" if reminders.is_chinese(user.locale) else "en"
                by_locale.setdefault(locale, []).append(user.email.strip())
        addresses = sorted({a for group in by_locale.values() for a in group})
        row = session.get(ReminderEmail, reminder_id)
        row.recipients = addresses
        if not addresses:
            row.status = "no_recipients"
        messages = [compose(reminder, loc, sorted(set(group)), settings) for loc, group in sorted(by_locale.items())]
        uow.commit()
        return messages


def _finish(uow: UnitOfWork, reminder_id: int, moment: datetime, error: str | None) -> None:
    with uow:
        session = uow.session
        session.execute(
            update(ReminderEmail).where(ReminderEmail.reminder_id == reminder_id)
            .values(status="failed" if error else "sent", last_error=error, updated_at=moment)
            .execution_options(synchronize_session=False)
        )
        if error is None:
            session.execute(
                update(Reminder).where(Reminder.id == reminder_id, Reminder.emailed_at.is_(None))
                .values(emailed_at=moment).execution_options(synchronize_session=False)
            )
        uow.commit()


class _Connection:
    """One SMTP connection for a run, opened on first use."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def send(self, msg: EmailMessage) -> None:
        if self.smtp is None:
            s = self.settings
            smtp = smtplib.SMTP(s.host or "", s.port, timeout=s.timeout)
            try:
                if s.starttls:
                    smtp.starttls()
                if s.username:
                    smtp.login(s.username, s.password or "")
            except Exception:
                smtp.close()
                raise
            self.smtp = smtp
        refused = self.smtp.send_message(msg)
        if refused:
            log.warning("SMTP refused some recipients of %s: %s", msg["X-Runonce-Reminder"], refused)

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None


def send_pending(uow: UnitOfWork, now: datetime | None = None, settings: MailSettings | None = None) -> MailReport:
    """Mail every reminder not mailed yet (created within ``max_age``), each at most once; then the applicants'
    messages (services.applicant_mail)."""
    settings = settings or MailSettings.from_config()
    report = MailReport()
    if not settings.enabled:
        return report
    moment = now or clock.now()
    connection = _Connection(settings)
    try:
        for reminder_id in _pending_ids(uow, moment, settings):
            messages = _claim(uow, reminder_id, moment, settings)
            if not messages:
                continue
            try:
                for msg in messages:
                    connection.send(msg)
            except (smtplib.SMTPException, OSError) as err:
                text = f"{type(err).__name__}: {err}"[:1000]
                log.warning("e-mail for reminder %s failed: %s", reminder_id, text)
                _finish(uow, reminder_id, moment, text)
                report.failed += 1
                report.errors.append(text)
                connection.close()
                continue
            _finish(uow, reminder_id, moment, None)
            report.sent += 1
        from services import applicant_mail

        sent, failed = applicant_mail.send_pending(uow, connection.send, moment, settings.mail_from,
                                                   settings.base_url)
        report.sent += sent
        report.failed += failed
    finally:
        connection.close()
    return report
