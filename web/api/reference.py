"""``/api/v1/docs``: a browsable reference of the API, rendered on the server from the same OpenAPI document
(no script, no third-party CDN: the site's CSP stays strict)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("api_reference", __name__)

METHODS = ("get", "post", "put", "patch", "delete")


@bp.get("/api/v1/docs")
def reference():
    spec = current_app.extensions["runonce.api"].spec.to_dict()
    operations = []
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            operations.append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "scope": op.get("x-required-scope"),
                "tags": op.get("tags", []), "parameters": op.get("parameters", []),
                "responses": sorted(op.get("responses", {}).items()),
                "body": sorted((op.get("requestBody") or {}).get("content", {})),
            })
    return render_template("api/reference.html", spec=spec, operations=operations)
