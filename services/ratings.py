"""政务服务“好差评”: the applicant rates a case once; poor ratings start the rectification process.

- Online, after the case closed, by whoever proved the look-up code (the applicant's case page); at the window,
  on the page a window clerk opens for the applicant (any status: the visit is what is rated).
- Five levels (非常满意 5 … 非常不满意 1) and the indicators of the channel: online 办事效率 / 办事指南精确度 /
  办事便捷度 / 平台操作性, at the window 服务效率 / 服务水平 / 服务态度 (each 1–5), and free text.
- Once per case: the unique ``ratings.case_id`` decides, also between two simultaneous submissions.
- 不满意 / 非常不满意 (level ≤ 2) start a case of ``p01`` (workflows/p01_rectification.bpmn: 核实 → 整改 or 说明 →
  回访, 15 working days on the case clock with the matters' reminders and escalation); the rating row is written
  in the same transaction as that case, so there is never a poor rating without its rectification.
- Aggregates per matter and per unit are public; the rectification's outcome is shown to the applicant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services import audit_log, clock
from services.actors import Actor
from services.errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from services.processes import is_application, start_process
from services.uow import UnitOfWork
from storage.models import Case, Rating
from storage.types import utcnow

RECTIFICATION = "p01"  # workflows/processes.toml
LEVELS = (5, 4, 3, 2, 1)
LEVEL_ZH = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
POOR = 2  # this level and below is a poor rating (差评)
INDICATORS = {
    "online": ("efficiency", "guide_accuracy", "convenience", "platform"),
    "window": ("service_efficiency", "service_level", "service_attitude"),
}
INDICATOR_ZH = {
    "efficiency": "办事效率", "guide_accuracy": "办事指南精确度", "convenience": "办事便捷度", "platform": "平台操作性",
    "service_efficiency": "服务效率", "service_level": "服务水平", "service_attitude": "服务态度",
}
CLOSED = ("completed", "withdrawn")
MAX_COMMENT = 2000
ALREADY = N_("This case has been rated already; each case is rated once.")


@dataclass(frozen=True)
class Rated:
    rating_id: int
    poor: bool
    rectification_case_id: int | None
    rectification_reference: str | None


def _check(channel: str, level: Any, indicators: dict[str, Any], comment: str | None) -> dict[str, int]:
    errors: dict[str, str] = {}
    if level not in LEVELS:
        errors["level"] = N_("Choose one of the offered values.")
    clean: dict[str, int] = {}
    for code in INDICATORS[channel]:
        value = indicators.get(code)
        if value not in LEVELS:
            errors[code] = N_("Choose one of the offered values.")
        else:
            clean[code] = int(value)
    unknown = set(indicators) - set(INDICATORS[channel])
    if unknown:
        errors["__all__"] = N_("Choose one of the offered values.")
    text = (comment or "").strip()
    if len(text) > MAX_COMMENT:
        errors["comment"] = N_("At most %(limit)s characters.")
    if level in LEVELS and level <= POOR and len(text) < 2:
        errors["comment"] = N_("Tell us what was wrong, so that it can be put right.")
    if errors:
        raise InvalidInput(N_("The rating has errors; see the marked fields."), errors)
    return clean


def existing(session: Session, case_id: int) -> Rating | None:
    return session.execute(select(Rating).where(Rating.case_id == case_id)).scalar_one_or_none()


def may_rate_online(case: Case) -> bool:
    return case.status in CLOSED and is_application(case.matter_code)


def rate(
    uow: UnitOfWork, case_id: int, *, channel: str, level: int, indicators: dict[str, Any], comment: str | None,
    actor: Actor,
) -> Rated:
    """Record the rating of case ``case_id`` (once); a poor one starts its rectification case."""
    if channel not in INDICATORS:
        choose = N_("Choose one of the offered values.")
        raise InvalidInput(choose, {"channel": choose})
    if channel == "window" and not actor.has_role("window", "admin"):
        raise Forbidden(N_("Only the window opens the rating page for an applicant."))
    clean = _check(channel, level, indicators, comment)
    text = (comment or "").strip() or None
    with uow.reader() as r:
        case = r.session.get(Case, case_id)
        if case is None or not is_application(case.matter_code):  # only applications are rated
            raise NotFound(N_("Case %(id)s does not exist."), id=case_id)
        if channel == "online" and case.status not in CLOSED:
            raise Conflict(N_("A case is rated online once it is closed."))
        if existing(r.session, case_id) is not None:
            raise Conflict(ALREADY)
        reference, matter_code, applicant = case.reference, case.matter_code, case.applicant_name
        contact = {"contact": case.applicant_contact, "phone": case.applicant_phone, "email": case.applicant_email}
        unit = clock.handling_unit(r.session, matter_code)
    recorded_by = "applicant" if channel == "online" else actor.username
    row_values = dict(case_id=case_id, matter_code=matter_code, unit_code=unit, channel=channel, level=level,
                      indicators=clean, comment=text, recorded_by=recorded_by)
    audit_after = {"level": level, "level_zh": LEVEL_ZH[level], "indicators": clean, "comment": text,
                   "channel": channel}
    made: dict[str, Any] = {}

    def write(session: Session, rectification: Case | None) -> None:
        row = Rating(**row_values, rated_at=utcnow(),
                     rectification_case_id=rectification.id if rectification is not None else None)
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(ALREADY) from None
        made["id"] = row.id
        audit_log.record(session, actor, "case.rated", case_id=case_id, after=audit_after,
                         rectification=rectification.reference if rectification is not None else None)

    if level > POOR:
        with uow:
            write(uow.session, None)
            uow.commit()
        return Rated(made["id"], False, None, None)
    start = {
        "rating": {"level": level, "level_zh": LEVEL_ZH[level], "comment": text, "channel": channel,
                   "indicators": clean},
        "rated_case": {"reference": reference, "matter_code": matter_code},
    }
    try:
        registration = start_process(uow, RECTIFICATION, data=start, subject_name=applicant, actor=actor,
                                     channel="window" if channel == "window" else "online", contact=contact,
                                     also=write)
    except IntegrityError:
        raise Conflict(ALREADY) from None
    return Rated(made["id"], True, registration.case_id, registration.reference)


# -- what the applicant and the public see ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RectificationView:
    reference: str
    status: str  # active | completed | …
    due_on: date | None
    outcome: str | None  # rectified | explained
    measures: str | None  # what was done (整改措施) or the explanation (说明), once decided


def rectification_view(session: Session, rating: Rating) -> RectificationView | None:
    """The rectification of a poor rating as the applicant may see it: its state, and once the department decided,
    the measures or the explanation (the handlers' internal notes stay internal)."""
    if rating.rectification_case_id is None:
        return None
    case = session.get(Case, rating.rectification_case_id)
    if case is None:
        return None
    from engine import runtime
    from services.cases import case_workflow

    data: dict[str, Any] = {}
    try:
        wf = case_workflow(case)
        data = runtime.workflow_data(wf) if wf is not None else {}
    except Exception:  # a damaged state must not hide the rest of the applicant's page
        data = {}
    text = data.get("rectification_measures") or data.get("explanation")
    return RectificationView(case.reference, case.status, case.due_on, case.outcome,
                             str(text) if isinstance(text, str) else None)


@dataclass(frozen=True)
class Aggregate:
    key: str  # matter code or unit code
    count: int
    average: float
    satisfied_share: float  # levels 3–5
    poor: int
    rectified: int  # poor ratings whose rectification case completed


def aggregates(session: Session, by: str = "matter") -> list[Aggregate]:
    """Public figures per matter (``by="matter"``) or per unit (``by="unit"``)."""
    column = Rating.matter_code if by == "matter" else Rating.unit_code
    rect = Case.__table__.alias("rect")
    rows = session.execute(
        select(
            column,
            func.count(Rating.id),
            func.avg(Rating.level),
            func.sum(func.cast(Rating.level > POOR, type_=Rating.level.type)),
            func.sum(func.cast(Rating.level <= POOR, type_=Rating.level.type)),
            func.count(rect.c.id),
        )
        .select_from(Rating)
        .outerjoin(rect, (rect.c.id == Rating.rectification_case_id) & (rect.c.status == "completed"))
        .where(column.is_not(None))
        .group_by(column).order_by(column)
    ).all()
    return [Aggregate(key, count, round(float(avg or 0), 2), (good or 0) / count if count else 0.0, int(poor or 0),
                      int(rectified or 0))
            for key, count, avg, good, poor, rectified in rows]


@dataclass(frozen=True)
class OpenRectification:
    case_id: int
    reference: str
    rated_reference: str
    matter_code: str
    level: int
    due_on: date | None
    overdue: bool


def open_rectifications(session: Session, today: date | None = None) -> list[OpenRectification]:
    """Poor ratings whose rectification is still open, overdue ones first (the supervisors' list)."""
    today = today or clock.today()
    rated = Case.__table__.alias("rated")
    rect = Case.__table__.alias("rect")
    rows = session.execute(
        select(rect.c.id, rect.c.reference, rated.c.reference, Rating.matter_code, Rating.level, rect.c.due_on)
        .select_from(Rating)
        .join(rect, rect.c.id == Rating.rectification_case_id)
        .join(rated, rated.c.id == Rating.case_id)
        .where(rect.c.status.in_(("active", "incident")))
        .order_by(rect.c.due_on.is_(None), rect.c.due_on, rect.c.id)
    ).all()
    return [OpenRectification(cid, ref, rated_ref, matter, level, due, due is not None and due < today)
            for cid, ref, rated_ref, matter, level, due in rows]
