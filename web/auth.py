"""Sign-in, sign-out, changing one's password, and the language switch.

The rules live in services: ``services.signin`` (failures counted by user name and client address in the
database, the same answer for unknown names) and ``services.users`` (session generations, passwords). Here:
each signed-in session carries its user's session generation (``GENERATION_KEY``) and is honoured only while
it matches, so signing out or changing the password ends every session issued before, server-side.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import format_datetime, lazy_gettext
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from services import signin, users
from services.actors import Actor, actor_for
from services.errors import ServiceError
from storage.models import Unit, User
from web.common import reader, show_refusal, uow
from web.inputs import parse_int
from web.redirects import next_target, safe_path

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
GENERATION_KEY = "_session_generation"


@dataclass(frozen=True)
class WebUser(UserMixin):
    """The signed-in user as the pages need them, read once per request."""

    id: int
    username: str
    display_name: str
    locale: str
    active: bool
    unit_name: str | None
    unit_name_en: str | None
    actor: Actor

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_active(self) -> bool:
        return self.active

    def has_role(self, *roles: str) -> bool:
        return self.actor.has_role(*roles, "admin")


def load_web_user(user_id: int, generation: object) -> WebUser | None:
    """The user of a session, or None when the account is gone, disabled, or the session was ended."""
    with reader() as r:
        user = r.session.get(User, user_id)
        if user is None or not user.active or not users.session_is_current(user, generation):
            return None
        unit = r.session.get(Unit, user.unit_code) if user.unit_code else None
        return WebUser(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            locale=user.locale,
            active=user.active,
            unit_name=unit.name_zh if unit else None,
            unit_name_en=unit.name_en if unit else None,
            actor=actor_for(r.session, user),
        )


def init_app(app: Flask) -> None:
    app.config.setdefault("LOGIN_FAILURE_DELAY", 0.5)  # seconds more per failure of a user name, capped below
    app.config.setdefault("LOGIN_FAILURE_DELAY_MAX", 4.0)
    app.config.setdefault("LOGIN_ADDRESS_LIMIT", 30)  # failures from one address in 15 minutes before a pause
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = lazy_gettext("Please sign in to open this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load(user_id: str) -> WebUser | None:
        parsed = parse_int(user_id, minimum=1)
        return load_web_user(parsed, session.get(GENERATION_KEY)) if parsed is not None else None


def _policy() -> signin.SignInPolicy:
    config = current_app.config
    return signin.SignInPolicy().configured(
        float(config["LOGIN_FAILURE_DELAY"]),
        float(config["LOGIN_FAILURE_DELAY_MAX"]),
        int(config["LOGIN_ADDRESS_LIMIT"]),
    )


def _start_session(user_id: int, generation: int) -> bool:
    """A fresh session for the user (no fixation), carrying their session generation; keeps the language."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    web_user = load_web_user(user_id, generation)
    if web_user is None:
        return False
    session[GENERATION_KEY] = generation
    return login_user(web_user)


class LoginForm(FlaskForm):
    username = StringField(
        lazy_gettext("User name"),
        validators=[InputRequired(lazy_gettext("Enter your user name.")), Length(max=80)],
    )
    password = PasswordField(
        lazy_gettext("Password"), validators=[InputRequired(lazy_gettext("Enter your password.")), Length(max=200)]
    )


def _local_time(moment: datetime) -> str:
    return format_datetime(moment, "yyyy-MM-dd HH:mm")


def _minutes_until(moment: datetime) -> int:
    return max(1, int((moment - datetime.now(moment.tzinfo)).total_seconds() // 60) + 1)


def _refusal_message(result: signin.SignIn) -> str:
    """What a failed sign-in is told: never whether the user name exists."""
    if result.status == "inactive":
        return _("This account is disabled. Ask the administrator.")
    if result.status == "locked":
        if result.locked_scope == "address":
            return _("Too many failed sign-ins from your connection: signing in from it is paused until %(time)s "
                     "(about %(minutes)s minutes). Try again then.",
                     time=_local_time(result.locked_until), minutes=_minutes_until(result.locked_until))
        return _("Too many wrong passwords for this user name from your connection: signing in with it from here "
                 "is paused until %(time)s (about %(minutes)s minutes). Try again then, or ask the administrator "
                 "to unlock it.", time=_local_time(result.locked_until), minutes=_minutes_until(result.locked_until))
    if result.locked_until is not None:
        if result.locked_scope == "address":
            return _("Wrong user name or password. Too many failed sign-ins from your connection: signing in from "
                     "it is paused until %(time)s.", time=_local_time(result.locked_until))
        return _("Wrong user name or password. After %(n)s failures in a row, signing in with this user name from "
                 "your connection is paused until %(time)s.", n=result.failures, time=_local_time(result.locked_until))
    if result.failures >= 2:
        return _("Wrong user name or password. %(left)s more failures and signing in with this user name from your "
                 "connection will be paused for a while.", left=result.remaining_tries)
    return _("Wrong user name or password.")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("handler.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        result = signin.authenticate(uow(), form.username.data, form.password.data, request.remote_addr, _policy())
        if result.status == "ok" and _start_session(result.user_id, result.generation):
            return redirect(safe_path(request.args.get("next")) or url_for("handler.home"))
        status = 429 if result.status == "locked" or result.locked_until is not None else 401
        if result.delay:
            time.sleep(result.delay)
        flash(_refusal_message(result), "error")
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    # Server-side: the session generation moves on, so this cookie (and any copy of it) is dead from now on.
    users.end_sessions(uow(), current_user.id)
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        lazy_gettext("Current password"), validators=[InputRequired(lazy_gettext("This field is required."))]
    )
    new_password = PasswordField(
        lazy_gettext("New password"),
        validators=[InputRequired(lazy_gettext("This field is required.")), Length(max=200)],
        description=lazy_gettext("At least %(n)s characters.", n=users.MIN_PASSWORD_LENGTH),
    )
    confirm = PasswordField(
        lazy_gettext("New password again"),
        validators=[EqualTo("new_password", lazy_gettext("The two new passwords are not the same."))],
    )


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            generation = users.change_password(
                uow(), current_user.id, form.current_password.data, form.new_password.data, current_user.actor,
                address=request.remote_addr,
            )
        except ServiceError as err:
            status = show_refusal(form, err)
        else:
            session[GENERATION_KEY] = generation  # this session stays signed in; every other one has ended
            flash(_("Your password is changed. You have been signed out everywhere else."), "success")
            return redirect(url_for("handler.home"))
    elif form.is_submitted():
        status = 422
    return render_template("auth/password.html", form=form), status


@bp.post("/language")
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
    return redirect(next_target(url_for("handler.home")))


def unit_names() -> dict[str, str]:
    """Chinese unit name → the name to show in the current language."""
    from web.i18n import current_language

    with reader() as r:
        rows = r.session.execute(select(Unit.name_zh, Unit.name_en)).all()
    zh = current_language() == "zh_CN"
    return {name_zh: (name_zh if zh else name_en) for name_zh, name_en in rows}
