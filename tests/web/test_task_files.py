"""Files in a handler's task form (here 接收补正材料, several files): stored in the file store, kept across a
refused send, and never taken from a hidden field that names another case's file or smuggles a data URL."""

from __future__ import annotations

import base64
import io
import re

import pytest
from sqlalchemy import select

from app import uow_for
from services import cases, files
from services.actors import Actor
from services.definitions import bundle_for, deploy_bundle
from services.files import Upload
from storage.models import AuditEvent, CaseMaterial, HumanTask, StoredFile
from workflows.catalog import shipped_catalog

PDF = b"%PDF-1.4\n% supplement\n%%EOF\n"
WINDOW = Actor(username="window1", roles=frozenset({"window"}), lanes=frozenset({"审批办"}))


def _case_waiting_for_supplements(app) -> tuple[int, str]:
    registration = cases.register_case(
        uow_for(app), matter_code="m07", applicant=cases.Applicant(name="吉林某公司", credit_code=None),
        channel="window", delivery_mode="post", actor=WINDOW)

    def ready() -> HumanTask:
        with uow_for(app, write=False) as r:
            task = r.session.execute(select(HumanTask).where(HumanTask.case_id == registration.case_id,
                                                             HumanTask.state == "ready")).scalar_one()
            r.session.expunge(task)
            return task

    cases.complete_task(uow_for(app), ready().id, {"received_date": "2026-12-01", "intake_result": "incomplete"},
                        WINDOW)
    cases.complete_task(uow_for(app), ready().id, {"missing_items": ["application_form"],
                                                   "missing_items_detail": "申请书未盖章。",
                                                   "notice_date": "2026-12-01"}, WINDOW)
    task = ready()
    assert task.spec_name == "receive_supplement"
    return registration.case_id, task.id


@pytest.fixture
def setup(app, login_as):
    path = shipped_catalog().diagram_path("m07")
    deploy_bundle(uow_for(app), bundle_for(path), path.name, Actor.system("test"))
    case_id, task_id = _case_waiting_for_supplements(app)
    client = login_as("window1")
    assert client.post(f"/tasks/{task_id}/claim").status_code == 302
    return client, case_id, task_id


def _answers(**extra):
    return {"supplement_outcome": "submitted", "supplement_received_date": "2026-12-03",
            "supplement_channel": "post", **extra}


def test_files_are_stored_and_kept_across_a_refused_send(app, setup):
    client, case_id, task_id = setup
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    version = re.search(r'name="expected_version" type="hidden" value="(\d+)"', page).group(1)
    response = client.post(f"/tasks/{task_id}", content_type="multipart/form-data", data={
        **_answers(supplement_received_date="not a date"), "expected_version": version,
        "supplement_files": (io.BytesIO(PDF), "补正申请书.pdf")})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    [kept] = re.findall(r'name="supplement_files__kept" value="([0-9a-f]{32})"', page)
    assert "补正申请书.pdf" in page
    response = client.post(f"/tasks/{task_id}", data={
        **_answers(), "expected_version": version, "supplement_files__kept": kept})
    assert response.status_code == 302
    with uow_for(app, write=False) as r:
        s = r.session
        stored = s.get(StoredFile, kept)
        assert stored.case_id == case_id and stored.media_type == "application/pdf"
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "task.completed")
                          .order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
        assert event.payload["form"]["supplement_files"] == [{"file_id": kept, "sha256": stored.sha256}]
        [row] = s.execute(select(CaseMaterial).where(CaseMaterial.case_id == case_id)).scalars().all()
        assert (row.stage, row.channel, row.file_id, row.task_id) == ("supplement", "post", kept, task_id)


def test_hidden_fields_cannot_bring_in_other_files(app, setup):
    client, case_id, task_id = setup
    other_case, _ = _case_waiting_for_supplements(app)
    with uow_for(app) as unit:
        foreign = files.receive(unit, Upload(io.BytesIO(PDF), "别人的.pdf", "x"), actor="t", purpose="m",
                                case_id=other_case)
        unit.commit()
        foreign_id = foreign.id
    smuggled = "data:text/html;base64," + base64.b64encode(b"<script>alert(1)</script>").decode()
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    version = re.search(r'name="expected_version" type="hidden" value="(\d+)"', page).group(1)
    response = client.post(f"/tasks/{task_id}", data={
        **_answers(), "expected_version": version,
        "supplement_files__kept": [foreign_id, smuggled, "../../etc/passwd"]})
    assert response.status_code == 302
    with uow_for(app, write=False) as r:
        event = r.session.execute(select(AuditEvent).where(AuditEvent.action == "task.completed")
                                  .order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
        assert "supplement_files" not in event.payload["form"]
        assert r.session.get(StoredFile, foreign_id).case_id == other_case
    # The service refuses a forged reference outright, whatever the client.
    _, task2 = _case_waiting_for_supplements(app)
    from services.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        cases.complete_task(uow_for(app), task2, _answers(supplement_files=[
            {"file_id": foreign_id, "sha256": "0" * 64}]), WINDOW)
    assert "supplement_files" in refused.value.errors
