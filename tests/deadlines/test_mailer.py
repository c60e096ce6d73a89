"""Reminders by e-mail through a real SMTP server (aiosmtpd on 127.0.0.1, a free port): sent once, in the
recipient's language, never again; a server that is down is retried later."""

from __future__ import annotations

from datetime import timedelta

from deadline_support import at
from smtp_support import free_port
from sqlalchemy import select

from services import reminders
from services.mailer import MailSettings, send_pending
from storage.models import Reminder, ReminderEmail


def raise_one(uow, key: str, moment, **to) -> int:
    with uow:
        reminders.raise_reminder(
            uow.session, key=key, kind="deadline_overdue", subject_type="case", subject_id="7",
            msgid=reminders.OVERDUE_STATUTORY,
            params={"reference": "2018M03000007", "due": "2018-03-14",
                    "matter": {"zh_CN": "贮存危险废物超过一年的批准", "en": "Storage approval"}},
            created_at=moment, **to)
        uow.commit()
    with uow.reader() as r:
        return r.session.execute(select(Reminder.id).where(Reminder.key == key)).scalar_one()


def test_reminders_are_mailed_once_in_each_readers_language(uow, people, smtp):
    inbox, port = smtp
    settings = MailSettings(host="127.0.0.1", port=port, mail_from="runonce@hbt.jl.gov.cn",
                            base_url="https://runonce.example/")
    moment = at(2018, 3, 15, 9)
    eia = raise_one(uow, "t:eia", moment, unit_code="eia")  # eia1 (zh_CN) and eia_lead (en)
    soil = raise_one(uow, "t:soil-lead", moment, unit_code="soil", role="lead")  # soil_lead has no address
    sup = raise_one(uow, "t:sup", moment, role="supervisor")

    report = send_pending(uow, moment, settings)
    assert (report.sent, report.failed) == (2, 0)
    by_rcpt = {tuple(rcpt): msg for rcpt, msg in inbox.envelopes}
    assert set(by_rcpt) == {("eia1@example.test",), ("eia.lead@example.test",), ("supervisor1@example.test",)}
    zh = by_rcpt[("eia1@example.test",)]
    assert zh["Subject"] == "【只跑一次】超期提醒"
    assert zh["From"] == "runonce@hbt.jl.gov.cn"
    assert "案件 2018M03000007（贮存危险废物超过一年的批准）已超过法定办理期限（2018-03-14 届满）。" in zh.get_content()
    assert "https://runonce.example/reminders/" in zh.get_content()
    assert "本邮件由吉林省环境保护厅“只跑一次”审批系统自动发送" in zh.get_content()  # the DEPARTMENT_NAME setting
    en = by_rcpt[("eia.lead@example.test",)]
    assert en["Subject"] == "【Run-Once】Overdue"
    assert "Case 2018M03000007 (Storage approval) is overdue" in en.get_content()

    with uow.reader() as r:
        rows = {x.id: x for x in r.session.execute(select(Reminder)).scalars()}
        mails = {x.reminder_id: x for x in r.session.execute(select(ReminderEmail)).scalars()}
    assert rows[eia].emailed_at == moment and rows[sup].emailed_at == moment
    assert rows[soil].emailed_at is None and mails[soil].status == "no_recipients"
    assert mails[eia].recipients == ["eia.lead@example.test", "eia1@example.test"]

    # Never again: another run (or another scheduler) sends nothing.
    assert send_pending(uow, moment + timedelta(hours=1), settings).sent == 0
    assert len(inbox.envelopes) == 3


def test_a_server_that_is_down_is_retried_later(uow, people, smtp):
    inbox, port = smtp
    moment = at(2018, 3, 15, 9)
    rid = raise_one(uow, "t:admin", moment, role="admin")
    down = MailSettings(host="127.0.0.1", port=free_port(), timeout=2)
    report = send_pending(uow, moment, down)
    assert (report.sent, report.failed) == (0, 1)
    with uow.reader() as r:
        row = r.session.get(ReminderEmail, rid)
        assert (row.status, row.attempts) == ("failed", 1) and row.last_error
        assert r.session.get(Reminder, rid).emailed_at is None
    up = MailSettings(host="127.0.0.1", port=port)
    assert send_pending(uow, moment + timedelta(minutes=1), up).sent == 0  # not before retry_after
    assert send_pending(uow, moment + timedelta(minutes=6), up).sent == 1
    assert [rcpt for rcpt, _ in inbox.envelopes] == [["admin@example.test"]]
    with uow.reader() as r:
        assert r.session.get(ReminderEmail, rid).attempts == 2


def test_nothing_is_sent_without_smtp_host(uow, people):
    raise_one(uow, "t:none", at(2018, 3, 15, 9), unit_code="eia")
    assert send_pending(uow, at(2018, 3, 15, 9), MailSettings(host=None)).sent == 0
    with uow.reader() as r:
        assert r.session.execute(select(ReminderEmail)).first() is None
