"""Shared fixtures. Storage and end-to-end tests run on every backend: SQLite and PostgreSQL.

PostgreSQL is mandatory under CI (CI=true): if it cannot be reached the tests fail instead of skipping.
Each test session gets its own PostgreSQL database, so parallel or repeated runs never collide.
"""

from __future__ import annotations

import os

# Cheap password hashing for the many demo users the tests create (production keeps scrypt).
os.environ.setdefault("RUNONCE_PASSWORD_HASH", "pbkdf2:sha256:1000")
# Uploaded and issued files of every test go to a throw-away store (content-addressed, so tests may share it).
import tempfile  # noqa: E402

os.environ.setdefault("FILES_DIR", tempfile.mkdtemp(prefix="runonce-files-"))
# A command's documents are rendered before it returns (still after its commit), so that tests read them at once;
# the background mode of servers has its own tests (tests/services/test_document_rendering.py).
os.environ.setdefault("DOCUMENTS_RENDER", "inline")

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest  # noqa: E402
import state_guard
from pg_support import fresh_pg_database
from smtp_support import smtp  # noqa: F401 - a real SMTP server for any test that asks for it
from sqlalchemy import Engine, text

from services.uow import UnitOfWork
from storage.db import Base, make_engine, make_session_factory
from storage.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


def _truncate_pg(engine: Engine) -> None:
    import storage.models  # noqa: F401

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "runonce.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("_pg_database")
    engine = make_engine(url)
    _truncate_pg(engine)
    engine.dispose()
    return url


@pytest.fixture
def db_engine(db_url) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(db_engine):
    return make_session_factory(db_engine)


@pytest.fixture
def uow(session_factory) -> UnitOfWork:
    return UnitOfWork(session_factory)


# ---- case state rows stay small (issue: files live in the file store, never in the workflow state) ------------


@pytest.fixture(autouse=True)
def _case_state_rows_stay_small(request):
    """Every test: no case row was written with a value over 64 KB (the serialized workflow above all). Only
    hostile diagrams that run to the engine's step bound may say so (marker ``large_state``, with the reason)."""
    start = len(state_guard.oversized)
    yield
    if request.node.get_closest_marker("large_state") is None:
        assert state_guard.oversized[start:] == [], "case state row over 64 KB"


# ---- the suite runs in two passes (Makefile): these with the machine to themselves, the rest on every core -----

# Tests that measure time or spend resources by design: OS limits of the engine workers (CPU, memory, deadlines),
# "answers within a second while a runaway runs", equal sign-in timing, servers in subprocesses, Chromium, 200 MB
# uploads. Beside other tests on a 2-core machine the limit they check would be met by the load, not the cause.
SERIAL = (
    "tests/browser/",
    "tests/engine/test_engine_pool.py",
    "tests/engine/test_engine_bounds.py",
    "tests/engine/test_engine_sandbox.py",
    "tests/engine/test_engine_runtime.py",
    "tests/engine/test_engine_xml_safety.py",
    "tests/calendar/test_working_day_calendar.py",
    "tests/services/test_engine_isolation.py",
    "tests/services/test_engine_bounds_service.py",
    "tests/services/test_deploy_gate_service.py",
    "tests/services/test_document_rendering.py",
    "tests/web/test_engine_isolation_web.py",
    "tests/web/test_sign_in_and_sessions.py",
    "tests/web/test_auth.py",
    "tests/web/test_multiprocess_serving.py",
    "tests/web/test_large_upload.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        where = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        if where.startswith(SERIAL):
            item.add_marker(pytest.mark.serial)
