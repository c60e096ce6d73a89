"""The audit chain verifies, and detects one altered, deleted or appended-behind-its-back row."""

from __future__ import annotations

import threading

from sqlalchemy import delete, select, update

from services import audit_log
from services.actors import Actor
from services.uow import UnitOfWork
from storage import audit
from storage.models import AuditEvent

ALICE = Actor(username="alice")


def _write_events(uow: UnitOfWork, n: int) -> None:
    for i in range(n):
        with uow:
            audit_log.record(uow.session, ALICE, "test.event", before={"i": i}, after={"i": i + 1, "名": "张三"})
            uow.commit()


def _verify(uow: UnitOfWork) -> audit.ChainCheck:
    with uow.reader() as r:
        return audit.verify(r.session)


def test_chain_verifies(uow):
    _write_events(uow, 5)
    check = _verify(uow)
    assert check.ok and check.events == 5


def test_altered_row_is_detected(uow):
    _write_events(uow, 5)
    with uow:
        uow.session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(actor="mallory"))
        uow.commit()
    check = _verify(uow)
    assert not check.ok and check.bad_seq == 3 and check.problem == "altered"


def test_altered_payload_is_detected(uow):
    _write_events(uow, 3)
    with uow:
        uow.session.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(payload={"before": None}))
        uow.commit()
    assert _verify(uow).bad_seq == 2


def test_deleted_middle_row_is_detected(uow):
    _write_events(uow, 5)
    with uow:
        uow.session.execute(delete(AuditEvent).where(AuditEvent.seq == 2))
        uow.commit()
    check = _verify(uow)
    assert not check.ok and check.bad_seq == 2 and check.problem == "missing"


def test_deleted_last_row_is_detected(uow):
    _write_events(uow, 4)
    with uow:
        uow.session.execute(delete(AuditEvent).where(AuditEvent.seq == 4))
        uow.commit()
    check = _verify(uow)
    assert not check.ok and check.problem == "missing tail"


def test_concurrent_appends_keep_one_chain(uow):
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            _write_events(UnitOfWork(uow.session_factory), 15)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    check = _verify(uow)
    assert check.ok and check.events == 60
    with uow.reader() as r:
        seqs = r.session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars().all()
    assert seqs == list(range(1, 61))
