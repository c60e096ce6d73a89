"""The EIA matter end to end in Chromium: the window registers and accepts, the 环评处 handler claims and
completes the review, leadership decides, the window delivers; the case page shows it completed with the path
marked on the diagram. Steps that are not about the UI (public notices, expert review, documents) and the
notice periods' timers are driven through the service layer, as the scheduler would."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import pytest
from browser_support import artifacts
from pypdf import PdfReader
from sqlalchemy import select

from app import uow_for
from engine.calendar import DEFAULT_NOTICE_DIR, WorkingDayCalendar
from forms.schemas import load_schema
from services import cases
from services.actors import Actor
from services.demo import DEMO_PASSWORD
from storage.models import Case, HumanTask
from storage.types import utcnow

pytestmark = pytest.mark.browser
TODAY = date.today().isoformat()


def sample(schema: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Valid answers for a form's required fields (overrides win)."""
    data: dict[str, Any] = {}
    for name in schema.get("required", []):
        node = schema["properties"][name]
        if "oneOf" in node:
            data[name] = node["oneOf"][0]["const"]
        elif node.get("type") == "array":
            data[name] = [node["items"]["oneOf"][0]["const"]]
        elif node.get("format") == "date":
            data[name] = TODAY
        elif node.get("format") == "uri":
            data[name] = "https://sthjt.jl.gov.cn/gs/1"
        elif node.get("type") in ("integer", "number"):
            data[name] = node.get("minimum", 1)
        elif node.get("type") == "boolean":
            data[name] = True
        else:
            data[name] = "测试内容"
    data.update(overrides)
    return data


def notice_end(working_days: int) -> str:
    """The last day of a 公示 starting today that lasts ``working_days`` (both days included), by the calendar the
    form check uses (a notice counted by hand is refused)."""
    cal = WorkingDayCalendar.from_directory(DEFAULT_NOTICE_DIR, [])
    start = date.today()
    return cal.add_working_days(start, working_days - (1 if cal.is_workday(start) else 0)).isoformat()


def complete_by_service(app, case_id: int, form: str, **overrides: Any) -> None:
    with uow_for(app, write=False) as r:
        task_id = r.session.execute(
            select(HumanTask.id).where(
                HumanTask.case_id == case_id, HumanTask.state == "ready", HumanTask.form == form
            )
        ).scalar_one()
    cases.complete_task(uow_for(app), task_id, sample(load_schema(form), overrides), Actor.system("test"))


def fire_timers(app) -> None:
    cases.fire_due_timers(uow_for(app), now=utcnow() + timedelta(days=60))


def open_forms(app, case_id: int) -> list[str]:
    with uow_for(app, write=False) as r:
        return list(
            r.session.execute(
                select(HumanTask.form).where(HumanTask.case_id == case_id, HumanTask.state == "ready")
            ).scalars()
        )


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{base}/")


def sign_out(page) -> None:
    page.click("header form[action='/logout'] button")
    page.wait_for_url("**/login")


def claim_and_open(page, base: str, reference: str, title: str) -> None:
    page.goto(f"{base}/")
    row = page.locator("table.worklist tr", has_text=reference).filter(has_text=title)
    row.locator("button", has_text="认领").click()
    page.wait_for_selector("form.task-form")
    assert page.locator("h1").inner_text() == title


def test_eia_case_from_registration_to_delivery(live_app, page):
    app, base = live_app, live_app.base_url

    # 1. the window registers the application and prints the receipt
    sign_in(page, base, "window1")
    page.click("nav.mainnav >> text=申请登记")
    page.select_option("select[name=matter]", "m01")
    page.check("input[name=report_type][value=table]")
    page.fill("#applicant_name", "吉林某化工有限公司")
    page.fill("#applicant_credit_code", "91220101MA0Y4XKX8G")
    page.fill("#applicant_contact", "王经理")
    page.fill("#applicant_phone", "13812345678")
    page.fill("#applicant_address", "长春市南关区人民大街 1 号")
    page.check("input[name=channel][value=window]")
    page.check("input[name=delivery_mode][value=post]")
    page.click("button[type=submit].primary")
    page.wait_for_selector("#receipt")
    assert "收件回执" in page.inner_text("#receipt")
    receipt = page.request.get(base.rstrip("/") + page.get_attribute("#receipt-pdf", "href"))
    assert receipt.ok and receipt.headers["content-type"] == "application/pdf"  # the receipt as issued
    reference = page.inner_text("#receipt-reference").strip()
    assert page.inner_text("#receipt-lookup").strip()
    with uow_for(app, write=False) as r:
        case_id = r.session.execute(select(Case.id).where(Case.reference == reference)).scalar_one()

    # 2. the window checks the materials and issues the notice of acceptance
    claim_and_open(page, base, reference, "材料审查")
    page.fill("#received_date", TODAY)
    page.check("input[name=intake_result][value=complete]")
    page.click("form.task-form button[type=submit]")
    # the next step is the window's too: claimed for the same clerk and opened, one click to release
    page.wait_for_selector("h1:has-text('出具受理通知书')")
    assert "已为您认领" in page.inner_text(".flashes")
    assert page.locator("button", has_text="释放").count() == 1
    assert page.locator("#acceptance_no").count() == 0  # the number is allocated, not typed
    page.fill("#acceptance_date", TODAY)
    page.click("form.task-form button[type=submit]")
    page.wait_for_selector("#case-status")
    row = page.locator("#document-list tr[data-kind=acceptance_notice]")
    number = f"吉环受字〔{date.today().year}〕第1号"
    assert "受理通知书" in row.inner_text() and number in row.inner_text()
    notice = page.request.get(base.rstrip("/") + row.locator("a.document-link").get_attribute("href"))
    assert notice.ok and notice.headers["content-type"] == "application/pdf"
    assert number in "".join(p.extract_text() for p in PdfReader(io.BytesIO(notice.body())).pages)
    sign_out(page)

    # 3. acceptance notice period, expert review (service layer, timers fired as the scheduler would)
    complete_by_service(app, case_id, "public_notice.json", notice_start=TODAY, notice_end=notice_end(10))
    fire_timers(app)
    complete_by_service(app, case_id, "expert_review.json", expert_conclusion="pass")
    assert open_forms(app, case_id) == ["review_opinion.json"]

    # 4. the 环评处 handler claims and completes the review
    sign_in(page, base, "eia1")
    claim_and_open(page, base, reference, "审查")
    assert "结合技术评估意见" in page.inner_text("aside")  # the step's instructions beside the form
    page.fill("#review_opinion", "环评文件编制规范，结论可信，建议批准。")
    page.check("input[name=recommendation][value=approve]")
    page.fill("#reviewer", "李强")
    page.fill("#review_date", TODAY)
    page.click("form.task-form button[type=submit]")
    page.wait_for_selector(".flash-success")
    sign_out(page)

    # 5. pre-approval notice and feedback (service layer)
    complete_by_service(app, case_id, "public_notice.json", notice_start=TODAY, notice_end=notice_end(5))
    fire_timers(app)
    complete_by_service(
        app, case_id, "notice_feedback.json", objections_received="no", hearing_requested="no"
    )
    assert open_forms(app, case_id) == ["decision.json"]

    # 6. leadership decides
    sign_in(page, base, "leader1")
    claim_and_open(page, base, reference, "审批决定")
    page.check("input[name=decision][value=approve]")
    page.fill("#signer", "张副厅长")
    page.fill("#decision_date", TODAY)
    page.click("form.task-form button[type=submit]")
    page.wait_for_selector(".flash-success")
    sign_out(page)

    # 7. approval document and announcement (service layer)
    complete_by_service(app, case_id, "approval_document.json", document_no="吉环审〔2018〕8号")
    complete_by_service(app, case_id, "announcement.json")
    assert open_forms(app, case_id) == ["delivery_post.json"]

    # 8. the window delivers by post; the case is completed
    sign_in(page, base, "window1")
    claim_and_open(page, base, reference, "邮寄送达")
    page.fill("#tracking_no", "EMS1234567890")
    page.fill("#carrier", "中国邮政 EMS")
    page.fill("#posted_date", TODAY)
    page.click("form.task-form button[type=submit]")
    page.wait_for_selector("#case-status")
    assert page.inner_text("#case-status") == "已办结"
    assert "准予" in page.inner_text(".meta")

    # 9. the diagram marks the path: the review and the decision done, the end reached
    page.wait_for_selector("#diagram[data-state=ready]")
    with uow_for(app, write=False) as r:
        done = dict(
            r.session.execute(
                select(HumanTask.form, HumanTask.spec_name).where(HumanTask.case_id == case_id)
            ).all()
        )
    for form in ("review_opinion.json", "decision.json"):
        element = done[form]
        assert page.locator(f"#diagram [data-element-id='{element}'].marker-completed").count() == 1, element
    ends = page.locator("#diagram .djs-element.marker-completed[data-element-id^='end']")
    assert ends.count() >= 1  # an end event of the main process was reached
    assert page.locator("#diagram .marker-current").count() == 0
    assert page.locator("#diagram .bjs-powered-by").is_visible()  # the bpmn.io watermark stays
    timeline = page.inner_text("#timeline")
    assert "登记申请" in timeline and "办结" in timeline
    page.screenshot(path=str(_artifacts() / "eia_case_completed.png"), full_page=True)


def _artifacts():
    return artifacts()
