"""Process designers: the deployed versions, uploading a new one, and editing one in the browser (bpmn-js
modeler). Everything is validated server-side (engine.definitions.compile_process) before anything is stored;
a save names the version it was based on, and a concurrent deploy in between is refused, never merged.

The editor talks JSON: POST {xml, base_version, note, override_reason} with the CSRF token in the
X-CSRFToken header. Answers: 200 deployed | 409 conflict (with the designer's XML back) | 422 rejected (file,
line, element id; for the deploy gate also `problems`, each with its element, and `overridable`).

The deploy gate (services/deploy_gate.py) refuses a catalog matter's version whose data flow or scenarios fail;
every problem is marked on the diagram. Data-flow findings alone may be overridden with a reason (audited).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import func, select
from wtforms import StringField
from wtforms.validators import Length, ValidationError

from engine.errors import BpmnError
from services import definitions
from services.deploy_gate import DeployRefused, GateProblem
from services.errors import NotFound, ServiceError
from storage.models import ProcessDefinition
from web.common import actor, flash_service_error, reader, roles_required, uow
from web.edge import accepts_json
from web.i18n import current_language, error_text
from web.inputs import parse_int

bp = Blueprint("designer", __name__, url_prefix="/designer")

MAX_BPMN_BYTES = 2 * 1024 * 1024
MAX_NOTE = 500


class UploadForm(FlaskForm):
    diagram = FileField(lazy_gettext("BPMN file (.bpmn)"))
    note = StringField(lazy_gettext("Note for this version"), validators=[Length(max=MAX_NOTE)])
    override_reason = StringField(
        lazy_gettext("Reason to deploy despite data-flow findings (recorded in the audit log)"),
        validators=[Length(max=MAX_NOTE)],
    )

    def validate_diagram(self, field: FileField) -> None:
        upload = field.data
        if upload is None or not getattr(upload, "filename", ""):
            raise ValidationError(_("Choose a .bpmn file."))
        if not upload.filename.lower().endswith(".bpmn"):
            raise ValidationError(_("Only .bpmn files can be deployed."))


def _versions():
    with reader() as r:
        return r.session.execute(
            select(
                ProcessDefinition.id,
                ProcessDefinition.process_id,
                ProcessDefinition.version,
                ProcessDefinition.main_file,
                ProcessDefinition.content_hash,
                ProcessDefinition.deployed_at,
                ProcessDefinition.deployed_by,
                ProcessDefinition.note,
            ).order_by(ProcessDefinition.process_id, ProcessDefinition.version.desc())
        ).all()


def _shared_from_disk() -> dict[str, bytes]:
    """The shared call activities as they are on disk (workflows/shared/*.bpmn): for a new process only; an
    edit takes them from the version it edits."""
    files: dict[str, bytes] = {}
    shared = Path(current_app.config["WORKFLOWS_DIR"]) / definitions.SHARED_DIR_NAME
    for path in sorted(shared.glob("*.bpmn")) if shared.is_dir() else []:
        files[f"{definitions.SHARED_DIR_NAME}/{path.name}"] = path.read_bytes()
    return files


def _rejection(err: BpmnError, default_file: str) -> dict[str, Any]:
    zh = current_language() == "zh_CN"
    localized = getattr(err, "message_zh" if zh else "message_en", None)
    return {
        "message": localized or getattr(err, "message", None) or str(err),
        "file": getattr(err, "filename", None) or default_file,
        "line": getattr(err, "line", None),
        "element_id": getattr(err, "element_id", None),
        "code": getattr(err, "code", None),
    }


def _problem(problem: GateProblem, main_file: str) -> dict[str, Any]:
    zh = current_language() == "zh_CN"
    return {
        "message": problem.message_zh if zh else problem.message_en,
        "file": problem.filename,
        "line": problem.line,
        "element_id": problem.element_id,
        "kind": problem.kind,
        "scenario": problem.scenario,
        "overridable": problem.overridable,
        # Only the main diagram is in the editor; an element of a shared call activity cannot be marked there.
        "in_editor": bool(problem.element_id) and problem.filename in (None, main_file),
    }


def _refusal(err: DeployRefused, main_file: str) -> dict[str, Any]:
    """A gate refusal as the page and the editor show it; the first marked problem doubles as the element."""
    problems = [_problem(p, main_file) for p in err.problems]
    first = next((p for p in problems if p["element_id"]), problems[0] if problems else {})
    return {
        "message": error_text(err),
        "file": first.get("file") or main_file,
        "line": first.get("line"),
        "element_id": first.get("element_id"),
        "code": "gate",
        "in_editor": first.get("in_editor", False),
        "problems": problems,
        "overridable": err.overridable,
    }


def _deployed_message(result: definitions.Deployment) -> str:
    if result.created:
        return _(
            "Deployed %(process)s version %(version)s. New cases use it; running cases stay on their version.",
            process=result.process_id,
            version=result.version,
        )
    return _(
        "This content is already deployed as %(process)s version %(version)s; nothing changed.",
        process=result.process_id,
        version=result.version,
    )


@bp.route("/", methods=["GET", "POST"])
@roles_required("designer")
def index():
    form = UploadForm()
    rejected = None
    status = 200
    if form.validate_on_submit():
        upload = form.diagram.data
        blob = upload.read(MAX_BPMN_BYTES + 1)
        name = Path(upload.filename).name
        if len(blob) > MAX_BPMN_BYTES:
            form.diagram.errors = [_("The file is too large: at most %(limit)s.", limit="2 MB")]
            status = 422
        else:
            files: dict[str, bytes | str] = {name: blob, **_shared_from_disk()}
            try:
                result = definitions.deploy_bundle(uow(), files, name, actor(), note=form.note.data or None,
                                                   override_reason=form.override_reason.data or None)
            except BpmnError as err:
                status = 422
                rejected = _rejection(err, name)
            except DeployRefused as err:
                status = 422
                rejected = _refusal(err, name)
            except ServiceError as err:
                status = err.http_status
                flash_service_error(err)
            else:
                flash(_deployed_message(result), "success" if result.created else "info")
                return redirect(url_for("designer.index"))
    elif form.is_submitted():
        status = 422
    versions = _versions()
    latest_ids = {}
    for v in versions:  # ordered by process, newest version first
        latest_ids.setdefault(v.process_id, v.id)
    return render_template(
        "designer/index.html", form=form, versions=versions, latest_ids=set(latest_ids.values()), rejected=rejected
    ), status


@bp.get("/versions/<int:definition_id>")
@roles_required("designer")
def version(definition_id: int):
    with reader() as r:
        definition = r.session.get(ProcessDefinition, definition_id)
        if definition is None:
            abort(404)
        files = sorted(definition.files)  # deferred column: read it while the session is open
        latest = _latest_version(r.session, definition.process_id)
    return render_template(
        "designer/version.html", definition=definition, files=files, is_latest=latest == definition.version
    )


@bp.get("/versions/<int:definition_id>/diagram.bpmn")
@roles_required("designer")
def version_xml(definition_id: int):
    with reader() as r:
        definition = r.session.get(ProcessDefinition, definition_id)
        if definition is None:
            abort(404)
        xml = definition.files[definition.main_file]
    return xml, 200, {"Content-Type": "application/xml; charset=utf-8"}


# --- editing in the browser ------------------------------------------------------------------------


def _latest_version(session, process_id: str) -> int | None:
    return session.execute(
        select(func.max(ProcessDefinition.version)).where(ProcessDefinition.process_id == process_id)
    ).scalar()


def _latest_definition(process_id: str) -> ProcessDefinition:
    with reader() as r:
        try:
            return definitions.current_definition(r.session, process_id)
        except NotFound:
            abort(404)


def _editor_texts() -> dict[str, str]:
    """The editor's wording, translated here (the script has no catalog of its own)."""
    return {
        "load_failed": _("The diagram could not be opened in the editor."),
        "confirm_deploy": _("Deploy this diagram as version %(version)s? Changes against the deployed version:",
                            version="%(version)s"),
        "confirm_deploy_new": _("Deploy this new process as its version 1?"),
        "diff_added": _("Elements added"),
        "diff_removed": _("Elements removed"),
        "diff_changed": _("Elements changed"),
        "diff_none": _("No element changed (only the layout, if anything)."),
        "confirm_yes": _("Deploy"),
        "confirm_no": _("Cancel"),
        "saving": _("Checking and deploying…"),
        "checking": _("Checking…"),
        "check_ok": _("The diagram passed every check. Nothing was deployed."),
        "rejected": _("The diagram was rejected; the deployed version is unchanged."),
        "rejected_check": _("The diagram does not pass the checks."),
        "conflict": _("Not deployed: someone else deployed a newer version."),
        "kept": _("Your diagram stays in the editor. Download it to keep a copy, then reopen the latest version."),
        "download": _("Download my diagram"),
        "open_latest": _("Open the latest version in a new tab"),
        "failed": _("The request failed (%(status)s); your diagram stays in the editor. Download it to keep a copy."),
        "offline": _("The server could not be reached; your diagram stays in the editor."),
        "signed_out": _(
            "You are no longer signed in; nothing was deployed. Download your diagram, sign in again, then reopen "
            "the editor."
        ),
        "file": _("File"),
        "line": _("Line"),
        "element": _("Element"),
        "not_in_editor": _("This element is in a shared call activity, not in the diagram open here."),
        "unsaved": _("Unsaved changes"),
        "saved": _("All changes deployed"),
        "based_on": _("based on version %(version)s"),
        "open_failed": _("This file could not be opened: %(error)s"),
        "select_hint": _("Select an element to see its properties."),
        "prop_type": _("Type"),
        "prop_id": _("Id"),
        "prop_name": _("Name"),
        "prop_documentation": _("Documentation"),
        "prop_script": _("Script (Python)"),
        "prop_condition": _("Condition"),
        "prop_called": _("Called process"),
        "prop_id_taken": _("This id is used by another element."),
        "prop_id_invalid": _("An id starts with a letter or _ and has only letters, digits, _, - and ."),
        "problems": _("Problems (each is marked on the diagram; click one to show it):"),
        "override_label": _(
            "These are data-flow findings only. If the diagram is right nonetheless, give the reason and deploy "
            "anyway; the reason is recorded in the audit log."
        ),
        "override_button": _("Deploy anyway with this reason"),
        "override_missing": _("Give the reason first."),
    }


@bp.get("/processes/<process_id>/edit")
@roles_required("designer")
def edit(process_id: str):
    definition = _latest_definition(process_id)
    return render_template(
        "designer/edit.html",
        mode="edit",
        definition=definition,
        process_id=definition.process_id,
        base_version=definition.version,
        xml_url=url_for("designer.version_xml", definition_id=definition.id),
        deploy_url=url_for("designer.deploy_edit", process_id=definition.process_id),
        check_url=url_for("designer.check_edit", process_id=definition.process_id),
        texts=_editor_texts(),
    )


@bp.get("/new")
@roles_required("designer")
def new():
    return render_template(
        "designer/edit.html",
        mode="new",
        definition=None,
        process_id="",
        base_version=0,
        xml_url=url_for("designer.blank_xml"),
        deploy_url=url_for("designer.deploy_new"),
        check_url=url_for("designer.check_new"),
        texts=_editor_texts(),
    )


BLANK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    id="Definitions_new_process" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="new_process" name="{name}" isExecutable="true">
    <bpmn:startEvent id="start" name="{start}"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_new_process">
    <bpmndi:BPMNPlane id="BPMNPlane_new_process" bpmnElement="new_process">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="180" y="160" width="36" height="36"/>
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


@bp.get("/new/diagram.bpmn")
@roles_required("designer")
def blank_xml():
    from markupsafe import escape

    xml = BLANK.replace("{name}", str(escape(_("New process")))).replace("{start}", str(escape(_("Start"))))
    return xml, 200, {"Content-Type": "application/xml; charset=utf-8"}


def _json_error(status: int, kind: str, message: str, **extra: Any):
    return jsonify({"ok": False, "error": kind, "message": message, **extra}), status


def _posted() -> tuple[str, str | None, int | None]:
    """The editor's payload: (xml, note, base_version). Raises _BadRequest with a message to show.

    The optional override reason is read by `_override_reason()`."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise _BadRequest(_("The editor sent no diagram."))
    xml = payload.get("xml")
    if not isinstance(xml, str) or not xml.strip():
        raise _BadRequest(_("The editor sent no diagram."))
    if len(xml.encode("utf-8")) > MAX_BPMN_BYTES:
        raise _BadRequest(_("The file is too large: at most %(limit)s.", limit="2 MB"))
    note = payload.get("note")
    note = (note.strip()[:MAX_NOTE] or None) if isinstance(note, str) else None
    base = payload.get("base_version")
    # a JSON integer within the database's range (not a bool, not a string of digits)
    if base is not None and (not isinstance(base, int) or parse_int(base) is None):
        raise _BadRequest(_no_base_message())
    return xml, note, base


def _override_reason() -> str | None:
    payload = request.get_json(silent=True)
    reason = payload.get("override_reason") if isinstance(payload, dict) else None
    return (reason.strip()[:MAX_NOTE] or None) if isinstance(reason, str) else None


class _BadRequest(Exception):
    pass


def _no_base_message() -> str:
    return _("The editor did not say which version it started from. Download your diagram and reopen the editor.")


def _run(process_id: str | None, *, deploy: bool):
    """Check or deploy the posted diagram: an edit of `process_id` (its stored bundle, guarded by the base
    version) or, with process_id None, a new process (the shared call activities from disk)."""
    try:
        xml, note, base = _posted()
    except _BadRequest as bad:
        return _json_error(400, "invalid", str(bad))
    main_file = f"{process_id}.bpmn" if process_id else "new.bpmn"
    try:
        if process_id is not None:
            if base is None:
                return _json_error(400, "invalid", _no_base_message())
            files, main_file = definitions.edit_bundle(uow().reader(), process_id, base, xml)
            expected = base
        else:
            found = definitions.main_process_id(xml, main_file)
            if not found:
                return _json_error(
                    422,
                    "rejected",
                    _("The diagram must define exactly one executable process."),
                    file=main_file,
                    line=None,
                    element_id=None,
                    code="no_process",
                )
            process_id, main_file, expected = found, f"{found}.bpmn", 0
            files = {**_shared_from_disk(), main_file: xml.encode("utf-8")}
        if not deploy:
            definitions.check_bundle(files, main_file, process_id)
            return jsonify({"ok": True, "message": _("The diagram passed every check. Nothing was deployed.")})
        result = definitions.deploy_bundle(
            uow(), files, main_file, actor(), process_id=process_id, note=note, expected_version=expected,
            override_reason=_override_reason(),
        )
    except DeployRefused as err:
        return _json_error(422, "rejected", **_refusal(err, main_file))
    except BpmnError as err:
        rejection = _rejection(err, main_file)
        # Only the main diagram is in the editor; an error in a shared call activity cannot be marked there.
        return _json_error(422, "rejected", in_editor=rejection["file"] == main_file, **rejection)
    except ServiceError as err:
        if err.http_status != 409:
            return _json_error(err.http_status, "refused", error_text(err))
        # Refused, not merged: the designer's XML goes back with the answer so nothing of the work is lost.
        with reader() as r:
            latest = _latest_version(r.session, process_id) if process_id else None
        return _json_error(
            409,
            "conflict",
            error_text(err),
            xml=xml,
            latest=latest,
            latest_url=url_for("designer.edit", process_id=process_id) if latest else None,
        )
    return jsonify(
        {
            "ok": True,
            "created": result.created,
            "process_id": result.process_id,
            "version": result.version,
            "message": _deployed_message(result),
            "edit_url": url_for("designer.edit", process_id=result.process_id),
            "deploy_url": url_for("designer.deploy_edit", process_id=result.process_id),
            "check_url": url_for("designer.check_edit", process_id=result.process_id),
            "versions_url": url_for("designer.index"),
            "version_url": url_for("designer.version", definition_id=result.definition_id),
        }
    )


@bp.post("/processes/<process_id>/deploy")
@accepts_json
@roles_required("designer")
def deploy_edit(process_id: str):
    return _run(process_id, deploy=True)


@bp.post("/processes/<process_id>/check")
@accepts_json
@roles_required("designer")
def check_edit(process_id: str):
    return _run(process_id, deploy=False)


@bp.post("/new/deploy")
@accepts_json
@roles_required("designer")
def deploy_new():
    return _run(None, deploy=True)


@bp.post("/new/check")
@accepts_json
@roles_required("designer")
def check_new():
    return _run(None, deploy=False)
