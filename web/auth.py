"""Sign-in, sign-out and the language switch."""

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
from wtforms.validators import InputRequired

from services.actors import Actor, actor_for
from storage.models import Unit, User
from web import login_guard
from web.common import reader, uow
from web.redirects import safe_path

bp = Blueprint("auth", __name__)
login_manager = LoginManager()


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


def load_web_user(user_id: int) -> WebUser | None:
    with reader() as r:
        user = r.session.get(User, user_id)
        if user is None or not user.active:
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
    app.config.setdefault("LOGIN_FAILURE_DELAY", 0.5)  # seconds per consecutive failure, capped below
    app.config.setdefault("LOGIN_FAILURE_DELAY_MAX", 4.0)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = lazy_gettext("Please sign in to open this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load(user_id: str) -> WebUser | None:
        try:
            return load_web_user(int(user_id))
        except ValueError:
            return None


class LoginForm(FlaskForm):
    username = StringField(
        lazy_gettext("User name"), validators=[InputRequired(lazy_gettext("Enter your user name."))]
    )
    password = PasswordField(
        lazy_gettext("Password"), validators=[InputRequired(lazy_gettext("Enter your password."))]
    )


def _slow_down(failures: int) -> None:
    delay = current_app.config["LOGIN_FAILURE_DELAY"] * max(1, failures)
    time.sleep(min(delay, current_app.config["LOGIN_FAILURE_DELAY_MAX"]))


def _local_time(moment: datetime) -> str:
    return format_datetime(moment, "yyyy-MM-dd HH:mm")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("handler.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        result = login_guard.authenticate(uow(), form.username.data, form.password.data)
        if result.status == "ok":
            lang = session.get("lang")
            session.clear()  # a fresh session on sign-in (no fixation)
            if lang:
                session["lang"] = lang
            login_user(load_web_user(result.user_id))
            return redirect(safe_path(request.args.get("next")) or url_for("handler.home"))
        status = 401
        if result.status == "locked":
            status = 429
            minutes = max(
                1,
                int((result.locked_until - datetime.now(result.locked_until.tzinfo)).total_seconds() // 60)
                + 1,
            )
            flash(
                _(
                    "Too many wrong passwords: this account is locked until %(time)s (about %(minutes)s "
                    "minutes). Try again then, or ask the administrator to unlock it.",
                    time=_local_time(result.locked_until),
                    minutes=minutes,
                ),
                "error",
            )
        elif result.status == "inactive":
            flash(_("This account is disabled. Ask the administrator."), "error")
        else:
            _slow_down(result.failures)
            if result.locked_until is not None:
                status = 429
                flash(
                    _(
                        "Wrong user name or password. After %(n)s failures in a row the account is locked "
                        "until %(time)s.",
                        n=result.failures,
                        time=_local_time(result.locked_until),
                    ),
                    "error",
                )
            elif result.user_id is not None and result.failures >= 2:
                flash(
                    _(
                        "Wrong user name or password. %(left)s more failures and the account will be locked "
                        "for a while.",
                        left=result.remaining_tries,
                    ),
                    "error",
                )
            else:
                flash(_("Wrong user name or password."), "error")
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
    return redirect(safe_path(request.form.get("next")) or url_for("handler.home"))


def unit_names() -> dict[str, str]:
    """Chinese unit name → the name to show in the current language."""
    from web.i18n import current_language

    with reader() as r:
        rows = r.session.execute(select(Unit.name_zh, Unit.name_en)).all()
    zh = current_language() == "zh_CN"
    return {name_zh: (name_zh if zh else name_en) for name_zh, name_en in rows}
