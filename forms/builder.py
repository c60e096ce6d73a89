"""Turn a user-task form's JSON Schema (+ uiSchema) into a WTForms form class, and its answers back into data.

Supported properties (anything else raises UnsupportedSchema, naming the property):
- string                         → text input; uiSchema "ui:widget": "textarea" → text area
- string, format "date"          → date input (the data keep the ISO text, "2018-03-14")
- object, format "file"         → one file of the case file, kept as {"file_id", "sha256"} (the bytes go to
                                   the file store); "x-accept" narrows the accepted types
- integer / number               → number input with minimum/maximum (exclusive bounds too)
- oneOf/enum (const + title)     → drop-down, or radios with "ui:widget": "radio"
- array of oneOf/enum items      → checkboxes (a checklist), minItems/maxItems
- array of format "file" items   → several files (maxItems)
- boolean                        → a checkbox
- "readOnly": true               → not an input; shown with the task's data instead

Titles and descriptions are the schema's own (Chinese); a property may carry translations as
"x-title-en"/"x-description-en" (any locale code), used when the page is shown in that locale.

Run-time keywords (forms.context) are resolved first with the ``FormContext`` given to ``describe`` /
``build_form_class``: "x-options" choices (the case's matter's materials), "x-default": "current_user" or
"today", "x-default-from": "<dotted path into the case's data>" (``data_for_form``), and
the checks "x-after" / "x-not-before" (date order), "x-min-working-days-from" (公示 period by the calendar)
and format "uri" (http/https only), the same rules as the service-side ``forms.schemas.validate_form``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from wtforms import Form
from wtforms.fields import BooleanField, Field, HiddenField, StringField, TextAreaField

from forms import widgets as w
from forms.context import CURRENT_USER, TODAY, FormContext
from forms.schemas import resolve
from forms.widgets import Gettext


class UnsupportedSchema(ValueError):
    """The schema uses a construct the form builder does not render; the message names the property."""


@dataclass(frozen=True)
class Choice:
    value: Any  # the JSON value (const)
    title: str

    @property
    def key(self) -> str:
        return _key(self.value)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # text | textarea | date | file | files | integer | number | choice | checklist | boolean
    title: str
    description: str | None
    required: bool
    schema: dict[str, Any]
    choices: tuple[Choice, ...] = ()
    widget: str | None = None


@dataclass(frozen=True)
class FormSpec:
    title: str | None
    description: str | None
    fields: tuple[FieldSpec, ...]
    read_only: tuple[FieldSpec, ...] = field(default=())


def _key(value: Any) -> str:
    """Form values are text; JSON true/false/1 need a stable text form to map back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _localized(node: dict[str, Any], attr: str, locale: str | None) -> str | None:
    if locale:
        for code in (locale, locale.split("_")[0]):
            text = node.get(f"x-{attr}-{code}")
            if text:
                return str(text)
    value = node.get(attr)
    return str(value) if value is not None else None


def _choices(node: dict[str, Any], locale: str | None) -> tuple[Choice, ...] | None:
    if "oneOf" in node or "anyOf" in node:
        options = node.get("oneOf") or node.get("anyOf") or []
        out = []
        for option in options:
            if "const" not in option:
                return None
            out.append(Choice(option["const"], _localized(option, "title", locale) or _key(option["const"])))
        return tuple(out)
    if "enum" in node:
        return tuple(Choice(v, _key(v)) for v in node["enum"])
    return None


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, list):
        return {k for k in kind if k != "null"}
    return {kind} if kind else set()


def describe(
    schema: dict[str, Any], ui_schema: dict[str, Any] | None = None, locale: str | None = None,
    context: FormContext | None = None,
) -> FormSpec:
    """The fields of a form, in display order (uiSchema "ui:order", else the schema's order)."""
    schema = resolve(schema, context)
    ui_schema = ui_schema or {}
    if schema.get("type", "object") != "object":
        raise UnsupportedSchema("the form schema must be an object")
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    order = list(ui_schema.get("ui:order", [])) or list(properties)
    if "*" in order:
        star = order.index("*")
        rest = [name for name in properties if name not in order]
        order = order[:star] + rest + order[star + 1 :]
    order += [name for name in properties if name not in order]
    fields, read_only = [], []
    for name in order:
        if name not in properties:
            continue
        node = properties[name]
        ui = ui_schema.get(name, {})
        if ui.get("ui:widget") == "hidden":
            continue
        spec = _field_spec(name, node, ui, name in required, locale)
        (read_only if node.get("readOnly") else fields).append(spec)
    return FormSpec(
        _localized(schema, "title", locale),
        _localized(schema, "description", locale),
        tuple(fields),
        tuple(read_only),
    )


def _field_spec(
    name: str, node: dict[str, Any], ui: dict[str, Any], required: bool, locale: str | None
) -> FieldSpec:
    title = _localized(node, "title", locale) or name
    description = _localized(ui, "ui:help", locale) or _localized(node, "description", locale)
    widget = ui.get("ui:widget")
    types = _types(node)
    choices = _choices(node, locale)

    def spec(kind: str, options: tuple[Choice, ...] = ()) -> FieldSpec:
        return FieldSpec(name, kind, title, description, required, node, options, widget)

    if choices is not None and types <= {"string", "integer", "number", "boolean"}:
        return spec("choice", choices)
    if types == {"array"}:
        items = node.get("items", {})
        item_choices = _choices(items, locale)
        if item_choices is not None:
            return spec("checklist", item_choices)
        if items.get("x-options"):  # run-time choices with no context to fill them: nothing to offer
            return spec("checklist", tuple(
                Choice(o["const"], _localized(o, "title", locale) or _key(o["const"]))
                for o in items.get("x-options-append", [])))
        if items.get("format") == "file":
            return spec("files")
        raise UnsupportedSchema(f"{name}: only arrays of choices or of files are supported")
    if node.get("format") == "file":
        return spec("file")
    if types == {"string"}:
        fmt = node.get("format")
        if fmt == "date":
            return spec("date")
        return spec("textarea" if widget == "textarea" else "text")
    if types == {"integer"}:
        return spec("integer")
    if types == {"number"}:
        return spec("number")
    if types == {"boolean"}:
        return spec("boolean")
    raise UnsupportedSchema(f"{name}: type {sorted(types) or 'missing'} is not supported")


def _bounds(node: dict[str, Any], kind: str) -> tuple[float | None, float | None]:
    if kind == "length":
        return node.get("minLength"), node.get("maxLength")
    if kind == "items":
        return node.get("minItems"), node.get("maxItems")
    low, high = node.get("minimum"), node.get("maximum")
    if node.get("exclusiveMinimum") is not None:
        low = node["exclusiveMinimum"]
    if node.get("exclusiveMaximum") is not None:
        high = node["exclusiveMaximum"]
    return low, high


def _make_field(spec: FieldSpec, gettext: Gettext, titles: dict[str, str] | None = None,
                context: FormContext | None = None) -> Field:
    node = spec.schema
    presence = w.Required(gettext) if spec.required else w.Optional()
    checks: list[Any] = [presence]
    render: dict[str, Any] = {}
    common: dict[str, Any] = {"label": spec.title, "description": spec.description or ""}
    if "default" in node and spec.kind in ("text", "textarea"):
        common["default"] = node["default"]
    if "default" in node and spec.kind == "date":  # the field's value is a date, as when it is typed
        with contextlib.suppress(ValueError):
            common["default"] = date.fromisoformat(str(node["default"]))
    if spec.kind in ("text", "textarea"):
        low, high = _bounds(node, "length")
        if low is not None or high is not None:
            checks.append(w.Bounds("length", low, high, gettext))
        if node.get("pattern"):
            checks.append(w.Pattern(node["pattern"], gettext))
        if node.get("format") == "uri":
            checks.append(w.HttpUrl(gettext))
            render["type"] = "url"
        if high:
            render["maxlength"] = high
        if spec.kind == "textarea":
            render["rows"] = 5
            return TextAreaField(validators=checks, render_kw=render, **common)
        return StringField(validators=checks, render_kw=render, **common)
    if spec.kind in ("integer", "number"):
        low, high = _bounds(node, "number")
        if low is not None or high is not None:
            checks.append(
                w.Bounds(
                    "number",
                    low,
                    high,
                    gettext,
                    exclusive_low=node.get("exclusiveMinimum") is not None,
                    exclusive_high=node.get("exclusiveMaximum") is not None,
                )
            )
        render.update(
            {k: v for k, v in (("min", node.get("minimum")), ("max", node.get("maximum"))) if v is not None}
        )
        render["step"] = "1" if spec.kind == "integer" else "any"
        cls = w.IntegerInput if spec.kind == "integer" else w.NumberInput
        return cls(validators=checks, render_kw=render, gettext=gettext, **common)
    if spec.kind == "date":
        if node.get("x-after") or node.get("x-not-before"):
            checks.append(w.DateOrder(node, titles or {}, gettext))
        if node.get("x-min-working-days-from"):
            checks.append(w.MinWorkingDays(node, context, gettext))
        return w.DateInput(validators=checks, gettext=gettext, **common)
    if spec.kind == "choice":
        options = [(c.key, c.title) for c in spec.choices]
        if spec.widget != "radio":
            options.insert(0, ("", gettext(w.N_("— choose —"))))
        field_cls = w.ChoiceField
        kwargs: dict[str, Any] = {}
        if spec.widget == "radio":
            from wtforms.widgets import ListWidget, RadioInput

            kwargs = {"widget": ListWidget(prefix_label=False), "option_widget": RadioInput()}
        return field_cls(
            choices=w.choices(options),
            validators=checks,
            gettext=gettext,
            validate_choice=False,
            **kwargs,
            **common,
        )
    if spec.kind == "checklist":
        low, high = _bounds(node, "items")
        if low is not None or high is not None:
            checks.append(w.Bounds("items", low, high, gettext))
        return w.ChecklistField(
            choices=w.choices([(c.key, c.title) for c in spec.choices]),
            validators=checks,
            gettext=gettext,
            **common,
        )
    if spec.kind in ("file", "files"):
        items = node.get("items", {}) if spec.kind == "files" else node
        return w.FileRefField(
            validators=checks,
            multiple=spec.kind == "files",
            accept=_accept_list(items.get("x-accept") or node.get("x-accept")),
            max_items=node.get("maxItems") if spec.kind == "files" else None,
            gettext=gettext,
            **common,
        )
    if spec.kind == "boolean":
        return BooleanField(validators=[] if not spec.required else [w.Required(gettext)], **common)
    raise UnsupportedSchema(spec.name)


def _accept_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    return [str(v) for v in value]


def build_form_class(
    schema: dict[str, Any],
    ui_schema: dict[str, Any] | None = None,
    *,
    base: type[Form] = Form,
    gettext: Gettext = w._identity,
    locale: str | None = None,
    version_field: str | None = "expected_version",
    context: FormContext | None = None,
) -> type[Form]:
    """A form class with one field per schema property, plus a hidden field for the case version.

    ``context``: the case's run-time facts (forms.context): its matter's choices, the signed-in user's name,
    the minimum 公示 period and the working-day counter."""
    spec = describe(schema, ui_schema, locale, context)
    attrs: dict[str, Any] = {"form_spec": spec}
    titles = {f.name: f.title for f in spec.fields}
    for field_spec in spec.fields:
        attrs[field_spec.name] = _make_field(field_spec, gettext, titles, context)
    if version_field:
        attrs[version_field] = HiddenField()
    return type("TaskForm", (base,), attrs)


def form_to_data(form: Form) -> dict[str, Any]:
    """The answers as JSON values (the schema's types); empty optional answers are left out."""
    spec: FormSpec = form.form_spec  # type: ignore[attr-defined]
    data: dict[str, Any] = {}
    for field_spec in spec.fields:
        value = form[field_spec.name].data
        if field_spec.kind == "choice":
            if value in (None, ""):
                continue
            by_key = {c.key: c.value for c in field_spec.choices}
            value = by_key.get(value, value)
        elif field_spec.kind == "checklist":
            by_key = {c.key: c.value for c in field_spec.choices}
            value = [by_key.get(v, v) for v in value or []]
        elif field_spec.kind == "date":
            if value is None:
                continue
            value = value.isoformat()
        elif field_spec.kind in ("text", "textarea"):
            value = (value or "").strip()
            if not value and not field_spec.required:
                continue
        elif field_spec.kind == "boolean":
            value = bool(value)
        elif field_spec.kind == "files":
            value = list(value or [])
            if not value and not field_spec.required:
                continue
        elif value is None or (field_spec.kind == "file" and not value):
            continue
        data[field_spec.name] = value
    return data


def _dotted(data: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def data_for_form(form_spec: FormSpec, data: dict[str, Any]) -> dict[str, Any]:
    """Stored task data → the values a fresh form starts from (for a task done again after a rework)."""
    initial: dict[str, Any] = {}
    for field_spec in form_spec.fields:
        if field_spec.name not in data:
            # "x-default-from": a dotted path into the case's data, e.g. the applicant's registered address
            source = field_spec.schema.get("x-default-from")
            value = _dotted(data, source) if isinstance(source, str) else None
            if isinstance(value, str) and value.strip():
                initial[field_spec.name] = value
            continue
        if field_spec.schema.get("x-default") in (CURRENT_USER, TODAY) and "default" in field_spec.schema:
            continue  # whoever signs now, today: not the name or date an earlier round left in the data
        value = data[field_spec.name]
        if field_spec.kind == "choice":
            value = _key(value)
        elif field_spec.kind == "checklist":
            value = [_key(v) for v in value] if isinstance(value, list) else []
        elif field_spec.kind == "date" and isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                continue
        initial[field_spec.name] = value
    return initial


def display_value(field_spec: FieldSpec, value: Any, file_names: dict[str, str] | None = None) -> str:
    """A stored answer as a person reads it (choice titles instead of codes, file names instead of ids)."""
    titles = {c.key: c.title for c in field_spec.choices}
    if field_spec.kind == "choice":
        return titles.get(_key(value), _key(value))
    if field_spec.kind == "checklist" and isinstance(value, list):
        return "、".join(titles.get(_key(v), _key(v)) for v in value)
    if field_spec.kind in ("file", "files"):
        names = file_names or {}
        refs = value if isinstance(value, list) else [value]
        return "、".join(names.get(r["file_id"], r["file_id"]) for r in refs if w.is_file_ref(r))
    if isinstance(value, bool):
        return "✓" if value else "✗"
    return "" if value is None else str(value)
