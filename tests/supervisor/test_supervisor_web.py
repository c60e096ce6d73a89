"""The supervisors' pages over the fixed data set: the dashboard and its JSON, every number a link to its list,
the case search and history, CSV/XLSX exports read back, and read-only access for supervisors only."""

from __future__ import annotations

import csv
import io
import re
import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))

from web_support import login, make_app, seed_people  # noqa: E402

from app import uow_for  # noqa: E402
from storage import audit  # noqa: E402

Q2 = "from=2018-04-01&to=2018-06-30"


@pytest.fixture
def site(db_url):
    from supervisor_data import load

    app = make_app(db_url)
    seed_people(app)
    with uow_for(app) as uow:
        ids = load(uow.session)
        audit.append(uow.session, actor="eia1", action="task.completed", case_id=ids["B"],
                     payload={"task": "t1", "title": "审查", "before": {"recommendation": None},
                              "after": {"recommendation": "refuse"},
                              "form": {"recommendation": "refuse", "note": "需补充监测报告"}})
        uow.commit()
    client = app.test_client()
    assert login(client, "supervisor1").status_code == 302
    yield app, client, ids
    app.extensions["runonce.engine"].dispose()


def test_dashboard_numbers_link_to_their_lists(site):
    app, client, ids = site
    page = client.get(f"/supervisor/dashboard?{Q2}").get_data(as_text=True)
    assert "督查统计" in page and "“只跑一次”推进" in page and "统计口径" in page
    assert '/supervisor/cases?measure=overdue&amp;from=2018-04-01&amp;to=2018-06-30">2</a>' in page
    assert "/vendor/echarts/echarts.min.js" in page
    data = client.get(f"/supervisor/dashboard.json?{Q2}").get_json()
    assert data["total"]["counts"]["overdue"] == 2 and data["filters"]["from"] == "2018-04-01"
    listed = client.get("/supervisor/cases?measure=overdue&" + Q2).get_data(as_text=True)
    assert "共 2 件" in listed and listed.count('href="/supervisor/cases/') == 2
    months = client.get(f"/supervisor/months.json?{Q2}").get_json()["months"]
    assert [m["month"] for m in months] == ["2018-04", "2018-05", "2018-06"]
    # unreadable filters are ignored and named, never an error
    response = client.get("/supervisor/dashboard.json?from=2018-02-30&matter=m99")
    assert response.status_code == 200 and set(response.get_json()["ignored"]) == {"from", "matter"}


def test_case_history_shows_changes_read_only(site):
    app, client, ids = site
    page = client.get(f"/supervisor/cases/{ids['B']}").get_data(as_text=True)
    assert "recommendation" in page and "refuse" in page and "复杂" in page  # the change and the extension
    assert "需补充监测报告" in page  # the form's Chinese as written, not as \u escapes
    actions = re.findall(r'<form method="post"[^>]*action="([^"]+)"', page)
    assert set(actions) <= {"/logout", "/language"}, actions  # nothing on the page changes the case
    assert client.get("/supervisor/cases/999999").status_code == 404


def test_exports_round_trip(site):
    from openpyxl import load_workbook

    app, client, ids = site
    data = client.get(f"/supervisor/dashboard.json?{Q2}").get_json()
    response = client.get(f"/supervisor/export/matters.csv?{Q2}")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0][:4] == ["名称", "申请量", "受理量", "办结量"]
    by_name = {r[0]: r for r in rows[1:]}
    m07 = next(m for m in data["matters"] if m["key"] == "m07")
    assert by_name[m07["label"]][2] == str(m07["counts"]["accepted"]) == "3"
    assert by_name["合计"][7] == "2"  # 超期件
    assert by_name[m07["label"]][rows[0].index("法定时限")] == "20 个工作日"
    book = load_workbook(io.BytesIO(client.get(f"/supervisor/export/cases.xlsx?measure=concluded&{Q2}").data))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[0] == "办件编号" and "受理日期" in header
    accepted = header.index("受理日期")
    values = sorted(row[accepted].value.date() for row in sheet.iter_rows(min_row=2))
    assert values == [date(2018, 4, 2), date(2018, 4, 25), date(2018, 6, 14)]  # dates as dates
    book = load_workbook(io.BytesIO(client.get("/supervisor/export/rollout.xlsx").data))
    assert book.worksheets[0].max_row == 12  # header + eleven matters
    assert client.get("/supervisor/export/secrets.csv").status_code == 404


def test_supervisor_pages_are_for_supervisors(site):
    app, client, ids = site
    client.post("/logout")
    assert login(client, "eia1").status_code == 302
    for url in ("/supervisor/dashboard", "/supervisor/dashboard.json", "/supervisor/cases",
                f"/supervisor/cases/{ids['A']}", "/supervisor/export/cases.csv"):
        assert client.get(url).status_code == 403, url


def test_escalations_to_supervisors_link_to_the_overdue_list(site):
    from services.reminders import ESCALATE_STATUTORY
    from storage.models import Reminder

    app, client, ids = site
    with uow_for(app) as uow:
        uow.session.add(Reminder(key="case:b:escalate", kind="escalation_supervisor", subject_type="case",
                                 subject_id=str(ids["B"]), case_id=ids["B"], role="supervisor",
                                 msgid=ESCALATE_STATUTORY,
                                 params={"reference": "B", "matter": "m07", "days": 3, "due": "2018-05-08"}))
        uow.commit()
    page = client.get("/reminders/?show=all").get_data(as_text=True)
    assert 'href="/supervisor/cases?measure=overdue"' in page


def test_audit_log_date_range_and_full_verification(site):
    import time

    app, client, ids = site
    page = client.get("/supervisor/audit?from=2018-01-01&to=2018-12-31").get_data(as_text=True)
    assert "共 0 条记录" in page and "哈希链尚未校验过" in page
    page = client.get("/supervisor/audit?from=2018-01-01").get_data(as_text=True)
    assert "共 0 条记录" not in page
    response = client.post("/supervisor/audit/verify-full")
    assert response.status_code == 302
    run = int(response.headers["Location"].rsplit("run=", 1)[1])
    for _ in range(100):
        state = client.get(f"/supervisor/audit/verification/{run}.json").get_json()
        if state["state"] != "running":
            break
        time.sleep(0.05)
    assert state["state"] == "ok" and state["events"] == state["total"] >= 1
    page = client.get("/supervisor/audit").get_data(as_text=True)
    assert "最近一次校验" in page and "完好" in page
