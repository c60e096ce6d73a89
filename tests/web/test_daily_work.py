"""The daily work of the staff: the case, task and worklist pages say the same thing about what the case waits
for and until when; a case is found however its reference is typed; visitors land on the public pages."""

from __future__ import annotations

from sqlalchemy import update
from web_support import add_task

from app import uow_for
from storage.models import Case


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_case_task_and_worklist_agree_on_what_the_case_waits_for(app, login_as):
    task = add_task(app, lane="环评处", title="技术审查")
    client = login_as("eia1")
    case_page = _text(client.get(f"/cases/{task.case_id}"))
    task_page = _text(client.get(f"/tasks/{task.id}"))
    for page in (case_page, task_page):
        assert 'id="next-step"' in page and "等待环评处办理：技术审查。" in page
    # A year without holiday data: every page says the limit cannot be computed (none says "not started").
    with uow_for(app) as uow:
        uow.session.execute(update(Case).where(Case.id == task.case_id)
                            .values(due_on=None, clock_flag="uncovered_year:2027"))
        uow.commit()
    expected = "无法计算：尚未录入 2027 年节假日安排"
    for path in ("/", f"/cases/{task.case_id}", f"/tasks/{task.id}"):
        page = _text(client.get(path))
        assert expected in page, path
        assert "尚未起算" not in page, path


def test_a_case_is_found_whatever_the_case_of_its_reference(app, login_as):
    task = add_task(app)
    with uow_for(app) as uow:
        uow.session.execute(update(Case).where(Case.id == task.case_id).values(reference="2026M01000042"))
        uow.commit()
    client = login_as("eia1")
    for typed in ("2026m01000042", " 2026M01 000042 ", "2026M01000042"):
        response = client.get("/cases/find", query_string={"reference": typed})
        assert response.headers["Location"].endswith(f"/cases/{task.case_id}"), typed
    assert client.get("/cases/find?reference=2026m01000043").headers["Location"] == "/"


def test_visitors_land_on_the_public_pages_and_staff_on_their_work(client, login_as):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/public/"
    assert "工作人员登录" in _text(client.get("/public/"))
    assert login_as("eia1").get("/").status_code == 200


def test_trips_are_shown_with_their_reasons_in_the_pages_language():
    """The rules give each reason in Chinese and as an English message id with the same values."""
    from services.trips import count_trips

    count = count_trips("window", "window", in_person_supplements=1)
    assert count.trips == 3 and len(count.reasons) == len(count.reason_ids)
    english = [msgid % values for msgid, values in count.reason_ids]
    assert "Missing materials brought to the window 1 times, 1 trip each" in english
    assert any("over the run-once limit of 1" in line for line in english)
    assert "补正材料由申请人到窗口递交 1 次，每次计 1 次跑动" in count.reasons
