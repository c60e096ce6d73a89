"""Audit events written by commands, in the same transaction as the change they describe."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.actors import Actor
from storage import audit


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    case_id: int | None = None,
    before: Any = None,
    after: Any = None,
    **detail: Any,
) -> None:
    payload: dict[str, Any] = {"before": before, "after": after}
    payload.update(detail)
    audit.append(session, actor=actor.username, action=action, payload=payload, case_id=case_id)


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys a command changed, as (before, after): the full data would repeat on every event."""
    keys = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    return ({k: before.get(k) for k in sorted(keys)}, {k: after.get(k) for k in sorted(keys)})
