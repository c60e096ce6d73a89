"""Supervisor: the audit log with filters and the chain check. Designer: versions and a rejected upload."""

from __future__ import annotations

import io

from sqlalchemy import func, select
from web_support import add_task

from app import uow_for
from storage.models import ProcessDefinition


def test_audit_log_filters_and_verifies(app, login_as):
    task = add_task(app)
    client = login_as("eia1")
    client.post(f"/tasks/{task.id}/claim")
    client.post(f"/tasks/{task.id}/release")
    client.post("/logout")
    client = login_as("supervisor1")
    page = client.get("/supervisor/audit").get_data(as_text=True)
    assert "认领任务" in page and "释放任务" in page and "保存处室" in page
    page = client.get("/supervisor/audit?action=task.claimed").get_data(as_text=True)
    assert "认领任务" in page and "释放任务</td>" not in page
    with uow_for(app, write=False) as r:
        from storage.models import Case

        reference = r.session.get(Case, task.case_id).reference
    page = client.get(f"/supervisor/audit?case={reference}&actor=eia1").get_data(as_text=True)
    assert "共 2 条记录" in page
    page = client.get("/supervisor/audit?verify=1").get_data(as_text=True)
    assert "哈希链完好" in page


def test_audit_log_is_for_supervisors(login_as):
    assert login_as("eia1").get("/supervisor/audit").status_code == 403


def test_designer_lists_versions_and_a_rejected_upload_changes_nothing(app, login_as):
    add_task(app)  # deploys the p_test row
    client = login_as("designer1")
    page = client.get("/designer/").get_data(as_text=True)
    assert "p_test" in page and "v1" in page
    with uow_for(app, write=False) as r:
        before = r.session.execute(select(func.count(ProcessDefinition.id))).scalar_one()
    broken = (
        b'<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">\n'
        b'  <bpmn:process id="p_test" isExecutable="true">\n    <bpmn:startEvent id="s">\n'
        b"  </bpmn:process>\n</bpmn:definitions>\n"
    )
    response = client.post(
        "/designer/",
        data={"diagram": (io.BytesIO(broken), "p_test.bpmn"), "note": "坏文件"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "文件未通过校验，已部署的版本保持不变。" in page and "p_test.bpmn" in page
    with uow_for(app, write=False) as r:
        assert r.session.execute(select(func.count(ProcessDefinition.id))).scalar_one() == before


def test_designer_refuses_other_files(login_as):
    client = login_as("designer1")
    response = client.post(
        "/designer/", data={"diagram": (io.BytesIO(b"x"), "notes.txt")}, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "只能部署 .bpmn 文件。" in response.get_data(as_text=True)


def test_bpmn_js_is_served_from_node_modules_and_nothing_else(client):
    response = client.get("/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")
    assert response.status_code == 200 and b"BpmnJS" in response.data[:200_000]
    assert client.get("/vendor/bpmn-js/assets/bpmn-js.css").status_code == 200
    assert client.get("/vendor/bpmn-js/bpmn-viewer.development.js").status_code == 404
    assert client.get("/vendor/bpmn-js/../package.json").status_code == 404
