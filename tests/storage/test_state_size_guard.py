"""The guard behind the suite-wide check that case state rows stay under 64 KB can fail."""

from __future__ import annotations

import state_guard
from sqlalchemy import update

from storage.models import Case, ProcessDefinition


def test_an_oversized_case_state_is_caught(uow):
    with uow:
        uow.session.add(ProcessDefinition(id=1, process_id="p", version=1, content_hash="h", main_file="p.bpmn",
                                          files={}, deployed_by="t"))
        uow.session.flush()
        uow.session.add(Case(id=1, reference="R1", lookup_code="X", matter_code="m07", definition_id=1,
                             status="active", applicant_name="甲", channel="online", delivery_mode="online",
                             state="{}", serializer_version="x", version=1, created_by="t"))
        uow.session.flush()
        before = len(state_guard.oversized)
        uow.session.execute(update(Case).where(Case.id == 1).values(state="x" * (65 * 1024)))
        caught = state_guard.oversized[before:]
        del state_guard.oversized[before:]  # expected here; the suite-wide check must not fail this test
    assert len(caught) == 1 and caught[0].startswith("66560 bytes")
