"""Fixtures for the API tests: an app (SQLite and PostgreSQL) with m07 deployed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

for folder in ("web", "browser"):  # web_support.make_app, browser_support.live_server
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / folder))

from api_support import LOCAL_RECEIVER, deploy  # noqa: E402
from web_support import make_app  # noqa: E402


@pytest.fixture
def app(db_url):
    app = make_app(db_url, WEBHOOK_ALLOWED_HOSTS=LOCAL_RECEIVER)
    deploy(app, "m07")
    yield app
    app.extensions["runonce.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()
