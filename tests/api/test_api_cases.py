"""Submitting through the API: multipart materials streamed into the file store, Idempotency-Key (same body →
the same case, even for two identical requests at the same moment; another body → 409), the case as the
applicant sees it, the one-time notice answered with supplements, the window's decision made on the platform,
documents listed with sha256 and downloaded."""

from __future__ import annotations

import hashlib
import io
import threading

from api_support import APPLICATION, PDF, new_client, submission
from sqlalchemy import func, select

from app import uow_for
from storage.models import AuditEvent, Case, StoredFile

MULTIPART = "multipart/form-data"


def _submit(client, headers, key=None, **kwargs):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/applications", data=submission(**kwargs), headers={**headers, **extra},
                       content_type=MULTIPART)


def _case_count(app) -> int:
    with uow_for(app, write=False) as r:
        return r.session.execute(select(func.count()).select_from(Case)).scalar_one()


def _unattached(app, *, forgotten: bool = False) -> int:
    """Files in no case: still wanted (``forgotten=False``), or handed to the next sweep."""
    from services.files import FORGOTTEN

    with uow_for(app, write=False) as r:
        return r.session.execute(select(func.count()).select_from(StoredFile).where(
            StoredFile.case_id.is_(None),
            (StoredFile.created_at <= FORGOTTEN) if forgotten else (StoredFile.created_at > FORGOTTEN))).scalar_one()


def test_two_identical_requests_at_the_same_moment_make_one_case(app):
    headers = new_client(app, "platform", "applications:submit")
    start = threading.Barrier(2)
    answers = []

    def send():
        client = app.test_client()
        start.wait()
        answers.append(_submit(client, headers, key="same-key-1"))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(a.status_code for a in answers) == [200, 201], [a.get_data(as_text=True)[:300] for a in answers]
    assert len({a.get_json()["reference"] for a in answers}) == 1
    assert _case_count(app) == 1
    assert _unattached(app) == 0  # the losing twin's copies of the files were forgotten, not left behind
    replay = _submit(app.test_client(), headers, key="same-key-1")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    other_body = _submit(app.test_client(), headers, key="same-key-1", content=PDF + b"% changed\n")
    assert other_body.status_code == 409 and other_body.content_type == "application/problem+json"
    assert _unattached(app) == 0
    # the refused request's own bytes (no case names them) go with the next sweep, once no upload can be using them
    assert _unattached(app, forgotten=True) == 3  # its three parts carry the same changed bytes
    from datetime import timedelta

    from services import files
    from storage.types import utcnow

    assert files.sweep_unattached(uow_for(app), utcnow(), idle=timedelta(0)) == 3
    changed = hashlib.sha256(PDF + b"% changed\n").hexdigest()
    assert _unattached(app, forgotten=True) == 0 and not app.extensions["runonce.files"].exists(changed)
    assert _submit(app.test_client(), headers, key="same-key-2").status_code == 201  # a new key, a new case
    assert _case_count(app) == 2


def test_a_refused_submission_names_the_fields_and_frees_its_key(app, client):
    headers = new_client(app, "platform", "applications:submit")
    bad = client.post("/api/v1/applications", headers={**headers, "Idempotency-Key": "k"}, content_type=MULTIPART,
                      data={"application": '{"matter_code": "m07"}'})
    assert bad.status_code == 422 and "application.applicant" in bad.get_json()["errors"]
    no_files = client.post("/api/v1/applications", headers=headers, content_type=MULTIPART,
                           data={"application": submission()["application"]})
    assert no_files.status_code == 422 and "material:application_form" in no_files.get_json()["errors"]
    fake = client.post("/api/v1/applications", headers=headers, content_type=MULTIPART,
                       data={**submission(), "material:application_form": (io.BytesIO(b"MZ\x90\0"), "a.pdf")})
    assert fake.status_code == 422 and "material:application_form" in fake.get_json()["errors"]
    assert _case_count(app) == 0
    assert _submit(client, headers, key="k").status_code == 201  # the refused request did not keep the key


def test_case_status_notice_supplements_window_decision_and_documents(app, client):
    headers = new_client(app, "platform", "applications:submit", "cases:read", "documents:read", "window:act",
                         "webhooks:manage")
    hook = client.post("/api/v1/webhooks", headers=headers,
                       json={"url": "http://127.0.0.1:9/hook", "events": ["case.notice_issued"]}).get_json()
    made = _submit(client, headers, application={**APPLICATION, "delivery_mode": "online"})
    assert made.status_code == 201, made.get_data(as_text=True)
    body = made.get_json()
    reference = body["reference"]
    assert made.headers["Location"] == f"/api/v1/cases/{reference}"
    assert body["status"] == "active" and body["status_text"] == "办理中" and body["lookup_code"]
    assert {m["sha256"] for m in body["materials"]} == {hashlib.sha256(PDF).hexdigest()}
    with uow_for(app, write=False) as r:
        assert r.session.execute(select(func.count()).select_from(StoredFile).where(
            StoredFile.case_id.is_(None))).scalar_one() == 0  # the staged files belong to the case
        actors = {e.actor for e in r.session.execute(select(AuditEvent).where(
            AuditEvent.action == "case.registered")).scalars()}
    assert actors == {"api:platform"}

    # the platform's clerk decides at the window: materials incomplete → one-time notice
    tasks = client.get(f"/api/v1/window/cases/{reference}/tasks", headers=headers).get_json()["items"]
    assert [t["name"] for t in tasks] == ["check_materials"] and tasks[0]["form"] == "materials_check"
    refused = client.post(f"/api/v1/window/tasks/{tasks[0]['id']}", headers=headers,
                          json={"data": {"intake_result": "maybe"}})
    assert refused.status_code == 422 and "intake_result" in refused.get_json()["errors"]  # the form's schema
    done = client.post(f"/api/v1/window/tasks/{tasks[0]['id']}", headers=headers,
                       json={"data": {"received_date": "2026-11-30", "intake_result": "incomplete"}})
    assert done.status_code == 200, done.get_data(as_text=True)
    notify = done.get_json()["open_tasks"][0]
    assert notify["name"] == "notify_supplement"
    done = client.post(f"/api/v1/window/tasks/{notify['id']}", headers=headers, json={"data": {
        "missing_items": ["business_licence"], "missing_items_detail": "请补充营业执照。",
        "notice_date": "2026-12-01", "supplement_due_date": "2026-12-15"}})
    assert done.status_code == 200, done.get_data(as_text=True)
    case = client.get(f"/api/v1/cases/{reference}", headers=headers).get_json()
    assert case["waiting"]["kind"] == "applicant" and "补正" in case["waiting"]["text"] or case["notice"]
    assert [i["code"] for i in case["notice"]["items"]] == ["business_licence"]
    assert case["notice"]["due_date"] == "2026-12-15"
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=headers).get_json()["items"]
    assert [(d["event_type"], d["reference"]) for d in log] == [("case.notice_issued", reference)]

    answered = client.post(f"/api/v1/cases/{reference}/supplements", headers=headers, content_type=MULTIPART,
                           data={"material:business_licence": (io.BytesIO(PDF + b"%licence\n"), "执照.pdf"),
                                 "note": "已补充"})
    assert answered.status_code == 200, answered.get_data(as_text=True)
    case = answered.get_json()
    assert case["notice"] is None and any(h["kind"] == "supplement" for h in case["history"])
    assert case["trips"] == 0

    listing = client.get(f"/api/v1/cases/{reference}/documents", headers=headers).get_json()["items"]
    notice = next(d for d in listing if d["kind"] == "supplement_notice")
    pdf = client.get(notice["href"], headers=headers)
    assert pdf.status_code == 200 and pdf.content_type == "application/pdf"
    assert hashlib.sha256(pdf.data).hexdigest() == notice["sha256"]


def test_a_client_sees_only_its_own_cases(app, client):
    mine = new_client(app, "platform", "applications:submit", "cases:read", "documents:read")
    theirs = new_client(app, "other", "cases:read", "documents:read")
    reference = _submit(client, mine).get_json()["reference"]
    assert client.get(f"/api/v1/cases/{reference}", headers=mine).status_code == 200
    assert client.get(f"/api/v1/cases/{reference}", headers=theirs).status_code == 404
    assert client.get(f"/api/v1/cases/{reference}/documents", headers=theirs).status_code == 404
    assert client.get("/api/v1/cases", headers=theirs).get_json() == {"items": []}
    assert [c["reference"] for c in client.get("/api/v1/cases", headers=mine).get_json()["items"]] == [reference]


def test_the_window_registers_an_application_received_at_the_platform(app, client):
    headers = new_client(app, "window-platform", "window:act", "cases:read")
    body = {**APPLICATION, "materials": [{"item": "application_form", "paper_form": "original"}]}
    made = client.post("/api/v1/window/registrations", headers={**headers, "Idempotency-Key": "w1"}, json=body)
    assert made.status_code == 201, made.get_data(as_text=True)
    again = client.post("/api/v1/window/registrations", headers={**headers, "Idempotency-Key": "w1"}, json=body)
    assert again.status_code == 200 and again.get_json()["reference"] == made.get_json()["reference"]
    assert made.get_json()["channel"] == "window"
    wrong = client.post("/api/v1/window/registrations", headers=headers,
                        json={**body, "materials": [{"item": "nope", "paper_form": "original"}]})
    assert wrong.status_code == 422


def test_a_large_file_goes_first_into_an_upload_slot_of_its_own(app, client):
    import json

    from api_support import required_parts

    headers = new_client(app, "platform", "applications:submit", "cases:read")
    other = new_client(app, "other", "applications:submit")
    slot = client.post("/api/v1/uploads?matter=m07&item=project_description&name=项目说明.pdf", data=PDF * 3,
                       headers={**headers, "Content-Type": "application/octet-stream"})
    assert slot.status_code == 201, slot.get_data(as_text=True)
    stored = slot.get_json()
    assert stored["sha256"] == hashlib.sha256(PDF * 3).hexdigest() and stored["media_type"] == "application/pdf"
    parts = {k: v for k, v in required_parts().items() if k != "material:project_description"}
    application = {**APPLICATION, "uploads": [{"item": "project_description", "file_id": stored["file_id"]}]}
    data = {"application": json.dumps(application, ensure_ascii=False), **parts}
    stolen = client.post("/api/v1/applications", data=dict(data, **required_parts()), headers=other,
                         content_type=MULTIPART)
    assert stolen.status_code == 422 and "application.uploads.0" in stolen.get_json()["errors"]
    keyed = {**headers, "Idempotency-Key": "slot-1"}
    made = client.post("/api/v1/applications", data=data, headers=keyed, content_type=MULTIPART)
    assert made.status_code == 201, made.get_data(as_text=True)
    # the answer was lost: the retry names the same upload, which the case has taken meanwhile
    again = client.post("/api/v1/applications", headers=keyed, content_type=MULTIPART, data={
        "application": data["application"],
        **{k: v for k, v in required_parts().items() if k != "material:project_description"}})
    assert again.status_code == 200, again.get_data(as_text=True)
    assert again.get_json()["reference"] == made.get_json()["reference"]
    taken = client.post("/api/v1/applications", headers={**headers, "Idempotency-Key": "slot-2"},
                        content_type=MULTIPART, data={
                            "application": data["application"],
                            **{k: v for k, v in required_parts().items() if k != "material:project_description"}})
    assert taken.status_code == 422 and "application.uploads.0" in taken.get_json()["errors"]  # not for a new key
    assert {m["item_code"]: m["sha256"] for m in made.get_json()["materials"]}["project_description"] == \
        stored["sha256"]
    refused = client.post("/api/v1/uploads?matter=m07&item=project_description&name=x.pdf", data=b"MZ\x90\0",
                          headers={**headers, "Content-Type": "application/octet-stream"})
    assert refused.status_code == 422 and refused.content_type == "application/problem+json"
