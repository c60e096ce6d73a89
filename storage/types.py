"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: SQLite drops the zone, PostgreSQL would keep it; hashing and
    comparisons need one answer."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# Set only while historical data is simulated (services.history: ``seed-demo --cases``): rows and audit events
# written then carry the simulated time, so dashboards see months of history. Everything else uses the real time.
_recorded_now: ContextVar[Callable[[], datetime] | None] = ContextVar("runonce_recorded_now", default=None)


def utcnow() -> datetime:
    source = _recorded_now.get()
    return source().astimezone(UTC) if source is not None else datetime.now(UTC)


@contextmanager
def recorded_time(source: Callable[[], datetime]) -> Iterator[None]:
    """Within the block (this thread), ``utcnow()`` — row timestamps, audit events — reads ``source``."""
    token = _recorded_now.set(source)
    try:
        yield
    finally:
        _recorded_now.reset(token)
