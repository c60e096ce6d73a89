"""Document templates and the PDF renderer, without a database: every kind renders a PDF that pypdf reads,
with the department's name, the number and the applicant as text and the CJK font embedded; settings and
number formats; the task → document mapping against the diagrams and the forms.

The same documents issued through the commands (numbering, storage, audit) are tested on both databases in
tests/services/test_documents.py."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import etree
from pypdf import PdfReader

from documents import render
from documents.kinds import KINDS, WORDINGS, title_msgid
from documents.mapping import MappingError, load_map, shipped_map
from documents.settings import DocumentSettings, SettingsError, config_values
from forms.schemas import load_schema
from workflows.catalog import shipped_catalog

ROOT = Path(__file__).resolve().parents[2]
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
APPLICANT = "吉林某化工有限公司"


def pdf_text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def embedded_fonts(pdf: bytes) -> list[str]:
    """Base names of the fonts whose program is embedded in the PDF (FontFile, FontFile2 or FontFile3)."""
    names = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            target = descendants[0].get_object() if descendants else font
            descriptor = target["/FontDescriptor"].get_object()
            if any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
                names.append(str(font["/BaseFont"]))
    return names


def context(kind: str, wording: str = "licence", settings: DocumentSettings | None = None, **over) -> dict:
    settings = settings or DocumentSettings()
    data = {
        "refusal_reasons": "项目选址位于饮用水水源保护区内，依法不予批准。", "acceptance_date": "2018-05-04",
        "decision_opinion": "同意该项目建设。", "signer": "分管厅长", "decision_date": "2018-06-25",
        "missing_items_detail": "营业执照复印件未加盖公章。", "supplement_due_date": "2018-05-12",
        "tracking_no": "EA123456789CN", "carrier": "中国邮政 EMS", "posted_date": "2018-07-02",
        "pickup_date": "2018-07-03", "picked_up_by": "张三", "identity_checked": True,
        "refusal_basis": "《行政许可法》第三十二条第一款第（二）项",
    }
    ctx = {
        "settings": settings, "kind": kind, "wording": wording,
        "title": render.translations().gettext(title_msgid(kind, wording)),
        "number": settings.number(kind, 2018, 7), "issued_at": datetime(2018, 7, 2, 2, tzinfo=UTC),
        "issued_on": date(2018, 7, 2),
        "case": {"reference": "2018M07000001", "lookup_code": "AB12CD34", "applicant_name": APPLICANT,
                 "applicant_credit_code": "91220101MA0Y4XKX8G", "applicant_contact": "王经理",
                 "applicant_phone": "0431-88886666", "applicant_address": "长春市人民大街1号", "channel": "window",
                 "delivery_mode": "post", "created_at": datetime(2018, 5, 2, 1, 30, tzinfo=UTC)},
        "matter": {"code": "m07", "name": "辐射项目行政确认", "kind": "approval",
                   "legal_basis": "《放射性污染防治法》第二十八条", "legal_basis_cited": True,
                   "limit": {"value": 20, "unit": "working_days"}, "promised": {"value": 15, "unit": "working_days"},
                   "excludes_time": True, "obligations": ["活动结束后20日内注销"]},
        "data": data, "accepted_on": "2018-05-04",
        "particulars": [("许可证编号", "吉环辐证〔2018〕123号")],
        "missing": [{"title": "营业执照", "requirement": "加盖公章", "due": "2018-05-12"},
                    {"title": "环境影响报告表", "requirement": "", "due": "2018-05-20"}],
        "served": [{"title": "准予确认决定书", "number": "吉环审字〔2018〕第7号"}],
        "received": [{"title": "申请表", "paper_form": "original", "copies": 2, "electronic": False},
                     {"title": "环境影响报告表", "paper_form": None, "copies": None, "electronic": True}],
        "clerk": "窗口 王敏",
    }
    ctx.update(over)
    return ctx


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_renders_a_pdf_with_department_number_and_applicant(kind):
    pdf = render.render_pdf(KINDS[kind].template, context(kind))
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "吉林省环境保护厅" in text
    assert DocumentSettings().number(kind, 2018, 7) in text
    assert APPLICANT in text
    assert render.translations().gettext(KINDS[kind].title) in text  # the Chinese title, not the message id
    fonts = embedded_fonts(pdf)
    assert fonts and all("WenQuanYi" in name for name in fonts), fonts
    assert "生态环境厅" not in text  # the old name of the department appears nowhere


def test_receipt_lists_the_materials_received():
    text = pdf_text(render.render_pdf("receipt.html", context("receipt")))
    assert "申请表" in text and "原件" in text and "2 份" in text and "环境影响报告表" in text and "电子件" in text
    assert "AB12CD34" in text  # the look-up code the applicant follows the case with


def test_one_time_notice_lists_every_item_with_its_due_date():
    text = pdf_text(render.render_pdf("supplement_notice.html", context("supplement_notice")))
    assert "营业执照" in text and "加盖公章" in text and "2018年5月12日" in text
    assert "环境影响报告表" in text and "2018年5月20日" in text
    assert "第三十二条第一款第（四）项" in text and "一次性告知" in text


@pytest.mark.parametrize("kind", ["non_acceptance_notice", "refusal_decision", "filing_return"])
def test_refusals_tell_how_to_appeal(kind):
    text = pdf_text(render.render_pdf(KINDS[kind].template, context(kind))).replace("\n", "")
    assert "项目选址位于饮用水水源保护区内" in text
    assert "六十日内向吉林省人民政府申请行政复议" in text
    assert "六个月内依法向人民法院提起行政诉讼" in text


@pytest.mark.parametrize("wording, title, sentence", [
    ("licence", "准予行政许可决定书", "决定准予行政许可"),
    ("approval", "准予批准决定书", "决定予以批准"),
    ("eia_approval", "环境影响评价文件审批批复", "批准该建设项目环境影响评价文件"),
    ("confirmation", "准予确认决定书", "予以确认"),
])
def test_decision_follows_the_matters_wording(wording, title, sentence):
    text = pdf_text(render.render_pdf("grant_decision.html", context("grant_decision", wording))).replace("\n", "")
    assert title in text and sentence in text
    if wording != "licence":
        assert "行政许可法》第三十八条" not in text  # only licences cite Art.38


def test_a_matter_without_a_cited_law_is_not_decided_under_it():
    matter = {**context("grant_decision")["matter"], "legal_basis": "事项范围未确认（待核安全局明确依据）",
              "legal_basis_cited": False}
    text = pdf_text(render.render_pdf("grant_decision.html",
                                      context("grant_decision", "confirmation", matter=matter))).replace("\n", "")
    assert "本机关对申请事项予以确认" in text and "根据事项范围未确认" not in text


def test_proof_of_service_by_window_carries_the_signed_for_date():
    ctx = context("proof_of_service")
    ctx["case"] = {**ctx["case"], "delivery_mode": "window"}
    text = pdf_text(render.render_pdf("proof_of_service.html", ctx))
    assert "直接送达" in text and "张三" in text and "2018年7月3日" in text and "吉环审字〔2018〕第7号" in text
    by_post = pdf_text(render.render_pdf("proof_of_service.html", context("proof_of_service")))
    assert "邮寄送达" in by_post and "EA123456789CN" in by_post and "寄回" in by_post


def test_settings_name_the_department_and_the_window():
    settings = DocumentSettings.from_config({"DEPARTMENT_NAME": "吉林省生态环境厅", "WINDOW_PHONE": "0431-12345678",
                                             "DOCUMENT_SEAL": "行政许可专用章"}, environ={})
    text = pdf_text(render.render_pdf("receipt.html", context("receipt", settings=settings)))
    assert "吉林省生态环境厅" in text and "吉林省环境保护厅" not in text
    assert "0431-12345678" in text and "行政许可专用章" in text


def test_settings_come_from_the_environment_with_the_plans_name_by_default():
    assert DocumentSettings.from_config({}, environ={}).department_name == "吉林省环境保护厅"
    env = {"DEPARTMENT_NAME": "某省环境保护厅", "DOCUMENT_NUMBER_FORMAT_RECEIPT": "收〔{year}〕{n:04d}"}
    values = config_values(env)
    assert values["DEPARTMENT_NAME"] == "某省环境保护厅"
    settings = DocumentSettings.from_config(values, environ={})
    assert settings.number("receipt", 2019, 12) == "收〔2019〕0012"
    assert settings.number("acceptance_notice", 2019, 12) == "吉环受字〔2019〕第12号"


@pytest.mark.parametrize("fmt", ["吉环受字〔{year}〕", "{year}-{m}", "{n", "{0}{n}"])
def test_a_bad_number_format_is_refused_when_the_settings_load(fmt):
    with pytest.raises(SettingsError, match="DOCUMENT_NUMBER_FORMAT_ACCEPTANCE_NOTICE"):
        DocumentSettings.from_config({"DOCUMENT_NUMBER_FORMATS": {"acceptance_notice": fmt}}, environ={})


def test_every_kind_has_a_template_a_distinct_default_format_and_a_chinese_title():
    formats = [k.number_format for k in KINDS.values()]
    assert len(set(formats)) == len(formats)
    zh = render.translations()
    for kind in KINDS.values():
        assert (render.TEMPLATES / kind.template).is_file()
        for wording in WORDINGS:
            title = zh.gettext(title_msgid(kind.code, wording))
            assert any("\u4e00" <= ch <= "\u9fff" for ch in title), (kind.code, wording, title)


# ---------------------------------------------------------------------------------------------------- mapping

def _process_elements() -> dict[str, dict[str, str]]:
    """process id → element id → tag, over workflows/*.bpmn and workflows/shared/*.bpmn."""
    found: dict[str, dict[str, str]] = {}
    for path in [*sorted((ROOT / "workflows").glob("*.bpmn")), *sorted((ROOT / "workflows/shared").glob("*.bpmn"))]:
        tree = etree.parse(str(path))
        for process in tree.iter(f"{BPMN}process"):
            found[process.get("id")] = {el.get("id"): etree.QName(el).localname for el in process.iter()
                                        if el.get("id")}
    return found


def test_mapped_elements_are_user_tasks_of_their_process():
    elements = _process_elements()
    mapping = shipped_map()
    assert mapping.tasks, "the mapping issues no document at any task"
    for (process_id, element_id), kind in mapping.tasks.items():
        assert process_id in elements, f"documents.toml names process {process_id!r} that no diagram defines"
        assert elements[process_id].get(element_id) == "userTask", (process_id, element_id, kind)


def test_every_matter_issues_its_decision_or_filing_documents():
    mapping = shipped_map()
    for matter in shipped_catalog().matters:
        kinds = {k for (p, _e), k in mapping.tasks.items() if p == matter.process_id}
        expected = ({"filing_receipt", "filing_return"} if matter.kind == "filing"
                    else {"grant_decision", "refusal_decision"})
        assert kinds == expected, matter.code
    shared = {k for (p, _e), k in mapping.tasks.items() if p in ("window_acceptance", "result_delivery")}
    assert shared == {"acceptance_notice", "non_acceptance_notice", "supplement_notice", "proof_of_service"}
    assert mapping.on_registration == "receipt"
    # the same element id means a different document in the shared acceptance and in a matter
    assert mapping.kind_for_task("window_acceptance", "issue_refusal") == "non_acceptance_notice"
    assert mapping.kind_for_task("m07_radiation_project_confirmation", "issue_refusal") == "refusal_decision"
    assert mapping.wording("m07") == "confirmation" and mapping.wording("m02") == "licence"


def test_particulars_name_fields_of_existing_forms():
    mapping = shipped_map()
    codes = {m.code for m in shipped_catalog().matters}
    for code, matter in mapping.matters.items():
        assert code in codes
        for kind, items in matter.particulars.items():
            for form, field in items:
                assert field in load_schema(form)["properties"], (code, kind, form, field)


def test_a_broken_mapping_lists_every_problem(tmp_path):
    path = tmp_path / "documents.toml"
    path.write_text('on_registration = "memo"\n[tasks.p]\na = "nothing"\n[matters.m01]\nwording = "maybe"\n'
                    'grant_decision = ["no-colon"]\n', encoding="utf-8")
    with pytest.raises(MappingError) as err:
        load_map(path)
    message = str(err.value)
    for part in ("on_registration", "tasks.p.a", "wording", "no-colon"):
        assert part in message


def test_chinese_dates():
    assert render.cn_date("2018-05-04") == "2018年5月4日"
    assert render.cn_date(datetime(2018, 5, 3, 17, 0, tzinfo=UTC)) == "2018年5月4日"  # Beijing is UTC+8
    assert render.cn_date(None) == "" and render.cn_date("") == ""
