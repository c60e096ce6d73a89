"""Supervisors in Chromium: the dashboard's charts drawn from the JSON (ECharts under the CSP), a number opening
its case list and a case's history, the matter's diagram as a heatmap. Screenshots in test-artifacts/."""

from __future__ import annotations

import pytest
from browser_support import artifacts

from app import uow_for
from services import cases
from services.actors import Actor
from services.demo import DEMO_PASSWORD
from services.demo_cases import complete_step, people_by_lane
from workflows import scenarios as sc

pytestmark = pytest.mark.browser


def _cases(app) -> None:
    """Two m01 cases through the service layer: one accepted and in review, one waiting at the window."""
    uow = uow_for(app)
    people = people_by_lane(uow)
    window = Actor("window1", roles=frozenset({"window"}))
    for steps in (sc.m01_steps()[:3], []):
        registration = cases.register_case(uow, matter_code="m01", applicant=cases.Applicant(name="吉林某化工有限公司"),
                                           channel="window", delivery_mode="post", actor=window,
                                           data={"report_type": "report"})
        for name, payload in steps:
            assert complete_step(uow, registration.case_id, name, payload, people), name


@pytest.mark.parametrize("live_app", ["sqlite"], indirect=True)
def test_dashboard_case_list_and_heatmap(live_app, page):
    _cases(live_app)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
    base = live_app.base_url
    page.goto(f"{base}/login")
    page.fill("#username", "supervisor1")
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{base}/**")

    page.goto(f"{base}/supervisor/dashboard")
    page.wait_for_selector("#chart-months[data-state=ready]")
    page.wait_for_selector("#chart-matters[data-state=ready]")
    assert page.locator("#chart-matters canvas").count() >= 1  # ECharts drew
    page.screenshot(path=str(artifacts() / "supervisor-dashboard.png"), full_page=True)
    accepted = page.locator("#kpis .kpi").first.locator("a")
    assert accepted.inner_text() == "1"
    accepted.click()
    page.wait_for_selector("#case-results")
    assert page.locator("#case-count").inner_text() == "共 1 件"
    page.screenshot(path=str(artifacts() / "supervisor-case-list.png"), full_page=True)
    page.locator("#case-results tbody a").first.click()
    page.wait_for_selector("#case-events")
    assert page.locator("#case-events tbody tr").count() >= 3
    page.screenshot(path=str(artifacts() / "supervisor-case-history.png"), full_page=True)

    page.goto(f"{base}/supervisor/matters/m01")
    page.wait_for_selector("#heatmap[data-state=ready]")
    assert int(page.get_attribute("#heatmap", "data-marked")) >= 2
    assert page.locator(".heat-badge").count() >= 2 and page.locator(".flow-badge").count() >= 1
    page.screenshot(path=str(artifacts() / "supervisor-heatmap.png"), full_page=True)
    assert not refused, refused
