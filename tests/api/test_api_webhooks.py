"""Webhooks: a case event reaches a local receiver with a valid HMAC-SHA256 signature and timestamp; a receiver
that answers 500 gets the event again after the back-off (same delivery id); the delivery log shows it; an
administrator replays a delivery from the admin page."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from api_support import new_client, submission
from sqlalchemy import select
from web_support import _password_hash, login

from app import uow_for
from services import webhooks
from storage.models import User, UserRole, WebhookDelivery
from storage.types import utcnow


class Receiver:
    """A real HTTP server on loopback: answers each POST with the next status of ``statuses`` (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = outer.statuses.pop(0) if outer.statuses else 200
                outer.received.append((dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/runonce"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver([500])
    yield r
    r.close()


def _accept(client, headers, reference: str) -> None:
    tasks = client.get(f"/api/v1/window/cases/{reference}/tasks", headers=headers).get_json()["items"]
    done = client.post(f"/api/v1/window/tasks/{tasks[0]['id']}", headers=headers,
                       json={"data": {"received_date": "2026-11-30", "intake_result": "complete"}})
    accept = done.get_json()["open_tasks"][0]
    assert accept["name"] == "issue_acceptance"
    done = client.post(f"/api/v1/window/tasks/{accept['id']}", headers=headers,
                       json={"data": {"acceptance_date": "2026-12-01"}})
    assert done.status_code == 200, done.get_data(as_text=True)


def test_an_event_is_signed_retried_after_a_500_logged_and_replayed(app, client, receiver):
    headers = new_client(app, "platform")
    made = client.post("/api/v1/webhooks", headers=headers,
                       json={"url": receiver.url, "events": ["case.accepted", "case.notice_issued", "case.overdue"]})
    assert made.status_code == 201
    hook = made.get_json()
    secret = hook["secret"]
    assert client.get("/api/v1/webhooks", headers=headers).get_json()["items"][0].get("secret") is None

    reference = client.post("/api/v1/applications", data=submission(), headers=headers,
                            content_type="multipart/form-data").get_json()["reference"]
    _accept(client, headers, reference)

    uow = uow_for(app)
    assert webhooks.deliver_due(uow, allowed_hosts=["127.0.0.1"]) == (0, 1)  # the receiver answers 500
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=headers).get_json()["items"]
    assert [(d["event_type"], d["status"], d["attempts"], d["last_status_code"]) for d in log] == [
        ("case.accepted", "failed", 1, 500)]
    assert webhooks.deliver_due(uow, allowed_hosts=["127.0.0.1"]) == (0, 0)  # not yet: back-off
    later = utcnow() + webhooks.backoff(1) + timedelta(seconds=1)
    assert webhooks.deliver_due(uow, now=later, allowed_hosts=["127.0.0.1"]) == (1, 0)

    first, second = receiver.received
    assert first[1] == second[1] and first[0]["X-Runonce-Delivery"] == second[0]["X-Runonce-Delivery"]
    headers_sent, body, _status = second
    assert headers_sent["X-Runonce-Event"] == "case.accepted"
    assert webhooks.verify(secret, headers_sent["X-Runonce-Signature"], body)
    assert headers_sent["X-Runonce-Signature"].startswith(f"t={headers_sent['X-Runonce-Timestamp']},v1=")
    assert not webhooks.verify("whsec_wrong", headers_sent["X-Runonce-Signature"], body)
    assert not webhooks.verify(secret, headers_sent["X-Runonce-Signature"], body + b" ")
    event = json.loads(body)
    assert event["type"] == "case.accepted" and event["data"]["reference"] == reference
    assert event["data"]["accepted_on"]
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=headers).get_json()["items"]
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log] == [("delivered", 2, 200)]

    # the deadline scan's overdue notice is an event too (once per limit and due date)
    from datetime import datetime

    from services import reminders
    from storage.models import Case

    with uow_for(app, write=False) as r:
        due_on = r.session.execute(select(Case.due_on)).scalar_one()
    late = datetime.combine(due_on + timedelta(days=1), datetime.min.time()).astimezone()  # (2026: in the calendar)
    reminders.scan_deadlines(uow_for(app), late, reminders.ReminderPolicy())
    reminders.scan_deadlines(uow_for(app), late + timedelta(days=1), reminders.ReminderPolicy())
    with uow_for(app, write=False) as r:
        overdue = r.session.execute(select(WebhookDelivery).where(
            WebhookDelivery.event_type == "case.overdue")).scalars().all()
    assert len(overdue) == 1 and json.loads(overdue[0].payload)["data"]["reference"] == reference
    with uow_for(app) as unit:  # out of the way of the replay below
        unit.session.delete(unit.session.get(WebhookDelivery, overdue[0].id))
        unit.commit()

    # an administrator replays it from the admin page
    with uow_for(app) as unit:
        unit.session.add(User(username="admin", display_name="管理员", password_hash=_password_hash(),
                              roles=[UserRole(role="admin")]))
        unit.commit()
    with uow_for(app, write=False) as r:
        delivery_id = r.session.execute(select(WebhookDelivery.id)).scalar_one()
    staff = app.test_client()
    assert login(staff, "admin").status_code == 302
    page = staff.get("/admin/api/")
    assert page.status_code == 200 and "platform" in page.get_data(as_text=True)
    assert staff.post(f"/admin/api/deliveries/{delivery_id}/replay").status_code == 302
    assert webhooks.deliver_due(uow, allowed_hosts=["127.0.0.1"]) == (1, 0)
    assert len(receiver.received) == 3
    with uow_for(app, write=False) as r:
        assert r.session.execute(select(WebhookDelivery.status)).scalar_one() == "delivered"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the queueing SQL runs on both in the test above
def test_the_steps_of_a_case_queue_their_events_once(app, client):
    from services import cases as case_service
    from services.actors import Actor
    from storage.models import Case
    from workflows.scenarios import m07_steps

    headers = new_client(app, "platform")
    hook = client.post("/api/v1/webhooks", headers=headers,
                       json={"url": "http://127.0.0.1:9/none", "events": list(webhooks.EVENTS)}).get_json()
    reference = client.post("/api/v1/applications", data=submission(), headers=headers,
                            content_type="multipart/form-data").get_json()["reference"]
    steps = dict(m07_steps(mode="post"))
    lanes = {"审批办": "window", "核安全局": "handler", "厅领导": "lead"}
    while True:
        with uow_for(app, write=False) as r:
            case = r.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
            from storage.models import HumanTask

            task = r.session.execute(select(HumanTask).where(HumanTask.case_id == case.id,
                                                             HumanTask.state == "ready")).scalars().first()
            if task is None:
                break
            task_id, name, lane = task.id, task.spec_name, task.lane
        actor = Actor(username="staff", roles=frozenset({lanes.get(lane, "handler")}), lanes=frozenset({lane}))
        case_service.complete_task(uow_for(app), task_id, steps[name], actor)
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=headers).get_json()["items"]
    assert sorted(d["event_type"] for d in log) == ["case.accepted", "case.decided", "case.delivered"]
    assert {d["reference"] for d in log} == {reference}
