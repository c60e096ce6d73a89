"""``/api/v1/docs``: a browsable reference of the API, rendered on the server from the same OpenAPI document
(no script, no third-party CDN: the site's CSP stays strict).

The page is read by other systems' developers in the page's language: each operation has a short title here
(translated like every page text), and the OpenAPI document's own English summary and description are shown
under it, marked as English (``lang="en"``), since they are the spec's technical reference text."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from services.errors import N_

bp = Blueprint("api_reference", __name__)

METHODS = ("get", "post", "put", "patch", "delete")

# operationId -> the operation's title on the page (a test checks that every operation of the spec has one).
OPERATION_TITLES: dict[str, str] = {
    "list_matters": N_("List the matters"),
    "get_matter": N_("One matter"),
    "get_form": N_("A task form's JSON Schema"),
    "submit_application": N_("Submit an application online"),
    "upload": N_("Upload a large file before the application"),
    "start_resumable_upload": N_("Start a resumable upload"),
    "get_resumable_upload": N_("Where a resumable upload stands"),
    "put_chunk": N_("Send the next part of a resumable upload"),
    "delete_resumable_upload": N_("Abandon a resumable upload"),
    "list_cases": N_("List the client's cases"),
    "get_case": N_("One case with its status and history"),
    "submit_supplements": N_("Answer the one-time notice (missing materials)"),
    "list_documents": N_("List a case's documents"),
    "download_document": N_("Download a document"),
    "register": N_("Register an application received at the window"),
    "list_tasks": N_("List the window's open tasks of a case"),
    "complete": N_("Complete a window task"),
    "list_webhooks": N_("List the event subscriptions"),
    "create_webhook": N_("Subscribe to events"),
    "delete_webhook": N_("Remove a subscription"),
    "list_deliveries": N_("A subscription's delivery log"),
}


def operations(spec: dict) -> list[dict]:
    """The spec's operations in its order, each with its page title (None when it has none yet)."""
    out = []
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            out.append({
                "method": method.upper(), "path": path, "operation_id": op.get("operationId"),
                "title": OPERATION_TITLES.get(op.get("operationId", "")),
                "summary": op.get("summary", ""), "description": op.get("description", ""),
                "scope": op.get("x-required-scope"), "tags": op.get("tags", []),
                "parameters": op.get("parameters", []),
                "responses": sorted(op.get("responses", {}).items()),
                "body": sorted((op.get("requestBody") or {}).get("content", {})),
            })
    return out


@bp.get("/api/v1/docs")
def reference():
    spec = current_app.extensions["runonce.api"].spec.to_dict()
    return render_template("api/reference.html", spec=spec, operations=operations(spec))
