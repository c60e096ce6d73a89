"""The task page: the form built from the task's JSON Schema, server-side errors that keep what was typed,
a stale version shown as a conflict (form kept), the instructions, case summary and history beside it."""

from __future__ import annotations

import html

from web_support import add_task

from app import uow_for
from storage.models import Case

BAD = {
    "decision": "refuse",
    "refusal_reasons": "",
    "decision_opinion": "保留这段意见",
    "signer": "张" * 60,
    "decision_date": "2018-13-45",
}


def _page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_the_form_opens_once_claimed_with_instructions_and_history(app, login_as):
    task = add_task(app, form="decision.json")
    client = login_as("eia1")
    page = _page(client.get(f"/tasks/{task.id}"))
    assert "请先认领该任务" in page and 'name="signer"' not in page
    assert "请审查材料。" in page  # the element's documentation from the stored diagram
    assert "吉林某化工有限公司" in page
    client.post(f"/tasks/{task.id}/claim")
    page = _page(client.get(f"/tasks/{task.id}"))
    assert 'name="signer"' in page and 'type="date"' in page and 'type="radio"' in page
    assert "准予（批准、许可、确认）" in page  # oneOf titles become the choices
    assert "认领任务" in page  # the history shows the claim
    assert 'name="expected_version" type="hidden" value="3"' in page


def test_bad_values_show_every_error_and_keep_what_was_typed(app, login_as):
    task = add_task(app, form="decision.json", claimed_by=app.user_ids["eia1"])
    client = login_as("eia1")
    response = client.post(f"/tasks/{task.id}", data={**BAD, "expected_version": "3"})
    assert response.status_code == 422
    page = _page(response)
    assert "表单有误，请修改标出的内容。" in page
    assert "内容过长：最多 50 个字符。" in page  # signer
    assert "请按“年-月-日”格式填写日期" in page  # decision_date
    assert page.count("此项为必填项。") == 1  # refusal_reasons: required when refusing (the schema's if/then)
    # what was typed is still there
    assert 'value="2018-13-45"' in page
    assert "张" * 60 in page
    assert "保留这段意见" in page
    assert (
        'value="refuse" checked' in page
        or 'checked type="radio" value="refuse"' in page
        or ('value="refuse"' in page and "checked" in page)
    )
    with uow_for(app, write=False) as r:
        assert r.session.get(Case, task.case_id).version == 3  # nothing was written


def test_english_errors(app, login_as):
    task = add_task(app, form="decision.json", claimed_by=app.user_ids["eia1"])
    client = login_as("eia1")
    client.post("/language", data={"lang": "en"})
    page = _page(client.post(f"/tasks/{task.id}", data={**BAD, "expected_version": "3"}))
    assert "Too long: at most 50 characters." in page and "This field is required." in page


def test_a_stale_version_is_a_conflict_that_keeps_the_form(app, login_as):
    task = add_task(app, form="decision.json", claimed_by=app.user_ids["eia1"])
    client = login_as("eia1")
    good = {
        "decision": "approve",
        "signer": "张副厅长",
        "decision_date": "2018-03-14",
        "decision_opinion": "同意",
        "expected_version": "2",
    }  # someone saved version 3 since this page was opened
    response = client.post(f"/tasks/{task.id}", data=good)
    assert response.status_code == 409
    page = _page(response)
    assert "该案件已被他人修改，本次提交未保存。" in page
    assert "您填写的内容已保留" in page
    assert 'value="张副厅长"' in page and 'value="2018-03-14"' in page
    # the hidden version now is the current one: sending again is a deliberate choice
    assert 'name="expected_version" type="hidden" value="3"' in page


def test_supervisor_reads_but_cannot_submit(app, login_as):
    task = add_task(app, form="decision.json", claimed_by=app.user_ids["eia1"])
    client = login_as("supervisor1")
    page = _page(client.get(f"/tasks/{task.id}"))
    assert "您可以查看该任务，但不能办理。" in page
    assert client.post(f"/tasks/{task.id}", data={"decision": "approve"}).status_code == 403
