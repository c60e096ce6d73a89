"""The process editor in Chromium: the designer opens m01 in the bpmn-js modeler, renames a step, saves and
deploys version 2; someone else then deploys version 3, and a save from the now stale editor is refused with
the designer's change still in the editor (and downloadable). A hostile script is rejected and its element
marked on the canvas, with nothing deployed."""

from __future__ import annotations

import pytest
from browser_support import artifacts
from sqlalchemy import select

from app import uow_for
from services import definitions
from services.actors import Actor
from services.demo import DEMO_PASSWORD
from storage.models import ProcessDefinition

pytestmark = pytest.mark.browser
PROCESS = "m01_eia_approval"
MAIN = f"{PROCESS}.bpmn"


def sign_in_as_designer(page, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", "designer1")
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/designer/")


def open_editor(page) -> None:
    page.click(f"[data-edit={PROCESS}]")
    page.wait_for_selector("#modeler-canvas[data-state=ready]")


def deploy(page) -> None:
    """Deploying asks first (with the changes against the deployed version); confirm."""
    page.click("#modeler-deploy")
    page.click("#modeler-deploy-confirm")


def stored(app) -> dict[int, ProcessDefinition]:
    with uow_for(app, write=False) as r:
        rows = r.session.execute(select(ProcessDefinition).where(ProcessDefinition.process_id == PROCESS)).scalars()
        out = {}
        for d in rows:
            _ = d.files  # deferred: load while the session is open
            out[d.version] = d
        return out


def rename(page, element_id: str, name: str) -> None:
    page.evaluate(
        """([id, name]) => { const m = window.runonceModeler;
             m.get('modeling').updateLabel(m.get('elementRegistry').get(id), name); }""",
        [element_id, name],
    )


def name_in_editor(page, element_id: str) -> str:
    return page.evaluate(
        "id => window.runonceModeler.get('elementRegistry').get(id).businessObject.name", element_id
    )


def test_edit_deploy_and_a_concurrent_deploy_is_refused_without_losing_work(live_app, page, tmp_path):
    app, base = live_app, live_app.base_url
    sign_in_as_designer(page, base)
    before = stored(app)
    assert list(before) == [1]
    open_editor(page)
    assert page.locator("#modeler-canvas .bjs-powered-by").is_visible()  # the bpmn.io watermark stays
    assert page.locator("#modeler-canvas .djs-palette").is_visible()  # the modeler, not the viewer
    assert page.get_attribute("#base-version", "data-version") == "1"
    # The modeler speaks Chinese, and its palette leaves the lanes' names uncovered.
    assert page.get_attribute("#modeler-canvas .djs-palette [data-action='create.task']", "aria-label") == "任务"
    palette = page.locator("#modeler-canvas .djs-palette").bounding_box()
    lane_name = page.locator("#modeler-canvas [data-element-id='Lane_approval_office'] text").first.bounding_box()
    assert lane_name["x"] >= palette["x"] + palette["width"], (lane_name, palette)

    # 1. rename the review step and save: version 2, with the shared call activities of version 1
    rename(page, "review", "技术审查")
    assert page.get_attribute("#modeler-app", "data-dirty") == "true"
    page.fill("#modeler-note", "审查改名")
    page.click("#modeler-deploy")  # asks first, listing what changed against version 1
    page.wait_for_selector("#modeler-message[data-outcome=confirm]")
    assert "第 2 版" in page.inner_text("#modeler-message")
    changed = page.eval_on_selector_all(".deploy-diff[data-kind=changed] li",
                                        "items => items.map(i => i.getAttribute('data-element-id'))")
    assert "review" in changed and page.locator(".deploy-diff[data-kind=added]").count() == 0, changed
    assert sorted(stored(app)) == [1]  # nothing deployed before the confirmation
    page.click("#modeler-deploy-confirm")
    page.wait_for_selector("#modeler-message[data-outcome=deployed]")
    assert "第 2 版" in page.inner_text("#modeler-message")
    assert page.get_attribute("#base-version", "data-version") == "2"
    assert page.get_attribute("#modeler-app", "data-dirty") == "false"

    versions = stored(app)
    assert sorted(versions) == [1, 2]
    v1, v2 = versions[1], versions[2]
    assert v2.note == "审查改名" and sorted(v2.files) == sorted(v1.files)
    assert all(v2.files[n] == v1.files[n] for n in v1.files if n != MAIN)
    old, new = definitions.compiled(v1).human_tasks, definitions.compiled(v2).human_tasks
    assert new["review"].title == "技术审查"
    # bpmn-js kept everything else the engine reads: forms, lanes, properties of every step
    assert {k: (t.form, t.lane, t.properties) for k, t in new.items()} == {
        k: (t.form, t.lane, t.properties) for k, t in old.items()
    }

    listing = page.context.new_page()
    listing.goto(f"{base}/designer/")
    row = listing.locator("table.list tr", has_text="审查改名")
    assert "v2" in row.inner_text()
    listing.close()

    # 2. someone else deploys version 3 meanwhile (through the service, as a second editor would)
    files = {**v2.files, MAIN: v2.files[MAIN].replace('name="审批决定"', 'name="厅领导审批决定"', 1)}
    definitions.deploy_bundle(uow_for(app), files, MAIN, Actor.system("other"), expected_version=2)

    # 3. the stale editor saves again: refused, the change stays in the editor and can be downloaded
    rename(page, "announce", "发布审批公告")
    deploy(page)
    page.wait_for_selector("#modeler-message[data-outcome=conflict]")
    message = page.inner_text("#modeler-message")
    assert "第 3 版" in message and "您编辑的是第 2 版" in message and "未部署任何内容" in message
    assert name_in_editor(page, "announce") == "发布审批公告"
    assert name_in_editor(page, "review") == "技术审查"
    assert page.get_attribute("#modeler-app", "data-dirty") == "true"
    assert sorted(stored(app)) == [1, 2, 3]
    assert "发布审批公告" not in stored(app)[3].files[MAIN]
    with page.expect_download() as download:
        page.click("#modeler-download-mine")
    saved = tmp_path / "mine.bpmn"
    download.value.save_as(saved)
    assert 'name="发布审批公告"' in saved.read_text(encoding="utf-8")
    page.screenshot(path=str(_artifacts() / "designer_conflict.png"))


def test_a_hostile_script_is_rejected_and_marked_in_the_editor(live_app, page):
    app, base = live_app, live_app.base_url
    sign_in_as_designer(page, base)
    open_editor(page)
    before = sorted(stored(app))
    page.evaluate(
        """() => { const m = window.runonceModeler;
             m.get('modeling').updateProperties(m.get('elementRegistry').get('count_revision'),
               { script: "revision_rounds = __import__('os').system('id')" }); }"""
    )
    for button in ("#modeler-check", "#modeler-deploy"):
        page.click(button)
        if button == "#modeler-deploy":
            page.click("#modeler-deploy-confirm")
        page.wait_for_selector("#modeler-message[data-outcome=rejected]")
        text = page.inner_text("#modeler-message")
        assert "__import__" in text and MAIN in text and "count_revision" in text, text
        assert page.get_attribute("#modeler-app", "data-marked") == "count_revision"
        assert page.locator("[data-element-id=count_revision].runonce-error").count() == 1
        assert page.input_value("#prop-id") == "count_revision"  # selected: its script is beside the canvas
        assert "__import__" in page.input_value("#prop-script")
        page.evaluate("() => document.getElementById('modeler-message').removeAttribute('data-outcome')")
    assert sorted(stored(app)) == before
    page.screenshot(path=str(_artifacts() / "designer_rejected.png"))


def test_deleting_the_decision_is_refused_with_every_problem_marked(live_app, page):
    """The hostile finding: 审批决定 deleted in the modeler was accepted and the next case broke. Now the deploy
    gate refuses it, every element that reads `decision` is marked, and no override is offered."""
    app, base = live_app, live_app.base_url
    sign_in_as_designer(page, base)
    open_editor(page)
    before = {v: d.content_hash for v, d in stored(app).items()}
    page.evaluate(
        """() => { const m = window.runonceModeler, registry = m.get('elementRegistry');
             m.get('modeling').removeElements([registry.get('decide')]); }"""
    )
    # bpmn-js reconnects the flow that came in to where the deleted step led
    assert page.evaluate(
        "() => window.runonceModeler.get('elementRegistry').get('Flow_gw_hearing_merge_to_decide').target.id"
    ) == "gw_decision"
    deploy(page)
    page.wait_for_selector("#modeler-message[data-outcome=rejected]")
    text = page.inner_text("#modeler-message")
    assert "未部署" in text and "decision" in text and "NameError" not in text, text
    marked = set(page.get_attribute("#modeler-app", "data-marked").split())
    assert {"gw_decision", "record_outcome", "Flow_gw_decision_to_issue_approval"} <= marked
    shown = page.eval_on_selector_all(".runonce-error", "els => els.map(e => e.getAttribute('data-element-id'))")
    assert set(shown) == marked, shown
    assert page.locator("#gate-problems li").count() >= 3
    assert page.locator("#modeler-override").count() == 0  # failing scenarios are never overridable
    page.locator("#gate-problems li.clickable", has_text="record_outcome").first.click()
    assert page.input_value("#prop-id") == "record_outcome"
    assert {v: d.content_hash for v, d in stored(app).items()} == before
    page.screenshot(path=str(_artifacts() / "designer_gate.png"))


def _artifacts():
    return artifacts()
