"""The integration API's request and response schemas (marshmallow). The same classes validate what comes in,
shape what goes out and generate the OpenAPI 3.1 document (flask-smorest / apispec); a change that would break
a client goes to /api/v2 with new classes, never into these."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from services.api_clients import SCOPES
from services.cases import DELIVERY_MODES

# Webhook event types (services.webhooks.EVENTS has the same names).
EVENT_TYPES = ("case.accepted", "case.notice_issued", "case.decided", "case.delivered", "case.overdue")


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE  # a misspelt field is refused, not silently dropped


# ---------------------------------------------------------------------------------------------------- problems


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details."""

    type = fields.Str(required=True, metadata={"description": "稳定的问题类型 URI / stable problem type"})
    title = fields.Str(required=True, metadata={"description": "中文标题 / Chinese title"})
    status = fields.Int(required=True)
    detail = fields.Str()
    instance = fields.Str()
    errors = fields.Dict(keys=fields.Str(), metadata={"description": "field → message(s)"})


# ---------------------------------------------------------------------------------------------------- matters


class LimitSchema(ma.Schema):
    value = fields.Int(allow_none=True)
    unit = fields.Str(metadata={"description": "working_days | days | applicant_due"})
    note = fields.Str()
    confirmed = fields.Bool()
    extendable_by = fields.Int(allow_none=True)


class MaterialItemSchema(ma.Schema):
    code = fields.Str(required=True)
    name_zh = fields.Str(required=True)
    name_en = fields.Str()
    requirement = fields.Str(metadata={"description": "required | conditional"})
    condition_zh = fields.Str(allow_none=True)
    form = fields.Str(metadata={"description": "original | copy | electronic (原件/复印件/电子件)"})
    copies = fields.Int()
    note_zh = fields.Str(allow_none=True)
    source = fields.Str(allow_none=True)
    unconfirmed = fields.Bool()


class ServiceModeSchema(ma.Schema):
    channel = fields.Str()
    delivery_mode = fields.Str()


class NationalCodesSchema(ma.Schema):
    item_code = fields.Str(allow_none=True, metadata={"description": "事项编码 (national item code)"})
    implementation_code = fields.Str(allow_none=True, metadata={"description": "实施编码"})
    known = fields.Bool(metadata={"description": "false: the codes are not known yet (left empty on purpose)"})


class MatterSchema(ma.Schema):
    code = fields.Str(required=True)
    number = fields.Int()
    name_zh = fields.Str()
    name_en = fields.Str()
    kind = fields.Str()
    unit = fields.Str(metadata={"description": "responsible unit code"})
    unit_missing_in_plan = fields.Bool()
    run_once_month = fields.Str()
    legal_basis = fields.Str()
    statutory_limit = fields.Nested(LimitSchema, allow_none=True)
    promised_limit = fields.Nested(LimitSchema)
    excluded_time = fields.List(fields.Str())
    service_modes = fields.List(fields.Nested(ServiceModeSchema))
    online_application = fields.Bool()
    report_types = fields.List(fields.Str(), metadata={"description": "values of report_type, if any"})
    materials = fields.List(fields.Nested(MaterialItemSchema))
    max_upload_bytes = fields.Int()
    national_codes = fields.Nested(NationalCodesSchema)


# ---------------------------------------------------------------------------------------------------- applying


class ApplicantSchema(Strict):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    credit_code = fields.Str(required=True, validate=validate.Length(equal=18),
                             metadata={"description": "统一社会信用代码 (18 characters, check character last)"})
    contact = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    phone = fields.Str(required=True, validate=validate.Length(min=5, max=30))
    email = fields.Email(load_default=None, validate=validate.Length(max=200))
    address = fields.Str(load_default=None, validate=validate.Length(max=300))
    email_consent = fields.Bool(load_default=False)


class UploadedSchema(Strict):
    item = fields.Str(required=True, validate=validate.Length(min=1, max=60))
    file_id = fields.Str(required=True, validate=validate.Regexp(r"^[0-9a-f]{32}$"))


class ApplicationSchema(Strict):
    """The ``application`` part of a submission (JSON)."""

    matter_code = fields.Str(required=True, validate=validate.Length(min=1, max=10))
    applicant = fields.Nested(ApplicantSchema, required=True)
    channel = fields.Str(load_default="online", validate=validate.OneOf(["online"]),
                         metadata={"description": "online (a window registration is /window/registrations)"})
    delivery_mode = fields.Str(required=True, validate=validate.OneOf(DELIVERY_MODES))
    report_type = fields.Str(load_default=None, validate=validate.OneOf(["report", "table"]))
    uploads = fields.List(fields.Nested(UploadedSchema), load_default=list, validate=validate.Length(max=100),
                          metadata={"description": "files sent before through POST /api/v1/uploads (large files)"})


class UploadQuerySchema(Strict):
    matter = fields.Str(required=True, validate=validate.Length(min=1, max=10))
    item = fields.Str(required=True, validate=validate.Length(min=1, max=60))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=255),
                      metadata={"description": "the file's name (its suffix must match its content)"})


class ResumableQuerySchema(UploadQuerySchema):
    length = fields.Int(required=True, validate=validate.Range(min=1, max=2**40),
                        metadata={"description": "the whole file's length in bytes"})


class ResumableSchema(ma.Schema):
    upload_id = fields.Str()
    offset = fields.Int(metadata={"description": "bytes received so far: the next chunk starts here"})
    length = fields.Int()
    item = fields.Str()
    name = fields.Str()
    href = fields.Str(metadata={"description": "where to PUT the chunks"})


class UploadSchema(ma.Schema):
    file_id = fields.Str()
    item = fields.Str()
    name = fields.Str()
    media_type = fields.Str()
    size = fields.Int()
    sha256 = fields.Str()


class PaperMaterialSchema(Strict):
    item = fields.Str(required=True, validate=validate.Length(min=1, max=60))
    paper_form = fields.Str(required=True, validate=validate.OneOf(["original", "copy"]))
    copies = fields.Int(load_default=None, validate=validate.Range(min=1, max=100))


class WindowRegistrationSchema(Strict):
    """An application handed in at the platform's window: the clerk ticks the materials received on paper."""

    matter_code = fields.Str(required=True, validate=validate.Length(min=1, max=10))
    applicant = fields.Nested(ApplicantSchema, required=True)
    channel = fields.Str(load_default="window", validate=validate.OneOf(["window", "post"]))
    delivery_mode = fields.Str(required=True, validate=validate.OneOf(DELIVERY_MODES))
    report_type = fields.Str(load_default=None, validate=validate.OneOf(["report", "table"]))
    materials = fields.List(fields.Nested(PaperMaterialSchema), load_default=list,
                            validate=validate.Length(max=100))


# ---------------------------------------------------------------------------------------------------- cases


class FileSchema(ma.Schema):
    file_id = fields.Str()
    item_code = fields.Str(allow_none=True)
    name = fields.Str()
    media_type = fields.Str()
    size = fields.Int()
    sha256 = fields.Str()
    stage = fields.Str()


class NoticeItemSchema(ma.Schema):
    code = fields.Str()
    name = fields.Str()


class NoticeSchema(ma.Schema):
    items = fields.List(fields.Nested(NoticeItemSchema))
    detail = fields.Str()
    notice_date = fields.Str(allow_none=True)
    due_date = fields.Str(allow_none=True)


class WaitingSchema(ma.Schema):
    kind = fields.Str(metadata={"description": "applicant | office | timer | done | withdrawn"})
    text = fields.Str(metadata={"description": "in words (Chinese)"})
    unit = fields.Str(allow_none=True)
    step = fields.Str(allow_none=True)
    until = fields.Date(allow_none=True)
    working_days_left = fields.Int(allow_none=True)


class HistorySchema(ma.Schema):
    at = fields.DateTime(allow_none=True)
    kind = fields.Str()
    text = fields.Str()
    detail = fields.Str(allow_none=True)


class CaseSchema(ma.Schema):
    reference = fields.Str(required=True)
    lookup_code = fields.Str(metadata={"description": "only in the answer to the submission"})
    matter_code = fields.Str()
    applicant_name = fields.Str()
    channel = fields.Str()
    delivery_mode = fields.Str()
    status = fields.Str(metadata={"description": "active | completed | withdrawn"})
    status_text = fields.Str()
    outcome = fields.Str(allow_none=True)
    outcome_text = fields.Str(allow_none=True)
    submitted_at = fields.DateTime()
    accepted_on = fields.Date(allow_none=True)
    due_on = fields.Date(allow_none=True)
    promised_due_on = fields.Date(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    trips = fields.Int(allow_none=True)
    trip_flag = fields.Str(allow_none=True)
    waiting = fields.Nested(WaitingSchema)
    notice = fields.Nested(NoticeSchema, allow_none=True)
    history = fields.List(fields.Nested(HistorySchema))
    materials = fields.List(fields.Nested(FileSchema))


class CaseListSchema(ma.Schema):
    items = fields.List(fields.Nested(CaseSchema))


class CaseQuerySchema(ma.Schema):
    limit = fields.Int(load_default=50, validate=validate.Range(min=1, max=200))


class DocumentSchema(ma.Schema):
    id = fields.Int()
    kind = fields.Str()
    title = fields.Str()
    number = fields.Str()
    issued_at = fields.DateTime()
    served_on = fields.Date(allow_none=True)
    media_type = fields.Str()
    size = fields.Int()
    sha256 = fields.Str()
    href = fields.Str(metadata={"description": "download path"})


class DocumentListSchema(ma.Schema):
    items = fields.List(fields.Nested(DocumentSchema))


# ---------------------------------------------------------------------------------------------------- window


class TaskSchema(ma.Schema):
    id = fields.Str()
    name = fields.Str(metadata={"description": "element id in the diagram, e.g. check_materials"})
    title = fields.Str()
    lane = fields.Str()
    form = fields.Str(allow_none=True, metadata={"description": "the form's JSON Schema: components/schemas/form."
                                                                "<name> and /api/v1/forms/<name>"})
    case_version = fields.Int()


class TaskListSchema(ma.Schema):
    items = fields.List(fields.Nested(TaskSchema))


class TaskCompletionSchema(Strict):
    data = fields.Dict(keys=fields.Str(), required=True,
                       metadata={"description": "the task's form data, valid against its form's JSON Schema"})
    expected_case_version = fields.Int(load_default=None, validate=validate.Range(min=0, max=2**31 - 1))


class CommandResultSchema(ma.Schema):
    reference = fields.Str()
    status = fields.Str()
    case_version = fields.Int()
    open_tasks = fields.List(fields.Nested(TaskSchema))
    documents = fields.List(fields.Str(), metadata={"description": "numbers of the documents issued"})


# ---------------------------------------------------------------------------------------------------- webhooks


class WebhookInSchema(Strict):
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                     validate=validate.Length(max=500))
    events = fields.List(fields.Str(validate=validate.OneOf(EVENT_TYPES)), required=True,
                         validate=validate.Length(min=1, max=len(EVENT_TYPES)))


class WebhookSchema(ma.Schema):
    id = fields.Int()
    url = fields.Str()
    events = fields.List(fields.Str())
    active = fields.Bool()
    created_at = fields.DateTime()
    secret = fields.Str(metadata={"description": "HMAC-SHA256 key; only in the answer to the creation"})


class WebhookListSchema(ma.Schema):
    items = fields.List(fields.Nested(WebhookSchema))


class DeliverySchema(ma.Schema):
    id = fields.Int()
    event_id = fields.Str()
    event_type = fields.Str()
    reference = fields.Str(allow_none=True)
    status = fields.Str(metadata={"description": "pending | sending | delivered | failed | dead"})
    attempts = fields.Int()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_status_code = fields.Int(allow_none=True)
    last_error = fields.Str(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)


class DeliveryListSchema(ma.Schema):
    items = fields.List(fields.Nested(DeliverySchema))


class ScopesSchema(ma.Schema):
    client = fields.Str()
    scopes = fields.List(fields.Str(validate=validate.OneOf(SCOPES)))
