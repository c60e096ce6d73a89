"""Who may call what: every operation needs its scope (each checked with a token lacking it and one holding
only it), tokens are hashed, revoked and rotated, calls are audited with the client as the actor and counted
against the client's rate limit; every error under /api/ is problem+json with a Chinese title."""

from __future__ import annotations

import json
import re

import pytest
from api_support import new_client
from openapi_spec_validator import validate
from sqlalchemy import select

from app import uow_for
from services import api_clients
from services.actors import Actor
from storage.models import ApiClient, AuditEvent

PROBLEM = "application/problem+json"
HAN = re.compile(r"[\u4e00-\u9fff]")


def _operations(spec: dict) -> list[tuple[str, str, str | None]]:
    out = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                out.append((method.upper(), path, op.get("x-required-scope")))
    return out


def _concrete(path: str) -> str:
    return (path.replace("{reference}", "2026M07000001").replace("{document_id}", "1")
            .replace("{task_id}", "x").replace("{webhook_id}", "1").replace("{code}", "m07")
            .replace("{name}", "materials_check"))


def _assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.content_type == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["type"].startswith("https://") and HAN.search(body["title"])
    assert "detail" not in body or HAN.search(body["detail"]), body  # Chinese, whatever the library said
    for messages in body.get("errors", {}).values():
        assert all(HAN.search(m) for m in ([messages] if isinstance(messages, str) else messages)), body
    return body


@pytest.fixture
def app(db_url):
    """No matter deployed: nothing here registers a case (deploying runs the matter's scenario gate)."""
    from web_support import make_app

    app = make_app(db_url)
    yield app
    app.extensions["runonce.engine"].dispose()


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_openapi_document_is_valid_3_1_and_names_a_scope_for_every_operation(spec, client):
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # openapi-spec-validator, OpenAPI 3.1 rules
    operations = _operations(spec)
    assert len(operations) >= 15
    assert all(scope in api_clients.SCOPES for _m, _p, scope in operations)
    assert {scope for _m, _p, scope in operations} == set(api_clients.SCOPES)
    # the forms' JSON Schemas are components, not re-declared
    assert "form.materials_check" in spec["components"]["schemas"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "/api/v1/applications" in page.get_data(as_text=True)


def test_the_reference_page_titles_every_operation_in_the_pages_language(spec, client):
    """The integrators' reference (/api/v1/docs) names each operation in Chinese by default; the spec's English text
    stays on the page marked as English. A new operation without a title fails here."""
    from web.api.reference import OPERATION_TITLES, operations

    assert [op["operation_id"] for op in operations(spec) if not op["title"]] == []
    assert set(OPERATION_TITLES) == {op["operation_id"] for op in operations(spec)}  # no stale titles
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "网上提交申请" in page and 'lang="en"' in page
    client.post("/language", data={"lang": "en"})
    assert "Submit an application online" in client.get("/api/v1/docs").get_data(as_text=True)


def test_each_scope_is_enforced_on_each_path(app, client, spec):
    for method, path, scope in _operations(spec):
        others = [s for s in api_clients.SCOPES if s != scope]
        lacking = new_client(app, f"lacks-{method}-{path}"[:80], *others)
        response = client.open(_concrete(path), method=method, headers=lacking)
        body = _assert_problem(response, 403)
        assert scope in body["detail"], (method, path)
        holding = new_client(app, f"holds-{method}-{path}"[:80], scope)
        response = client.open(_concrete(path), method=method, headers=holding)
        assert response.status_code not in (401, 403), (method, path, response.get_data(as_text=True)[:300])


def test_tokens_are_stored_hashed_revoked_and_rotated(app, client):
    headers = new_client(app, "platform", "matters:read")
    token = headers["Authorization"].split()[1]
    with uow_for(app, write=False) as r:
        row = r.session.execute(select(ApiClient)).scalar_one()
        assert row.token_hash == api_clients.hash_token(token) and token not in (row.token_hash, row.token_hint)
    assert client.get("/api/v1/matters", headers=headers).status_code == 200
    issued = api_clients.rotate(uow_for(app), "platform", Actor.system("test"))
    _assert_problem(client.get("/api/v1/matters", headers=headers), 401)
    rotated = {"Authorization": f"Bearer {issued.token}"}
    assert client.get("/api/v1/matters", headers=rotated).status_code == 200
    api_clients.revoke(uow_for(app), "platform", Actor.system("test"))
    body = _assert_problem(client.get("/api/v1/matters", headers=rotated), 401)
    assert body["type"].endswith("/unauthenticated")
    _assert_problem(client.get("/api/v1/matters"), 401)
    _assert_problem(client.get("/api/v1/matters", headers={"Authorization": "Bearer ro_nope"}), 401)


def test_every_call_is_audited_with_the_client_as_actor_and_rate_limited(app, client):
    headers = new_client(app, "platform", "matters:read", rate=3)
    for _ in range(3):
        assert client.get("/api/v1/matters/m07", headers=headers).status_code == 200
    body = _assert_problem(client.get("/api/v1/matters/m07", headers=headers), 429)
    assert body["type"].endswith("/rate-limited")
    limited = client.get("/api/v1/matters/m07", headers=headers)
    assert int(limited.headers["Retry-After"]) >= 1
    other = new_client(app, "other", "matters:read", rate=3)  # counted per client
    assert client.get("/api/v1/matters", headers=other).status_code == 200
    with uow_for(app, write=False) as r:
        calls = r.session.execute(select(AuditEvent).where(AuditEvent.action == "api.call")).scalars().all()
    assert [e.actor for e in calls].count("api:platform") == 3  # refused calls are not served, not audited
    assert json.loads(calls[0].payload)["path"] == "/api/v1/matters/m07" if isinstance(calls[0].payload, str) \
        else calls[0].payload["path"] == "/api/v1/matters/m07"


def test_errors_are_problem_json(app, client):
    headers = new_client(app, "platform")
    _assert_problem(client.get("/api/v1/no-such-thing", headers=headers), 404)
    _assert_problem(client.get("/api/v1/matters/m99", headers=headers), 404)
    _assert_problem(client.get("/api/v1/cases/2026M07999999", headers=headers), 404)
    not_allowed = client.delete("/api/v1/matters", headers={**headers, "Accept-Language": "en"})
    assert _assert_problem(not_allowed, 405)["detail"] == "此地址不接受 DELETE 方法。"
    assert "GET" in not_allowed.headers["Allow"]
    refused = _assert_problem(client.get("/api/v1/cases?limit=abc", headers=headers), 422)
    assert refused["errors"] == {"query.limit": ["不是有效的整数。"]}
    missing = _assert_problem(client.post("/api/v1/webhooks", json={"events": []}, headers=headers), 422)
    assert missing["errors"]["json.url"] == ["此项为必填项。"] and "json.events" in missing["errors"]
    body = _assert_problem(client.post("/api/v1/webhooks", json={"url": "ftp://x", "events": ["nope"]},
                                       headers=headers), 422)
    assert set(body["errors"]) >= {"json.url", "json.events.0"}
    assert body["errors"]["json.events.0"][0].startswith("必须是以下之一：case.accepted")
    _assert_problem(client.post("/api/v1/webhooks", data="{", headers={**headers, "Content-Type": "application/json"}),
                    400)
    _assert_problem(client.get("/api/v1/matters?x=%00", headers=headers), 400)
    app.config["MAX_CONTENT_LENGTH"] = 1000
    _assert_problem(client.post("/api/v1/applications", data={"application": "x" * 5000}, headers=headers,
                                content_type="multipart/form-data"), 413)


def test_the_cli_creates_rotates_and_revokes(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-api-client", "--name", "yichuang", "--scope", "cases:read",
                                 "--scope", "matters:read"])
    assert result.exit_code == 0, result.output
    token = re.search(r"(ro_\S+)", result.output).group(1)
    client = app.test_client()
    assert client.get("/api/v1/matters", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    result = runner.invoke(args=["create-api-client", "--name", "bad", "--scope", "root"])
    assert result.exit_code != 0
    result = runner.invoke(args=["rotate-api-client", "yichuang"])
    new_token = re.search(r"(ro_\S+)", result.output).group(1)
    assert client.get("/api/v1/matters", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert runner.invoke(args=["revoke-api-client", "yichuang"]).exit_code == 0
    assert client.get("/api/v1/matters", headers={"Authorization": f"Bearer {new_token}"}).status_code == 401


def test_the_admin_page_lists_rotates_and_revokes_clients(app, client):
    from web_support import _password_hash, login

    from storage.models import User, UserRole

    with uow_for(app) as unit:
        for name, role in (("admin", "admin"), ("supervisor1", "supervisor")):
            unit.session.add(User(username=name, display_name=name, password_hash=_password_hash(),
                                  roles=[UserRole(role=role)]))
        unit.commit()
    headers = new_client(app, "platform", "matters:read")
    with uow_for(app, write=False) as r:
        client_id = r.session.execute(select(ApiClient.id)).scalar_one()
    reader_ = app.test_client()
    assert login(reader_, "supervisor1").status_code == 302
    assert "platform" in reader_.get("/admin/api/").get_data(as_text=True)
    assert reader_.post(f"/admin/api/clients/{client_id}/revoke").status_code == 403  # supervisors read only
    admin = app.test_client()
    assert login(admin, "admin").status_code == 302
    page = admin.post(f"/admin/api/clients/{client_id}/rotate").get_data(as_text=True)
    token = re.search(r'id="new-token">(ro_[^<]+)<', page).group(1)
    assert client.get("/api/v1/matters", headers=headers).status_code == 401
    assert client.get("/api/v1/matters", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert admin.post(f"/admin/api/clients/{client_id}/revoke").status_code == 302
    assert client.get("/api/v1/matters", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "已吊销" in admin.get("/admin/api/").get_data(as_text=True)
