"""Editing a process in the browser (the bpmn-js modeler posts its XML): save-and-deploy makes the next version
from the bundle of the version edited; a stale base version is refused with the designer's XML handed back; a
rejected diagram names file, line and element and deploys nothing; CSRF and the designer role are required."""

from __future__ import annotations

import re
import shutil

import pytest
from sqlalchemy import select
from web_support import PASSWORD, make_app, seed_people

from app import uow_for, workflows_dir
from services import definitions
from services.actors import Actor
from services.errors import Conflict
from storage.models import ProcessDefinition

PROCESS = "m01_eia_approval"
MAIN = f"{PROCESS}.bpmn"
DEPLOY = f"/designer/processes/{PROCESS}/deploy"
CHECK = f"/designer/processes/{PROCESS}/check"


@pytest.fixture
def m01(app):
    diagram = workflows_dir(app) / MAIN
    definitions.deploy_bundle(uow_for(app), definitions.bundle_for(diagram), MAIN, Actor.system("test"))
    return diagram.read_text(encoding="utf-8")


def versions(app) -> list[tuple[int, list[str]]]:
    with uow_for(app, write=False) as r:
        rows = r.session.execute(
            select(ProcessDefinition).where(ProcessDefinition.process_id == PROCESS).order_by(ProcessDefinition.version)
        ).scalars()
        return [(d.version, sorted(d.files)) for d in rows]


def stored_files(app, version: int) -> dict[str, str]:
    with uow_for(app, write=False) as r:
        return dict(
            r.session.execute(
                select(ProcessDefinition.files).where(
                    ProcessDefinition.process_id == PROCESS, ProcessDefinition.version == version
                )
            ).scalar_one()
        )


def renamed(xml: str, old: str = 'name="审查"', new: str = 'name="技术审查"') -> str:
    assert old in xml
    return xml.replace(old, new, 1)


def test_the_list_offers_edit_and_the_editor_loads_the_latest_version(app, login_as, m01):
    client = login_as("designer1")
    page = client.get("/designer/").get_data(as_text=True)
    assert f'href="/designer/processes/{PROCESS}/edit"' in page and "编辑" in page and "新建流程" in page
    page = client.get(f"/designer/processes/{PROCESS}/edit").get_data(as_text=True)
    assert "bpmn-modeler.production.min.js" in page and "modeler.js" in page
    assert 'data-base-version="1"' in page and "保存并部署" in page and "检查" in page and "基于第 1 版" in page
    xml_url = re.search(r'data-xml-url="([^"]+)"', page).group(1)
    assert client.get(xml_url).get_data(as_text=True) == m01
    assert client.get("/designer/processes/nope/edit").status_code == 404


def test_save_and_deploy_makes_the_next_version_with_the_shared_files_of_the_edited_one(
    app, login_as, m01, tmp_path
):
    v1 = stored_files(app, 1)
    # The shared call activities on disk changed meanwhile: the edit must not pick that up.
    (tmp_path / "shared").mkdir()
    for path in (workflows_dir(app) / "shared").glob("*.bpmn"):
        shutil.copy(path, tmp_path / "shared" / path.name)
    changed_shared = tmp_path / "shared" / "result_delivery.bpmn"
    changed_shared.write_text(renamed(changed_shared.read_text(encoding="utf-8"), 'name="', 'name="改 '))
    app.config["WORKFLOWS_DIR"] = str(tmp_path)

    client = login_as("designer1")
    response = client.post(DEPLOY, json={"xml": renamed(m01), "base_version": 1, "note": "改名"})
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["ok"] and data["created"] and data["version"] == 2 and "第 2 版" in data["message"]
    v2 = stored_files(app, 2)
    assert sorted(v2) == sorted(v1)
    assert 'name="技术审查"' in v2[MAIN]
    assert all(v2[name] == v1[name] for name in v1 if name != MAIN)
    page = client.get("/designer/").get_data(as_text=True)
    assert "v2" in page and "改名" in page

    # the same content again: nothing new
    again = client.post(DEPLOY, json={"xml": renamed(m01), "base_version": 2}).get_json()
    assert again["ok"] and not again["created"] and again["version"] == 2
    assert [v for v, _ in versions(app)] == [1, 2]


def test_a_stale_base_version_is_refused_with_the_designers_xml(app, login_as, m01):
    # someone else deploys version 2 while our designer edits version 1
    files = {**stored_files(app, 1), MAIN: renamed(m01, 'name="审批决定"', 'name="厅领导审批决定"')}
    definitions.deploy_bundle(uow_for(app), files, MAIN, Actor.system("other"), expected_version=1)
    mine = renamed(m01)
    client = login_as("designer1")
    response = client.post(DEPLOY, json={"xml": mine, "base_version": 1})
    assert response.status_code == 409
    data = response.get_json()
    assert data["error"] == "conflict" and data["latest"] == 2 and data["xml"] == mine
    assert "在您打开之后，他人部署了 m01_eia_approval 的第 2 版（您编辑的是第 1 版）" in data["message"]
    assert "本次未部署任何内容" in data["message"]
    assert [v for v, _ in versions(app)] == [1, 2]
    assert 'name="技术审查"' not in stored_files(app, 2)[MAIN]


def test_deploy_bundle_refuses_a_stale_expected_version_and_writes_nothing(app, m01):
    files = {**stored_files(app, 1), MAIN: renamed(m01)}
    with pytest.raises(Conflict) as caught:
        definitions.deploy_bundle(uow_for(app), files, MAIN, Actor.system("test"), expected_version=7)
    assert caught.value.params == {"process_id": PROCESS, "latest": 1, "base": 7}
    with pytest.raises(Conflict):  # 0: "must not exist yet"
        definitions.deploy_bundle(uow_for(app), files, MAIN, Actor.system("test"), expected_version=0)
    assert [v for v, _ in versions(app)] == [1]
    ok = definitions.deploy_bundle(uow_for(app), files, MAIN, Actor.system("test"), expected_version=1)
    assert ok.created and ok.version == 2


def test_a_deploy_racing_past_the_version_check_is_refused_as_stale(app, m01, monkeypatch):
    """Two saves from the same base at the same moment: both pass the check, the unique (process, version)
    row stops the second one, which is then reported as stale like any other conflicting edit."""
    files = {**stored_files(app, 1), MAIN: renamed(m01, 'name="审批决定"', 'name="厅领导审批决定"')}
    definitions.deploy_bundle(uow_for(app), files, MAIN, Actor.system("other"), expected_version=1)
    real, calls = definitions._latest_version, []

    def as_seen_before_the_other_commit(session, process_id):
        calls.append(process_id)
        return 1 if len(calls) <= 2 else real(session, process_id)

    monkeypatch.setattr(definitions, "_latest_version", as_seen_before_the_other_commit)
    mine = {**stored_files(app, 1), MAIN: renamed(m01)}
    with pytest.raises(Conflict) as caught:
        definitions.deploy_bundle(uow_for(app), mine, MAIN, Actor.system("test"), expected_version=1)
    assert caught.value.params == {"process_id": PROCESS, "latest": 2, "base": 1} and len(calls) == 3
    assert [v for v, _ in versions(app)] == [1, 2]


HOSTILE = 'revision_rounds = revision_rounds + 1\nimport_me = __import__("os").system("id")\n'


def test_a_hostile_script_is_rejected_naming_the_element_and_nothing_is_deployed(app, login_as, m01):
    hostile = re.sub(
        r"(<bpmn:scriptTask id=\"count_revision\".*?<bpmn:script>).*?(</bpmn:script>)",
        lambda m: m.group(1) + HOSTILE + m.group(2),
        m01,
        flags=re.S,
    )
    assert hostile != m01
    client = login_as("designer1")
    for url in (CHECK, DEPLOY):
        response = client.post(url, json={"xml": hostile, "base_version": 1})
        assert response.status_code == 422, url
        data = response.get_json()
        assert data["error"] == "rejected" and data["element_id"] == "count_revision"
        assert data["file"] == MAIN and data["in_editor"] is True and isinstance(data["line"], int)
        assert data["message"]
    assert [v for v, _ in versions(app)] == [1]


def test_broken_xml_is_rejected_with_its_line_and_a_good_one_passes_the_check(app, login_as, m01):
    client = login_as("designer1")
    broken = m01.replace("</bpmn:userTask>", "", 1)
    data = client.post(DEPLOY, json={"xml": broken, "base_version": 1}).get_json()
    assert data["error"] == "rejected" and data["file"] == MAIN and data["line"]
    response = client.post(CHECK, json={"xml": renamed(m01), "base_version": 1})
    assert response.status_code == 200 and response.get_json()["ok"]
    assert "未部署任何内容" in response.get_json()["message"]
    # a process id changed in the editor is not an edit of this process
    other = m01.replace(f'id="{PROCESS}"', 'id="m01_other"')
    other = other.replace(f'processRef="{PROCESS}"', 'processRef="m01_other"')
    data = client.post(DEPLOY, json={"xml": other, "base_version": 1}).get_json()
    assert data["error"] == "rejected" and data["code"] == "unknown_process"
    assert client.post(DEPLOY, json={"base_version": 1}).status_code == 400
    assert client.post(DEPLOY, json={"xml": m01}).status_code == 400
    assert client.post(DEPLOY, json={"xml": "x" * (2 * 1024 * 1024 + 1), "base_version": 1}).status_code == 400
    assert client.post(DEPLOY, json={"xml": renamed(m01), "base_version": 9}).status_code == 404
    assert [v for v, _ in versions(app)] == [1]


NEW = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="m99_trial" name="试行事项" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="review" name="{name}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_a_new_process_from_an_empty_diagram(app, login_as):
    client = login_as("designer1")
    page = client.get("/designer/new").get_data(as_text=True)
    assert "新建流程" in page and 'data-mode="new"' in page
    blank = client.get("/designer/new/diagram.bpmn").get_data(as_text=True)
    assert client.post("/designer/new/check", json={"xml": blank}).status_code == 200
    response = client.post("/designer/new/deploy", json={"xml": NEW.replace("{name}", "审查"), "note": "新"})
    data = response.get_json()
    assert response.status_code == 200 and data["version"] == 1 and data["process_id"] == "m99_trial"
    assert data["deploy_url"] == "/designer/processes/m99_trial/deploy"
    with uow_for(app, write=False) as r:
        definition = r.session.execute(
            select(ProcessDefinition).where(ProcessDefinition.process_id == "m99_trial")
        ).scalar_one()
        assert definition.main_file == "m99_trial.bpmn" and "shared/window_acceptance.bpmn" in definition.files
    # a second "new" process with the same id is refused: it must be edited instead
    response = client.post("/designer/new/deploy", json={"xml": NEW.replace("{name}", "复审")})
    assert response.status_code == 409 and "已经部署（第 1 版）" in response.get_json()["message"]
    assert response.get_json()["latest_url"] == "/designer/processes/m99_trial/edit"


def test_only_designers_edit(app, client, login_as, m01):
    assert client.get(f"/designer/processes/{PROCESS}/edit").status_code == 302  # to the sign-in page
    assert client.post(DEPLOY, json={"xml": m01, "base_version": 1}).status_code == 302
    login_as("eia1")
    assert client.get(f"/designer/processes/{PROCESS}/edit").status_code == 403
    assert client.get("/designer/new").status_code == 403
    assert client.post(DEPLOY, json={"xml": renamed(m01), "base_version": 1}).status_code == 403
    assert client.post("/designer/new/deploy", json={"xml": NEW.replace("{name}", "x")}).status_code == 403
    assert [v for v, _ in versions(app)] == [1]


def test_csrf_token_is_required(db_url):
    app = make_app(db_url, WTF_CSRF_ENABLED=True)
    try:
        seed_people(app)
        diagram = workflows_dir(app) / MAIN
        definitions.deploy_bundle(uow_for(app), definitions.bundle_for(diagram), MAIN, Actor.system("test"))
        client = app.test_client()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").get_data(as_text=True))
        response = client.post("/login", data={"username": "designer1", "password": PASSWORD, "csrf_token": token[1]})
        assert response.status_code == 302
        page = client.get(f"/designer/processes/{PROCESS}/edit").get_data(as_text=True)
        csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)
        xml = renamed(diagram.read_text(encoding="utf-8"))
        assert client.post(DEPLOY, json={"xml": xml, "base_version": 1}).status_code == 400
        forged = client.post(DEPLOY, json={"xml": xml, "base_version": 1}, headers={"X-CSRFToken": "forged"})
        assert forged.status_code == 400
        assert versions(app) and [v for v, _ in versions(app)] == [1]
        response = client.post(DEPLOY, json={"xml": xml, "base_version": 1}, headers={"X-CSRFToken": csrf})
        assert response.status_code == 200 and response.get_json()["version"] == 2
    finally:
        app.extensions["runonce.engine"].dispose()
