"""User-task forms: one JSON Schema file per form in forms/schemas/ (SpiffArena's formJsonSchemaFilename).

The service layer validates every submission against the schema, whatever UI sent it; messages are
message ids for the translation layer, keyed by field name.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

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


@lru_cache(maxsize=256)
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(_with_file_refs(load_schema(name)), format_checker=FormatChecker())


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


def validate_form(name: str, data: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Field name -> (message id, params) for every problem; empty when the data is valid."""
    errors: dict[str, tuple[str, dict[str, Any]]] = {}
    for err in _validator(name).iter_errors(data):
        if err.validator == "required":
            missing = [f for f in err.validator_value if f not in err.instance]
            for fname in missing:
                errors.setdefault(fname, (_MESSAGES["required"], {}))
            continue
        fname = str(err.absolute_path[0]) if err.absolute_path else "__all__"
        msgid = _MESSAGES.get(str(err.validator), N_("This value is not valid."))
        limit = err.validator_value if isinstance(err.validator_value, int | float) else None
        errors.setdefault(fname, (msgid, {"limit": limit}))
    return errors
