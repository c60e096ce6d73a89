"""The reminders blueprint: the list in the reader's language, mark as read, and the header's JSON count."""

from __future__ import annotations

import secrets

import pytest
from deadline_support import PASSWORD, at
from sqlalchemy import select

from app import create_app, uow_for
from services import reminders
from storage.models import Reminder


@pytest.fixture
def client(db_url, people):
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "SCHEDULER_ENABLED": False,
                      "WTF_CSRF_ENABLED": False, "LOGIN_FAILURE_DELAY": 0.0,
                      "SECRET_KEY": "test-" + secrets.token_hex(8)})
    if "reminders" not in app.blueprints:  # until web/__init__.py registers it
        from web import reminders as reminders_web

        reminders_web.init_app(app)
    reminders.check_rollout(uow_for(app), at(2018, 5, 1, 8))
    yield app.test_client()
    app.extensions["runonce.engine"].dispose()


def login(client, username: str) -> None:
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def test_list_mark_read_and_count(client, uow):
    assert client.get("/reminders/count.json").status_code == 401
    login(client, "eia1")
    assert client.get("/reminders/count.json").get_json() == {"unread": 1}
    page = client.get("/reminders/").get_data(as_text=True)
    assert "提醒" in page and "未按期" in page and "建设项目环境影响评价文件审批" in page

    with uow.reader() as r:
        mine = r.session.execute(select(Reminder).where(Reminder.key == "matter:m01:rollout:2018-04-30:eia")
                                 ).scalar_one()
        other = r.session.execute(select(Reminder).where(Reminder.key == "matter:m03:rollout:2018-04-30:soil")
                                  ).scalar_one()
    assert client.post(f"/reminders/{other.id}/read").status_code == 404  # addressed to 土壤处
    response = client.post(f"/reminders/{mine.id}/read", data={"next": "/reminders/?show=all"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/reminders/?show=all")
    assert client.get("/reminders/count.json").get_json() == {"unread": 0}
    assert "未按期" not in client.get("/reminders/").get_data(as_text=True)  # unread only by default
    assert "未按期" in client.get("/reminders/?show=all").get_data(as_text=True)


def test_english_readers_see_english(client):
    login(client, "regs1")
    client.post("/language", data={"lang": "en", "next": "/reminders/"})
    page = client.get("/reminders/").get_data(as_text=True)
    assert "Reminders" in page and "has no responsible unit in the plan" in page
    assert client.get("/reminders/count.json").get_json() == {"unread": 8}
    client.post("/reminders/read-all")
    assert client.get("/reminders/count.json").get_json() == {"unread": 0}
