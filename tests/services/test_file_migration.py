"""The data migration moves the first version's data-URL attachments out of case states and audit payloads into
the file store; the audit chain stays verifiable and records the rewrite; a second run finds nothing."""

from __future__ import annotations

import base64
import json

from driver import M07, Expect, Scenario, m07_steps, start_data
from service_driver import run_scenario
from sqlalchemy import select, update

from services import files
from services.file_migration import move_data_urls
from storage import audit
from storage.models import AuditEvent, Case, StoredFile

SCAN = b"%PDF-1.4\n% a scanned notice\n%%EOF\n"
DATA_URL = "data:application/pdf;name=%E5%8F%97%E7%90%86.pdf;base64," + base64.b64encode(SCAN).decode()


def test_data_urls_move_to_the_store_and_the_chain_still_verifies(installed):
    uow = installed.uow
    run = run_scenario(uow, Scenario(M07, "old", start_data("m07", "window", "post"), m07_steps(mode="post"),
                                     Expect()), installed.people)
    # What the first version left behind: a data URL in the task data and in an audit event's form answers.
    with uow:
        case = uow.session.get(Case, run.case_id)
        state = json.loads(case.state)
        state["data"]["acceptance_notice_file"] = DATA_URL
        uow.session.execute(update(Case).where(Case.id == case.id).values(state=json.dumps(state)))
        audit.append(uow.session, actor="window1", action="task.completed", case_id=case.id,
                     payload={"form": {"acceptance_notice_file": DATA_URL, "scans": [DATA_URL]}})
        audit.append(uow.session, actor="window1", action="task.claimed", case_id=case.id, payload={})
        uow.commit()

    report = move_data_urls(uow)

    assert (report.cases, report.events, report.files) == (1, 1, 1)  # the same bytes of one case: one file
    with uow.reader() as r:
        s = r.session
        case = s.get(Case, run.case_id)
        assert "base64," not in case.state
        ref = json.loads(case.state)["data"]["acceptance_notice_file"]
        row = s.get(StoredFile, ref["file_id"])
        assert row.case_id == run.case_id and row.original_name == "受理.pdf" and row.sha256 == ref["sha256"]
        assert files.default_store().path(row.sha256).read_bytes() == SCAN
        events = s.execute(select(AuditEvent).where(AuditEvent.payload.is_not(None))).scalars().all()
        assert not any("base64," in json.dumps(e.payload) for e in events)
        check = audit.verify(s)
        assert check.ok, check
        last = s.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
        assert last.action == "storage.files_migrated" and last.payload["previous_head_hash"]
        assert last.payload["after"] == {"cases": 1, "events": 1, "files": 1}
    # The case still loads and its workflow still runs on the rewritten state.
    from services import cases

    with uow.reader() as r:
        assert cases.case_workflow(r.session.get(Case, run.case_id)) is not None

    again = move_data_urls(uow)
    assert (again.cases, again.events, again.files) == (0, 0, 0)
