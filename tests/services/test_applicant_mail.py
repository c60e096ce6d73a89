"""E-mail to the applicant at each step that needs them (consent given when applying), through a real SMTP
server: the notice of missing materials, acceptance, the result; never without consent, each message once; the
e-mail that the result is ready is the electronic service (电子送达) of an online delivery."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from services import cases
from services.demo_cases import complete_step
from services.mailer import MailSettings, send_pending
from storage.models import ApplicantMessage, Case, Document
from workflows import scenarios as sc

WINDOW = cases.Actor(username="window1", roles=frozenset({"window"}), lanes=frozenset({"审批办"}))


def _register(uow, consent: bool, delivery: str = "online") -> int:
    applicant = cases.Applicant(name="吉林某公司", credit_code="91220000123456789K", email="a@example.cn",
                                email_consent=consent)
    return cases.register_case(uow, matter_code="m07", applicant=applicant, channel="online",
                               delivery_mode=delivery, actor=WINDOW).case_id


def _kinds(uow, case_id: int) -> list[str]:
    with uow.reader() as r:
        return list(r.session.execute(select(ApplicantMessage.kind).where(ApplicantMessage.case_id == case_id)
                                      .order_by(ApplicantMessage.id)).scalars())


def test_each_step_that_needs_the_applicant_sends_one_e_mail(installed, smtp):
    inbox, port = smtp
    uow, people = installed.uow, installed.people
    case_id = _register(uow, consent=True)
    silent = _register(uow, consent=False)
    for target in (case_id, silent):
        for name, payload in [("check_materials", sc.materials_check("incomplete")),
                              ("notify_supplement", sc.SUPPLEMENT_NOTICE)]:
            assert complete_step(uow, target, name, payload, people)
    assert _kinds(uow, case_id) == ["supplement_notice"] and _kinds(uow, silent) == []

    settings = MailSettings(host="127.0.0.1", port=port, mail_from="runonce@hbt.jl.gov.cn",
                            base_url="https://zwfw.example.cn")
    report = send_pending(uow, datetime(2026, 12, 1, 2, tzinfo=UTC), settings)
    assert report.sent == 1
    [(to, msg)] = inbox.envelopes
    assert to == ["a@example.cn"] and "请补正申请材料" in msg["Subject"]
    body = msg.get_content()
    with uow.reader() as r:
        case = r.session.get(Case, case_id)
        assert case.reference in body and case.lookup_code not in body  # the code never travels by e-mail
    assert "https://zwfw.example.cn/public/track" in body
    assert send_pending(uow, datetime(2026, 12, 1, 3, tzinfo=UTC), settings).sent == 0  # once only

    steps = [("receive_supplement", sc.supplement("online")), ("check_materials", sc.materials_check("complete"))]
    steps += [s for s in sc.m07_steps(mode="online") if s[0] != "check_materials"]
    for name, payload in steps:
        assert complete_step(uow, case_id, name, payload, people), name
    assert _kinds(uow, case_id) == ["supplement_notice", "accepted", "result_ready"]
    moment = datetime(2026, 12, 2, 1, tzinfo=UTC)
    assert send_pending(uow, moment, settings).sent == 2
    subjects = [m["Subject"] for _, m in inbox.envelopes[1:]]
    assert any("已受理" in s for s in subjects) and any("办理结果已出" in s for s in subjects)
    with uow.reader() as r:
        served = r.session.execute(select(Document).where(Document.case_id == case_id,
                                                          Document.addressed_to_applicant.is_(True))).scalars()
        assert all(d.served_on is not None for d in served)  # the result e-mail served them (电子送达)
