"""Signing in, with failures counted in the database (services.throttle) so every process sees them:

- by user name *and* client address: 5 wrong passwords in a row lock that name **from that address** for a
  growing time (1, 2, 4 … minutes, at most a day); the real user signing in from elsewhere is not locked out;
- by client address: 30 failures within 15 minutes, whatever the names, lock the address for 15 minutes;
- by user name alone: every failure answers more slowly (0.5 s more each, at most 4 s), from any address.

An unknown user name is answered exactly like a known one with a wrong password: the same result, the same
counters, and the same work (the password is checked against a dummy hash of the same method), so neither
the message, the status nor the time tells which names exist.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from services import audit_log, throttle, users
from services.actors import Actor
from services.throttle import Rule
from services.uow import UnitOfWork
from storage.models import User
from storage.types import utcnow

FREE_FAILURES = 5
MAX_LOCK = timedelta(days=1)


def lock_duration(failures: int) -> timedelta:
    """The lock after the n-th failure in a row (n ≥ 5): 1 minute, doubling, at most a day."""
    return min(MAX_LOCK, timedelta(minutes=2 ** min(max(0, failures - FREE_FAILURES), 20)))


@dataclass(frozen=True)
class SignInPolicy:
    pair: Rule = field(default_factory=lambda: Rule(
        "signin_pair", window=timedelta(days=1), lock_after=FREE_FAILURES, lock_for=lock_duration))
    address: Rule = field(default_factory=lambda: Rule(
        "signin_address", window=timedelta(minutes=15), lock_after=30))
    account: Rule = field(default_factory=lambda: Rule(
        "signin_account", window=timedelta(minutes=15), delay=0.5, delay_max=4.0))

    def configured(self, delay: float, delay_max: float, address_limit: int) -> SignInPolicy:
        """The slow-down per failure of a name, and the failures after which an address is paused (raise it
        when many people sign in through one address, e.g. an office behind NAT without TRUST_PROXY_HOPS)."""
        return replace(self, account=replace(self.account, delay=delay, delay_max=delay_max),
                       address=replace(self.address, lock_after=address_limit))


@dataclass(frozen=True)
class SignIn:
    status: str  # ok | bad | locked | inactive
    user_id: int | None = None
    generation: int = 0  # the user's session generation, to store in the new session
    failures: int = 0  # failures in a row for this user name from this address
    locked_until: datetime | None = None
    locked_scope: str | None = None  # "account" (this name from this address) | "address"
    delay: float = 0.0  # seconds the answer should be slowed by

    @property
    def remaining_tries(self) -> int:
        return max(0, FREE_FAILURES - self.failures)


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


def name_key(username: str) -> str:
    # Counted whatever the case and surrounding spaces: "EIA1 " is the same target to an attacker.
    return username.strip().casefold()


def authenticate(uow: UnitOfWork, username: str, password: str, address: str | None,
                 policy: SignInPolicy | None = None, now: datetime | None = None) -> SignIn:
    policy = policy or SignInPolicy()
    now = now or utcnow()
    name, key, addr = username.strip(), name_key(username), address or "-"
    with uow:
        session = uow.session
        by_address = throttle.locked_until(session, policy.address, addr, now=now)
        by_pair = throttle.locked_until(session, policy.pair, key, addr, now=now)
        if by_address or by_pair:
            scope = "address" if by_address and (by_pair is None or by_address >= by_pair) else "account"
            return SignIn("locked", locked_until=max(t for t in (by_address, by_pair) if t), locked_scope=scope)
        # One plain row (no relationships loaded), and the hash always computed: an unknown name costs the same
        # work as a wrong password.
        user = session.execute(
            select(User.id, User.password_hash, User.active, User.session_generation).where(User.username == name)
        ).one_or_none()
        matches = check_password_hash(user.password_hash if user else _dummy_hash(users.PASSWORD_METHOD), password)
        if user is not None and matches:
            if not user.active:
                return SignIn("inactive", user.id)
            throttle.clear(session, policy.pair, key, addr)
            throttle.clear(session, policy.account, key)
            uow.commit()
            return SignIn("ok", user.id, user.session_generation)
        pair = throttle.record_failure(session, policy.pair, key, addr, now=now)
        account = throttle.record_failure(session, policy.account, key, now=now)
        from_address = throttle.record_failure(session, policy.address, addr, now=now)
        throttle.purge(session, now)
        actor = Actor.system("sign-in")
        for scope, count in (("account", pair), ("address", from_address)):
            if count.lock_started:
                audit_log.record(session, actor, "sign_in.locked", username=name[:80], address=addr[:64],
                                 after={"scope": scope, "failures": count.failures,
                                        "locked_until": count.locked_until.isoformat()})
        uow.commit()
        lock = pair if pair.lock_started else from_address if from_address.lock_started else None
        return SignIn("bad", failures=pair.failures, locked_until=lock.locked_until if lock else None,
                      locked_scope=("account" if lock is pair else "address") if lock else None,
                      delay=policy.account.delay_for(account.failures))


def unlock(uow: UnitOfWork, username: str, actor: Actor, address: str | None = None,
           policy: SignInPolicy | None = None) -> int:
    """An administrator lifts the sign-in locks of a user name (from every address), and of an address if
    given; audited. Returns how many counters were cleared."""
    policy = policy or SignInPolicy()
    with uow:
        session = uow.session
        cleared = throttle.clear_subject(session, [policy.pair.scope, policy.account.scope], name_key(username))
        if address:
            cleared += throttle.clear_subject(session, [policy.address.scope], address)
        audit_log.record(session, actor, "sign_in.unlocked", username=username.strip()[:80],
                         address=(address or "")[:64], after={"cleared": cleared})
        uow.commit()
        return cleared
