"""A small fixed data set for the supervisors' statistics, written as rows (no engine): six cases of m07 and m02
around the 2018 holidays (清明 4–6 Apr with Sunday 8 Apr worked, 劳动节 29 Apr–1 May with Saturday 28 Apr
worked, 端午 18 Jun). The expectations in the tests are worked out by hand from these rows.

    case  matter registered  accepted   stopped    due        promised   status     trips notices  note
    A     m07    2018-03-30  2018-04-02 2018-04-13 2018-04-28 2018-04-20 completed  0     1        补正 (3 Apr, 9 Apr]
    B     m07    2018-04-24  2018-04-25 2018-05-10 2018-05-08 2018-05-04 completed  2     2        extended, late
    C     m02    2018-06-08  2018-06-11 –          2018-06-20 2018-06-15 active     1     0        open, overdue
    D     m02    2018-06-12  –          –          –          –          completed  1     0        not accepted
    E     m07    2018-04-28  2018-05-02 2018-05-03 2018-05-31 –          withdrawn  0     0
    F     m02    2018-06-13  2018-06-14 2018-06-19 2018-07-12 2018-06-28 completed  0     0
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy.orm import Session

from services.clock import BEIJING
from storage.models import Case, CaseClock, CaseExtension, CaseSuspension, ProcessDefinition


def at(day: str, hour: int = 10) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(hour), tzinfo=BEIJING)


def d(day: str | None) -> date | None:
    return date.fromisoformat(day) if day else None


ROWS = [
    # key, matter, registered, accepted, stopped, due, promised, status, outcome, completed, trips, notices
    ("A", "m07", "2018-03-30", "2018-04-02", "2018-04-13", "2018-04-28", "2018-04-20", "completed", "approved",
     "2018-04-16", 0, 1),
    ("B", "m07", "2018-04-24", "2018-04-25", "2018-05-10", "2018-05-08", "2018-05-04", "completed", "refused",
     "2018-05-11", 2, 2),
    ("C", "m02", "2018-06-08", "2018-06-11", None, "2018-06-20", "2018-06-15", "active", None, None, 1, 0),
    ("D", "m02", "2018-06-12", None, None, None, None, "completed", "not_accepted", "2018-06-13", 1, 0),
    ("E", "m07", "2018-04-28", "2018-05-02", "2018-05-03", "2018-05-31", None, "withdrawn", None, "2018-05-03",
     0, 0),
    ("F", "m02", "2018-06-13", "2018-06-14", "2018-06-19", "2018-07-12", "2018-06-28", "completed", "approved",
     "2018-06-20", 0, 0),
]


def load(session: Session) -> dict[str, int]:
    """Write the rows; returns case key → id."""
    definitions = {}
    for process_id in ("m07_radiation_project_confirmation", "m02_hazardous_waste_permit"):
        row = ProcessDefinition(process_id=process_id, version=1, content_hash=process_id.ljust(64, "0")[:64],
                                main_file=f"{process_id}.bpmn", deployed_by="test",
                                files={f"{process_id}.bpmn": '<x cond=\'delivery_mode == "post"\'/>'})
        session.add(row)
        session.flush()
        definitions[process_id[:3]] = row.id
    ids = {}
    for n, (key, matter, registered, accepted, stopped, due, promised, status, outcome, completed, trips,
            notices) in enumerate(ROWS, start=1):
        case = Case(reference=f"2018{matter.upper()}{n:06d}", lookup_code="X", matter_code=matter,
                    definition_id=definitions[matter], status=status, outcome=outcome,
                    applicant_name=f"测试企业{key}有限公司", applicant_credit_code=None, channel="window",
                    delivery_mode="post", state="", serializer_version="test", trips=trips,
                    accepted_on=d(accepted), due_on=d(due), promised_due_on=d(promised),
                    supplement_notices=notices, created_by="test", created_at=at(registered),
                    updated_at=at(registered), completed_at=at(completed, 15) if completed else None)
        session.add(case)
        session.flush()
        ids[key] = case.id
        if accepted:
            session.add(CaseClock(case_id=case.id, statutory_value=20, statutory_unit="working_days",
                                  promised_value=10, promised_unit="working_days", excluded_kinds=["supplement"],
                                  stopped_on=d(stopped)))
    session.add(CaseSuspension(case_id=ids["A"], kind="supplement", start_on=d("2018-04-03"),
                               end_on=d("2018-04-09")))
    # a kind m07 does not exclude here: it must not change the working days used
    session.add(CaseSuspension(case_id=ids["B"], kind="hearing", start_on=d("2018-05-02"), end_on=d("2018-05-04")))
    session.add(CaseExtension(case_id=ids["B"], working_days=10, reason="复杂", approved_by="leader1",
                              on_date=d("2018-05-03")))
    session.flush()
    return ids
