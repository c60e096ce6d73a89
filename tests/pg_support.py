"""PostgreSQL for the tests: a fresh, migrated database per caller. A plain module (not a conftest) so any
test folder can import it by name."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

from storage.db import make_engine
from storage.migrate import upgrade

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return str(exc).splitlines()[0]


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, migrated PostgreSQL database for the caller, dropped afterwards; fails under CI if PostgreSQL
    is unreachable, skips elsewhere."""
    problem = _pg_reachable()
    if problem:
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"runonce_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


