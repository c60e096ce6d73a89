"""投诉举报 (services/complaints.py, workflows/p02_complaint.bpmn) on SQLite and PostgreSQL: a named complaint with
an attachment walks 登记 → 分办 → 调查 in the assigned unit's lane → 答复; the complainant reads the reply by reference
and look-up code; an anonymous one keeps no contact; a complaint not accepted is answered with the reason."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from world import ROOT

from services import cases, clock, complaints, definitions, files, users
from services.actors import Actor, actor_for
from services.errors import InvalidInput
from services.files import Upload
from services.uow import UnitOfWork
from storage import audit
from storage.filestore import FileStore
from storage.models import Case, HumanTask, StoredFile, User
from workflows.catalog import load_catalog

BEIJING = ZoneInfo("Asia/Shanghai")
START = datetime(2018, 3, 1, 9, 0, tzinfo=BEIJING)
SYSTEM = Actor.system("test")
PEOPLE = {"regs1": ("regulations", ("handler", "lead")), "soil1": ("soil", ("handler",))}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def world(session_factory, tmp_path):
    uow = UnitOfWork(session_factory, files=FileStore(tmp_path / "files"))
    catalog = load_catalog()
    users.ensure_units(uow, [(u.code, u.name_zh, u.name_en) for u in catalog.units], SYSTEM)
    for name, (unit, roles) in PEOPLE.items():
        users.create_user(uow, username=name, password="secret-123", display_name=name, roles=roles,
                          unit_code=unit, actor=SYSTEM)
    path = ROOT / "workflows" / "p02_complaint.bpmn"
    definitions.deploy_bundle(uow, definitions.bundle_for(path), path.name, SYSTEM)
    with uow.reader() as r:
        actors = {u.username: actor_for(r.session, u) for u in r.session.execute(select(User)).scalars()}
    return uow, actors


def _ready(uow, case_id) -> HumanTask:
    with uow.reader() as r:
        [task] = r.session.execute(select(HumanTask).where(HumanTask.case_id == case_id,
                                                           HumanTask.state == "ready")).scalars()
        return task


def test_a_named_complaint_walks_to_its_reply_in_the_assigned_units_lane(world):
    uow, actors = world
    with uow:
        upload = files.receive(uow, Upload(io.BytesIO(PDF), "现场照片说明.pdf", "附件"), actor="public",
                               purpose="complaint", owner_token="tok-1")
        uow.commit()
        ref = files.ref(upload)
    with clock.frozen(START):
        reg = complaints.submit(uow, complaints.Complaint(
            kind="report", subject="某企业夜间偷排", content="某化工企业夜间通过暗管排放废水，附照片说明。",
            anonymous=False, name="李四", phone="13900000000", matter_code="m02"),
            attachments=[ref], owner_token="tok-1")
        with uow.reader() as r:
            case = r.session.get(Case, reg.case_id)
            assert case.matter_code == "p02" and reg.reference.startswith("2018P02")
            assert case.due_on == clock.calendar(r.session).add_working_days(START.date(), 15)
            assert r.session.get(StoredFile, ref["file_id"]).case_id == case.id  # the attachment is the case's
        task = _ready(uow, reg.case_id)
        assert (task.spec_name, task.lane) == ("register_complaint", "法规处")
        cases.complete_task(uow, task.id, {"registration_result": "accept", "registration_summary": "举报偷排",
                                           "registrar": "regs1", "registered_on": "2018-03-01"}, actors["regs1"])
        task = _ready(uow, reg.case_id)
        cases.complete_task(uow, task.id, {"assigned_unit": "soil", "assigned_by": "regs1",
                                           "assigned_on": "2018-03-02"}, actors["regs1"])
        task = _ready(uow, reg.case_id)
        assert (task.spec_name, task.lane) == ("investigate_soil", "土壤处")
        # an extension with the leadership's approval, like a matter's (services.clock.extend_deadline)
        leader = Actor("leader1", roles=frozenset({"handler", "lead"}), unit_code="leadership",
                       lanes=frozenset({"厅领导"}))
        before = case.due_on
        clock.extend_deadline(uow, reg.case_id, 5, "需要现场监测，经厅领导批准延长", leader)
        with uow.reader() as r:
            assert r.session.get(Case, reg.case_id).due_on == clock.calendar(r.session).add_working_days(before, 5)
        with uow.reader() as r:
            assert complaints.find(r.session, reg.reference, reg.lookup_code).stage == "investigation"
        cases.complete_task(uow, task.id, {"investigation_findings": "现场核查属实",
                                           "investigation_opinion": "立案查处", "investigator": "soil1",
                                           "investigated_on": "2018-03-09"}, actors["soil1"])
        task = _ready(uow, reg.case_id)
        cases.complete_task(uow, task.id, {"reply_result": "substantiated", "reply_text": "经查属实，已立案查处。",
                                           "replied_by": "regs1", "replied_on": "2018-03-12"}, actors["regs1"])
    with uow.reader() as r:
        status = complaints.find(r.session, reg.reference, reg.lookup_code.lower())
        assert (status.stage, status.result, status.reply) == ("closed", "substantiated", "经查属实，已立案查处。")
        assert status.attachments == ["现场照片说明.pdf"]
        assert complaints.find(r.session, reg.reference, "00000000") is None
        assert complaints.find(r.session, "2018M01000001", reg.lookup_code) is None
        assert r.session.get(Case, reg.case_id).outcome == "substantiated"
        assert audit.verify(r.session).ok


def test_an_anonymous_complaint_keeps_no_contact_and_a_named_one_needs_it(world):
    uow, actors = world
    with clock.frozen(START):
        with pytest.raises(InvalidInput) as bad:
            complaints.submit(uow, complaints.Complaint(kind="complaint", subject="窗口态度", content="太短",
                                                        anonymous=False, name="", phone=""))
        assert {"content", "name", "phone"} <= set(bad.value.errors)
        reg = complaints.submit(uow, complaints.Complaint(
            kind="complaint", subject="窗口态度差", content="窗口工作人员态度生硬，不解释补正要求。", anonymous=True,
            name="王五", phone="13800000000"))
        with uow.reader() as r:
            case = r.session.get(Case, reg.case_id)
            assert (case.applicant_name, case.applicant_phone, case.applicant_contact) == ("匿名", None, None)
        task = _ready(uow, reg.case_id)
        form = {"registration_result": "not_accept", "registration_summary": "不属于职责", "registrar": "regs1",
                "registered_on": "2018-03-01"}
        with pytest.raises(InvalidInput):  # not accepted needs the reason
            cases.complete_task(uow, task.id, form, actors["regs1"])
        cases.complete_task(uow, task.id, {**form, "not_accept_reason": "属市级部门职责，请向市生态环境局反映"},
                            actors["regs1"])
        task = _ready(uow, reg.case_id)
        assert task.spec_name == "reply_complaint"  # no investigation for a complaint not accepted
