"""Failure counters in the database (services.throttle): windows, locks, hashing, purging, and no count lost
when processes count at the same moment — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from services import throttle
from services.throttle import Rule
from services.uow import UnitOfWork
from storage.models import Throttle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULE = Rule("test", window=timedelta(minutes=15), free=2, lock_after=4, delay=0.5, delay_max=1.2)


def _fail(uow, rule=RULE, subject="10.0.0.1", detail=None, at=T0):
    with uow:
        count = throttle.record_failure(uow.session, rule, subject, detail, now=at)
        uow.commit()
    return count


def _locked(uow, rule=RULE, subject="10.0.0.1", detail=None, at=T0):
    with uow.reader() as r:
        return throttle.locked_until(r.session, rule, subject, detail, now=at)


def test_failures_count_slow_down_then_lock_for_a_window(uow):
    counts = [_fail(uow, at=T0 + timedelta(seconds=n)) for n in range(4)]
    assert [c.failures for c in counts] == [1, 2, 3, 4]
    assert [RULE.delay_for(c.failures) for c in counts] == [0, 0, 0.5, 1.0]
    assert RULE.delay_for(9) == 1.2
    assert [c.lock_started for c in counts] == [False, False, False, True]
    assert counts[-1].locked_until == T0 + timedelta(seconds=3, minutes=15)
    assert _locked(uow, at=T0 + timedelta(minutes=10)) == counts[-1].locked_until
    assert _locked(uow, at=T0 + timedelta(minutes=16)) is None
    assert _locked(uow, subject="10.0.0.2") is None  # another subject is not touched


def test_failures_are_forgotten_a_window_after_the_last_one(uow):
    _fail(uow, at=T0)
    _fail(uow, at=T0 + timedelta(minutes=10))
    assert _fail(uow, at=T0 + timedelta(minutes=20)).failures == 3  # within 15 minutes of the previous one
    assert _fail(uow, at=T0 + timedelta(minutes=40)).failures == 1


def test_a_growing_lock_and_the_detail_of_a_pair(uow):
    rule = Rule("pair", window=timedelta(days=1), lock_after=2, lock_for=lambda n: timedelta(minutes=2 ** (n - 2)))
    _fail(uow, rule, "eia1", "10.0.0.1")
    first = _fail(uow, rule, "eia1", "10.0.0.1")
    assert first.locked_until == T0 + timedelta(minutes=1)
    assert _locked(uow, rule, "eia1", "10.0.0.9") is None  # the same name from another address
    later = _fail(uow, rule, "eia1", "10.0.0.1", at=T0 + timedelta(minutes=2))
    assert later.failures == 3 and later.locked_until == T0 + timedelta(minutes=4)
    with uow:
        assert throttle.clear_subject(uow.session, ["pair"], "eia1") == 1
        uow.commit()
    assert _locked(uow, rule, "eia1", "10.0.0.1", at=T0 + timedelta(minutes=3)) is None


def test_only_hashes_are_stored_and_old_rows_are_purged(uow):
    _fail(uow, subject="secret-reference-2018M01000001")
    with uow.reader() as r:
        row = r.session.execute(select(Throttle)).scalar_one()
    assert "secret" not in row.subject and len(row.subject) == 64 and row.detail == ""
    with uow:
        assert throttle.purge(uow.session, now=T0 + timedelta(hours=23)) == 0
        assert throttle.purge(uow.session, now=T0 + timedelta(days=2)) == 1
        uow.commit()


def test_no_count_is_lost_when_processes_count_at_once(uow):
    rule = Rule("race", window=timedelta(hours=1))
    errors: list[BaseException] = []

    def worker() -> None:
        own = UnitOfWork(uow.session_factory)  # one unit of work per thread, as per process
        try:
            for _ in range(5):
                _fail(own, rule, "10.0.0.1", at=T0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with uow.reader() as r:
        assert r.session.execute(select(Throttle.failures)).scalar_one() == 30
