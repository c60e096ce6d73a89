"""The edge of the web layer: what every request must satisfy before a view sees it.

- ``<int:…>`` in a URL rule matches ASCII digits up to the database's integer range only (beyond it: 404).
- Control characters (NUL …) and lone surrogates in the path, in query-string and form keys and values, in
  uploaded file names and in JSON strings are refused with 400 and a message (tab, LF and CR are allowed in
  values: multi-line text).
- A JSON body is accepted only by views marked ``@accepts_json`` (others answer 415: a form view would
  otherwise read the JSON as its form data), and only within a size, a nesting depth and a number range
  (web.inputs.parse_json).

Refusals raise ``BadInput``; web/errors.py renders it (a page, or JSON for the editor's requests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from flask.wrappers import Request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, Map

from services.errors import N_
from web.inputs import MAX_DB_INT, MSG_JSON_INVALID, InputProblem, parse_json, text_problem

F = TypeVar("F", bound=Callable[..., Any])

MSG_JSON_NOT_HERE = N_("This address accepts form submissions only, not JSON.")


class BadInput(BadRequest):
    """400 (or ``code``) with a message id shown in the person's language."""

    def __init__(self, msgid: str, code: int = 400, **params: Any) -> None:
        super().__init__(msgid % params if params else msgid)
        self.code = code
        self.msgid = msgid
        self.params = params


class BoundedIntConverter(IntegerConverter):
    """``int`` in URL rules: ASCII digits only (``\\d`` would match other scripts' digits) and at most
    MAX_DB_INT, so an id the database cannot hold is a plain 404 instead of a database error."""

    regex = r"[0-9]+"

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 - werkzeug's names
                 max: int | None = None, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits, min if min is not None else (None if signed else 0),
                         MAX_DB_INT if max is None else max, signed)


class _BodyJSON:
    """The JSON module werkzeug's Request.get_json uses: request bodies are parsed within limits."""

    @staticmethod
    def loads(data: str | bytes, **_kwargs: Any) -> Any:
        return parse_json(data, max_bytes=current_app.config["MAX_JSON_BYTES"])

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        return current_app.json.dumps(obj, **kwargs)


class EdgeRequest(Request):
    # Flask assigns ``request.json_module = app.json`` to every request; request bodies keep their own parser.
    @property
    def json_module(self) -> Any:  # type: ignore[override]
        return _BodyJSON

    @json_module.setter
    def json_module(self, _value: Any) -> None:
        pass

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            return super().on_json_loading_failed(e)  # not a JSON content type: werkzeug's 415
        if isinstance(e, InputProblem):
            raise BadInput(e.msgid, **e.params)
        raise BadInput(MSG_JSON_INVALID)


def accepts_json(view: F) -> F:
    """Mark a view that reads a JSON body (put it under the route decorator)."""
    view.accepts_json = True  # type: ignore[attr-defined]
    return view


def _view_accepts_json() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "accepts_json", False))


def _check(value: str, *, multiline: bool) -> None:
    problem = text_problem(value, multiline=multiline)
    if problem:
        raise BadInput(problem)


def guard_request() -> None:
    """Refuse what no view may see (runs before every view, after the CSRF check)."""
    _check(request.path, multiline=False)
    for key, value in request.args.items(multi=True):
        _check(key, multiline=False)
        _check(value, multiline=True)
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    if request.is_json:
        if not _view_accepts_json():
            raise BadInput(MSG_JSON_NOT_HERE, code=415)
        request.get_json()  # parsed within the limits now; the view reads the cached value
        return
    for key, value in request.form.items(multi=True):
        _check(key, multiline=False)
        _check(value, multiline=True)
    for key, upload in request.files.items(multi=True):
        _check(key, multiline=False)
        if upload.filename:
            _check(upload.filename, multiline=False)


def same_site_path(url: str | None) -> str | None:
    """The path (and query) of a URL of this site, for a "back" link; None for anything else."""
    from urllib.parse import urlsplit

    from web.redirects import safe_path

    if not url or text_problem(url, multiline=False) or len(url) > 2000:
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.host:
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_path(path)


def init_app(app: Flask) -> None:
    """Called before any blueprint is registered: the converter applies to rules as they are added."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.request_class = EdgeRequest
    app.config.setdefault("MAX_JSON_BYTES", 5 * 1024 * 1024)
    app.before_request(guard_request)

