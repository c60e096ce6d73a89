"""Languages: zh_CN by default, English on request.

The catalogs live as .po files in translations/ (committed); the .mo files Flask-Babel reads are compiled
from them when the app starts, into the instance folder (never committed). Locale: the user's choice in the
session → the user's stored preference → zh_CN.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages import mofile, pofile
from flask import Flask, current_app, session
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from flask_login import current_user

from services.errors import ServiceError

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = ROOT / "translations"
DOMAIN = "messages"

babel = Babel()


def compile_catalogs(source: Path, target: Path) -> list[Path]:
    """Compile every <locale>/LC_MESSAGES/messages.po under `source` into `target`, when it changed."""
    written = []
    for po_path in sorted(source.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        locale = po_path.parent.parent.name
        # Babel names zh_CN "zh_Hans_CN" when it looks a catalog up: write the .mo under both names.
        names = dict.fromkeys([locale, str(Locale.parse(locale))])
        mo_paths = [target / name / "LC_MESSAGES" / f"{DOMAIN}.mo" for name in names]
        if all(p.exists() and p.stat().st_mtime >= po_path.stat().st_mtime for p in mo_paths):
            continue
        with po_path.open("rb") as handle:
            catalog = pofile.read_po(handle, locale=locale, domain=DOMAIN)
        for mo_path in mo_paths:
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            # Several processes (tests, web workers) may start at once: write aside, then rename atomically.
            fd, tmp = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
            with os.fdopen(fd, "wb") as handle:
                mofile.write_mo(handle, catalog, use_fuzzy=False)
            os.replace(tmp, mo_path)
            written.append(mo_path)
    return written


def current_language() -> str:
    """The configured code of the page's language ("zh_CN" or "en"), not Babel's expanded name."""
    locale = get_locale()
    if locale is None:
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    for code in current_app.config["LANGUAGES"]:
        parsed = Locale.parse(code)
        if (parsed.language, parsed.territory) == (locale.language, locale.territory):
            return code
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    target = Path(app.instance_path) / "translations"
    compile_catalogs(SOURCE_DIR, target)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(target)
    babel.init_app(app, locale_selector=select_locale)

    @app.context_processor
    def _languages() -> dict[str, Any]:
        code = current_language()
        return {
            "current_locale": code,
            "language_names": {"zh_CN": "中文", "en": "English"},
            "html_lang": code.replace("_", "-"),
        }


def error_text(err: ServiceError) -> str:
    """A service error in the user's language: translate the English message id, then fill in its values."""
    text = _(err.msgid)
    try:
        return text % err.params if err.params else text
    except (KeyError, TypeError, ValueError):
        return str(err)


_LIMIT_IDS = (
    "Too long: at most %(limit)s characters.",
    "Too short: at least %(limit)s characters.",
    "Must be at least %(limit)s.",
    "Must be at most %(limit)s.",
    "Choose at least %(limit)s.",
    "Choose at most %(limit)s.",
)


def field_error_text(message: str) -> str:
    """A field message from InvalidInput.errors: a message id, or one already filled with its limit."""
    translated = _(message)
    if translated != message:
        return translated
    for msgid in _LIMIT_IDS:
        pattern = "^" + re.escape(msgid).replace(re.escape("%(limit)s"), "(?P<limit>.+?)") + "$"
        match = re.match(pattern, message)
        if match:
            return _(msgid) % {"limit": match.group("limit")}
    return translated
