"""Credit records on the staff pages (web/credit.py): the panel on the handler's case page, never on the applicant's
pages; the supervisors' list, export and a lead's recording form. SQLite only (services test both backends)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from web_support import login, make_app, seed_people

from app import uow_for
from services import cases, credit
from services.actors import Actor
from services.definitions import bundle_for, deploy_bundle

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
CODE = "91220000123456789K"
LEAD = Actor("eia_lead", roles=frozenset({"lead"}))


@pytest.fixture
def app(db_url):
    app = make_app(db_url, APPLICANT_LOOKUP_DELAY=0.0)
    app.user_ids = seed_people(app)
    path = ROOT / "workflows" / "m01_eia_approval.bpmn"
    deploy_bundle(uow_for(app), bundle_for(path), path.name, Actor.system("test"))
    yield app
    app.extensions["runonce.engine"].dispose()


def test_staff_see_the_applicants_credit_record_and_applicants_never_do(app):
    today = date.today()  # the pages count expiry from the real today
    credit.record(uow_for(app), credit.NewRecord(CODE, "吉林某化工有限公司", "false_materials", "伪造监测报告",
                                                 "2018M02000012", today, today + timedelta(days=1000)), LEAD)
    reg = cases.register_case(uow_for(app), matter_code="m01", data={"report_type": "table"},
                              applicant=cases.Applicant("吉林某化工有限公司", CODE, "张三", "13912345678"),
                              channel="online", delivery_mode="post",
                              actor=Actor("applicant:" + CODE, roles=frozenset({"applicant"})))
    staff = app.test_client()
    login(staff, "window1")
    page = staff.get(f"/cases/{reg.case_id}").get_data(as_text=True)
    assert 'id="credit-records"' in page and "伪造监测报告" in page
    checked = staff.get(f"/credit/check?code={CODE.lower()}").get_json()
    assert [r["finding"] for r in checked["records"]] == ["伪造监测报告"]
    shown = staff.post("/cases/new", data={"applicant_credit_code": CODE}).get_data(as_text=True)
    assert 'id="credit-records"' in shown  # the registration form, re-shown with its errors, shows the record
    public = app.test_client()
    assert public.get(f"/credit/check?code={CODE}").status_code in (302, 401)
    public.post("/public/track", data={"reference": reg.reference, "lookup_code": reg.lookup_code})
    for url in (f"/public/case/{reg.reference}", "/public/", "/public/ratings"):
        assert "伪造监测报告" not in public.get(url).get_data(as_text=True)
    sup = app.test_client()
    login(sup, "supervisor1")
    assert "伪造监测报告" in sup.get("/credit/").get_data(as_text=True)
    export = sup.get("/credit/export.csv")
    assert export.mimetype == "text/csv" and "伪造监测报告" in export.get_data(as_text=True)
    assert sup.post("/credit/", data={}).status_code == 403  # supervisors are read-only
    lead = app.test_client()
    login(lead, "eia_lead")
    made = lead.post("/credit/", data={"credit_code": CODE, "subject_name": "吉林某化工有限公司", "kind": "deception",
                                       "finding": "隐瞒有关情况", "source": "吉环审字〔2018〕5号",
                                       "recorded_on": "2018-04-01", "expires_on": "2021-04-01"})
    assert made.status_code == 302
    assert "隐瞒有关情况" in sup.get(f"/credit/?code={CODE}").get_data(as_text=True)
