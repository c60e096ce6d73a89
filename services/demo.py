"""Demo data for a fresh installation: the units of the catalog, one user per role and unit, the matters."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from services import definitions, users
from services.actors import Actor
from services.uow import UnitOfWork
from storage.models import Unit, User

DEMO_PASSWORD = "runonce-demo"

# (user name, display name, unit by its Chinese name, roles)
DEMO_USERS: tuple[tuple[str, str, str | None, tuple[str, ...]], ...] = (
    ("window1", "窗口 王敏", "审批办", ("window", "handler")),
    ("window_lead", "审批办 刘主任", "审批办", ("window", "handler", "lead")),
    ("eia1", "环评处 李强", "环评处", ("handler",)),
    ("eia2", "环评处 赵丽", "环评处", ("handler",)),
    ("eia_lead", "环评处 陈处长", "环评处", ("handler", "lead")),
    ("soil1", "土壤处 孙伟", "土壤处", ("handler",)),
    ("nuclear1", "核安全局 周杰", "核安全局", ("handler",)),
    ("ecology1", "生态处 吴芳", "生态处", ("handler",)),
    ("radiation1", "辐射站 郑涛", "辐射站", ("handler",)),
    ("solidwaste1", "固废中心 冯磊", "固废中心", ("handler",)),
    ("regs1", "法规处 何静", "法规处", ("handler", "lead")),
    # 监察总队: the inspections of the 双随机 spot checks (workflows/p03_inspection.bpmn)
    ("corps1", "监察总队 高原", "监察总队", ("handler",)),
    ("corps2", "监察总队 钱进", "监察总队", ("handler",)),
    ("corps_lead", "监察总队 韩队长", "监察总队", ("handler", "lead")),
    ("leader1", "厅领导 张副厅长", "厅领导", ("handler", "lead")),
    ("supervisor1", "督查 马明", None, ("supervisor",)),
    ("designer1", "流程设计 林晓", None, ("designer",)),
    ("admin", "系统管理员", None, ("admin", "supervisor", "designer")),
)


def seed(uow: UnitOfWork, workflows_dir: Path) -> list[str]:
    """Idempotent: creates what is missing, deploys changed diagrams; returns the demo user names made."""
    from workflows.catalog import load_catalog

    actor = Actor.system("setup")
    catalog = load_catalog()
    users.ensure_units(uow, [(u.code, u.name_zh, u.name_en) for u in catalog.units], actor)
    definitions.deploy_directory(uow, workflows_dir, actor)
    with uow.reader() as r:
        code_by_name = dict(r.session.execute(select(Unit.name_zh, Unit.code)).all())
        existing = set(r.session.execute(select(User.username)).scalars())
    made = []
    for username, display, unit_name, roles in DEMO_USERS:
        if username in existing:
            continue
        users.create_user(
            uow, username=username, password=DEMO_PASSWORD, display_name=display, roles=roles,
            unit_code=code_by_name.get(unit_name) if unit_name else None, actor=actor,
        )
        made.append(username)
    _seed_roster(uow, actor)
    return made


# The inspection corps' roster for the 双随机 draws (执法证号 are made up for the demo).
DEMO_INSPECTORS = (("高原", "JL-JC-2018-001"), ("钱进", "JL-JC-2018-002"), ("韩冬", "JL-JC-2018-003"),
                   ("孟雪", "JL-JC-2018-004"))


def _seed_roster(uow: UnitOfWork, actor: Actor) -> None:
    from services import spot_checks
    from storage.models import Inspector

    with uow.reader() as r:
        if r.session.execute(select(Inspector.id).limit(1)).first() is not None:
            return
    for name, badge in DEMO_INSPECTORS:
        spot_checks.add_inspector(uow, name, badge, "inspection_corps", actor)
