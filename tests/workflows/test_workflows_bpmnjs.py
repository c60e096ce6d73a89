"""bpmn-js 18 (the viewer and the modeler that the designer page uses) imports every diagram with zero warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from driver import ROOT, bpmn_files
from xmlmodel import load

CHROMIUM = Path("/usr/bin/chromium")
DIST = ROOT / "node_modules" / "bpmn-js" / "dist"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
IMPORT_ALL = """async (files) => {
  const out = {};
  for (const [name, xml] of Object.entries(files)) {
    const el = document.createElement('div');
    el.style.width = '1600px'; el.style.height = '900px';
    document.body.appendChild(el);
    const viewer = new BpmnJS({container: el});
    try {
      const result = await viewer.importXML(xml);
      const ids = viewer.get('elementRegistry').getAll().map(e => e.id);
      out[name] = {warnings: result.warnings.map(w => w.message), ids};
    } catch (err) {
      out[name] = {error: String(err && err.message || err), warnings: (err.warnings || []).map(w => w.message)};
    }
    viewer.destroy(); el.remove();
  }
  return out;
}"""

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed at /usr/bin/chromium: run `make setup`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("bundle", ["bpmn-navigated-viewer.production.min.js", "bpmn-modeler.production.min.js"])
def test_bpmnjs_imports_every_diagram_without_warnings(browser, bundle):
    page = browser.new_page()
    try:
        page.set_content("<!doctype html><html><head><meta charset='utf-8'></head><body></body></html>")
        page.add_script_tag(path=str(DIST / bundle))
        files = {str(f.relative_to(ROOT)): f.read_text(encoding="utf-8") for f in bpmn_files()}
        results = page.evaluate(IMPORT_ALL, files)
    finally:
        page.close()
    assert set(results) == set(files)
    problems = {name: r for name, r in results.items() if r.get("error") or r["warnings"]}
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)
    for name, r in results.items():
        m = load(ROOT / name)
        drawn = set(r["ids"])
        missing = (set(m.nodes) | set(m.flows) | set(m.lanes) | set(m.participants)) - drawn
        assert not missing, f"{name}: bpmn-js did not draw {sorted(missing)}"


def test_bpmnjs_reports_a_broken_diagram(browser):
    """The check above can fail: DI that points at a missing element is a bpmn-js import warning."""
    page = browser.new_page()
    try:
        page.set_content("<!doctype html><html><head><meta charset='utf-8'></head><body></body></html>")
        page.add_script_tag(path=str(DIST / "bpmn-navigated-viewer.production.min.js"))
        xml = (ROOT / "workflows" / "shared" / "result_delivery.bpmn").read_text(encoding="utf-8")
        broken = xml.replace('bpmnElement="deliver_post"', 'bpmnElement="no_such_element"')
        results = page.evaluate(IMPORT_ALL, {"broken": broken})
    finally:
        page.close()
    assert results["broken"]["warnings"], results
