"""What one transaction looked up once and may reuse until it ends.

A command asks the same questions several times (the working calendar, a matter's setting, the case's clock
row): SQLAlchemy's identity map holds only weak references to clean rows, and never remembers a row that does
not exist, so each ask would go to the database again. Values kept here live exactly as long as the session's
transaction: a commit, a rollback or close drops them, so nothing outlives what the transaction could see.
A command that changes what a key answers calls ``forget`` after the change.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

T = TypeVar("T")
_KEY = "tx_cache"


def cached(session: Session, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``'s answer, computed at most once in the session's current transaction."""
    store: dict[Hashable, Any] = session.info.setdefault(_KEY, {})
    try:
        return store[key]
    except KeyError:
        value = store[key] = compute()
        return value


def keep(session: Session, key: Hashable, value: T) -> T:
    """Remember ``value`` under ``key`` (a row just created, say) for the rest of the transaction."""
    session.info.setdefault(_KEY, {})[key] = value
    return value


def forget(session: Session, key: Hashable) -> None:
    session.info.get(_KEY, {}).pop(key, None)


@event.listens_for(Session, "after_transaction_end")
def _drop(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction; a savepoint's end keeps the outer answers
        session.info.pop(_KEY, None)
