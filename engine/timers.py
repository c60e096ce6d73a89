"""Timer values: accept bare ISO 8601 as Camunda Modeler writes it, and check literal values early.

SpiffWorkflow evaluates the text of timeDate/timeDuration/timeCycle as a Python expression, so `"P14D"`
(quoted) works and `P14D` (bare) fails at run time. A bare value that is a plain ISO 8601 literal is wrapped
in quotes here; anything else stays an expression and goes through the sandbox like every other one.
"""

from __future__ import annotations

import ast
import re

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

_NUM = r"\d+(?:[.,]\d+)?"
_DURATION = (
    rf"P(?=[\dT])(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?"
    rf"(?:T(?=\d)(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?"
)
_DATE = r"\d{4}-\d{2}-\d{2}"
_WEEK_DATE = r"\d{4}-?W\d{2}-?\d"
_TIME = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
_DATETIME = rf"(?:{_DATE}|{_WEEK_DATE})(?:T{_TIME})?"
_CYCLE = rf"R\d*/(?:{_DURATION}|{_DATETIME})(?:/(?:{_DURATION}|{_DATETIME}))?"

_ISO_LITERAL = re.compile(rf"(?:{_DURATION}|{_DATETIME}|{_CYCLE})", re.IGNORECASE)

TIMER_TAGS = ("timeDate", "timeDuration", "timeCycle")


def is_bare_iso(text: str) -> bool:
    return _ISO_LITERAL.fullmatch(text.strip()) is not None


def normalise_timer_text(text: str | None) -> str | None:
    """`P14D` -> `"P14D"`; quoted literals and expressions are returned unchanged."""
    if text is None:
        return None
    stripped = text.strip()
    if is_bare_iso(stripped):
        # The regex only admits [0-9A-Za-z:+-./,], so plain double quotes cannot be broken out of.
        return f'"{stripped}"'
    return text


def literal_value(expression: str) -> str | None:
    """The string if `expression` is a plain string literal (then it can be checked at deploy time)."""
    try:
        node = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return None
    if isinstance(node.body, ast.Constant) and isinstance(node.body.value, str):
        return node.body.value
    return None


def check_literal(kind: str, value: str) -> None:
    """Raise ValueError if `value` is not what Spiff will accept for a timer of this kind."""
    try:
        if kind == "timeDuration":
            TimerEventDefinition.parse_iso_duration(value)
        elif kind == "timeCycle":
            TimerEventDefinition.parse_iso_recurring_interval(value)
        else:
            TimerEventDefinition.parse_time_or_duration(value)
            if value.strip().upper().startswith("P"):
                raise ValueError("a duration is not a date")
    except Exception as exc:
        raise ValueError(str(exc) or exc.__class__.__name__) from None
