"""The supervisors' summary: each case's facts, daily counts per matter and the heatmap's tallies, kept by the case
commands in their own transaction. The dashboard then adds up daily rows instead of reading every case with its
clock, and the heatmap reads tallies instead of every task row.

How it is kept: a command that changes a case (the guarded updates of ``services.cases`` and ``services.clock``,
registration, withdrawal) calls ``touch(session, case_id)``. Before that session commits, ``refresh`` reads each
touched case as it now is (``cases`` outer-joined with ``case_clocks``, its extensions, its task rows), works out
what it counts for (``contribution``) and adds the difference from what its stored facts row counted for to the
summary tables, then stores the new facts row. ``rebuild`` does the same for every case from empty tables (the
back-fill of migration 0015_summary, ``bench.supervisor`` after its bulk insert, ``python app.py
rebuild-summary``): one code path.

What is counted where (``storage.models``: ``StatsCaseFacts``, ``StatsDay``, ``StatsDayWorkingDays``,
``StatsHeat``, ``StatsHeatStep``, ``StatsHeatDwell``) follows the rules of ``services.statistics`` and
``services.process_mining`` exactly; anything that depends on the day the page is drawn is kept as a date and
judged by the reader: open cases as +1/-1 on the days they become and stop being open, waiting tasks by their
case's due date, dwell times as (created, completed) days counted with the calendar of the day.

When it is read: only when every case has its facts row (``covers``). Rows written outside the commands (an import,
the tests' fixed data sets) make the readers use the live queries, which remain the definition of every number.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, event, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import (
    Case,
    CaseClock,
    CaseExtension,
    HumanTask,
    ProcessDefinition,
    StatsCaseFacts,
    StatsDay,
    StatsDayWorkingDays,
    StatsHeat,
    StatsHeatDwell,
    StatsHeatStep,
)

NO_DAY = date(1, 1, 1)  # the day of a fact without a date (a completed case without completed_at)
DAY_COLUMNS = tuple(c.name for c in StatsDay.__table__.columns if c.name not in ("matter_code", "day"))
_TOUCHED = "summary_touched"
_BATCH = 500


# ---------------------------------------------------------------- what a case counts for


@dataclass(frozen=True)
class Facts:
    """One case as the measures see it (the columns of ``StatsCaseFacts``, heat aside)."""

    case_id: int
    matter_code: str
    definition_id: int
    created_at: datetime | None
    accepted_on: date | None
    status: str
    stopped_on: date | None
    due_on: date | None
    promised_due_on: date | None
    completed_at: datetime | None
    trips: int | None
    supplement_notices: int | None
    extended: bool
    working_days_used: int | None


FACT_FIELDS = tuple(Facts.__dataclass_fields__)


_EIGHT_HOURS = timedelta(hours=8)


def beijing_day(moment: datetime | None) -> date | None:
    """The Beijing date of a stored (aware UTC) moment: UTC+8, as the SQL of the live queries counts it (no daylight
    saving since 1991)."""
    return None if moment is None else (moment + _EIGHT_HOURS).date()


# Keys of a contribution: (table, key columns) -> count; StatsDay's are (matter, day, column).
Key = tuple[Any, ...]


def day_counts(f: Facts) -> dict[Key, int]:
    """What one case adds to ``stats_days`` and ``stats_day_working_days``: the rules of ``services.statistics``
    (``facts`` and ``_RULES``) applied to one case, each on the day that decides it."""
    out: dict[Key, int] = defaultdict(int)
    m = f.matter_code

    def add(day: date | None, column: str, n: int = 1) -> None:
        out[("d", m, day or NO_DAY, column)] += n

    registered = beijing_day(f.created_at)
    add(registered, "registered")
    notices = f.supplement_notices or 0
    if notices >= 1:
        add(registered, "supplement")
    if notices >= 2:
        add(registered, "second_notice")
    live = f.status != "withdrawn"
    if f.accepted_on is not None:
        add(f.accepted_on, "accepted")
        if f.extended:
            add(f.accepted_on, "extended")
    if f.accepted_on is not None and live and f.stopped_on is not None:
        stopped = f.stopped_on
        add(stopped, "concluded")
        if f.due_on is not None:
            add(stopped, "timed")
            add(stopped, "on_time" if stopped <= f.due_on else "late")
        if f.promised_due_on is not None:
            add(stopped, "promised")
            if stopped <= f.promised_due_on:
                add(stopped, "early")
        if f.working_days_used is None:
            add(stopped, "days_missing")
        else:
            out[("w", m, stopped, f.working_days_used)] += 1
    if f.status == "completed":
        finished = beijing_day(f.completed_at)
        add(finished, "finished")
        if f.trips is not None:
            add(finished, "trips", f.trips)
            if f.trips <= 1:
                add(finished, "run_once")
            if f.trips == 0:
                add(finished, "zero_trip")
            if f.trips > 1:
                add(finished, "multi_trip")
    if f.accepted_on is not None and live:
        # open on day D: accepted by D and not stopped by D; open and overdue: also due before D
        for start, column in ((f.accepted_on, "open_delta"),
                              (max(f.accepted_on, f.due_on + timedelta(days=1)) if f.due_on else None,
                               "open_overdue_delta")):
            if start is None or (f.stopped_on is not None and f.stopped_on <= start):
                continue
            add(start, column)
            if f.stopped_on is not None:
                add(f.stopped_on, column, -1)
    return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class TaskRow:
    matter_code: str
    spec_name: str
    form: str | None
    state: str
    created_at: datetime
    completed_at: datetime | None


def heat_tasks(matter_code: str, model: Any, tasks: Iterable[TaskRow]) -> list[list[Any]]:
    """The case's task rows (not cancelled, in the order created) as the heatmap sees them: [element, done (0/1),
    Beijing day created, day completed (None), and the row's matter when not the case's]; rows of no element of the
    diagram left out. Stored with the facts row (``heat``): what the case counted for in the heatmap tables."""
    from services.process_mining import element_of

    out: list[list[Any]] = []
    for t in tasks:
        element = element_of(model, t.spec_name, t.form)
        if element is None:
            continue
        completed = beijing_day(t.completed_at)
        entry = [element, int(t.state == "completed"), beijing_day(t.created_at).toordinal(),
                 completed.toordinal() if completed else None]
        if t.matter_code != matter_code:
            entry.append(t.matter_code)
        out.append(entry)
    return out


def heat_counts(matter_code: str, definition_id: int, due_on: date | None, tasks: list[list[Any]]
                ) -> dict[Key, int]:
    """What one case's tasks (``heat_tasks``) add to the heatmap tables: the rules of
    ``services.process_mining.heatmap`` applied to one case."""
    out: dict[Key, int] = defaultdict(int)
    trails: dict[str, list[str]] = {}
    due = due_on.toordinal() if due_on is not None else None
    for element, done, created, completed, *other in tasks:
        m = other[0] if other else matter_code
        trail = trails.setdefault(m, [])
        if not trail or trail[-1] != element:
            out[("s", m, definition_id, trail[-1] if trail else "", element)] += 1
            trail.append(element)
        if done and completed is not None:
            out[("h", m, definition_id, element, "passed", 0)] += 1
            out[("x", m, definition_id, element, created, completed)] += 1
            if due is not None:
                out[("h", m, definition_id, element, "judged", 0)] += 1
                if completed > due:
                    out[("h", m, definition_id, element, "late", 0)] += 1
        else:
            out[("h", m, definition_id, element, "waiting", 0)] += 1
            if due is not None and not done:  # judged against the day the heatmap is drawn
                out[("h", m, definition_id, element, "waiting_due", due)] += 1
    return dict(out)


# ---------------------------------------------------------------- reading the cases as they are


def _facts_query(some: bool):
    """Every case (``some``: those of the expanding parameter ``ids``) as ``Facts``, with its version's hash."""
    ids = bindparam("ids", expanding=True)
    extensions = select(CaseExtension.case_id)
    if some:
        extensions = extensions.where(CaseExtension.case_id.in_(ids))
    query = (select(Case.id, Case.matter_code, Case.definition_id, Case.created_at, Case.accepted_on, Case.status,
                    CaseClock.stopped_on, Case.due_on, Case.promised_due_on, Case.completed_at, Case.trips,
                    Case.supplement_notices, Case.id.in_(extensions), CaseClock.working_days_used,
                    ProcessDefinition.content_hash)
             .select_from(Case).outerjoin(CaseClock, CaseClock.case_id == Case.id)
             .outerjoin(ProcessDefinition, ProcessDefinition.id == Case.definition_id))
    if some:
        query = query.where(Case.id.in_(ids))
    return query.order_by(Case.id)


def _tasks_query(some: bool):
    query = (select(HumanTask.case_id, HumanTask.matter_code, HumanTask.spec_name, HumanTask.form, HumanTask.state,
                    HumanTask.created_at, HumanTask.completed_at)
             .where(HumanTask.state != "cancelled"))
    if some:
        query = query.where(HumanTask.case_id.in_(bindparam("ids", expanding=True)))
    return query.order_by(HumanTask.case_id, HumanTask.created_at, HumanTask.id)


# Built once (a command refreshes a case or two: building and keying the statements would cost more than running
# them); "ids" is bound at execution.
_QUERIES = {some: (_facts_query(some), _tasks_query(some)) for some in (False, True)}
_STORED = select(StatsCaseFacts).where(StatsCaseFacts.case_id.in_(bindparam("ids", expanding=True)))


def _live(connection: Connection, ids: list[int] | None) -> Iterator[tuple[Facts, str | None, list[TaskRow]]]:
    """Every case (or those of ``ids``) with its version's content hash and its task rows, in id order."""
    facts_query, tasks_query = _QUERIES[ids is not None]
    params = {"ids": ids} if ids is not None else {}
    if ids is None:
        facts_query, tasks_query = (q.execution_options(yield_per=5000) for q in (facts_query, tasks_query))
    tasks = connection.execute(tasks_query, params)
    pending = next(tasks, None)
    for row in connection.execute(facts_query, params):
        facts = Facts(*row[:12], bool(row[12]), row[13])
        mine: list[TaskRow] = []
        while pending is not None and pending[0] <= facts.case_id:
            if pending[0] == facts.case_id:
                mine.append(TaskRow(*pending[1:]))
            pending = next(tasks, None)
        yield facts, row[14], mine


def _model(connection: Connection, content_hash: str | None) -> Any:
    """The diagram of a deployed version (``process_mining.model_of`` keeps them by content hash)."""
    from services.process_mining import _MODELS, model_of

    if content_hash is None:
        return None
    model = _MODELS.get(content_hash)
    if model is None:
        definition = connection.execute(
            select(ProcessDefinition.process_id, ProcessDefinition.content_hash, ProcessDefinition.files)
            .where(ProcessDefinition.content_hash == content_hash).limit(1)).one()
        try:
            model = model_of(definition)
        except Exception:  # no diagram to draw (the heatmap cannot be drawn either): no tallies, never a failed command
            return None
    return model


def contribution(facts: Facts, model: Any, tasks: list[TaskRow]) -> tuple[dict[str, Any], dict[Key, int]]:
    """The case's facts row and everything it counts for (``model``: its version's diagram)."""
    row = {name: getattr(facts, name) for name in FACT_FIELDS}
    row["heat"] = heat_tasks(facts.matter_code, model, tasks) if model is not None else []
    return row, _counted(row)


def _counted(row: Any) -> dict[Key, int]:
    """What a facts row (stored, or just worked out) counts for: one function for both sides of a difference."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name)
    counts = day_counts(Facts(*(get(name) for name in FACT_FIELDS)))
    counts.update(heat_counts(get("matter_code"), get("definition_id"), get("due_on"), get("heat") or []))
    return counts


# ---------------------------------------------------------------- writing


_TABLES = {  # contribution key prefix -> (table, key columns, counted columns)
    "d": (StatsDay.__table__, ("matter_code", "day"), DAY_COLUMNS),
    "w": (StatsDayWorkingDays.__table__, ("matter_code", "day", "working_days"), ("cases",)),
    "h": (StatsHeat.__table__, ("matter_code", "definition_id", "element", "kind", "value"), ("n",)),
    "s": (StatsHeatStep.__table__, ("matter_code", "definition_id", "previous", "element"), ("n",)),
    "x": (StatsHeatDwell.__table__, ("matter_code", "definition_id", "element", "created_day", "completed_day"),
          ("n",)),
}


def _rows(delta: dict[Key, int]) -> dict[str, list[dict[str, Any]]]:
    """Counts by key as rows of each table (StatsDay: one row per matter and day, every column given)."""
    out: dict[str, dict[Key, dict[str, Any]]] = defaultdict(dict)
    for key, n in delta.items():
        if not n:
            continue
        prefix = key[0]
        table, key_columns, counted = _TABLES[prefix]
        if prefix == "d":
            ident, column = key[1:3], key[3]
        else:
            ident, column = key[1:], counted[0]
        row = out[prefix].get(ident)
        if row is None:
            row = out[prefix][ident] = {**dict(zip(key_columns, ident, strict=True)), **dict.fromkeys(counted, 0)}
        row[column] += n
    return {prefix: [rows[k] for k in sorted(rows)] for prefix, rows in out.items()}


_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert(connection: Connection, prefix: str) -> Any:
    """INSERT … ON CONFLICT DO UPDATE (SQLite and PostgreSQL): a count table's row gets the counts added; a facts
    row is replaced. Built once per dialect."""
    dialect = connection.dialect.name
    if (dialect, prefix) not in _UPSERTS:
        table = StatsCaseFacts.__table__ if prefix == "facts" else _TABLES[prefix][0]
        stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        if prefix == "facts":
            stmt = stmt.on_conflict_do_update(index_elements=["case_id"],
                                              set_={c.name: stmt.excluded[c.name] for c in table.columns
                                                    if c.name != "case_id"})
        else:
            _, key_columns, counted = _TABLES[prefix]
            stmt = stmt.on_conflict_do_update(index_elements=list(key_columns),
                                              set_={c: table.c[c] + stmt.excluded[c] for c in counted})
        _UPSERTS[(dialect, prefix)] = stmt
    return _UPSERTS[(dialect, prefix)]


def _add(connection: Connection, delta: dict[Key, int]) -> None:
    """Add the counts to the tables (insert, or add to the row there); keys in a fixed order, so two
    transactions adding to the same rows take their locks in the same order."""
    for prefix, rows in sorted(_rows(delta).items()):
        connection.execute(_upsert(connection, prefix), rows)


def refresh(session: Session, case_ids: Iterable[int]) -> None:
    """Bring the summary up to date with these cases as they are now (in the session's transaction)."""
    ids = sorted(set(case_ids))
    if not ids:
        return
    session.flush()
    connection = session.connection()
    for start in range(0, len(ids), _BATCH):
        batch = ids[start:start + _BATCH]
        stored = {row.case_id: row for row in connection.execute(_STORED, {"ids": batch})}
        delta: dict[Key, int] = defaultdict(int)
        upserts = []
        for facts, content_hash, tasks in _live(connection, batch):
            row, counts = contribution(facts, _model(connection, content_hash), tasks)
            old = stored.pop(facts.case_id, None)
            if old is not None:
                if all(getattr(old, k) == v for k, v in row.items()):
                    continue
                for key, n in _counted(old).items():
                    delta[key] -= n
            for key, n in counts.items():
                delta[key] += n
            upserts.append(row)
        for old in stored.values():  # a case that is no more
            for key, n in _counted(old).items():
                delta[key] -= n
            connection.execute(delete(StatsCaseFacts).where(StatsCaseFacts.case_id == old.case_id))
        if upserts:
            connection.execute(_upsert(connection, "facts"), upserts)
        _add(connection, delta)


def rebuild(connection: Connection) -> int:
    """Empty the summary and count every case again (the same ``contribution`` as ``refresh``), in the caller's
    transaction. Returns the number of cases.

    Commands running meanwhile wait: on PostgreSQL the facts table is locked first (a command's refresh reads it),
    so a command either committed before and is counted here, or refreshes after this commits from these rows; on
    SQLite writers take turns anyway."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE stats_case_facts IN ACCESS EXCLUSIVE MODE")
    for model in (StatsHeatDwell, StatsHeatStep, StatsHeat, StatsDayWorkingDays, StatsDay, StatsCaseFacts):
        connection.execute(delete(model))
    total: dict[Key, int] = defaultdict(int)
    batch: list[dict[str, Any]] = []
    cases = 0
    for facts, content_hash, tasks in _live(connection, None):
        row, counts = contribution(facts, _model(connection, content_hash), tasks)
        for key, n in counts.items():
            total[key] += n
        batch.append(row)
        cases += 1
        if len(batch) >= 2000:
            connection.execute(insert(StatsCaseFacts), batch)
            batch.clear()
    if batch:
        connection.execute(insert(StatsCaseFacts), batch)
    for prefix, rows in sorted(_rows(total).items()):
        table = _TABLES[prefix][0]
        for start in range(0, len(rows), 5000):
            connection.execute(insert(table), rows[start:start + 5000])
    return cases


def covers(session: Session) -> bool:
    """Whether every case has its facts row (then the summary counts every case; see the module's text)."""
    cases = select(func.count()).select_from(Case).scalar_subquery()
    summarized = select(func.count()).select_from(StatsCaseFacts).scalar_subquery()
    return bool(session.execute(select(cases == summarized)).scalar_one())


# ---------------------------------------------------------------- the hook


def touch(session: Session, case_id: int | None) -> None:
    """The case changed in this transaction: refresh its summary before the session commits."""
    if case_id is not None:
        session.info.setdefault(_TOUCHED, set()).add(case_id)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    touched = session.info.pop(_TOUCHED, None)
    if touched:
        refresh(session, touched)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_TOUCHED, None)
