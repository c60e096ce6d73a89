"""Database engine and session factory: SQLite (WAL) by default, PostgreSQL through DATABASE_URL.

Knows nothing of Flask. The service layer opens one session per command (see services.uow).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, sessionmaker

DEFAULT_SQLITE_PATH = Path(__file__).resolve().parent.parent / "instance" / "runonce.db"


class Base(DeclarativeBase):
    pass


def default_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def make_engine(url: str | None = None, **kwargs) -> Engine:
    url = url or default_url()
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    db_path = make_url(url).database
    if db_path and db_path != ":memory:":
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # pysqlite's own transaction handling is replaced by explicit BEGINs below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # A write command takes the write lock up front (BEGIN IMMEDIATE): a deferred transaction that
        # reads first and writes later fails with SQLITE_BUSY at once when another writer committed in
        # between, instead of waiting its turn. Read-only commands stay DEFERRED so readers never block.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
