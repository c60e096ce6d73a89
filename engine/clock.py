"""The engine's notion of "now", which tests and the scheduler can pin.

SpiffWorkflow's timers call `datetime.now(timezone.utc)` on the `datetime` name of
`SpiffWorkflow.bpmn.specs.event_definitions.timer`; there is no clock to inject. That one name is replaced,
once, by a subclass whose `now()` returns the pinned time when one is set for the current context
(thread / task), else the real time. Pinning is a ContextVar, so threads do not see each other's clocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer

_pinned: ContextVar[datetime | None] = ContextVar("runonce_engine_now", default=None)


class _EngineDatetime(datetime):
    """Drop-in for `datetime` inside Spiff's timer module; only `now()` differs."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        pinned = _pinned.get()
        if pinned is None:
            return datetime.now(tz)
        if tz is None:
            return pinned.astimezone().replace(tzinfo=None)
        return pinned.astimezone(tz)


def _install() -> None:
    if _spiff_timer.datetime is not _EngineDatetime:
        _spiff_timer.datetime = _EngineDatetime  # type: ignore[misc]


_install()


def _aware(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC (the engine stores and compares UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def now() -> datetime:
    """Aware UTC now, pinned or real."""
    pinned = _pinned.get()
    return pinned.astimezone(UTC) if pinned is not None else datetime.now(UTC)


def pinned() -> datetime | None:
    """The pinned time of the current context, or None when the clock is real (handed to engine workers)."""
    return _pinned.get()


def today() -> date:
    """The local calendar date of `now()` (server time zone)."""
    return now().astimezone().date()


@contextmanager
def frozen_time(moment: datetime) -> Iterator[None]:
    """Within the block, timers (and the `now()`/`today()` script helpers) see `moment`."""
    token = _pinned.set(_aware(moment))
    try:
        yield
    finally:
        _pinned.reset(token)
