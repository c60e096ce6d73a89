"""``/api/v1/uploads/resumable`` (scope ``applications:submit``): a large file in chunks that survive a broken
connection (services.resumable_uploads).

    POST   /uploads/resumable?matter=m01&item=eia_report&name=报告书.pdf&length=209715200   → 201 {upload_id, offset: 0}
    PUT    /uploads/resumable/{id}   Content-Range: bytes 0-8388607/209715200   (raw bytes) → 200 {offset}
    GET    /uploads/resumable/{id}   → 200 {offset}: where to continue after a break
    PUT    … the last chunk          → 201 {file_id, sha256, …}: name it in the application's ``uploads``
    DELETE /uploads/resumable/{id}   → 204

Each answer carries ``Upload-Offset``. A chunk that does not start at the offset is refused with 409 (and the
offset), so a retried chunk can never be written twice.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, json, request, url_for
from flask_babel import gettext as _
from flask_smorest import Blueprint
from werkzeug.http import parse_content_range_header

from services import resumable_uploads
from services.errors import N_, InvalidInput
from services.files import FileRejected
from web.api.auth import authenticate, client, operation_doc, requires
from web.api.cases import owner_token, upload_target
from web.api.problems import ApiProblem
from web.api.schemas import ResumableQuerySchema, ResumableSchema, UploadSchema
from web.common import uow

blp = Blueprint("api_uploads", __name__, description="断点续传 / resumable uploads of large files")
blp.before_request(authenticate)

OFFSET = "Upload-Offset"
OFFSET_HEADER_DOC = {OFFSET: {"description": "bytes received so far", "schema": {"type": "integer"}}}
CHUNK_BODY = {"required": True, "description": "the chunk's bytes",
              "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                  "contentMediaType": "application/octet-stream"}}}}
RANGE_DOC = {"name": "Content-Range", "in": "header", "required": True,
             "schema": {"type": "string", "pattern": r"^bytes \d+-\d+/(\d+|\*)$", "maxLength": 80},
             "description": "`bytes <first>-<last>/<length>` of this chunk (inclusive, RFC 9110)"}


def _body(upload: Any) -> dict[str, Any]:
    return {"upload_id": upload.upload_id, "offset": upload.offset, "length": upload.length,
            "item": upload.meta.get("item"), "name": upload.meta.get("name"),
            "href": url_for("api_uploads.put_chunk", upload_id=upload.upload_id)}


def _refused(err: FileRejected) -> InvalidInput:
    return InvalidInput(N_("Some files were not accepted; see the fields."), {"body": _(err.msgid, **err.params)})


@blp.route("/uploads/resumable", methods=["POST"])
@blp.doc(**operation_doc("applications:submit", "start_resumable_upload"))
@blp.doc(responses={201: {"links": {
    name: {"operationId": name, "parameters": {"upload_id": "$response.body#/upload_id"}}
    for name in ("get_resumable_upload", "put_chunk", "delete_resumable_upload")}}})
@blp.arguments(ResumableQuerySchema, location="query")
@blp.response(201, ResumableSchema, headers=OFFSET_HEADER_DOC, description="the upload, at offset 0")
@requires("applications:submit")
def start_resumable_upload(query: dict[str, Any]):
    """Announce a large file (its matter, item, name and length); then PUT its chunks."""
    matter = upload_target(query)
    try:
        upload = resumable_uploads.start(uow(), owner_token=owner_token(), matter_code=matter.code,
                                         item_code=query["item"], name=query["name"], length=query["length"],
                                         limit=matter.max_upload_bytes)
    except FileRejected as err:
        raise _refused(err) from None
    body = _body(upload)
    return body, 201, {OFFSET: "0", "Location": body["href"]}


@blp.route("/uploads/resumable/<upload_id>")
@blp.doc(**operation_doc("applications:submit", "get_resumable_upload"))
@blp.response(200, ResumableSchema, headers=OFFSET_HEADER_DOC)
@requires("applications:submit")
def get_resumable_upload(upload_id: str):
    """Where the upload stands: send the next chunk from ``offset``."""
    upload = resumable_uploads.find(uow(), upload_id, owner_token())
    return _body(upload), 200, {OFFSET: str(upload.offset)}


@blp.route("/uploads/resumable/<upload_id>", methods=["PUT"])
@blp.doc(**operation_doc("applications:submit", "put_chunk"), parameters=[RANGE_DOC], requestBody=CHUNK_BODY)
@blp.response(200, ResumableSchema, headers=OFFSET_HEADER_DOC, description="the chunk is stored; more to come")
@blp.alt_response(201, schema=UploadSchema, headers=OFFSET_HEADER_DOC,
                  description="the last chunk: the file is stored; name it in the application's `uploads`")
@requires("applications:submit")
def put_chunk(upload_id: str):
    """Append a chunk at the upload's offset (Content-Range); the last one stores the file."""
    if request.mimetype != "application/octet-stream":
        raise ApiProblem(415, N_("Send the file's bytes as application/octet-stream."))
    chunk = parse_content_range_header(request.headers.get("Content-Range"))
    if chunk is None or chunk.units != "bytes" or chunk.start is None or chunk.stop is None:
        raise ApiProblem(400, N_("Send a Content-Range header: bytes <first>-<last>/<length>."))
    if request.content_length is not None and request.content_length != chunk.stop - chunk.start:
        raise ApiProblem(400, N_("The body's length does not match its Content-Range."))
    try:
        done = resumable_uploads.write_chunk(uow(), upload_id, owner_token(), start_at=chunk.start, stop=chunk.stop,
                                             total=chunk.length, stream=request.stream, actor=client().actor_name)
    except resumable_uploads.OffsetMismatch as mismatch:
        raise ApiProblem(409, N_("This upload stands at byte %(offset)s; send the chunk that starts there."),
                         kind="offset-mismatch", headers={OFFSET: str(mismatch.offset)},
                         offset=mismatch.offset) from None
    except FileRejected as err:
        raise _refused(err) from None
    headers = {OFFSET: str(done.upload.offset)}
    if done.stored is None:
        if done.upload.offset < chunk.stop:  # the body ended early: keep what came, say where to go on
            raise ApiProblem(400, N_("The chunk ended early; the upload stands at byte %(offset)s."),
                             headers=headers, offset=done.upload.offset)
        return _body(done.upload), 200, headers
    row = done.stored
    body = UploadSchema().dump({"file_id": row.id, "item": row.item_code, "name": row.original_name,
                                "media_type": row.media_type, "size": row.size, "sha256": row.sha256})
    # a Response of its own: flask-smorest would shape any other return value with the 200 schema
    return current_app.response_class(json.dumps(body, ensure_ascii=False), status=201,
                                      mimetype="application/json", headers=headers)


@blp.route("/uploads/resumable/<upload_id>", methods=["DELETE"])
@blp.doc(**operation_doc("applications:submit", "delete_resumable_upload"))
@blp.response(204)
@requires("applications:submit")
def delete_resumable_upload(upload_id: str):
    """Abandon an upload (its bytes so far are removed)."""
    resumable_uploads.abandon(uow(), upload_id, owner_token())
    return None
