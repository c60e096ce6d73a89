"""Units and users: creating them is a command like any other (validated, audited)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from services import audit_log
from services.actors import Actor
from services.errors import N_, Conflict, InvalidInput
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
