"""Unit of work: one session, one transaction per command (Cosmic Python, chapter 6)."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from services.errors import N_, Conflict
from storage.db import is_sqlite
from storage.filestore import FileStore


class UnitOfWork:
    """`with uow:` opens a transaction; leaving without `commit()` rolls it back.

    Write commands on SQLite take the write lock when they begin (BEGIN IMMEDIATE) so that concurrent
    writers queue instead of failing half-way; read-only ones (`write=False`) never block writers.
    """

    def __init__(
        self, session_factory: sessionmaker, write: bool = True, files: FileStore | None = None
    ) -> None:
        self.session_factory = session_factory
        self.write = write
        self._files = files
        self.session: Session

    @property
    def files(self) -> FileStore:
        """The file store the case file's bytes go to (FILES_DIR); rows about them go through the session."""
        if self._files is None:
            from services.files import default_store

            self._files = default_store()
        return self._files

    def __enter__(self) -> UnitOfWork:
        self.session = self.session_factory()
        if self.write and is_sqlite(self.session.get_bind()):
            self.session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # close() rolls back whatever was not committed; unlike rollback() it leaves the loaded objects
        # readable (detached), which read views hand on to templates.
        self.session.close()
        if exc is not None and _lost_a_race(exc):
            raise Conflict(N_("Someone else changed the same data at the same moment; nothing was saved. "
                              "Try again.")) from exc

    def commit(self) -> None:
        self.session.commit()

    def reader(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, write=False, files=self._files)


# PostgreSQL: serialization failure, deadlock detected; SQLite: the write lock was not had in time.
_RACE_SQLSTATES = {"40001", "40P01"}


def _lost_a_race(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in _RACE_SQLSTATES or "database is locked" in str(exc.orig)
