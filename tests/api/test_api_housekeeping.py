"""The scheduler's housekeeping for the integration API: Idempotency-Keys older than their keep are forgotten,
finished webhook deliveries leave the log after theirs (pending and failed ones stay), uploads no case took are
removed with their bytes unless another file still names them or they were just used again."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from api_support import LOCAL_RECEIVER, PDF, new_client
from sqlalchemy import select, update

from app import uow_for
from services import api_clients, idempotency, scheduler, webhooks
from services.actors import Actor
from storage.models import ApiIdempotency, StoredFile, WebhookDelivery
from storage.types import utcnow


@pytest.fixture
def app(db_url):
    """No matter deployed: nothing here registers a case (deploying runs the matter's scenario gate)."""
    from web_support import make_app

    app = make_app(db_url, WEBHOOK_ALLOWED_HOSTS=LOCAL_RECEIVER)
    yield app
    app.extensions["runonce.engine"].dispose()


def _age(app, model, days: float, **where) -> None:
    with uow_for(app) as unit:
        query = update(model).values(created_at=utcnow() - timedelta(days=days))
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        unit.session.execute(query)
        unit.commit()


def test_old_keys_and_finished_deliveries_are_purged(app):
    issued = api_clients.create(uow_for(app), "platform", list(api_clients.SCOPES), Actor.system("test"))
    for key in ("old", "new"):
        claim = idempotency.claim(uow_for(app), issued.client_id, key, "h" * 64)
        assert claim.claim_id is not None
    _age(app, ApiIdempotency, 8, key="old")
    sub, _secret = webhooks.subscribe(uow_for(app), issued.client_id, "http://127.0.0.1:9/in", ["case.accepted"],
                                      Actor.system("test"), allowed_hosts=["127.0.0.1"])
    with uow_for(app) as unit:
        for n, status in enumerate(("delivered", "dead", "failed", "pending", "delivered")):
            unit.session.add(WebhookDelivery(subscription_id=sub.id, event_key=f"k{n}", event_id=f"{n:032d}",
                                             event_type="case.accepted", payload="{}", status=status, attempts=1,
                                             next_attempt_at=utcnow() + timedelta(days=1)))
        unit.commit()
    for n in range(4):
        _age(app, WebhookDelivery, 91, event_key=f"k{n}")
    done = scheduler.housekeeping(uow_for(app), scheduler.Housekeeping.from_config({}))
    assert done == {"idempotency_keys": 1, "webhook_deliveries": 2, "unattached_files": 0, "partial_uploads": 0}
    with uow_for(app, write=False) as r:
        assert r.session.execute(select(ApiIdempotency.key)).scalars().all() == ["new"]
        assert sorted(r.session.execute(select(WebhookDelivery.event_key)).scalars()) == ["k2", "k3", "k4"]
    # a shorter keep from the settings
    shorter = scheduler.Housekeeping.from_config({"IDEMPOTENCY_KEEP_DAYS": "0", "WEBHOOK_DELIVERIES_KEEP_DAYS": ""})
    assert shorter.idempotency_keep == timedelta(0) and shorter.deliveries_keep == timedelta(days=90)
    assert scheduler.housekeeping(uow_for(app), shorter)["idempotency_keys"] == 1


def test_uploads_no_case_took_are_swept_with_their_bytes(app, client):
    headers = new_client(app, "platform", "applications:submit")

    def upload(content: bytes) -> dict:
        answer = client.post("/api/v1/uploads?matter=m07&item=project_description&name=说明.pdf", data=content,
                             headers={**headers, "Content-Type": "application/octet-stream"})
        assert answer.status_code == 201, answer.get_data(as_text=True)
        return answer.get_json()

    lonely, shared, fresh = upload(PDF + b"% lonely\n"), upload(PDF + b"% shared\n"), upload(PDF + b"% fresh\n")
    twin = upload(PDF + b"% shared\n")  # the same bytes as `shared`, still wanted
    busy = upload(PDF + b"% busy\n")  # an old row whose bytes were just written again (an upload in flight)
    store = app.extensions["runonce.files"]
    old = time.time() - 2 * 3600
    for stored in (lonely, shared, busy):
        _age(app, StoredFile, 2, id=stored["file_id"])
    for stored in (lonely, shared):
        os.utime(store.path(stored["sha256"]), (old, old))
    settings = scheduler.Housekeeping.from_config({})
    assert scheduler.housekeeping(uow_for(app), settings)["unattached_files"] == 2
    with uow_for(app, write=False) as r:
        left = set(r.session.execute(select(StoredFile.id)).scalars())
    assert left == {fresh["file_id"], twin["file_id"], busy["file_id"]}
    assert not store.exists(lonely["sha256"])  # no row names it any more
    assert store.exists(shared["sha256"]) and store.exists(fresh["sha256"])  # `twin` still names these bytes
    assert store.exists(busy["sha256"])  # its row waits: bytes are never left without a row to find them
    assert scheduler.housekeeping(uow_for(app), settings)["unattached_files"] == 0
    os.utime(store.path(busy["sha256"]), (old, old))
    assert scheduler.housekeeping(uow_for(app), settings)["unattached_files"] == 1
    assert not store.exists(busy["sha256"])


def test_the_scheduler_runs_housekeeping_hourly():
    jobs = {job.name: job for job in scheduler.default_jobs({})}
    assert jobs["housekeeping"].every_seconds == 3600.0
    calls = []
    job = scheduler.hourly(lambda uow: calls.append(uow))
    job("first", None)
    job("second", None)  # ticked again at once: nothing to do yet
    assert calls == ["first"]
