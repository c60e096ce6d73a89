"""Schemathesis hooks (``SCHEMATHESIS_HOOKS``) for the per-scope runs: the check ``scope_enforced``.

The token of a run holds one scope (environment ``RUNONCE_TOKEN_SCOPE``). An operation that needs another
scope must answer 403 problem+json of type ``insufficient-scope`` whatever was sent; the one exception is a
path that does not route at all (a generated path parameter containing "/"), which is a 404 problem before
any view or scope is involved, and input with a NUL or control character, which the edge refuses (400) first.
"""

from __future__ import annotations

import json
import os
import re

import schemathesis

PROBLEM = "application/problem+json"
HAN = re.compile(r"[\u4e00-\u9fff]")


def _media(response) -> str:  # noqa: ANN001
    media = next((v for k, v in response.headers.items() if k.lower() == "content-type"), "")
    return (media[0] if isinstance(media, list) else media).split(";")[0].strip()


@schemathesis.check
def problem_in_chinese(ctx, response, case) -> None:  # noqa: ANN001 - schemathesis' check signature
    """Every problem document's title, detail and field messages are Chinese (not a library's English)."""
    if _media(response) != PROBLEM:
        return
    body = json.loads(response.content or b"{}")
    texts = [body.get("title", ""), body.get("detail", "中")]
    for messages in (body.get("errors") or {}).values():
        texts += [messages] if isinstance(messages, str) else list(messages)
    english = [t for t in texts if not HAN.search(str(t))]
    if english:
        raise AssertionError(f"{case.operation.label} answered {response.status_code} with English text: {english}")


@schemathesis.check
def scope_enforced(ctx, response, case) -> None:  # noqa: ANN001 - schemathesis' check signature
    scope = os.environ.get("RUNONCE_TOKEN_SCOPE")
    needed = case.operation.definition.raw.get("x-required-scope")
    if not scope or needed in (None, scope):
        return
    media = _media(response)
    if media != PROBLEM:
        raise AssertionError(f"{case.operation.label} answered {response.status_code} {media}, not problem+json")
    body = json.loads(response.content or b"{}")
    if response.status_code == 404 and body.get("type", "").endswith("/not-found"):
        return  # the path did not route (no view, so no scope to check)
    if response.status_code == 400 and "控制字符" in str(body.get("detail", "")):
        return  # the edge refused a NUL or control character (web.edge) before any view or scope is involved
    if response.status_code != 403 or not body.get("type", "").endswith("/insufficient-scope"):
        raise AssertionError(f"{case.operation.label} needs {needed}; a token with only {scope} got "
                             f"{response.status_code} {body.get('type')}")
