"""零跑动 in a real Chromium: an applicant applies online with the materials, reads the one-time notice online,
uploads the supplements online, and after acceptance and decision downloads the decision served online. No
trip; every document is a valid PDF whose sha256 is the one its audit event recorded.

The applicant's side runs in the browser; the office's steps go through the service layer (their pages have
tests of their own), as the people of the lanes.
"""

from __future__ import annotations

import hashlib
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app import uow_for, workflows_dir
from services import demo
from services.demo_cases import complete_step, people_by_lane
from storage.models import AuditEvent, Case, Document, HumanTask
from workflows import scenarios as sc
from workflows.catalog import shipped_catalog

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(scope="module", params=("sqlite", "postgresql"))
def live(request, tmp_path_factory):
    from contextlib import ExitStack

    from browser_support import live_server
    from pg_support import fresh_pg_database

    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('zero') / 'runonce.db'}"
        else:
            url = stack.enter_context(fresh_pg_database())
        yield stack.enter_context(live_server(url, lambda app: demo.seed(uow_for(app), workflows_dir(app))))


def _office(app, case_id: int, steps) -> None:
    people = people_by_lane(uow_for(app))
    for name, payload in steps:
        assert complete_step(uow_for(app), case_id, name, payload, people), f"{name} is not ready"


def _ready(app, case_id: int) -> list[str]:
    with uow_for(app, write=False) as r:
        return list(r.session.execute(select(HumanTask.spec_name).where(
            HumanTask.case_id == case_id, HumanTask.state == "ready")).scalars())


def test_zero_trips_from_application_to_the_decision_served_online(live, page, tmp_path):
    app = live
    base = app.base_url
    matter = shipped_catalog().matter("m07")
    # -- apply online with the materials ------------------------------------------------------------------------
    page.goto(f"{base}/public/apply/m07")
    page.fill("#applicant_name", "吉林某辐射技术有限公司")
    page.fill("#applicant_credit_code", "91220000123456789K")
    page.fill("#applicant_contact", "张三")
    page.fill("#applicant_phone", "13912345678")
    page.fill("#applicant_email", "zhangsan@example.cn")
    page.check("input[name=delivery_mode][value=online]")
    for item in matter.materials:
        if item.required:
            path = tmp_path / f"{item.code}.pdf"
            path.write_bytes(PDF + item.code.encode())
            page.set_input_files(f"input[name=material__{item.code}]", str(path))
    page.click("#online-application button[type=submit]")
    reference = page.inner_text("#reference").strip()
    code = page.inner_text("#lookup-code").strip()
    with uow_for(app, write=False) as r:
        case_id = r.session.execute(select(Case.id).where(Case.reference == reference)).scalar_one()

    # -- the window finds materials missing and tells everything at once ------------------------------------------
    notice = dict(sc.SUPPLEMENT_NOTICE, supplement_due_date="2099-12-31")
    _office(app, case_id, [("check_materials", sc.materials_check("incomplete")), ("notify_supplement", notice)])

    # -- the applicant reads the notice online and answers it online ---------------------------------------------
    page.goto(f"{base}/public/track")
    page.fill("#reference", reference)
    page.fill("#lookup_code", code)
    page.click("#lookup-form button[type=submit]")
    page.click("#open-case")
    assert "等待您补正材料" in page.inner_text("#waiting-sentence")
    items = page.locator("#notice-items li").all_inner_texts()
    assert matter.material("application_form").name_zh in items
    supplement = tmp_path / "补正申请书.pdf"
    supplement.write_bytes(PDF + b"supplement")
    page.set_input_files("input[name=item__application_form]", str(supplement))
    page.fill("#note", "已按告知书补正。")
    page.click("#supplement-form button[type=submit]")
    assert "无需到现场" in page.inner_text(".flashes")
    assert _ready(app, case_id) == ["check_materials"]

    # -- acceptance, review, decision, the decision document, online delivery -----------------------------------
    steps = [s for s in sc.m07_steps(mode="online") if s[0] not in ("check_materials",)]
    _office(app, case_id, [("check_materials", sc.materials_check("complete")), *steps])
    with uow_for(app, write=False) as r:
        case = r.session.get(Case, case_id)
        assert (case.status, case.outcome) == ("completed", "approved")

    # -- the applicant downloads the decision served online ----------------------------------------------------
    page.goto(f"{base}/public/case/{reference}")
    decision = page.locator("#my-documents a[data-kind=grant_decision]")
    with page.expect_download() as caught:
        decision.click()
    downloaded = Path(caught.value.path()).read_bytes()
    assert PdfReader(BytesIO(downloaded)).pages

    with uow_for(app, write=False) as r:
        s = r.session
        case = s.get(Case, case_id)
        assert case.trips == 0 and case.trip_flag is None  # 零跑动
        documents = s.execute(select(Document).where(Document.case_id == case_id)).scalars().all()
        kinds = {d.kind for d in documents}
        assert {"receipt", "supplement_notice", "acceptance_notice", "grant_decision"} <= kinds
        recorded = {}
        for event in s.execute(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                        AuditEvent.action == "document.issued")).scalars():
            recorded[event.payload["document"]["number"]] = event.payload["document"]["sha256"]
        store = app.extensions["runonce.files"]
        for document in documents:
            data = store.path(document.sha256).read_bytes()
            assert PdfReader(BytesIO(data)).pages, document.kind
            assert hashlib.sha256(data).hexdigest() == document.sha256 == recorded[document.number], document.kind
        grant = next(d for d in documents if d.kind == "grant_decision")
        assert hashlib.sha256(downloaded).hexdigest() == grant.sha256
        assert grant.first_downloaded_at is not None and grant.served_on is not None  # 电子送达
