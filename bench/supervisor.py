"""The supervisors' queries on a large history: dashboard JSON, case search, heatmap data, XES export, chain checks.

    .venv/bin/python -m bench.supervisor [--cases 100000] [--events-per-case 10] [--repeats 20] [--db PATH]

A bulk generator writes rows directly (no engine; seed-demo --cases drives the service layer and is far slower):
cases of the eleven matters registered over 2018 with clocks, suspensions, task rows on the shipped diagrams' tasks
and a hash-chained audit log (10 events per case: 1,000,000 for 100,000 cases); then the supervisors' summary is
counted from those rows by ``services.summary.rebuild`` (what migration 0015_summary runs; the commands keep it
afterwards). Then each query the pages run is timed (p50/p95 over the repeats): as served (from the summary where
the page reads it), and — the baselines in the same run — from the live tables (the queries the summary replaces,
which remain the definition), then those again with the indexes they use dropped (migration 0010_supervisor's,
the matter index and the due date's), the ratios printed.
"""

from __future__ import annotations

import argparse
import random
import statistics as stats
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from engine.calendar import WorkingDayCalendar
from services import audit_verification, case_search, clock, process_mining, summary
from services import statistics as measures
from services.actors import Actor
from services.clock import BEIJING
from services.uow import UnitOfWork
from storage import audit
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import (
    AuditEvent,
    AuditHead,
    Case,
    CaseClock,
    CaseSuspension,
    HumanTask,
    ProcessDefinition,
)
from workflows.catalog import shipped_catalog
from workflows.scenarios import shipped_bundle

INDEXES = {  # dropped for the baseline: name -> how to recreate it
    "ix_cases_accepted_on": "CREATE INDEX ix_cases_accepted_on ON cases (accepted_on)",
    "ix_cases_completed_at": "CREATE INDEX ix_cases_completed_at ON cases (completed_at)",
    "ix_cases_created_at": "CREATE INDEX ix_cases_created_at ON cases (created_at)",
    "ix_cases_due_on": "CREATE INDEX ix_cases_due_on ON cases (due_on)",  # the overdue list's bound
    "ix_cases_matter_code": "CREATE INDEX ix_cases_matter_code ON cases (matter_code)",
    "ix_cases_status": "CREATE INDEX ix_cases_status ON cases (status)",
    "ix_case_clocks_stopped_on": "CREATE INDEX ix_case_clocks_stopped_on ON case_clocks (stopped_on)",
    "ix_human_tasks_matter_code": "CREATE INDEX ix_human_tasks_matter_code ON human_tasks (matter_code)",
    "ix_human_tasks_case_state": "CREATE INDEX ix_human_tasks_case_state ON human_tasks (case_id, state)",
    "ix_audit_events_at": "CREATE INDEX ix_audit_events_at ON audit_events (at)",
}


def _definitions(session: Session) -> dict[str, tuple[int, list[str]]]:
    """Each matter's shipped diagram as version 1; matter → (definition id, task keys "spec|form" in order)."""
    out = {}
    for n, matter in enumerate(shipped_catalog().matters, start=1):
        files = {name: data.decode() for name, data in shipped_bundle(matter.process_id).items()}
        row = ProcessDefinition(id=n, process_id=matter.process_id, version=1, content_hash=f"{n:064d}",
                                main_file=f"{matter.process_id}.bpmn", files=files, deployed_by="bench")
        session.add(row)
        session.flush()
        keys = list(process_mining.model_of(row).task_element)
        out[matter.code] = (n, keys)
    session.commit()
    return out


def fill(session: Session, n_cases: int, events_per_case: int, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    calendar = WorkingDayCalendar.from_directory()
    definitions = _definitions(session)
    matters = list(definitions)
    counts = {"cases": 0, "tasks": 0, "events": 0}
    prev, seq = audit.GENESIS, 0
    rows: dict[str, list] = {"cases": [], "clocks": [], "suspensions": [], "tasks": [], "events": []}
    start = date(2018, 1, 2)

    def flush() -> None:
        session.execute(insert(Case), rows["cases"])
        if rows["clocks"]:
            session.execute(insert(CaseClock), rows["clocks"])
        if rows["suspensions"]:
            session.execute(insert(CaseSuspension), rows["suspensions"])
        session.execute(insert(HumanTask), rows["tasks"])
        session.execute(insert(AuditEvent), rows["events"])
        counts["cases"] += len(rows["cases"])
        counts["tasks"] += len(rows["tasks"])
        counts["events"] += len(rows["events"])
        for v in rows.values():
            v.clear()

    for case_id in range(1, n_cases + 1):
        matter = rng.choice(matters)
        definition_id, keys = definitions[matter]
        registered = start + timedelta(days=int(365 * case_id / n_cases))
        created = datetime.combine(registered, dtime(9 + rng.randrange(8)), tzinfo=BEIJING).astimezone(UTC)
        roll = rng.random()
        accepted = registered + timedelta(days=rng.randrange(0, 4)) if roll > 0.08 else None
        stopped = accepted + timedelta(days=rng.randrange(3, 60)) if accepted and rng.random() < 0.85 else None
        status = "completed" if stopped or roll <= 0.08 else ("withdrawn" if roll < 0.1 else "active")
        due = accepted + timedelta(days=28) if accepted else None
        trips = rng.choice((0, 0, 1, 1, 1, 2))
        rows["cases"].append({
            "id": case_id, "reference": f"2018{matter.upper()}{case_id:06d}", "lookup_code": "X",
            "matter_code": matter, "definition_id": definition_id, "status": status,
            "outcome": ("approved" if accepted else "not_accepted") if status == "completed" else None,
            "applicant_name": f"吉林某企业{case_id}有限公司", "applicant_credit_code": f"91220000{case_id:09d}X",
            "channel": rng.choice(("window", "post", "online")),
            "delivery_mode": rng.choice(("window", "post", "online")),
            "state": "", "serializer_version": "bench", "version": 5, "trips": trips, "accepted_on": accepted,
            "due_on": due, "promised_due_on": accepted + timedelta(days=20) if accepted else None,
            "supplement_notices": rng.choice((0, 0, 0, 1, 1, 2)), "created_by": "window", "created_at": created,
            "updated_at": created,
            "completed_at": (datetime.combine(stopped or registered, dtime(15), tzinfo=BEIJING).astimezone(UTC)
                             if status == "completed" else None)})
        if accepted:
            window = (accepted + timedelta(days=2), accepted + timedelta(days=9)) if rng.random() < 0.3 else None
            used = (clock.working_days_used(calendar, accepted, stopped, [window] if window else [])
                    if stopped else None)  # as the clock stores it when it stops
            rows["clocks"].append({"case_id": case_id, "statutory_value": 20, "statutory_unit": "working_days",
                                   "promised_value": 15, "promised_unit": "working_days",
                                   "excluded_kinds": ["supplement", "expert_review"], "stopped_on": stopped,
                                   "working_days_used": used, "updated_at": created})
            if window:
                rows["suspensions"].append({"case_id": case_id, "kind": "expert_review", "start_on": window[0],
                                            "end_on": window[1], "created_at": created})
        steps = len(keys) if status == "completed" else rng.randrange(1, len(keys) + 1)
        moment = created
        for k in range(min(steps, 8)):
            spec, form = keys[k].split("|")
            done = status == "completed" or k < steps - 1
            end = moment + timedelta(hours=rng.randrange(2, 200))
            rows["tasks"].append({"id": f"{case_id}-{k}", "case_id": case_id, "matter_code": matter,
                                  "spec_name": spec, "title": spec, "lane": "审批办", "form": form or None,
                                  "state": "completed" if done else "ready", "created_at": moment,
                                  "completed_at": end if done else None,
                                  "due_at": None})
            moment = end
        for k in range(events_per_case):
            seq += 1
            at = created + timedelta(hours=k)
            payload = {"before": None, "after": {"step": k}}
            digest = audit._digest(seq, case_id, "bench", "task.completed", at, payload, prev)
            rows["events"].append({"seq": seq, "case_id": case_id, "actor": "bench", "action": "task.completed",
                                   "at": at, "payload": payload, "prev_hash": prev, "hash": digest})
            prev = digest
        if len(rows["cases"]) >= 2000:
            flush()
    if rows["cases"]:
        flush()
    session.execute(insert(AuditHead), [{"id": 1, "last_seq": seq, "last_hash": prev}]) if session.get(
        AuditHead, 1) is None else session.execute(
        text("UPDATE audit_head SET last_seq = :s, last_hash = :h WHERE id = 1"), {"s": seq, "h": prev})
    session.commit()
    return counts


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    fn()  # warm the caches
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return stats.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def queries(session: Session, use_summary: bool | None = None) -> dict[str, Callable[[], object]]:
    """The pages' own functions; ``use_summary`` None: as served (the summary where it counts every case), False:
    the live queries. Nothing is kept between calls: each one runs its SQL."""
    year = measures.Filters(date(2018, 1, 1), date(2018, 12, 31))
    quarter = measures.Filters(date(2018, 4, 1), date(2018, 6, 30))
    m01 = process_mining.today_version(session, "m01", None)
    today = date(2018, 12, 31)
    use = use_summary
    return {
        "dashboard JSON, 2018": lambda: (measures.dashboard(session, year, today, use_summary=use),
                                         measures.months(session, year, today, use_summary=use)),
        "dashboard JSON, Q2, one unit": lambda: measures.dashboard(
            session, measures.Filters(quarter.start, quarter.end, unit="nuclear_safety"), today, use_summary=use),
        "case search p1: matter+status": lambda: case_search.search(
            session, case_search.Search(matter="m07", status="active"), today=today, use_summary=use),
        "case search p1: accepted Q2": lambda: case_search.search(
            session, case_search.Search(accepted_from=quarter.start, accepted_to=quarter.end), today=today,
            use_summary=use),
        "case search p1: overdue (list)": lambda: case_search.search(
            session, case_search.Search(measure="overdue", period_from=quarter.start, period_to=quarter.end),
            today=today, use_summary=use),
        "case search p1: reference": lambda: case_search.search(
            session, case_search.Search(reference="2018M01000100"), today=today, use_summary=use),
        "heatmap data m01": lambda: process_mining.heatmap(session, "m01", m01, datetime(2018, 12, 31, tzinfo=UTC),
                                                           use_summary=use),
    }


def xes_memory(session: Session, matter: str) -> tuple[int, int, float]:
    """Bytes of the streamed XES, peak Python memory while streaming it, seconds."""
    tracemalloc.start()
    started = time.perf_counter()
    size = 0
    for line in process_mining.xes_lines(session, matter):
        size += len(line.encode())
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return size, peak, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--events-per-case", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--db", type=Path, help="database file (default: a temporary one)")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    path = args.db or Path(folder.name) / "bench.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    factory = make_session_factory(engine)
    started = time.perf_counter()
    with factory() as session:
        counts = fill(session, args.cases, args.events_per_case)
        session.commit()
    filled = time.perf_counter() - started
    with engine.begin() as connection:
        summary.rebuild(connection)
    with factory() as session:
        session.execute(text("ANALYZE"))
        session.commit()
    print(f"filled {counts['cases']:,} cases, {counts['tasks']:,} task rows, {counts['events']:,} audit events in "
          f"{filled:.0f} s, the summary counted in {time.perf_counter() - started - filled:.0f} s; database "
          f"{path.stat().st_size / 1e6:.0f} MB")

    results: dict[str, tuple[float, float]] = {}
    live: dict[str, tuple[float, float]] = {}
    with factory() as session:
        assert summary.covers(session)
        print(f"\n{'query (as served)':<34}{'p50 ms':>9}{'p95 ms':>9}")
        for label, fn in queries(session).items():
            results[label] = timed(fn, args.repeats)
            print(f"{label:<34}{results[label][0]:>9.1f}{results[label][1]:>9.1f}")
        print(f"\nthe live queries (no summary){'':<5}{'p50 ms':>9}{'p95 ms':>9}{'live/served':>13}")
        for label, fn in queries(session, use_summary=False).items():
            live[label] = timed(fn, args.repeats)
            print(f"{label:<34}{live[label][0]:>9.1f}{live[label][1]:>9.1f}"
                  f"{live[label][0] / results[label][0]:>12.1f}x")
        size, peak, seconds = xes_memory(session, "m01")
        print(f"XES export m01: {size / 1e6:.1f} MB streamed in {seconds:.1f} s, peak Python memory "
              f"{peak / 1e6:.1f} MB ({peak / size:.1%} of the file)")
    uow = UnitOfWork(factory)
    actor = Actor.system("bench")
    t0 = time.perf_counter()
    first = audit_verification.verify_incremental(uow, actor)  # no checkpoint yet: from the first event
    full_s = time.perf_counter() - t0
    with factory() as session:
        for n in range(1000):
            audit.append(session, actor="bench", action="bench.more", payload={"n": n})
        session.commit()
    t0 = time.perf_counter()
    second = audit_verification.verify_incremental(uow, actor)
    incremental_s = time.perf_counter() - t0
    print(f"chain check: full {first.events:,} events {full_s:.1f} s ({first.state}); incremental after 1,000 new "
          f"events {incremental_s * 1000:.0f} ms ({second.state}) -> {full_s / incremental_s:.0f}x")

    # Baseline in the same run: the same queries without the indexes they use.
    with factory() as session:
        for name in INDEXES:
            session.execute(text(f"DROP INDEX IF EXISTS {name}"))
        session.execute(text("ANALYZE"))
        session.commit()
        print(f"\nthe live queries, no indexes{'':<6}{'p50 ms':>9}{'p95 ms':>9}{'none/live':>13}")
        for label, fn in queries(session, use_summary=False).items():
            p50, p95 = timed(fn, max(3, args.repeats // 4))
            print(f"{label:<34}{p50:>9.1f}{p95:>9.1f}{p50 / live[label][0]:>12.1f}x")
        for sql in INDEXES.values():
            session.execute(text(sql))
        session.commit()
    engine.dispose()
    folder.cleanup()


if __name__ == "__main__":
    main()
