"""Registering an application at the window: validation that keeps what was typed, roles, the receipt."""

from __future__ import annotations

import html

from web_support import add_task

GOOD = {
    "matter": "m01",
    "report_type": "table",
    "applicant_name": "吉林某化工有限公司",
    "applicant_credit_code": "91220101MA0Y4XKX8G",
    "applicant_contact": "王经理",
    "applicant_phone": "13812345678",
    "applicant_email": "",
    "applicant_address": "长春市南关区人民大街 1 号",
    "channel": "window",
    "delivery_mode": "post",
}


def test_only_the_window_registers(login_as):
    client = login_as("eia1")
    assert client.get("/cases/new").status_code == 403


def test_register_form_lists_the_matters(login_as):
    page = login_as("window1").get("/cases/new").get_data(as_text=True)
    assert "建设项目环境影响评价文件审批" in page and "危险废物经营许可" in page
    assert "统一社会信用代码" in page and "现场取件" in page and "邮寄送达" in page and "网上下载" in page


def test_bad_values_show_every_error_and_keep_the_values(login_as):
    client = login_as("window1")
    bad = {
        **GOOD,
        "applicant_credit_code": "91220101MA0Y4XKX8E",
        "applicant_phone": "12345",
        "applicant_address": "",
        "report_type": "",
        "applicant_email": "not-an-email",
    }
    response = client.post("/cases/new", data=bad)
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "申请信息有误，请修改标出的内容。" in page
    assert "统一社会信用代码无效" in page
    assert "请填写 11 位手机号码" in page
    assert "选择邮寄送达时必须填写邮寄地址。" in page
    assert "请选择提交的是环境影响报告书还是报告表。" in page
    assert "请填写有效的电子邮箱地址。" in page
    for kept in ("91220101MA0Y4XKX8E", "12345", "吉林某化工有限公司", "王经理", "not-an-email"):
        assert f'value="{kept}"' in page


def test_a_combination_the_matter_does_not_offer(login_as):
    client = login_as("window1")
    response = client.post("/cases/new", data={**GOOD, "channel": "online", "delivery_mode": "online"})
    assert response.status_code == 422
    assert "该事项不提供这种申请方式与送达方式的组合" in response.get_data(as_text=True)


def test_receipt_page_of_a_case_without_a_receipt(app, login_as):
    """A case made as bare rows (no registration command) has no receipt: the page says so, it invents none.
    The printed receipt itself (a PDF issued at registration) is tested in tests/web/test_documents_web.py."""
    task = add_task(app)
    page = login_as("window1").get(f"/cases/{task.case_id}/receipt").get_data(as_text=True)
    assert "收件回执" in page and "查询码" in page and "ABCD1234" in page
    assert "建设项目环境影响评价文件审批" in page and "吉林某化工有限公司" in page
    assert "本案件没有出具收件回执" in page and "receipt-pdf" not in page
