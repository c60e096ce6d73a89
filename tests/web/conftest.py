"""Fixtures for the web tests (helpers in web_support.py): an app on each database backend with users."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from web_support import login, make_app, seed_people


@pytest.fixture
def app(db_url) -> Flask:
    app = make_app(db_url)
    app.user_ids = seed_people(app)  # type: ignore[attr-defined]
    yield app
    app.extensions["runonce.engine"].dispose()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def login_as(client) -> Callable[[str], FlaskClient]:
    def do(username: str) -> FlaskClient:
        response = login(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return do
