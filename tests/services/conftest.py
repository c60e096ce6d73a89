"""Fixtures for the service-layer tests: the demo installation, made once per module and backend.

Also makes the scenario table (tests/workflows/driver.py) and this folder's helpers importable.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

HERE = Path(__file__).resolve().parent
for _path in (HERE.parents[1], HERE.parent / "workflows", HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from services.actors import Actor  # noqa: E402
from services.uow import UnitOfWork  # noqa: E402
from storage.db import make_engine, make_session_factory  # noqa: E402


@dataclass
class Installation:
    backend: str
    url: str
    engine: Engine
    uow: UnitOfWork
    people: dict[str, Actor]  # lane (Chinese unit name) -> a demo user of that unit


@pytest.fixture(scope="module", params=("sqlite", "postgresql"))
def installation(request, tmp_path_factory) -> Iterator[Installation]:
    """Units of the catalog, demo users, every matter deployed: seeded once per test module and backend."""
    from service_driver import seed, truncate_all

    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("services") / "runonce.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("_pg_database")  # skips (fails under CI) without PostgreSQL
    engine = make_engine(url)
    truncate_all(engine)  # the PostgreSQL database is shared with the rest of the session
    uow = UnitOfWork(make_session_factory(engine))
    yield Installation(request.param, url, engine, uow, seed(uow))
    engine.dispose()


@pytest.fixture
def installed(installation) -> Installation:
    """The module's installation without the cases, task rows and audit events of the previous test."""
    from service_driver import clear_cases

    clear_cases(installation.engine)
    return installation
