"""双随机一公开 pages (web/spot_checks.py): a lead imports the registry, publishes a plan with its seed and draws it;
a redraw needs a reason; the public page shows the seed, both rounds and their digests, and the published inputs
re-run to the same result. SQLite only (services test both backends)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from web_support import login, make_app, seed_people

from app import uow_for
from services import spot_checks, users
from services.actors import Actor
from services.credit_code import check_character
from services.definitions import bundle_for, deploy_bundle

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
SYSTEM = Actor.system("test")


def code(n: int) -> str:
    first = f"912200001234{n:05d}"
    return first + check_character(first)


@pytest.fixture
def app(db_url):
    app = make_app(db_url)
    app.user_ids = seed_people(app)
    users.ensure_units(uow_for(app), [("inspection_corps", "监察总队", "Inspection Corps")], SYSTEM)
    for badge in ("JC001", "JC002", "JC003"):
        spot_checks.add_inspector(uow_for(app), f"检查员{badge}", badge, "inspection_corps", SYSTEM)
    path = ROOT / "workflows" / "p03_inspection.bpmn"
    deploy_bundle(uow_for(app), bundle_for(path), path.name, SYSTEM)
    yield app
    app.extensions["runonce.engine"].dispose()


def _plans(app):
    with uow_for(app, write=False) as r:
        return spot_checks.public_plans(r.session)


def test_a_lead_draws_a_plan_and_the_public_can_rerun_it(app):
    lead = app.test_client()
    login(lead, "eia_lead")
    csv_text = "credit_code,name,entity_type\n" + "".join(f"{code(i)},企业{i},m02\n" for i in range(8))
    sent = lead.post("/spot-checks/registry", data={"file": (io.BytesIO(csv_text.encode()), "registry.csv")},
                     content_type="multipart/form-data")
    assert sent.status_code == 302
    made = lead.post("/spot-checks/plans", data={
        "title": "危废经营单位抽查", "entity_type": "m02", "inspector_unit": "inspection_corps", "sample_count": "3",
        "period_start": "2018-05-01", "period_end": "2018-06-30", "seed": "2018-05-02 福彩3D 407"})
    assert made.status_code == 302
    [plan] = _plans(app)
    assert lead.post(f"/spot-checks/plans/{plan.plan.id}/draw", data={}).status_code == 302
    assert lead.post(f"/spot-checks/plans/{plan.plan.id}/draw", data={"reason": ""}).status_code == 409
    assert lead.post(f"/spot-checks/plans/{plan.plan.id}/draw", data={"reason": "被检查单位已注销"}).status_code == 302
    sup = app.test_client()
    login(sup, "supervisor1")
    assert sup.get("/spot-checks/").status_code == 200
    assert sup.post(f"/spot-checks/plans/{plan.plan.id}/draw", data={"reason": "x"}).status_code == 403
    page = app.test_client().get("/public/spot-checks").get_data(as_text=True)
    assert "2018-05-02 福彩3D 407" in page and "被检查单位已注销" in page and page.count('class="spot-item"') == 6
    draws = _plans(app)[0].draws
    for d in draws:
        inputs = json.loads(app.test_client().get(f"/public/spot-checks/draws/{d.id}.json").data)
        assert inputs["verified"] is True and d.digest in page
        # re-run from the published inputs alone, as anyone would
        seed, rnd = inputs["seed"], inputs["round"]
        rank = sorted(inputs["candidates"],
                      key=lambda c: hashlib.sha256(f"{seed}|{rnd}|entity|{c}".encode()).hexdigest())[:inputs["n"]]
        result = [[c, sorted(inputs["inspectors"],
                             key=lambda b: hashlib.sha256(f"{seed}|{rnd}|{c}|{b}".encode()).hexdigest())[:2]]
                  for c in rank]
        body = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
        assert hashlib.sha256(body.encode()).hexdigest() == inputs["digest"]
