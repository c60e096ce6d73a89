"""The web side of issue 12's domain corrections and form checks: a lead-only task, the one-time notice with the
case's matter's materials, the 公示 period checked by the calendar, the signing officer filled in, the case flags
and the admin page's statement of the run-once rule."""

from __future__ import annotations

import html
from datetime import date

from web_support import _password_hash, add_task, login

from app import uow_for
from storage.models import Case, HumanTask, User, UserRole


def _page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _add_user(app, username: str, display: str, unit: str | None, roles: tuple[str, ...]) -> None:
    with uow_for(app) as uow:
        uow.session.add(User(username=username, display_name=display, unit_code=unit,
                             password_hash=_password_hash(), roles=[UserRole(role=r) for r in roles]))
        uow.commit()


def _set(app, task: HumanTask, **values) -> None:
    with uow_for(app) as uow:
        row = uow.session.get(HumanTask, task.id)
        for key, value in values.items():
            setattr(row, key, value)
        uow.commit()


def _set_case(app, task: HumanTask, **values) -> None:
    with uow_for(app) as uow:
        case = uow.session.get(Case, task.case_id)
        for key, value in values.items():
            setattr(case, key, value)
        uow.commit()


def test_a_lead_only_task_is_listed_and_worked_by_the_lead_alone(app, client):
    _add_user(app, "window_lead", "审批办 刘主任", "approval_office", ("window", "handler", "lead"))
    task = add_task(app, lane="审批办", form="second_notice_approval.json", title="再次告知补正审批")
    _set(app, task, role="lead", spec_name="approve_second_notice")

    login(client, "window1")
    assert "再次告知补正审批" not in _page(client.get("/?view=open"))
    client.post(f"/tasks/{task.id}/claim")
    with uow_for(app, write=False) as r:
        assert r.session.get(HumanTask, task.id).claimed_by is None  # refused: not a lead
    page = _page(client.get(f"/tasks/{task.id}"))
    assert 'name="second_notice_reason"' not in page  # read-only for window staff
    answers = {"second_notice_reason": "补正材料过期", "second_notice_decision": "approve",
               "second_notice_approver": "窗口 王敏", "second_notice_approval_date": "2018-05-07",
               "expected_version": "3"}
    assert client.post(f"/tasks/{task.id}", data=answers).status_code == 403
    client.post("/logout")

    login(client, "window_lead")
    assert "再次告知补正审批" in _page(client.get("/?view=open"))
    assert client.post(f"/tasks/{task.id}/claim").status_code == 302
    page = _page(client.get(f"/tasks/{task.id}"))
    assert 'name="second_notice_reason"' in page
    assert 'value="审批办 刘主任"' in page  # the approver is whoever is signed in


def test_the_one_time_notice_offers_this_matters_materials(app, client):
    task = add_task(app, lane="审批办", form="supplement_notice.json", matter="m06", title="一次性告知补正",
                    claimed_by=app.user_ids["window1"])
    login(client, "window1")
    page = _page(client.get(f"/tasks/{task.id}"))
    assert "外国人护照" in page and "接待单位证明材料" in page and "其他（在补正说明中列明）" in page
    assert "环境影响报告书" not in page and "辐射安全与防护材料" not in page  # the old generic list is gone
    bad = {"missing_items": ["eia_document"], "missing_items_detail": "缺环评文件", "notice_date": "2018-05-02",
           "expected_version": "3"}
    assert client.post(f"/tasks/{task.id}", data=bad).status_code == 422


def test_a_short_public_notice_is_refused_with_the_working_days(app, client):
    task = add_task(app, lane="环评处", form="public_notice.json", matter="m01", title="发布受理公示",
                    claimed_by=app.user_ids["eia1"])
    _set(app, task, spec_name="publish_acceptance_public_notice")
    login(client, "eia1")
    short = {"notice_url": "http://hbt.jl.gov.cn/gs/1.html", "notice_start": "2018-05-03",
             "notice_end": "2018-05-15", "expected_version": "3"}
    response = client.post(f"/tasks/{task.id}", data=short)
    assert response.status_code == 422
    assert "期限不得少于 10 个工作日" in _page(response)
    response = client.post(f"/tasks/{task.id}", data={**short, "notice_url": "hbt.jl.gov.cn/gs/1.html"})
    assert "请填写以 http:// 或 https:// 开头的网址。" in _page(response)


def test_the_case_page_shows_deemed_acceptance_and_a_second_notice(app, client):
    task = add_task(app, lane="审批办", form="materials_check.json", title="材料审查")
    _set_case(app, task, materials_received_on=date(2018, 5, 7), acceptance_due_on=date(2018, 5, 14),
              deemed_accepted_on=date(2018, 5, 7), supplement_notices=2)
    login(client, "window1")
    page = _page(client.get(f"/cases/{task.case_id}"))
    assert "自 2018-05-07 起视为受理" in page
    assert "受理决定期限" in page and "2018-05-14" in page
    assert "已告知补正 2 次" in page


def test_the_admin_page_states_the_run_once_rule(app, client):
    _add_user(app, "admin1", "管理员", None, ("admin",))
    login(client, "admin1")
    page = _page(client.get("/admin/"))
    assert 'id="run-once-rule"' in page
    for words in ("已办结且已受理", "不计尚未发生的计划取件", "领取日期与申请日期为同一天", "二次告知补正", "20%"):
        assert words in page, words
