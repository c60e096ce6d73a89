"""Signing in with a limit on failures: after 5 wrong passwords in a row the account is locked for a growing
time (1, 2, 4 … minutes, at most a day), and every failed attempt answers more slowly.

Written as a service-layer command (no Flask): one transaction, audited. It belongs in services/users.py; it
lives here until the lead moves it (see the web report).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from services import audit_log
from services.actors import Actor
from services.uow import UnitOfWork
from services.users import password_matches
from storage.models import User
from storage.types import utcnow

FREE_FAILURES = 5
MAX_LOCK = timedelta(days=1)


@dataclass(frozen=True)
class SignIn:
    status: str  # ok | bad | locked | inactive
    user_id: int | None = None
    failures: int = 0
    locked_until: datetime | None = None

    @property
    def remaining_tries(self) -> int:
        return max(0, FREE_FAILURES - self.failures)


def lock_duration(failures: int) -> timedelta:
    """The lock after the n-th consecutive failure (n ≥ 5): 1 minute, doubling, capped."""
    return min(MAX_LOCK, timedelta(minutes=2 ** max(0, failures - FREE_FAILURES)))


def _as_aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        from datetime import UTC

        return moment.replace(tzinfo=UTC)
    return moment


def authenticate(uow: UnitOfWork, username: str, password: str, now: datetime | None = None) -> SignIn:
    now = now or utcnow()
    with uow:
        session = uow.session
        user = session.execute(select(User).where(User.username == username.strip())).scalar_one_or_none()
        if user is None:
            return SignIn("bad")
        locked_until = _as_aware(user.locked_until)
        if locked_until is not None and locked_until > now:
            return SignIn("locked", user.id, user.failed_logins, locked_until)
        if not password_matches(user, password):
            user.failed_logins = (user.failed_logins or 0) + 1
            actor = Actor.system("sign-in")
            if user.failed_logins >= FREE_FAILURES:
                user.locked_until = now + lock_duration(user.failed_logins)
                audit_log.record(
                    session,
                    actor,
                    "user.locked",
                    username=user.username,
                    after={
                        "failed_logins": user.failed_logins,
                        "locked_until": user.locked_until.isoformat(),
                    },
                )
            else:
                audit_log.record(
                    session,
                    actor,
                    "user.sign_in_failed",
                    username=user.username,
                    after={"failed_logins": user.failed_logins},
                )
            uow.commit()
            return SignIn("bad", user.id, user.failed_logins, user.locked_until)
        if not user.active:
            return SignIn("inactive", user.id)
        if user.failed_logins or user.locked_until:
            user.failed_logins, user.locked_until = 0, None
            uow.commit()
        return SignIn("ok", user.id)
