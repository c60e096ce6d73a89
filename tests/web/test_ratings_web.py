"""好差评 pages (web/ratings.py): the applicant rates a closed case once from the case page reached with the look-up
code, a poor rating shows its rectification and its outcome; the window's rating page; public and supervisor
figures. SQLite only: the rules and their storage are tested on both backends in tests/services."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select
from web_support import login, make_app, seed_people

from app import uow_for
from services import cases
from services.actors import Actor
from services.definitions import bundle_for, deploy_bundle
from storage.models import Case, HumanTask, Rating

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
SYSTEM = Actor.system("test")
APPLICANT = cases.Applicant("吉林某化工有限公司", "91220000123456789K", "张三", "13912345678")
ONLINE = {"efficiency": "1", "guide_accuracy": "2", "convenience": "1", "platform": "3"}


@pytest.fixture
def app(db_url):
    app = make_app(db_url, APPLICANT_LOOKUP_DELAY=0.0)
    app.user_ids = seed_people(app)
    for stem in ("m11_eia_post_assessment_filing", "p01_rectification"):
        path = ROOT / "workflows" / f"{stem}.bpmn"
        deploy_bundle(uow_for(app), bundle_for(path), path.name, SYSTEM)
    yield app
    app.extensions["runonce.engine"].dispose()


def _case(app, withdraw: bool = True) -> cases.Registration:
    reg = cases.register_case(uow_for(app), matter_code="m11", applicant=APPLICANT, channel="window",
                              delivery_mode="post", actor=Actor("w", roles=frozenset({"window"})))
    if withdraw:
        cases.withdraw_case(uow_for(app), reg.case_id, "申请人撤回", SYSTEM)
    return reg


def test_the_applicant_rates_a_closed_case_once_and_follows_the_rectification(app):
    reg = _case(app)
    client = app.test_client()
    assert client.get(f"/public/case/{reg.reference}/rating").status_code == 404  # no look-up yet
    client.post("/public/track", data={"reference": reg.reference, "lookup_code": reg.lookup_code})
    page = client.get(f"/public/case/{reg.reference}").get_data(as_text=True)
    assert 'id="rate-link"' in page
    form = client.get(f"/public/case/{reg.reference}/rating").get_data(as_text=True)
    assert "办事指南精确度" in form and "平台操作性" in form and "服务态度" not in form
    missing = client.post(f"/public/case/{reg.reference}/rating", data={"level": "1", **ONLINE, "comment": ""})
    assert missing.status_code == 422 and "请写明存在的问题" in missing.get_data(as_text=True)
    done = client.post(f"/public/case/{reg.reference}/rating",
                       data={"level": "1", **ONLINE, "comment": "一次性告知不全"})
    assert done.status_code == 302
    page = client.get(f"/public/case/{reg.reference}").get_data(as_text=True)
    assert 'id="rate-link"' not in page and 'id="rectification-state"' in page and "正在核实" in page
    again = client.post(f"/public/case/{reg.reference}/rating", data={"level": "5", **ONLINE, "comment": ""})
    assert again.status_code == 302  # nothing to rate any more: back to the case page
    with uow_for(app, write=False) as r:
        [rating] = r.session.execute(select(Rating)).scalars()
        assert rating.level == 1 and rating.rectification_case_id is not None
        rect = r.session.get(Case, rating.rectification_case_id)
        assert rect.matter_code == "p01" and rect.due_on is not None
        tasks = r.session.execute(select(HumanTask.spec_name).where(HumanTask.case_id == rect.id)).scalars().all()
        assert tasks == ["verify_rating"]
    figures = app.test_client().get("/public/ratings").get_data(as_text=True)
    assert re.search(r'<tr data-key="m11"><td>[^<]+</td><td>1</td><td>1.00</td>', figures)
    sup = app.test_client()
    login(sup, "supervisor1")
    listing = sup.get("/supervisor/ratings").get_data(as_text=True)
    assert rect.reference in listing and reg.reference in listing
    assert re.search(r'<tr data-code="p01"><td>差评整改</td><td>1</td><td>0</td>', listing)


def test_the_window_opens_the_rating_page_for_an_applicant(app):
    reg = _case(app, withdraw=False)  # at the window the visit is rated, whatever the case's state
    client = app.test_client()
    assert client.get("/window/rating").status_code in (302, 401)
    login(client, "window1")
    found = client.post("/window/rating", data={"reference": reg.reference.lower()})
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/window/rating/{reg.reference}")
    assert client.post("/window/rating", data={"reference": "2018M99000001"}).status_code == 404
    page = client.get(f"/window/rating/{reg.reference}").get_data(as_text=True)
    assert "服务态度" in page and "平台操作性" not in page
    data = {"level": "4", "service_efficiency": "4", "service_level": "5", "service_attitude": "5", "comment": ""}
    assert client.post(f"/window/rating/{reg.reference}", data=data).status_code == 302
    assert client.post(f"/window/rating/{reg.reference}", data=data).status_code == 409
    with uow_for(app, write=False) as r:
        [rating] = r.session.execute(select(Rating)).scalars()
        assert (rating.channel, rating.recorded_by, rating.rectification_case_id) == ("window", "window1", None)


def test_the_reform_office_works_the_rectification_in_its_worklist(app):
    from services import users

    users.ensure_units(uow_for(app), [("regulations", "法规处", "Regulations Division")], SYSTEM)
    users.create_user(uow_for(app), username="regs1", password="correct-horse-42", display_name="法规处 何静",
                      roles=("handler", "lead"), unit_code="regulations", actor=SYSTEM)
    reg = _case(app)
    client = app.test_client()
    client.post("/public/track", data={"reference": reg.reference, "lookup_code": reg.lookup_code})
    client.post(f"/public/case/{reg.reference}/rating", data={"level": "2", **ONLINE, "comment": "等待太久"})
    staff = app.test_client()
    login(staff, "regs1")
    worklist = staff.get("/").get_data(as_text=True)
    assert "核实差评" in worklist
    with uow_for(app, write=False) as r:
        task = r.session.execute(select(HumanTask).where(HumanTask.spec_name == "verify_rating")).scalar_one()
        task_id, case_id = task.id, task.case_id
    assert staff.get(f"/cases/{case_id}").status_code == 200
    assert staff.post(f"/tasks/{task_id}/claim").status_code in (302, 303)
    page = staff.get(f"/tasks/{task_id}")
    assert page.status_code == 200 and "核实结论" in page.get_data(as_text=True)
    done = staff.post(f"/tasks/{task_id}", data={"verification_result": "explain", "verification_notes": "按规定办理",
                                                 "verifier": "何静", "verified_on": "2018-03-02"})
    assert done.status_code in (302, 303), done.get_data(as_text=True)[:2000]
    with uow_for(app, write=False) as r:
        names = r.session.execute(select(HumanTask.spec_name).where(HumanTask.case_id == case_id,
                                                                    HumanTask.state == "ready")).scalars().all()
    assert names == ["explain"]
