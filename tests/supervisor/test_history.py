"""seed-demo --cases: historical cases through the service layer with a simulated clock, deterministic."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from sqlalchemy import select

from services import clock, demo, history, statistics
from services.uow import UnitOfWork
from storage import audit
from storage.db import make_engine, make_session_factory
from storage.models import AuditEvent, Case, CaseClock, CaseSuspension, HumanTask

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n" \
      b"trailer<</Root 1 0 R>>\n%%EOF\n"


def _uow(path: Path) -> tuple[UnitOfWork, object]:
    engine = make_engine(f"sqlite:///{path}")
    return UnitOfWork(make_session_factory(engine)), engine


def _snapshot(uow: UnitOfWork) -> list[tuple]:
    with uow.reader() as r:
        return [tuple(row) for row in r.session.execute(
            select(Case.reference, Case.matter_code, Case.status, Case.outcome, Case.channel, Case.delivery_mode,
                   Case.created_at, Case.accepted_on, Case.due_on, Case.completed_at, Case.trips,
                   Case.supplement_notices).order_by(Case.id))]


def test_simulated_history_is_historical_and_deterministic(_sqlite_template, tmp_path, monkeypatch):
    from services import deploy_gate

    # The shipped diagrams pass the deploy gate (tests/services, tests/workflows); not under test here.
    monkeypatch.setattr(deploy_gate, "enforce", lambda *args, **kwargs: [])
    # Nor is the PDF rendering of the documents (tests/documents): each issued document gets the same small PDF.
    from documents import render

    monkeypatch.setattr(render, "render_pdf", lambda template, context, locale=None: PDF)
    first = tmp_path / "a.db"
    shutil.copy(_sqlite_template, first)
    uow, engine = _uow(first)
    demo.seed(uow, WORKFLOWS)
    engine.dispose()
    second = tmp_path / "b.db"
    shutil.copy(first, second)

    uow, engine = _uow(first)
    report = history.simulate(uow, 12, date(2018, 3, 1), date(2018, 6, 30), seed=11)
    assert report.cases == 12 and not report.stopped
    rows = _snapshot(uow)
    with uow.reader() as r:
        s = r.session
        times = [at for (at,) in s.execute(select(AuditEvent.at).where(AuditEvent.case_id.is_not(None)))]
        tasks = s.execute(select(HumanTask.created_at, HumanTask.completed_at)).all()
        chain = audit.verify(s)
        clocks = s.execute(select(CaseClock.case_id, CaseClock.working_days_used, Case.accepted_on,
                                  CaseClock.stopped_on, CaseClock.excluded_kinds)
                           .join(Case, Case.id == CaseClock.case_id)
                           .where(CaseClock.stopped_on.is_not(None))).all()
        calendar = clock.calendar(s)
        windows = {}
        for case_id, start_on, end_on, kind in s.execute(select(
                CaseSuspension.case_id, CaseSuspension.start_on, CaseSuspension.end_on, CaseSuspension.kind)):
            windows.setdefault(case_id, []).append((start_on, end_on, kind))
        stats = statistics.dashboard(s, statistics.Filters(date(2018, 3, 1), date(2018, 6, 30)),
                                     today=date(2018, 6, 30))
    engine.dispose()
    assert len(rows) == 12 and chain.ok
    # the clock fixed the working days used when it stopped, as the statistics count them
    assert clocks and all(used == clock.working_days_used(
        calendar, accepted, stopped, [(a, b) for a, b, kind in windows.get(case_id, []) if kind in (kinds or ())])
        for case_id, used, accepted, stopped, kinds in clocks)
    start, end = "2018-03-01", "2018-07-01"
    assert all(start <= f"{c[6]:%Y-%m-%d}" < end for c in rows)  # registered in the period (UTC dates)
    assert all(start <= f"{t:%Y-%m-%d}" < end for t in times)  # every case event at its simulated time
    assert all(f"{done:%Y}" == "2018" for _, done in tasks if done is not None)
    assert len({c[1] for c in rows}) >= 6 and {c[4] for c in rows} == {"window", "post", "online"}
    assert stats["total"]["counts"]["accepted"] >= 1 and stats["total"]["counts"]["finished"] >= 1

    uow, engine = _uow(second)
    history.simulate(uow, 12, date(2018, 3, 1), date(2018, 6, 30), seed=11)
    again = _snapshot(uow)
    engine.dispose()
    assert again == rows  # the same seed, period and N: the same cases
