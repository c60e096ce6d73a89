"""Issue 8, part 5, finding by finding, on SQLite and PostgreSQL: sessions end server-side on sign-out and on a
password change; sign-in answers unknown and known names alike (message, status, time); failures are counted
by name and address in the database, shared by every process, so an attacker elsewhere cannot lock the real
user out; ``next`` only leads to this site; a lost race is a 409; a database without schema is named plainly."""

from __future__ import annotations

import logging
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update
from web_support import PASSWORD, add_task

from app import create_app, uow_for
from services import users
from services.actors import Actor
from storage.models import AuditEvent, HumanTask

ROOT = Path(__file__).resolve().parents[2]
FLASH = re.compile(r'<div class="flash flash-error" role="alert">([^<]*)</div>')


def _text(response) -> str:
    return response.get_data(as_text=True)


def _sign_in(client, username: str, password: str = PASSWORD, address: str = "127.0.0.1"):
    return client.post("/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


# ---------------------------------------------------------------- sessions end server-side


def test_a_session_cookie_captured_before_sign_out_does_not_work_after(app):
    client = app.test_client()
    assert _sign_in(client, "eia1").status_code == 302
    captured = client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", captured)
    assert thief.get("/").status_code == 200  # the copy works while the user is signed in
    assert client.post("/logout").status_code == 302
    response = thief.get("/reminders/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert _sign_in(client, "eia1").status_code == 302  # signing in again gives a new, working session
    assert client.get("/").status_code == 200 and thief.get("/reminders/").status_code == 302


def test_a_password_change_ends_every_other_session(app):
    here, there = app.test_client(), app.test_client()
    assert _sign_in(here, "eia1").status_code == 302 and _sign_in(there, "eia1").status_code == 302
    page = _text(here.get("/account/password"))
    assert "修改密码" in page and "其他电脑" in page
    response = here.post("/account/password", data={"current_password": "not-it", "new_password": "new-secret-99",
                                                    "confirm": "new-secret-99"})
    assert response.status_code == 422 and "当前密码不正确" in _text(response)
    response = here.post("/account/password", data={"current_password": PASSWORD, "new_password": "new-secret-99",
                                                    "confirm": "new-secret-99"})
    assert response.status_code == 302
    assert here.get("/").status_code == 200  # this session goes on
    assert there.get("/").status_code == 302  # every other one has ended
    assert _sign_in(there, "eia1", PASSWORD).status_code == 401
    assert _sign_in(there, "eia1", "new-secret-99").status_code == 302
    with uow_for(app, write=False) as r:
        event = r.session.execute(select(AuditEvent).where(AuditEvent.action == "user.password_changed")).scalar_one()
    assert event.actor == "eia1" and "new-secret-99" not in str(event.payload)


# ---------------------------------------------------------------- the same answer for every name


def test_unknown_and_known_user_names_get_the_same_answers(app):
    known, unknown = app.test_client(), app.test_client()
    answers = {"known": [], "unknown": []}
    for _attempt in range(7):
        for who, client, name, address in (("known", known, "eia1", "10.1.0.1"),
                                          ("unknown", unknown, "nobody-here", "10.1.0.2")):
            response = _sign_in(client, name, "wrong-password", address)
            # The "paused until HH:MM" time may fall in the next minute between the two sign-ins.
            messages = [re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "<time>", m) for m in FLASH.findall(_text(response))]
            answers[who].append((response.status_code, messages))
    assert answers["known"] == answers["unknown"]
    statuses = [status for status, _messages in answers["known"]]
    assert statuses == [401, 401, 401, 401, 429, 429, 429]


def test_unknown_and_known_user_names_take_the_same_time(app, monkeypatch):
    # Passwords hashed as in production (scrypt): without the dummy check an unknown name answers at once.
    monkeypatch.setattr(users, "PASSWORD_METHOD", "scrypt")
    users.create_user(uow_for(app), username="timed", password="a-real-secret-1", display_name="计时",
                      roles=("handler",), unit_code="eia", actor=Actor.system("test"))
    client = app.test_client()
    seconds: dict[str, list[float]] = {"known": [], "unknown": []}
    for n in range(5):
        for who, name in (("known", "timed"), ("unknown", f"nobody{n}")):
            started = time.perf_counter()
            response = _sign_in(client, name, "wrong-password", f"10.2.{n}.{len(who)}")
            seconds[who].append(time.perf_counter() - started)
            assert response.status_code == 401
    known, unknown = statistics.median(seconds["known"]), statistics.median(seconds["unknown"])
    assert 0.5 < unknown / known < 2.0, seconds


# ---------------------------------------------------------------- throttling by name and address


def test_failing_from_one_address_does_not_lock_the_real_user_out_from_another(app):
    attacker, user = app.test_client(), app.test_client()
    statuses = [_sign_in(attacker, "eia1", "guess", "10.6.6.6").status_code for _ in range(6)]
    assert statuses[-2:] == [429, 429]
    assert _sign_in(attacker, "eia1", PASSWORD, "10.6.6.6").status_code == 429  # paused there, even the right one
    assert _sign_in(user, "eia1", PASSWORD, "10.0.0.7").status_code == 302  # the real user, elsewhere


def test_an_address_failing_with_many_names_is_paused(app):
    client = app.test_client()
    statuses = [_sign_in(client, f"user{n}", "guess", "10.3.3.3").status_code for n in range(30)]
    assert statuses[:29] == [401] * 29 and statuses[29] == 429
    response = _sign_in(client, "eia1", PASSWORD, "10.3.3.3")
    assert response.status_code == 429 and "您所在网络登录失败次数过多" in _text(response)
    assert _sign_in(app.test_client(), "eia1", PASSWORD, "10.3.3.4").status_code == 302


def test_lookup_failures_counted_by_another_process_refuse_here_too(db_url, app):
    """Applicants' look-ups: the counts are in the database, so a second process sees the first one's."""
    settings = {"APPLICANT_LOOKUP_LIMIT": 3, "APPLICANT_LOOKUP_DELAY": 0.0}
    script = f"""
import secrets
from app import create_app
app = create_app({{"DATABASE_URL": {db_url!r}, "TESTING": True, "SCHEDULER_ENABLED": False,
                  "WTF_CSRF_ENABLED": False, "SECRET_KEY": secrets.token_hex(8), **{settings!r}}})
client = app.test_client()
for _ in range(3):
    r = client.post("/public/track", data={{"reference": "2099M11999999", "lookup_code": "BADCODE1"}},
                    environ_base={{"REMOTE_ADDR": "10.8.8.8"}})
    assert r.status_code == 404, r.status_code
"""
    env = {**os.environ, "SCHEDULER_ENABLED": "0"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    app.config.update(settings)
    response = app.test_client().post("/public/track", data={"reference": "2099M11999999", "lookup_code": "X1"},
                                      environ_base={"REMOTE_ADDR": "10.8.8.8"})
    assert response.status_code == 429 and "查询失败次数过多" in _text(response)
    response = app.test_client().post("/public/track", data={"reference": "2099M11999999", "lookup_code": "X1"},
                                      environ_base={"REMOTE_ADDR": "10.8.8.9"})
    assert response.status_code == 404


# ---------------------------------------------------------------- next: this site's paths only

HOSTILE_NEXT = ["//evil.example/x", "/\t/evil.example", "/\\evil.example", "/\\/evil.example", "\\\\evil.example",
                "https://evil.example/", "javascript:alert(1)", " /x", "/\n/evil.example", "/%09/x\x01",
                "///evil.example", "http:/evil.example"]


def test_next_is_followed_only_to_this_sites_paths(app, login_as):
    task = add_task(app)
    client = login_as("eia_lead")
    default = f"/tasks/{task.id}"
    for target in HOSTILE_NEXT:
        for command, data in (("reassign", {"user_id": str(app.user_ids["eia2"])}), ("release", {}),
                              ("claim", {})):
            response = client.post(f"/tasks/{task.id}/{command}", data={"next": target, **data})
            if response.status_code == 400:  # a control character: refused at the edge
                continue
            assert response.status_code == 302, (command, target, response.status_code)
            assert response.headers["Location"] == default, (command, target)
        response = client.post("/language", data={"lang": "zh_CN", "next": target})
        assert response.status_code == 400 or response.headers["Location"] == "/", target
        response = client.post("/reminders/read-all", data={"next": target})
        assert response.status_code == 400 or response.headers["Location"] == "/reminders/", target
    response = client.post(f"/tasks/{task.id}/claim", data={"next": "/?view=mine"})
    assert response.headers["Location"] == "/?view=mine"


def test_next_after_sign_in_only_to_this_sites_paths(app):
    for target in HOSTILE_NEXT:
        client = app.test_client()
        response = client.post("/login", query_string={"next": target},
                               data={"username": "eia1", "password": PASSWORD})
        assert response.status_code == 400 or response.headers["Location"] == "/", target


# ---------------------------------------------------------------- a lost race is a 409


def test_a_task_completed_meanwhile_is_a_409_and_what_was_typed_is_kept(app, login_as):
    task = add_task(app, form="decision.json", claimed_by=app.user_ids["eia1"])
    client = login_as("eia1")
    assert client.get(f"/tasks/{task.id}").status_code == 200
    with uow_for(app) as uow:  # someone else completes it (or the case is withdrawn) meanwhile
        uow.session.execute(update(HumanTask).where(HumanTask.id == task.id).values(state="completed"))
        uow.commit()
    response = client.post(f"/tasks/{task.id}", data={"signer": "张处长", "expected_version": "3"})
    assert response.status_code == 409
    page = _text(response)
    assert "该任务已办理完成或已取消" in page and "<dd>张处长</dd>" in page.split('id="kept-input"')[1]


def test_a_task_claimed_meanwhile_is_a_409(app, login_as):
    task = add_task(app)
    with uow_for(app) as uow:
        uow.session.execute(update(HumanTask).where(HumanTask.id == task.id)
                            .values(claimed_by=app.user_ids["eia2"]))
        uow.commit()
    client = login_as("eia1")
    response = client.post(f"/tasks/{task.id}/claim", data={"next": "/"})
    assert response.status_code == 409 and "该任务已被他人抢先认领" in _text(response)


def test_a_release_after_the_lead_reassigned_the_task_is_a_409(app, login_as):
    task = add_task(app, claimed_by=app.user_ids["eia1"])
    with uow_for(app) as uow:  # the lead gave it to a colleague after eia1 opened the page
        uow.session.execute(update(HumanTask).where(HumanTask.id == task.id)
                            .values(claimed_by=app.user_ids["eia2"]))
        uow.commit()
    client = login_as("eia1")
    response = client.post(f"/tasks/{task.id}/release", data={"next": "/"})
    assert response.status_code == 409 and "该任务已由他人认领" in _text(response)
    with uow_for(app, write=False) as r:
        assert r.session.get(HumanTask, task.id).claimed_by == app.user_ids["eia2"]
    client.post("/logout")
    other = login_as("soil1")  # someone of another unit: not a race, not allowed
    assert other.post(f"/tasks/{task.id}/release").status_code == 403


# ---------------------------------------------------------------- a database without the schema


@pytest.fixture
def empty_database(db_url, tmp_path):
    """A database of the same backend with no tables at all."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin_url = db_url.rsplit("/", 1)[0] + "/postgres"
    name = f"runonce_empty_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield db_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_without_the_schema_the_app_says_run_init_db_and_starts_no_scheduler(empty_database, caplog):
    with caplog.at_level(logging.WARNING):
        app = create_app({"DATABASE_URL": empty_database, "SCHEDULER_ENABLED": True, "TESTING": False,
                          "SECRET_KEY": "x" * 16})
    try:
        assert "runonce.scheduler" not in app.extensions
        assert "init-db" in caplog.text and "数据库尚未初始化" in caplog.text
        response = app.test_client().get("/login")
        assert response.status_code == 503 and "python app.py init-db" in _text(response)
        assert "Traceback" not in caplog.text
        from storage.migrate import upgrade

        upgrade(app.extensions["runonce.engine"])  # init-db while it runs: the pages work again
        assert app.test_client().get("/login").status_code == 200
    finally:
        scheduler = app.extensions.get("runonce.scheduler")
        if scheduler is not None:  # (only on the code before the fix)
            scheduler.shutdown()
        app.extensions["runonce.engine"].dispose()
