"""Resumable uploads: a large file sent in Content-Range chunks, each only at the offset the server holds (a
retried chunk is refused with 409 and the offset), resumed after a break from the offset the server reports; the
last chunk stores the file (checked like any upload) for the application to name; abandoned uploads are swept."""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import time

import pytest
from api_support import APPLICATION, PDF, new_client, required_parts
from sqlalchemy import select

from app import uow_for
from services import resumable_uploads, scheduler
from storage.models import ApiClient

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the bytes live in files, not rows
CONTENT = PDF[:-6] + b"% " + os.urandom(300_000).hex().encode() + b"\n%%EOF\n"  # ~600 KB, a PDF by its head
OCTETS = "application/octet-stream"


def _start(client, headers, length: int, name: str = "项目说明.pdf"):
    return client.post(f"/api/v1/uploads/resumable?matter=m07&item=project_description&name={name}&length={length}",
                       headers=headers)


def _put(client, headers, href: str, start: int, data: bytes, total: int | str = len(CONTENT)):
    return client.put(href, data=data, headers={**headers, "Content-Type": OCTETS,
                                                "Content-Range": f"bytes {start}-{start + len(data) - 1}/{total}"})


def test_a_file_in_chunks_survives_a_break_and_becomes_a_material(app, client):
    headers = new_client(app, "platform", "applications:submit", "cases:read")
    other = new_client(app, "other", "applications:submit")
    started = _start(client, headers, len(CONTENT))
    assert started.status_code == 201, started.get_data(as_text=True)
    upload = started.get_json()
    href = upload["href"]
    assert upload["offset"] == 0 and started.headers["Location"] == href and started.headers["Upload-Offset"] == "0"

    first = _put(client, headers, href, 0, CONTENT[:200_000])
    assert first.status_code == 200 and first.get_json()["offset"] == 200_000
    again = _put(client, headers, href, 0, CONTENT[:200_000])  # a retry of a chunk that did arrive
    assert again.status_code == 409 and again.headers["Upload-Offset"] == "200000"
    assert again.get_json()["type"].endswith("/offset-mismatch") and "200000" in again.get_json()["detail"]
    assert _put(client, headers, href, 200_000, b"x" * 10, total=5).status_code == 400  # not the announced length
    assert client.put(href, data=b"x", headers={**headers, "Content-Type": OCTETS}).status_code == 400  # no range

    # the connection breaks in the middle of the second chunk: what arrived is kept
    with uow_for(app, write=False) as r:
        owner = r.session.execute(select(ApiClient.id).where(ApiClient.name == "platform")).scalar_one()
    broken = resumable_uploads.write_chunk(uow_for(app), upload["upload_id"], f"api:{owner}", start_at=200_000,
                                           stop=400_000, total=len(CONTENT), actor="api:platform",
                                           stream=io.BytesIO(CONTENT[200_000:250_000]))
    assert broken.stored is None and broken.upload.offset == 250_000
    status = client.get(href, headers=headers)
    assert status.status_code == 200 and status.get_json()["offset"] == 250_000
    assert client.get(href, headers=other).status_code == 404  # another client's upload does not exist for it
    assert _put(client, other, href, 250_000, CONTENT[250_000:]).status_code == 404

    done = _put(client, headers, href, 250_000, CONTENT[250_000:])
    assert done.status_code == 201, done.get_data(as_text=True)
    stored = done.get_json()
    assert stored["sha256"] == hashlib.sha256(CONTENT).hexdigest() and stored["size"] == len(CONTENT)
    assert stored["media_type"] == "application/pdf" and stored["name"] == "项目说明.pdf"
    assert client.get(href, headers=headers).status_code == 404  # finished: the upload is gone, the file stays

    parts = {k: v for k, v in required_parts().items() if k != "material:project_description"}
    application = {**APPLICATION, "uploads": [{"item": "project_description", "file_id": stored["file_id"]}]}
    made = client.post("/api/v1/applications", data={"application": json.dumps(application, ensure_ascii=False),
                                                      **parts}, headers=headers, content_type="multipart/form-data")
    assert made.status_code == 201, made.get_data(as_text=True)
    assert {m["item_code"]: m["sha256"] for m in made.get_json()["materials"]}["project_description"] == \
        stored["sha256"]


def test_refusals_limits_abandoning_and_the_sweep(app, client, monkeypatch):
    headers = new_client(app, "platform", "applications:submit")
    too_large = _start(client, headers, 10**12)
    assert too_large.status_code == 422 and "body" in too_large.get_json()["errors"]

    fake = b"MZ\x90\x00" + b"\x00" * 1000
    href = _start(client, headers, len(fake)).get_json()["href"]
    refused = _put(client, headers, href, 0, fake, total=len(fake))
    assert refused.status_code == 422 and refused.content_type == "application/problem+json"
    assert client.get(href, headers=headers).status_code == 404  # a refused file is not kept

    started = _start(client, headers, 100).get_json()
    href = started["href"]
    assert _put(client, headers, href, 0, b"x" * 101, total=100).status_code == 400  # past the announced end
    part = app.extensions["runonce.files"].root / "partial" / f"{started['upload_id']}.part"
    with part.open("r+b") as held:  # another request is writing this upload right now
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = _put(client, headers, href, 0, b"%PDF-1.4\n", total=100)
    assert busy.status_code == 409 and busy.content_type == "application/problem+json"
    assert client.get(href, headers=headers).get_json()["offset"] == 0  # nothing was written
    assert client.delete(href, headers=headers).status_code == 204
    assert client.get(href, headers=headers).status_code == 404

    monkeypatch.setattr(resumable_uploads, "MAX_OPEN", 1)
    left = _start(client, headers, 100).get_json()
    assert _start(client, headers, 100).status_code == 409  # one open upload is this client's limit here
    _put(client, headers, left["href"], 0, b"%PDF-1.4\n", total=100)
    partial = app.extensions["runonce.files"].root / "partial"
    settings = scheduler.Housekeeping.from_config({})
    assert scheduler.housekeeping(uow_for(app), settings)["partial_uploads"] == 0  # still fresh
    old = time.time() - 25 * 3600
    for path in partial.iterdir():
        os.utime(path, (old, old))
    assert scheduler.housekeeping(uow_for(app), settings)["partial_uploads"] == 1
    assert list(partial.iterdir()) == []
