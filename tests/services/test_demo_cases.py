"""seed-demo leaves a living case file: cases in several states with real files and documents, made once."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import select

from services import demo, files
from services.demo_cases import demo_cases, seed_cases
from storage.models import Case, CaseMaterial, Document, HumanTask, StoredFile

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def test_demo_cases_cover_the_states_with_real_files(uow):
    demo.seed(uow, WORKFLOWS)
    made = seed_cases(uow)
    assert len(made) == len(demo_cases())
    with uow.reader() as r:
        s = r.session
        cases = {c.reference: c for c in s.execute(select(Case)).scalars()}
        ready = {s.get(Case, t.case_id).reference: t.spec_name
                 for t in s.execute(select(HumanTask).where(HumanTask.state == "ready")).scalars()}
        states = sorted({ready.get(ref, cases[ref].status) for ref in made})
        assert {"check_materials", "receive_supplement", "review", "completed"} <= set(states)
        assert any(c.status == "completed" and c.trips == 0 for c in cases.values())  # zero trips
        materials = s.execute(select(CaseMaterial)).scalars().all()
        assert {m.stage for m in materials} >= {"application", "supplement"}
        stored = s.execute(select(StoredFile)).scalars().all()
        assert {f.purpose for f in stored} >= {"material", "supplement", "document"}
        for row in stored[:5]:
            with files.default_store().open(row.sha256) as handle:
                assert PdfReader(BytesIO(handle.read())).pages  # real PDFs
        assert s.execute(select(Document)).scalars().first() is not None
    assert seed_cases(uow) == []  # once only
