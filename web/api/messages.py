"""Chinese text for what the libraries under the API say in English: the field messages of marshmallow (the
schemas that validate requests) and the ``detail`` of Werkzeug's HTTP errors (405, 501 …).

Problem documents are Chinese whatever the client's language (web/api/problems.py); the messages here are
English msgids (translated through the catalog, so ``translations.sync`` sees them), matched against the
library's text with its values (a length, the allowed choices) carried over.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _

from services.errors import N_

# marshmallow's default messages (fields and validators) → msgid; named groups fill the msgid's %(…)s.
_FIELD_MESSAGES: list[tuple[re.Pattern[str], str]] = [(re.compile(pattern), msgid) for pattern, msgid in (
    (r"Missing data for required field\.", N_("This field is required.")),
    (r"Unknown field\.", N_("Unknown field.")),
    (r"Field may not be null\.", N_("This field may not be empty (null).")),
    (r"Invalid (input )?type\.", N_("The value has the wrong type.")),
    (r"Not a valid integer\.", N_("Not a valid integer.")),
    (r"Not a valid number\.", N_("Not a valid number.")),
    (r"Number too large\.", N_("The number is too large.")),
    (r"Special numeric values \(nan or infinity\) are not permitted\.", N_("NaN and infinity are not allowed.")),
    (r"Not a valid string\.", N_("Not a valid string.")),
    (r"Not a valid utf-8 string\.", N_("Not valid UTF-8 text.")),
    (r"Not a valid boolean\.", N_("Not a valid boolean (true or false).")),
    (r"Not a valid list\.", N_("Not a valid list.")),
    (r"Not a valid mapping type\.", N_("Not a valid object.")),
    (r"Not a valid URL\.", N_("Not a valid URL.")),
    (r"Not a valid email address\.", N_("Not a valid e-mail address.")),
    (r"Not a valid UUID\.", N_("Not a valid UUID.")),
    (r"Not a valid date\.", N_("Not a valid date (YYYY-MM-DD).")),
    (r"Not a valid (\w+ )?datetime\.", N_("Not a valid date and time (ISO 8601).")),
    (r"Invalid value\.|Invalid input\.", N_("Invalid value.")),
    (r"String does not match expected pattern\.", N_("The value does not have the expected form.")),
    (r"Must be one of: (?P<choices>.*)\.", N_("Must be one of: %(choices)s.")),
    (r"Length must be between (?P<min>\S+) and (?P<max>\S+)\.", N_("Length must be between %(min)s and %(max)s.")),
    (r"Length must be (?P<equal>\S+)\.", N_("Length must be %(equal)s.")),
    (r"Longer than maximum length (?P<limit>\S+)\.", N_("Too long: at most %(limit)s characters.")),
    (r"Shorter than minimum length (?P<limit>\S+)\.", N_("Too short: at least %(limit)s characters.")),
    (r"Must be greater than or equal to (?P<min>\S+) and less than or equal to (?P<max>\S+)\.",
     N_("Must be between %(min)s and %(max)s.")),
    (r"Must be greater than or equal to (?P<limit>\S+)\.", N_("Must be at least %(limit)s.")),
    (r"Must be less than or equal to (?P<limit>\S+)\.", N_("Must be at most %(limit)s.")),
)]

# Werkzeug's errors without a page of their own: status → detail msgid.
_HTTP_DETAILS: dict[int, str] = {
    400: N_("The request cannot be read (malformed syntax)."),
    405: N_("This address does not accept the method %(method)s."),
    406: N_("No answer in an acceptable format can be given."),
    408: N_("The request took too long to arrive."),
    411: N_("A Content-Length header is required."),
    412: N_("A precondition of the request is not met."),
    414: N_("The address is too long."),
    416: N_("The requested range cannot be served."),
    417: N_("The Expect header cannot be met."),
    428: N_("A required header is missing."),
    429: N_("Too many requests; try again later."),
    431: N_("The request headers are too large."),
    501: N_("The method %(method)s is not supported."),
}


def field_message(text: str) -> str:
    """A library's English field message in Chinese; anything else (already Chinese) unchanged."""
    for pattern, msgid in _FIELD_MESSAGES:
        match = pattern.fullmatch(text.strip())
        if match:
            with force_locale("zh_CN"):
                return _(msgid) % match.groupdict() if match.groupdict() else _(msgid)
    return text


def field_messages(value: Any) -> Any:
    if isinstance(value, str):
        return field_message(value)
    if isinstance(value, list):
        return [field_messages(item) for item in value]
    return value


def http_detail(status: int, method: str, fallback: str | None) -> str | None:
    """The Chinese ``detail`` of a Werkzeug HTTP error (``fallback``, Werkzeug's English, only for a status
    not listed, which then gets the problem's Chinese title alone)."""
    msgid = _HTTP_DETAILS.get(status)
    if msgid is None:
        return None if fallback and fallback.isascii() else fallback
    with force_locale("zh_CN"):
        return _(msgid) % {"method": method} if "%(method)s" in msgid else _(msgid)
