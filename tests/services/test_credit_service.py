"""Credit records (services/credit.py) on SQLite and PostgreSQL: recorded by a lead with source, date and expiry,
audited; shown to staff only and only until they expire; the supervisors' list and its CSV export."""

from __future__ import annotations

from datetime import date

import pytest

from services import credit
from services.actors import Actor
from services.errors import Forbidden, InvalidInput
from storage import audit

CODE = "91220000123456789K"
LEAD = Actor("soil_lead", roles=frozenset({"handler", "lead"}), unit_code="soil")
HANDLER = Actor("soil1", roles=frozenset({"handler"}), unit_code="soil")
SUPERVISOR = Actor("sup", roles=frozenset({"supervisor"}))
APPLICANT = Actor("applicant:" + CODE, roles=frozenset({"applicant"}))


def _rec(**kw) -> credit.NewRecord:
    values = dict(credit_code=CODE, subject_name="吉林某化工有限公司", kind="false_materials",
                  finding="=HYPERLINK(\"x\") 提交伪造的监测报告", source="2018M02000012",
                  recorded_on=date(2018, 3, 1), expires_on=date(2021, 3, 1))
    values.update(kw)
    return credit.NewRecord(**values)


def test_records_are_for_staff_only_until_they_expire(uow):
    credit.record(uow, _rec(), LEAD)
    credit.record(uow, _rec(kind="other", finding="旧记录", recorded_on=date(2015, 1, 5), expires_on=date(2017, 1, 5)),
                  LEAD)
    with pytest.raises(Forbidden):
        credit.record(uow, _rec(), HANDLER)
    with pytest.raises(InvalidInput) as bad:
        credit.record(uow, _rec(credit_code="91220000123456789A", expires_on=date(2018, 1, 1)), LEAD)
    assert {"credit_code", "expires_on"} <= set(bad.value.errors)
    with uow.reader() as r:
        on = date(2018, 5, 1)
        assert [x.finding for x in credit.active_for(r.session, CODE.lower(), HANDLER, on)] == \
               ['=HYPERLINK("x") 提交伪造的监测报告']
        assert credit.active_for(r.session, CODE, APPLICANT, on) == []  # never to an applicant
        assert credit.active_for(r.session, CODE, None, on) == []
        assert credit.active_for(r.session, CODE, HANDLER, date(2021, 3, 2)) == []  # expired
        rows = credit.listing(r.session, SUPERVISOR)
        assert len(rows) == 2
        with pytest.raises(Forbidden):
            credit.listing(r.session, HANDLER)
        text = credit.export_csv(rows, on)
        assert "'=HYPERLINK" in text and "已过期" in text and "有效" in text
        assert audit.verify(r.session).ok
