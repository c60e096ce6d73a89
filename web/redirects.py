"""Where a ``next`` parameter may send the browser: only to a path of this site.

Browsers are lenient where this must be strict: they drop tab, CR and LF anywhere in a URL (``/\\t/evil.example``
becomes ``//evil.example``, another host) and read a backslash as a slash (``/\\evil.example``). So a target is
accepted only if it starts with exactly one "/", holds no backslash, no whitespace or control character at
all, and has neither a scheme nor a host.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import request

MAX_TARGET = 2000
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\\\u2028\u2029\ud800-\udfff]")


def safe_path(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None."""
    if not target or not isinstance(target, str) or len(target) > MAX_TARGET:
        return None
    if not target.startswith("/") or target.startswith("//") or _FORBIDDEN.search(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def next_target(default: str) -> str:
    """The request's ``next`` (form first, then query string) when it is safe, else `default`."""
    return safe_path(request.form.get("next")) or safe_path(request.args.get("next")) or default
