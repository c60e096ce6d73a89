"""Official documents issued by the commands, on SQLite and PostgreSQL: the right document at the right step
(an approval path of m07, filing paths of m08/m11), every one a PDF in the file store whose sha256 is in the
audit event of the command that issued it; numbers per kind and year, allocated atomically (N parallel
issuances → N distinct consecutive numbers), in the configured format; the signed-for date of a proof of
service sent by post."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from datetime import UTC, date, datetime

import pytest
from driver import SCENARIOS
from pypdf import PdfReader
from service_driver import WINDOW, run_scenario
from sqlalchemy import select

from documents.settings import DocumentSettings
from engine.clock import frozen_time
from services import cases, documents, files
from services.actors import Actor
from services.errors import Conflict, Forbidden, InvalidInput
from storage.models import AuditEvent, Document, DocumentSequence, HumanTask, StoredFile
from workflows.catalog import shipped_catalog

DEPARTMENT = "吉林省环境保护厅"
APPLICANT = "吉林某化工有限公司"
BY_ID = {s.id: s for s in SCENARIOS}


def _documents(uow, case_id: int) -> list[Document]:
    with uow.reader() as r:
        rows = r.session.execute(select(Document).where(Document.case_id == case_id).order_by(Document.id))
        return [_detached(r.session, d) for d in rows.scalars()]


def _detached(session, row):
    session.expunge(row)
    return row


def _issued_at_steps(uow, case_id: int) -> list[tuple[str, str | None]]:
    """(kind, element id of the task that issued it; None for registration), in issuing order."""
    out = []
    with uow.reader() as r:
        for doc in r.session.execute(select(Document).where(Document.case_id == case_id).order_by(Document.id)
                                     ).scalars():
            spec = r.session.get(HumanTask, doc.task_id).spec_name if doc.task_id else None
            out.append((doc.kind, spec))
    return out


def _pdf_text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _embedded_cjk_font(pdf: bytes) -> bool:
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            descriptor = descendant["/FontDescriptor"].get_object()
            if "WenQuanYi" in str(font["/BaseFont"]) and "/FontFile2" in descriptor:
                return True
    return False


def _check_document(uow, doc: Document, applicant: str = APPLICANT) -> str:
    """The stored bytes: a PDF with the department, the number and the applicant; the CJK font embedded;
    its sha256 equal to the row's, the file record's and the one in the `document.issued` event that followed the
    issuing command's."""
    with uow.reader() as r:
        with files.open_file(r, doc.file_id) as stream:
            pdf = stream.read()
        stored = r.session.get(StoredFile, doc.file_id)
        events = r.session.execute(select(AuditEvent).where(AuditEvent.case_id == doc.case_id)
                                   .order_by(AuditEvent.seq)).scalars().all()
    digest = hashlib.sha256(pdf).hexdigest()
    assert digest == doc.sha256 == stored.sha256
    assert stored.purpose == "document" and stored.media_type == "application/pdf" and stored.case_id == doc.case_id
    if doc.task_id is None:
        issuing = [e for e in events if e.action == "case.registered"]
    else:
        issuing = [e for e in events if e.action == "task.completed" and e.payload.get("task") == doc.task_id]
    assert len(issuing) == 1
    entries = [d for d in issuing[0].payload.get("documents", []) if d["document_id"] == doc.id]
    assert entries == [{"document_id": doc.id, "kind": doc.kind, "number": doc.number}]
    # The PDF, made after that command committed, is recorded by its own event with the hash of the stored bytes.
    [rendered] = [e for e in events if e.action == "document.issued"
                  and e.payload["document"]["document_id"] == doc.id]
    assert rendered.seq > issuing[0].seq
    assert rendered.payload["document"] == {"document_id": doc.id, "kind": doc.kind, "number": doc.number,
                                            "file_id": doc.file_id, "sha256": digest, "size": len(pdf)}
    assert doc.file_id is not None and doc.rendered_at is not None
    text = _pdf_text(pdf)
    assert DEPARTMENT in text and doc.number in text and applicant in text, (doc.kind, text[:400])
    assert doc.title in text
    assert _embedded_cjk_font(pdf)
    return text


def test_m07_approval_path_issues_each_document_at_its_step(installed):
    run = run_scenario(installed.uow, BY_ID["m07_radiation_project_confirmation:confirm_online_post"],
                       installed.people)
    assert _issued_at_steps(installed.uow, run.case_id) == [
        ("receipt", None), ("acceptance_notice", "issue_acceptance"), ("grant_decision", "issue_approval"),
        ("proof_of_service", "deliver_post"),
    ]
    docs = {d.kind: d for d in _documents(installed.uow, run.case_id)}
    texts = {kind: _check_document(installed.uow, doc) for kind, doc in docs.items()}
    assert docs["grant_decision"].title == "准予确认决定书"  # m07 is a confirmation, not a licence
    assert "予以确认" in texts["grant_decision"]
    assert run.lookup_code in texts["receipt"]
    assert "受理" in texts["acceptance_notice"] and "20 个工作日" in texts["acceptance_notice"]
    # the proof of service names what it served; by post the signed-for date waits for the signed return
    assert docs["grant_decision"].number in texts["proof_of_service"] and "EA123456789CN" in texts["proof_of_service"]
    assert docs["grant_decision"].service_proof_id == docs["proof_of_service"].id
    assert docs["proof_of_service"].served_on is None and docs["grant_decision"].served_on is None
    assert [d.addressed_to_applicant for d in docs.values()] == [True, True, True, False]
    year = 2018  # the scenario's clock
    assert all(d.year == year and d.seq == 1 for d in docs.values())
    assert docs["acceptance_notice"].number == f"吉环受字〔{year}〕第1号"


def test_refusals_at_acceptance_and_at_decision(installed):
    refused = run_scenario(installed.uow, BY_ID["m07_radiation_project_confirmation:not_accepted"], installed.people)
    # issue_refusal of the shared acceptance: 不予受理, not the matter's 不予确认
    assert _issued_at_steps(installed.uow, refused.case_id) == [("receipt", None),
                                                                 ("non_acceptance_notice", "issue_refusal")]
    [_, notice] = _documents(installed.uow, refused.case_id)
    text = _check_document(installed.uow, notice).replace("\n", "")
    assert "不予受理" in text and "不属于本部门职权范围" in text and "六十日内" in text and "六个月内" in text

    decided = run_scenario(installed.uow, BY_ID["m07_radiation_project_confirmation:refuse_window_window"],
                           installed.people)
    assert _issued_at_steps(installed.uow, decided.case_id) == [
        ("receipt", None), ("acceptance_notice", "issue_acceptance"), ("refusal_decision", "issue_refusal"),
        ("proof_of_service", "deliver_window"),
    ]
    docs = {d.kind: d for d in _documents(installed.uow, decided.case_id)}
    text = _check_document(installed.uow, docs["refusal_decision"]).replace("\n", "")
    assert docs["refusal_decision"].title == "不予确认决定书"
    assert "饮用水水源保护区" in text and "行政复议" in text and "行政诉讼" in text
    proof = _check_document(installed.uow, docs["proof_of_service"])
    # at the window the applicant signs for it there and then: the pick-up date is the date of service
    assert "张三" in proof and "2018年7月3日" in proof
    assert docs["proof_of_service"].served_on == docs["refusal_decision"].served_on == date(2018, 7, 3)
    # the same kind in the same year continues its sequence across cases
    assert docs["receipt"].seq == 2 and docs["acceptance_notice"].seq == 1


def test_one_time_notice_lists_the_missing_items(installed):
    run = run_scenario(installed.uow, BY_ID["m02_hazardous_waste_permit:supplement_post_grant"], installed.people)
    steps = _issued_at_steps(installed.uow, run.case_id)
    assert steps[:3] == [("receipt", None), ("supplement_notice", "notify_supplement"),
                         ("acceptance_notice", "issue_acceptance")]
    docs = {d.kind: d for d in _documents(installed.uow, run.case_id)}
    text = _check_document(installed.uow, docs["supplement_notice"])
    # the scenario's notice: the matter's own item (by its catalog name) and the free-text "other"
    application_form = shipped_catalog().matter("m02").material("application_form").name_zh
    for item in (application_form, "其他（见补正要求）", "缺少授权委托书", "2018年5月12日"):
        assert item in text
    grant = _check_document(installed.uow, docs["grant_decision"])
    assert docs["grant_decision"].title == "准予行政许可决定书" and "第三十八条第一款" in grant
    assert "吉环辐证〔2018〕88号" in grant  # the licence's own number (a particular of m02)


@pytest.mark.parametrize("scenario, expected", [
    ("m11_eia_post_assessment_filing:filed_online",
     [("receipt", None), ("filing_receipt", "issue_receipt")]),  # delivered online: no proof of service
    ("m08_radioactive_source_offsite_filing:returned_by_check",
     [("receipt", None), ("filing_return", "issue_return"), ("proof_of_service", "deliver_window")]),
    ("m08_radioactive_source_offsite_filing:filed_cancelled_on_time",
     [("receipt", None), ("filing_receipt", "issue_receipt")]),
])
def test_filing_paths_issue_receipt_or_return(installed, scenario, expected):
    run = run_scenario(installed.uow, BY_ID[scenario], installed.people)
    assert _issued_at_steps(installed.uow, run.case_id) == expected
    for doc in _documents(installed.uow, run.case_id):
        text = _check_document(installed.uow, doc)
        if doc.kind == "filing_receipt" and scenario.startswith("m08"):
            assert "备案编号" in text and "活动结束后20日内注销" in text and "Ir-192" in text
        if doc.kind == "filing_return":
            assert "退回" in text and "重新报送" in text


# ---------------------------------------------------------------------------------------------------- numbering

def _allocate(uow, kind: str, year: int) -> int:
    with uow:
        n = documents.allocate_number(uow.session, kind, year)
        uow.commit()
        return n


def test_numbers_run_per_kind_and_year(uow):
    assert [_allocate(uow, "receipt", 2018) for _ in range(3)] == [1, 2, 3]
    assert _allocate(uow, "receipt", 2019) == 1
    assert _allocate(uow, "acceptance_notice", 2018) == 1
    assert _allocate(uow, "receipt", 2018) == 4
    with uow.reader() as r:
        rows = {(s.kind, s.year): s.next_value for s in r.session.execute(select(DocumentSequence)).scalars()}
    assert rows == {("receipt", 2018): 5, ("receipt", 2019): 2, ("acceptance_notice", 2018): 2}
    with pytest.raises(ValueError):
        _allocate(uow, "memo", 2018)


def test_a_rolled_back_command_gives_its_number_back(uow):
    assert _allocate(uow, "filing_receipt", 2018) == 1
    with pytest.raises(RuntimeError), uow:
        assert documents.allocate_number(uow.session, "filing_receipt", 2018) == 2
        raise RuntimeError("the command failed after taking a number")
    assert _allocate(uow, "filing_receipt", 2018) == 2


def test_parallel_allocations_get_distinct_consecutive_numbers(uow):
    """Each issuer holds its number a while before committing (as rendering does): the others must queue."""
    workers, got, errors = 12, [], []
    barrier = threading.Barrier(workers)
    lock = threading.Lock()

    def issue() -> None:
        try:
            barrier.wait()
            with uow.__class__(uow.session_factory, files=uow.files) as mine:
                n = documents.allocate_number(mine.session, "grant_decision", 2018)
                time.sleep(0.05)
                mine.commit()
            with lock:
                got.append(n)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=issue) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sorted(got) == list(range(1, workers + 1))


def test_parallel_registrations_issue_receipts_with_distinct_consecutive_numbers(installed):
    workers, got, errors = 6, [], []
    barrier = threading.Barrier(workers)
    moment = datetime(2018, 5, 2, 1, 0, tzinfo=UTC)

    def register(i: int) -> None:
        try:
            barrier.wait()
            with frozen_time(moment):
                reg = cases.register_case(installed.uow.__class__(installed.uow.session_factory,
                                                                  files=installed.uow.files),
                                          matter_code="m07", applicant=cases.Applicant(f"并发申请单位{i}"),
                                          channel="window", delivery_mode="post", actor=WINDOW)
            got.append(reg.case_id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    with installed.uow.reader() as r:
        receipts = r.session.execute(select(Document).where(Document.kind == "receipt")).scalars().all()
    assert sorted(d.seq for d in receipts) == list(range(1, workers + 1))
    assert len({d.number for d in receipts}) == workers and {d.case_id for d in receipts} == set(got)


def test_the_number_format_comes_from_the_settings(installed):
    documents.configure(DocumentSettings(
        department_name="测试省环境保护厅",
        number_formats={**DocumentSettings().number_formats, "receipt": "测收〔{year}〕{n:03d}号"},
    ))
    try:
        with frozen_time(datetime(2019, 3, 1, 2, 0, tzinfo=UTC)):
            reg = cases.register_case(installed.uow, matter_code="m07", applicant=cases.Applicant(APPLICANT),
                                      channel="window", delivery_mode="post", actor=WINDOW)
    finally:
        documents.configure(None)
    [receipt] = _documents(installed.uow, reg.case_id)
    assert receipt.number == "测收〔2019〕001号" and receipt.year == 2019
    with installed.uow.reader() as r, files.open_file(r, receipt.file_id) as stream:
        text = _pdf_text(stream.read())
    assert "测收〔2019〕001号" in text and "测试省环境保护厅" in text and DEPARTMENT not in text


# ---------------------------------------------------------------------------------------------------- delivery

def test_the_signed_for_date_of_a_post_delivery(installed):
    run = run_scenario(installed.uow, BY_ID["m07_radiation_project_confirmation:confirm_online_post"],
                       installed.people)
    docs = {d.kind: d for d in _documents(installed.uow, run.case_id)}
    proof = docs["proof_of_service"]
    clerk = Actor(username="window-clerk", roles=frozenset({"window"}))
    with pytest.raises(Forbidden):
        documents.record_signed_for(installed.uow, proof.id, date(2018, 7, 4), Actor("eia1", roles=frozenset()))
    with pytest.raises(InvalidInput):  # before the documents were sent
        documents.record_signed_for(installed.uow, proof.id, date(2018, 4, 1), clerk)
    with pytest.raises(InvalidInput):  # in the future
        documents.record_signed_for(installed.uow, proof.id, date(2999, 1, 1), clerk)
    documents.record_signed_for(installed.uow, proof.id, date(2018, 7, 4), clerk)
    after = {d.kind: d for d in _documents(installed.uow, run.case_id)}
    assert after["proof_of_service"].served_on == after["grant_decision"].served_on == date(2018, 7, 4)
    assert after["acceptance_notice"].served_on is None  # not served by this proof
    with pytest.raises(Conflict):
        documents.record_signed_for(installed.uow, proof.id, date(2018, 7, 5), clerk)
    with installed.uow.reader() as r:
        event = r.session.execute(select(AuditEvent).where(AuditEvent.action == "document.signed_for")
                                  ).scalar_one()
    assert event.payload["after"] == {"served_on": "2018-07-04"} and event.payload["served"] == [
        after["grant_decision"].number]


def test_the_first_download_is_the_date_of_electronic_service(installed):
    run = run_scenario(installed.uow, BY_ID["m11_eia_post_assessment_filing:filed_online"], installed.people)
    docs = {d.kind: d for d in _documents(installed.uow, run.case_id)}
    first = datetime(2018, 5, 10, 17, 30, tzinfo=UTC)  # 01:30 on 11 May in Beijing
    with installed.uow as u:
        assert [d.kind for d in documents.applicant_documents(u.session, run.case_id)] == ["receipt", "filing_receipt"]
        assert documents.record_first_download(u.session, docs["filing_receipt"].id, first) is True
        assert documents.record_first_download(u.session, docs["filing_receipt"].id, first.replace(day=12)) is False
        u.commit()
    after = {d.kind: d for d in _documents(installed.uow, run.case_id)}
    assert after["filing_receipt"].first_downloaded_at == first
    assert after["filing_receipt"].served_on == date(2018, 5, 11)
    assert after["receipt"].first_downloaded_at is None
