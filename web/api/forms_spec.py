"""The user-task forms' JSON Schemas (forms/schemas/*.json) as OpenAPI 3.1 components ``form.<name>``: the
window's task completions are validated against these same files by the service layer
(services.cases.complete_task → forms.schemas.validate_form), so the API declares no copy of them."""

from __future__ import annotations

import copy
from typing import Any

from apispec import APISpec

from forms.schemas import FILE_REF_SCHEMA, SCHEMA_DIR, load_schema


def form_names() -> list[str]:
    return sorted(p.name for p in SCHEMA_DIR.glob("*.json") if not p.name.endswith(".uischema.json"))


def component_name(form: str) -> str:
    return "form." + form.removesuffix(".json")


def _openapi_form(node: Any) -> Any:
    """The form's schema as an OpenAPI 3.1 schema object: JSON Schema 2020-12 already; a "file" field's
    reference shape is spelled out (as the validator does), the per-file ``$schema`` is dropped."""
    if isinstance(node, list):
        return [_openapi_form(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _openapi_form(value) for key, value in node.items() if key != "$schema"}
    if out.get("format") == "file":
        out.pop("format")
        out.update(copy.deepcopy(FILE_REF_SCHEMA))
    return out


def register_form_schemas(spec: APISpec) -> None:
    for name in form_names():
        spec.components.schema(component_name(name), component=_openapi_form(load_schema(name)))
