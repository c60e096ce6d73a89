"""WTForms fields and validators for forms built from JSON Schema (see forms.builder).

Messages are English message ids (the same ids as forms.schemas uses for the service-side check), passed
through the `gettext` the builder was given, so the web layer shows them in the user's language. Nothing
here knows Flask.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from markupsafe import Markup, escape
from wtforms import Field, ValidationError
from wtforms.fields import SelectField, SelectMultipleField

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - WTForms < 3.3
    SelectChoice = None
from wtforms.validators import StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

Gettext = Callable[[str], Any]


def N_(msgid: str) -> str:
    """Marks a message id for extraction; translated where it is shown."""
    return msgid


REQUIRED = N_("This field is required.")
TOO_LONG = N_("Too long: at most %(limit)s characters.")
TOO_SHORT = N_("Too short: at least %(limit)s characters.")
AT_LEAST = N_("Must be at least %(limit)s.")
AT_MOST = N_("Must be at most %(limit)s.")
ABOVE = N_("Must be more than %(limit)s.")
BELOW = N_("Must be less than %(limit)s.")
MIN_ITEMS = N_("Choose at least %(limit)s.")
MAX_ITEMS = N_("Choose at most %(limit)s.")
BAD_FORMAT = N_("This value is not in the expected format.")
NOT_INTEGER = N_("Enter a whole number.")
NOT_NUMBER = N_("Enter a number.")
NOT_DATE = N_("Enter a date as YYYY-MM-DD.")
BAD_CHOICE = N_("Choose one of the offered values.")


def _identity(text: str) -> str:
    return text


def _empty(data: Any) -> bool:
    return data is None or data == "" or data == [] or (isinstance(data, str) and not data.strip())


# ---------------------------------------------------------------- validators


class Required:
    """Required with a message that keeps 0 and False as real answers (unlike DataRequired)."""

    field_flags = {"required": True}

    def __init__(self, gettext: Gettext = _identity) -> None:
        self.gettext = gettext

    def __call__(self, form, field) -> None:
        if field.process_errors:  # something was typed but could not be read: that message says more
            raise StopValidation()
        if _empty(field.data):
            field.errors[:] = []
            raise StopValidation(self.gettext(REQUIRED))


class Optional:
    """Stops the chain on an empty value so that bounds are not checked on nothing."""

    field_flags = {"optional": True}

    def __call__(self, form, field) -> None:
        if field.process_errors:
            raise StopValidation()
        if _empty(field.data):
            field.errors[:] = []
            raise StopValidation()


class Bounds:
    """minLength/maxLength (strings), minimum/maximum (numbers), minItems/maxItems (lists)."""

    def __init__(
        self,
        kind: str,
        low: float | None,
        high: float | None,
        gettext: Gettext = _identity,
        *,
        exclusive_low: bool = False,
        exclusive_high: bool = False,
    ) -> None:
        self.kind, self.low, self.high, self.gettext = kind, low, high, gettext
        self.exclusive_low, self.exclusive_high = exclusive_low, exclusive_high

    def __call__(self, form, field) -> None:
        value = field.data
        if value is None:
            return
        measure = len(value) if self.kind in ("length", "items") else value
        low_msg, high_msg = {
            "length": (TOO_SHORT, TOO_LONG),
            "number": (AT_LEAST, AT_MOST),
            "items": (MIN_ITEMS, MAX_ITEMS),
        }[self.kind]
        if self.low is not None and (measure <= self.low if self.exclusive_low else measure < self.low):
            msg = ABOVE if self.exclusive_low else low_msg
            raise ValidationError(self.gettext(msg) % {"limit": _plain(self.low)})
        if self.high is not None and (measure >= self.high if self.exclusive_high else measure > self.high):
            msg = BELOW if self.exclusive_high else high_msg
            raise ValidationError(self.gettext(msg) % {"limit": _plain(self.high)})


class Pattern:
    def __init__(self, pattern: str, gettext: Gettext = _identity) -> None:
        self.regex = re.compile(pattern)
        self.gettext = gettext

    def __call__(self, form, field) -> None:
        if field.data and not self.regex.search(field.data):
            raise ValidationError(self.gettext(BAD_FORMAT))


class HttpUrl:
    """format "uri": an absolute http(s) address (the service-side check is forms.schemas.is_http_url)."""

    def __init__(self, gettext: Gettext = _identity) -> None:
        self.gettext = gettext

    def __call__(self, form, field) -> None:
        from forms.schemas import NOT_HTTP_URL, is_http_url

        if field.data and not is_http_url(field.data.strip()):
            raise ValidationError(self.gettext(NOT_HTTP_URL))


def _sibling_values(form) -> dict[str, Any]:
    return {name: getattr(sub, "data", None) for name, sub in form._fields.items()}


class DateOrder:
    """x-after / x-not-before: this date against another field's date of the same form."""

    def __init__(self, node: dict[str, Any], titles: dict[str, str], gettext: Gettext = _identity) -> None:
        self.node, self.titles, self.gettext = node, titles, gettext

    def __call__(self, form, field) -> None:
        from forms.schemas import date_order_problem

        problem = date_order_problem(self.node, field.data, _sibling_values(form), self.titles)
        if problem:
            raise ValidationError(self.gettext(problem[0]) % problem[1])


class MinWorkingDays:
    """x-min-working-days-from: the period from the start field to this date lasts the minimum working days."""

    def __init__(self, node: dict[str, Any], context: Any, gettext: Gettext = _identity) -> None:
        self.node, self.context, self.gettext = node, context, gettext

    def __call__(self, form, field) -> None:
        from forms.schemas import working_days_problem

        problem = working_days_problem(self.node, field.data, _sibling_values(form), self.context)
        if problem:
            msg = self.gettext(problem[0])
            raise ValidationError(msg % problem[1] if problem[1] else msg)


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


# ---------------------------------------------------------------- fields


class _TextInput:
    """An <input> that shows back exactly what was typed (raw_data), even when it did not parse."""

    def __init__(self, input_type: str) -> None:
        self.input_type = input_type

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", field.id)
        kwargs.setdefault("type", self.input_type)
        if "value" not in kwargs:
            kwargs["value"] = field._value()
        attrs = " ".join(
            escape(k.rstrip("_")) if v is True else f'{escape(k.rstrip("_"))}="{escape(v)}"'
            for k, v in kwargs.items()
            if v is not False and v is not None
        )
        return Markup(f'<input name="{escape(field.name)}" {attrs}>')


class _ParsedField(Field):
    """Common parse-and-keep logic: raw text stays on the field for re-display."""

    widget = _TextInput("text")
    parse_error = BAD_FORMAT

    def __init__(self, label=None, validators=None, gettext: Gettext = _identity, **kwargs: Any) -> None:
        super().__init__(label, validators, **kwargs)
        self._gettext = gettext

    def parse(self, text: str) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist:
            return
        text = valuelist[0].strip()
        if not text:
            self.data = None
            return
        try:
            self.data = self.parse(text)
        except (ValueError, InvalidOperation):
            self.data = None
            raise ValueError(self._gettext(self.parse_error)) from None

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else self.format(self.data)

    def format(self, value: Any) -> str:
        return str(value)


class IntegerInput(_ParsedField):
    widget = _TextInput("number")
    parse_error = NOT_INTEGER

    def parse(self, text: str) -> int:
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(text)
        return int(text)


class NumberInput(_ParsedField):
    widget = _TextInput("number")
    parse_error = NOT_NUMBER

    def parse(self, text: str) -> float | int:
        value = Decimal(text)
        if not value.is_finite():
            raise ValueError(text)
        return int(value) if value == value.to_integral_value() and "." not in text else float(value)


class DateInput(_ParsedField):
    widget = _TextInput("date")
    parse_error = NOT_DATE

    def parse(self, text: str) -> date:
        return date.fromisoformat(text)

    def format(self, value: Any) -> str:
        return value.isoformat() if isinstance(value, date) else str(value)


def choices(pairs: Sequence[tuple[str, Any]]) -> list[Any]:
    """(value, label) pairs as WTForms choice objects (tuples are deprecated from WTForms 3.3)."""
    if SelectChoice is None:  # pragma: no cover - older WTForms
        return list(pairs)
    return [SelectChoice(value, label) for value, label in pairs]


def choice_values(options: Sequence[Any]) -> set[str]:
    return {
        str(getattr(option, "value", None) if hasattr(option, "value") else option[0]) for option in options
    }


class ChoiceField(SelectField):
    """A single choice (JSON Schema oneOf const/title): a drop-down, or radios with radio=True."""

    def __init__(self, *args: Any, gettext: Gettext = _identity, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gettext = gettext

    def pre_validate(self, form) -> None:
        if self.data in (None, ""):
            return
        if self.data not in choice_values(self.choices):
            raise ValidationError(self._gettext(BAD_CHOICE))


class ChecklistField(SelectMultipleField):
    """Several choices (an array of oneOf items) shown as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, *args: Any, gettext: Gettext = _identity, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gettext = gettext

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = [v for v in valuelist if v != ""]

    def pre_validate(self, form) -> None:
        allowed = choice_values(self.choices)
        if any(v not in allowed for v in self.data or []):
            raise ValidationError(self._gettext(BAD_CHOICE))


class FileRefField(Field):
    """One file (or several with ``multiple=True``) of the case file.

    The bytes never pass through the form: the web layer stores each upload in the file store before the form
    is validated (``pending`` → ``accept_stored``) and the field's data becomes a reference
    ``{"file_id", "sha256"}`` (a list of them when multiple). Files already received stay on a re-displayed
    form as hidden ``<name>__kept`` ids, which the web layer resolves only to files of the same case (or of the
    same applicant's browser session), so a form can never point at someone else's file.
    """

    def __init__(
        self,
        label=None,
        validators=None,
        *,
        multiple: bool = False,
        accept: Sequence[str] = (),
        max_items: int | None = None,
        gettext: Gettext = _identity,
        **kwargs: Any,
    ) -> None:
        super().__init__(label, validators, **kwargs)
        self.multiple = multiple
        self.accept = [a.strip().lower() for a in accept if a.strip()]
        self.max_items = max_items
        self._gettext = gettext
        self.pending: list[Any] = []  # uploads (werkzeug FileStorage) not yet stored
        self.kept_ids: list[str] = []
        self.file_names: dict[str, str] = {}  # file id → original name, for display
        self.upload_errors: list[str] = []

    def process(self, formdata, data=None, extra_filters=None) -> None:
        super().process(formdata, data, extra_filters)
        if formdata is None:
            self.data = self._normalized(data)
            return
        uploads = formdata.getlist(self.name) if hasattr(formdata, "getlist") else []
        self.pending = [u for u in uploads if getattr(u, "filename", "")]
        self.kept_ids = [v for v in formdata.getlist(f"{self.name}__kept") if isinstance(v, str)]
        self.data = [] if self.multiple else None

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Handled in process(): uploads and kept ids are read together."""

    def _normalized(self, data: Any) -> Any:
        if self.multiple:
            return [v for v in (data or []) if is_file_ref(v)]
        return data if is_file_ref(data) else None

    def refs(self) -> list[dict[str, str]]:
        if self.multiple:
            return list(self.data or [])
        return [self.data] if self.data else []

    def accept_stored(self, refs: list[dict[str, str]], names: dict[str, str]) -> None:
        """The kept and newly stored files, in that order (a single field keeps the newest)."""
        self.file_names.update(names)
        if self.multiple:
            self.data = refs
        else:
            self.data = refs[-1] if refs else None

    def pre_validate(self, form) -> None:
        if self.upload_errors:
            raise StopValidation(self.upload_errors[0])
        if self.multiple and self.max_items is not None and len(self.data or []) > self.max_items:
            raise StopValidation(self._gettext(MAX_ITEMS) % {"limit": self.max_items})

    def __call__(self, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", self.id)
        if self.accept:
            kwargs.setdefault("accept", ",".join(self.accept))
        if self.multiple:
            kwargs["multiple"] = True
        kwargs.pop("required", None)  # a kept file satisfies "required"; the server checks
        attrs = " ".join(
            escape(k.rstrip("_")) if v is True else f'{escape(k.rstrip("_"))}="{escape(v)}"'
            for k, v in kwargs.items()
            if v is not False and v is not None
        )
        html = Markup(f'<input type="file" name="{escape(self.name)}" {attrs}>')
        for item in self.refs():
            name = self.file_names.get(item["file_id"], "…")
            text = self._gettext(N_("Received: %(name)s")) % {"name": name}
            html += Markup(
                f'<input type="hidden" name="{escape(self.name)}__kept" value="{escape(item["file_id"])}">'
                f'<span class="file-kept">{escape(text)}</span>'
            )
        if self.refs() and not self.multiple:
            hint = self._gettext(N_("Choose a file only to replace it."))
            html += Markup(f'<span class="hint">{escape(hint)}</span>')
        return html

    def _value(self) -> str:
        return ""


def is_file_ref(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"file_id", "sha256"}
        and all(isinstance(v, str) for v in value.values())
    )
