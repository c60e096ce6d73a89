"""What a value typed or sent by a person may be, checked before anything uses it: integers within the
database's range (ASCII digits only), text without control characters or lone surrogates, JSON within a size
and a nesting depth. Pure functions (no Flask): the edge (web/edge.py) and the views call them.

Problems are raised as ``InputProblem`` with an English message id (translated where it is shown).
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from engine.jsondata import MAX_DEPTH
from services.errors import N_

# The ids and numbers stored are Integer columns: PostgreSQL's int4 is the narrower of the two backends
# (SQLite's INTEGER goes to 2**63-1), so this bound holds on both.
MAX_DB_INT = 2**31 - 1
MAX_JSON_BYTES = 5 * 1024 * 1024  # the editor's diagram (2 MB of XML) escaped as JSON, with room to spare
MAX_JSON_DEPTH = MAX_DEPTH  # the same nesting a case's data may have (engine.jsondata)
MAX_JSON_NODES = 200_000

_ASCII_INT = re.compile(r"[0-9]{1,20}")
# C0 controls and DEL and C1 controls; tab, line feed and carriage return are allowed in multi-line text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_OR_SPACE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_JSON_BRACKETS = re.compile(r"[\[\]{}]")

MSG_CONTROL = N_("The input contains control characters (such as NUL) that are not allowed. Remove them and "
                 "send again.")
MSG_SURROGATE = N_("The input contains an invalid character (a lone UTF-16 surrogate). Check the text and send "
                   "again.")
MSG_JSON_INVALID = N_("The data sent is not valid JSON.")
MSG_JSON_TOO_LARGE = N_("The data sent is too large: at most %(limit)s.")
MSG_JSON_TOO_DEEP = N_("The data sent is nested too deeply: at most %(limit)s levels.")
MSG_JSON_NUMBER = N_("The data sent contains a number that is out of range (NaN, infinite or too large).")


class InputProblem(ValueError):
    """A value that cannot be accepted; ``msgid`` and ``params`` make the message shown to the person."""

    def __init__(self, msgid: str, **params: Any) -> None:
        super().__init__(msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params


# ---------------------------------------------------------------- integers


def parse_int(text: Any, *, minimum: int = 0, maximum: int = MAX_DB_INT) -> int | None:
    """An integer typed as ASCII digits (surrounding spaces allowed) within [minimum, maximum], else None.

    ``str.isdigit()`` is not enough: it accepts "²" (int() refuses it) and "١٢" (another script's digits)."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        return None
    if isinstance(text, int):
        value = text
    else:
        stripped = text.strip()
        if not _ASCII_INT.fullmatch(stripped):
            return None
        value = int(stripped)
    return value if minimum <= value <= maximum else None


def page_number(text: Any, maximum: int = 100_000) -> int:
    """A page number from a query string: 1 when missing or not a number, at most `maximum`."""
    if isinstance(text, str) and _ASCII_INT.fullmatch(text.strip()):
        return max(1, min(int(text.strip()), maximum))
    return 1


# ---------------------------------------------------------------- text


def text_problem(value: str, *, multiline: bool = True) -> str | None:
    """The message id of what is wrong with a text value, or None. Multi-line text may hold tab, LF, CR."""
    if _SURROGATE.search(value):
        return MSG_SURROGATE
    if (_CONTROL if multiline else _CONTROL_OR_SPACE_CONTROL).search(value):
        return MSG_CONTROL
    return None


def check_text(value: str, *, multiline: bool = True) -> None:
    problem = text_problem(value, multiline=multiline)
    if problem:
        raise InputProblem(problem)


# ---------------------------------------------------------------- JSON


def json_depth(text: str, limit: int) -> int:
    """The nesting depth of a JSON text, counted without parsing (the parser itself recurses and would fail
    with a RecursionError on a few thousand levels); stops counting once past `limit`."""
    brackets = _JSON_BRACKETS.findall(_JSON_STRING.sub("", text))
    deepest = 0
    for depth in accumulate(1 if b in "[{" else -1 for b in brackets):
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


def _refuse_constant(name: str) -> Any:
    raise InputProblem(MSG_JSON_NUMBER)


def _check_tree(value: Any) -> None:
    """Strings without control characters or surrogates, finite numbers within 64 bits, a bounded count."""
    stack = [value]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_JSON_NODES:
            raise InputProblem(MSG_JSON_TOO_LARGE, limit=f"{MAX_JSON_NODES} values")
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > 2**63 - 1:
                raise InputProblem(MSG_JSON_NUMBER)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InputProblem(MSG_JSON_NUMBER)
        elif isinstance(item, dict):
            for key, child in item.items():
                check_text(key, multiline=False)
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def parse_json(data: str | bytes, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON sent by a person: at most `max_bytes`, `max_depth` levels, no lone surrogates or control characters
    in its strings, no NaN/Infinity, integers within 64 bits. Raises InputProblem."""
    if isinstance(data, bytes | bytearray):
        if len(data) > max_bytes:
            raise InputProblem(MSG_JSON_TOO_LARGE, limit=_size(max_bytes))
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputProblem(MSG_JSON_INVALID) from None
    else:
        text = data
        if len(text) > max_bytes:  # characters, at least as many bytes
            raise InputProblem(MSG_JSON_TOO_LARGE, limit=_size(max_bytes))
    if json_depth(text, max_depth) > max_depth:
        raise InputProblem(MSG_JSON_TOO_DEEP, limit=max_depth)
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except InputProblem:
        raise
    except (ValueError, RecursionError):
        raise InputProblem(MSG_JSON_INVALID) from None
    _check_tree(value)
    return value


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
