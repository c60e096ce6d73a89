"""``/api/v1/applications`` and ``/api/v1/cases``: submit an application with its materials (multipart,
streamed into the file store, ``Idempotency-Key``), read a case (status in words and codes, due dates, trips,
the history the applicant may see, the one-time notice), answer the notice with supplements, list and
download the documents addressed to the applicant.

A client sees the cases it registered itself (the platform's own applications and window registrations).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_smorest import Blueprint
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from services import applicant as applicant_service
from services import cases as case_service
from services import document_rendering, documents, files, idempotency, materials
from services.errors import N_, Conflict, InvalidInput, NotFound
from services.files import FileRejected, Upload
from storage.models import Case, StoredFile
from web import labels
from web.api.auth import authenticate, case_links, client, client_actor, operation_doc, requires
from web.api.problems import ApiProblem
from web.api.schemas import (
    ApplicationSchema,
    CaseListSchema,
    CaseQuerySchema,
    CaseSchema,
    DocumentListSchema,
    UploadQuerySchema,
    UploadSchema,
)
from web.common import reader, uow
from web.inputs import InputProblem, parse_json

blp = Blueprint("api_cases", __name__, description="网上申请、办件与文书 / applications, cases, documents")
blp.before_request(authenticate)

MATERIAL_PART = "material:"
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_DOC = {
    "name": IDEMPOTENCY_HEADER, "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": "The same key and body return the same case (200); a different body with the same key is 409.",
}
FILE_PART = {"type": "string", "contentMediaType": "application/octet-stream"}


def _multipart(json_part: str | None, json_schema: str | None, description: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    encoding: dict[str, Any] = {}
    if json_part:
        properties[json_part] = {"type": "string", "contentMediaType": "application/json",
                                 "contentSchema": {"$ref": f"#/components/schemas/{json_schema}"}}
        encoding[json_part] = {"contentType": "application/json"}
    properties["note"] = {"type": "string", "maxLength": 2000}
    return {"required": True, "description": description, "content": {"multipart/form-data": {
        "schema": {"type": "object", "properties": properties,
                   "patternProperties": {"^material:[A-Za-z0-9_]+$": {
                       "oneOf": [FILE_PART, {"type": "array", "items": FILE_PART}]}},
                   **({"required": [json_part]} if json_part else {})},
        "encoding": encoding,
    }}}


# ------------------------------------------------------------------------------------------------ case bodies


def _zh(text: Any) -> str:
    with force_locale("zh_CN"):
        return str(text)


def _waiting_text(w: applicant_service.Waiting) -> str:
    with force_locale("zh_CN"):
        if w.kind == "applicant":
            return (_("Waiting for you: send the missing materials listed below by %(date)s.", date=w.until)
                    if w.until else _("Waiting for you: send the missing materials listed below."))
        if w.kind == "office" and w.unit:
            return _("Being handled by %(unit)s (%(step)s).", unit=w.unit, step=w.step or "")
        if w.kind == "timer" and w.until:
            return _("A waiting period is running (for example a public notice) until %(date)s.", date=w.until)
        if w.kind == "done":
            return _("This case is completed.")
        if w.kind == "withdrawn":
            return _("This case was withdrawn.")
        return _("The department is handling your case.")


def _status(case: Case) -> str:
    return "active" if case.status == "incident" else case.status  # a stopped case is still being handled


def summary_body(case: Case) -> dict[str, Any]:
    status = _status(case)
    return {
        "reference": case.reference, "matter_code": case.matter_code, "applicant_name": case.applicant_name,
        "channel": case.channel, "delivery_mode": case.delivery_mode, "status": status,
        "status_text": _zh(labels.CASE_STATUS.get(status, status)), "outcome": case.outcome,
        "outcome_text": _zh(labels.OUTCOME[case.outcome]) if case.outcome in labels.OUTCOME else case.outcome,
        "submitted_at": case.created_at, "accepted_on": case.accepted_on, "due_on": case.due_on,
        "promised_due_on": case.promised_due_on, "completed_at": case.completed_at, "trips": case.trips,
        "trip_flag": case.trip_flag,
    }


def case_body(session: Session, case: Case) -> dict[str, Any]:
    view = applicant_service.view(session, case)
    w = view.waiting
    stored = files.names_for(session, [{"file_id": m.file_id, "sha256": ""} for m in view.own_files])
    body = summary_body(case)
    body.update(
        waiting={"kind": w.kind, "text": _waiting_text(w), "unit": w.unit, "step": w.step, "until": w.until,
                 "working_days_left": w.working_days_left},
        notice=None if view.notice is None else {
            "items": [{"code": i.code, "name": i.name} for i in view.notice.items], "detail": view.notice.detail,
            "notice_date": view.notice.notice_date, "due_date": view.notice.due_date},
        history=[{"at": h.at, "kind": h.kind, "text": h.text, "detail": h.detail} for h in view.history],
        materials=[_file_body(stored[m.file_id], m.item_code, m.stage) for m in view.own_files
                   if m.file_id in stored],
    )
    return body


def _file_body(row: StoredFile, item_code: str | None, stage: str | None) -> dict[str, Any]:
    return {"file_id": row.id, "item_code": item_code, "name": row.original_name, "media_type": row.media_type,
            "size": row.size, "sha256": row.sha256, "stage": stage}


@contextmanager
def own_case(reference: str) -> Iterator[tuple[Case, Session]]:
    """The client's own case by reference (another client's case answers exactly like a missing one)."""
    with reader() as r:
        case = r.session.execute(select(Case).where(Case.reference == reference.strip().upper()[:40])
                                 ).scalar_one_or_none()
        if case is None or case.created_by != client().actor_name:
            raise NotFound(N_("Case %(id)s does not exist."), id=reference[:40])
        yield case, r.session


def _settle_documents(reference: str) -> None:
    """The case's documents with their PDFs: a render still under way is waited for, a pending one made
    (services.document_rendering), so a listing never names a document that cannot be downloaded."""
    with own_case(reference) as (case, _session):
        case_id = case.id
    document_rendering.settle(uow(), case_id)


# ------------------------------------------------------------------------------------------------ uploads


def _material_parts(matter_code: str) -> list[tuple[str, Any]]:
    """(item code, upload) for every ``material:<code>`` part; other file parts are refused."""
    items = materials.matter_items(matter_code)
    parts = []
    for name, upload in request.files.items(multi=True):
        code = name[len(MATERIAL_PART):] if name.startswith(MATERIAL_PART) else None
        if code is None or (code not in items and code != materials.OTHER):
            raise InvalidInput(N_("%(code)s is not a material of this matter."), {name: N_("Unknown item.")},
                               code=name)
        if not upload.filename:
            continue
        parts.append((code, upload))
    return parts


def owner_token() -> str:
    """Files a client sent before its case exists belong to that client only (services.files.kept)."""
    return f"api:{client().id}"


def _uploaded(uploads: list[dict[str, str]], matter_code: str, token: str, key: str | None
              ) -> list[tuple[str, StoredFile]]:
    """The files of ``uploads`` (sent before by POST /uploads): only this client's, not yet in a case, or in
    the case an earlier request with the same Idempotency-Key made (a retry after a lost answer names files
    that case took; the key then answers with that case or 409, never a second case)."""
    if not uploads:
        return []
    items = materials.matter_items(matter_code)
    with reader() as r:
        earlier = idempotency.existing_case(r.session, client().id, key) if key else None
        rows = {row.id: row for row in files.kept(r.session, [u["file_id"] for u in uploads], case_id=earlier,
                                                  owner_token=token)}
    problems = {f"application.uploads.{n}": N_("This file does not belong to this case; send it again.")
                for n, u in enumerate(uploads) if u["file_id"] not in rows}
    problems.update({f"application.uploads.{n}": N_("Unknown item.") for n, u in enumerate(uploads)
                     if u["item"] not in items and u["item"] != materials.OTHER})
    if problems:
        raise InvalidInput(N_("The request has errors; see the fields."), problems)
    return [(u["item"], rows[u["file_id"]]) for u in uploads]


def _unknown_fields(allowed: set[str]) -> None:
    extra = [k for k in request.form if k not in allowed]
    if extra:
        raise InvalidInput(N_("The request has errors; see the fields."), {k: N_("Unknown field.") for k in extra})


def _stage_files(parts: list[tuple[str, Any]], *, limit: int, owner_token: str | None, case_id: int | None
                 ) -> list[tuple[str, StoredFile]]:
    """Stream every part into the file store (hashed on the way); refused files are named in the 422."""
    stored: list[tuple[str, StoredFile]] = []
    problems: dict[str, str] = {}
    with uow() as unit:
        for code, upload in parts:
            try:
                row = files.receive(unit, Upload(upload.stream, upload.filename or "", code),
                                    actor=client().actor_name, purpose="material", case_id=case_id,
                                    item_code=code, owner_token=owner_token, limit=limit)
            except FileRejected as err:
                problems[MATERIAL_PART + code] = _(err.msgid, **err.params)
                continue
            stored.append((code, row))
        if problems:
            raise InvalidInput(N_("Some files were not accepted; see the fields."), problems)
        unit.session.flush()
        unit.commit()
        for _code, row in stored:
            unit.session.expunge(row)
    return stored


def _application_part() -> dict[str, Any]:
    raw = request.form.get("application")
    if raw is None:
        raise InvalidInput(N_("The request has errors; see the fields."),
                           {"application": N_("This field is required.")})
    try:
        value = parse_json(raw, max_bytes=64 * 1024)
    except InputProblem as problem:
        raise InvalidInput(N_("The request has errors; see the fields."), {"application": problem.msgid}) from None
    except ValueError:
        raise InvalidInput(N_("The request has errors; see the fields."),
                           {"application": N_("This is not valid JSON.")}) from None
    try:
        return ApplicationSchema().load(value if isinstance(value, dict) else {"": value})
    except ValidationError as err:
        raise InvalidInput(N_("The request has errors; see the fields."),
                           {f"application.{k}": str(v) for k, v in _flat(err.messages).items()}) from None


def _flat(messages: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(messages, dict):
        return {prefix or "__all__": messages}
    out: dict[str, Any] = {}
    for key, value in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(_flat(value, name))
        else:
            out[name] = "; ".join(map(str, value)) if isinstance(value, list) else value
    return out


def _matter(code: str) -> Any:
    from workflows.catalog import shipped_catalog

    try:
        return shipped_catalog().matter(code)
    except KeyError:
        raise InvalidInput(N_("Unknown matter %(code)s."), {"application.matter_code": N_("Unknown matter.")},
                           code=code) from None


def check_offered(matter: Any, channel: str, delivery_mode: str, report_type: str | None, prefix: str) -> None:
    errors: dict[str, str] = {}
    if not matter.offers(channel, delivery_mode):
        errors[f"{prefix}delivery_mode"] = N_(
            "This matter is not offered with this combination of application channel and delivery; choose another.")
    if matter.statutory_limit_by_report_type and report_type not in ("report", "table"):
        errors[f"{prefix}report_type"] = N_("Choose whether an EIA report or an EIA form is submitted.")
    if errors:
        raise InvalidInput(N_("The request has errors; see the fields."), errors)


def applicant_of(data: dict[str, Any]) -> case_service.Applicant:
    a = data["applicant"]
    return case_service.Applicant(
        name=a["name"].strip(), credit_code=a["credit_code"].strip().upper(), contact=a["contact"].strip(),
        phone=a["phone"].strip(), email=a.get("email"), address=(a.get("address") or "").strip() or None,
        email_consent=bool(a.get("email_consent")),
    )


def idempotency_key() -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200 or not key.isprintable():
        raise ApiProblem(400, N_("The Idempotency-Key header must be 1 to 200 printable characters."))
    return key


def created(case_id: int, *, replayed: bool, lookup: bool = True) -> tuple[dict[str, Any], int, dict[str, str]]:
    with reader() as r:
        case = r.session.get(Case, case_id)
        body = case_body(r.session, case)
        if lookup:
            body["lookup_code"] = case.lookup_code
        location = url_for("api_cases.get_case", reference=case.reference)
    return body, 200 if replayed else 201, {"Location": location,
                                            "Idempotent-Replayed": "true" if replayed else "false"}


def register_idempotently(key: str | None, digest: str, register, staged: list[str] | None = None
                          ) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Run ``register(also)`` once per key and body (see services.idempotency). ``staged``: the files this
    request streamed in; when it makes no case (an earlier identical request did, or it failed) they are
    forgotten at once instead of waiting for the scheduler's sweep."""
    try:
        if key is None:
            return created(register(None).case_id, replayed=False)
        found = idempotency.claim(uow(), client().id, key, digest)
        if found.case_id is not None:
            files.forget_unattached(uow(), staged or [], owner_token())  # the losing twin's copies
            return created(found.case_id, replayed=True)
        claim_id = found.claim_id
        try:
            registration = register(lambda session, case: idempotency.link(session, claim_id, case))
        except BaseException:
            idempotency.release(uow(), claim_id)
            raise
        return created(registration.case_id, replayed=False)
    except BaseException:
        files.forget_unattached(uow(), staged or [], owner_token())
        raise


# ------------------------------------------------------------------------------------------------ routes


@blp.route("/applications", methods=["POST"])
@blp.doc(**operation_doc("applications:submit", "submit_application"), parameters=[IDEMPOTENCY_DOC],
         requestBody=_multipart("application", "Application",
                                "`application`: JSON (schema Application); one part `material:<item code>` per "
                                "file, the item codes of the matter's materials list (GET /api/v1/matters/{code})."))
@blp.doc(**case_links(201))
@blp.response(201, CaseSchema, description="the case made (with its look-up code)")
@blp.alt_response(200, schema=CaseSchema, description="the case an identical earlier request made")
@requires("applications:submit")
def submit_application():
    """网上申请: submit an application with its materials (channel online)."""
    _unknown_fields({"application"})
    data = _application_part()
    matter = _matter(data["matter_code"])
    check_offered(matter, data["channel"], data["delivery_mode"], data.get("report_type"), "application.")
    parts = _material_parts(matter.code)
    sent = [code for code, _u in parts] + [u["item"] for u in data["uploads"]]
    missing = materials.missing_required(matter.code, [materials.Received(code) for code in sent])
    if missing:
        raise InvalidInput(N_("Attach the missing materials."),
                           {MATERIAL_PART + code: N_("This field is required.") for code in missing})
    key = idempotency_key()
    token = owner_token()
    stored = _uploaded(data["uploads"], matter.code, token, key)
    staged = _stage_files(parts, limit=matter.max_upload_bytes, owner_token=token, case_id=None)
    stored += staged
    digest = idempotency.request_hash(
        {**data, "applicant": dict(data["applicant"]), "uploads": []},
        [(code, row.original_name, row.sha256) for code, row in stored])
    start = {"report_type": data["report_type"]} if matter.statutory_limit_by_report_type else {}

    def register(also):
        return case_service.register_case(
            uow(), matter_code=matter.code, applicant=applicant_of(data), channel="online",
            delivery_mode=data["delivery_mode"], actor=client_actor(), data=start,
            received=[materials.Received(code, file_id=row.id) for code, row in stored], owner_token=token,
            also=also)

    return register_idempotently(key, digest, register, [row.id for _code, row in staged])


def upload_target(query: dict[str, Any]) -> Any:
    """The matter of an upload's ``matter`` and ``item`` query values (422 when either is unknown)."""
    from workflows.catalog import shipped_catalog

    try:
        matter = shipped_catalog().matter(query["matter"])
    except KeyError:
        raise InvalidInput(N_("Unknown matter %(code)s."), {"query.matter": N_("Unknown matter.")},
                           code=query["matter"]) from None
    if query["item"] not in materials.matter_items(matter.code) and query["item"] != materials.OTHER:
        raise InvalidInput(N_("%(code)s is not a material of this matter."), {"query.item": N_("Unknown item.")},
                           code=query["item"])
    return matter


@blp.route("/uploads", methods=["POST"])
@blp.doc(**operation_doc("applications:submit", "upload"), requestBody={
    "required": True, "description": "the file's bytes (streamed into the file store; up to the matter's limit, "
                                     "e.g. 200 MB for m01)",
    "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType":
                                                          "application/octet-stream"}}}})
@blp.arguments(UploadQuerySchema, location="query")
@blp.response(201, UploadSchema, description="the stored file; name it in the application's `uploads`")
@requires("applications:submit")
def upload(query: dict[str, Any]):
    """A pre-created upload of one large file, before the application that names it (one request per file:
    a failed upload is sent again alone)."""
    matter = upload_target(query)
    if request.mimetype != "application/octet-stream":
        raise ApiProblem(415, N_("Send the file's bytes as application/octet-stream."))
    with uow() as unit:
        try:
            row = files.receive(unit, Upload(request.stream, query["name"], query["item"]),
                                actor=client().actor_name, purpose="material", item_code=query["item"],
                                owner_token=owner_token(), limit=matter.max_upload_bytes)
        except FileRejected as err:
            raise InvalidInput(N_("Some files were not accepted; see the fields."),
                               {"body": _(err.msgid, **err.params)}) from None
        unit.session.flush()
        body = {"file_id": row.id, "item": query["item"], "name": row.original_name, "media_type": row.media_type,
                "size": row.size, "sha256": row.sha256}
        unit.commit()
    return body, 201


@blp.route("/cases")
@blp.doc(**operation_doc("cases:read", "list_cases"))
@blp.arguments(CaseQuerySchema, location="query")
@blp.response(200, CaseListSchema)
@requires("cases:read")
def list_cases(query: dict[str, Any]):
    """The client's cases, newest first (summaries; GET a case for its history and notice)."""
    with reader() as r:
        rows = r.session.execute(
            select(Case).where(Case.created_by == client().actor_name).order_by(Case.id.desc())
            .limit(query["limit"])
        ).scalars()
        return {"items": [summary_body(case) for case in rows]}


@blp.route("/cases/<reference>")
@blp.doc(**operation_doc("cases:read", "get_case"))
@blp.response(200, CaseSchema)
@requires("cases:read")
def get_case(reference: str):
    """A case: status in words and codes, due dates, trips, the history the applicant may see, the open
    one-time notice (一次性告知) with its items, the applicant's materials with sha256."""
    with own_case(reference) as (case, session):
        return case_body(session, case)


@blp.route("/cases/<reference>/supplements", methods=["POST"])
@blp.doc(**operation_doc("applications:submit", "submit_supplements"),
         requestBody=_multipart(None, None, "one part `material:<item code>` per file answering the notice's "
                                            "items; `note` optional."))
@blp.response(200, CaseSchema)
@requires("applications:submit")
def submit_supplements(reference: str):
    """Answer the one-time notice online (补正): completes 接收补正材料 with channel online (no trip)."""
    _unknown_fields({"note"})
    note = request.form.get("note", "")
    if len(note) > 2000:
        raise InvalidInput(N_("The request has errors; see the fields."), {"note": N_("Too long.")})
    with own_case(reference) as (case, session):
        case_id, matter_code = case.id, case.matter_code
        if applicant_service.view(session, case).notice is None:  # before any file is stored for the case
            raise Conflict(N_("No notice of missing materials is waiting for an answer on this case."))
    parts = _material_parts(matter_code)
    stored = _stage_files(parts, limit=files.upload_limit(matter_code), owner_token=None, case_id=case_id)
    received = [materials.Received(code, file_id=row.id) for code, row in stored]
    applicant_service.submit_supplements(uow(), case_id, received, note)
    with reader() as r:
        return case_body(r.session, r.session.get(Case, case_id))


@blp.route("/cases/<reference>/documents")
@blp.doc(**operation_doc("documents:read", "list_documents"))
@blp.response(200, DocumentListSchema)
@requires("documents:read")
def list_documents(reference: str):
    """The documents addressed to the applicant (受理通知书, 一次性告知书, the decision …) with sha256."""
    _settle_documents(reference)
    with own_case(reference) as (case, session):
        rows = documents.applicant_documents(session, case.id)
        stored = files.names_for(session, [{"file_id": d.file_id, "sha256": d.sha256} for d in rows])
        return {"items": [
            {"id": d.id, "kind": d.kind, "title": d.title, "number": d.number, "issued_at": d.issued_at,
             "served_on": d.served_on, "media_type": stored[d.file_id].media_type if d.file_id in stored else None,
             "size": stored[d.file_id].size if d.file_id in stored else None, "sha256": d.sha256,
             "href": url_for("api_cases.download_document", reference=case.reference, document_id=d.id)}
            for d in rows]}


@blp.route("/cases/<reference>/documents/<int:document_id>/content")
@blp.doc(**operation_doc("documents:read", "download_document"))
@blp.response(200, {"type": "string", "contentMediaType": "application/pdf"}, content_type="application/pdf",
              description="the stored PDF (ETag: its sha256)")
@requires("documents:read")
def download_document(reference: str, document_id: int):
    """Download a document (the stored bytes, as issued)."""
    from web.files import stored_file_response

    _settle_documents(reference)
    with own_case(reference) as (case, session):
        document = next((d for d in documents.applicant_documents(session, case.id) if d.id == document_id), None)
        if document is None:
            raise NotFound(N_("Document %(id)s does not exist."), id=document_id)
        row = files.get(session, document.file_id)
        if row is None:
            raise NotFound(N_("Document %(id)s does not exist."), id=document_id)
        path = current_app.extensions["runonce.files"].path(row.sha256)
        session.expunge(row)
    return stored_file_response(row, path)
