"""The applicant pages (web/applicant.py): apply online (网上申请) and look a case up (办件查询), on both backends."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from web_support import make_app

from app import uow_for
from engine.clock import frozen_time
from services import cases
from services.actors import Actor
from services.definitions import bundle_for, deploy_bundle
from storage import audit
from storage.models import AuditEvent, Case, HumanTask
from web import applicant

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "tests" / "workflows") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests" / "workflows"))
from driver import DELIVERY, FILING_RECEIPT, POST_ASSESSMENT, START_TIME, check  # noqa: E402

CODE = "91220000123456789K"  # valid check character
GOOD = {
    "applicant_name": "吉林某化工有限公司",
    "applicant_credit_code": CODE,
    "applicant_contact": "张三",
    "applicant_phone": "13912345678",
    "applicant_email": "zhangsan@example.cn",
    "applicant_address": "吉林省长春市某区某路1号",
    "delivery_mode": "post",
}
INTERNAL = ("receive_report", "check_filing", "issue_receipt", "deliver_post", "Lane_", "审批办", "m11_eia")


def _deploy(app, *stems: str) -> None:
    for stem in stems:
        path = next((ROOT / "workflows").glob(f"{stem}_*.bpmn"))
        deploy_bundle(uow_for(app), bundle_for(path), path.name, Actor.system("test"))


def _public_app(db_url, **config):
    app = make_app(db_url, **config)
    if "applicant" not in app.blueprints:  # until web/__init__.py registers the blueprint
        app.register_blueprint(applicant.bp)
    return app


@pytest.fixture
def app(db_url):
    app = _public_app(db_url, APPLICANT_LOOKUP_DELAY=0.0)
    _deploy(app, "m01", "m11")
    yield app
    app.extensions["runonce.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def _text(response) -> str:
    return response.get_data(as_text=True)


def _errors(page: str) -> list[str]:
    return re.findall(r'<p class="error" id="err-[^"]*">([^<]*)</p>', page)


PDF = b"%PDF-1.4\n% test material\n%%EOF\n"


def _required_materials(matter: str) -> dict[str, tuple[io.BytesIO, str]]:
    from workflows.catalog import shipped_catalog

    return {f"material__{item.code}": (io.BytesIO(PDF), f"{item.name_zh}.pdf")
            for item in shipped_catalog().matter(matter).materials if item.required}


def _apply(client, matter="m11", with_materials=True, **changes):
    data = {**GOOD, **changes}
    if with_materials:
        data.update(_required_materials(matter))
    return client.post(f"/public/apply/{matter}", data=data, content_type="multipart/form-data")


def _submitted(client) -> tuple[str, str]:
    page = _text(client.get("/public/submitted"))
    return (
        re.search(r'id="reference">([^<]+)<', page).group(1),
        re.search(r'id="lookup-code">([^<]+)<', page).group(1),
    )


def _lookup(client, reference, code, **environ):
    return client.post(
        "/public/track", data={"reference": reference, "lookup_code": code}, environ_base=environ
    )


def _cases(app) -> list[Case]:
    with uow_for(app, write=False) as r:
        rows = list(r.session.execute(select(Case)).scalars())
        r.session.expunge_all()
        return rows


# -- applying ---------------------------------------------------------------------------------------------------


def test_only_matters_offered_online_are_listed(client):
    page = _text(client.get("/public/"))
    assert '<html lang="zh-CN">' in page and "<h1>信息公开栏</h1>" in page and "<h2>网上申请</h2>" in page
    listed = set(re.findall(r'href="/public/apply/(m\d\d)"', page))
    from workflows.catalog import load_catalog

    online = {m.code for m in load_catalog().matters if any(s.channel == "online" for s in m.service_modes)}
    assert listed == online and "m06" not in listed  # 外国人进入保护区: no online channel in the catalog
    assert client.get("/public/apply/m06").status_code == 404
    assert client.get("/public/apply/m99").status_code == 404


def test_the_form_offers_the_delivery_modes_of_the_online_channel(client):
    m01 = _text(client.get("/public/apply/m01"))
    assert set(re.findall(r'name="delivery_mode"[^>]*value="(\w+)"', m01)) == {"post", "window"}
    assert 'name="report_type"' in m01  # the EIA time limit depends on report or form
    m11 = _text(client.get("/public/apply/m11"))
    assert set(re.findall(r'name="delivery_mode"[^>]*value="(\w+)"', m11)) == {"online", "post", "window"}
    assert 'name="report_type"' not in m11


def test_an_online_application_registers_the_case(app, client):
    response = _apply(client, "m01", report_type="table")
    assert response.status_code == 302 and response.headers["Location"].endswith("/public/submitted")
    reference, code = _submitted(client)
    [case] = _cases(app)
    assert (case.reference, case.lookup_code) == (reference, code)
    assert (case.matter_code, case.channel, case.delivery_mode, case.status) == (
        "m01",
        "online",
        "post",
        "active",
    )
    assert (case.applicant_credit_code, case.applicant_email) == (CODE, GOOD["applicant_email"])
    assert case.created_by == f"applicant:{CODE}"
    with uow_for(app, write=False) as r:
        [task] = r.session.execute(select(HumanTask).where(HumanTask.case_id == case.id)).scalars()
        assert (task.spec_name, task.lane, task.state) == ("check_materials", "审批办", "ready")
        event, receipt = r.session.execute(select(AuditEvent).where(AuditEvent.case_id == case.id)
                                           .order_by(AuditEvent.seq)).scalars()
        assert (event.action, event.actor) == ("case.registered", f"applicant:{CODE}")
        assert receipt.action == "document.issued"  # the 收件回执's PDF, made after the registration
        assert event.payload["after"]["channel"] == "online"
        assert audit.verify(r.session).ok
    page = _text(client.get("/public/submitted"))  # a reload shows the same numbers and registers nothing
    assert reference in page and code in page and len(_cases(app)) == 1
    assert "请妥善保存受理号和查询码" in page


def test_the_numbers_are_shown_for_a_while_only(app, client, monkeypatch):
    assert _apply(client).status_code == 302
    reference, code = _submitted(client)
    later = applicant.time.time() + 31 * 60
    monkeypatch.setattr(applicant.time, "time", lambda: later)
    response = client.get("/public/submitted")
    assert response.status_code == 302 and response.headers["Location"].endswith("/public/")
    assert code not in _text(client.get("/public/submitted", follow_redirects=True))


def test_a_rejected_form_keeps_what_was_typed_and_says_why_in_chinese(app, client):
    response = _apply(
        client,
        "m01",
        applicant_credit_code="91220000123456789X",
        applicant_contact="",
        applicant_email="not-an-address",
        applicant_address="",
        delivery_mode="post",
    )
    assert response.status_code == 422
    page = _text(response)
    assert 'value="吉林某化工有限公司"' in page and 'value="91220000123456789X"' in page
    assert 'value="13912345678"' in page and 'value="not-an-address"' in page
    assert 'value="post" checked' in page or re.search(r'checked[^>]*value="post"', page)
    errors = _errors(page)
    assert "统一社会信用代码无效（应为 18 位，最后一位为校验码）。" in errors
    assert "此项为必填项。" in errors  # contact
    assert "请填写有效的电子邮箱地址。" in errors
    assert "选择邮寄送达时必须填写邮寄地址。" in errors
    assert "请选择提交的是环境影响报告书还是报告表。" in errors
    assert not _cases(app)


def test_an_approval_not_yet_accepted_says_so(app, client):
    assert _apply(client, "m01", report_type="report").status_code == 302
    page = _text(_lookup(client, *_submitted(client)))
    assert 'id="accepted-on">尚未受理<' in page and 'id="promised-due"' not in page
    assert re.search(r'id="current-steps">\s*材料审查\s*<', page)


def test_blank_answers_count_as_missing(app, client):
    response = _apply(client, applicant_name="   ", applicant_contact=" ", applicant_phone=" ")
    assert response.status_code == 422
    assert _errors(_text(response)).count("此项为必填项。") == 3
    assert not _cases(app)


def test_a_delivery_mode_not_offered_online_is_refused(app, client):
    response = _apply(client, "m01", report_type="report", delivery_mode="online")
    assert response.status_code == 422
    assert "请从提供的送达方式中选择一种。" in _errors(_text(response))
    assert not _cases(app)


def test_the_credit_code_is_normalised(app, client):
    assert _apply(client, applicant_credit_code=" 91220000123456789k ").status_code == 302
    assert _cases(app)[0].applicant_credit_code == CODE


def test_posts_need_the_csrf_token(db_url):
    app = _public_app(db_url, WTF_CSRF_ENABLED=True, APPLICANT_LOOKUP_DELAY=0.0)
    _deploy(app, "m11")
    client = app.test_client()
    assert _apply(client).status_code == 400
    assert _lookup(client, "2018M11000001", "ABCD1234").status_code == 400
    assert not _cases(app)
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', _text(client.get("/public/apply/m11"))
    ).group(1)
    assert _apply(client, csrf_token=token).status_code == 302
    reference, code = _submitted(client)
    response = client.post(
        "/public/track", data={"reference": reference, "lookup_code": code, "csrf_token": token}
    )
    assert response.status_code == 200 and 'id="case-status"' in _text(response)
    app.extensions["runonce.engine"].dispose()


# -- looking up -------------------------------------------------------------------------------------------------


def _complete(app, case_id: int, name: str, data: dict) -> None:
    with uow_for(app, write=False) as r:
        task = r.session.execute(
            select(HumanTask).where(
                HumanTask.case_id == case_id, HumanTask.spec_name == name, HumanTask.state == "ready"
            )
        ).scalar_one()
        task_id, lane = task.id, task.lane
    clerk = Actor(username=f"clerk-{lane}", roles=frozenset({"handler"}), lanes=frozenset({lane}))
    cases.complete_task(uow_for(app), task_id, data, clerk)


def test_lookup_follows_the_case_to_its_result_and_tracking_number(app, client):
    from datetime import datetime

    with frozen_time(datetime.fromisoformat(START_TIME)):
        assert _apply(client, "m11", delivery_mode="post").status_code == 302
    reference, code = _submitted(client)
    response = _lookup(client, reference, code.lower())  # codes are not case-sensitive
    assert response.status_code == 200
    page = _text(response)
    assert re.search(r'id="status-label"><strong>办理中<', page)
    assert re.search(r'id="current-steps">\s*接收后评价报告\s*<', page)
    assert "邮寄单号" not in page and 'id="outcome"' not in page
    case = _cases(app)[0]
    # a filing counts as accepted when it arrives (services.clock); its promise is 5 working days
    assert case.accepted_on.isoformat() == "2018-05-02" and 'id="accepted-on">2018-05-02<' in page
    assert case.promised_due_on is not None
    assert f'id="promised-due">{case.promised_due_on.isoformat()}<' in page
    assert 'id="due-on"' not in page  # the law sets no limit for this filing

    tracking = DELIVERY["post"]
    with frozen_time(datetime.fromisoformat(START_TIME)):
        _complete(app, case.id, "receive_report", POST_ASSESSMENT)
        page = _text(_lookup(client, reference, code))
        assert re.search(r'id="current-steps">\s*核对备案材料\s*<', page)
        assert "接收后评价报告" in page.split('id="completed-steps"')[1]
        _complete(app, case.id, "check_filing", check("accept"))
        _complete(app, case.id, "issue_receipt", FILING_RECEIPT)
        _complete(app, case.id, *tracking)
    page = _text(_lookup(client, reference, code))
    assert re.search(r'id="status-label"><strong>已办结<', page)
    assert re.search(r'id="outcome">已备案<', page)
    assert f'id="tracking-no">{tracking[1]["tracking_no"]}' in page and "中国邮政 EMS" in page
    assert 'id="current-steps"' not in page
    assert not [word for word in INTERNAL if word in page], "internal names leak into the applicant's page"


def test_a_wrong_code_answers_like_an_unknown_reference(app, client):
    assert _apply(client).status_code == 302
    reference, code = _submitted(client)
    wrong = _lookup(client, reference, "0" * 8 if code != "0" * 8 else "1" * 8)
    unknown = _lookup(client, "2099M11999999", code)
    assert wrong.status_code == unknown.status_code == 404
    problem = re.compile(r'<p class="flash flash-error" role="alert" id="lookup-problem">([^<]*)</p>')
    assert problem.search(_text(wrong)).group(1) == problem.search(_text(unknown)).group(1)
    assert "未找到与该受理号和查询码相符的办件" in _text(wrong)
    for response in (wrong, unknown):
        assert 'id="case-status"' not in _text(response) and "吉林某化工有限公司" not in _text(response)


def test_repeated_failures_are_slowed_and_then_refused(db_url, monkeypatch):
    app = _public_app(
        db_url,
        APPLICANT_LOOKUP_FREE=2,
        APPLICANT_LOOKUP_LIMIT=5,
        APPLICANT_LOOKUP_DELAY=0.5,
        APPLICANT_LOOKUP_DELAY_MAX=1.2,
    )
    _deploy(app, "m11")
    slept: list[float] = []
    monkeypatch.setattr(applicant.time, "sleep", slept.append)
    client = app.test_client()
    assert _apply(client).status_code == 302
    reference, code = _submitted(client)
    statuses = [_lookup(client, reference, "BADCODE1").status_code for _ in range(5)]
    assert statuses == [404] * 5
    assert slept == [0.5, 1.0, 1.2], "free failures cost nothing, then each one answers more slowly (capped)"
    refused = _lookup(client, reference, code)  # even the right code: this address has to wait now
    assert (
        refused.status_code == 429
        and "查询失败次数过多" in _text(refused)
        and "case-status" not in _text(refused)
    )
    other = _lookup(
        client, reference, code, REMOTE_ADDR="10.0.0.9"
    )  # the applicant elsewhere is not locked out
    assert other.status_code == 200 and 'id="case-status"' in _text(other)
    app.extensions["runonce.engine"].dispose()


def test_an_empty_lookup_is_a_form_error_in_chinese(client):
    response = client.post("/public/track", data={"reference": " ", "lookup_code": ""})
    assert response.status_code == 422
    assert _errors(_text(response)).count("此项为必填项。") == 2


# -- languages --------------------------------------------------------------------------------------------------


def test_chinese_first_english_through_the_switcher(app, client):
    assert _apply(client).status_code == 302
    reference, code = _submitted(client)
    assert "<h1>办件查询</h1>" in _text(client.get("/public/track"))
    response = client.post("/language", data={"lang": "en", "next": "/public/submitted"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/public/submitted")
    page = _text(client.get("/public/submitted"))
    assert '<html lang="en">' in page and "Application submitted" in page and code in page
    page = _text(_lookup(client, reference, code))
    assert "<h1>Look up your case</h1>" in page and "In progress" in page and "Current step" in page
    assert "Post-assessment" in page or "post-assessment" in page  # the matter in English
    page = _text(client.get("/public/"))
    assert "Apply online" in page and "网上申请" not in page
