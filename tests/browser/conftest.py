"""A real server (werkzeug, in a thread, on a free loopback port) with the demo data, and a real Chromium.

A failing test leaves a screenshot of its page in test-artifacts/ (gitignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from browser_support import ARTIFACTS, live_server
from pg_support import fresh_pg_database

from app import uow_for, workflows_dir
from services import demo

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def seed_eia(app) -> None:
    """The catalog's units, the demo users and the EIA matter's diagram (with its shared call activities)."""
    from sqlalchemy import select

    from services import definitions, users
    from services.actors import Actor
    from storage.models import Unit
    from workflows.catalog import load_catalog

    actor = Actor.system("test")
    users.ensure_units(uow_for(app), [(u.code, u.name_zh, u.name_en) for u in load_catalog().units], actor)
    diagram = workflows_dir(app) / "m01_eia_approval.bpmn"
    definitions.deploy_bundle(
        uow_for(app), definitions.bundle_for(diagram), diagram.name, actor, process_id="m01_eia_approval"
    )
    with uow_for(app, write=False) as r:
        code_by_name = dict(r.session.execute(select(Unit.name_zh, Unit.code)).all())
    for username, display, unit_name, roles in demo.DEMO_USERS:
        users.create_user(
            uow_for(app),
            username=username,
            password=demo.DEMO_PASSWORD,
            display_name=display,
            roles=roles,
            unit_code=code_by_name.get(unit_name) if unit_name else None,
            actor=actor,
        )


@pytest.fixture(scope="module", params=("sqlite", "postgresql"))
def live_app(request, tmp_path_factory):
    """The app on a fresh database of each backend, served on a free loopback port."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'runonce.db'}"
        else:
            url = stack.enter_context(fresh_pg_database())
        yield stack.enter_context(live_server(url, seed_eia))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request) -> Iterator:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()
