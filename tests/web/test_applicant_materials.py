"""Materials with the online application: one upload per item of the matter's list, required items enforced, bad
files refused with the item named while everything else (typed text and good files) is kept."""

from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import select
from test_applicant import GOOD, PDF, _apply, _cases, _deploy, _errors, _public_app, _required_materials, _text

from app import uow_for
from storage.models import AuditEvent, CaseMaterial, StoredFile
from workflows.catalog import shipped_catalog

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


@pytest.fixture
def app(db_url):
    app = _public_app(db_url, APPLICANT_LOOKUP_DELAY=0.0)
    _deploy(app, "m01", "m11")
    yield app
    app.extensions["runonce.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def _kept_ids(page: str, field: str) -> list[str]:
    return re.findall(rf'name="{field}__kept" value="([0-9a-f]{{32}})"', page)


def test_the_form_lists_the_matters_materials(client):
    page = _text(client.get("/public/apply/m01"))
    assert 'enctype="multipart/form-data"' in page
    for item in shipped_catalog().matter("m01").materials:
        assert f'name="material__{item.code}"' in page and item.name_zh in page


def test_a_missing_required_item_is_named_and_nothing_registers(app, client):
    required = [i for i in shipped_catalog().matter("m11").materials if i.required]
    response = _apply(client, "m11", with_materials=False)
    assert response.status_code == 422
    page = _text(response)
    assert _errors(page).count("此项为必填项。") == len(required)
    assert 'value="吉林某化工有限公司"' in page  # typed text kept
    assert not _cases(app)


def test_a_bad_file_is_refused_by_item_and_the_good_ones_are_kept(app, client):
    items = [i for i in shipped_catalog().matter("m11").materials if i.required]
    first, rest = items[0], items[1:]
    data = {**GOOD, **_required_materials("m11")}
    data[f"material__{first.code}"] = (io.BytesIO(PNG), "报告.pdf")  # a picture named as a PDF
    response = client.post("/public/apply/m11", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    page = _text(response)
    [message] = [e for e in _errors(page) if "报告.pdf" in e]
    assert message.startswith(first.name_zh + "：") and "与文件名不符" in message
    kept = {item.code: _kept_ids(page, f"material__{item.code}") for item in rest}
    assert all(len(ids) == 1 for ids in kept.values()), kept
    assert not _cases(app)

    # Sent again with the kept files and only the corrected one uploaded: registered, nothing sent twice.
    again = {**GOOD, f"material__{first.code}": (io.BytesIO(PDF), "报告.pdf")}
    again.update({f"material__{code}__kept": ids[0] for code, ids in kept.items()})
    response = client.post("/public/apply/m11", data=again, content_type="multipart/form-data")
    assert response.status_code == 302, _errors(_text(response))
    [case] = _cases(app)
    with uow_for(app, write=False) as r:
        s = r.session
        rows = s.execute(select(CaseMaterial).where(CaseMaterial.case_id == case.id)).scalars().all()
        assert {row.item_code for row in rows} == {i.code for i in items}
        assert {(row.stage, row.channel) for row in rows} == {("application", "online")}
        stored = {f.id: f for f in s.execute(select(StoredFile).where(  # the issued receipt is a file too
            StoredFile.case_id == case.id, StoredFile.purpose != "document")).scalars()}
        assert {row.file_id for row in rows} == set(stored) and not any(f.owner_token for f in stored.values())
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "case.registered")).scalar_one()
        listed = event.payload["after"]["materials"]
        assert {m["file_id"] for m in listed} == set(stored)
        assert all(m["sha256"] == stored[m["file_id"]].sha256 for m in listed)
        assert "base64" not in json.dumps(event.payload) and len(json.dumps(event.payload)) < 8192
    page = _text(client.get("/public/submitted"))
    assert "报告.pdf" in page and first.name_zh in page


def test_kept_ids_from_another_browser_are_ignored(app):
    one, two = app.test_client(), app.test_client()
    data = {**GOOD, **_required_materials("m11"), "applicant_email": "bad"}
    page = _text(one.post("/public/apply/m11", data=data, content_type="multipart/form-data"))
    stolen = re.findall(r'name="(material__\w+)__kept" value="([0-9a-f]{32})"', page)
    assert stolen
    forged = {**GOOD, **{f"{name}__kept": fid for name, fid in stolen}}
    response = two.post("/public/apply/m11", data=forged, content_type="multipart/form-data")
    assert response.status_code == 422 and "此项为必填项。" in _errors(_text(response))
    assert not _cases(app)


def test_e_mail_consent_is_recorded_with_its_time(app, client):
    assert _apply(client, "m11", email_consent="y").status_code == 302
    [case] = _cases(app)
    assert case.email_consent_at is not None
    other = app.test_client()
    assert _apply(other, "m11", applicant_email="b@example.cn").status_code == 302
    assert [c.email_consent_at is None for c in _cases(app)].count(True) == 1
