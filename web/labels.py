"""Names shown for stored codes (case status, task state, audit actions, channels), in the user's language."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l
from wtforms.widgets import ListWidget

CASE_STATUS = {
    "active": _l("In progress"),
    "completed": _l("Completed"),
    "withdrawn": _l("Withdrawn"),
    "incident": _l("Needs attention"),
}
OUTCOME = {
    "approved": _l("Approved"),
    "refused": _l("Refused"),
    "withdrawn": _l("Withdrawn"),
    "not_accepted": _l("Not accepted"),
    "filed": _l("Filed"),
    "returned": _l("Returned"),
}
TASK_STATE = {
    "ready": _l("To do"),
    "completed": _l("Done"),
    "cancelled": _l("Cancelled"),
}
ACTIONS = {
    "case.registered": _l("Application registered"),
    "case.completed": _l("Case completed"),
    "case.incident": _l("Case stopped with an error"),
    "case.withdrawn": _l("Case withdrawn"),
    "case.extended": _l("Time limit extended"),
    "case.retried": _l("Failed step run again"),
    "task.claimed": _l("Task claimed"),
    "task.released": _l("Task released"),
    "task.reassigned": _l("Task reassigned"),
    "task.completed": _l("Task completed"),
    "timer.fired": _l("Time limit reached"),
    "definition.deployed": _l("Process version deployed"),
    "user.created": _l("User created"),
    "user.locked": _l("Account locked after failed sign-ins"),
    "user.sign_in_failed": _l("Failed sign-in"),
    "user.password_changed": _l("Password changed"),
    "sign_in.locked": _l("Sign-in paused after failures"),
    "sign_in.unlocked": _l("Sign-in lock lifted"),
    "unit.saved": _l("Unit saved"),
    "holiday_notice.saved": _l("Holiday notice saved"),
    "matter_setting.saved": _l("Matter setting saved"),
    "document.signed_for": _l("Signed-for date of documents recorded"),
    "document.issued": _l("Document issued (PDF stored)"),
    "document.downloaded": _l("Document downloaded by the applicant"),
    "documents.served": _l("Documents served electronically"),
    "case.rated": _l("Service rated by the applicant"),
    "credit.recorded": _l("Credit record entered"),
    "registry.imported": _l("Regulated entities imported"),
    "roster.inspector_added": _l("Inspector added to the roster"),
    "spot_check.planned": _l("Spot-check plan published"),
    "spot_check.drawn": _l("Spot-check draw made"),
    "storage.files_migrated": _l("Attachments moved to the file store"),
    "api.client_created": _l("API client created"),
    "api.client_revoked": _l("API client revoked"),
    "api.client_rotated": _l("API client token rotated"),
    "api.call": _l("API call"),
    "webhook.subscribed": _l("Webhook subscribed"),
    "webhook.unsubscribed": _l("Webhook unsubscribed"),
    "webhook.replayed": _l("Webhook delivery replayed"),
}
CHANNEL = {"window": _l("At the window"), "post": _l("By post"), "online": _l("Online")}
DELIVERY = {
    "window": _l("Collect at the window"),
    "post": _l("Delivery by post"),
    "online": _l("Download online"),
}


APPLICANT_ACTOR = "applicant:"


def task_title(title: str | None) -> str:
    """A task's title in the page's language: on English pages the ``x-title-en`` the diagrams give their user
    tasks (a title a designer typed without one stays as it is)."""
    from web.i18n import current_language

    if not title or current_language() == "zh_CN":
        return title or ""
    return _english_titles().get(title, title)


@lru_cache(maxsize=1)
def _english_titles() -> dict[str, str]:
    """Chinese task name → its x-title-en, from the shipped diagrams (read once)."""
    from lxml import etree

    from workflows.catalog import shipped_catalog

    bpmn = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
    spiff = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
    titles: dict[str, str] = {}
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    for path in sorted(shipped_catalog().path.parent.rglob("*.bpmn")):
        root = etree.parse(str(path), parser).getroot()
        for task in [*root.iter(f"{bpmn}userTask"), *root.iter(f"{bpmn}manualTask")]:
            for prop in task.iter(f"{spiff}property"):
                if prop.get("name") == "x-title-en" and task.get("name"):
                    titles.setdefault(task.get("name"), prop.get("value") or task.get("name"))
    return titles


def actor_name(username: str | None) -> str:
    """Who did something, as a person reads it: a user's display name, "the applicant" for the applicant's
    own actions, "the system" for the scheduler and set-up; never the internal id ("applicant:9122…")."""
    if not username:
        return ""
    if username.startswith(APPLICANT_ACTOR):
        return str(_l("Applicant"))
    names = _display_names()
    if username in names:
        return names[username]
    return str(_l("System"))


def _display_names() -> dict[str, str]:
    """User name → display name, read once per request (the users table is small)."""
    from flask import g
    from sqlalchemy import select

    from storage.models import User
    from web.common import reader

    if "display_names" not in g:
        with reader() as r:
            g.display_names = dict(r.session.execute(select(User.username, User.display_name)).all())
    return g.display_names


def document_title(document: Any) -> str:
    """A document's title in the page's language. The stored title is the Chinese one printed on the document;
    on English pages it is the English message id of its kind (and of the matter's wording, for decisions) whose
    Chinese translation it is."""
    from flask_babel import force_locale
    from flask_babel import gettext as translate

    from documents import kinds
    from web.i18n import current_language

    title = getattr(document, "title", "") or ""
    kind = getattr(document, "kind", None)
    if current_language() == "zh_CN" or kind not in kinds.KINDS:
        return title
    candidates = {kinds.title_msgid(kind, wording) for wording in kinds.WORDINGS}
    with force_locale("zh_CN"):
        chinese = {msgid: translate(msgid) for msgid in candidates}
    for msgid, text in chinese.items():
        if text == title:
            return translate(msgid)
    return title


def list_separator() -> str:
    """Between the items of a list in a sentence: 、 in Chinese, a comma in English."""
    from web.i18n import current_language

    return "、" if current_language() == "zh_CN" else ", "


def join_list(items: Any) -> str:
    return list_separator().join(str(item) for item in items)


_HAN = re.compile(r"[\u4e00-\u9fff]")


def chinese_text(value: Any) -> bool:
    """A string written by a person in Chinese (shown as text), as opposed to a code or data key (shown as code)."""
    return isinstance(value, str) and bool(_HAN.search(value))


def _lookup(table: dict[str, Any], value: Any) -> Any:
    return table.get(value, value) if value is not None else ""


def init_app(app: Flask) -> None:
    app.jinja_env.tests["chinese_text"] = chinese_text
    app.jinja_env.tests["grouped"] = lambda f: isinstance(getattr(f, "widget", None), ListWidget)
    app.jinja_env.filters["case_status"] = lambda v: _lookup(CASE_STATUS, v)
    app.jinja_env.filters["outcome"] = lambda v: _lookup(OUTCOME, v)
    app.jinja_env.filters["task_state"] = lambda v: _lookup(TASK_STATE, v)
    app.jinja_env.filters["action_label"] = lambda v: _lookup(ACTIONS, v)
    app.jinja_env.filters["channel"] = lambda v: _lookup(CHANNEL, v)
    app.jinja_env.filters["delivery"] = lambda v: _lookup(DELIVERY, v)
    app.jinja_env.filters["actor_name"] = actor_name
    app.jinja_env.filters["task_title"] = task_title
    app.jinja_env.filters["join_list"] = join_list
    app.jinja_env.filters["document_title"] = document_title
