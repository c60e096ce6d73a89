"""办事指南 from the catalog and the diagram (services/guide.py): exactly the catalog's materials and limits, the
diagram's user tasks as steps, trips by the run-once rules; a changed catalog or diagram changes the guide."""

from __future__ import annotations

from pathlib import Path

from services.definitions import bundle_for
from services.guide import build_guide, diagram_steps, limit_text
from workflows.catalog import load_catalog, shipped_catalog

ROOT = Path(__file__).resolve().parents[2]


def _guide(catalog, code):
    matter = catalog.matter(code)
    return build_guide(catalog, matter, bundle_for(ROOT / "workflows" / matter.diagram))


def test_every_guide_lists_exactly_the_catalogs_materials_and_limits():
    catalog = shipped_catalog()
    for matter in catalog.matters:
        guide = _guide(catalog, matter.code)
        assert [i.code for i in guide.materials] == [i.code for i in matter.materials]
        assert guide.statutory == matter.statutory_limit and guide.promised == matter.promised_limit
        assert [(m.channel, m.delivery_mode) for m in guide.modes] == \
               [(s.channel, s.delivery_mode) for s in matter.service_modes]
        assert guide.steps, f"{matter.code}: no steps read from the diagram"


def test_a_changed_catalog_changes_the_guide(tmp_path):
    import shutil

    for diagram in (ROOT / "workflows").glob("*.bpmn"):
        shutil.copy(diagram, tmp_path / diagram.name)
    text = (ROOT / "workflows" / "catalog.toml").read_text(encoding="utf-8")
    changed = text.replace('name_zh = "对建设项目环境影响后评价报告的备案"', 'name_zh = "后评价备案（改）"', 1)
    head, m11 = changed.split('code = "m11"')
    changed = head + 'code = "m11"' + m11.replace("promised_limit = { value = 5,", "promised_limit = { value = 7,", 1)
    # m11 is the last matter: a material appended to the file is its new last item
    changed += ('\n[[matters.materials]]\ncode = "extra_statement"\nname_zh = "补充说明（测试）"\nname_en = "Extra"\n'
                'requirement = "conditional"\ncondition_zh = "有变更时"\ncondition_en = "if changed"\n'
                'form = "copy"\ncopies = 2\n')
    path = tmp_path / "catalog.toml"
    path.write_text(changed, encoding="utf-8")
    catalog = load_catalog(path)
    guide = _guide(catalog, "m11")
    assert guide.matter.name_zh == "后评价备案（改）"
    assert guide.promised.value == 7 and limit_text(guide.promised) == "7个工作日"
    assert guide.materials[-1].code == "extra_statement" and guide.materials[-1].copies == 2
    assert not guide.materials[-1].required
    assert len(guide.materials) == len(shipped_catalog().matter("m11").materials) + 1


def test_steps_follow_the_diagram_with_call_activities_expanded():
    files = bundle_for(ROOT / "workflows" / "m03_hazardous_waste_storage.bpmn")
    names = [s.element_id for s in diagram_steps(files, "m03_hazardous_waste_storage")]
    assert names[0] == "check_materials"  # window_acceptance comes first
    assert "decide" in names and names.index("decide") < names.index("deliver_post")
    renamed = {k: v.replace(b'name="\xe5\xae\xa1\xe6\x89\xb9\xe5\x86\xb3\xe5\xae\x9a"', 'name="厅务会决定"'.encode())
               for k, v in files.items()}
    steps = diagram_steps(renamed, "m03_hazardous_waste_storage")
    assert "厅务会决定" in [s.name for s in steps]
    assert {s.lane for s in steps} >= {"审批办", "土壤处", "厅领导"}


def test_trips_and_limit_words():
    guide = _guide(shipped_catalog(), "m01")
    trips = {(m.channel, m.delivery_mode): m.trips for m in guide.modes}
    assert trips[("window", "post")] == 1 and trips[("post", "post")] == 0 and trips[("window", "window")] == 1
    assert guide.fewest_trips == 0
    assert limit_text(shipped_catalog().matter("m03").statutory_limit) == "20个工作日"
