"""Phones: at 390 px no page a demo user reaches scrolls sideways, nor any box in it (tables become cards), in
Chinese and English; the staff case page says what the case waits for at 1366 px and at 390 px. The pages are found
by walking the links (tests/crawl_support.py), so pages added later are checked too. SQLite only: this is about
layout.

A failing test leaves a screenshot of the page in test-artifacts/.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from browser_support import artifacts, live_server
from crawl_support import crawl, parameterless_pages

from app import uow_for, workflows_dir
from services import demo, spot_checks
from services.actors import Actor
from services.credit_code import check_character
from services.demo_cases import seed_cases

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
# One person per kind of page; a page is visited once per pattern (one case page stands for the others).
PEOPLE = ("window1", "eia_lead", "admin", "supervisor1")
SHARED = ("/public", "/login", "/account")  # pages that do not depend on who is signed in


def _seed(app) -> None:
    demo.seed(uow_for(app), workflows_dir(app))
    seed_cases(uow_for(app))
    _published_draw(app)


def _published_draw(app) -> None:
    """A spot-check plan drawn once, so the public results table (long names, codes, digests) is on the pages."""
    uow, lead = uow_for(app), Actor("corps_lead", roles=frozenset({"lead"}), unit_code="inspection_corps")
    codes = [f"912200001234{n:05d}" for n in range(4)]
    spot_checks.import_entities(uow, "\n".join(["credit_code,name,entity_type,address"] + [
        f"{c}{check_character(c)},吉林省某某危险废物处置有限责任公司第{n}分公司,m02,长春市高新区某某路{n}号"
        for n, c in enumerate(codes)]), lead)
    plan = spot_checks.create_plan(uow, spot_checks.NewPlan(
        title="2018年危险废物经营单位抽查", entity_type="m02", inspector_unit="inspection_corps", sample_count=None,
        sample_share=50, period_start=date(2018, 5, 1), period_end=date(2018, 6, 30),
        seed="2018-05-02 福彩3D 407 0123456789abcdefghijklmnopqrstuvwxyz"), lead)
    spot_checks.draw(uow, plan, lead)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    with live_server(f"sqlite:///{tmp_path_factory.mktemp('phone') / 'runonce.db'}", _seed) as app:
        yield app


def _pages(app, username: str | None) -> list[str]:
    """The pages the person reaches, found with the app's test client (fast), to be opened in Chromium."""
    client = app.test_client()
    if username:  # the served app checks CSRF tokens: take the sign-in form's
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
        response = client.post("/login", data={"username": username, "password": demo.DEMO_PASSWORD,
                                               "csrf_token": token.group(1) if token else ""})
        assert response.status_code == 302, username
    # The role's home first ("/" redirects there: a supervisor's dashboard), then the url_map's pages.
    home = client.get("/").headers.get("Location", "/")
    found = [page.url for page in crawl(client, [home, "/", *parameterless_pages(app)], limit=25, per_pattern=1)
             if page.status == 200]
    return found


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", demo.DEMO_PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(lambda url: "/login" not in url)  # the role's home: worklist, admin page …


def _too_wide(page) -> list[str]:
    """The page's horizontal overflow, and the widest elements that cause it (for the message); or a box of the
    page that scrolls sideways itself (a table in an overflow-x wrapper), except the pannable diagrams."""
    return page.evaluate("""() => {
      const limit = document.documentElement.clientWidth;
      const inner = [];
      for (const el of document.querySelectorAll('body *')) {
        const style = getComputedStyle(el);
        if (['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1 &&
            !el.closest('.diagram, .djs-container') && !['TEXTAREA', 'INPUT', 'SELECT'].includes(el.tagName)) {
          inner.push('scrolls sideways: ' + el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                     (typeof el.className === 'string' && el.className ? '.' + el.className.split(' ')[0] : '') +
                     ' ' + el.scrollWidth + ' > ' + el.clientWidth);
        }
      }
      if (document.documentElement.scrollWidth <= limit + 1) return inner.slice(0, 6);
      const wide = [];
      for (const el of document.querySelectorAll('body *')) {
        const box = el.getBoundingClientRect();
        if (box.right > limit + 1 && box.width > 0 && getComputedStyle(el).position !== 'fixed') {
          wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                    (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '') +
                    ' ' + Math.round(box.right));
        }
      }
      return ['scrollWidth ' + document.documentElement.scrollWidth, ...wide.slice(0, 6), ...inner.slice(0, 3)];
    }""")


def _shot(page, name: str) -> None:
    page.screenshot(path=str(artifacts() / (re.sub(r"[^\w.-]+", "_", name) + ".png")), full_page=True)


@pytest.mark.parametrize("lang, people", [("zh_CN", (None, *PEOPLE)), ("en", ("eia_lead",))])
def test_no_page_scrolls_sideways_on_a_phone(demo_server, browser, lang, people):
    base = demo_server.base_url
    problems: dict[str, list[str]] = {}
    visited = 0
    shown: set[str] = set()
    for username in people:
        context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, device_scale_factor=1)
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            if lang != "zh_CN":
                page.goto(f"{base}/login")
                page.click(f"button[name=lang][value={lang}]")
                page.wait_for_load_state()
            if username:
                _sign_in(page, base, username)
            for path in _pages(demo_server, username):
                if path.startswith(SHARED) and path in shown:
                    continue  # the same public page for everyone: once is enough
                shown.add(path)
                visited += 1
                page.goto(base + path)
                page.wait_for_load_state()
                wide = _too_wide(page)
                if wide:
                    problems[f"{username} {path}"] = wide
                    _shot(page, f"phone_{lang}_{username}_{path}")
        finally:
            context.close()
    assert visited >= 6 * len(people), visited  # the walk reached the people's pages
    assert not problems, "\n".join(f"{where}: {what}" for where, what in problems.items())


@pytest.mark.parametrize("viewport, lang", [(DESKTOP, "zh_CN"), (PHONE, "zh_CN"), (PHONE, "en")],
                         ids=["1366-zh", "390-zh", "390-en"])
def test_the_case_page_says_what_happens_next(demo_server, browser, viewport, lang):
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    try:
        if lang != "zh_CN":
            page.goto(f"{demo_server.base_url}/login")
            page.click(f"button[name=lang][value={lang}]")
            page.wait_for_load_state()
        _sign_in(page, demo_server.base_url, "eia_lead")
        page.goto(f"{demo_server.base_url}/")
        page.click("table.worklist tbody tr a[href^='/cases/']")
        sentence = page.locator("#next-step")
        sentence.wait_for()
        assert sentence.is_visible()
        text = sentence.inner_text()
        if lang == "zh_CN":
            assert text.startswith("等待") and "办理时限" in text, text
        else:  # the unit and the step in English too
            assert text.startswith("Waiting for EIA Division: ") and "Time limit" in text, text
            assert not re.search(r"[\u4e00-\u9fff]", text), text
        # The sentence is in the first screen, above the diagram.
        assert sentence.bounding_box()["y"] < viewport["height"]
        # The diagram opens readable (never below its minimum zoom) with the current step in sight.
        page.wait_for_selector("#diagram[data-state=ready]")
        assert float(page.get_attribute("#diagram", "data-zoom")) >= 0.6 - 1e-6
        box = page.locator("#diagram").bounding_box()
        current = page.locator("#diagram .djs-element.marker-current").first.bounding_box()
        middle = (current["x"] + current["width"] / 2, current["y"] + current["height"] / 2)
        assert box["x"] <= middle[0] <= box["x"] + box["width"] and box["y"] <= middle[1] <= box["y"] + box["height"]
        zoom = float(page.get_attribute("#diagram", "data-zoom"))
        page.click("[data-diagram-zoom=in]")
        assert float(page.get_attribute("#diagram", "data-zoom")) > zoom
        if viewport is PHONE:  # the task list is cards: each cell is labelled with its column
            label = page.locator("table.list tbody td[data-label]").first.get_attribute("data-label")
            assert label
    except Exception:
        _shot(page, f"case_next_step_{viewport['width']}_{lang}")
        raise
    finally:
        context.close()


def test_registration_offers_only_the_deliveries_of_the_matter(demo_server, browser):
    """m02 has no online delivery (m07 has): choosing m02 takes 网上下载 away (it was offered, then refused)."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    try:
        _sign_in(page, demo_server.base_url, "window1")
        page.goto(f"{demo_server.base_url}/cases/new")
        online = page.locator("input[name=delivery_mode][value=online]")
        page.select_option("select[name=matter]", "m07")
        page.check("input[name=channel][value=online]")
        assert online.is_enabled()
        online.check()
        page.select_option("select[name=matter]", "m02")
        assert online.is_disabled() and not online.is_checked()
        assert page.locator("input[name=delivery_mode]:checked").count() == 1  # an offered one instead
    except Exception:
        _shot(page, "registration_deliveries")
        raise
    finally:
        context.close()
