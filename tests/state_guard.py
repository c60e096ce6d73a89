"""Watches every statement the tests send: a case row written with a value over 64 KB is recorded (the conftest
fails the test). Files belong in the file store, and the workflow state must stay lean."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine

LIMIT = 64 * 1024
oversized: list[str] = []


@event.listens_for(Engine, "before_cursor_execute")
def _check(conn, cursor, statement, parameters, context, executemany) -> None:
    head = statement.lstrip()[:40].upper()
    if not (head.startswith("UPDATE CASES") or head.startswith("INSERT INTO CASES")):
        return
    rows = parameters if executemany else [parameters]
    # SQLite's batched INSERT … RETURNING runs row by row with executemany=True and one flat tuple per row
    if executemany and isinstance(parameters, tuple) and not any(isinstance(p, tuple | list | dict)
                                                                 for p in parameters):
        rows = [parameters]
    for row in rows:
        values = row.values() if isinstance(row, dict) else row
        for value in values or ():
            if isinstance(value, str) and len(value.encode()) > LIMIT:
                oversized.append(f"{len(value.encode())} bytes in {' '.join(statement.split()[:3])}")
