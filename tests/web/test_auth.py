"""Signing in: redirects, the failure limit (slowed, then locked for a growing time), CSRF, headers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from web_support import PASSWORD, add_task, login, make_app, seed_people

from app import uow_for
from storage.models import AuditEvent, User


def test_anonymous_user_is_sent_to_sign_in(client):
    response = client.get("/?view=mine")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "请先登录" in page


def test_sign_in_and_out(client):
    response = login(client, "eia1")
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "环评处 李强" in page and "待认领" in page
    assert client.get("/logout").status_code == 405  # signing out is a POST (with CSRF in production)
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_next_only_within_the_site(client):
    response = client.post("/login?next=//evil.example/x", data={"username": "eia1", "password": PASSWORD})
    assert response.headers["Location"] == "/"
    client.post("/logout")
    response = client.post("/login?next=/cases/find", data={"username": "eia1", "password": PASSWORD})
    assert response.headers["Location"] == "/cases/find"


def test_wrong_passwords_slow_down_then_lock_the_account(app, client):
    app.config["LOGIN_FAILURE_DELAY"] = 0.05
    timings = []
    for _attempt in range(4):
        started = time.perf_counter()
        response = login(client, "eia1", "wrong-password")
        timings.append(time.perf_counter() - started)
        assert response.status_code == 401
        assert "用户名或密码错误" in response.get_data(as_text=True)
    # each failure answers more slowly than the one before (0.05 s × failures)
    assert timings[-1] >= 0.2 - 0.01
    assert "再错 1 次" in response.get_data(as_text=True)  # the page tells how many tries are left
    response = login(client, "eia1", "wrong")  # the 5th failure in a row locks the account
    assert response.status_code == 429 and "账户锁定至" in response.get_data(as_text=True)

    with uow_for(app, write=False) as r:
        user = r.session.execute(select(User).where(User.username == "eia1")).scalar_one()
        assert user.failed_logins == 5
        assert user.locked_until is not None
        first_lock = user.locked_until - datetime.now(UTC)
        assert timedelta(seconds=50) < first_lock <= timedelta(minutes=1)
        assert r.session.execute(select(AuditEvent).where(AuditEvent.action == "user.locked")).first()

    # even the right password is refused while locked, and the page says until when
    response = login(client, "eia1", PASSWORD)
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "账户已锁定至" in page and "分钟" in page

    # after the lock has run out, one more failure locks for longer (2 minutes)
    with uow_for(app) as uow:
        user = uow.session.execute(select(User).where(User.username == "eia1")).scalar_one()
        user.locked_until = datetime.now(UTC) - timedelta(seconds=1)
        uow.commit()
    assert login(client, "eia1", "wrong-again").status_code == 429
    with uow_for(app, write=False) as r:
        user = r.session.execute(select(User).where(User.username == "eia1")).scalar_one()
        assert user.locked_until - datetime.now(UTC) > timedelta(seconds=110)

    # once it runs out, the right password works and the count starts again
    with uow_for(app) as uow:
        user = uow.session.execute(select(User).where(User.username == "eia1")).scalar_one()
        user.locked_until = datetime.now(UTC) - timedelta(seconds=1)
        uow.commit()
    assert login(client, "eia1", PASSWORD).status_code == 302
    with uow_for(app, write=False) as r:
        user = r.session.execute(select(User).where(User.username == "eia1")).scalar_one()
        assert (user.failed_logins, user.locked_until) == (0, None)


def test_unknown_user_gets_the_same_answer(client):
    response = login(client, "nobody", "whatever")
    assert response.status_code == 401
    assert "用户名或密码错误。" in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(db_url):
    app = make_app(db_url, WTF_CSRF_ENABLED=True)
    ids = seed_people(app)
    task = add_task(app)
    client = app.test_client()
    # sign-in itself needs the token
    response = client.post("/login", data={"username": "eia1", "password": PASSWORD})
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)
    # with the token from the form it works
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/login", data={"username": "eia1", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    # a command without the token changes nothing
    response = client.post(f"/tasks/{task.id}/claim")
    assert response.status_code == 400
    with uow_for(app, write=False) as r:
        from storage.models import HumanTask

        assert r.session.get(HumanTask, task.id).claimed_by is None
    assert ids
    app.extensions["runonce.engine"].dispose()


def test_security_headers_and_cookie_flags(client):
    response = login(client, "eia1")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/")
    assert page.headers["X-Frame-Options"] == "DENY"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_secure_cookie_is_configurable(db_url):
    app = make_app(db_url, SESSION_COOKIE_SECURE=True)
    seed_people(app)
    response = login(app.test_client(), "eia1")
    assert "Secure" in response.headers["Set-Cookie"]
    app.extensions["runonce.engine"].dispose()
