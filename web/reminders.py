"""Reminders in the web UI: the list (unread first choice), mark as read, and a JSON count for the header.

Register (web/__init__.py):   from web import reminders;  reminders.init_app(app)
That registers the blueprint (/reminders/) and a template helper ``reminders_unread()`` for the header.

The texts of reminders are stored as message ids plus parameters; each reader sees them in their own
language (``services.reminders.render``; a Flask-Babel translation of an id takes precedence).  This page's
own labels are in ``LABELS`` (Chinese first), so it needs no catalog entries.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required

from services import clock, reminders
from services.errors import NotFound
from web.common import actor, reader, uow
from web.i18n import current_language
from web.inputs import page_number
from web.redirects import next_target

bp = Blueprint("reminders", __name__, url_prefix="/reminders")
PAGE_SIZE = 30

LABELS: dict[str, tuple[str, str]] = {
    "title": ("提醒", "Reminders"),
    "unread": ("未读", "Unread"),
    "all": ("全部", "All"),
    "mark_read": ("标为已读", "Mark as read"),
    "mark_all_read": ("全部标为已读", "Mark all as read"),
    "empty": ("暂无提醒。", "No reminders."),
    "read": ("已读", "Read"),
    "case": ("查看案件", "Open the case"),
    "task": ("办理任务", "Open the task"),
    "my tasks": ("我的任务", "My tasks"),
    "previous": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "kind": ("类型", "Kind"),
    "message": ("内容", "Message"),
    "created": ("时间", "Time"),
    "filter": ("筛选", "Filter"),
}


def label(key: str) -> str:
    zh, en = LABELS.get(key, (key, key))
    return zh if reminders.is_chinese(current_language()) else en


def reminder_text(item: reminders.ReminderItem) -> str:
    msgid = item.reminder.msgid
    return item.text(current_language(), gettext(msgid) if msgid else None)


@bp.get("/")
@login_required
def index():
    show = request.args.get("show", "unread")
    if show not in ("unread", "all"):
        show = "unread"
    kind = request.args.get("kind") or None
    if kind not in reminders.KINDS:
        kind = None
    page = page_number(request.args.get("page"))
    me = actor()
    with reader() as r:
        total = reminders.count_for(r.session, me, unread_only=show == "unread", kind=kind)
        items = reminders.list_for(
            r.session,
            me,
            unread_only=show == "unread",
            kind=kind,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        unread = reminders.unread_count(r.session, me)
    locale = current_language()
    rows = [
        {
            "item": i,
            "text": reminder_text(i),
            "kind": reminders.kind_label(i.reminder.kind, locale),
            "created": i.reminder.created_at.astimezone(clock.BEIJING).strftime("%Y-%m-%d %H:%M"),
        }
        for i in items
    ]
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "reminders/list.html",
        rows=rows,
        show=show,
        kind=kind,
        page=page,
        pages=pages,
        unread=unread,
        total=total,
        label=label,
        kinds=[(k, reminders.kind_label(k, locale)) for k in reminders.KINDS],
    )


@bp.post("/<int:reminder_id>/read")
@login_required
def mark_read(reminder_id: int):
    try:
        reminders.mark_read(uow(), reminder_id, actor())
    except NotFound:
        abort(404)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(ok=True, unread=_unread())
    return redirect(next_target(url_for("reminders.index")))


@bp.post("/read-all")
@login_required
def mark_all_read():
    reminders.mark_all_read(uow(), actor())
    return redirect(next_target(url_for("reminders.index")))


@bp.get("/count.json")
def count():
    """For the header badge (polled by the page): {"unread": n}; 401 when not signed in."""
    if not current_user.is_authenticated:
        return jsonify(unread=0), 401
    response = jsonify(unread=_unread())
    response.headers["Cache-Control"] = "no-store"
    return response


def _unread() -> int:
    with reader() as r:
        return reminders.unread_count(r.session, actor())


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _reminder_helpers() -> dict[str, Any]:
        def reminders_unread() -> int:
            if not current_user.is_authenticated:
                return 0
            return _unread()

        return {"reminders_unread": reminders_unread, "reminders_label": label}
