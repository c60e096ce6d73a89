"""The case file (卷宗) for staff: downloads of stored files with the right headers, the case file page
(materials by item, every completed task's answers with its form's labels, documents, previews), the whole
file as a streamed ZIP with an index, the case file beside a task's form, and tasks the user may not act on
opened read-only instead of refused."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
import secrets
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from web_support import add_task

from app import uow_for
from services import files
from services.files import Upload
from storage import audit
from storage.models import CaseMaterial, HumanTask, StoredFile

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n" + b"x" * 3000
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
DOC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + b"\xec\xa5\xc1\x00" + "公文正文".encode() * 500


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("word/document.xml", b"<w:document/>")
    return buffer.getvalue()


DOCX = _docx()
NOW = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)


def _page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _store(app, case_id: int | None, name: str, data: bytes, *, purpose: str = "material",
           item_code: str | None = None, actor: str = "window1", owner_token: str | None = None) -> StoredFile:
    with uow_for(app) as unit:
        row = files.receive(unit, Upload(io.BytesIO(data), name, "测试材料"), actor=actor, purpose=purpose,
                            case_id=case_id, item_code=item_code, owner_token=owner_token)
        unit.commit()
        return row


def _task(app, case_id: int, *, title: str, lane: str, form: str | None, state: str = "ready",
          claimed_by: int | None = None, completed_by: int | None = None, minutes: int = 0,
          answers: dict | None = None, actor: str = "eia2") -> HumanTask:
    """A task row of the case; a completed one with its task.completed event, as complete_task writes it."""
    with uow_for(app) as unit:
        at = NOW + timedelta(minutes=minutes)
        row = HumanTask(id=secrets.token_hex(8), case_id=case_id, matter_code="m01", spec_name="x", title=title,
                        lane=lane, form=form, state=state, claimed_by=claimed_by, created_at=at,
                        completed_at=at if state == "completed" else None, completed_by=completed_by)
        unit.session.add(row)
        if state == "completed":
            audit.append(unit.session, actor=actor, action="task.completed", case_id=case_id,
                         payload={"before": {}, "after": {}, "task": row.id, "title": title,
                                  "form": answers or {}})
        unit.commit()
        return row


def _material(app, case_id: int, item: str, stored: StoredFile | None, *, stage: str = "application",
              channel: str = "window", paper_form: str | None = None, copies: int | None = None,
              label: str | None = None, by: str = "window1") -> None:
    with uow_for(app) as unit:
        unit.session.add(CaseMaterial(case_id=case_id, item_code=item, label=label,
                                      file_id=stored.id if stored else None, stage=stage, channel=channel,
                                      paper_form=paper_form, copies=copies, received_by=by, received_at=NOW))
        unit.commit()


@pytest.fixture
def world(app):
    """One EIA case: materials received at the window, by post and online; an expert review and an intake
    completed; the review (环评处) claimed by eia1; a task of 审批办 open; one claimed by eia2; one cancelled."""
    ids = app.user_ids
    review = add_task(app, lane="环评处", form="review_opinion.json", title="审查", claimed_by=ids["eia1"])
    case_id = review.case_id
    f = {
        "form": _store(app, case_id, "建设项目环评报批申请书.pdf", PDF, item_code="application_form"),
        "report": _store(app, case_id, "报告书正文.docx", DOCX, item_code="eia_document", actor="applicant:91"),
        "photo": _store(app, case_id, "现场照片.png", PNG, item_code="other"),
        "supplement": _store(app, case_id, "补正说明.doc", DOC, purpose="supplement", item_code="eia_document"),
        "expert": _store(app, case_id, "专家评审意见.pdf", PDF + b"expert", purpose="attachment",
                         item_code="expert_report_file", actor="eia2"),
        "notice": _store(app, case_id, "受理通知书.pdf", PDF + b"notice", purpose="document",
                         item_code="acceptance_notice", actor="window1"),
        "orphan": _store(app, case_id, "换掉的文件.pdf", PDF + b"orphan", purpose="attachment", actor="eia1"),
    }
    _material(app, case_id, "application_form", f["form"], paper_form="original", copies=2)
    _material(app, case_id, "eia_document", f["report"], channel="online", by="applicant:91220101MA0Y4XKX8G")
    _material(app, case_id, "eia_document", f["supplement"], stage="supplement", channel="post")
    _material(app, case_id, "project_approval", None, paper_form="copy", copies=1)
    _material(app, case_id, "other", f["photo"], label="项目现场照片")
    intake = _task(app, case_id, title="材料审查", lane="审批办", form="materials_check.json", state="completed",
                   completed_by=ids["window1"], actor="window1",
                   answers={"received_date": "2026-03-02", "intake_result": "complete"})
    expert = _task(app, case_id, title="技术评估/专家评审", lane="环评处", form="expert_review.json",
                   state="completed", completed_by=ids["eia2"], minutes=5,
                   answers={"expert_meeting_date": "2026-03-09", "expert_opinion": "同意该项目建设，\n需补充噪声监测。",
                            "expert_conclusion": "pass",
                            "expert_report_file": files.ref(f["expert"])})
    window_open = _task(app, case_id, title="受理公示", lane="审批办", form="public_notice.json")
    claimed = _task(app, case_id, title="拟审批公示", lane="环评处", form="public_notice.json",
                    claimed_by=ids["eia2"])
    cancelled = _task(app, case_id, title="组织听证", lane="环评处", form="hearing_record.json", state="cancelled")
    return {"case_id": case_id, "files": f, "review": review, "intake": intake, "expert": expert,
            "window_open": window_open, "claimed": claimed, "cancelled": cancelled}


# ---------------------------------------------------------------- downloads


def test_download_streams_the_bytes_with_safe_headers_and_the_utf8_name(world, login_as):
    client = login_as("eia1")
    stored = world["files"]["form"]
    response = client.get(f"/files/{stored.id}")
    assert response.status_code == 200
    assert response.data == PDF
    assert response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('建设项目环评报批申请书.pdf', safe='')}" in disposition
    assert 'filename="file.pdf"' in disposition  # an ASCII fallback that is still a name
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "private" in response.headers["Cache-Control"]
    assert response.headers["ETag"].strip('"') == stored.sha256

    # a PDF or an image may be shown inline (framed by our own pages only); other types never
    inline = client.get(f"/files/{stored.id}?inline=1")
    assert inline.headers["Content-Disposition"].startswith("inline;")
    assert "frame-ancestors 'self'" in inline.headers["Content-Security-Policy"]
    assert inline.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert client.get(f"/files/{world['files']['photo'].id}?inline=1").headers[
        "Content-Disposition"].startswith("inline;")
    docx = client.get(f"/files/{world['files']['report'].id}?inline=1")
    assert docx.headers["Content-Disposition"].startswith("attachment;")
    assert docx.mimetype == files.file_types.DOCX.media_type and docx.data == DOCX


def test_download_answers_ranges_and_conditional_requests(world, login_as):
    client = login_as("eia1")
    stored = world["files"]["form"]
    part = client.get(f"/files/{stored.id}", headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.data == PDF[:8]
    assert part.headers["Content-Range"] == f"bytes 0-7/{len(PDF)}"
    assert client.get(f"/files/{stored.id}", headers={"If-None-Match": f'"{stored.sha256}"'}).status_code == 304


def test_download_is_refused_to_who_may_not_see_the_case(app, world, client, login_as):
    file_id = world["files"]["form"].id
    anonymous = client.get(f"/files/{file_id}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    other_unit = login_as("soil1")  # 土壤处 has no task on this EIA case
    assert other_unit.get(f"/files/{file_id}").status_code == 403
    assert other_unit.get(f"/cases/{world['case_id']}/file").status_code == 403
    assert other_unit.get(f"/cases/{world['case_id']}/file.zip").status_code == 403
    assert other_unit.get(f"/tasks/{world['expert'].id}").status_code == 403
    client.post("/logout")
    designer = login_as("designer1")
    assert designer.get(f"/files/{file_id}").status_code == 403


def test_unknown_ids_and_files_without_a_case_are_not_found(app, world, login_as):
    loose = _store(app, None, "申请前上传.pdf", PDF + b"loose", owner_token="t" * 32)
    client = login_as("supervisor1")  # sees every case
    assert client.get(f"/files/{world['files']['form'].id}").status_code == 200
    assert client.get(f"/files/{loose.id}").status_code == 404
    assert client.get(f"/files/{'0' * 32}").status_code == 404
    assert client.get("/files/not-an-id").status_code == 404


# ---------------------------------------------------------------- the case file page


def test_the_case_file_lists_materials_answers_documents_with_labels(world, login_as):
    client = login_as("eia1")
    case_page = _page(client.get(f"/cases/{world['case_id']}"))
    assert f'href="/cases/{world["case_id"]}/file"' in case_page
    response = client.get(f"/cases/{world['case_id']}/file")
    assert response.status_code == 200
    page = _page(response)
    f = world["files"]

    # materials by the matter's catalog items, received or missing, with who, when and how
    assert "建设项目环境影响评价文件报批申请书" in page and "环境影响报告书（报告表）全本" in page
    rows = dict(re.findall(r'data-item="([a-z_]+)" data-received="(yes|no)"', page))
    assert rows["application_form"] == "yes" and rows["eia_document"] == "yes"
    assert rows["project_approval"] == "yes"  # on paper only
    assert rows["eia_document_public"] == "no"
    assert "缺少" in page and "必交材料" in page
    assert "窗口，随申请提交，纸质原件 × 2" in page
    assert "网上，随申请提交" in page and "邮寄，补正" in page
    assert "纸质材料，无电子文件" in page and "窗口，随申请提交，纸质复印件 × 1" in page
    assert "项目现场照片" in page  # an "other" material by its own name
    assert "窗口 王敏" in page and "申请人" in page  # who: display names, the applicant as such
    assert "2026-03-10 10:30" in page  # when, in Beijing time

    # every completed task with its form's labels and choice titles
    assert "技术评估/专家评审" in page and "评审意见" in page and "同意该项目建设，\n需补充噪声监测。" in page
    assert "评审结论" in page and "通过" in page and ">pass<" not in page
    assert "审查结果" in page and "材料齐全、符合法定形式，予以受理" in page
    assert "评审日期" in page and "2026-03-09" in page
    # files by name, linked for download; documents; the unreferenced upload is not hidden
    for key in ("form", "report", "photo", "supplement", "expert", "notice", "orphan"):
        assert f'href="/files/{f[key].id}"' in page, key
        assert f[key].original_name in page
    assert "制发文书" in page and "受理通知书" in page
    # inline previews of PDFs and images only
    assert f'<iframe src="/files/{f["form"].id}?inline=1"' in page
    assert f'<img src="/files/{f["photo"].id}?inline=1"' in page
    assert f'src="/files/{f["report"].id}?inline=1"' not in page
    assert f'href="/cases/{world["case_id"]}/file.zip"' in page


def test_no_raw_json_or_ids_on_the_pages(world, login_as):
    client = login_as("eia1")
    f = world["files"]
    for url in (f"/cases/{world['case_id']}/file", f"/tasks/{world['review'].id}",
                f"/tasks/{world['expert'].id}"):
        page = _page(client.get(url))
        text = re.sub(r'(href|src)="[^"]*"', "", page)  # ids may only be in links
        assert "file_id" not in text and "sha256" not in text and '{"' not in text and "{'" not in text, url
        for stored in f.values():
            assert stored.id not in text and stored.sha256 not in text, url
        assert "expert_conclusion" not in re.sub(r'data-field="[^"]*"', "", text), url


def test_the_case_file_in_english_uses_the_english_titles(world, login_as):
    client = login_as("eia1")
    client.post("/language", data={"lang": "en"})
    page = _page(client.get(f"/cases/{world['case_id']}/file"))
    assert "Application for approval of the EIA document" in page
    assert "Handling record" in page and "at the window, with the application, paper original × 2" in page


# ---------------------------------------------------------------- the ZIP


def test_the_zip_holds_every_file_and_an_index_whose_hashes_match(app, world, login_as):
    client = login_as("eia1")
    response = client.get(f"/cases/{world['case_id']}/file.zip")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "application/zip"
    assert quote("卷宗", safe="") in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[:2] == ["index.html", "index.csv"]
    members = {name: archive.read(name) for name in names[2:]}
    # every stored file of the case, once each
    with uow_for(app, write=False) as r:
        stored = r.session.query(StoredFile).filter_by(case_id=world["case_id"]).all()
    assert sorted(hashlib.sha256(d).hexdigest() for d in members.values()) == sorted(s.sha256 for s in stored)
    assert len(members) == len(stored) == 7
    assert any(n.startswith("01 申请材料/") and n.endswith("/建设项目环评报批申请书.pdf") for n in members)
    assert any(n.startswith("02 办理记录/") and n.endswith("/专家评审意见.pdf") for n in members)
    assert any(n.startswith("03 制发文书/") for n in members)
    # already compressed types are stored as they are, the rest deflated
    kinds = {info.filename.rsplit(".", 1)[-1]: info.compress_type for info in archive.infolist()[2:]}
    assert kinds["pdf"] == zipfile.ZIP_STORED and kinds["docx"] == zipfile.ZIP_STORED
    assert kinds["doc"] == zipfile.ZIP_DEFLATED

    # the index (Chinese): item, file name, who, when, how, sha256 — and each sha256 matches its member
    rows = list(csv.reader(io.StringIO(archive.read("index.csv").decode("utf-8-sig"))))
    assert rows[0] == ["序号", "类别", "材料或事项", "文件名", "压缩包内路径", "提交或办理人", "时间", "方式",
                       "大小（字节）", "SHA-256 校验值"]
    with_files = [row for row in rows[1:] if row[9]]
    assert len(with_files) >= 7
    for row in with_files:
        assert hashlib.sha256(members[row[4]]).hexdigest() == row[9], row
    paper = [row for row in rows[1:] if not row[9]]
    assert paper and paper[0][3] == "（仅纸质，无电子文件）"
    report = next(row for row in rows[1:] if row[3] == "报告书正文.docx")
    assert report[1] == "申请材料" and report[2] == "环境影响报告书（报告表）全本"
    assert report[5] == "申请人" and report[6] == "2026-03-10 10:30" and report[7] == "网上，随申请提交"
    index = archive.read("index.html").decode("utf-8")
    assert "卷内目录" in index and "同意该项目建设" in index and "通过" in index
    assert f'href="{quote(report[4])}"' in index


def test_the_zip_index_is_chinese_whatever_the_users_language(world, login_as):
    client = login_as("eia1")
    client.post("/language", data={"lang": "en"})
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/cases/{world['case_id']}/file.zip").data))
    header = archive.read("index.csv").decode("utf-8-sig").splitlines()[0]
    assert header.startswith("序号,类别")


# ---------------------------------------------------------------- task pages


def test_the_reviewer_sees_the_expert_opinion_and_materials_beside_the_form(world, login_as):
    client = login_as("eia1")
    page = _page(client.get(f"/tasks/{world['review'].id}"))
    assert 'name="review_opinion"' in page  # the form is there: eia1 claimed the review
    panel = page[page.index('id="case-file-panel"'):]
    assert "同意该项目建设" in panel and "通过" in panel and "专家评审意见.pdf" in panel
    assert "材料齐全、符合法定形式，予以受理" in panel
    assert "建设项目环境影响评价文件报批申请书" in panel and "缺少 " in panel
    assert f'href="/cases/{world["case_id"]}/file"' in panel


@pytest.mark.parametrize(
    ("who", "key", "reason"),
    [
        ("eia1", "window_open", "该任务由审批办办理。"),  # another unit's task
        ("supervisor1", "review", "您的角色只能查阅案件"),  # a supervisor
        ("eia1", "claimed", "该任务已由 环评处 赵丽 认领"),  # claimed by someone else
        ("eia1", "cancelled", "该任务已取消"),
        ("window1", "review", "该任务由环评处办理。"),  # the window sees every case
    ],
)
def test_a_task_the_user_may_not_act_on_opens_read_only(world, login_as, who, key, reason):
    client = login_as(who)
    task = world[key]
    response = client.get(f"/tasks/{task.id}")
    assert response.status_code == 200
    page = _page(response)
    assert reason in page
    assert 'name="expected_version"' not in page and 'class="task-form"' not in page
    assert 'id="case-file-panel"' in page
    refused = client.post(f"/tasks/{task.id}", data={"notice_url": "https://example.org"})
    assert refused.status_code == 403 and reason in _page(refused)
    with uow_for(client.application, write=False) as r:
        assert r.session.get(HumanTask, task.id).state == task.state  # nothing changed


def test_a_completed_task_shows_its_answers_not_just_that_it_ended(world, login_as):
    client = login_as("eia1")
    page = _page(client.get(f"/tasks/{world['expert'].id}"))
    assert "该任务已办结" in page
    answers = page[page.index('id="task-answers"'):page.index('id="case-file-panel"')]
    assert "评审意见" in answers and "同意该项目建设，\n需补充噪声监测。" in answers
    assert "评审结论" in answers and "通过" in answers
    assert f'href="/files/{world["files"]["expert"].id}"' in answers and "专家评审意见.pdf" in answers
    assert 'name="expert_opinion"' not in page
    # a completed task of another unit reads the same
    page = _page(client.get(f"/tasks/{world['intake'].id}"))
    assert "材料齐全、符合法定形式，予以受理" in page and "2026-03-02" in page


def test_every_task_link_on_the_case_page_opens(world, login_as):
    for who in ("eia1", "eia_lead", "window1", "supervisor1"):
        client = login_as(who)
        page = client.get(f"/cases/{world['case_id']}").get_data(as_text=True)
        links = set(re.findall(r'href="(/tasks/[0-9a-f]+)"', page))
        assert len(links) == 6
        for link in links:
            assert client.get(link).status_code == 200, (who, link)
        client.post("/logout")


# ---------------------------------------------------------------- with the real engine


@pytest.fixture
def eia(app):
    from app import workflows_dir
    from services import definitions
    from services.actors import Actor

    diagram = workflows_dir(app) / "m01_eia_approval.bpmn"
    definitions.deploy_bundle(uow_for(app), definitions.bundle_for(diagram), diagram.name, Actor.system("test"),
                              process_id="m01_eia_approval")
    return app


def _ready(app, case_id: int) -> HumanTask:
    with uow_for(app, write=False) as r:
        return r.session.query(HumanTask).filter_by(case_id=case_id, state="ready").one()


def _work(client, task: HumanTask, data: dict) -> None:
    assert client.post(f"/tasks/{task.id}/claim").status_code == 302
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    version = page.split('name="expected_version" type="hidden" value="')[1].split('"')[0]
    response = client.post(f"/tasks/{task.id}", data={**data, "expected_version": version},
                           content_type="multipart/form-data")
    assert response.status_code == 302, _page(response)[-3000:]


def test_answers_completed_through_the_engine_show_in_the_case_file_and_the_zip(eia, client):
    from web_support import PASSWORD, login

    login(client, "window1", PASSWORD)
    response = client.post("/cases/new", data={
        "matter": "m01", "report_type": "report", "applicant_name": "吉林某化工有限公司",
        "applicant_credit_code": "91220101MA0Y4XKX8G", "applicant_contact": "王经理",
        "applicant_phone": "0431-88886666", "applicant_address": "长春市人民大街 1 号",
        "channel": "window", "delivery_mode": "post"})
    case_id = int(response.headers["Location"].split("/")[2])
    today = datetime.now(UTC).date().isoformat()
    _work(client, _ready(eia, case_id), {"received_date": today, "intake_result": "incomplete"})
    _work(client, _ready(eia, case_id), {"missing_items": ["eia_document", "public_participation"],
                                         "missing_items_detail": "报告书缺少公众参与说明。", "notice_date": today})
    scan = PDF + b"supplement-scan"
    _work(client, _ready(eia, case_id), {
        "supplement_outcome": "submitted", "supplement_received_date": today, "supplement_channel": "post",
        "supplement_files": [(io.BytesIO(scan), "补正材料扫描件.pdf"), (io.BytesIO(PNG), "补充照片.png")]})
    intake = _ready(eia, case_id)

    page = _page(client.get(f"/cases/{case_id}/file"))
    assert "需补正的材料（按本事项申请材料目录全部勾选）" in page and "公众参与说明" in page
    assert ">public_participation" not in page and "、public_participation" not in page  # names, not codes
    assert "审查结果" in page and "材料不齐全或不符合法定形式，一次性告知补正" in page
    assert "补正材料" in page and "补正材料扫描件.pdf" in page and "补充照片.png" in page
    # the next task shows what came before, beside its form
    task_page = _page(client.get(f"/tasks/{intake.id}"))
    panel = task_page[task_page.index('id="case-file-panel"'):]
    assert "报告书缺少公众参与说明。" in panel and "补正材料扫描件.pdf" in panel

    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/cases/{case_id}/file.zip").data))
    digests = {hashlib.sha256(archive.read(n)).hexdigest() for n in archive.namelist()[2:]}
    assert hashlib.sha256(scan).hexdigest() in digests and hashlib.sha256(PNG).hexdigest() in digests


def test_the_leader_sees_the_units_recommendation_and_the_materials(app, world, login_as):
    from web_support import _password_hash

    from storage.models import User, UserRole

    with uow_for(app) as unit:
        unit.session.add(User(username="leader1", display_name="厅领导 张副厅长", unit_code="leadership",
                              password_hash=_password_hash(), roles=[UserRole(role="handler"), UserRole(role="lead")]))
        unit.commit()
    case_id = world["case_id"]
    review = _task(app, case_id, title="审查", lane="环评处", form="review_opinion.json", state="completed",
                   completed_by=app.user_ids["eia1"], minutes=10, actor="eia1",
                   answers={"review_opinion": "材料齐全，符合审批条件。", "recommendation": "approve",
                            "reviewer": "李强", "review_date": "2026-03-10"})
    _task(app, case_id, title="拟审批公示", lane="环评处", form="public_notice.json", state="completed",
          completed_by=app.user_ids["eia1"], minutes=20, actor="eia1",
          answers={"notice_url": "https://sthjt.jl.gov.cn/gs/1", "notice_start": "2026-03-11",
                   "notice_end": "2026-03-17"})
    decide = _task(app, case_id, title="审批决定", lane="厅领导", form="decision.json", minutes=30)
    client = login_as("leader1")
    page = _page(client.get(f"/tasks/{decide.id}"))
    assert "请先认领该任务" in page  # the leader may work on it, once claimed
    panel = page[page.index('id="case-file-panel"'):]
    tag = re.search(rf'<details class="cf-task" data-task="{review.id}"([^>]*)>', panel)
    assert tag and "open" in tag.group(1)  # shown, not folded, though not the latest
    recommendation = panel[tag.end():]
    assert "拟办意见" in recommendation and "建议准予" in recommendation
    assert "材料齐全，符合审批条件。" in recommendation
    assert "建设项目环境影响评价文件报批申请书" in panel and "建设项目环评报批申请书.pdf" in panel
    assert panel.index("拟审批公示") < panel.index("材料齐全，符合审批条件。")  # newest first
