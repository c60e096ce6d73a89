"""双随机一公开 (plan task 12): a registry of regulated entities, a roster of inspectors, spot-check plans drawn at
random from a published seed, one inspection case per drawn entity, results published.

The draw is reproducible by anyone: ``compute_draw`` is a pure function of the seed, the round and the two sorted
lists it draws from (credit codes of the registry, badge numbers of the roster), which are stored with the draw and
published. Each entity is ranked by ``sha256("<seed>|<round>|entity|<credit code>")`` (hex, ascending) and the first
``n`` are drawn; for each drawn entity the two inspectors with the smallest ``sha256("<seed>|<round>|<credit
code>|<badge>")`` check it. ``digest`` is the SHA-256 of the result as JSON, published beside it.

A plan is drawn once. A redraw needs a reason; it makes round 2 (another result from the same seed), marks round 1
superseded, withdraws the inspections of round 1 that are still open, and everything stays public and audited:
nothing is redrawn silently.

The registry is filled from completed permits and filings (``sync``: a case of a matter that ended approved or
filed, with a credit code) and from a CSV import. ``sync`` also records a credit finding for every completed
inspection that found a violation (once per inspection case).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services import audit_log, clock, credit, credit_code
from services.actors import Actor
from services.errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from services.processes import start_process
from services.uow import UnitOfWork
from storage.models import (
    Case,
    CreditRecord,
    Inspector,
    RegulatedEntity,
    SpotCheckDraw,
    SpotCheckItem,
    SpotCheckPlan,
)
from storage.types import utcnow

INSPECTION = "p03"  # workflows/processes.toml
RESULT_OUTCOMES = ("approved", "filed")  # a permit granted, a filing accepted: the holder is regulated
MAX_IMPORT_ROWS = 10000
CREDIT_YEARS = 3


def _may_manage(actor: Actor) -> None:
    if not actor.has_role("lead", "admin", "system"):
        raise Forbidden(N_("Only a unit lead manages spot checks."))


# -- the draw, pure ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Drawn:
    credit_code: str
    inspectors: tuple[str, str]  # badge numbers


def _rank(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sample_size(total: int, count: int | None, share: int | None) -> int:
    if count is not None:
        return max(0, min(count, total))
    return min(total, math.ceil(total * (share or 0) / 100))


def compute_draw(seed: str, round_no: int, candidates: list[str], inspectors: list[str], n: int) -> list[Drawn]:
    """The draw as anyone can re-run it (see the module text)."""
    if len(inspectors) < 2:
        raise ValueError("two inspectors at least")
    entities = sorted(candidates, key=lambda code: (_rank(f"{seed}|{round_no}|entity|{code}"), code))[:n]
    drawn = []
    for code in entities:
        pair = sorted(inspectors, key=lambda badge: (_rank(f"{seed}|{round_no}|{code}|{badge}"), badge))[:2]
        drawn.append(Drawn(code, (pair[0], pair[1])))
    return drawn


def digest_of(drawn: list[Drawn]) -> str:
    body = json.dumps([[d.credit_code, list(d.inspectors)] for d in drawn], ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# -- registry and roster ---------------------------------------------------------------------------------------

def _matter_codes() -> list[str]:
    from workflows.catalog import shipped_catalog

    return [m.code for m in shipped_catalog().matters]


def sync(uow: UnitOfWork, now: Any = None) -> int:
    """Scheduler job: entities from completed permits and filings; credit findings from inspections that found a
    violation. Idempotent; returns how many rows were new."""
    actor = Actor.system("spot-checks")
    made = 0
    with uow:
        session = uow.session
        known = set(session.execute(select(RegulatedEntity.credit_code, RegulatedEntity.entity_type)).all())
        rows = session.execute(
            select(Case.id, Case.applicant_credit_code, Case.applicant_name, Case.matter_code)
            .where(Case.status == "completed", Case.outcome.in_(RESULT_OUTCOMES),
                   Case.applicant_credit_code.is_not(None), Case.matter_code.in_(_matter_codes()))
            .order_by(Case.id)
        ).all()
        for case_id, code, name, matter in rows:
            if (code, matter) in known:
                continue
            known.add((code, matter))
            session.add(RegulatedEntity(credit_code=code, name=name, entity_type=matter, source="case",
                                        source_case_id=case_id, active=True, created_at=utcnow()))
            made += 1
        made += _violations_to_credit(session, actor)
        uow.commit()
    return made


def _violations_to_credit(session: Session, actor: Actor) -> int:
    recorded = set(session.execute(select(CreditRecord.source_key).where(
        CreditRecord.source_key.like("inspection:%"))).scalars())
    made = 0
    rows = session.execute(
        select(Case.id, Case.reference, Case.completed_at, RegulatedEntity.credit_code, RegulatedEntity.name)
        .join(SpotCheckItem, SpotCheckItem.inspection_case_id == Case.id)
        .join(RegulatedEntity, RegulatedEntity.id == SpotCheckItem.entity_id)
        .where(Case.matter_code == INSPECTION, Case.status == "completed", Case.outcome == "violation")
    ).all()
    for case_id, reference, completed_at, code, name in rows:
        key = f"inspection:{case_id}"
        if key in recorded:
            continue
        on = clock.beijing_date(completed_at) if completed_at else clock.today()
        credit.add(session, credit.NewRecord(code, name, "inspection_failure",
                                             "双随机抽查发现违法行为，已依法查处", reference, on,
                                             on.replace(year=on.year + CREDIT_YEARS)),
                   actor, source_key=key, source_case_id=case_id)
        made += 1
    return made


@dataclass(frozen=True)
class ImportResult:
    added: int
    unchanged: int
    errors: list[tuple[int, str]]  # (line number, message id)


def import_entities(uow: UnitOfWork, text: str, actor: Actor) -> ImportResult:
    """CSV with a header: credit_code, name, entity_type[, address]. Nothing is written when a line is bad."""
    _may_manage(actor)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    needed = {"credit_code", "name", "entity_type"}
    if not reader.fieldnames or not needed <= {f.strip() for f in reader.fieldnames}:
        raise InvalidInput(N_("The file needs the columns credit_code, name and entity_type."),
                           {"file": N_("The file needs the columns credit_code, name and entity_type.")})
    rows: list[tuple[str, str, str, str | None]] = []
    errors: list[tuple[int, str]] = []
    for number, raw in enumerate(reader, start=2):
        if number > MAX_IMPORT_ROWS + 1:
            errors.append((number, N_("Too many lines.")))
            break
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if isinstance(v, str)}
        code = row.get("credit_code", "").upper()
        if not credit_code.is_valid(code):
            errors.append((number, N_("This unified social credit code is not valid (18 characters; the last "
                                      "one is a check character).")))
        elif not row.get("name") or not row.get("entity_type") or len(row["entity_type"]) > 40:
            errors.append((number, N_("This field is required.")))
        else:
            rows.append((code, row["name"][:200], row["entity_type"], row.get("address") or None))
    if errors:
        refused = InvalidInput(N_("The file has errors in %(count)s lines; nothing was imported."),
                               {"file": N_("Correct the lines listed and import the file again.")}, count=len(errors))
        refused.lines = errors  # type: ignore[attr-defined]
        raise refused
    added = unchanged = 0
    with uow:
        session = uow.session
        known = set(session.execute(select(RegulatedEntity.credit_code, RegulatedEntity.entity_type)).all())
        for code, name, kind, address in rows:
            if (code, kind) in known:
                unchanged += 1
                continue
            known.add((code, kind))
            session.add(RegulatedEntity(credit_code=code, name=name, entity_type=kind, address=address,
                                        source="import", active=True, created_at=utcnow()))
            added += 1
        audit_log.record(session, actor, "registry.imported", after={"added": added, "unchanged": unchanged})
        uow.commit()
    return ImportResult(added, unchanged, [])


def add_inspector(uow: UnitOfWork, name: str, badge: str, unit_code: str, actor: Actor) -> int:
    _may_manage(actor)
    if not name.strip() or not badge.strip():
        raise InvalidInput(N_("The inspector has errors; see the marked fields."),
                           {"name" if not name.strip() else "badge": N_("This field is required.")})
    with uow:
        session = uow.session
        if session.execute(select(Inspector.id).where(Inspector.unit_code == unit_code,
                                                      Inspector.badge == badge.strip())).first():
            raise Conflict(N_("An inspector with this badge number is on the roster already."))
        row = Inspector(name=name.strip()[:100], badge=badge.strip()[:40], unit_code=unit_code, active=True)
        session.add(row)
        session.flush()
        audit_log.record(session, actor, "roster.inspector_added",
                         after={"name": row.name, "badge": row.badge, "unit": unit_code})
        uow.commit()
        return row.id


# -- plans and draws -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewPlan:
    title: str
    entity_type: str
    inspector_unit: str
    sample_count: int | None
    sample_share: int | None
    period_start: date
    period_end: date
    seed: str


def create_plan(uow: UnitOfWork, plan: NewPlan, actor: Actor) -> int:
    """A plan and the seed it will be drawn with, published before the draw."""
    _may_manage(actor)
    errors: dict[str, str] = {}
    if not plan.title.strip():
        errors["title"] = N_("This field is required.")
    if not plan.entity_type.strip():
        errors["entity_type"] = N_("This field is required.")
    if (plan.sample_count is None) == (plan.sample_share is None):
        errors["sample_count"] = N_("Give either a number of entities or a share, not both.")
    elif plan.sample_count is not None and plan.sample_count < 1:
        errors["sample_count"] = N_("At least one entity.")
    elif plan.sample_share is not None and not 1 <= plan.sample_share <= 100:
        errors["sample_share"] = N_("A share from 1 to 100 percent.")
    if plan.period_end < plan.period_start:
        errors["period_end"] = N_("The end must not come before the start.")
    if not 4 <= len(plan.seed.strip()) <= 64:
        errors["seed"] = N_("A seed of 4 to 64 characters, announced before the draw.")
    if errors:
        raise InvalidInput(N_("The plan has errors; see the marked fields."), errors)
    with uow:
        session = uow.session
        row = SpotCheckPlan(title=plan.title.strip()[:200], entity_type=plan.entity_type.strip(),
                            inspector_unit=plan.inspector_unit, sample_count=plan.sample_count,
                            sample_share=plan.sample_share, period_start=plan.period_start,
                            period_end=plan.period_end, seed=plan.seed.strip(), created_by=actor.username,
                            created_at=utcnow())
        session.add(row)
        session.flush()
        audit_log.record(session, actor, "spot_check.planned",
                         after={"plan": row.id, "title": row.title, "entity_type": row.entity_type,
                                "count": row.sample_count, "share": row.sample_share, "seed": row.seed,
                                "period": [row.period_start.isoformat(), row.period_end.isoformat()]})
        uow.commit()
        return row.id


@dataclass(frozen=True)
class DrawResult:
    draw_id: int
    round: int
    digest: str
    items: int
    inspection_case_ids: list[int]


def draw(uow: UnitOfWork, plan_id: int, actor: Actor, reason: str | None = None) -> DrawResult:
    """Draw the plan (round 1), or redraw it with a reason (round n+1; the previous round stays, superseded)."""
    _may_manage(actor)
    reason = (reason or "").strip() or None
    with uow:
        session = uow.session
        plan = session.get(SpotCheckPlan, plan_id)
        if plan is None:
            raise NotFound(N_("Spot-check plan %(id)s does not exist."), id=plan_id)
        previous = session.execute(select(SpotCheckDraw).where(SpotCheckDraw.plan_id == plan_id)
                                   .order_by(SpotCheckDraw.round.desc()).limit(1)).scalar_one_or_none()
        if previous is not None and not reason:
            raise Conflict(N_("This plan was drawn already (round %(round)s). A redraw needs a reason, which is "
                              "published with both rounds."), round=previous.round)
        candidates = sorted(session.execute(
            select(RegulatedEntity.credit_code).where(RegulatedEntity.entity_type == plan.entity_type,
                                                      RegulatedEntity.active.is_(True))).scalars())
        badges = sorted(session.execute(
            select(Inspector.badge).where(Inspector.unit_code == plan.inspector_unit,
                                          Inspector.active.is_(True))).scalars())
        if len(badges) < 2:
            raise Conflict(N_("The roster of the unit needs at least two active inspectors."))
        if not candidates:
            raise Conflict(N_("The registry has no entity of this type to draw from."))
        round_no = (previous.round + 1) if previous is not None else 1
        drawn = compute_draw(plan.seed, round_no, candidates, badges,
                             sample_size(len(candidates), plan.sample_count, plan.sample_share))
        row = SpotCheckDraw(plan_id=plan_id, round=round_no, candidates=candidates, inspectors=badges,
                            digest=digest_of(drawn), reason=reason, superseded=False, drawn_by=actor.username,
                            drawn_at=utcnow())
        session.add(row)
        session.flush()  # the unique (plan, round) stops a concurrent draw of the same round here
        withdraw: list[int] = []
        if previous is not None:
            previous.superseded = True
            withdraw = list(session.execute(
                select(SpotCheckItem.inspection_case_id).join(Case, Case.id == SpotCheckItem.inspection_case_id)
                .where(SpotCheckItem.draw_id == previous.id, Case.status.in_(("active", "incident")))).scalars())
        entity_of = dict(session.execute(
            select(RegulatedEntity.credit_code, RegulatedEntity.id)
            .where(RegulatedEntity.entity_type == plan.entity_type)).all())
        inspector_of = dict(session.execute(
            select(Inspector.badge, Inspector.id).where(Inspector.unit_code == plan.inspector_unit)).all())
        for position, d in enumerate(drawn, start=1):
            session.add(SpotCheckItem(draw_id=row.id, position=position, entity_id=entity_of[d.credit_code],
                                      inspector1_id=inspector_of[d.inspectors[0]],
                                      inspector2_id=inspector_of[d.inspectors[1]]))
        audit_log.record(session, actor, "spot_check.drawn",
                         after={"plan": plan_id, "round": round_no, "seed": plan.seed, "digest": row.digest,
                                "candidates": len(candidates), "inspectors": len(badges), "drawn": len(drawn)},
                         reason=reason, superseded_round=previous.round if previous is not None else None)
        uow.commit()
        draw_id, title = row.id, plan.title
    from services.cases import withdraw_case

    for case_id in withdraw:
        withdraw_case(uow, case_id, f"抽查计划重新抽取（第{round_no}轮）：{reason}", Actor.system("spot-checks"))
    return DrawResult(draw_id, round_no, digest_of(drawn), len(drawn), _start_inspections(uow, draw_id, title,
                                                                                        actor))


def _start_inspections(uow: UnitOfWork, draw_id: int, title: str, actor: Actor) -> list[int]:
    with uow.reader() as r:
        rows = r.session.execute(
            select(SpotCheckItem.id, RegulatedEntity.credit_code, RegulatedEntity.name, SpotCheckItem.inspector1_id,
                   SpotCheckItem.inspector2_id)
            .join(RegulatedEntity, RegulatedEntity.id == SpotCheckItem.entity_id)
            .where(SpotCheckItem.draw_id == draw_id, SpotCheckItem.inspection_case_id.is_(None))
            .order_by(SpotCheckItem.position)).all()
        names = {i.id: (i.name, i.badge) for i in r.session.execute(select(Inspector)).scalars()}
    made = []
    for item_id, code, name, first, second in rows:
        data = {"inspection": {"plan": title, "entity_name": name, "credit_code": code,
                               "inspectors": [{"name": names[x][0], "badge": names[x][1]} for x in (first, second)]}}

        def link(session: Session, case: Case, item_id: int = item_id) -> None:
            session.execute(update(SpotCheckItem).where(SpotCheckItem.id == item_id)
                            .values(inspection_case_id=case.id).execution_options(synchronize_session=False))

        made.append(start_process(uow, INSPECTION, data=data, subject_name=name, actor=actor, channel="window",
                                  also=link).case_id)
    return made


def verify(session: Session, draw_id: int) -> bool:
    """Re-run a stored draw from its seed and lists: True when it gives the published result."""
    row = session.get(SpotCheckDraw, draw_id)
    if row is None:
        return False
    plan = session.get(SpotCheckPlan, row.plan_id)
    drawn = compute_draw(plan.seed, row.round, list(row.candidates), list(row.inspectors),
                         sample_size(len(row.candidates), plan.sample_count, plan.sample_share))
    return digest_of(drawn) == row.digest


# -- what the public sees ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PublicItem:
    position: int
    entity_name: str
    credit_code: str
    inspectors: tuple[str, str]
    status: str  # pending | active | completed | withdrawn
    result: str | None  # compliant | rectify | violation
    summary: str | None  # the approved public summary


@dataclass(frozen=True)
class PublicDraw:
    id: int
    round: int
    digest: str
    reason: str | None
    superseded: bool
    drawn_at: Any
    candidates: list[str]
    inspectors: list[str]
    items: list[PublicItem]


@dataclass(frozen=True)
class PublicPlan:
    plan: SpotCheckPlan
    draws: list[PublicDraw]


def public_plans(session: Session) -> list[PublicPlan]:
    from engine import runtime
    from services.cases import case_workflow

    plans = list(session.execute(select(SpotCheckPlan).order_by(SpotCheckPlan.id.desc())).scalars())
    inspectors = {i.id: i.name for i in session.execute(select(Inspector)).scalars()}
    out = []
    for plan in plans:
        draws = []
        for d in session.execute(select(SpotCheckDraw).where(SpotCheckDraw.plan_id == plan.id)
                                 .order_by(SpotCheckDraw.round)).scalars():
            items = []
            for item, entity, case in session.execute(
                    select(SpotCheckItem, RegulatedEntity, Case)
                    .join(RegulatedEntity, RegulatedEntity.id == SpotCheckItem.entity_id)
                    .outerjoin(Case, Case.id == SpotCheckItem.inspection_case_id)
                    .where(SpotCheckItem.draw_id == d.id).order_by(SpotCheckItem.position)).all():
                summary = None
                if case is not None and case.status == "completed":
                    try:
                        wf = case_workflow(case)
                        summary = runtime.workflow_data(wf).get("public_summary") if wf is not None else None
                    except Exception:  # a damaged state must not hide the other results
                        summary = None
                pair = (inspectors.get(item.inspector1_id, ""), inspectors.get(item.inspector2_id, ""))
                items.append(PublicItem(item.position, entity.name, entity.credit_code, pair,
                                        case.status if case is not None else "pending",
                                        case.outcome if case is not None and case.status == "completed" else None,
                                        summary if isinstance(summary, str) else None))
            draws.append(PublicDraw(d.id, d.round, d.digest, d.reason, d.superseded, d.drawn_at, list(d.candidates),
                                    list(d.inspectors), items))
        out.append(PublicPlan(plan, draws))
    return out
