"""What a form needs to know about the case and the person filling it in, beyond its JSON Schema.

A form schema stays a static file; a few schema keywords refer to facts that only exist at run time:

- ``"x-options": "<source>"`` (on a string node or on an array's ``items``): the choices come from
  ``FormContext.options[source]`` — e.g. ``"matter_materials"``, the case's matter's materials list (code →
  name).  ``"x-options-append"`` adds fixed choices after them (e.g. "other").  Without a context the node keeps
  its static rules (a pattern), so a plain JSON Schema validator still accepts well-formed codes.
- ``"x-default": "current_user"``: the field starts with the signed-in user's display name (审查人, 签发人 …).
- ``"x-default": "today"`` (on a date): the field starts with today's date in Beijing, where that is the usual
  answer (收件日期, 审查日期, 寄出日期 …); the person changes it when the paper says otherwise.
- ``"x-min-working-days-from": "<start field>"`` (on an end date): the period start..end, both days included,
  must have at least ``FormContext.min_working_days`` working days by the working-day calendar (公示期).

``forms.schemas.resolve`` turns a schema plus a context into a plain schema; both the web form (forms.builder)
and the service-side check (forms.schemas.validate_form) use the resolved one, so they agree.  Nothing here
knows the catalog, the calendar or the database: the service layer fills the context in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

CURRENT_USER = "current_user"
TODAY = "today"


@dataclass(frozen=True)
class Option:
    value: str
    title: str  # Chinese, the default language
    title_en: str | None = None


@dataclass(frozen=True)
class FormContext:
    options: Mapping[str, tuple[Option, ...]] = field(default_factory=lambda: MappingProxyType({}))
    user_name: str | None = None
    # the minimum period for x-min-working-days-from (None: no minimum known for this task)
    min_working_days: int | None = None
    # working days from start to end, both included; None when the calendar cannot tell (a year without data)
    working_days: Callable[[date, date], int | None] | None = None
    today: date | None = None  # for "x-default": "today"


EMPTY = FormContext()
