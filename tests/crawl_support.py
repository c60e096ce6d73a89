"""A crawler over the pages a signed-in person reaches by following links (and the url_map's parameterless GET
pages), and a check that a Chinese page shows no English: no Latin words outside an allow-list of proper names
and codes, no internal actor ids, no untranslated message keys.

Generic on purpose: pages added later (other blueprints, new roles) are walked without listing them here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

from flask import Flask
from flask.testing import FlaskClient

# Latin words a Chinese page may show: proper names, codes and units that are written in Latin letters in
# Chinese too (BPMN, PDF, ZIP, e-mail …), and the language switch's own "English".
ALLOWED_WORDS = {
    "english", "chinesecalendar", "toml", "bpmn", "pdf", "ofd", "zip", "doc", "docx", "jpeg", "jpg", "png", "mb",
    "kb", "gb", "email", "ctrl",
    "e-mail", "url", "http", "https", "www", "sha", "ca", "id", "xml", "json", "csv", "api", "v", "no",
    "mib", "ip", "sms", "app", "ems", "gis", "spiffworkflow", "bpmn-js", "smtp", "utc", "gb/t", "hj",
}
# A run of Latin letters of at least this many characters is a word; shorter runs are units and codes.
MIN_WORD = 3
WORD = re.compile(r"[A-Za-z][A-Za-z\-']*[A-Za-z]|[A-Za-z]")
# Internal ids that must never be shown as names (the applicant's actor, system actors, process ids, form files).
INTERNAL = [
    re.compile(r"\bapplicant:\S+"),
    re.compile(r"\bsystem:\S+"),
    re.compile(r"\bm\d\d_[a-z_]+\b"),
    re.compile(r"\b[a-z_]+\.json\b"),
    re.compile(r"\b[a-z]+_[a-z_]+\b"),  # snake_case keys (step kinds, data keys, actions)
]

# Elements whose text is not shown as page text, or is shown as code on purpose (a process id for the designer,
# a user name for the supervisor): the allow-list by markup.
SKIPPED = {"script", "style", "template", "noscript", "code", "kbd", "samp"}
# Attributes whose values the person reads.
READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "value"}


@dataclass
class Page:
    url: str
    status: int
    texts: list[str]
    links: list[str]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.links: list[str] = []
        self._skip = 0
        self._lang_stack: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in SKIPPED:
            self._skip += 1
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        # Text marked as another language (the language switch, an English proper name) is not a leak.
        if tag not in ("input", "meta", "link", "br", "img", "hr"):
            self._lang_stack.append(values.get("lang"))
        if self._skip or self._foreign():
            return
        for name, value in attrs:
            if not value:
                continue
            shown = name in READ_ATTRIBUTES and not (name == "value" and (
                tag != "input" or values.get("type") not in ("submit", "button", "reset")))
            if shown:
                self.texts.append(value)
        if tag == "button" and values.get("type") == "hidden":
            return

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED and self._skip:
            self._skip -= 1
        if tag not in ("input", "meta", "link", "br", "img", "hr") and self._lang_stack:
            self._lang_stack.pop()

    def _foreign(self) -> bool:
        """Inside an element marked as another language than the page's (the <html> element's)."""
        marked = [lang.lower()[:2] for lang in self._lang_stack if lang]
        return bool(marked) and marked[-1] != marked[0]

    def handle_data(self, data: str) -> None:
        if not self._skip and not self._foreign() and data.strip():
            self.texts.append(data.strip())


def read(url: str, status: int, html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    return Page(url, status, reader.texts, reader.links)


def _without_addresses(text: str) -> str:
    """Drop what is legitimately Latin: URLs, e-mail addresses, file names with extensions, hashes."""
    return re.sub(r"https?://\S+|\S+@\S+|[\w./-]+\.(pdf|zip|docx?|png|jpe?g|ofd|bpmn|xml|toml|json)\b"
                  r"|\b[0-9a-f]{8,}\b", " ", text, flags=re.I)


def english_in(text: str) -> list[str]:
    """Latin words in a Chinese text that are neither allowed names nor parts of codes, numbers or addresses."""
    text = _without_addresses(text)
    found = []
    for word in WORD.findall(text):
        if len(word) < MIN_WORD or word.lower() in ALLOWED_WORDS or word.isupper():
            continue  # units, codes and acronyms (EIA, GB 3095, …) are written this way in Chinese too
        found.append(word)
    return found


def internal_ids_in(text: str) -> list[str]:
    text = re.sub(r"https?://\S+|[\w.+-]+@[\w.-]+", " ", text)  # an address may contain "_"
    return [m.group(0) for pattern in INTERNAL for m in pattern.finditer(text)]


def _internal(href: str) -> str | None:
    """A same-site GET link worth following, without its fragment; None for downloads, actions and elsewhere."""
    href, _ = urldefrag(href)
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    if re.search(r"\.(pdf|zip|bpmn|json|js|css|png|svg)$|/download|/files/|/vendor/|/static/", parts.path):
        return None
    return href


def parameterless_pages(app: Flask) -> list[str]:
    """The url_map's GET rules without arguments (pages a role may reach from a menu not yet linked)."""
    out = []
    for rule in app.url_map.iter_rules():
        page = "GET" in (rule.methods or ()) and not rule.arguments and rule.endpoint != "static"
        if page and not re.search(r"\.(json|js|css|bpmn|xml|csv|txt)$", rule.rule) and "logout" not in rule.rule:
            out.append(rule.rule)
    return sorted(out)


def crawl(client: FlaskClient, starts: Iterable[str], *, limit: int = 120,
          per_pattern: int = 3) -> Iterator[Page]:
    """Breadth-first over the links of the pages reached from ``starts``; at most ``per_pattern`` pages whose
    paths differ only in their numbers or ids (one case page shows what the next one would)."""
    seen: set[str] = set()
    patterns: dict[str, int] = {}
    queue = list(starts)
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        parts = urlsplit(url)
        pattern = re.sub(r"/[0-9a-f-]{8,}|/\d+|/[A-Z0-9]{6,}[^/]*", "/#", parts.path) + ("?" if parts.query else "")
        if patterns.get(pattern, 0) >= per_pattern:
            continue
        patterns[pattern] = patterns.get(pattern, 0) + 1
        seen.add(url)
        response = client.get(url)
        if response.status_code in (301, 302, 303):
            target = _internal(response.headers.get("Location", ""))
            if target:
                queue.append(target)
            continue
        if not (response.content_type or "").startswith("text/html"):
            continue
        page = read(url, response.status_code, response.get_data(as_text=True))
        yield page
        for href in page.links:
            target = _internal(href)
            if target and target not in seen:
                queue.append(target)
