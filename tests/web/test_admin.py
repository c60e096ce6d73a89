"""The administration page (holiday notices, uncomputable time limits, incidents, matter settings) and the case
page's two commands for leadership and the window (延长办理期限, 撤回申请), through the Flask test client on
SQLite and PostgreSQL.  Cases run a small diagram deployed under matter 3's process id (20 working days,
extendable by 10: 行政许可法 Art.42), with "today" frozen."""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from gate_support import deploy_ungated
from sqlalchemy import select, update
from web_support import _password_hash, add_task, login, make_app, seed_people

from app import uow_for
from services import cases, clock
from services.actors import Actor
from storage.models import AuditEvent, Case, HolidayNotice, HumanTask, MatterSetting, User, UserRole

BJ = ZoneInfo("Asia/Shanghai")
SYSTEM = Actor.system("test")
M03 = "m03_hazardous_waste_storage"
EXTRA_USERS = [
    ("admin1", "管理员 周静", None, ("admin",)),
    ("leader1", "厅领导 张副厅长", "leadership", ("handler", "lead")),
    ("soil_lead", "土壤处 刘处长", "soil", ("handler", "lead")),
]

# start → accepted = True → 审查 (土壤处 lane) → end
DIAGRAM = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_admin" targetNamespace="x">
  <bpmn:process id="{M03}" name="test" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_soil" name="土壤处">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>accept</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>review</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="accept" scriptFormat="python"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>accepted = True</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="review" name="审查"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="accept"/>
    <bpmn:sequenceFlow id="f2" sourceRef="accept" targetRef="review"/>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ)


def add_users(app) -> None:
    with uow_for(app) as uow:
        for username, display, unit, roles in EXTRA_USERS:
            uow.session.add(User(username=username, display_name=display, unit_code=unit,
                                 password_hash=_password_hash(), roles=[UserRole(role=r) for r in roles]))
        uow.commit()


@pytest.fixture
def app(db_url):
    app = make_app(db_url)
    seed_people(app)
    add_users(app)
    deploy_ungated(uow_for(app), {f"{M03}.bpmn": DIAGRAM}, f"{M03}.bpmn", SYSTEM)  # a toy m03: no gate
    yield app
    app.extensions["runonce.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def frozen():
    with clock.frozen(at(2018, 2, 9, 9)) as fake:
        yield fake


def sign_in(client, username: str):
    response = login(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def register(app) -> int:
    return cases.register_case(uow_for(app), matter_code="m03", applicant=cases.Applicant(name="吉林某化工有限公司"),
                               channel="window", delivery_mode="post", actor=SYSTEM).case_id


def case_row(app, case_id: int) -> Case:
    with uow_for(app).reader() as r:
        return r.session.get(Case, case_id)


def text(response) -> str:
    return response.get_data(as_text=True).replace("\r\n", "\n")  # a <textarea> starts with CR LF


def section(page: str, anchor: str) -> str:
    """The HTML of one <section id=...> of the admin page."""
    start = page.index(f'<section class="card" id="{anchor}">')
    return page[start:page.index("</section>", start)]


# ---------------------------------------------------------------- holiday notices


def test_a_2027_notice_entered_by_the_admin_computes_the_flagged_case(app, client, frozen):
    frozen.set(at(2026, 12, 10, 9))  # 20 working days from here end in 2027, which no data covers
    case_id = register(app)
    case = case_row(app, case_id)
    assert (case.due_on, case.clock_flag) == (None, "uncovered_year:2027")

    sign_in(client, "admin1")
    page = text(client.get("/admin/"))
    flagged = section(page, "flagged")
    assert case.reference in flagged and f'href="/cases/{case_id}"' in flagged
    assert "2027 年的节假日安排尚未录入，无法计算该期限。" in flagged
    assert "2027 年：1 件在办案件等待录入该年安排。" in section(page, "holiday-notices")
    assert "2004–2026" in page  # the library's years
    case_page = text(client.get(f"/cases/{case_id}"))
    assert 'id="clock-flag"' in case_page and "/admin/?year=2027#holiday-form" in case_page
    assert 'value="2027"' in text(client.get("/admin/?year=2027"))  # "enter it" prefills the year

    response = client.post("/admin/holidays", data={
        "year": "2027", "holidays": "2027-01-01", "workdays": "", "source": "测试用通知（非真实数据）"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/#holiday-notices")
    case = case_row(app, case_id)
    assert (case.due_on, case.clock_flag) == (date(2027, 1, 8), None)  # 15 working days in December, 4–8 January
    page = text(client.get("/admin/"))
    assert "2027 年节假日安排已保存，已重新计算 1 件案件的期限。" in page
    assert case.reference not in section(page, "flagged") and "所有在办案件的期限均已计算。" in page
    assert re.search(r'data-year="2027">.*?管理员录入.*?测试用通知', section(page, "holiday-notices"), re.S)
    assert "2027-01-08" in text(client.get(f"/cases/{case_id}"))
    with uow_for(app).reader() as r:
        saved = r.session.execute(select(AuditEvent).where(AuditEvent.action == "holiday_notice.saved")).scalar_one()
    assert saved.actor == "admin1" and saved.payload["after"]["year"] == 2027

    # "Correct" loads the saved notice back into the form.
    form = text(client.get("/admin/?year=2027"))
    assert ">\n2027-01-01</textarea>" in form and 'value="测试用通知（非真实数据）"' in form


def test_bad_dates_give_field_messages_and_keep_what_was_typed(app, client):
    sign_in(client, "admin1")
    typed = {"year": "2027", "holidays": "2027-01-01\n2027-13-01\n2027-02-05 ~ 2027-02-03",
             "workdays": "2027-01-04", "source": ""}
    response = client.post("/admin/holidays", data=typed)
    page = text(response)
    assert response.status_code == 422
    assert "节假日安排未保存，请修改标出的内容。" in page
    assert "无法识别的日期：2027-13-01、2027-02-05~2027-02-03" in page
    assert "不是周六或周日（周一至周五本来就是工作日）：2027-01-04。" in page
    assert "此项为必填项。" in page  # the source
    assert ">\n2027-01-01\n2027-13-01\n2027-02-05 ~ 2027-02-03</textarea>" in page
    assert ">\n2027-01-04</textarea>" in page and 'name="year" type="text" value="2027"' in page

    response = client.post("/admin/holidays", data={"year": "27", "holidays": "2025-06-01",
                                                     "workdays": "2027-02-06", "source": "通知"})
    page = text(response)
    assert response.status_code == 422 and "请填写 2000 至 2100 之间的年份。" in page
    response = client.post("/admin/holidays", data={"year": "2027", "holidays": "2025-06-01 2027-02-06",
                                                     "workdays": "2027-02-06", "source": "通知"})
    assert "不在 2027 年及上一年 12 月之内：2025-06-01。" in text(response)
    response = client.post("/admin/holidays", data={"year": "2027", "holidays": "2027-02-06",
                                                     "workdays": "2027-02-06", "source": "通知"})
    assert "同时被列为放假日和上班日：2027-02-06。" in text(response)
    with uow_for(app).reader() as r:
        assert r.session.execute(select(HolidayNotice)).first() is None


def test_only_admins_change_settings_supervisors_read(app, client):
    sign_in(client, "supervisor1")
    page = text(client.get("/admin/"))
    assert 'id="read-only"' in page and 'id="holiday-form"' not in page and "/admin/matters/" not in page
    assert '<a href="/admin/">系统管理</a>' in page  # the nav link
    data = {"year": "2027", "holidays": "2027-01-01", "workdays": "", "source": "x"}
    assert client.post("/admin/holidays", data=data).status_code == 403
    assert client.post("/admin/matters/m03", data={"promised_value": "15",
                                                   "promised_unit": "working_days"}).status_code == 403
    client.post("/logout")
    sign_in(client, "eia_lead")
    assert client.get("/admin/").status_code == 403
    assert client.post("/admin/holidays", data=data).status_code == 403
    assert '<a href="/admin/">' not in text(client.get("/"))
    with uow_for(app).reader() as r:
        assert r.session.execute(select(HolidayNotice)).first() is None
        assert r.session.execute(select(MatterSetting)).first() is None


def test_incidents_are_listed_with_their_message(app, client):
    task = add_task(app)
    with uow_for(app) as uow:
        uow.session.execute(update(Case).where(Case.id == task.case_id)
                            .values(status="incident", incident="decide: NameError: name 'x' is not defined"))
        uow.commit()
    reference = case_row(app, task.case_id).reference
    sign_in(client, "admin1")
    incidents = section(text(client.get("/admin/")), "incidents")
    assert f'<a href="/cases/{task.case_id}">{reference}</a>' in incidents
    assert "NameError: name &#39;x&#39; is not defined" in incidents


# ---------------------------------------------------------------- matter settings


def test_the_promised_limit_applies_to_cases_accepted_afterwards(app, client, frozen):
    before = register(app)
    sign_in(client, "admin1")
    page = section(text(client.get("/admin/")), "matters")
    assert "11.</span> 对建设项目环境影响后评价报告的备案" in page
    assert "实施方案未明确责任单位" in page and "2018年7月底前" in page
    assert "20 个工作日（经本部门负责人批准可延长 10 个工作日）" in page  # m03's statutory limit, read-only

    response = client.post("/admin/matters/m03", data={"promised_value": "25", "promised_unit": "working_days"})
    assert response.status_code == 422
    assert "承诺时限不能长于法定时限（20 个工作日" in text(response)
    assert 'value="25"' in text(response)

    response = client.post("/admin/matters/m03", data={"promised_value": "15", "promised_unit": "working_days"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#matter-m03")
    after = register(app)
    assert case_row(app, after).promised_due_on == date(2018, 3, 7)  # 15 working days (Spring Festival off)
    assert case_row(app, after).due_on == date(2018, 3, 14)
    assert case_row(app, before).promised_due_on == date(2018, 3, 14)  # the promise already made stands
    page = text(client.get("/admin/"))
    assert "事项 3 的设置已保存。" in page and "已设置：15 个工作日" in page

    # Emptied: the catalog's limit again.
    assert client.post("/admin/matters/m03", data={"promised_value": "",
                                                   "promised_unit": "working_days"}).status_code == 302
    with uow_for(app).reader() as r:
        assert r.session.get(MatterSetting, "m03").promised_value is None


def test_matter_11_gets_a_responsible_unit(app, client):
    sign_in(client, "admin1")
    response = client.post("/admin/matters/m11", data={"promised_value": "", "promised_unit": "working_days",
                                                       "owner_unit_code": "nowhere"})
    assert response.status_code == 422 and 'value="nowhere" selected' not in text(response)
    assert client.post("/admin/matters/m11", data={"promised_value": "3", "promised_unit": "working_days",
                                                   "owner_unit_code": "eia"}).status_code == 302
    with uow_for(app).reader() as r:
        assert clock.responsible_unit(r.session, "m11") == "eia"
        assert r.session.get(MatterSetting, "m11").promised_value == 3
    row = text(client.get("/admin/")).split('id="matter-m11"')[1].split("</tr>")[0]
    assert "已指定：环评处" in row and '<option value="eia" selected>' in row
    # Saving another matter's promised limit leaves its unit alone.
    assert client.post("/admin/matters/m03", data={"promised_value": "18",
                                                   "promised_unit": "working_days"}).status_code == 302
    with uow_for(app).reader() as r:
        assert r.session.get(MatterSetting, "m03").owner_unit_code is None


# ---------------------------------------------------------------- the case page: extension and withdrawal


def test_leadership_extends_the_time_limit_a_handler_cannot(app, client, frozen):
    case_id = register(app)
    assert case_row(app, case_id).due_on == date(2018, 3, 14)
    form = {"extend-working_days": "10", "extend-reason": "现场核查需要补充检测"}

    sign_in(client, "soil1")  # a handler of the unit: sees the case, no form, refused
    assert 'id="extend"' not in text(client.get(f"/cases/{case_id}"))
    assert client.post(f"/cases/{case_id}/extend", data=form).status_code == 403
    client.post("/logout")
    sign_in(client, "eia_lead")  # a lead of another unit does not see the case at all
    assert client.post(f"/cases/{case_id}/extend", data=form).status_code == 403
    client.post("/logout")
    sign_in(client, "soil_lead")  # the unit's lead, but not of 厅领导: the service refuses, what was typed is kept
    response = client.post(f"/cases/{case_id}/extend", data=form)
    assert response.status_code == 403
    assert "只有厅领导可以延长办理期限。" in text(response)
    client.post("/logout")

    sign_in(client, "leader1")
    page = text(client.get(f"/cases/{case_id}"))
    assert "延长办理期限" in page and re.search(r'name="extend-working_days"[^>]*type="number" value="10"', page)
    response = client.post(f"/cases/{case_id}/extend", data={"extend-working_days": "10", "extend-reason": " "})
    assert response.status_code == 422 and "此项为必填项。" in text(response)
    response = client.post(f"/cases/{case_id}/extend", data=form)
    assert response.status_code == 302
    assert case_row(app, case_id).due_on == date(2018, 3, 28)
    page = text(client.get(f"/cases/{case_id}"))
    assert "办理期限已延长 10 个工作日，现办结期限为 2018-03-28。" in page
    timeline = page.split('id="timeline"')[1]
    assert "延长办理期限" in timeline and "现场核查需要补充检测" in timeline and "2018-03-14 → 2018-03-28" in timeline
    assert 'id="extend"' not in page  # the 10 working days of Art.42 are used up
    response = client.post(f"/cases/{case_id}/extend", data={"extend-working_days": "1", "extend-reason": "再延"})
    assert response.status_code == 422
    page = text(response)  # the message, the field's limit, and what was typed
    assert "办理期限累计最多延长 10 个工作日。" in page and "不能大于 0。" in page and ">\n再延</textarea>" in page


def test_withdrawal_needs_a_reason_and_cancels_the_open_tasks(app, client, frozen):
    case_id = register(app)
    sign_in(client, "eia1")  # a handler: refused
    assert client.post(f"/cases/{case_id}/withdraw", data={"withdraw-reason": "x"}).status_code == 403
    client.post("/logout")

    sign_in(client, "window1")
    assert 'id="withdraw"' in text(client.get(f"/cases/{case_id}"))
    response = client.post(f"/cases/{case_id}/withdraw", data={"withdraw-reason": ""})
    assert response.status_code == 422 and "此项为必填项。" in text(response)
    assert case_row(app, case_id).status == "active"

    response = client.post(f"/cases/{case_id}/withdraw", data={"withdraw-reason": "申请人书面申请撤回"})
    assert response.status_code == 302
    case = case_row(app, case_id)
    assert (case.status, case.outcome, case.clock_running) == ("withdrawn", "withdrawn", False)
    with uow_for(app).reader() as r:
        states = r.session.execute(select(HumanTask.state).where(HumanTask.case_id == case_id)).scalars().all()
    assert states == ["cancelled"]
    page = text(client.get(f"/cases/{case_id}"))
    assert "申请已撤回，未办结的任务已取消。" in page and 'id="withdraw"' not in page
    assert "申请人书面申请撤回" in page.split('id="timeline"')[1]
    response = client.post(f"/cases/{case_id}/withdraw", data={"withdraw-reason": "再次"})
    assert response.status_code == 409  # already withdrawn: the service's Conflict, shown on the page


# ---------------------------------------------------------------- CSRF


def test_the_posts_need_the_csrf_token(db_url):
    app = make_app(db_url, WTF_CSRF_ENABLED=True)
    try:
        seed_people(app)
        add_users(app)
        task = add_task(app)
        with app.test_client() as client:
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text(client.get("/login")))[1]
            assert login(client, "admin1").status_code == 400  # no token
            client.post("/login", data={"username": "admin1", "password": "correct-horse-42", "csrf_token": token})
            data = {"year": "2027", "holidays": "2027-01-01", "workdays": "", "source": "测试"}
            assert client.post("/admin/holidays", data=data).status_code == 400
            assert client.post("/admin/matters/m03", data={"promised_value": "15"}).status_code == 400
            assert client.post(f"/cases/{task.case_id}/withdraw", data={"withdraw-reason": "x"}).status_code == 400
            assert client.post(f"/cases/{task.case_id}/extend", data={"extend-reason": "x"}).status_code == 400
            page = text(client.get("/admin/"))
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
            assert client.post("/admin/holidays", data={**data, "csrf_token": token}).status_code == 302
        with uow_for(app).reader() as r:
            assert r.session.get(HolidayNotice, 2027).source == "测试"
            assert r.session.get(Case, task.case_id).status == "active"
    finally:
        app.extensions["runonce.engine"].dispose()


def test_dates_are_read_as_people_type_them():
    from web.admin import format_dates, parse_dates

    days, bad = parse_dates("2027-01-01，2027/2/5 至 2027年2月7日、2026-12-31\n\n2027-02-30 2027-03-02~2027-03-01")
    assert days == [date(2026, 12, 31), date(2027, 1, 1), date(2027, 2, 5), date(2027, 2, 6), date(2027, 2, 7)]
    assert bad == ["2027-02-30", "2027-03-02~2027-03-01"]
    assert format_dates(days) == "2026-12-31 ~ 2027-01-01\n2027-02-05 ~ 2027-02-07"
    assert parse_dates(format_dates(days)) == (days, [])


def test_an_admin_retries_an_incident_with_corrected_data(app, client):
    failing = DIAGRAM.replace('<bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>', (
        '<bpmn:scriptTask id="share" scriptFormat="python"><bpmn:incoming>f3</bpmn:incoming>'
        '<bpmn:outgoing>f4</bpmn:outgoing><bpmn:script>share = 100 / parts</bpmn:script></bpmn:scriptTask>'
        '<bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>'
        '<bpmn:sequenceFlow id="f4" sourceRef="share" targetRef="end"/>'
    )).replace('targetRef="end"/>\n  </bpmn:process>', 'targetRef="share"/>\n  </bpmn:process>').replace(
        '<bpmn:flowNodeRef>end</bpmn:flowNodeRef>',
        '<bpmn:flowNodeRef>share</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>')
    assert deploy_ungated(uow_for(app), {f"{M03}.bpmn": failing}, f"{M03}.bpmn", SYSTEM).version == 2
    case_id = register(app)
    with uow_for(app).reader() as r:
        task_id = r.session.execute(select(HumanTask.id).where(HumanTask.case_id == case_id)).scalar_one()
    cases.complete_task(uow_for(app), task_id, {"parts": 0}, SYSTEM)
    assert case_row(app, case_id).status == "incident"

    sign_in(client, "admin1")
    page = text(client.get("/admin/"))
    assert f'action="/admin/incidents/{case_id}/retry"' in section(page, "incidents")
    typed = '{"parts": 4'  # not JSON: refused, what was typed comes back
    refused = client.post(f"/admin/incidents/{case_id}/retry", data={"corrections": typed})
    assert refused.status_code == 422 and typed in html.unescape(text(refused))
    assert case_row(app, case_id).status == "incident"
    done = client.post(f"/admin/incidents/{case_id}/retry", data={"corrections": '{"parts": 4}'})
    assert done.status_code == 302
    assert case_row(app, case_id).status == "completed"
    with uow_for(app).reader() as r:
        event = r.session.execute(select(AuditEvent).where(AuditEvent.action == "case.retried")).scalar_one()
    assert event.actor == "admin1" and event.payload["corrections"] == {"parts": 4}
