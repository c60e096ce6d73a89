"""Test fixtures that store small diagrams under a catalog matter's process id (to drive the clock, reminders
or the admin pages with a 3-step process) cannot pass the deploy gate: the matter's scenarios need the real
diagram. `deploy_ungated` stores such a version exactly as deploy_bundle does (compile, version number,
content hash, audit event) with the gate switched off — a version as it was stored before the gate existed.
Production code has no way to skip the gate."""

from __future__ import annotations

from typing import Any
from unittest import mock

from services import definitions, deploy_gate


def deploy_ungated(uow: Any, files: dict, main_file: str, actor: Any, **kwargs: Any) -> definitions.Deployment:
    with mock.patch.object(deploy_gate, "enforce", lambda *args, **kw: []):
        return definitions.deploy_bundle(uow, files, main_file, actor, **kwargs)
