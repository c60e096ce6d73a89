"""The deploy gate on the designer's pages: the modeler's check/deploy (JSON) and the upload form. Problems come
back in Chinese with their elements (the editor marks them), nothing is deployed, and only data-flow findings
may be overridden with a reason, which the audit log shows."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from web_support import login

from app import uow_for, workflows_dir
from services import definitions
from services.actors import Actor
from storage.models import ProcessDefinition

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))
from modeler_edits import add_condition_flow, delete_step  # noqa: E402

pytestmark = pytest.mark.timeout(300)

M07 = "m07_radiation_project_confirmation"
M07_FILE = f"{M07}.bpmn"
DEPLOY = f"/designer/processes/{M07}/deploy"
CHECK = f"/designer/processes/{M07}/check"


@pytest.fixture
def m07(app) -> str:
    diagram = workflows_dir(app) / M07_FILE
    definitions.deploy_bundle(uow_for(app), definitions.bundle_for(diagram), M07_FILE, Actor.system("test"))
    return diagram.read_text(encoding="utf-8")


def _versions(app) -> list[int]:
    with uow_for(app, write=False) as r:
        return list(r.session.execute(select(ProcessDefinition.version).where(ProcessDefinition.process_id == M07)
                                      .order_by(ProcessDefinition.version)).scalars())


def test_the_editor_refuses_the_deleted_decision_and_marks_every_element(app, login_as, m07):
    edited = delete_step(m07, "decide").decode("utf-8")
    client = login_as("designer1")
    for url in (CHECK, DEPLOY):
        response = client.post(url, json={"xml": edited, "base_version": 1})
        assert response.status_code == 422, url
        data = response.get_json()
        assert data["error"] == "rejected" and data["code"] == "gate" and data["overridable"] is False
        assert "未部署" in data["message"]
        marked = {(p["element_id"], p["kind"], p["in_editor"]) for p in data["problems"]}
        assert {("Flow_gw_decision_to_issue_approval", "data_flow", True), ("record_outcome", "data_flow", True),
                ("gw_decision", "scenario", True)} <= marked
        assert all("decision" in p["message"] and "NameError" not in p["message"] for p in data["problems"])
        assert data["element_id"] and data["in_editor"] is True and data["file"] == M07_FILE
    # a reason does not let a failing scenario through
    response = client.post(DEPLOY, json={"xml": edited, "base_version": 1, "override_reason": "先上线再说"})
    assert response.status_code == 422 and response.get_json()["overridable"] is False
    assert _versions(app) == [1]


def test_data_flow_findings_are_overridden_with_a_reason_that_the_audit_log_shows(app, login_as, m07):
    edited = add_condition_flow(m07, "Flow_urgent", "gw_accepted", "end_not_accepted",
                                'accepted == "later" and urgent_flag == True').decode("utf-8")
    client = login_as("designer1")
    data = client.post(DEPLOY, json={"xml": edited, "base_version": 1}).get_json()
    assert data["error"] == "rejected" and data["overridable"] is True
    assert [(p["element_id"], p["kind"]) for p in data["problems"]] == [("Flow_urgent", "data_flow")]
    assert "urgent_flag" in data["problems"][0]["message"] and "原因" in data["message"]
    response = client.post(DEPLOY, json={"xml": edited, "base_version": 1, "override_reason": "紧急件标记下一版补上"})
    assert response.status_code == 200 and response.get_json()["version"] == 2
    assert _versions(app) == [1, 2]
    supervisor = app.test_client()
    assert login(supervisor, "supervisor1").status_code == 302
    page = supervisor.get("/supervisor/audit?action=definition.deployed").get_data(as_text=True)
    assert "存在 1 处数据流问题仍部署，原因：紧急件标记下一版补上" in page


def test_the_upload_form_lists_the_problems_and_deploys_nothing(app, login_as, m07):
    edited = delete_step(m07, "decide")
    client = login_as("designer1")
    response = client.post("/designer/", data={"diagram": (io.BytesIO(edited), M07_FILE), "note": "删掉决定"},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'class="gate-problems"' in page and 'data-element="gw_decision"' in page
    assert 'data-element="Flow_gw_decision_to_issue_approval"' in page and "decision" in page
    assert "override_reason" not in page  # nothing to override: the scenarios fail
    assert _versions(app) == [1]


def test_the_editor_page_carries_the_gate_texts(app, login_as, m07):
    page = login_as("designer1").get(f"/designer/processes/{M07}/edit").get_data(as_text=True)
    assert "override_button" in page and "problems" in page


def test_the_deploy_command_deploys_the_shipped_diagrams_and_refuses_a_broken_one(app, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["deploy"])
    assert result.exit_code == 0, result.output
    # the eleven matters and the department's own processes (workflows/processes.toml)
    from workflows.processes import shipped_processes

    assert result.output.count("新版本 / new version") == 11 + len(shipped_processes().processes)
    assert all(f"{p.process_id} v1" in result.output for p in shipped_processes().processes)
    (tmp_path / "shared").mkdir()
    for path in (workflows_dir(app) / "shared").glob("*.bpmn"):
        (tmp_path / "shared" / path.name).write_bytes(path.read_bytes())
    (tmp_path / M07_FILE).write_bytes(delete_step((workflows_dir(app) / M07_FILE).read_bytes(), "decide"))
    result = runner.invoke(args=["deploy", str(tmp_path)])
    assert result.exit_code != 0
    assert "gw_decision" in result.output and "Flow_gw_decision_to_issue_approval" in result.output
    assert "未部署" in result.output
    assert _versions(app) == [1]
