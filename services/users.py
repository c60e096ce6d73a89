"""Units and users: creating them is a command like any other (validated, audited)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from services import audit_log
from services.actors import Actor
from services.errors import N_, Conflict, Forbidden, InvalidInput
from services.uow import UnitOfWork
from storage.models import ROLES, Unit, User, UserRole

MIN_PASSWORD_LENGTH = 8
# werkzeug's default (scrypt) in production; the test suite sets a cheap method so that seeding many users
# per test does not dominate its run time.
PASSWORD_METHOD = os.environ.get("RUNONCE_PASSWORD_HASH", "scrypt")


def ensure_units(uow: UnitOfWork, units: Iterable[tuple[str, str, str]], actor: Actor) -> int:
    """Insert or rename units (code, Chinese name, English name); returns how many changed."""
    changed = 0
    with uow:
        session = uow.session
        for code, name_zh, name_en in units:
            unit = session.get(Unit, code)
            if unit is None:
                session.add(Unit(code=code, name_zh=name_zh, name_en=name_en))
            elif (unit.name_zh, unit.name_en) != (name_zh, name_en):
                unit.name_zh, unit.name_en = name_zh, name_en
            else:
                continue
            changed += 1
            audit_log.record(session, actor, "unit.saved", after={"code": code, "name_zh": name_zh})
        uow.commit()
    return changed


def create_user(
    uow: UnitOfWork,
    *,
    username: str,
    password: str,
    display_name: str,
    roles: Iterable[str],
    unit_code: str | None,
    actor: Actor,
    email: str | None = None,
) -> int:
    roles = sorted(set(roles))
    errors: dict[str, str] = {}
    if not username.strip():
        errors["username"] = N_("This field is required.")
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = N_("Too short: at least %(limit)s characters.") % {"limit": MIN_PASSWORD_LENGTH}
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        errors["roles"] = N_("Unknown role.")
    if errors:
        raise InvalidInput(N_("The user could not be created; see the marked fields."), errors)
    with uow:
        session = uow.session
        if unit_code and session.get(Unit, unit_code) is None:
            raise InvalidInput(N_("Unknown unit %(code)s."), {"unit_code": N_("Unknown unit.")}, code=unit_code)
        if session.execute(select(User.id).where(User.username == username)).first():
            raise Conflict(N_("The user name %(name)s is taken."), name=username)
        user = User(
            username=username.strip(), display_name=display_name, unit_code=unit_code, email=email,
            password_hash=generate_password_hash(password, method=PASSWORD_METHOD),
            roles=[UserRole(role=r) for r in roles],
        )
        session.add(user)
        session.flush()
        audit_log.record(session, actor, "user.created",
                         after={"username": username, "roles": roles, "unit": unit_code})
        uow.commit()
        return user.id


def password_matches(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


# ---------------------------------------------------------------- sessions and passwords


def session_is_current(user: User, generation: object) -> bool:
    """A signed-in session is valid only while it carries the user's current session generation."""
    return isinstance(generation, int) and not isinstance(generation, bool) and generation == user.session_generation


def end_sessions(uow: UnitOfWork, user_id: int) -> None:
    """Sign the user out everywhere: every session issued so far stops working (signing out does this)."""
    with uow:
        session = uow.session
        session.execute(
            update(User).where(User.id == user_id)
            .values(session_generation=User.session_generation + 1)
            .execution_options(synchronize_session=False)
        )
        uow.commit()


def change_password(uow: UnitOfWork, user_id: int, current: str, new: str, actor: Actor,
                    address: str | None = None) -> int:
    """Check the current password, store the new one and end every other session; audited. Returns the new
    session generation (the caller's own session is given it, so it stays signed in). A wrong current
    password counts as a failed sign-in of that user from that address (services.signin)."""
    from services import signin, throttle

    errors: dict[str, str] = {}
    if len(new) < MIN_PASSWORD_LENGTH:
        errors["new_password"] = N_("Too short: at least %(limit)s characters.") % {"limit": MIN_PASSWORD_LENGTH}
    elif new == current:
        errors["new_password"] = N_("Choose a password different from the current one.")
    policy = signin.SignInPolicy()
    with uow:
        session = uow.session
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise Forbidden(N_("This account is disabled. Ask the administrator."))
        key, addr = signin.name_key(user.username), address or "-"
        if throttle.locked_until(session, policy.pair, key, addr):
            raise Forbidden(N_("Too many wrong passwords from your connection; try again later."))
        if not password_matches(user, current):
            throttle.record_failure(session, policy.pair, key, addr)
            uow.commit()
            raise InvalidInput(N_("The password was not changed; see the marked fields."),
                               {"current_password": N_("The current password is wrong."), **errors})
        if errors:
            raise InvalidInput(N_("The password was not changed; see the marked fields."), errors)
        user.password_hash = generate_password_hash(new, method=PASSWORD_METHOD)
        user.session_generation += 1
        audit_log.record(session, actor, "user.password_changed", after={"username": user.username})
        uow.commit()
        return user.session_generation
