"""With the real engine and the EIA diagram: register over HTTP, the receipt, the one-time notice listing
every missing item, the notice of acceptance, and the case page (timeline, tasks, diagram markers)."""

from __future__ import annotations

import html
import io
import re
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from web_support import PASSWORD, login

from app import uow_for, workflows_dir
from services import definitions
from services.actors import Actor
from storage.models import HumanTask

TODAY = date.today().isoformat()
APPLICATION = {
    "matter": "m01",
    "report_type": "report",
    "applicant_name": "吉林某化工有限公司",
    "applicant_credit_code": "91220101MA0Y4XKX8G",
    "applicant_contact": "王经理",
    "applicant_phone": "0431-88886666",
    "applicant_address": "长春市人民大街 1 号",
    "channel": "window",
    "delivery_mode": "post",
}


@pytest.fixture
def eia(app):
    diagram = workflows_dir(app) / "m01_eia_approval.bpmn"
    definitions.deploy_bundle(
        uow_for(app),
        definitions.bundle_for(diagram),
        diagram.name,
        Actor.system("test"),
        process_id="m01_eia_approval",
    )
    return app


def _open_task(app, case_id: int) -> HumanTask:
    with uow_for(app, write=False) as r:
        return (
            r.session.execute(
                select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "ready")
            )
            .unique()
            .scalar_one()
        )


def _work(client, task: HumanTask, data: dict) -> None:
    assert client.post(f"/tasks/{task.id}/claim").status_code == 302
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    version = page.split('name="expected_version" type="hidden" value="')[1].split('"')[0]
    response = client.post(f"/tasks/{task.id}", data={**data, "expected_version": version})
    assert response.status_code == 302, html.unescape(response.get_data(as_text=True))[-3000:]


def _document_text(client, page: str, case_id: int, kind: str) -> str:
    """The text of the case's document of `kind`, through the link the case page shows."""
    match = re.search(rf'data-kind="{kind}">\s*<td><a class="document-link" href="([^"]+)"', page)
    assert match, f"no {kind} on the case page"
    response = client.get(html.unescape(match.group(1)))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)


def test_register_supplement_notice_then_acceptance(eia, client):
    login(client, "window1", PASSWORD)
    response = client.post("/cases/new", data=APPLICATION)
    assert response.status_code == 302 and "/receipt" in response.headers["Location"]
    receipt = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "收件回执" in receipt and "吉林某化工有限公司" in receipt
    case_id = int(response.headers["Location"].split("/")[2])

    _work(client, _open_task(eia, case_id), {"received_date": TODAY, "intake_result": "incomplete"})
    notice_task = _open_task(eia, case_id)
    assert notice_task.form == "supplement_notice.json"
    _work(
        client,
        notice_task,
        {
            "missing_items": ["eia_document", "public_participation", "other"],
            "missing_items_detail": "报告书缺少公众参与说明；法定代表人身份证明复印件不清晰。",
            "notice_date": TODAY,
        },
    )
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    notice = _document_text(client, page, case_id, "supplement_notice")
    assert "一次性告知书" in notice
    for item in ("环境影响报告书（报告表）全本", "公众参与说明"):
        assert item in notice
    assert "报告书缺少公众参与说明" in notice

    # the applicant supplies the materials by post; accepted this time
    supplement = _open_task(eia, case_id)
    assert supplement.form == "supplement_receipt.json"
    answers = {
        "supplement_outcome": "submitted",
        "supplement_received_date": TODAY,
        "supplement_channel": "post",
    }
    _work(client, supplement, answers)
    _work(client, _open_task(eia, case_id), {"received_date": TODAY, "intake_result": "complete"})
    acceptance = _open_task(eia, case_id)
    _work(client, acceptance, {"acceptance_date": TODAY})
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    notice = _document_text(client, page, case_id, "acceptance_notice")
    year = date.today().year
    assert "受理通知书" in notice and f"吉环受字〔{year}〕第1号" in notice and "予以受理" in notice

    # the case page: tasks, timeline, and the diagram's markers
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "登记申请" in page and "完成任务" in page and "受理公示" in page
    markers = client.get(f"/cases/{case_id}/states.json").get_json()
    assert markers["call_acceptance"] == "completed"
    assert markers[_open_task(eia, case_id).spec_name] == "current"
    xml = client.get(f"/cases/{case_id}/diagram.bpmn").get_data(as_text=True)
    assert 'id="m01_eia_approval"' in xml
