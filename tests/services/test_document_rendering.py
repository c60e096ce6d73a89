"""Official documents are rendered after the issuing command commits (services.document_rendering), on SQLite
and PostgreSQL: the command never waits for WeasyPrint, the database is free while a PDF is made, a page that
lists documents waits for or makes what is pending, the scheduler's sweep finishes what a stopped process left,
and two renderers of one document store it once."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.pool import WorkerLost
from services import cases, document_rendering, documents
from services.actors import Actor
from storage.models import AuditEvent, Document, StoredFile
from storage.types import utcnow

WINDOW = Actor(username="window1", roles=frozenset({"window"}), lanes=frozenset({"审批办"}))
APPLICANT = cases.Applicant(name="吉林某化工有限公司", credit_code="91220000123456789K")


def _register(uow) -> int:
    return cases.register_case(uow, matter_code="m07", applicant=APPLICANT, channel="window",
                               delivery_mode="post", actor=WINDOW).case_id


def _documents(uow, case_id: int) -> list[Document]:
    with uow.reader() as r:
        rows = documents.case_documents(r.session, case_id)
        for row in rows:
            r.session.expunge(row)
        return rows


def _issued_events(uow, case_id: int) -> list[dict]:
    with uow.reader() as r:
        return [e.payload for e in r.session.execute(
            select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.action == "document.issued")
        ).scalars()]


class _Gate:
    """Holds every render until released, so a test can look at the world while a PDF is being made."""

    def __init__(self, monkeypatch) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.calls = 0
        real = document_rendering._pdf

        def held(html: str) -> bytes:
            self.calls += 1
            self.started.set()
            assert self.release.wait(30), "the test never released the render"
            return real(html)

        monkeypatch.setattr(document_rendering, "_pdf", held)


@pytest.fixture
def background(monkeypatch):
    document_rendering.configure(document_rendering.BACKGROUND)
    yield
    document_rendering.drain()
    document_rendering.configure(None)


def test_the_command_returns_before_its_pdf_and_the_database_stays_free(installed, background, monkeypatch):
    gate = _Gate(monkeypatch)
    case_id = _register(installed.uow)  # returns although the receipt's render is held
    assert gate.started.wait(10)
    [receipt] = _documents(installed.uow, case_id)
    assert receipt.kind == "receipt" and receipt.number and receipt.file_id is None and receipt.sha256 is None
    with installed.uow.reader() as r:  # the applicant is never offered a document without its PDF
        assert documents.applicant_documents(r.session, case_id) == []
    # While the PDF is being made, other commands write (on SQLite: nobody holds the write lock).
    other = _register(installed.uow)
    assert other != case_id
    gate.release.set()
    document_rendering.drain()
    rendered = {d.id: d for d in _documents(installed.uow, case_id)}[receipt.id]
    assert rendered.file_id and rendered.rendered_at is not None
    [event] = _issued_events(installed.uow, case_id)
    assert event["document"]["sha256"] == rendered.sha256 and event["document"]["number"] == receipt.number
    with installed.uow.reader() as r:
        stored = r.session.get(StoredFile, rendered.file_id)
        with r.files.open(stored.sha256) as stream:
            assert hashlib.sha256(stream.read()).hexdigest() == rendered.sha256


def test_a_page_waits_for_a_render_under_way_instead_of_making_a_second(installed, background, monkeypatch):
    gate = _Gate(monkeypatch)
    case_id = _register(installed.uow)
    assert gate.started.wait(10)
    threading.Timer(0.3, gate.release.set).start()
    document_rendering.settle(installed.uow, case_id)
    assert all(d.file_id for d in _documents(installed.uow, case_id))
    assert gate.calls == 1 and len(_issued_events(installed.uow, case_id)) == 1


def test_a_failed_render_stays_pending_and_the_next_view_or_the_sweep_makes_it(installed, monkeypatch):
    real = document_rendering._pdf

    def lost(_html: str) -> bytes:
        raise WorkerLost("crashed", "执行进程意外退出", "the worker exited")

    monkeypatch.setattr(document_rendering, "_pdf", lost)
    first, second = _register(installed.uow), _register(installed.uow)  # inline mode: render fails, logged
    assert [d.file_id for d in _documents(installed.uow, first)] == [None]
    monkeypatch.setattr(document_rendering, "_pdf", real)

    document_rendering.settle(installed.uow, first)  # a page right after the failure does not wait for it again
    assert [d.file_id for d in _documents(installed.uow, first)] == [None]
    monkeypatch.setattr(document_rendering, "RETRY_AFTER", 0.0)
    document_rendering.settle(installed.uow, first)  # a page about to list the documents
    assert all(d.file_id for d in _documents(installed.uow, first))
    assert [d.file_id for d in _documents(installed.uow, second)] == [None]

    assert document_rendering.sweep(installed.uow, now=utcnow()) == 0  # younger than the sweep's age: left
    assert document_rendering.sweep(installed.uow, now=utcnow() + timedelta(minutes=5)) == 1
    assert all(d.file_id for d in _documents(installed.uow, second))


def test_two_renderers_of_one_document_store_it_once(installed, monkeypatch):
    real = document_rendering._pdf
    monkeypatch.setattr(document_rendering, "_pdf", lambda html: (_ for _ in ()).throw(
        WorkerLost("crashed", "执行进程意外退出", "the worker exited")))
    case_id = _register(installed.uow)
    [pending] = _documents(installed.uow, case_id)
    both = threading.Barrier(2)

    def in_step(html: str) -> bytes:
        pdf = real(html)
        both.wait(10)  # both have their PDF before either stores it
        return pdf

    monkeypatch.setattr(document_rendering, "_pdf", in_step)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(document_rendering.render_one(installed.uow,
                                                                                           pending.id)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False, True]
    assert len(_issued_events(installed.uow, case_id)) == 1
    with installed.uow.reader() as r:
        stored = r.session.execute(select(StoredFile).where(StoredFile.case_id == case_id,
                                                            StoredFile.purpose == "document")).scalars().all()
    assert len(stored) == 1
