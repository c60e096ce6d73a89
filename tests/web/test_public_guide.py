"""The information column on /public/ and the service guides (web/public_info.py): page, PDF, diagram."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from web_support import make_app

from app import uow_for
from services.actors import Actor
from services.definitions import bundle_for, deploy_bundle
from workflows.catalog import shipped_catalog

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # nothing here depends on the backend


@pytest.fixture
def app(db_url):
    app = make_app(db_url)
    yield app
    app.extensions["runonce.engine"].dispose()


def test_the_information_column_lists_every_matter_with_its_guide(app):
    page = app.test_client().get("/public/").get_data(as_text=True)
    for matter in shipped_catalog().matters:
        assert f'data-code="{matter.code}"' in page
        assert f'href="/public/guide/{matter.code}"' in page
    assert page.count("run-once-status") == len(shipped_catalog().matters)
    assert "已实现“只跑一次”" not in page  # nothing deployed yet: no matter has reached run-once
    path = ROOT / "workflows" / "m11_eia_post_assessment_filing.bpmn"
    deploy_bundle(uow_for(app), bundle_for(path), path.name, Actor.system("test"))
    page = app.test_client().get("/public/").get_data(as_text=True)
    entry = page[page.index('data-code="m11"'):]
    assert entry.index("已实现“只跑一次”") < entry.index("</li>")


def test_the_guide_shows_the_catalogs_materials_limits_and_the_deployed_steps(app):
    client = app.test_client()
    matter = shipped_catalog().matter("m03")
    page = client.get("/public/guide/m03").get_data(as_text=True)
    assert re.findall(r'class="guide-material" data-code="([a-z_]+)"', page) == [i.code for i in matter.materials]
    assert 'id="guide-statutory">20个工作日' in page and "不收费" in page
    assert 'data-element="decide"' in page
    # a new version of the diagram renames a step: the guide follows the deployed version
    path = ROOT / "workflows" / matter.diagram
    files = bundle_for(path)
    files[path.name] = files[path.name].replace('name="审批决定"'.encode(), 'name="审批决定（厅务会）"'.encode())
    deploy_bundle(uow_for(app), files, path.name, Actor.system("test"))
    page = client.get("/public/guide/m03").get_data(as_text=True)
    assert "审批决定（厅务会）" in page
    assert "审批决定（厅务会）".encode() in client.get("/public/guide/m03/diagram.bpmn").data


def test_the_guide_shows_the_promise_and_the_owner_the_administrator_set(app):
    from services import clock, users

    users.ensure_units(uow_for(app), [("ecology", "生态处", "Ecology Division")], Actor.system("test"))
    before = app.test_client().get("/public/guide/m11").get_data(as_text=True)
    assert 'id="guide-promised">5个工作日' in before and 'id="guide-unit">法规处' in before
    clock.save_matter_setting(uow_for(app), "m11", actor=Actor.system("test"), promised_value=3,
                              promised_unit="working_days", owner_unit_code="ecology")
    after = app.test_client().get("/public/guide/m11").get_data(as_text=True)
    assert 'id="guide-promised">3个工作日' in after and 'id="guide-unit">生态处' in after


def test_the_guide_in_english_and_as_pdf(app):
    from pypdf import PdfReader

    client = app.test_client()
    client.post("/language", data={"lang": "en", "next": "/public/guide/m01"})
    page = client.get("/public/guide/m01").get_data(as_text=True)
    assert "Service guide" in page and "Materials" in page
    client.post("/language", data={"lang": "zh_CN", "next": "/public/guide/m01"})
    response = client.get("/public/guide/m01.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert "办事指南" in text and shipped_catalog().matter("m01").materials[0].name_zh in text.replace("\n", "")
    form = client.get("/public/guide/m01/application-form.pdf")
    assert form.status_code == 200 and form.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(form.data)).pages).replace("\n", "")
    assert "申请表" in text and all(i.name_zh[:8] in text for i in shipped_catalog().matter("m01").materials)
    assert client.get("/public/guide/m99").status_code == 404
    assert client.get("/public/guide/m99.pdf").status_code == 404


def test_the_guide_pdf_is_made_once_in_an_engine_worker_and_revalidated_by_its_etag(app):
    """Anyone may download a guide: its PDF is a job of the rendering workers (never this thread's CPU), kept by the
    page's content, and a browser holding it gets 304."""
    from services.document_rendering import _render_pool

    client = app.test_client()
    jobs = _render_pool().stats["jobs"]
    first = client.get("/public/guide/m02.pdf")
    assert first.status_code == 200 and first.headers["ETag"]
    again = client.get("/public/guide/m02.pdf")
    assert again.data == first.data
    assert _render_pool().stats["jobs"] - jobs <= 1  # made at most once (another test may have made it already)
    assert client.get("/public/guide/m02.pdf", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
