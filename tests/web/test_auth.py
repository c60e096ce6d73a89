"""Signing in: redirects, the failure limit (slowed, then locked for a growing time), CSRF, headers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from web_support import PASSWORD, add_task, login, make_app, seed_people

from app import uow_for
from storage.models import AuditEvent, Throttle


def test_anonymous_user_is_sent_to_sign_in(client):
    response = client.get("/reminders/")
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
    assert client.get("/").headers["Location"] == "/public/"  # a visitor: the applicants' pages
    assert client.get("/reminders/").headers["Location"].startswith("/login")


def test_next_only_within_the_site(client):
    response = client.post("/login?next=//evil.example/x", data={"username": "eia1", "password": PASSWORD})
    assert response.headers["Location"] == "/"
    client.post("/logout")
    response = client.post("/login?next=/cases/find", data={"username": "eia1", "password": PASSWORD})
    assert response.headers["Location"] == "/cases/find"


def _lock(app, scope: str = "signin_pair", until: datetime | None = None) -> None:
    """Move the sign-in locks of a scope to `until` (default: just ran out)."""
    with uow_for(app) as uow:
        uow.session.execute(update(Throttle).where(Throttle.scope == scope)
                            .values(locked_until=until or datetime.now(UTC) - timedelta(seconds=1)))
        uow.commit()


def test_wrong_passwords_slow_down_then_pause_the_name_from_that_address(app, client):
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
    response = login(client, "eia1", "wrong")  # the 5th failure in a row pauses this name from this address
    assert response.status_code == 429 and "暂停从您所在网络以该用户名登录至" in response.get_data(as_text=True)

    with uow_for(app, write=False) as r:
        pair = r.session.execute(select(Throttle).where(Throttle.scope == "signin_pair")).scalar_one()
        assert pair.failures == 5
        first_lock = pair.locked_until - datetime.now(UTC)
        assert timedelta(seconds=50) < first_lock <= timedelta(minutes=1)
        assert "eia1" not in pair.subject  # only hashes are stored
        event = r.session.execute(select(AuditEvent).where(AuditEvent.action == "sign_in.locked")).scalar_one()
        assert event.payload["username"] == "eia1" and event.payload["after"]["scope"] == "account"

    # even the right password is refused from here while paused, and the page says until when
    response = login(client, "eia1", PASSWORD)
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "暂停从此处登录至" in page and "分钟" in page

    # after the pause has run out, one more failure pauses for longer (2 minutes)
    _lock(app)
    assert login(client, "eia1", "wrong-again").status_code == 429
    with uow_for(app, write=False) as r:
        pair = r.session.execute(select(Throttle).where(Throttle.scope == "signin_pair")).scalar_one()
        assert pair.locked_until - datetime.now(UTC) > timedelta(seconds=110)

    # once it runs out, the right password works and the counts start again
    _lock(app)
    assert login(client, "eia1", PASSWORD).status_code == 302
    with uow_for(app, write=False) as r:
        scopes = r.session.execute(select(Throttle.scope)).scalars().all()
    assert sorted(scopes) == ["signin_address"]  # the address keeps its count: a success does not reset it


def test_the_administrator_lifts_a_pause(app, client):
    for _attempt in range(5):
        login(client, "eia1", "wrong")
    assert login(client, "eia1", PASSWORD).status_code == 429
    result = app.test_cli_runner().invoke(args=["unlock-sign-in", "eia1"])
    assert result.exit_code == 0, result.output
    assert login(client, "eia1", PASSWORD).status_code == 302
    with uow_for(app, write=False) as r:
        assert r.session.execute(select(AuditEvent).where(AuditEvent.action == "sign_in.unlocked")).first()


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
