"""The HTTP path stays lean: the signed-in user is read once per request, whatever the page asks of it."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from web_support import add_task, login


@pytest.fixture
def statements(app):
    seen: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    engine = app.extensions["runonce.engine"]
    event.listen(engine, "before_cursor_execute", capture)
    yield seen
    event.remove(engine, "before_cursor_execute", capture)


def test_the_signed_in_user_is_read_once_per_request(app, client, statements):
    task = add_task(app, lane="环评处", form=None)
    login(client, "eia1")
    for path in ("/", f"/tasks/{task.id}", f"/cases/{task.case_id}", "/reminders/"):
        statements.clear()
        assert client.get(path).status_code == 200, path
        users = [s for s in statements if s.startswith("SELECT users.")]
        assert len(users) == 1, (path, users)
