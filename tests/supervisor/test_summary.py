"""The supervisors' summary (services.summary) against the live queries it replaces, on SQLite and PostgreSQL: a
seeded history driven through the service layer (registrations, task completions, 补正 suspensions, timers,
hearings, refusals, extensions), then withdrawals, an extension and a corrected holiday notice (every open clock
re-derived) on top; the dashboard, the months, the heatmaps and the lists behind the numbers must be the same
from the summary as from the live tables, for several periods, units and days judged on. The summary the commands
kept must also be exactly what a rebuild from scratch counts."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.calendar import library_notice
from services import case_search, clock, demo, history, process_mining, summary
from services import statistics as st
from services.actors import Actor
from services.errors import ServiceError
from services.uow import UnitOfWork
from storage.db import make_engine, make_session_factory
from storage.models import (
    Case,
    CaseClock,
    StatsCaseFacts,
    StatsDay,
    StatsDayWorkingDays,
    StatsHeat,
    StatsHeatDwell,
    StatsHeatStep,
)

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n" \
      b"trailer<</Root 1 0 R>>\n%%EOF\n"
START, END = date(2018, 3, 1), date(2018, 6, 29)
SYSTEM = Actor.system("test")


@pytest.fixture
def history_uow(db_url, monkeypatch):
    from documents import render
    from services import deploy_gate

    # The shipped diagrams pass the deploy gate and the documents render elsewhere (tests/services, tests/documents).
    monkeypatch.setattr(deploy_gate, "enforce", lambda *args, **kwargs: [])
    monkeypatch.setattr(render, "render_pdf", lambda template, context, locale=None: PDF)
    # most cases slow (every step three times as long): late conclusions and open cases past their due date
    monkeypatch.setattr(history, "SLOW_SHARE", 0.7)
    engine = make_engine(db_url)
    uow = UnitOfWork(make_session_factory(engine))
    demo.seed(uow, WORKFLOWS)
    report = history.simulate(uow, 30, START, END, seed=5)
    assert report.cases == 30
    with clock.frozen(datetime.combine(END, time(16), tzinfo=clock.BEIJING)):
        _more_commands(uow)
    yield uow
    engine.dispose()


def _more_commands(uow: UnitOfWork) -> None:
    """Withdraw two open cases, extend one, correct the 2018 holiday notice (every open clock is re-derived)."""
    with uow.reader() as r:
        open_ids = list(r.session.execute(
            select(Case.id).join(CaseClock, CaseClock.case_id == Case.id)
            .where(Case.status == "active", CaseClock.stopped_on.is_(None)).order_by(Case.id)).scalars())
    assert len(open_ids) >= 4, "the seeded history leaves cases open at the period's end"
    extended = False
    for case_id in open_ids[2:]:
        try:
            clock.extend_deadline(uow, case_id, 5, "复杂（测试）", SYSTEM)
            extended = True
            break
        except ServiceError:
            continue
    assert extended
    from services import cases

    for case_id in open_ids[:2]:
        cases.withdraw_case(uow, case_id, "申请人撤回（测试）", SYSTEM)
    notice = library_notice(2018)
    clock.save_holiday_notice(uow, year=2018, holidays=sorted(notice.holidays | {date(2018, 6, 11)}),
                              workdays=sorted(notice.extra_workdays), source="更正（测试）", actor=SYSTEM)


FILTERS = [
    st.Filters(),
    st.Filters(START, END),
    st.Filters(date(2018, 4, 1), date(2018, 6, 30)),
    st.Filters(date(2018, 4, 1), date(2018, 4, 30), unit="nuclear_safety"),
    st.Filters(date(2018, 5, 1), None),
    st.Filters(None, date(2018, 5, 15)),
    st.Filters(date(2018, 3, 1), date(2018, 12, 31), matter="m07"),
]
TODAYS = [END, date(2018, 12, 31), date(2018, 5, 20)]  # the last one: periods that end after "today"


def test_the_summary_gives_the_live_answers_and_is_what_a_rebuild_counts(history_uow):
    uow = history_uow
    with uow.reader() as r:
        s = r.session
        assert summary.covers(s)
        _compare(s, [*TODAYS, _what_the_history_holds(s)])
        kept = _tables(s)
    # what the commands kept, case by case, is what counting every case from scratch gives
    with uow:
        summary.rebuild(uow.session.connection())
        uow.commit()
    with uow.reader() as r:
        assert _tables(r.session) == kept
    _rows_written_outside_the_commands(uow)


def _what_the_history_holds(s) -> date:
    """The comparisons below cover every kind of case: withdrawn, extended, open and overdue, concluded late, with
    working days used; returns a day some case was overdue on and concluded (late) after: judged on that day, with
    a period that ends later, it is both concluded late and open overdue, and counted once as overdue."""
    counts = st.dashboard(s, st.Filters(), END, use_summary=False)["total"]["counts"]
    assert counts["concluded"] >= 5 and counts["open"] >= 1 and counts["extended"] >= 1
    assert counts["late"] >= 1 and counts["finished"] >= 5 and counts["supplement"] >= 1
    assert st.dashboard(s, st.Filters(), date(2018, 12, 31), use_summary=False)["total"]["counts"]["open_overdue"]
    assert s.execute(select(Case.id).where(Case.status == "withdrawn")).first() is not None
    late = [(due, stopped) for due, stopped in s.execute(
        select(Case.due_on, CaseClock.stopped_on).join(CaseClock, CaseClock.case_id == Case.id)
        .where(Case.status != "withdrawn", CaseClock.stopped_on > Case.due_on).order_by(Case.id))
        if stopped > due + timedelta(days=1)]
    assert late
    return late[0][0] + timedelta(days=1)


def _compare(s, todays: list[date]) -> None:
    for f in FILTERS:
        for today in todays:
            live = st.dashboard(s, f, today, use_summary=False)
            assert st.dashboard(s, f, today, use_summary=True) == live, (f, today)
            assert st.months(s, f, today, use_summary=True) == st.months(s, f, today, use_summary=False)
            if f.matter is None and f.unit is None:
                for measure in st.MEASURES:
                    assert st.summary_total(s, measure, f, today) == live["total"]["counts"][measure]
            for measure in case_search.FACT_MEASURES:
                for sort, descending in (("registered", True), ("due", False)):
                    search = case_search.Search(measure=measure, period_from=f.start, period_to=f.end,
                                                matter=f.matter, unit=f.unit, sort=sort, descending=descending)
                    for page in (1, 2):
                        assert (case_search.search(s, search, page, 5, today, use_summary=True)
                                == case_search.search(s, search, page, 5, today, use_summary=False))
    overdue_now = case_search.Search(overdue=True, status="active")
    assert (case_search.search(s, overdue_now, today=END, use_summary=True)
            == case_search.search(s, overdue_now, today=END, use_summary=False))
    drawn = 0
    for matter in clock.catalog().matters:
        for definition in process_mining.versions(s, matter.code):
            for now in (datetime.combine(END, time(12), tzinfo=clock.BEIJING),
                        datetime(2018, 4, 15, 12, tzinfo=clock.BEIJING)):
                live = process_mining.heatmap(s, matter.code, definition, now, use_summary=False)
                assert process_mining.heatmap(s, matter.code, definition, now, use_summary=True) == live
                drawn += bool(live["cases"])
    assert drawn >= 6


def _tables(session) -> dict[str, set[tuple]]:
    out = {}
    for model in (StatsDay, StatsDayWorkingDays, StatsHeat, StatsHeatStep, StatsHeatDwell):
        counted = [c for c in model.__table__.columns if not c.primary_key]
        rows = session.execute(select(model.__table__)).all()
        out[model.__tablename__] = {tuple(row) for row in rows if any(row._mapping[c.name] for c in counted)}
    out["stats_case_facts"] = {tuple(row) for row in session.execute(select(
        *(c for c in StatsCaseFacts.__table__.columns if c.name != "heat")))}
    return out


def _rows_written_outside_the_commands(uow: UnitOfWork) -> None:
    """A case written as a row (an import) is in no summary: the readers use the live tables until a rebuild."""
    with uow:
        s = uow.session
        first = s.get(Case, s.execute(select(Case.id).order_by(Case.id)).scalars().first())
        s.add(Case(reference="2018M07999999", lookup_code="X", matter_code="m07", definition_id=first.definition_id,
                   status="completed", applicant_name="直接写入", channel="window", delivery_mode="post", state="",
                   serializer_version="t", created_by="import", trips=3,
                   created_at=datetime.combine(START + timedelta(days=3), time(10), tzinfo=clock.BEIJING),
                   completed_at=datetime.combine(START + timedelta(days=4), time(10), tzinfo=clock.BEIJING)))
        uow.commit()
    period = st.Filters(START, END)
    with uow.reader() as r:
        s = r.session
        assert not summary.covers(s)
        served = st.dashboard(s, period, END)
        assert served == st.dashboard(s, period, END, use_summary=False)
        stale = st.dashboard(s, period, END, use_summary=True)
        assert served["total"]["counts"]["multi_trip"] == stale["total"]["counts"]["multi_trip"] + 1
    with uow:
        summary.rebuild(uow.session.connection())
        uow.commit()
    with uow.reader() as r:
        assert summary.covers(r.session)
        assert st.dashboard(r.session, period, END) == served


def test_the_summary_of_the_fixed_data_set_and_odd_rows(dataset):
    """The hand-computed data set (supervisor_data.py: working days not stored, so computed apart) plus rows no
    command writes — completed without a completion time, a clock stopped before the acceptance, no trips — counted
    by a rebuild: the summary answers as the live queries do."""
    from supervisor_data import at, d

    uow, ids = dataset
    with uow:
        s = uow.session
        template = s.get(Case, ids["A"])
        for n, (status, accepted, stopped, due, completed, trips) in enumerate((
                ("completed", "2018-05-02", "2018-05-20", "2018-05-10", None, 2),
                ("active", "2018-05-10", "2018-05-08", "2018-05-09", None, None),
                ("incident", "2018-06-01", None, "2018-06-05", None, 1)), start=1):
            case = Case(reference=f"2018M07X{n:05d}", lookup_code="X", matter_code="m07",
                        definition_id=template.definition_id, status=status, applicant_name=f"边角{n}",
                        channel="window", delivery_mode="post", state="", serializer_version="t", trips=trips,
                        accepted_on=d(accepted), due_on=d(due), created_by="test", created_at=at("2018-04-30"),
                        updated_at=at("2018-04-30"), completed_at=at(completed) if completed else None)
            s.add(case)
            s.flush()
            s.add(CaseClock(case_id=case.id, statutory_value=20, statutory_unit="working_days",
                            excluded_kinds=[], stopped_on=d(stopped)))
        uow.commit()
    with uow:
        summary.rebuild(uow.session.connection())
        uow.commit()
    with uow.reader() as r:
        s = r.session
        assert summary.covers(s)
        for f in [*FILTERS, st.Filters(date(2018, 4, 1), date(2018, 6, 30))]:
            for today in (date(2018, 12, 31), date(2018, 5, 15), date(2018, 4, 20)):
                assert st.dashboard(s, f, today, use_summary=True) == st.dashboard(s, f, today, use_summary=False)
                assert st.months(s, f, today, use_summary=True) == st.months(s, f, today, use_summary=False)
                for measure in case_search.FACT_MEASURES:
                    search = case_search.Search(measure=measure, period_from=f.start, period_to=f.end,
                                                matter=f.matter, unit=f.unit)
                    assert (case_search.search(s, search, today=today, use_summary=True)
                            == case_search.search(s, search, today=today, use_summary=False))
