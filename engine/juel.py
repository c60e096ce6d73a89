"""Translate simple JUEL expressions (`${approved}`, `${amount > 1000 && !rejected}`) into Python.

Camunda-modelled diagrams write gateway conditions in JUEL; SpiffWorkflow evaluates Python. This small
recursive-descent translator covers literals, variables, property paths, comparisons, arithmetic, `and`/`or`/
`not`, `empty` and `?:`. Method calls and anything else raise JuelUnsupported, so a diagram is rejected with
a clear message instead of failing at run time. The Python it produces still goes through the sandbox.
"""

from __future__ import annotations

import keyword
import re

_WRAPPED = re.compile(r"^\s*[$#]\{(.*)\}\s*$", re.DOTALL)

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>&&|\|\||==|!=|<=|>=|[<>!+\-*/%().\[\]?:])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)

_WORD_OPS = {
    "and": "&&",
    "or": "||",
    "not": "!",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "gt": ">",
    "le": "<=",
    "ge": ">=",
    "div": "/",
    "mod": "%",
}
_LITERALS = {"true": "True", "false": "False", "null": "None"}


class JuelUnsupported(ValueError):
    """The expression uses JUEL that the adapter does not translate."""


def _tokenise(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise JuelUnsupported(f"unexpected character {text[pos]!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group()
        if kind == "ws":
            continue
        if kind == "ident" and value in _WORD_OPS:
            kind, value = "op", _WORD_OPS[value]
        tokens.append((kind, value))
    return tokens


def _unescape(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def accept(self, *ops: str) -> str | None:
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in ops:
            self.pos += 1
            return token[1]
        return None

    def expect(self, op: str) -> None:
        if self.accept(op) is None:
            raise JuelUnsupported(f"expected {op!r}")

    def parse(self) -> str:
        result = self.ternary()
        if self.peek() is not None:
            raise JuelUnsupported(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return result

    def ternary(self) -> str:
        condition = self.binary(0)
        if self.accept("?"):
            when_true = self.ternary()
            self.expect(":")
            when_false = self.ternary()
            return f"({when_true} if {condition} else {when_false})"
        return condition

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("||",),
        ("&&",),
        ("==", "!="),
        ("<", ">", "<=", ">="),
        ("+", "-"),
        ("*", "/", "%"),
    )
    _PY = {"||": "or", "&&": "and"}

    def binary(self, level: int) -> str:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while (op := self.accept(*self._LEVELS[level])) is not None:
            right = self.binary(level + 1)
            left = f"({left} {self._PY.get(op, op)} {right})"
        return left

    def unary(self) -> str:
        if self.accept("!"):
            return f"(not {self.unary()})"
        if self.accept("-"):
            return f"(-{self.unary()})"
        token = self.peek()
        if token == ("ident", "empty"):
            self.pos += 1
            operand = self.unary()
            return f"({operand} is None or {operand} == '' or {operand} == [] or {operand} == {{}})"
        return self.primary()

    def primary(self) -> str:
        token = self.peek()
        if token is None:
            raise JuelUnsupported("unexpected end of expression")
        kind, value = token
        self.pos += 1
        if kind == "number":
            return value
        if kind == "string":
            return repr(_unescape(value))
        if kind == "op" and value == "(":
            inner = self.ternary()
            self.expect(")")
            return f"({inner})"
        if kind == "ident":
            if value in _LITERALS:
                return _LITERALS[value]
            if keyword.iskeyword(value) or value.startswith("_"):
                raise JuelUnsupported(f"unsupported name {value!r}")
            return self.postfix(value)
        raise JuelUnsupported(f"unexpected {value!r}")

    def postfix(self, base: str) -> str:
        while True:
            if self.accept("."):
                token = self.peek()
                if token is None or token[0] != "ident":
                    raise JuelUnsupported("expected a property name after '.'")
                self.pos += 1
                if self.peek() == ("op", "("):
                    raise JuelUnsupported(f"method calls are not supported ({token[1]}(...))")
                base = f"{base}[{token[1]!r}]"
            elif self.accept("["):
                index = self.ternary()
                self.expect("]")
                base = f"{base}[{index}]"
            elif self.peek() == ("op", "("):
                raise JuelUnsupported(f"function calls are not supported ({base}(...))")
            else:
                return base


def is_juel(text: str | None) -> bool:
    return text is not None and _WRAPPED.match(text) is not None


def translate(text: str) -> str:
    """Python source for a `${...}` / `#{...}` expression; raise JuelUnsupported when it cannot."""
    match = _WRAPPED.match(text)
    if match is None:
        raise JuelUnsupported("not a ${...} expression")
    body = match.group(1)
    if "${" in body or "#{" in body:
        raise JuelUnsupported("composite expressions are not supported")
    return _Parser(_tokenise(body)).parse()
