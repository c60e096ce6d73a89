"""双随机一公开 (services/spot_checks.py, workflows/p03_inspection.bpmn) on SQLite and PostgreSQL: the registry from a
CSV import and from completed permits, the roster, a plan drawn from its published seed — reproducible by anyone,
audited, never redrawn silently — one inspection case per drawn entity walked to its public result, and a
violation becoming a credit record."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
from sqlalchemy import func, select
from world import ROOT

from services import cases, credit, definitions, spot_checks, users
from services.actors import Actor, actor_for
from services.credit_code import check_character
from services.errors import Conflict, Forbidden, InvalidInput
from storage import audit
from storage.models import AuditEvent, Case, CreditRecord, HumanTask, RegulatedEntity, SpotCheckItem, User
from workflows.catalog import load_catalog

SYSTEM = Actor.system("test")
LEAD = Actor("corps_lead", roles=frozenset({"lead"}), unit_code="inspection_corps")


def code(n: int) -> str:
    first = f"912200001234{n:05d}"
    return first + check_character(first)


def test_the_draw_is_a_pure_function_anyone_can_rerun():
    candidates = [code(i) for i in range(20)]
    badges = ["JC001", "JC002", "JC003", "JC004"]
    drawn = spot_checks.compute_draw("2018-05-02 体彩 12345", 1, candidates, badges, 5)
    assert drawn == spot_checks.compute_draw("2018-05-02 体彩 12345", 1, list(reversed(candidates)), badges, 5)
    # the rule in words, re-implemented from the published description
    rank = sorted(candidates, key=lambda c: hashlib.sha256(f"2018-05-02 体彩 12345|1|entity|{c}".encode()).hexdigest())
    assert [d.credit_code for d in drawn] == rank[:5]
    for d in drawn:
        assert len(set(d.inspectors)) == 2
    assert spot_checks.compute_draw("another seed", 1, candidates, badges, 5) != drawn
    assert spot_checks.compute_draw("2018-05-02 体彩 12345", 2, candidates, badges, 5) != drawn
    body = json.dumps([[d.credit_code, list(d.inspectors)] for d in drawn], ensure_ascii=False, separators=(",", ":"))
    assert spot_checks.digest_of(drawn) == hashlib.sha256(body.encode()).hexdigest()
    assert spot_checks.sample_size(7, None, 30) == 3 and spot_checks.sample_size(7, 10, None) == 7


@pytest.fixture
def world(uow):
    catalog = load_catalog()
    users.ensure_units(uow, [(u.code, u.name_zh, u.name_en) for u in catalog.units], SYSTEM)
    for name, roles in (("jc1", ("handler",)), ("jc2", ("handler",)), ("jc_lead", ("handler", "lead"))):
        users.create_user(uow, username=name, password="secret-123", display_name=name, roles=roles,
                          unit_code="inspection_corps", actor=SYSTEM)
    path = ROOT / "workflows" / "p03_inspection.bpmn"
    definitions.deploy_bundle(uow, definitions.bundle_for(path), path.name, SYSTEM)
    with uow.reader() as r:
        actors = {u.username: actor_for(r.session, u) for u in r.session.execute(select(User)).scalars()}
    for i, badge in enumerate(("JC001", "JC002", "JC003")):
        spot_checks.add_inspector(uow, f"检查员{i}", badge, "inspection_corps", LEAD)
    return uow, actors


def _plan(uow, **kw) -> int:
    values = dict(title="2018年危险废物经营单位抽查", entity_type="m02", inspector_unit="inspection_corps",
                  sample_count=None, sample_share=50, period_start=date(2018, 5, 1), period_end=date(2018, 6, 30),
                  seed="2018-05-02 福彩3D 407")
    values.update(kw)
    return spot_checks.create_plan(uow, spot_checks.NewPlan(**values), LEAD)


def test_a_plan_is_drawn_from_its_seed_audited_and_never_redrawn_silently(world):
    uow, actors = world
    lines = ["credit_code,name,entity_type,address"] + [f"{code(i)},企业{i},m02,长春" for i in range(6)]
    assert spot_checks.import_entities(uow, "\n".join(lines), LEAD).added == 6
    with pytest.raises(InvalidInput):  # a bad line: nothing imported
        spot_checks.import_entities(uow, "credit_code,name,entity_type\n91220000123456789A,坏,m02\n"
                                         f"{code(99)},好,m02\n", LEAD)
    with uow.reader() as r:
        assert r.session.execute(select(func.count(RegulatedEntity.id))).scalar_one() == 6
    plan_id = _plan(uow)
    first = spot_checks.draw(uow, plan_id, LEAD)
    assert first.round == 1 and first.items == 3 and len(first.inspection_case_ids) == 3
    expected = spot_checks.compute_draw("2018-05-02 福彩3D 407", 1, sorted(code(i) for i in range(6)),
                                        ["JC001", "JC002", "JC003"], 3)
    assert first.digest == spot_checks.digest_of(expected)
    with pytest.raises(Conflict):  # no silent redraw
        spot_checks.draw(uow, plan_id, LEAD)
    second = spot_checks.draw(uow, plan_id, LEAD, reason="检查员回避：与被检查单位存在利害关系")
    assert second.round == 2
    with uow.reader() as r:
        assert spot_checks.verify(r.session, first.draw_id) and spot_checks.verify(r.session, second.draw_id)
        statuses = {c.id: c.status for c in r.session.execute(select(Case).where(Case.matter_code == "p03")).scalars()}
        assert all(statuses[i] == "withdrawn" for i in first.inspection_case_ids)
        assert all(statuses[i] == "active" for i in second.inspection_case_ids)
        events = [e.payload for e in r.session.execute(
            select(AuditEvent).where(AuditEvent.action == "spot_check.drawn").order_by(AuditEvent.seq)).scalars()]
        reason = "检查员回避：与被检查单位存在利害关系"
        assert [(e["after"]["round"], e["reason"]) for e in events] == [(1, None), (2, reason)]
        [plan] = spot_checks.public_plans(r.session)
        assert [(d.round, d.superseded) for d in plan.draws] == [(1, True), (2, False)]
        assert audit.verify(r.session).ok


def test_an_inspection_walks_to_its_public_result_and_a_violation_becomes_a_credit_record(world):
    uow, actors = world
    spot_checks.import_entities(uow, f"credit_code,name,entity_type\n{code(1)},吉林某处置公司,m02\n", LEAD)
    result = spot_checks.draw(uow, _plan(uow, sample_share=None, sample_count=1), LEAD)
    [case_id] = result.inspection_case_ids

    def ready():
        with uow.reader() as r:
            [task] = r.session.execute(select(HumanTask).where(HumanTask.case_id == case_id,
                                                               HumanTask.state == "ready")).scalars()
            return task

    task = ready()
    assert (task.spec_name, task.lane) == ("record_inspection", "监察总队")
    cases.complete_task(uow, task.id, {"inspection_date": "2018-05-10", "inspection_record": "台账缺失，超期贮存",
                                       "inspection_result": "violation", "recorded_by": "jc1"}, actors["jc1"])
    review = {"review_decision": "confirm", "reviewed_by": "jc2", "reviewed_on": "2018-05-11"}
    with pytest.raises(Forbidden):  # the second inspector reviews, not the one who recorded
        cases.complete_task(uow, ready().id, review, actors["jc1"])
    cases.complete_task(uow, ready().id, review, actors["jc2"])
    task = ready()
    assert task.role == "lead"
    cases.complete_task(uow, task.id, {"public_summary": "超期贮存危险废物，已立案查处", "approved_by": "jc_lead",
                                       "approved_on": "2018-05-12"}, actors["jc_lead"])
    assert spot_checks.sync(uow) == 1 and spot_checks.sync(uow) == 0  # once per inspection
    with uow.reader() as r:
        [plan] = spot_checks.public_plans(r.session)
        [item] = plan.draws[0].items
        assert (item.status, item.result, item.summary) == ("completed", "violation", "超期贮存危险废物，已立案查处")
        [row] = r.session.execute(select(CreditRecord)).scalars()
        assert (row.credit_code, row.kind, row.source_case_id) == (code(1), "inspection_failure", case_id)
        assert credit.active_for(r.session, code(1), actors["jc1"], row.recorded_on)
        assert r.session.execute(select(SpotCheckItem.inspection_case_id)).scalar_one() == case_id


def test_the_registry_fills_from_completed_permits_and_filings(world):
    """A filing that ended filed makes its holder a regulated entity of that matter type, once."""
    uow, _actors = world
    with uow:
        uow.session.add(Case(reference="2018M11000001", lookup_code="ABCD1234", matter_code="m11", definition_id=1,
                             status="completed", outcome="filed", applicant_name="吉林某公司",
                             applicant_credit_code=code(7), channel="online", delivery_mode="online", state="",
                             serializer_version="x", version=1, created_by="t"))
        uow.session.add(Case(reference="2018M11000002", lookup_code="ABCD1235", matter_code="m11", definition_id=1,
                             status="completed", outcome="returned", applicant_name="另一公司",
                             applicant_credit_code=code(8), channel="online", delivery_mode="online", state="",
                             serializer_version="x", version=1, created_by="t"))
        uow.commit()
    assert spot_checks.sync(uow) == 1 and spot_checks.sync(uow) == 0
    with uow.reader() as r:
        [entity] = r.session.execute(select(RegulatedEntity)).scalars()
        assert (entity.credit_code, entity.entity_type, entity.source) == (code(7), "m11", "case")
