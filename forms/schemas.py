"""User-task forms: one JSON Schema file per form in forms/schemas/ (SpiffArena's formJsonSchemaFilename).

The service layer validates every submission against the schema, whatever UI sent it; messages are
message ids for the translation layer, keyed by field name.

Beyond JSON Schema (the web form, forms.builder, applies the same rules):
- ``format: "uri"`` accepts only absolute http/https addresses;
- ``"x-after": "<field>"`` / ``"x-not-before": "<field>"`` on a date: later than / not earlier than that date;
- the run-time keywords of ``forms.context`` (``x-options``, ``x-default``, ``x-min-working-days-from``),
  resolved with the case's ``FormContext``.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker

from forms.context import CURRENT_USER, TODAY, FormContext

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


def N_(msgid: str) -> str:
    return msgid


class UnknownForm(LookupError):
    pass


@lru_cache(maxsize=256)
def load_schema(name: str) -> dict[str, Any]:
    path = (SCHEMA_DIR / name).resolve()
    if path.parent != SCHEMA_DIR or not path.is_file():
        raise UnknownForm(name)
    return json.loads(path.read_text(encoding="utf-8"))


def load_ui_schema(name: str | None) -> dict[str, Any]:
    if not name:
        return {}
    try:
        return load_schema(name)
    except UnknownForm:
        return {}


FILE_REF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file_id", "sha256"],
    "properties": {
        "file_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    },
    "additionalProperties": False,
}


def _with_file_refs(node: Any) -> Any:
    """A field of format "file" holds a reference into the file store: spell out its shape for validation."""
    if isinstance(node, list):
        return [_with_file_refs(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _with_file_refs(value) for key, value in node.items()}
    if out.get("format") == "file":
        out.update(FILE_REF_SCHEMA)
    return out


def is_http_url(value: Any) -> bool:
    """An absolute http(s) address with a host: what a 公示/公告 link must be."""
    if not isinstance(value, str) or not value or any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _format_checker() -> FormatChecker:
    checker = FormatChecker()
    checker.checks("uri")(is_http_url)
    return checker


FORMAT_CHECKER = _format_checker()


def resolve(schema: dict[str, Any], context: FormContext | None) -> dict[str, Any]:
    """The schema with its run-time keywords filled in from ``context`` (see forms.context); a copy."""
    if context is None:
        return schema
    out = copy.deepcopy(schema)
    for node in out.get("properties", {}).values():
        if node.get("x-default") == CURRENT_USER and context.user_name:
            node["default"] = context.user_name
        if node.get("x-default") == TODAY and context.today:
            node["default"] = context.today.isoformat()
        for target in (node, node.get("items")):
            if isinstance(target, dict) and target.get("x-options"):
                options = context.options.get(target["x-options"])
                if options is None:
                    continue
                choices = [{"const": o.value, "title": o.title, **({"x-title-en": o.title_en} if o.title_en else {})}
                           for o in options]
                target["oneOf"] = choices + list(target.get("x-options-append", []))
                target.pop("pattern", None)
    return out


@lru_cache(maxsize=256)
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(_with_file_refs(load_schema(name)), format_checker=FORMAT_CHECKER)


_MESSAGES = {
    "required": N_("This field is required."),
    "maxLength": N_("Too long: at most %(limit)s characters."),
    "minLength": N_("Too short: at least %(limit)s characters."),
    "minimum": N_("Must be at least %(limit)s."),
    "maximum": N_("Must be at most %(limit)s."),
    "minItems": N_("Choose at least %(limit)s."),
    "maxItems": N_("Choose at most %(limit)s."),
    "type": N_("This value has the wrong type."),
    "format": N_("This value is not in the expected format."),
    "oneOf": N_("Choose one of the offered values."),
    "enum": N_("Choose one of the offered values."),
    "const": N_("Choose one of the offered values."),
    "uniqueItems": N_("Each item may be chosen once."),
    "pattern": N_("This value is not in the expected format."),
}


AFTER = N_("Must be later than “%(limit)s”.")
NOT_BEFORE = N_("Must not be earlier than “%(limit)s”.")
MIN_WORKING_DAYS = N_("The period must last at least %(limit)s working days (both days included, counted by the "
                      "working-day calendar).")
WORKING_DAYS_UNKNOWN = N_("The working days of this period cannot be counted: the holiday notice of its year "
                          "has not been entered.")
NOT_HTTP_URL = N_("Enter a web address that starts with http:// or https://.")


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def date_order_problem(node: dict[str, Any], value: Any, values: dict[str, Any],
                       titles: dict[str, str]) -> tuple[str, dict[str, Any]] | None:
    """x-after / x-not-before on one date field, given every value of the form (web and service use this)."""
    mine = _as_date(value)
    for keyword, msgid in (("x-after", AFTER), ("x-not-before", NOT_BEFORE)):
        other_name = node.get(keyword)
        if not other_name or mine is None:
            continue
        other = _as_date(values.get(other_name))
        if other is None:
            continue
        if mine < other or (keyword == "x-after" and mine == other):
            return msgid, {"limit": titles.get(other_name, other_name)}
    return None


def working_days_problem(node: dict[str, Any], value: Any, values: dict[str, Any],
                         context: FormContext | None) -> tuple[str, dict[str, Any]] | None:
    """x-min-working-days-from: the period must last the context's minimum, by the calendar."""
    start_name = node.get("x-min-working-days-from")
    if not start_name or context is None or not context.min_working_days or context.working_days is None:
        return None
    start, end = _as_date(values.get(start_name)), _as_date(value)
    if start is None or end is None or end < start:
        return None
    counted = context.working_days(start, end)
    if counted is None:
        return WORKING_DAYS_UNKNOWN, {}
    if counted < context.min_working_days:
        return MIN_WORKING_DAYS, {"limit": context.min_working_days}
    return None


def cross_field_problems(schema: dict[str, Any], data: dict[str, Any],
                         context: FormContext | None) -> dict[str, tuple[str, dict[str, Any]]]:
    properties = schema.get("properties", {})
    titles = {k: str(v.get("title", k)) for k, v in properties.items()}
    problems: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, node in properties.items():
        if name not in data:
            continue
        problem = date_order_problem(node, data[name], data, titles) or working_days_problem(
            node, data[name], data, context)
        if problem:
            problems[name] = problem
    return problems


def validate_form(
    name: str, data: dict[str, Any], context: FormContext | None = None
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Field name -> (message id, params) for every problem; empty when the data is valid.

    ``context``: the case's run-time facts (the matter's materials, the minimum 公示 period, the calendar);
    without it the static rules of the schema are checked."""
    errors: dict[str, tuple[str, dict[str, Any]]] = {}
    schema = load_schema(name)
    if context is None:
        validator = _validator(name)
    else:
        schema = resolve(schema, context)
        validator = Draft202012Validator(_with_file_refs(schema), format_checker=FORMAT_CHECKER)
    for err in validator.iter_errors(data):
        if err.validator == "required":
            missing = [f for f in err.validator_value if f not in err.instance]
            for fname in missing:
                errors.setdefault(fname, (_MESSAGES["required"], {}))
            continue
        fname = str(err.absolute_path[0]) if err.absolute_path else "__all__"
        msgid = _MESSAGES.get(str(err.validator), N_("This value is not valid."))
        if err.validator == "format" and err.validator_value == "uri":
            msgid = NOT_HTTP_URL
        limit = err.validator_value if isinstance(err.validator_value, int | float) else None
        errors.setdefault(fname, (msgid, {"limit": limit}))
    if isinstance(data, dict):
        for fname, problem in cross_field_problems(schema, data, context).items():
            errors.setdefault(fname, problem)
    return errors
