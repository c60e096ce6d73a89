"""The applicant's loop online: after a look-up the applicant sees the one-time notice with every missing item and
its due date, answers it with uploads (no trip), and downloads only what is theirs."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select
from test_applicant import PDF, _apply, _deploy, _public_app, _submitted, _text

from app import uow_for
from services import cases
from services.actors import Actor
from storage.models import AuditEvent, Case, CaseMaterial, HumanTask

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
WINDOW = Actor(username="window1", roles=frozenset({"window"}), lanes=frozenset({"审批办"}))


@pytest.fixture
def app(db_url):
    app = _public_app(db_url, APPLICANT_LOOKUP_DELAY=0.0)
    _deploy(app, "m07")
    yield app
    app.extensions["runonce.engine"].dispose()


def _ready(app, case_id: int) -> HumanTask:
    with uow_for(app, write=False) as r:
        task = r.session.execute(select(HumanTask).where(HumanTask.case_id == case_id,
                                                         HumanTask.state == "ready")).scalar_one()
        r.session.expunge(task)
        return task


def _notice_missing(app, case_id: int, items: list[str]) -> None:
    check = _ready(app, case_id)
    assert check.spec_name == "check_materials"
    cases.complete_task(uow_for(app), check.id, {"received_date": "2026-11-30", "intake_result": "incomplete"},
                        WINDOW)
    notify = _ready(app, case_id)
    cases.complete_task(uow_for(app), notify.id, {
        "missing_items": items, "missing_items_detail": "请补充加盖公章的申请书原件扫描件。",
        "notice_date": "2026-12-01", "supplement_due_date": "2026-12-15"}, WINDOW)


def _open_case(app):
    client = app.test_client()
    assert _apply(client, "m07", delivery_mode="post").status_code == 302
    reference, code = _submitted(client)
    with uow_for(app, write=False) as r:
        case_id = r.session.execute(select(Case.id).where(Case.reference == reference)).scalar_one()
    return client, reference, code, case_id


def test_the_notice_is_answered_online_without_a_trip(app):
    client, reference, code, case_id = _open_case(app)
    assert client.get(f"/public/case/{reference}").status_code == 404  # no look-up yet in this browser
    _notice_missing(app, case_id, ["application_form", "business_licence"])

    stranger = app.test_client()
    assert stranger.get(f"/public/case/{reference}").status_code == 404
    page = _text(client.post("/public/track", data={"reference": reference, "lookup_code": code}))
    assert f'href="/public/case/{reference}"' in page
    page = _text(client.get(f"/public/case/{reference}"))
    assert "等待您补正" in page and "2026-12-15" in page
    assert re.findall(r'<li data-code="(\w+)">', page) == ["application_form", "business_licence"]
    assert "请补充加盖公章的申请书原件扫描件。" in page

    # A bad file is refused with its item named; the good one is kept for the next send.
    response = client.post(f"/public/case/{reference}", content_type="multipart/form-data", data={
        "item__application_form": (io.BytesIO(PNG), "申请书.pdf"),
        "item__business_licence": (io.BytesIO(PDF), "营业执照.pdf"),
    })
    assert response.status_code == 422
    page = _text(response)
    assert "申请书.pdf" in page and "与文件名不符" in page
    kept = re.findall(r'name="item__business_licence__kept" value="([0-9a-f]{32})"', page)
    assert len(kept) == 1

    response = client.post(f"/public/case/{reference}", content_type="multipart/form-data", data={
        "item__application_form": (io.BytesIO(PDF), "申请书.pdf"),
        "item__business_licence__kept": kept[0],
        "note": "已按要求补正。",
    })
    assert response.status_code == 302
    page = _text(client.get(f"/public/case/{reference}"))
    assert "补正材料已收到（网上）" in page
    assert 'id="supplement-form"' not in page  # the notice is answered

    with uow_for(app, write=False) as r:
        s = r.session
        case = s.get(Case, case_id)
        assert case.trips == 0  # applied online, supplements online, result by post
        rows = s.execute(select(CaseMaterial).where(CaseMaterial.case_id == case_id,
                                                    CaseMaterial.stage == "supplement")).scalars().all()
        assert sorted(row.item_code for row in rows) == ["application_form", "business_licence"]
        assert {row.channel for row in rows} == {"online"}
        event = s.execute(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                   AuditEvent.action == "task.completed")
                          .order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
        assert event.actor.startswith("applicant:") and event.payload["form"]["supplement_channel"] == "online"
        assert len(event.payload["form"]["supplement_files"]) == 2
        ready = s.execute(select(HumanTask.spec_name).where(HumanTask.case_id == case_id,
                                                            HumanTask.state == "ready")).scalars().all()
        assert ready == ["check_materials"]  # back to the window's check
        file_ids = [row.file_id for row in rows]

    response = client.get(f"/public/case/{reference}/files/{file_ids[0]}")
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    assert stranger.get(f"/public/case/{reference}/files/{file_ids[0]}").status_code == 404


def test_no_files_is_a_plain_error_and_nothing_is_completed(app):
    client, reference, code, case_id = _open_case(app)
    _notice_missing(app, case_id, ["application_form"])
    client.post("/public/track", data={"reference": reference, "lookup_code": code})
    response = client.post(f"/public/case/{reference}", data={"note": "x"}, content_type="multipart/form-data")
    assert response.status_code == 422 and "请上传所缺材料" in _text(response)
    assert _ready(app, case_id).spec_name == "receive_supplement"


def test_files_of_another_case_are_not_served(app):
    one, ref_one, code_one, case_one = _open_case(app)
    two, ref_two, code_two, case_two = _open_case(app)
    one.post("/public/track", data={"reference": ref_one, "lookup_code": code_one})
    with uow_for(app, write=False) as r:
        other_file = r.session.execute(select(CaseMaterial.file_id).where(CaseMaterial.case_id == case_two)
                                       ).scalars().first()
    assert other_file
    assert one.get(f"/public/case/{ref_one}/files/{other_file}").status_code == 404
    assert one.get(f"/public/case/{ref_two}/files/{other_file}").status_code == 404
