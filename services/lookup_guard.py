"""Failed case look-ups by applicants (reference number + lookup code), counted in the database so every
process sees them (services.throttle).

Up to ``free`` failures cost nothing; each further one answers ``delay`` seconds more slowly (capped), counted
per client address and per reference number; a client address reaching ``limit`` failures within ``window``
is refused for one window. Only addresses are ever refused: refusing by reference would let anyone lock an
applicant out of their own case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services import throttle
from services.throttle import Rule
from services.uow import UnitOfWork
from storage.types import utcnow


@dataclass(frozen=True)
class LookupPolicy:
    window: timedelta = timedelta(minutes=15)
    limit: int = 10
    free: int = 3
    delay: float = 1.0
    delay_max: float = 5.0

    @property
    def address(self) -> Rule:
        return Rule("lookup_address", window=self.window, free=self.free, lock_after=self.limit,
                    delay=self.delay, delay_max=self.delay_max)

    @property
    def reference(self) -> Rule:
        return Rule("lookup_reference", window=self.window, free=self.free, delay=self.delay,
                    delay_max=self.delay_max)


def retry_after(uow: UnitOfWork, address: str | None, policy: LookupPolicy, now: datetime | None = None) -> float:
    """Seconds until this client address may look up again (0: now)."""
    now = now or utcnow()
    with uow.reader() as r:
        until = throttle.locked_until(r.session, policy.address, address or "-", now=now)
    return max(1.0, (until - now).total_seconds()) if until else 0.0


def record_failure(uow: UnitOfWork, address: str | None, reference: str, policy: LookupPolicy,
                   now: datetime | None = None) -> float:
    """Count a failed look-up; returns the seconds its answer should be slowed by."""
    now = now or utcnow()
    with uow:
        session = uow.session
        by_address = throttle.record_failure(session, policy.address, address or "-", now=now)
        by_reference = throttle.record_failure(session, policy.reference, reference, now=now)
        throttle.purge(session, now)
        uow.commit()
    return policy.address.delay_for(max(by_address.failures, by_reference.failures))
