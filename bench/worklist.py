"""Worklist queries on 100,000 cases: fill a SQLite database with rows, then time every worklist query.

    .venv/bin/python -m bench.worklist [--cases 100000] [--repeats 200] [--db PATH]

Rows are bulk-inserted directly (no engine): cases spread over the eleven matters and their units, most
of them completed, a quarter active with one open task each (some claimed), every case with its completed
task rows.
Each query is the one the worklist page runs (web.queries), timed over repeats; p50/p95 are printed with the
SQLite query plan, which must show an index search on human_tasks and no table scan.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Case, HumanTask, ProcessDefinition, Unit, User, UserRole
from web import queries

UNITS = [
    ("approval_office", "审批办", "Approval Office"),
    ("eia", "环评处", "EIA Division"),
    ("soil", "土壤处", "Soil Division"),
    ("nuclear_safety", "核安全局", "Nuclear Safety Bureau"),
    ("ecology", "生态处", "Ecology Division"),
    ("radiation_station", "辐射站", "Radiation Station"),
    ("solid_waste", "固废中心", "Solid Waste Centre"),
    ("leadership", "厅领导", "Leadership"),
]
# matter → (responsible lane, share of the cases)
MATTERS = {
    "m01": ("环评处", 0.30),
    "m02": ("土壤处", 0.10),
    "m03": ("土壤处", 0.05),
    "m04": ("核安全局", 0.15),
    "m05": ("生态处", 0.03),
    "m06": ("生态处", 0.02),
    "m07": ("核安全局", 0.05),
    "m08": ("核安全局", 0.08),
    "m09": ("辐射站", 0.12),
    "m10": ("固废中心", 0.05),
    "m11": ("环评处", 0.05),
}
HANDLERS_PER_UNIT = 6
TASK_TITLES = {"审批办": "材料审查", "厅领导": "审批决定"}


def fill(session: Session, n_cases: int, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    session.execute(insert(Unit), [{"code": c, "name_zh": zh, "name_en": en} for c, zh, en in UNITS])
    users, roles, by_lane = [], [], {}
    uid = 0
    for code, zh, _en in UNITS:
        for i in range(HANDLERS_PER_UNIT):
            uid += 1
            users.append(
                {
                    "id": uid,
                    "username": f"{code}{i}",
                    "display_name": f"{zh}{i}",
                    "password_hash": "x",
                    "unit_code": code,
                    "locale": "zh_CN",
                    "active": True,
                    "session_generation": 0,
                    "created_at": now,
                }
            )
            roles.append({"user_id": uid, "role": "lead" if i == 0 else "handler"})
            by_lane.setdefault(zh, []).append(uid)
    session.execute(insert(User), users)
    session.execute(insert(UserRole), roles)
    definitions = []
    for i, matter in enumerate(MATTERS, start=1):
        definitions.append(
            {
                "id": i,
                "process_id": f"{matter}_process",
                "version": 1,
                "content_hash": f"{i:064d}",
                "main_file": f"{matter}.bpmn",
                "files": {},
                "deployed_by": "bench",
                "deployed_at": now,
            }
        )
    session.execute(insert(ProcessDefinition), definitions)
    definition_of = {m: i for i, m in enumerate(MATTERS, start=1)}

    matters = list(MATTERS)
    weights = [MATTERS[m][1] for m in matters]
    cases, tasks = [], []
    counts = {"cases": 0, "tasks": 0, "open": 0}
    for case_id in range(1, n_cases + 1):
        matter = rng.choices(matters, weights)[0]
        lane = MATTERS[matter][0]
        created = now - timedelta(days=rng.uniform(0, 720))
        roll = rng.random()
        status = "active" if roll < 0.25 else ("withdrawn" if roll < 0.28 else "completed")
        due_on = (created + timedelta(days=rng.choice((20, 30, 60)) * 1.4)).date()
        if status == "active":  # active cases are recent; some are overdue
            created = now - timedelta(days=rng.uniform(0, 60))
            due_on = (now + timedelta(days=rng.uniform(-10, 40))).date()
        cases.append(
            {
                "id": case_id,
                "reference": f"2018{matter.upper()}{case_id:06d}",
                "lookup_code": f"{case_id:08X}",
                "matter_code": matter,
                "definition_id": definition_of[matter],
                "status": status,
                "applicant_name": f"吉林某企业{case_id}有限公司",
                "channel": rng.choice(("window", "post", "online")),
                "delivery_mode": rng.choice(("window", "post", "online")),
                "state": "{}",
                "serializer_version": "bench",
                "version": 5,
                "created_by": "window",
                "created_at": created,
                "updated_at": created,
                "due_on": due_on,
            }
        )
        due_at = datetime.combine(due_on, datetime.min.time(), tzinfo=UTC) + timedelta(hours=15, minutes=59)
        steps = ["审批办", lane, lane, "厅领导", "审批办"]
        n_done = len(steps) if status != "active" else rng.randint(0, len(steps) - 1)
        for k in range(n_done):
            step_lane = steps[k]
            who = rng.choice(by_lane[step_lane])
            tasks.append(
                {
                    "id": f"{case_id:08d}-{k}",
                    "case_id": case_id,
                    "matter_code": matter,
                    "spec_name": f"step{k}",
                    "title": TASK_TITLES.get(step_lane, "审查"),
                    "lane": step_lane,
                    "form": None,
                    "state": "completed",
                    "claimed_by": who,
                    "completed_by": who,
                    "due_at": due_at,
                    "created_at": created,
                    "completed_at": created + timedelta(days=k + 1),
                }
            )
        if status == "active":
            step_lane = steps[n_done]
            claimed = rng.choice(by_lane[step_lane]) if rng.random() < 0.4 else None
            tasks.append(
                {
                    "id": f"{case_id:08d}-{n_done}",
                    "case_id": case_id,
                    "matter_code": matter,
                    "spec_name": f"step{n_done}",
                    "title": TASK_TITLES.get(step_lane, "审查"),
                    "lane": step_lane,
                    "form": None,
                    "state": "ready",
                    "claimed_by": claimed,
                    "due_at": due_at,
                    "created_at": created,
                }
            )
            counts["open"] += 1
        if len(cases) >= 5000:
            session.execute(insert(Case), cases)
            session.execute(insert(HumanTask), tasks)
            counts["cases"] += len(cases)
            counts["tasks"] += len(tasks)
            cases, tasks = [], []
    if cases:
        session.execute(insert(Case), cases)
        session.execute(insert(HumanTask), tasks)
        counts["cases"] += len(cases)
        counts["tasks"] += len(tasks)
    session.commit()
    return counts


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    fn()  # warm the page cache and statement cache
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def plan(session: Session, statement) -> str:
    compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    rows = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    return " | ".join(row[-1] for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--db", type=Path, help="database file (default: a temporary one)")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    path = args.db or Path(folder.name) / "bench.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    factory = make_session_factory(engine)
    started = time.perf_counter()
    with factory() as session:
        counts = fill(session, args.cases)
    fill_s = time.perf_counter() - started
    print(
        f"filled {counts['cases']:,} cases, {counts['tasks']:,} task rows ({counts['open']:,} open) "
        f"in {fill_s:.1f} s; database {path.stat().st_size / 1e6:.0f} MB"
    )

    now = datetime.now(UTC)
    with factory() as session:
        lead_eia = session.execute(select(User.id).where(User.username == "eia0")).scalar_one()
        handler_eia = session.execute(select(User.id).where(User.username == "eia1")).scalar_one()
        lanes = ["环评处"]
        cases_of = [
            ("open, page 1", queries.WorklistFilter(view="open"), handler_eia),
            ("open, page 50", queries.WorklistFilter(view="open", page=50), handler_eia),
            ("open, due soon", queries.WorklistFilter(view="open", due="soon"), handler_eia),
            ("open, overdue", queries.WorklistFilter(view="open", due="overdue"), handler_eia),
            ("open, matter m11", queries.WorklistFilter(view="open", matter="m11"), handler_eia),
            ("open, latest due first", queries.WorklistFilter(view="open", descending=True), handler_eia),
            ("mine", queries.WorklistFilter(view="mine"), handler_eia),
            ("claimed in unit (lead)", queries.WorklistFilter(view="unit"), lead_eia),
            ("done by me, page 1", queries.WorklistFilter(view="done"), handler_eia),
        ]
        print(f"\n{'query (环评处 handler)':<28}{'rows':>8}{'p50 ms':>9}{'p95 ms':>9}   plan")
        for label, f, user_id in cases_of:
            page = queries.worklist(session, f, user_id, lanes, now)
            p50, p95 = timed(
                lambda f=f, user_id=user_id: queries.worklist(session, f, user_id, lanes, now), args.repeats
            )
            criteria = queries.worklist_criteria(f, user_id, lanes, now)
            statement = queries.page_statement(criteria, f)
            print(f"{label:<28}{page.total:>8,}{p50:>9.2f}{p95:>9.2f}   {plan(session, statement)}")

        def whole_page() -> None:
            f = queries.WorklistFilter(view="open")
            result = queries.worklist(session, f, handler_eia, lanes, now)
            queries.tab_counts(session, handler_eia, lanes, now)
            queries.case_briefs(session, {t.case_id for t in result.rows})
            queries.user_names(session, {t.claimed_by for t in result.rows})

        p50, p95 = timed(whole_page, args.repeats)
        label = "whole worklist page (all)"
        print(f"{label:<28}{'':>8}{p50:>9.2f}{p95:>9.2f}   list + 3 tab counts + 2 look-ups")

        # Baseline in the same run: the same first page with the task indexes switched off (a full scan of
        # human_tasks, what any list would cost without the derived, indexed rows).
        f = queries.WorklistFilter(view="open")
        indexed_sql = str(queries.page_statement(queries.worklist_criteria(f, handler_eia, lanes, now), f)
                          .compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
        scan_sql = indexed_sql.replace("FROM human_tasks", "FROM human_tasks NOT INDEXED")
        assert scan_sql != indexed_sql
        fast, _ = timed(lambda: session.execute(text(indexed_sql)).all(), args.repeats)
        slow, _ = timed(lambda: session.execute(text(scan_sql)).all(), max(5, args.repeats // 10))
        print(f"\nopen, page 1: indexed {fast:.2f} ms vs full scan {slow:.2f} ms (baseline) -> "
              f"{slow / fast:.0f}x faster with the indexes")
    engine.dispose()
    folder.cleanup()


if __name__ == "__main__":
    main()
