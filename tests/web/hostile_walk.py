"""A hostile walk over the whole ``app.url_map``: every rule, every method, hostile values for every converter
argument and for every parameter a view reads, as anonymous and as each role; no answer may be a 5xx.

Generic on purpose: the rules come from the url_map, and the parameters from what each view actually reads
(a recording request class notes every key looked up in ``request.args`` / ``request.form`` / the JSON body
during a benign probe), so routes and fields added later are walked without touching this module.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import cycle
from typing import Any
from urllib.parse import quote_from_bytes

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter, Rule

# ---------------------------------------------------------------- hostile values

BIG_INTS = ["2147483648", "9223372036854775807", "9223372036854775808", "1" + "0" * 30, "0", "0" * 40 + "7"]


def _u(text: str) -> bytes:
    """Text → UTF-8 bytes, lone surrogates kept as their (invalid) three-byte form."""
    return text.encode("utf-8", "surrogatepass")


# Raw bytes: each is percent-encoded where it goes (path, query string, form body). The walk sends all of them;
# the Hypothesis fuzz mixes them with generated text, numbers and bytes.
HOSTILE_BYTES: list[bytes] = [
    *(_u(v) for v in ["2147483648", "9223372036854775808", "1" + "0" * 30]),
    b"a\x00b",
    b"\x01\x08\x0b\x1f\x7f",
    _u("\u0085\u009f"),  # C1 controls
    _u("x\ud800y"),  # a lone surrogate (invalid UTF-8 on the wire)
    b"\xff\xfe\xc0\x80",  # invalid UTF-8, an overlong NUL
    _u("\u202e\u200b\ufeff\ufffe"),  # bidi override, zero width, BOM, non-character
    _u("²³¹"),  # superscript digits: str.isdigit() but int() refuses them
    _u("١٢٣٤"),  # Arabic-Indic digits
    b"x" * 10_000,
    _u(" \t\r\n "),
    b"[" * 3_000 + b"]" * 3_000,  # JSON typed into a text field (the incident retry's corrections)
    b'{"parts": "\\ud800", "n": 9223372036854775808, "x": 1e400}',
]
MORE_BYTES: list[bytes] = [  # for the fuzz only
    b"\x00",
    _u("\udfff"),
    _u("-9223372036854775809"),
    _u("1e400"),
    _u("../../../../etc/passwd"),
    _u("𝟘𝟙"),
    _u("NaN"),
    _u("' OR 1=1 --"),
    _u("<script>alert(1)</script>"),
    _u("%00%ff"),
    _u("长" * 3_000),
    b"",
    b"0",
    b"-1",
    _u("9223372036854775807"),
]

DEEP = 5_000
HOSTILE_JSON: list[bytes] = [
    b"[" * DEEP + b"]" * DEEP,
    b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    b'"\\ud800"',
    b"\xff\xfe{",
    b"1" * 5_000,
    b"1e400",
    b"NaN",
    b"[1, 2",
    b"",
]

# JSON scalars given to each key a view reads from a JSON body.
HOSTILE_JSON_VALUES: list[str] = [
    '"a\\udfffb"',
    '"<x/>\\u0000\\u0001"',
    "9223372036854775808",
    "2147483648",
    "1" + "0" * 30,
    "-1",
    "true",
    "[" * 200 + "]" * 200,
]

# Sent together on one request (and the cookie on its own: it replaces the role's session).
HOSTILE_HEADERS: dict[str, str] = {
    "Accept-Language": "\x00zh-CN;q=NaN, *;q=2",
    "Referer": "javascript:alert(1)\x00",
    "X-CSRFToken": "\x00" * 10,
    "Accept": "application/json;q=\x00",
    "User-Agent": "x" * 8_000,
    "X-Forwarded-For": "\x00, 999.999.999.999",
    "If-Modified-Since": "\x00",
    "Range": "bytes=-9223372036854775808",
}
HOSTILE_COOKIE = "session=\x00; lang=\x01"


def q(value: bytes) -> str:
    return quote_from_bytes(value, safe="")


# ---------------------------------------------------------------- recording what views read


class Recorder:
    """Keys looked up per endpoint in request.args / request.form (and files) / a JSON object body."""

    def __init__(self) -> None:
        self.endpoint: str | None = None
        self.params: dict[str, set[str]] = {}
        self.json: dict[str, set[str]] = {}

    def note(self, kind: str, key: Any) -> None:
        if self.endpoint is not None and isinstance(key, str):
            getattr(self, kind).setdefault(self.endpoint, set()).add(key)


RECORDER = Recorder()


class _RecordingMultiDict(ImmutableMultiDict):
    kind = "params"

    def __getitem__(self, key):  # type: ignore[override]
        RECORDER.note(self.kind, key)
        return super().__getitem__(key)

    def get(self, key, default=None, type=None):  # type: ignore[override]  # noqa: A002
        RECORDER.note(self.kind, key)
        return super().get(key, default=default, type=type)

    def getlist(self, key, type=None):  # type: ignore[override]  # noqa: A002
        RECORDER.note(self.kind, key)
        return super().getlist(key, type=type)

    def __contains__(self, key) -> bool:
        RECORDER.note(self.kind, key)
        return super().__contains__(key)


class _RecordingJson(dict):
    def get(self, key, default=None):  # type: ignore[override]
        RECORDER.note("json", key)
        return super().get(key, default)

    def __getitem__(self, key):
        RECORDER.note("json", key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        RECORDER.note("json", key)
        return super().__contains__(key)


def install_recorder(app: Flask) -> None:
    """Swap in a request class whose args/form and JSON object bodies note the keys a view reads."""
    base = app.request_class

    class RecordingRequest(base):  # type: ignore[misc, valid-type]
        parameter_storage_class = _RecordingMultiDict

        def get_json(self, *args: Any, **kwargs: Any) -> Any:
            value = super().get_json(*args, **kwargs)
            return _RecordingJson(value) if type(value) is dict else value

    app.request_class = RecordingRequest

    @app.before_request
    def _note_endpoint() -> None:
        from flask import request

        RECORDER.endpoint = request.endpoint


# ---------------------------------------------------------------- the walk

_ARG = re.compile(r"<(?:(?P<conv>[^:<>]+):)?(?P<name>[^<>]+)>")


def build_path(rule: Rule, encoded: dict[str, str]) -> str:
    return _ARG.sub(lambda m: encoded[m["name"]], rule.rule)


def walk_methods(rule: Rule) -> list[str]:
    """The methods a rule serves (HEAD runs the GET view; OPTIONS is Flask's own)."""
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def hostile_segments(rule: Rule, name: str) -> list[str]:
    converter = rule._converters[name]  # noqa: SLF001 - werkzeug keeps them here
    if isinstance(converter, IntegerConverter):
        return [*BIG_INTS, "-1", "%00"]
    return [q(v) for v in HOSTILE_BYTES]


@dataclass
class Finding:
    who: str
    method: str
    url: str
    body: str
    outcome: str

    def group(self) -> str:
        return f"{self.method} {self.url.split('?')[0][:80]} → {self.outcome[:160]}"


def gated(status: int, location: str | None) -> bool:
    """The benign request was stopped before the view's own code: not signed in, or not allowed."""
    return status in (401, 403) or (status == 302 and (location or "").startswith("/login"))


@dataclass
class Walker:
    app: Flask
    valid: dict[str, str]  # converter argument name → a value that exists (already URL-safe)
    relogin: Callable[[str, FlaskClient], None]
    findings: list[Finding] = field(default_factory=list)
    requests: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # per endpoint, to keep the walk's time in check

    def send(self, who: str, client: FlaskClient, method: str, url: str, *, body: bytes | None = None,
             content_type: str | None = None, headers: dict[str, str] | None = None, label: str = "",
             endpoint: str = "?") -> tuple[int, str | None]:
        self.requests += 1
        kwargs: dict[str, Any] = {"method": method, "headers": headers or {}}
        if body is not None:
            kwargs["data"] = body
            kwargs["content_type"] = content_type or "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            response = client.open(url, **kwargs)
        except Exception as exc:  # noqa: BLE001 - an escaped exception is a 500 in production
            self.findings.append(Finding(who, method, url, label, f"{type(exc).__name__}: {exc}"[:400]))
            return 500, None
        finally:
            self.seconds[endpoint] = self.seconds.get(endpoint, 0.0) + time.perf_counter() - started
        status, location = response.status_code, response.headers.get("Location")
        response.close()
        if status >= 500:
            self.findings.append(Finding(who, method, url, label, f"HTTP {status}"))
        return status, location

    def valid_path(self, rule: Rule) -> str:
        return build_path(rule, {name: self.valid.get(name, "1") for name in rule.arguments})

    def hit(self, clients: dict[str, FlaskClient], who: str, rule: Rule, method: str, url: str,
            **kwargs: Any) -> tuple[int, str | None]:
        answer = self.send(who, clients[who], method, url, endpoint=rule.endpoint, **kwargs)
        if rule.endpoint in ("auth.logout", "auth.login") or "Cookie" in kwargs.get("headers", {}):
            self.relogin(who, clients[who])  # signing out is walked too: sign the role in again
        return answer

    def walk(self, clients: dict[str, FlaskClient]) -> None:
        rules = sorted(self.app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
        for rule in rules:
            for method in walk_methods(rule):
                self.walk_rule(clients, rule, method)

    def walk_rule(self, clients: dict[str, FlaskClient], rule: Rule, method: str) -> None:
        """Every role probes the rule; each hostile value is then sent once, by the roles whose probe reached
        the view taking turns (a role stopped at the gate runs none of the view's code)."""
        post = method not in ("GET", "HEAD", "DELETE")
        empty = b"" if post else None
        ep = rule.endpoint

        def send(who: str, url: str, **kwargs: Any) -> tuple[int, str | None]:
            return self.hit(clients, who, rule, method, url, **kwargs)

        # 1. benign probes: which roles reach the view, and which parameters does it read?
        RECORDER.endpoint = None
        path = self.valid_path(rule)
        reached = [who for who in clients if not gated(*send(who, path, body=empty, label="probe"))]
        turn = cycle(reached or list(clients))
        params = set(RECORDER.params.get(ep, ())) | {"next", "page", "id"}
        # 2. every converter argument with hostile values, the others valid
        for name in sorted(rule.arguments):
            for segment in hostile_segments(rule, name):
                values = {n: self.valid.get(n, "1") for n in rule.arguments}
                values[name] = segment
                send(next(turn), build_path(rule, values), body=empty)
        # 3. every parameter it reads, all at once, with each hostile value (query string, and the form body)
        for raw in HOSTILE_BYTES:
            query = "&".join(f"{q(k.encode())}={q(raw)}" for k in sorted(params))
            send(next(turn), f"{path}?{query}", body=query.encode() if post else None, label=f"params={raw[:20]!r}")
        # 4. JSON bodies: malformed, deep, lone surrogates; and hostile values for every key it reads. A view that
        #    refuses JSON as such (415) gets one of them.
        if post:
            keys = sorted(set(RECORDER.json.get(ep, ())) | {"xml", "note", "base_version", "id"})
            objects = [("{" + ", ".join(f"{json.dumps(k)}: {v}" for k in keys) + "}").encode()
                       for v in HOSTILE_JSON_VALUES]
            for n, body in enumerate(HOSTILE_JSON + objects):
                status, _ = send(next(turn), path, body=body, content_type="application/json",
                                 label=f"json={body[:30]!r}")
                if n == 0 and status == 415:
                    break
        # 5. hostile headers on the benign request
        send(next(turn), path, body=empty, headers=HOSTILE_HEADERS, label="headers")
        send(next(turn), path, body=empty, headers={"Cookie": HOSTILE_COOKIE}, label="cookie")

    def report(self, limit: int = 400) -> str:
        groups: dict[str, Finding] = {}
        for finding in self.findings:
            groups.setdefault(finding.group(), finding)
        lines = [f"{len(self.findings)} 5xx answers in {self.requests} requests, {len(groups)} distinct:"]
        for key, example in list(groups.items())[:limit]:
            lines.append(f"  [{example.who}] {key}    (e.g. {example.body[:60]})")
        return "\n".join(lines)

    def slowest(self, n: int = 8) -> str:
        top = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:n]
        return ", ".join(f"{ep} {sec:.1f}s" for ep, sec in top)
