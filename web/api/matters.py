"""``/api/v1/matters``: the catalog (workflows/catalog.toml) with materials, limits, service modes, months and
the national item codes (not known yet: left empty and marked ``known: false``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import jsonify
from flask_smorest import Blueprint

from forms.schemas import UnknownForm, load_schema
from services.errors import N_, NotFound
from web.api.auth import authenticate, operation_doc, requires
from web.api.forms_spec import form_names
from web.api.schemas import MatterSchema

blp = Blueprint("api_matters", __name__, description="事项目录 / the matters and their materials lists")
blp.before_request(authenticate)


def _catalog():
    from workflows.catalog import shipped_catalog

    return shipped_catalog()


def _limit(limit: Any) -> dict[str, Any] | None:
    return asdict(limit) if limit is not None else None


def matter_body(matter: Any) -> dict[str, Any]:
    return {
        "code": matter.code, "number": matter.number, "name_zh": matter.name_zh, "name_en": matter.name_en,
        "kind": matter.kind, "unit": matter.responsible_unit, "unit_missing_in_plan": matter.unit_missing_in_plan,
        "run_once_month": matter.run_once_month, "legal_basis": matter.legal_basis,
        "statutory_limit": _limit(matter.statutory_limit), "promised_limit": _limit(matter.promised_limit),
        "excluded_time": list(matter.excluded_time),
        "service_modes": [{"channel": m.channel, "delivery_mode": m.delivery_mode} for m in matter.service_modes],
        "online_application": any(m.channel == "online" for m in matter.service_modes),
        "report_types": sorted(matter.statutory_limit_by_report_type),
        "materials": [
            {"code": i.code, "name_zh": i.name_zh, "name_en": i.name_en, "requirement": i.requirement,
             "condition_zh": i.condition_zh, "form": i.form, "copies": i.copies, "note_zh": i.note_zh,
             "source": i.source, "unconfirmed": i.unconfirmed}
            for i in matter.materials
        ],
        "max_upload_bytes": matter.max_upload_bytes,
        # The plan's attachment gives no national codes (事项编码/实施编码); none is invented here.
        "national_codes": {"item_code": None, "implementation_code": None, "known": False},
    }


@blp.route("/matters")
@blp.doc(**operation_doc("matters:read", "list_matters"))
@blp.response(200, MatterSchema(many=True))
@requires("matters:read")
def list_matters():
    """The eleven matters of the plan."""
    return [matter_body(m) for m in _catalog().matters]


@blp.route("/matters/<code>")
@blp.doc(**operation_doc("matters:read", "get_matter"))
@blp.response(200, MatterSchema)
@requires("matters:read")
def get_matter(code: str):
    """One matter by its code (m01 … m11)."""
    try:
        return matter_body(_catalog().matter(code))
    except KeyError:
        raise NotFound(N_("Unknown matter %(code)s."), code=code) from None


@blp.route("/forms/<name>")
@blp.doc(**operation_doc("window:act", "get_form"))
@blp.response(200, {"type": "object"}, description="the form's JSON Schema (draft 2020-12)")
@requires("window:act")
def get_form(name: str):
    """A task form's JSON Schema, as the service layer validates it (also components/schemas/form.<name>)."""
    file_name = name if name.endswith(".json") else name + ".json"
    if file_name not in form_names():
        raise NotFound(N_("Unknown form %(name)s."), name=name)
    try:
        return jsonify(load_schema(file_name))  # a Response: passed through as the form file says
    except UnknownForm:
        raise NotFound(N_("Unknown form %(name)s."), name=name) from None
