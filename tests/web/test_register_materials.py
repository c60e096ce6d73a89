"""The window ticks the materials received on paper when registering: recorded by item on the case file, and kept
on the form when it is refused for another reason."""

from __future__ import annotations

from sqlalchemy import select
from test_register import GOOD

from app import uow_for
from services.actors import Actor
from services.definitions import bundle_for, deploy_bundle
from storage.models import CaseMaterial
from workflows.catalog import shipped_catalog


def test_ticked_materials_are_recorded_by_item(app, login_as):
    path = shipped_catalog().diagram_path("m01")
    deploy_bundle(uow_for(app), bundle_for(path), path.name, Actor.system("test"))
    client = login_as("window1")
    page = client.get("/cases/new").get_data(as_text=True)
    assert 'data-materials-of="m01"' in page and 'name="paper__m01__application_form"' in page
    data = {**GOOD, "paper__m01__application_form": "original", "paper__m01__eia_document": "copy",
            "paper__m02__application_form": "original"}  # another matter's tick is ignored
    response = client.post("/cases/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with uow_for(app, write=False) as r:
        rows = r.session.execute(select(CaseMaterial).order_by(CaseMaterial.item_code)).scalars().all()
        got = [(row.item_code, row.paper_form, row.channel, row.stage, row.received_by) for row in rows]
    assert got == [("application_form", "original", "window", "application", "window1"),
                   ("eia_document", "copy", "window", "application", "window1")]


def test_ticks_are_kept_when_the_form_is_refused(app, login_as):
    client = login_as("window1")
    response = client.post("/cases/new", data={**GOOD, "applicant_phone": "1", "paper__m01__application_form": "copy"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<option value="copy" selected>' in page
