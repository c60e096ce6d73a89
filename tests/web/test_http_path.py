"""The HTTP path stays lean: the signed-in user is read once per request, whatever the page asks of it."""

from __future__ import annotations

from web_support import add_task, login

from web import auth


def test_the_signed_in_user_is_read_once_per_request(app, client, monkeypatch):
    task = add_task(app, lane="环评处", form=None)
    login(client, "eia1")
    loads: list[int] = []
    real = auth.load_web_user
    monkeypatch.setattr(auth, "load_web_user",
                        lambda user_id, *rest: loads.append(user_id) or real(user_id, *rest))
    for path in ("/", f"/tasks/{task.id}", f"/cases/{task.case_id}", "/reminders/", "/reminders/count.json"):
        loads.clear()
        assert client.get(path).status_code == 200, path
        assert loads == [app.user_ids["eia1"]], (path, loads)
