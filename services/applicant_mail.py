"""E-mail to applicants at each step that needs them, when they agreed to it when applying (``email_consent_at``).

A message is queued (table ``applicant_messages``) in the transaction of the step itself, keyed so each notice
exists once; the scheduler's mail job sends the queue over the same SMTP settings as the reminders. A message of
the result being ready online is the electronic service (电子送达) of the documents addressed to the applicant.
"""

from __future__ import annotations

import logging
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services import clock
from services.uow import UnitOfWork
from storage.models import ApplicantMessage, Case, HumanTask

log = logging.getLogger(__name__)

SUPPLEMENT_NOTICE = "supplement_notice"
ACCEPTED = "accepted"
NOT_ACCEPTED = "not_accepted"
RESULT_READY = "result_ready"

# Chinese first, English below it: the applicant's language is not known outside the page they applied on.
SUBJECTS = {
    SUPPLEMENT_NOTICE: ("请补正申请材料（一次性告知）", "Please send the missing materials"),
    ACCEPTED: ("您的申请已受理", "Your application was accepted"),
    NOT_ACCEPTED: ("您的申请不予受理", "Your application was not accepted"),
    RESULT_READY: ("办理结果已出，请查收", "The result of your application is ready"),
}
BODIES = {
    SUPPLEMENT_NOTICE: (
        "您申请的“{matter}”（受理号 {reference}）材料不齐全，所缺材料已一次性告知。请凭受理号和查询码在办件查询中"
        "查看告知书，并在网上直接上传补正材料，无需到窗口。",
        "Materials of your application {reference} are missing; all of them are listed at once in the notice. Look "
        "the case up with the reference and the lookup code and upload the supplements online: no visit needed."),
    ACCEPTED: (
        "您申请的“{matter}”（受理号 {reference}）已于 {accepted_on} 受理，受理通知书可在办件查询中下载。",
        "Your application {reference} was accepted on {accepted_on}; the notice of acceptance can be downloaded "
        "from the case look-up."),
    NOT_ACCEPTED: (
        "您申请的“{matter}”（受理号 {reference}）不予受理。不予受理通知书载明理由和救济途径，可在办件查询中下载。",
        "Your application {reference} was not accepted. The notice states the reasons and how to appeal; download "
        "it from the case look-up."),
    RESULT_READY: (
        "您申请的“{matter}”（受理号 {reference}）已办结，结果文书可凭受理号和查询码在办件查询中下载；"
        "选择邮寄送达的，结果将按您提供的地址寄出。",
        "Your application {reference} is decided. Download the documents from the case look-up with the reference "
        "and the lookup code; a result to be posted goes to the address you gave."),
}
FOOTER = ("本邮件由“只跑一次”审批系统自动发送；为安全起见，邮件中不含查询码，查询码见您的收件回执。",
          "Sent automatically by the Run-Once system; for your safety it never contains the lookup code.")


def _matter_name(code: str) -> str:
    from workflows.catalog import shipped_catalog

    try:
        return shipped_catalog().matter(code).name_zh
    except KeyError:
        return code


def queue(session: Session, case: Case, kind: str, round_no: int = 1) -> bool:
    """Queue one message unless the applicant did not agree or it exists already; True when queued."""
    if case.email_consent_at is None or not (case.applicant_email or "").strip():
        return False
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = session.execute(
        insert(ApplicantMessage).values(
            key=f"{case.id}:{kind}:{round_no}", case_id=case.id, kind=kind, email=case.applicant_email.strip(),
            status="pending", attempts=0, created_at=clock.now(),
        ).on_conflict_do_nothing(index_elements=["key"]).returning(ApplicantMessage.id)
    ).first()
    return result is not None


def after_step(session: Session, case: Case, *, was_accepted: bool, was_status: str, new_task_specs: list[str]
               ) -> None:
    """Queue what a step made the applicant's business (called inside the step's transaction)."""
    if "receive_supplement" in new_task_specs:
        session.flush()  # the new task row counts as a round
        rounds = session.execute(
            select(HumanTask.id).where(HumanTask.case_id == case.id, HumanTask.spec_name == "receive_supplement")
        ).all()
        queue(session, case, SUPPLEMENT_NOTICE, len(rounds))
    if case.accepted_on is not None and not was_accepted:
        queue(session, case, ACCEPTED)
    if was_status == "active" and case.status == "completed":
        queue(session, case, NOT_ACCEPTED if case.outcome == "not_accepted" else RESULT_READY)


def compose(message: ApplicantMessage, case: Case, mail_from: str, base_url: str | None) -> EmailMessage:
    msg = EmailMessage()
    zh_subject, en_subject = SUBJECTS.get(message.kind, (message.kind, message.kind))
    msg["Subject"] = f"【只跑一次】{zh_subject} / {en_subject}"
    msg["From"] = mail_from
    msg["To"] = message.email
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2] or "localhost")
    msg["X-Runonce-Applicant-Message"] = message.key
    values = {"matter": _matter_name(case.matter_code), "reference": case.reference,
              "accepted_on": case.accepted_on.isoformat() if case.accepted_on else ""}
    zh_body, en_body = (text.format(**values) for text in BODIES.get(message.kind, ("", "")))
    lines = [f"{case.applicant_name}：", "", zh_body]
    if base_url:
        lines += ["", "办件查询 / Case look-up: " + base_url.rstrip("/") + "/public/track"]
    lines += ["", FOOTER[0], "", "—", en_body, "", FOOTER[1]]
    msg.set_content("\n".join(lines))
    return msg


def _claim(uow: UnitOfWork, message_id: int, moment: datetime) -> tuple[ApplicantMessage, Case] | None:
    with uow:
        s = uow.session
        claimed = s.execute(
            update(ApplicantMessage).where(ApplicantMessage.id == message_id,
                                           ApplicantMessage.status.in_(("pending", "failed")),
                                           ApplicantMessage.attempts < 5)
            .values(status="sending", attempts=ApplicantMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        if not claimed:
            return None
        message = s.get(ApplicantMessage, message_id)
        case = s.get(Case, message.case_id)
        uow.commit()
        s.expunge_all()
        return message, case


def _finish(uow: UnitOfWork, message: ApplicantMessage, moment: datetime, error: str | None) -> None:
    with uow:
        s = uow.session
        s.execute(update(ApplicantMessage).where(ApplicantMessage.id == message.id).values(
            status="failed" if error else "sent", sent_at=None if error else moment, last_error=error)
            .execution_options(synchronize_session=False))
        if error is None and message.kind == RESULT_READY:
            from services import documents

            documents.served_electronically(s, message.case_id, moment, how="email")
        uow.commit()


def send_pending(uow: UnitOfWork, send, moment: datetime, mail_from: str, base_url: str | None) -> tuple[int, int]:
    """Send queued messages with ``send(msg)``; returns (sent, failed)."""
    with uow.reader() as r:
        ids = list(r.session.execute(
            select(ApplicantMessage.id).where(ApplicantMessage.status.in_(("pending", "failed")),
                                              ApplicantMessage.attempts < 5)
            .order_by(ApplicantMessage.id).limit(100)
        ).scalars())
    sent = failed = 0
    for message_id in ids:
        claimed = _claim(uow, message_id, moment)
        if claimed is None:
            continue
        message, case = claimed
        try:
            send(compose(message, case, mail_from, base_url))
        except Exception as err:  # noqa: BLE001 - SMTP and socket errors alike; retried later
            log.warning("e-mail to the applicant of case %s failed: %s", case.id, err)
            _finish(uow, message, moment, f"{type(err).__name__}: {err}"[:1000])
            failed += 1
            continue
        _finish(uow, message, moment, None)
        sent += 1
    return sent, failed
