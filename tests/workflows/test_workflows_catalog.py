"""The catalog and the diagrams agree; the catalog loader rejects bad data with clear messages."""

from __future__ import annotations

import json

import pytest
from driver import SCENARIOS, SCHEMAS, WORKFLOWS, form_schema, validate_form
from jsonschema import Draft202012Validator
from xmlmodel import DELIVERY_MODE_RE, load

from workflows.catalog import STEP_KINDS, CatalogError, load_catalog
from workflows.processes import shipped_processes

CAT = load_catalog()
MATTERS = CAT.matters
MIDS = [m.code for m in MATTERS]
ACCEPTANCE = load(WORKFLOWS / "shared" / "window_acceptance.bpmn")
DELIVERY = load(WORKFLOWS / "shared" / "result_delivery.bpmn")
PROCESSES = shipped_processes().processes  # the department's own processes (workflows/processes.toml)
ALL_MODELS = [ACCEPTANCE, DELIVERY] + [load(CAT.diagram_path(m)) for m in MATTERS] + [
    load(shipped_processes().diagram_path(p)) for p in PROCESSES]


def test_eleven_matters_and_the_units_of_the_plan():
    assert [m.code for m in MATTERS] == [f"m{i:02d}" for i in range(1, 12)]
    assert [m.number for m in MATTERS] == list(range(1, 12))
    names = {u.name_zh for u in CAT.units}
    assert names == {"法规处", "审批办", "环评处", "土壤处", "核安全局", "生态处", "辐射站", "固废中心", "信息中心",
                     "监察总队", "厅领导"}
    assert CAT.unit("eia").name_en == "EIA Division"
    assert CAT.plan_year == 2018
    assert CAT.run_once_deadline("m01").isoformat() == "2018-04-30"
    assert CAT.run_once_deadline("m11").isoformat() == "2018-07-31"
    assert [m.run_once_month for m in MATTERS] == ["04"] * 6 + ["06"] * 4 + ["07"]


def test_matter_11_has_no_unit_in_the_plan_but_an_owner():
    m11 = CAT.matter("m11")
    assert m11.unit == "" and m11.unit_missing_in_plan is True
    assert m11.owner == "regulations" and m11.responsible_unit == "regulations"
    assert all(m.unit and not m.unit_missing_in_plan for m in MATTERS if m.code != "m11")


def test_eia_limit_depends_on_report_type():
    m01 = CAT.matter("m01")
    assert m01.statutory_for("report").value == 60
    assert m01.statutory_for("table").value == 30
    assert m01.statutory_limit.confirmed is False  # MATTERS.md: working vs calendar days unconfirmed
    assert m01.promised_for("table").value == 30


@pytest.mark.parametrize("matter", MATTERS, ids=MIDS)
def test_every_matter_has_limit_month_and_diagram(matter):
    assert matter.promised_limit.value and matter.promised_limit.unit in {"working_days", "days"}
    assert matter.statutory_limit is not None or matter.statutory_limit_note
    assert matter.run_once_month
    path = CAT.diagram_path(matter)
    assert path.is_file()
    assert load(path).process_id == matter.process_id == path.stem


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.process_id)
def test_every_lane_is_a_known_unit(model):
    for lane_id, lane in model.lanes.items():
        unit = CAT.unit_by_name(lane.get("name"))  # KeyError: unknown unit
        assert lane_id == f"Lane_{unit.code}", f"lane id {lane_id} should be Lane_{unit.code}"


@pytest.mark.parametrize("matter", MATTERS, ids=MIDS)
def test_responsible_unit_has_a_lane(matter):
    model = load(CAT.diagram_path(matter))
    lane_names = {lane.get("name") for lane in model.lanes.values()}
    assert CAT.unit(matter.responsible_unit).name_zh in lane_names
    assert "审批办" in lane_names
    if matter.kind == "approval":
        assert "厅领导" in lane_names, "approval decisions are signed by department leadership"
        assert model.called_elements() == {"window_acceptance", "result_delivery"}
    else:
        assert model.called_elements() == {"result_delivery"}


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.code)
def test_a_departments_process_has_its_units_lane_and_a_limit(process):
    model = load(shipped_processes().diagram_path(process))
    assert model.process_id == process.process_id
    assert CAT.unit(process.unit).name_zh in {lane.get("name") for lane in model.lanes.values()}
    assert process.limit.value > 0 and process.promised_for(None) == process.limit


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.process_id)
def test_every_user_task_has_a_valid_form(model):
    for task in model.user_tasks():
        props = model.properties(task)
        name = props["formJsonSchemaFilename"]
        schema = form_schema(name)
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["title"]
        assert set(schema.get("required", [])) <= set(schema["properties"]), name
        ui_name = props.get("formUiSchemaFilename")
        assert ui_name, f"{task}: no formUiSchemaFilename"
        ui = json.loads((SCHEMAS / ui_name).read_text(encoding="utf-8"))
        assert set(ui) - {"ui:order"} <= set(schema["properties"]), f"{ui_name} names unknown fields"


def test_every_form_file_is_well_formed_and_used():
    used = {model.properties(t)["formJsonSchemaFilename"] for model in ALL_MODELS for t in model.user_tasks()}
    schemas = sorted(p.name for p in SCHEMAS.glob("*.json") if not p.name.endswith(".uischema.json"))
    assert set(schemas) == used, f"unused forms {set(schemas) - used}, missing {used - set(schemas)}"
    for name in schemas:
        schema = form_schema(name)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        for key, prop in schema["properties"].items():
            assert key.isidentifier() and key == key.lower(), f"{name}: field {key} is not snake_case"
            assert any("\u4e00" <= ch <= "\u9fff" for ch in prop["title"]), f"{name}.{key}: title not Chinese"
            if prop.get("type") == "string" and "format" not in prop and "oneOf" not in prop:
                assert "maxLength" in prop, f"{name}.{key}: free text needs maxLength"
            assert prop.get("format") != "data-url", f"{name}.{key}: files go to the file store (format file)"
            files = prop.get("items", {}) if prop.get("type") == "array" else prop
            if files.get("format") == "file":
                assert files["type"] == "object" and files.get("x-accept"), f"{name}.{key}"
        assert (SCHEMAS / name.replace(".json", ".uischema.json")).is_file()


def test_supplement_checklist_lists_every_missing_item_at_once():
    schema = form_schema("supplement_notice.json")
    items = schema["properties"]["missing_items"]
    assert items["type"] == "array" and items["uniqueItems"] is True and items["minItems"] == 1
    # the choices are the case's matter's materials list, filled in at run time (forms.context)
    assert items["items"]["x-options"] == "matter_materials"
    assert [o["const"] for o in items["items"]["x-options-append"]] == ["other"]
    validate_form("supplement_notice.json", {"missing_items": ["application_form", "other"],
                                             "missing_items_detail": "两项", "notice_date": "2018-05-02"})
    with pytest.raises(AssertionError, match="missing_items"):
        validate_form("supplement_notice.json", {"missing_items": [], "missing_items_detail": "无",
                                                 "notice_date": "2018-05-02"})


@pytest.mark.parametrize("matter", MATTERS, ids=MIDS)
def test_supplement_notice_offers_this_matters_materials_only(matter):
    from forms.context import FormContext
    from forms.schemas import validate_form as service_validate
    from services.form_context import MATTER_MATERIALS, materials_options

    ctx = FormContext(options={MATTER_MATERIALS: materials_options(matter.code)})
    base = {"missing_items_detail": "逐项说明", "notice_date": "2018-05-02"}
    first = matter.materials[0].code
    assert service_validate("supplement_notice.json", {**base, "missing_items": [first, "other"]}, ctx) == {}
    foreign = "passports" if matter.code != "m06" else "eia_document"
    problems = service_validate("supplement_notice.json", {**base, "missing_items": [first, foreign]}, ctx)
    assert problems["missing_items"][0] == "Choose one of the offered values."


def test_public_notices_name_publishing_tasks_of_the_diagram():
    for matter in MATTERS:
        model = load(CAT.diagram_path(matter))
        publishing = {t for t in model.user_tasks()
                      if model.properties(t)["formJsonSchemaFilename"] == "public_notice.json"}
        assert {n.task for n in matter.public_notices} == publishing, matter.code
    assert CAT.matter("m01").notice_min_working_days("publish_acceptance_public_notice") == 10
    assert CAT.matter("m01").notice_min_working_days("publish_pre_approval_notice") == 5
    assert CAT.matter("m01").notice_min_working_days("review") is None


def test_refusals_require_reasons():
    cases = [("decision.json", "decision", "refuse"), ("review_opinion.json", "recommendation", "refuse"),
             ("filing_check.json", "check_result", "return")]
    for name, field, value in cases:
        base = {"decision.json": {"signer": "甲", "decision_date": "2018-06-01"},
                "review_opinion.json": {"review_opinion": "意见", "reviewer": "甲", "review_date": "2018-06-01"},
                "filing_check.json": {"checker": "甲", "check_date": "2018-06-01"}}[name]
        with pytest.raises(AssertionError, match="refusal_reasons"):
            validate_form(name, {**base, field: value})
        validate_form(name, {**base, field: value, "refusal_reasons": "不符合条件"})
    for name in ("refusal_notice.json", "refusal_document.json", "return_notice.json"):
        assert "refusal_reasons" in form_schema(name)["required"]


def test_delivery_supports_every_offered_service_mode():
    gw = DELIVERY.nodes["gw_mode"]
    modes = {m for f in DELIVERY.outgoing("gw_mode") for m in DELIVERY_MODE_RE.findall(DELIVERY.condition(f) or "")}
    assert gw.get("default") is None and modes == {"window", "post", "online"}
    for matter in MATTERS:
        for sm in matter.service_modes:
            assert sm.delivery_mode in modes, f"{matter.code}: {sm} not supported by result_delivery"
            assert sm.channel in {"window", "post", "online"}


@pytest.mark.parametrize("matter", MATTERS, ids=MIDS)
def test_excluded_time_kinds_are_marked_in_the_diagram(matter):
    model = load(CAT.diagram_path(matter))
    kinds = model.step_kinds() | (ACCEPTANCE.step_kinds() if "window_acceptance" in model.called_elements() else set())
    assert set(matter.excluded_time) <= kinds, f"{matter.code}: no step marked {set(matter.excluded_time) - kinds}"


def test_step_kinds_are_known():
    for model in ALL_MODELS:
        assert model.step_kinds() <= set(STEP_KINDS), model.process_id


@pytest.mark.parametrize("matter", MATTERS, ids=MIDS)
def test_scenarios_cover_every_matter_with_offered_modes(matter):
    mine = [s for s in SCENARIOS if s.matter == matter.process_id]
    assert len(mine) >= 2, f"{matter.code}: needs scenarios"
    for sc in mine:
        assert sc.start["matter_code"] == matter.code
        assert matter.offers(sc.start["channel"], sc.start["delivery_mode"]), (
            f"{sc.id}: {sc.start['channel']}+{sc.start['delivery_mode']} is not offered for {matter.code}")


# -- loader errors -------------------------------------------------------------------------------------------------


def _broken(tmp_path, old: str, new: str, count: int = 1):
    text = (WORKFLOWS / "catalog.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "catalog.toml"
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    for bpmn in WORKFLOWS.glob("m*.bpmn"):  # the loader checks that diagrams exist next to the catalog
        (tmp_path / bpmn.name).write_bytes(bpmn.read_bytes())
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('unit = "soil"', 'unit = "soils"', "matters[1] (m02): unit 'soils' is not a unit code"),
        ('run_once_month = "04"', 'run_once_month = "4"', "run_once_month '4' must be two digits"),
        ('{ value = 20, unit = "working_days", note = "受理之日起20个工作日内审查完毕（含现场核查）" }',
         '{ value = 20, unit = "weeks" }', "statutory_limit: unit 'weeks' is not one of"),
        ('owner = "regulations"', "", "no unit in the plan and no owner configured"),
        ('excluded_time = ["supplement"]', 'excluded_time = ["lunch"]', "excluded_time kind 'lunch'"),
        ('{ channel = "window", delivery_mode = "post" }', '{ channel = "fax", delivery_mode = "post" }',
         "channel 'fax' is not one of"),
        ('process_id = "m03_hazardous_waste_storage"', 'process_id = "m03_storage"', "must be named m03_storage.bpmn"),
        ("plan_year = 2018", "plan_year = 1918", "plan_year 1918 is out of range"),
    ],
)
def test_loader_reports_clear_errors(tmp_path, old, new, message):
    path = _broken(tmp_path, old, new)
    with pytest.raises(CatalogError) as exc:
        load_catalog(path)
    assert message in str(exc.value)
    assert "catalog.toml:" in str(exc.value)


def test_loader_reports_missing_promised_limit_and_bad_toml(tmp_path):
    m09_promise = ('promised_limit = { value = 5, unit = "working_days", '
                   'note = "出具备案回执的默认承诺时限，待辐射站核定" }')
    path = _broken(tmp_path, m09_promise, "")
    with pytest.raises(CatalogError, match=r"m09\): missing key 'promised_limit'"):
        load_catalog(path)
    bad = tmp_path / "bad.toml"
    bad.write_text("plan_year = [", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "none.toml")


def test_plan_year_is_configurable(tmp_path):
    cat = load_catalog(_broken(tmp_path, "plan_year = 2018", "plan_year = 2019"))
    assert cat.plan_year == 2019 and cat.run_once_deadline("m01").isoformat() == "2019-04-30"


def test_catalog_objects_are_frozen():
    m = CAT.matter("m01")
    with pytest.raises(AttributeError):
        m.unit = "soil"  # type: ignore[misc]
    with pytest.raises(KeyError, match="unknown matter code 'm12'"):
        CAT.matter("m12")


# -- materials (申请材料目录) -------------------------------------------------------------------------------------


@pytest.mark.parametrize("matter", MATTERS, ids=MIDS)
def test_every_matter_lists_its_materials(matter):
    assert matter.materials, f"{matter.code}: no materials"
    assert matter.required_materials, f"{matter.code}: no required item"
    codes = [i.code for i in matter.materials]
    assert len(set(codes)) == len(codes)
    for item in matter.materials:
        assert matter.material(item.code) is item
        assert item.name_zh and item.name_en and item.copies >= 1
        assert item.requirement in {"required", "conditional"} and item.form in {"original", "copy", "electronic"}
        if item.requirement == "conditional":
            assert item.condition_zh and item.condition_en, f"{matter.code}.{item.code}: condition in words"
        else:
            assert item.condition_zh is None and item.condition_en is None
        if not item.unconfirmed:
            assert item.source, f"{matter.code}.{item.code}: confirmed without a source"
    with pytest.raises(KeyError, match="unknown material code 'nope'"):
        matter.material("nope")


def test_materials_follow_the_domain_notes():
    m01 = CAT.matter("m01")
    assert {"application_form", "eia_document", "eia_document_public", "project_approval"} <= {
        i.code for i in m01.required_materials}
    assert m01.material("eia_document_public").form == "electronic"
    pp = m01.material("public_participation")
    assert pp.requirement == "conditional" and "报告书" in pp.condition_zh
    # passports belong to the foreigners' entry only, not to every matter
    assert [m.code for m in MATTERS if any("护照" in i.name_zh for i in m.materials)] == ["m06"]
    assert {"activity_plan", "reserve_opinion"} <= {i.code for i in CAT.matter("m05").materials}
    # other provinces' guides, none from Jilin: almost everything stays unconfirmed
    unconfirmed = [i for m in MATTERS for i in m.materials if i.unconfirmed]
    assert len(unconfirmed) >= 0.9 * sum(len(m.materials) for m in MATTERS)


def test_upload_limit_per_matter():
    assert CAT.matter("m01").max_upload_bytes == 200 * 1024 * 1024
    assert {m.max_upload_bytes for m in MATTERS if m.code != "m01"} == {50 * 1024 * 1024}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('code = "public_participation"', 'code = "eia_document"', "(m01): materials: duplicate code 'eia_document'"),
        ('requirement = "conditional"\ncondition_zh = "编制环境影响报告书的项目"', 'requirement = "conditional"',
         "materials[4]: a conditional item states its condition"),
        ('form = "electronic"', 'form = "fax"', "form 'fax' is not one of original, copy, electronic"),
        ('code = "application_form"', 'code = "Application Form"', "must be snake_case"),
        ("copies = 1", "copies = 0", "copies must be 1-50"),
        ('requirement = "required"', 'requirement = "maybe"', "requirement 'maybe' is not one of"),
        ("max_upload_mb = 200", "max_upload_mb = 0", "max_upload_mb must be 1-2048"),
        ('name_zh = "建设项目环境影响后评价文件"\nname_en = "Environmental impact post-assessment report"\n'
         'requirement = "required"', 'name_zh = "建设项目环境影响后评价文件"\n'
         'name_en = "Environmental impact post-assessment report"\nrequirement = "conditional"\n'
         'condition_zh = "有时"\ncondition_en = "sometimes"', "(m11): materials has no required item"),
        ('[[matters.materials]]\ncode = "post_assessment_report"', '[[matters.materials]]\nlunch = 1\n'
         'code = "post_assessment_report"', "unknown keys ['lunch']"),
    ],
)
def test_loader_reports_bad_materials(tmp_path, old, new, message):
    with pytest.raises(CatalogError) as exc:
        load_catalog(_broken(tmp_path, old, new))
    assert message in str(exc.value)


def test_loader_requires_a_materials_list(tmp_path):
    text = (WORKFLOWS / "catalog.toml").read_text(encoding="utf-8")
    head, sep, tail = text.partition('process_id = "m11_eia_post_assessment_filing"')
    path = _broken(tmp_path, "plan_year = 2018", "plan_year = 2018")
    path.write_text(head + sep + "\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"\(m11\): missing key 'materials'"):
        load_catalog(path)


def test_a_second_notice_is_approved_by_the_window_lead():
    """One-time notice means once: after a notice, a still-incomplete check leads to the 审批办 lead's approval."""
    props = ACCEPTANCE.properties("approve_second_notice")
    assert props["role"] == "lead" and props["formJsonSchemaFilename"] == "second_notice_approval.json"
    lane = next(lane for lane in ACCEPTANCE.lanes.values()
                if "approve_second_notice" in [ref.text for ref in lane.iter() if ref.tag.endswith("flowNodeRef")])
    assert lane.get("name") == "审批办"
    targets = {f.get("targetRef"): ACCEPTANCE.condition(f)
               for f in ACCEPTANCE.outgoing("gw_notified_before")}
    assert targets == {"gw_notice_merge": "supplement_notices == 0", "approve_second_notice": "supplement_notices > 0"}
    assert "second_notice_reason" in form_schema("second_notice_approval.json")["required"]
    roles = {m.properties(t).get("role") for m in ALL_MODELS for t in m.user_tasks()} - {None}
    assert roles <= {"lead"}
