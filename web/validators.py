"""WTForms validators shared by the staff registration form and the applicants' online form."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import StringField, ValidationError

from services import credit_code

# Mobile (11 digits) or a landline with its area code and an optional extension.
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?|\d{7,8})$")


def unified_credit_code(form: FlaskForm, field: StringField) -> None:
    """Normalises (no spaces, upper case) and checks the check character (GB 32100-2015)."""
    value = re.sub(r"\s", "", field.data or "").upper()
    field.data = value
    if value and not credit_code.is_valid(value):
        raise ValidationError(
            _("This unified social credit code is not valid (18 characters; the last one is a check character).")
        )


def phone_number(form: FlaskForm, field: StringField) -> None:
    value = re.sub(r"\s", "", field.data or "")
    if value and not PHONE.match(value):
        raise ValidationError(_("Enter a mobile number (11 digits) or a landline number with its area code."))
