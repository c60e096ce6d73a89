"""forms.builder: JSON Schema (+ uiSchema) → WTForms, and the answers back to JSON values."""

from __future__ import annotations

import io

import pytest
from werkzeug.datastructures import FileStorage, MultiDict

from forms.builder import UnsupportedSchema, build_form_class, data_for_form, describe, form_to_data

REF = {"file_id": "a" * 32, "sha256": "b" * 64}

SCHEMA = {
    "type": "object",
    "required": ["title", "count", "kind", "items", "scan"],
    "properties": {
        "title": {"type": "string", "title": "标题", "maxLength": 5},
        "notes": {"type": "string", "title": "备注"},
        "count": {"type": "integer", "title": "数量", "minimum": 1, "maximum": 3},
        "ratio": {"type": "number", "title": "比例", "exclusiveMaximum": 1},
        "day": {"type": "string", "format": "date", "title": "日期"},
        "kind": {
            "type": "string",
            "title": "类别",
            "oneOf": [{"const": "a", "title": "甲"}, {"const": "b", "title": "乙"}],
        },
        "flag": {
            "type": "boolean",
            "title": "确认",
            "oneOf": [{"const": True, "title": "是"}, {"const": False, "title": "否"}],
        },
        "items": {
            "type": "array",
            "title": "清单",
            "minItems": 2,
            "items": {
                "oneOf": [
                    {"const": "x", "title": "X"},
                    {"const": "y", "title": "Y"},
                    {"const": "z", "title": "Z"},
                ]
            },
        },
        "scan": {"type": "object", "format": "file", "title": "扫描件", "x-accept": ".pdf"},
        "computed": {"type": "string", "readOnly": True, "title": "系统生成"},
    },
}
UI = {"ui:order": ["kind", "*"], "notes": {"ui:widget": "textarea"}, "kind": {"ui:widget": "radio"}}


def _form(data: MultiDict):
    return build_form_class(SCHEMA, UI, version_field=None)(formdata=data)


def test_describe_orders_and_kinds():
    spec = describe(SCHEMA, UI)
    assert [f.name for f in spec.fields][:2] == ["kind", "title"]
    kinds = {f.name: f.kind for f in spec.fields}
    assert kinds == {
        "kind": "choice",
        "title": "text",
        "notes": "textarea",
        "count": "integer",
        "ratio": "number",
        "day": "date",
        "flag": "choice",
        "items": "checklist",
        "scan": "file",
    }
    assert [f.name for f in spec.read_only] == ["computed"]


def test_valid_answers_become_json_values():
    pdf = FileStorage(io.BytesIO(b"%PDF-1.4"), filename="扫描件.pdf", content_type="application/pdf")
    form = _form(
        MultiDict(
            [
                ("title", "标题"),
                ("count", "2"),
                ("ratio", "0.5"),
                ("day", "2018-03-14"),
                ("kind", "b"),
                ("flag", "false"),
                ("items", "x"),
                ("items", "z"),
                ("scan", pdf),
            ]
        )
    )
    # The upload waits for the web layer, which stores it and hands the field its reference.
    assert [u.filename for u in form.scan.pending] == ["扫描件.pdf"] and form.scan.data is None
    form.scan.accept_stored([REF], {REF["file_id"]: "扫描件.pdf"})
    assert form.validate(), form.errors
    data = form_to_data(form)
    assert data.pop("scan") == REF
    assert data == {
        "title": "标题",
        "count": 2,
        "ratio": 0.5,
        "day": "2018-03-14",
        "kind": "b",
        "flag": False,
        "items": ["x", "z"],
    }


def test_every_problem_is_reported_and_the_typed_text_kept():
    form = _form(
        MultiDict(
            [
                ("title", "太长的标题文字"),
                ("count", "九"),
                ("ratio", "1"),
                ("day", "2018-02-30"),
                ("kind", "c"),
                ("items", "x"),
            ]
        )
    )
    assert not form.validate()
    assert set(form.errors) == {"title", "count", "ratio", "day", "kind", "items", "scan"}
    assert form.count._value() == "九" and form.day._value() == "2018-02-30"
    assert form.errors["scan"] == ["This field is required."]


def test_a_refused_upload_is_reported_on_its_field():
    bad = FileStorage(io.BytesIO(b"x"), filename="a.exe", content_type="application/octet-stream")
    form = _form(MultiDict([("scan", bad)]))
    form.scan.upload_errors.append("扫描件：不接受该类型")
    form.validate()
    assert form.errors["scan"] == ["扫描件：不接受该类型"]


def test_a_received_file_is_kept_across_a_redisplay():
    form = _form(MultiDict([("scan__kept", REF["file_id"])]))
    # Kept ids are only candidates: the web layer resolves them to files of the same case.
    assert form.scan.kept_ids == [REF["file_id"]] and form.scan.data is None
    form.scan.accept_stored([REF], {REF["file_id"]: "a.pdf"})
    form.validate()
    assert form.scan.data == REF and "scan" not in form.errors
    html = str(form.scan())
    assert "a.pdf" in html and f'name="scan__kept" value="{REF["file_id"]}"' in html


def test_stored_data_prefills_a_form():
    spec = describe(SCHEMA, UI)
    initial = data_for_form(
        spec, {"kind": "a", "flag": True, "items": ["y"], "day": "2018-03-14", "other": 1}
    )
    form = build_form_class(SCHEMA, UI)(data=initial)
    assert form.kind.data == "a" and form.flag.data == "true" and form.items.data == ["y"]
    assert str(form.day._value()) == "2018-03-14"


def test_today_and_the_applicants_address_are_the_usual_answers():
    """"x-default": "today" starts a date at today (a redo too, not the earlier round's date);
    "x-default-from" takes a value from the case's data (the registered address for the post)."""
    from datetime import date

    from forms.context import FormContext
    from forms.schemas import load_schema, resolve

    schema = resolve(load_schema("delivery_post.json"), FormContext(today=date(2026, 12, 8)))
    spec = describe(schema)
    initial = data_for_form(spec, {"applicant": {"address": "长春市人民大街 1 号"}, "posted_date": "2026-11-01"})
    form = build_form_class(schema)(data=initial)
    assert form.posted_date._value() == "2026-12-08"
    assert form.recipient_address.data == "长春市人民大街 1 号"
    assert "recipient_address" not in data_for_form(spec, {"applicant": {"name": "x"}})


def test_english_titles_when_given():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "title": "名称", "x-title-en": "Name"}},
    }
    assert describe(schema, locale="en").fields[0].title == "Name"
    assert describe(schema, locale="zh_CN").fields[0].title == "名称"


def test_unsupported_constructs_are_named():
    with pytest.raises(UnsupportedSchema, match="nested"):
        describe({"type": "object", "properties": {"nested": {"type": "object"}}})


def test_every_shipped_form_schema_builds():
    from pathlib import Path

    from forms.schemas import SCHEMA_DIR, load_schema, load_ui_schema

    names = sorted(p.name for p in Path(SCHEMA_DIR).glob("*.json") if not p.name.endswith(".uischema.json"))
    assert names
    for name in names:
        ui = load_ui_schema(name[:-5] + ".uischema.json")
        build_form_class(load_schema(name), ui)
