"""The unread-reminders count of every page's header: exact (the same as the list's unread filter) for every
kind of audience, counted from indexes alone, and kept right for reads made before migration 0009_pool."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import func, insert, select, text

from services import reminders
from services.actors import Actor
from storage.migrate import alembic_config, upgrade
from storage.models import Reminder, ReminderRead, Unit, User

ROLES = ("handler", "lead", "supervisor", "window")


def _world(engine, n: int = 400, seed: int = 7) -> list[Actor]:
    """Users of two units with several roles, reminders to every kind of audience, some of them read."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for code in ("eia", "soil"):
            conn.execute(insert(Unit).values(code=code, name_zh=code, name_en=code))
        actors = []
        for uid, (unit, roles) in enumerate([("eia", {"handler"}), ("eia", {"handler", "lead"}),
                                             ("soil", {"lead"}), (None, {"supervisor"}), (None, set())], start=1):
            conn.execute(insert(User).values(id=uid, username=f"u{uid}", display_name="x", password_hash="x",
                                             unit_code=unit, active=True, locale="zh_CN", failed_logins=0))
            actors.append(Actor(f"u{uid}", user_id=uid, roles=frozenset(roles), unit_code=unit))
        for rid in range(1, n + 1):
            unit = rng.choice([None, "eia", "soil"])
            role = rng.choice([None, *ROLES])
            user = rng.choice([None, None, None, rng.randint(1, 5)])
            conn.execute(insert(Reminder).values(
                id=rid, key=f"k{rid}", kind="deadline_warning", subject_type="case", subject_id=str(rid),
                unit_code=unit, role=role, user_id=user, msgid="m", params={}, created_at=now))
    return actors


def _reference(session, actor: Actor) -> int:
    """The list's own definition of unread (what the badge must agree with)."""
    return session.execute(select(func.count(Reminder.id)).where(reminders._visible(actor),
                                                                 reminders._unread(actor))).scalar_one()


def test_the_count_is_exact_for_every_audience_as_reminders_are_read(db_engine, session_factory):
    actors = _world(db_engine)
    rng = random.Random(3)
    from services.uow import UnitOfWork

    uow = UnitOfWork(session_factory)
    for round_ in range(4):
        with uow.reader() as r:
            for actor in actors:
                assert reminders.unread_count(r.session, actor) == _reference(r.session, actor), (round_, actor)
            visible = {a.user_id: r.session.execute(select(Reminder.id).where(reminders._visible(a))).scalars().all()
                       for a in actors}
        for actor in actors:  # each reads some of what they see
            for rid in rng.sample(visible[actor.user_id], k=min(15, len(visible[actor.user_id]))):
                reminders.mark_read(uow, rid, actor)
    reminders.mark_all_read(uow, actors[1])
    with uow.reader() as r:
        assert reminders.unread_count(r.session, actors[1]) == 0
        assert all(reminders.unread_count(r.session, a) == _reference(r.session, a) for a in actors)


def test_the_count_reads_indexes_only(db_engine, session_factory):
    if db_engine.dialect.name != "sqlite":
        return  # the plan is checked on SQLite; PostgreSQL's planner picks by statistics
    actors = _world(db_engine, n=50)
    statements: list[tuple[str, tuple]] = []
    from sqlalchemy import event

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(db_engine, "before_cursor_execute", capture)
    with session_factory() as session:
        reminders.unread_count(session, actors[1])
    event.remove(db_engine, "before_cursor_execute", capture)
    [(statement, parameters)] = [s for s in statements if "count" in s[0].lower()]
    with db_engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    assert plan and not any(step.startswith("SCAN") and "CONSTANT ROW" not in step for step in plan), plan
    assert all("COVERING INDEX" in step for step in plan if step.startswith("SEARCH")), plan


def test_reads_made_before_the_migration_keep_counting(db_url, db_engine, session_factory):
    cfg = alembic_config()
    with db_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009_pool-1")  # to the revision before this one
    actors = _world(db_engine, n=120)
    with db_engine.begin() as conn:  # reads as the old schema stored them: no audience
        for actor in actors:
            for rid in range(1, 121, 3):
                conn.execute(text("INSERT INTO reminder_reads (reminder_id, user_id, read_at) "
                                  "VALUES (:r, :u, CURRENT_TIMESTAMP)"), {"r": rid, "u": actor.user_id})
    upgrade(db_engine)
    with session_factory() as session:
        copied = session.execute(select(func.count()).select_from(ReminderRead).where(
            ReminderRead.audience_unit.is_not(None) | ReminderRead.audience_role.is_not(None)
            | ReminderRead.audience_user.is_not(None))).scalar_one()
        assert copied > 0
        for actor in actors:
            assert reminders.unread_count(session, actor) == _reference(session, actor)
