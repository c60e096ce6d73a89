"""The case deadline clock, refreshed after every command that changes a case.

(Filled in by the deadlines work: acceptance date, suspensions by stepKind, due dates.)
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage.models import Case


def refresh(session: Session, case: Case, wf) -> None:
    """Bring the case's clock rows and due dates up to date with the workflow's state."""
