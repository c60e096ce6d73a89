"""The worklist: my unit's open tasks and mine, filters, sorting, paging; claim, release, reassign; access."""

from __future__ import annotations

import re

from sqlalchemy import select
from web_support import add_task

from app import uow_for
from storage.models import AuditEvent, HumanTask


def _titles(page: str) -> list[str]:
    return re.findall(r'<a href="/tasks/[0-9a-f]+">([^<]+)</a>', page)


def test_handler_sees_only_the_open_tasks_of_their_unit(app, login_as):
    add_task(app, lane="环评处", title="环评审查")
    add_task(app, lane="土壤处", title="危废审查")
    client = login_as("eia1")
    page = client.get("/").get_data(as_text=True)
    assert _titles(page) == ["环评审查"]
    assert "危废审查" not in page


def test_claim_moves_the_task_to_my_list_and_is_audited(app, login_as):
    task = add_task(app, title="环评审查")
    client = login_as("eia1")
    response = client.post(f"/tasks/{task.id}/claim")
    assert response.status_code == 302
    assert _titles(client.get("/").get_data(as_text=True)) == []
    mine = client.get("/?view=mine").get_data(as_text=True)
    assert _titles(mine) == ["环评审查"]
    # a colleague no longer sees it to claim, and cannot take it over
    client.post("/logout")
    colleague = login_as("eia2")
    assert _titles(colleague.get("/").get_data(as_text=True)) == []
    page = colleague.post(f"/tasks/{task.id}/claim", follow_redirects=True).get_data(as_text=True)
    assert "已被他人抢先认领" in page
    with uow_for(app, write=False) as r:
        actions = r.session.execute(
            select(AuditEvent.action).where(AuditEvent.case_id == task.case_id)
        ).scalars()
        assert "task.claimed" in list(actions)


def test_release_and_lead_reassigns_within_the_unit(app, login_as):
    task = add_task(app, claimed_by=app.user_ids["eia1"])
    client = login_as("eia_lead")
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "转办" in page and "环评处 赵丽" in page
    page = client.post(f"/tasks/{task.id}/reassign", data={"user_id": app.user_ids["eia2"]},
                       follow_redirects=True).get_data(as_text=True)
    assert "说明改派的理由" in page  # a reason is asked for: nothing changed without one
    with uow_for(app, write=False) as r:
        assert r.session.get(HumanTask, task.id).claimed_by == app.user_ids["eia1"]
    response = client.post(f"/tasks/{task.id}/reassign",
                           data={"user_id": app.user_ids["eia2"], "reason": "李强休假"})
    assert response.status_code == 302
    with uow_for(app, write=False) as r:
        assert r.session.get(HumanTask, task.id).claimed_by == app.user_ids["eia2"]
    # the new owner is told, in the bell, with the reason and a link to the task
    client.post("/logout")
    bell = login_as("eia2").get("/reminders/").get_data(as_text=True)
    assert "改派给您" in bell and "李强休假" in bell and f"/tasks/{task.id}" in bell
    client.post("/logout")
    client = login_as("eia_lead")
    # someone of another unit cannot be given the task
    page = client.post(
        f"/tasks/{task.id}/reassign", data={"user_id": app.user_ids["soil1"], "reason": "x"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "不属于环评处" in page
    # the lead sees the unit's claimed tasks and can release one
    assert _titles(client.get("/?view=unit").get_data(as_text=True)) == ["审查"]
    client.post(f"/tasks/{task.id}/release")
    with uow_for(app, write=False) as r:
        assert r.session.get(HumanTask, task.id).claimed_by is None
        actions = list(
            r.session.execute(
                select(AuditEvent.action).where(AuditEvent.case_id == task.case_id).order_by(AuditEvent.seq)
            ).scalars()
        )
    assert actions == ["task.reassigned", "task.released"]
    timeline = client.get(f"/cases/{task.case_id}").get_data(as_text=True)
    assert "由 环评处 李强 改派给 环评处 赵丽" in timeline and "理由：李强休假" in timeline


def test_a_handler_cannot_reassign(app, login_as):
    task = add_task(app, claimed_by=app.user_ids["eia1"])
    client = login_as("eia2")
    assert (
        client.post(f"/tasks/{task.id}/reassign", data={"user_id": app.user_ids["eia2"]}).status_code == 403
    )


def test_opening_another_units_task_is_forbidden(app, login_as):
    task = add_task(app, lane="土壤处")
    client = login_as("eia1")
    response = client.get(f"/tasks/{task.id}")
    assert response.status_code == 403
    assert "无权" in response.get_data(as_text=True)
    assert client.get(f"/cases/{task.case_id}").status_code == 403
    assert client.post(f"/tasks/{task.id}").status_code == 403
    assert client.get("/tasks/does-not-exist").status_code == 404


def test_filters_sorting_and_paging(app, login_as):
    app.config["WORKLIST_PAGE_SIZE"] = 2
    add_task(app, title="later", due_in_days=20)
    add_task(app, title="soon", due_in_days=2)
    add_task(app, title="overdue", due_in_days=-1)
    add_task(app, title="other matter", matter="m02", due_in_days=5)
    client = login_as("eia1")
    assert _titles(client.get("/").get_data(as_text=True)) == ["overdue", "soon"]
    assert _titles(client.get("/?page=2").get_data(as_text=True)) == ["other matter", "later"]
    assert _titles(client.get("/?sort=due_desc").get_data(as_text=True)) == ["later", "other matter"]
    assert _titles(client.get("/?due=soon").get_data(as_text=True)) == ["soon"]
    assert _titles(client.get("/?due=overdue").get_data(as_text=True)) == ["overdue"]
    assert _titles(client.get("/?matter=m02").get_data(as_text=True)) == ["other matter"]
    page = client.get("/").get_data(as_text=True)
    assert "第 1 页，共 2 页" in page and "已超期" in page
