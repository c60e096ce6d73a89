"""Form checks (issue 12, point 7): the web form (forms.builder + forms.widgets) and the service-side check
(forms.schemas.validate_form) apply the same rules to the shipped schemas — date order, the minimum 公示 period
in working days by the calendar, http(s) URLs, the case's matter's materials, the signing officer's name."""

from __future__ import annotations

from datetime import date

import pytest
from werkzeug.datastructures import MultiDict

from engine.calendar import DEFAULT_NOTICE_DIR, WorkingDayCalendar
from forms.builder import build_form_class, data_for_form, form_to_data
from forms.context import FormContext
from forms.schemas import (
    AFTER,
    MIN_WORKING_DAYS,
    NOT_BEFORE,
    NOT_HTTP_URL,
    WORKING_DAYS_UNKNOWN,
    is_http_url,
    load_schema,
    load_ui_schema,
    validate_form,
)
from services.form_context import MATTER_MATERIALS, materials_options

CAL = WorkingDayCalendar.from_directory(DEFAULT_NOTICE_DIR, [])


def count(start: date, end: date) -> int | None:
    """The same inclusive count as services.form_context.working_day_counter."""
    return CAL.working_days_between(start, end) + (1 if CAL.is_workday(start) else 0)


def context(matter: str = "m01", minimum: int | None = None, user: str | None = None, counter=count) -> FormContext:
    return FormContext(options={MATTER_MATERIALS: materials_options(matter)}, user_name=user,
                       min_working_days=minimum, working_days=counter)


def web_errors(name: str, values: dict, ctx: FormContext) -> dict[str, list[str]]:
    """Submit ``values`` through the web form built from the schema; its field errors."""
    cls = build_form_class(load_schema(name), load_ui_schema(name.replace(".json", ".uischema.json")),
                           version_field=None, context=ctx)
    form = cls(formdata=MultiDict([(k, v) for k, vs in values.items() for v in (vs if isinstance(vs, list)
                                                                                  else [vs])]))
    form.validate()
    return {k: v for k, v in form.errors.items() if v}


def service_errors(name: str, data: dict, ctx: FormContext) -> dict[str, str]:
    return {k: msgid for k, (msgid, _params) in validate_form(name, data, ctx).items()}


NOTICE = {"notice_url": "http://hbt.jl.gov.cn/gs/2018/001.html", "notice_start": "2018-05-03"}


@pytest.mark.parametrize(
    ("end", "ok"),
    [("2018-05-16", True),  # 3–16 May 2018: exactly 10 working days
     ("2018-05-15", False),  # 9
     ("2018-05-13", False)],  # 14 calendar days counted "by hand" would pass; the calendar says 7
)
def test_public_notice_period_is_counted_by_the_calendar(end, ok):
    ctx = context(minimum=10)
    data = {**NOTICE, "notice_end": end}
    assert ("notice_end" not in service_errors("public_notice.json", data, ctx)) is ok
    assert ("notice_end" not in web_errors("public_notice.json", data, ctx)) is ok
    if not ok:
        assert service_errors("public_notice.json", data, ctx)["notice_end"] == MIN_WORKING_DAYS
        assert "10" in web_errors("public_notice.json", data, ctx)["notice_end"][0]


def test_spring_festival_needs_a_longer_notice():
    """12 February 2018 + 10 working days ends on 1 March, not on 23 February (holidays 15–21 February)."""
    ctx = context(minimum=10)
    base = {**NOTICE, "notice_start": "2018-02-12"}
    assert "notice_end" in service_errors("public_notice.json", {**base, "notice_end": "2018-02-28"}, ctx)
    assert service_errors("public_notice.json", {**base, "notice_end": "2018-03-01"}, ctx) == {}


def test_a_year_the_calendar_does_not_cover_is_not_guessed():
    ctx = context(minimum=5, counter=lambda start, end: None)
    data = {**NOTICE, "notice_start": "2031-05-05", "notice_end": "2031-05-30"}
    assert service_errors("public_notice.json", data, ctx)["notice_end"] == WORKING_DAYS_UNKNOWN
    assert "notice_end" in web_errors("public_notice.json", data, ctx)


def test_no_minimum_no_period_check_but_the_order_still_holds():
    ctx = context(minimum=None)
    assert service_errors("public_notice.json", {**NOTICE, "notice_end": "2018-05-04"}, ctx) == {}
    backwards = {**NOTICE, "notice_end": "2018-05-02"}
    assert service_errors("public_notice.json", backwards, ctx)["notice_end"] == AFTER
    assert "notice_end" in web_errors("public_notice.json", backwards, ctx)


@pytest.mark.parametrize(
    ("form", "values", "field", "msgid"),
    [
        ("approval_document.json", {"document_no": "吉环审字〔2018〕1号", "issue_date": "2018-06-26",
                                    "valid_until": "2018-06-26"}, "valid_until", AFTER),
        ("reserve_decision.json", {"decision": "approve", "signer": "甲", "decision_date": "2018-06-25",
                                   "approved_persons": "张三", "entry_start": "2018-07-10",
                                   "entry_end": "2018-07-01"}, "entry_end", NOT_BEFORE),
        ("hearing_record.json", {"hearing_notice_date": "2018-06-08", "hearing_date": "2018-06-01",
                                 "hearing_host": "李四", "hearing_summary": "听取意见。"}, "hearing_date", AFTER),
        ("supplement_notice.json", {"missing_items": ["application_form"], "missing_items_detail": "说明",
                                    "notice_date": "2018-05-02", "supplement_due_date": "2018-05-01"},
         "supplement_due_date", AFTER),
        ("delivery_window.json", {"notified_date": "2018-07-03", "pickup_date": "2018-07-02",
                                  "picked_up_by": "张三", "identity_checked": "y"}, "pickup_date", NOT_BEFORE),
    ],
)
def test_dates_in_order_web_and_service_agree(form, values, field, msgid):
    ctx = context()
    data = dict(values)
    if form == "delivery_window.json":
        data["identity_checked"] = True
    assert service_errors(form, data, ctx)[field] == msgid
    assert field in web_errors(form, values, ctx)


def test_a_one_day_entry_is_not_before_its_start():
    data = {"decision": "approve", "signer": "甲", "decision_date": "2018-06-25", "approved_persons": "张三",
            "entry_start": "2018-07-01", "entry_end": "2018-07-01"}
    assert service_errors("reserve_decision.json", data, context()) == {}


@pytest.mark.parametrize(
    ("url", "ok"),
    [("http://hbt.jl.gov.cn/gs/1.html", True), ("https://hbt.jl.gov.cn/gs?id=1", True),
     ("hbt.jl.gov.cn/gs/1.html", False), ("javascript:alert(1)", False), ("ftp://hbt.jl.gov.cn/x", False),
     ("http://", False), ("http://exa mple.cn/", False), ("公示网址", False)],
)
def test_urls_are_http_urls(url, ok):
    assert is_http_url(url) is ok
    data = {"announcement_url": url, "announcement_date": "2018-06-28"}
    assert ("announcement_url" not in service_errors("announcement.json", data, context())) is ok
    assert ("announcement_url" not in web_errors("announcement.json", data, context())) is ok
    if not ok:
        assert service_errors("announcement.json", data, context())["announcement_url"] == NOT_HTTP_URL


def test_supplement_notice_offers_the_matters_materials_and_other():
    ctx = context("m06")
    cls = build_form_class(load_schema("supplement_notice.json"), load_ui_schema("supplement_notice.uischema.json"),
                           version_field=None, context=ctx)
    offered = [c.value for c in cls.form_spec.fields[0].choices]
    assert offered == [i.value for i in materials_options("m06")] + ["other"]
    assert "passports" in offered and "eia_document" not in offered
    ctx01 = context("m01")
    web = web_errors("supplement_notice.json", {"missing_items": ["passports"], "missing_items_detail": "缺护照",
                                                "notice_date": "2018-05-02"}, ctx01)
    assert "missing_items" in web
    good = {"missing_items": ["eia_document_public", "other"], "missing_items_detail": "公开版本未删除个人信息",
            "notice_date": "2018-05-02"}
    form = build_form_class(load_schema("supplement_notice.json"), {}, version_field=None, context=ctx01)(
        formdata=MultiDict([("missing_items", "eia_document_public"), ("missing_items", "other"),
                            ("missing_items_detail", good["missing_items_detail"]),
                            ("notice_date", "2018-05-02")]))
    assert form.validate(), form.errors
    assert form_to_data(form)["missing_items"] == ["eia_document_public", "other"]  # codes, not names
    assert service_errors("supplement_notice.json", good, ctx01) == {}


def test_signing_officer_defaults_to_the_signed_in_user():
    ctx = context(user="环评处 李强")
    cls = build_form_class(load_schema("review_opinion.json"), {}, version_field=None, context=ctx)
    assert cls(formdata=None).reviewer.data == "环评处 李强"
    # an earlier task's reviewer in the case data does not replace the person signing now
    initial = data_for_form(cls.form_spec, {"reviewer": "孙八", "review_opinion": "同意"})
    form = cls(formdata=None, data=initial)
    assert (form.reviewer.data, form.review_opinion.data) == ("环评处 李强", "同意")
    assert 'value="环评处 李强"' in str(form.reviewer())  # visible and editable
    for name, field in [("decision.json", "signer"), ("filing_check.json", "checker"),
                        ("site_inspection.json", "inspectors"), ("second_notice_approval.json",
                                                                 "second_notice_approver")]:
        built = build_form_class(load_schema(name), {}, version_field=None, context=ctx)
        assert getattr(built(formdata=None), field).data == "环评处 李强", name
    without = build_form_class(load_schema("review_opinion.json"), {}, version_field=None)
    assert without(formdata=None).reviewer.data in (None, "")
