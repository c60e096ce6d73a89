"""Helpers for the API tests: an app with m07 deployed, clients with scopes, a submission."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from flask import Flask

from app import uow_for
from services import api_clients
from services.actors import Actor
from services.definitions import bundle_for, deploy_bundle
from services.users import ensure_units
from workflows.catalog import shipped_catalog

ROOT = Path(__file__).resolve().parents[2]
LOCAL_RECEIVER = "127.0.0.1"  # the webhook tests' receiver (on WEBHOOK_ALLOWED_HOSTS: it is loopback)
CREDIT_CODE = "91220000123456789K"  # valid check character
PDF = b"%PDF-1.4\n% test material\n%%EOF\n"
APPLICATION = {
    "matter_code": "m07",
    "applicant": {"name": "吉林某化工有限公司", "credit_code": CREDIT_CODE, "contact": "张三",
                  "phone": "13912345678", "email": "zhangsan@example.cn", "address": "吉林省长春市某区某路1号"},
    "delivery_mode": "post",
}
UNITS = [("approval_office", "审批办", "Approval Office"), ("nuclear_safety", "核安全局", "Nuclear Safety"),
         ("leadership", "厅领导", "Leadership")]


def deploy(app: Flask, *stems: str) -> None:
    ensure_units(uow_for(app), UNITS, Actor.system("test"))
    for stem in stems:
        path = next((ROOT / "workflows").glob(f"{stem}_*.bpmn"))
        deploy_bundle(uow_for(app), bundle_for(path), path.name, Actor.system("test"))


def new_client(app: Flask, name: str, *scopes: str, rate: int | None = None) -> dict[str, str]:
    issued = api_clients.create(uow_for(app), name, list(scopes or api_clients.SCOPES), Actor.system("test"), rate)
    return {"Authorization": f"Bearer {issued.token}"}


def required_parts(matter: str = "m07", content: bytes = PDF) -> dict[str, Any]:
    return {f"material:{item.code}": (io.BytesIO(content), f"{item.name_zh}.pdf")
            for item in shipped_catalog().matter(matter).materials if item.required}


def submission(application: dict[str, Any] | None = None, content: bytes = PDF) -> dict[str, Any]:
    return {"application": json.dumps(application or APPLICATION, ensure_ascii=False),
            **required_parts(content=content)}
