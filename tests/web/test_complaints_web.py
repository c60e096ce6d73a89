"""投诉举报 pages (web/complaints.py): the public form with an attachment, the reference and code shown once, the
follow-up page; a complaint is not found by the applications' look-up. SQLite only (services test both)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from web_support import make_app

from app import uow_for
from services.actors import Actor
from services.definitions import bundle_for, deploy_bundle
from storage.models import Case, StoredFile

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FORM = {"kind": "report", "subject": "夜间偷排", "content": "某企业夜间通过暗管排放废水，已持续一周。",
        "matter_code": "m02", "name": "李四", "phone": "139 0000 0000"}


@pytest.fixture
def app(db_url, tmp_path):
    app = make_app(db_url, APPLICANT_LOOKUP_DELAY=0.0, FILES_DIR=str(tmp_path / "files"))
    path = ROOT / "workflows" / "p02_complaint.bpmn"
    deploy_bundle(uow_for(app), bundle_for(path), path.name, Actor.system("test"))
    yield app
    app.extensions["runonce.engine"].dispose()


def test_a_complaint_with_an_attachment_is_received_and_followed_by_reference_and_code(app):
    client = app.test_client()
    page = client.get("/public/complaints").get_data(as_text=True)
    assert "投诉举报" in page and 'enctype="multipart/form-data"' in page
    refused = client.post("/public/complaints", data={**FORM, "name": "", "phone": ""})
    assert refused.status_code == 422 and "实名投诉举报请填写姓名" in refused.get_data(as_text=True)
    sent = client.post("/public/complaints", data={**FORM, "attachments": (io.BytesIO(PDF), "照片说明.pdf")},
                       content_type="multipart/form-data")
    assert sent.status_code == 302
    receipt = client.get("/public/complaints/submitted").get_data(as_text=True)
    reference = re.search(r'id="reference">([^<]+)<', receipt).group(1)
    code = re.search(r'id="lookup-code">([^<]+)<', receipt).group(1)
    with uow_for(app, write=False) as r:
        case = r.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        assert (case.matter_code, case.applicant_name, case.applicant_phone) == ("p02", "李四", "13900000000")
        assert [f.original_name for f in r.session.execute(
            select(StoredFile).where(StoredFile.case_id == case.id)).scalars()] == ["照片说明.pdf"]
    other = app.test_client()
    found = other.post("/public/complaints/track", data={"reference": reference, "lookup_code": code})
    text = found.get_data(as_text=True)
    assert found.status_code == 200 and 'id="complaint-stage"><strong>已收到，正在登记' in text
    assert "照片说明.pdf" in text
    wrong = other.post("/public/complaints/track", data={"reference": reference, "lookup_code": "AAAAAAAA"})
    assert wrong.status_code == 404
    # the applications' look-up does not open a complaint
    assert other.post("/public/track", data={"reference": reference, "lookup_code": code}).status_code == 404


def test_an_anonymous_complaint_needs_no_name(app):
    client = app.test_client()
    sent = client.post("/public/complaints", data={**FORM, "name": "", "phone": "", "anonymous": "y",
                                                   "kind": "complaint", "matter_code": ""})
    assert sent.status_code == 302
    with uow_for(app, write=False) as r:
        case = r.session.execute(select(Case).where(Case.matter_code == "p02")).scalar_one()
        assert case.applicant_name == "匿名" and case.applicant_phone is None
