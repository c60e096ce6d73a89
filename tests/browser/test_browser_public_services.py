"""The public services of the reform in a real Chromium at phone width (390 px), with screenshots in
test-artifacts/: the information column and a service guide with its flowchart, a poor rating of a closed case and
the rectification it starts, a complaint with an attachment followed by its code, and a spot-check draw made by the
inspection corps' lead and published. SQLite only: the rules run on both backends in tests/services."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app import uow_for, workflows_dir
from services import cases, spot_checks, users
from services.actors import Actor
from services.credit_code import check_character
from services.definitions import bundle_for, deploy_bundle
from storage.models import Case, HumanTask
from workflows.catalog import load_catalog

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
SYSTEM = Actor.system("test")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def code(n: int) -> str:
    first = f"912200001234{n:05d}"
    return first + check_character(first)


def _seed(app) -> None:
    from services import demo

    uow = uow_for(app)
    users.ensure_units(uow, [(u.code, u.name_zh, u.name_en) for u in load_catalog().units], SYSTEM)
    for stem in ("m11_eia_post_assessment_filing", "p01_rectification", "p02_complaint", "p03_inspection"):
        path = workflows_dir(app) / f"{stem}.bpmn"
        deploy_bundle(uow, bundle_for(path), path.name, SYSTEM)
    with uow_for(app, write=False) as r:
        from storage.models import Unit

        unit_by_name = dict(r.session.execute(select(Unit.name_zh, Unit.code)).all())
    for username, display, unit, roles in demo.DEMO_USERS:
        users.create_user(uow, username=username, password=demo.DEMO_PASSWORD, display_name=display, roles=roles,
                          unit_code=unit_by_name.get(unit) if unit else None, actor=SYSTEM)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from browser_support import live_server

    url = f"sqlite:///{tmp_path_factory.mktemp('public') / 'runonce.db'}"
    with live_server(url, _seed) as app:
        yield app


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _fits(page) -> None:
    """Nothing of the page's content is wider than the phone."""
    wide = page.evaluate("""() => [...document.querySelectorAll('main *')]
        .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1
                      && !el.closest('.table-wrap, .diagram'))
        .map(el => el.tagName + '.' + el.className).slice(0, 5)""")
    assert wide == [], wide


def _shot(page, name: str) -> None:
    from browser_support import artifacts

    page.screenshot(path=str(artifacts() / f"public-{name}.png"), full_page=True)


def test_guide_rating_complaint_and_draw_at_phone_width(live, phone, browser, tmp_path):
    base, page = live.base_url, phone
    # -- the information column and a guide with its flowchart --------------------------------------------------
    page.goto(f"{base}/public/")
    assert page.locator(".matter-entry").count() == len(load_catalog().matters)
    _fits(page)
    _shot(page, "information-column")
    page.click("a[href='/public/guide/m11']")
    page.wait_for_selector("#diagram[data-state=ready]")
    assert page.locator(".guide-material").count() == len(load_catalog().matter("m11").materials)
    assert "不收费" in page.inner_text("#guide-fee")
    _fits(page)
    _shot(page, "guide-m11")
    # -- a poor rating of a closed case ---------------------------------------------------------------------------
    reg = cases.register_case(uow_for(live), matter_code="m11", channel="window", delivery_mode="post",
                              applicant=cases.Applicant("吉林某化工有限公司", code(1), "张三", "13912345678"),
                              actor=Actor("w", roles=frozenset({"window"})))
    cases.withdraw_case(uow_for(live), reg.case_id, "申请人撤回", SYSTEM)
    page.goto(f"{base}/public/track")
    page.fill("#reference", reg.reference)
    page.fill("#lookup_code", reg.lookup_code)
    page.click("#lookup-form button[type=submit]")
    page.click("#open-case")
    page.click("#rate-link")
    page.check("input[name=level][value='2']")
    for name in ("efficiency", "guide_accuracy", "convenience", "platform"):
        page.check(f"input[name={name}][value='2']")
    page.fill("#comment", "补正要求前后不一致，跑了两趟")
    _fits(page)
    _shot(page, "rating-form")
    page.click("#rating-form button[type=submit]")
    assert "正在核实" in page.inner_text("#rectification-state")
    _shot(page, "rating-done")
    with uow_for(live, write=False) as r:
        rect = r.session.execute(select(Case).where(Case.matter_code == "p01")).scalar_one()
        assert rect.due_on is not None
        assert r.session.execute(select(HumanTask.lane).where(HumanTask.case_id == rect.id)).scalar_one() == "法规处"
    # -- a complaint with an attachment, followed by its code ---------------------------------------------------
    page.goto(f"{base}/public/complaints")
    page.check("input[name=kind][value=report]")
    page.fill("#subject", "夜间偷排")
    page.fill("#content", "某企业夜间通过暗管排放废水，已持续一周。")
    attachment = tmp_path / "照片说明.pdf"
    attachment.write_bytes(PDF)
    page.set_input_files("input[name=attachments]", str(attachment))
    page.fill("#name", "李四")
    page.fill("#phone", "13900000000")
    _fits(page)
    _shot(page, "complaint-form")
    page.click("#complaint-form button[type=submit]")
    reference, lookup = page.inner_text("#reference").strip(), page.inner_text("#lookup-code").strip()
    page.goto(f"{base}/public/complaints/track")
    page.fill("#reference", reference)
    page.fill("#lookup_code", lookup)
    page.click("#complaint-lookup button[type=submit]")
    assert "已收到" in page.inner_text("#complaint-stage") and "照片说明.pdf" in page.inner_text("#complaint-status")
    _shot(page, "complaint-status")
    # -- a spot-check draw by the corps' lead, then the public results ----------------------------------------------
    uow = uow_for(live)
    spot_checks.import_entities(uow, "credit_code,name,entity_type\n" + "".join(
        f"{code(i)},危废企业{i},m02\n" for i in range(10, 16)), SYSTEM)
    for badge in ("JC001", "JC002", "JC003"):
        spot_checks.add_inspector(uow, f"检查员{badge[-1]}", badge, "inspection_corps", SYSTEM)
    spot_checks.create_plan(uow, spot_checks.NewPlan("2018年危险废物经营单位抽查", "m02", "inspection_corps", 2,
                                                     None, date(2018, 5, 1), date(2018, 6, 30),
                                                     "2018-05-02 福彩3D 407"), SYSTEM)
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    desk.goto(f"{base}/login")
    desk.fill("#username", "corps_lead")
    from services import demo

    desk.fill("#password", demo.DEMO_PASSWORD)
    desk.press("#password", "Enter")
    desk.goto(f"{base}/spot-checks/")
    desk.click(".spot-draw-form button[type=submit]")
    assert desk.locator(".spot-item").count() == 2
    _shot(desk, "draw-staff")
    page.goto(f"{base}/public/spot-checks")
    assert "2018-05-02 福彩3D 407" in page.inner_text(".spot-seed")
    assert re.fullmatch(r"[0-9a-f]{64}", page.inner_text(".spot-digest").strip())
    assert page.locator(".spot-item").count() == 2
    _fits(page)
    _shot(page, "draw-public")
    # -- the window sees a credit record while typing the code at registration --------------------------------
    from services import credit

    today = date.today()
    credit.record(uow, credit.NewRecord(code(3), "吉林某化工有限公司", "false_materials", "伪造监测报告",
                                        "2018M02000012", today, today + timedelta(days=700)),
                  Actor("soil_lead", roles=frozenset({"lead"})))
    window = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    window.goto(f"{base}/login")
    window.fill("#username", "window1")
    window.fill("#password", demo.DEMO_PASSWORD)
    window.press("#password", "Enter")
    window.goto(f"{base}/cases/new")
    window.fill("#applicant_credit_code", code(3))
    window.wait_for_selector("#credit-check #credit-records")
    assert "伪造监测报告" in window.inner_text("#credit-check")
    _shot(window, "credit-at-registration")
    window.context.close()
    desk.context.close()
