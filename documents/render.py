"""Templates (documents/templates/*.html + document.css) → HTML → PDF with WeasyPrint.

Documents are official texts in Chinese whatever language the clerk's screen shows: the English message ids
of the templates go through the zh_CN catalog (translations/zh_CN), read here without Flask. The CJK font
(WenQuanYi Micro Hei, Debian package fonts-wqy-microhei) is embedded, so the text stays extractable.

Rendering costs ~0.05–0.15 s a page: documents are rendered once, when they are issued, never per view.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.messages import mofile, pofile
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"
CATALOGS = Path(__file__).resolve().parent.parent / "translations"
DOCUMENT_LOCALE = "zh_CN"
BEIJING = ZoneInfo("Asia/Shanghai")
FONT_FAMILY = "WenQuanYi Micro Hei"

# WeasyPrint shares font caches between calls; one render at a time keeps Pango/fontconfig out of trouble
# when several request threads issue documents at once (rendering is CPU-bound under the GIL anyway).
_render_lock = threading.Lock()


def translations(locale: str = DOCUMENT_LOCALE) -> Translations:
    """The catalog of `locale` compiled in memory from its .po file (re-read when the file changes)."""
    path = CATALOGS / locale / "LC_MESSAGES" / "messages.po"
    return _compiled(path, path.stat().st_mtime_ns if path.exists() else 0, locale)


@cache
def _compiled(path: Path, _mtime: int, locale: str) -> Translations:
    if not path.exists():
        return Translations()
    with path.open("rb") as handle:
        catalog = pofile.read_po(handle, locale=locale)
    buffer = BytesIO()
    mofile.write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


def cn_date(value: Any) -> str:
    """2018-05-04 / date / aware datetime (shown in Beijing) → 2018年5月4日; empty stays empty."""
    if value in (None, ""):
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(BEIJING).date() if value.tzinfo else value.date()
    elif isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, date):
        return f"{value.year}年{value.month}月{value.day}日"
    return str(value)


def cn_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    local = value.astimezone(BEIJING) if value.tzinfo else value
    return f"{cn_date(local.date())} {local:%H:%M}"


def environment(locale: str = DOCUMENT_LOCALE) -> Environment:
    return _environment(locale)


@cache
def _environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a misspelt key fails the render (and its test) instead of printing nothing
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cn_date"] = cn_date
    env.filters["cn_datetime"] = cn_datetime
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda s: _catalog(locale).gettext(s),
        lambda s, p, n: _catalog(locale).ngettext(s, p, n),
        newstyle=True,
    )
    return env


# The catalog a render in progress uses: looked up (and its file checked) once per page, not once per phrase.
_rendering: ContextVar[Translations | None] = ContextVar("document_catalog", default=None)


def _catalog(locale: str) -> Translations:
    return _rendering.get() or translations(locale)


def render_html(template: str, context: Mapping[str, Any], locale: str = DOCUMENT_LOCALE) -> str:
    token = _rendering.set(translations(locale))
    try:
        return environment(locale).get_template(template).render(**context)
    finally:
        _rendering.reset(token)


@cache
def _stylesheet() -> Any:
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    return CSS(filename=str(TEMPLATES / "document.css"), font_config=fonts), fonts


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported on first use: it loads Pango, which most processes never need

    with _render_lock:
        css, fonts = _stylesheet()
        return HTML(string=html, base_url=str(TEMPLATES)).write_pdf(stylesheets=[css], font_config=fonts)


def render_pdf(template: str, context: Mapping[str, Any], locale: str = DOCUMENT_LOCALE) -> bytes:
    return html_to_pdf(render_html(template, context, locale))


def warm_up() -> None:
    """Load WeasyPrint, Pango and the CJK font once (~1 s and ~70 MB per process) before serving, so that the
    first request that issues a document does not pay for it. Processes that never issue one skip this."""
    html_to_pdf(f'<p style="font-family: \'{FONT_FAMILY}\'">吉林 warm-up</p>')
