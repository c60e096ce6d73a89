"""Process designers: the deployed versions, and uploading a new one (validated before anything is stored)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import Length, ValidationError

from services import definitions
from services.errors import ServiceError
from storage.models import ProcessDefinition
from web.common import actor, flash_service_error, reader, roles_required, uow
from web.i18n import current_language

bp = Blueprint("designer", __name__, url_prefix="/designer")

MAX_BPMN_BYTES = 2 * 1024 * 1024


class UploadForm(FlaskForm):
    diagram = FileField(lazy_gettext("BPMN file (.bpmn)"))
    note = StringField(lazy_gettext("Note for this version"), validators=[Length(max=500)])

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
            files: dict[str, bytes | str] = {name: blob}
            shared = Path(current_app.config["WORKFLOWS_DIR"]) / definitions.SHARED_DIR_NAME
            for path in sorted(shared.glob("*.bpmn")) if shared.is_dir() else []:
                files[f"{definitions.SHARED_DIR_NAME}/{path.name}"] = path.read_bytes()
            from engine.errors import BpmnError

            try:
                result = definitions.deploy_bundle(uow(), files, name, actor(), note=form.note.data or None)
            except BpmnError as err:
                status = 422
                zh = current_language() == "zh_CN"
                localized = getattr(err, "message_zh" if zh else "message_en", None)
                rejected = {
                    "message": localized or getattr(err, "message", None) or str(err),
                    "file": getattr(err, "file", None) or getattr(err, "filename", None) or name,
                    "line": getattr(err, "line", None),
                    "element_id": getattr(err, "element_id", None),
                }
            except ServiceError as err:
                status = err.http_status
                flash_service_error(err)
            else:
                if result.created:
                    flash(
                        _(
                            "Deployed %(process)s version %(version)s. New cases use it; running cases stay "
                            "on their version.",
                            process=result.process_id,
                            version=result.version,
                        ),
                        "success",
                    )
                else:
                    flash(
                        _(
                            "This content is already deployed as %(process)s version %(version)s; nothing "
                            "changed.",
                            process=result.process_id,
                            version=result.version,
                        ),
                        "info",
                    )
                return redirect(url_for("designer.index"))
    elif form.is_submitted():
        status = 422
    return render_template("designer/index.html", form=form, versions=_versions(), rejected=rejected), status


@bp.get("/versions/<int:definition_id>")
@roles_required("designer")
def version(definition_id: int):
    with reader() as r:
        definition = r.session.get(ProcessDefinition, definition_id)
        if definition is None:
            from flask import abort

            abort(404)
        files = sorted(definition.files)  # deferred column: read it while the session is open
    return render_template("designer/version.html", definition=definition, files=files)


@bp.get("/versions/<int:definition_id>/diagram.bpmn")
@roles_required("designer")
def version_xml(definition_id: int):
    with reader() as r:
        definition = r.session.get(ProcessDefinition, definition_id)
        if definition is None:
            from flask import abort

            abort(404)
        xml = definition.files[definition.main_file]
    return xml, 200, {"Content-Type": "application/xml; charset=utf-8"}
