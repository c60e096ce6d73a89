"""Every page a demo user reaches (from the navigation, the links of the pages, and the url_map's pages without
parameters) reads in Chinese: no English words outside the allow-list of names and codes, no internal ids (the
applicant's actor, process ids, data keys), no untranslated message ids; and every form leaves the messages about
its fields to the server (``novalidate``), which answers in the page's language.

Generic: the pages are found by walking, so pages added later are checked as well. SQLite only: what is checked
is the text of the pages, not storage.
"""

from __future__ import annotations

import re

import pytest
from crawl_support import crawl, english_in, internal_ids_in, parameterless_pages

from app import create_app, uow_for, workflows_dir
from services import demo
from services.demo_cases import seed_cases
from storage.migrate import upgrade

ANONYMOUS = "(anonymous)"


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('crawl') / 'runonce.db'}"
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SCHEDULER_ENABLED": False,
                      "WTF_CSRF_ENABLED": False, "LOGIN_FAILURE_DELAY": 0.0})
    upgrade(app.extensions["runonce.engine"])
    demo.seed(uow_for(app), workflows_dir(app))
    seed_cases(uow_for(app))
    yield app
    app.extensions["runonce.engine"].dispose()


def _client(app, username: str, lang: str):
    client = app.test_client()
    client.post("/language", data={"lang": lang})
    if username != ANONYMOUS:
        response = client.post("/login", data={"username": username, "password": demo.DEMO_PASSWORD})
        assert response.status_code == 302, username
    return client


def _people() -> list[str]:
    # One person per role is enough; the unit's colleagues see the same pages.
    wanted = {"window1", "window_lead", "eia1", "eia_lead", "leader1", "supervisor1", "designer1", "admin"}
    return [ANONYMOUS, *(u for u, *_ in demo.DEMO_USERS if u in wanted)]


FORM = re.compile(r"<form\b[^>]*>", re.I)
CONSTRAINED = re.compile(r"<(input|select|textarea)\b[^>]*\b(required|pattern=|min=|max=|maxlength=|type=\"(email|url|"
                         r"number|date)\")", re.I)


def _forms_without_novalidate(html: str) -> list[str]:
    """Forms whose fields the browser would check itself (in the browser's language, not the page's)."""
    found = []
    starts = [m for m in FORM.finditer(html)]
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(html)
        body = html[match.end():end].split("</form>", 1)[0]
        if CONSTRAINED.search(body) and "novalidate" not in match.group(0).lower():
            found.append(match.group(0)[:120])
    return found


@pytest.mark.parametrize("username", _people())
def test_chinese_pages_show_no_english_and_no_internal_ids(demo_app, username):
    client = _client(demo_app, username, "zh_CN")
    leaks: dict[str, set[str]] = {}
    pages = 0
    for page in crawl(client, ["/", *parameterless_pages(demo_app)], limit=70):
        pages += 1
        assert page.status < 500, page.url
        for text in page.texts:
            for word in [*english_in(text), *internal_ids_in(text)]:
                leaks.setdefault(page.url, set()).add(f"{word!r} in {text[:80]!r}")
        response = client.get(page.url)
        unchecked = _forms_without_novalidate(response.get_data(as_text=True))
        assert not unchecked, (page.url, unchecked)
    assert pages >= (8 if username == ANONYMOUS else 5), pages  # the walk reached the role's pages
    assert not leaks, "\n".join(f"{url}: {sorted(words)[:8]}" for url, words in leaks.items())


def test_the_checks_find_what_they_look_for():
    """The detectors flag the leaks this test exists for (so a quiet crawl means something)."""
    assert english_in("等待 Waiting for the applicant") == ["Waiting", "for", "the", "applicant"]
    assert english_in("附件 report.pdf，GB 3095 标准，PDF 文件，哈希 dda60a978fffdc12") == []
    assert internal_ids_in("申请人 applicant:91220000123456789K") == ["applicant:91220000123456789K"]
    assert internal_ids_in("m07_radiation_project_confirmation v1")
    assert internal_ids_in("邮箱 zhang_san@example.cn，网址 https://a.example/x_y") == []
    assert _forms_without_novalidate('<form method="post"><input name="a" required></form>')
    assert not _forms_without_novalidate('<form method="post" novalidate><input name="a" required></form>')


@pytest.mark.parametrize("path, method, status", [("/login", "put", 405), ("/no-such-page", "get", 404)])
def test_error_pages_speak_the_active_language(demo_app, path, method, status):
    for lang, word in (("zh_CN", "不"), ("en", "does not")):
        client = _client(demo_app, ANONYMOUS, lang)
        response = getattr(client, method)(path)
        assert response.status_code == status
        text = response.get_data(as_text=True)
        assert word in text and "Method Not Allowed" not in text, lang
    assert "GET" in response.headers.get("Allow", "GET")


def test_too_many_requests_page_is_translated(demo_app):
    from werkzeug.exceptions import TooManyRequests

    with demo_app.test_request_context("/"):  # Chinese, the default
        response = demo_app.make_response(demo_app.handle_user_exception(TooManyRequests(retry_after=60)))
    assert response.status_code == 429 and "尝试次数过多" in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "60"


def test_every_form_and_diagram_title_has_its_english():
    """English mode is complete: every Chinese title and description of the forms has x-title-en /
    x-description-en, and every user task of the shipped diagrams has an x-title-en."""
    import json
    from pathlib import Path

    from lxml import etree

    from forms.schemas import SCHEMA_DIR

    han = re.compile(r"[\u4e00-\u9fff]")
    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            for key in ("title", "description"):
                if isinstance(node.get(key), str) and han.search(node[key]) and f"x-{key}-en" not in node:
                    missing.append(f"{where}: {node[key]}")
            for value in node.values():
                walk(value, where)
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    for path in sorted(Path(SCHEMA_DIR).glob("*.json")):
        if not path.name.endswith(".uischema.json"):
            walk(json.loads(path.read_text(encoding="utf-8")), path.name)
    bpmn, spiff = "{http://www.omg.org/spec/BPMN/20100524/MODEL}", "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
    for path in sorted((Path(__file__).resolve().parents[2] / "workflows").rglob("*.bpmn")):
        for task in etree.parse(str(path)).getroot().iter(f"{bpmn}userTask"):
            if not any(p.get("name") == "x-title-en" for p in task.iter(f"{spiff}property")):
                missing.append(f"{path.name}: {task.get('id')}")
    assert not missing, missing[:20]


def test_english_pages_name_tasks_fields_and_units_in_english(demo_app):
    client = _client(demo_app, "window1", "en")
    worklist = client.get("/?view=open").get_data(as_text=True)
    assert "Check the materials" in worklist and "材料审查" not in worklist
    task = re.search(r'href="(/tasks/[0-9a-f-]+)"', worklist).group(1)
    client.post(task + "/claim")
    page = client.get(task).get_data(as_text=True)
    assert "Review result" in page and "审查结果" not in page  # form labels
    assert "Approval Office" in page and "Check the materials" in page


def test_the_modelers_chinese_covers_its_palette_menus_and_import_errors():
    """modeler-zh.js translates every palette and context-pad text bpmn-js asks for, fills placeholders, and turns
    the XML reader's import errors into Chinese (run in Node, as the browser would)."""
    import json
    import shutil
    import subprocess
    from pathlib import Path

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    root = Path(__file__).resolve().parents[2]
    features = root / "node_modules/bpmn-js/lib/features"
    palette = sorted({text for source in ("palette/PaletteProvider.js", "context-pad/ContextPadProvider.js")
                      for text in re.findall(r"translate\(\s*'([^']+)'",
                                             (features / source).read_text(encoding="utf-8"))})
    script = """
      global.window = {};
      require(process.argv[1]);
      const t = window.runonceTranslate.translate[1];
      const out = JSON.parse(process.argv[2]).map((s) => t(s));
      out.push(t("Open {element}", { element: "审查" }));
      out.push(window.runonceTranslateMessage(
        "unparsable content <x> detected; this may indicate an invalid BPMN 2.0 diagram file"));
      console.log(JSON.stringify(out));
    """
    result = subprocess.run([node, "-e", script, str(root / "web/static/modeler-zh.js"), json.dumps(palette)],
                            capture_output=True, text=True, timeout=30, check=True)
    out = json.loads(result.stdout)
    assert len(palette) >= 10
    untranslated = [s for s, t in zip(palette, out, strict=False) if not re.search(r"[\u4e00-\u9fff]", t)]
    assert not untranslated, untranslated
    assert out[-2] == "打开 审查" and out[-1].startswith("无法解析的内容 <x>")
