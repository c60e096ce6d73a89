"""Issue 8, part 4, finding by finding: integers beyond the database's range, control characters, JSON depth,
size and lone surrogates, odd digits, database errors caused by input, and the page for anything unexpected.
Each answer is a 4xx with a Chinese message, never a 5xx (the whole-url_map walk is test_hostile_walk.py)."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select, text
from web_support import _password_hash, add_task, login, make_app, seed_people

from app import uow_for
from storage.models import Case, User, UserRole
from web.common import reader

HUGE = (2**31, 2**63 - 1, 2**63, 10**30)
CONTROL = "含有不允许的控制字符"


def _page(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def admin(app):
    with uow_for(app) as uow:
        uow.session.add(User(username="admin1", display_name="管理员", password_hash=_password_hash(),
                             roles=[UserRole(role="admin")]))
        uow.commit()
    return app


def test_ids_beyond_the_database_range_are_not_found(client, login_as):
    login_as("supervisor1")
    for n in HUGE:
        for path in (f"/cases/{n}", f"/cases/{n}/states.json", f"/cases/{n}/diagram.bpmn", f"/cases/{n}/receipt",
                     f"/designer/versions/{n}", f"/reminders/{n}/read"):
            method = client.post if path.endswith("/read") else client.get
            assert method(path).status_code == 404, path


def test_query_integers_beyond_the_database_range_are_harmless(client, login_as):
    login_as("supervisor1")
    for n in HUGE:
        assert client.get(f"/supervisor/audit?case={n}").status_code == 200
        assert client.get(f"/supervisor/audit?page={n}").status_code == 200
        assert client.get(f"/reminders/?page={n}").status_code == 200
    client.post("/logout")
    login_as("eia1")
    assert client.get(f"/?page={2**63}").status_code == 200


def test_control_characters_are_refused_with_a_message_also_before_sign_in(client, login_as):
    for response in (
        client.post("/login", data={"username": "eia1\x00", "password": "x"}),
        client.post("/public/track", data={"reference": "2018M01000001\x00", "lookup_code": "ABCD1234"}),
        client.get("/public/track?reference=%00"),
        client.post("/public/apply/m11", data={"applicant_name": "某公司\x07"}),
        client.get("/public/apply/m11%00"),
        client.post("/login", data={"username\x00": "eia1", "password": "x"}),
        client.get("/public/track?x=%C2%85"),  # a C1 control (NEL)
    ):
        assert response.status_code == 400, response.request.path
        assert CONTROL in _page(response)


def test_tabs_and_line_breaks_stay_allowed_in_text(app, client, login_as):
    task = add_task(app)
    login_as("eia1")
    response = client.post(f"/tasks/{task.id}/claim", data={"next": "/"})
    assert response.status_code == 302
    response = client.get("/cases/find?reference=a%09b%0D%0A")
    assert response.status_code == 302


def test_odd_digits_are_not_numbers(admin, client):
    login(client, "admin1")
    assert client.get("/admin/?year=²³¹").status_code == 200
    response = client.post("/admin/holidays", data={"year": "²⁰²⁷", "holidays": "2027-01-01", "source": "x"})
    assert response.status_code == 422 and "请填写 2000 至 2100 之间的年份" in _page(response)
    response = client.post("/admin/matters/m01", data={"promised_value": "¹⁵", "promised_unit": "working_days"})
    assert response.status_code == 422


def test_the_incident_corrections_are_json_within_limits(admin, client):
    login(client, "admin1")
    deep = "[" * 3000 + "]" * 3000
    response = client.post("/admin/incidents/1/retry", data={"corrections": deep})
    assert response.status_code == 422 and "嵌套层次过深" in _page(response)
    response = client.post("/admin/incidents/1/retry", data={"corrections": '{"parts": "\\ud800"}'})
    assert response.status_code == 422 and "代理项" in _page(response)
    response = client.post("/admin/incidents/1/retry", data={"corrections": '{"parts": 1e400}'})
    assert response.status_code == 422 and "超出范围的数字" in _page(response)


@pytest.fixture
def designer(app, client):
    login(client, "designer1")
    return client


CHECK = "/designer/new/check"


def _post_json(client, body: bytes):
    return client.post(CHECK, data=body, content_type="application/json")


def test_json_nested_thousands_deep_is_refused_in_chinese(designer):
    for body in (b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
        response = _post_json(designer, body)
        assert response.status_code == 400
        assert response.json["ok"] is False and "嵌套层次过深：最多 64 层" in response.json["message"]


def test_json_with_a_lone_surrogate_is_refused_in_chinese(designer):
    response = _post_json(designer, b'{"xml": "<x/>\\ud800", "base_version": 1}')
    assert response.status_code == 400 and "代理项" in response.json["message"]
    response = _post_json(designer, b'{"xml": "<x/>\\u0000"}')
    assert response.status_code == 400 and CONTROL in response.json["message"]


def test_json_size_and_numbers_are_bounded(app, designer):
    app.config["MAX_JSON_BYTES"] = 1000
    response = _post_json(designer, json.dumps({"xml": "x" * 2000}).encode())
    assert response.status_code == 400 and "过大" in response.json["message"]
    app.config["MAX_JSON_BYTES"] = 5 * 1024 * 1024
    for number in (b"NaN", b"1e400", b"9" * 30):
        response = _post_json(designer, b'{"xml": "<x/>", "base_version": ' + number + b"}")
        assert response.status_code == 400, number
    response = _post_json(designer, b'{"xml": "<x/>", "base_version": 2147483648}')
    assert response.status_code == 400 and "没有说明" in response.json["message"]


def test_json_sent_to_a_form_view_is_refused(client, login_as):
    for body in (b'"x"', b"[1, 2]", b"1e400", b'{"username": 1, "password": []}'):
        response = client.post("/login", data=body, content_type="application/json")
        assert response.status_code == 415 and "只接受表单提交" in response.json["message"]


def test_database_errors_caused_by_input_become_400_and_are_logged(db_url, caplog):
    app = make_app(db_url)
    seed_people(app)
    from datetime import datetime

    @app.get("/probe/naive-date")
    def naive_date():  # a value that cannot even be bound: a naive datetime for a UTC column
        with reader() as r:
            r.session.execute(select(Case.id).where(Case.created_at == datetime(2020, 1, 1))).all()
        return "unreachable"

    @app.get("/probe/out-of-range")
    def out_of_range():  # a value the server refuses (PostgreSQL: integer out of range)
        with reader() as r:
            r.session.execute(text("SELECT CAST(:v AS INTEGER)"), {"v": str(2**40)}).all()
        return "SQLite has no such limit"

    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="web.errors"):
        response = client.get("/probe/naive-date")
        assert response.status_code == 400 and "无法保存" in _page(response)
        response = client.get("/probe/out-of-range")
        if db_url.startswith("postgresql"):
            assert response.status_code == 400 and "无法保存" in _page(response)
    assert "database refused a value" in caplog.text
    app.extensions["runonce.engine"].dispose()


def test_an_unexpected_error_is_a_plain_chinese_page_without_traceback(db_url, caplog):
    app = make_app(db_url, PROPAGATE_EXCEPTIONS=False)

    @app.get("/probe/bug")
    def bug():
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/probe/bug")
    page = _page(response)
    assert response.status_code == 500 and "服务器内部错误" in page
    assert "Traceback" not in page and "secret internals" not in page and "RuntimeError" not in page
    assert "secret internals" in caplog.text  # logged for the administrator
    app.extensions["runonce.engine"].dispose()
