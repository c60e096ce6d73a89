"""The office's side of the documents, on both databases: the receipt page after registration, the stored PDF
served with its UTF-8 name and no sniffing (the same bytes the audit event hashes), the case page's list,
who may fetch a document, the signed-for date of a post delivery, the department's name from one setting."""

from __future__ import annotations

import hashlib
import html
import io
import re
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from web_support import make_app, seed_people

from app import uow_for, workflows_dir
from engine.clock import frozen_time
from services import cases, definitions
from services.actors import Actor
from storage.models import AuditEvent, Document, HumanTask

M07 = "m07_radiation_project_confirmation"
APPLICATION = {
    "matter": "m07",
    "applicant_name": "吉林某化工有限公司",
    "applicant_credit_code": "91220101MA0Y4XKX8G",
    "applicant_contact": "王经理",
    "applicant_phone": "13812345678",
    "applicant_email": "",
    "applicant_address": "长春市南关区人民大街 1 号",
    "channel": "window",
    "delivery_mode": "post",
}
SYSTEM = Actor.system("test")


@pytest.fixture
def m07(app):
    diagram = workflows_dir(app) / f"{M07}.bpmn"
    definitions.deploy_bundle(uow_for(app), definitions.bundle_for(diagram), diagram.name, SYSTEM, process_id=M07)
    return app


def _register(client) -> int:
    response = client.post("/cases/new", data=APPLICATION)
    assert response.status_code == 302 and "/receipt" in response.headers["Location"], response.status_code
    return int(response.headers["Location"].split("/")[2])


def _documents(app, case_id: int) -> list[Document]:
    with uow_for(app, write=False) as r:
        rows = r.session.execute(select(Document).where(Document.case_id == case_id).order_by(Document.id))
        docs = list(rows.scalars())
        r.session.expunge_all()
        return docs


def _audit_sha256(app, document: Document) -> str:
    with uow_for(app, write=False) as r:
        events = r.session.execute(select(AuditEvent).where(AuditEvent.case_id == document.case_id,
                                                            AuditEvent.action == "document.issued")).scalars()
        for event in events:  # the PDF's own event, after the issuing command's
            if event.payload["document"]["document_id"] == document.id:
                return event.payload["document"]["sha256"]
    raise AssertionError("no audit event carries the document")


def _complete(app, case_id: int, spec_name: str, data: dict) -> None:
    with uow_for(app, write=False) as r:
        task = r.session.execute(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "ready",
                                                         HumanTask.spec_name == spec_name)).scalar_one()
    cases.complete_task(uow_for(app), task.id, data, SYSTEM)


def test_the_receipt_is_issued_at_registration_and_served_as_stored(m07, login_as):
    client = login_as("window1")
    case_id = _register(client)
    page = html.unescape(client.get(f"/cases/{case_id}/receipt").get_data(as_text=True))
    [receipt] = _documents(m07, case_id)
    assert receipt.kind == "receipt" and receipt.number in page
    link = re.search(r'id="receipt-pdf" href="([^"]+)"', page).group(1)

    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "private" in response.headers["Cache-Control"]  # never in a shared cache
    disposition = response.headers["Content-Disposition"]
    name = quote(f"收件回执-{receipt.number}.pdf")
    assert disposition.startswith("inline") and f"filename*=UTF-8''{name}" in disposition
    body = response.data
    assert hashlib.sha256(body).hexdigest() == receipt.sha256 == _audit_sha256(m07, receipt)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    assert "吉林省环境保护厅" in text and receipt.number in text and "吉林某化工有限公司" in text

    download = client.get(link + "?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment") and download.data == body

    # the case page lists it (kind, number, date, download)
    case_page = html.unescape(client.get(f"/cases/{case_id}").get_data(as_text=True))
    assert 'data-kind="receipt"' in case_page and receipt.number in case_page and "?download=1" in case_page
    assert f"出具 {receipt.number}" in case_page  # the timeline names what the registration issued


def test_only_who_may_see_the_case_gets_its_documents(m07, client, login_as):
    window = login_as("window1")
    case_id = _register(window)
    other_id = _register(window)
    [receipt] = _documents(m07, case_id)
    url = f"/cases/{case_id}/documents/{receipt.id}.pdf"
    assert window.get(f"/cases/{other_id}/documents/{receipt.id}.pdf").status_code == 404  # not that case's
    assert window.get(f"/cases/{case_id}/documents/999999.pdf").status_code == 404
    window.post("/logout")
    assert client.get(url).status_code == 302  # to the sign-in page
    login_as("soil1")  # a handler of a unit with no part in the case
    assert client.get(url).status_code == 403
    client.post("/logout")
    login_as("supervisor1")
    assert client.get(url).status_code == 200


def test_forms_no_longer_ask_for_numbers_and_the_decision_is_numbered(m07, login_as):
    client = login_as("window1")
    case_id = _register(client)
    _complete(m07, case_id, "check_materials", {"received_date": "2018-05-02", "intake_result": "complete"})
    with uow_for(m07, write=False) as r:
        task = r.session.execute(select(HumanTask).where(HumanTask.case_id == case_id,
                                                         HumanTask.state == "ready")).scalar_one()
    client.post(f"/tasks/{task.id}/claim")
    form = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert task.spec_name == "issue_acceptance" and 'name="acceptance_date"' in form
    assert 'name="acceptance_no"' not in form  # (the diagram's instructions still say 登记受理编号: not mine to edit)
    version = form.split('name="expected_version" type="hidden" value="')[1].split('"')[0]
    response = client.post(f"/tasks/{task.id}", data={"acceptance_date": "2018-05-04", "expected_version": version},
                           follow_redirects=True)
    page = html.unescape(response.get_data(as_text=True))
    notice = [d for d in _documents(m07, case_id) if d.kind == "acceptance_notice"]
    assert len(notice) == 1 and f"已生成：受理通知书 {notice[0].number}" in page


def test_the_window_records_the_signed_for_date_of_a_post_delivery(m07, login_as):
    client = login_as("window1")
    with frozen_time(datetime(2018, 5, 2, 1, tzinfo=UTC)):
        case_id = _register(client)
        _complete(m07, case_id, "check_materials", {"received_date": "2018-05-02", "intake_result": "complete"})
        _complete(m07, case_id, "issue_acceptance", {"acceptance_date": "2018-05-02"})
        _complete(m07, case_id, "review", {"review_opinion": "符合条件。", "recommendation": "approve",
                                           "reviewer": "孙八", "review_date": "2018-05-02"})
        _complete(m07, case_id, "decide", {"decision": "approve", "signer": "分管厅长", "decision_date": "2018-05-02"})
        _complete(m07, case_id, "issue_approval", {"issue_date": "2018-05-02"})
        _complete(m07, case_id, "deliver_post", {"tracking_no": "EA123456789CN", "carrier": "中国邮政 EMS",
                                                 "posted_date": "2018-05-02"})
    docs = {d.kind: d for d in _documents(m07, case_id)}
    proof = docs["proof_of_service"]
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert f"/cases/{case_id}/documents/{proof.id}/signed-for" in page
    bad = client.post(f"/cases/{case_id}/documents/{proof.id}/signed-for", data={"signed_on": "5月4日"},
                      follow_redirects=True)
    assert "请按“年-月-日”格式填写签收日期" in html.unescape(bad.get_data(as_text=True))
    early = client.post(f"/cases/{case_id}/documents/{proof.id}/signed-for", data={"signed_on": "2018-04-01"},
                        follow_redirects=True)
    assert "签收日期不能早于文书寄出日期" in html.unescape(early.get_data(as_text=True))
    done = client.post(f"/cases/{case_id}/documents/{proof.id}/signed-for", data={"signed_on": "2018-05-04"},
                       follow_redirects=True)
    page = html.unescape(done.get_data(as_text=True))
    assert "已登记送达日期 2018-05-04" in page and "登记文书签收日期" in page  # the message and the timeline
    after = {d.kind: d for d in _documents(m07, case_id)}
    assert str(after["proof_of_service"].served_on) == str(after["grant_decision"].served_on) == "2018-05-04"


def test_the_department_name_is_one_setting(db_url):
    app = make_app(db_url, DEPARTMENT_NAME="吉林省生态环境厅")
    try:
        seed_people(app)
        page = app.test_client().get("/login").get_data(as_text=True)
        assert 'id="department-name">吉林省生态环境厅 · 行政审批' in page
    finally:
        app.extensions["runonce.engine"].dispose()
        make_app(db_url).extensions["runonce.engine"].dispose()  # back to the default for the next tests
    default = make_app(db_url)
    try:
        page = default.test_client().get("/login").get_data(as_text=True)
        assert 'id="department-name">吉林省环境保护厅 · 行政审批' in page and "生态环境厅" not in page
    finally:
        default.extensions["runonce.engine"].dispose()
