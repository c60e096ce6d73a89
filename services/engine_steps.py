"""The compute phase of a case command: one engine step, run in a worker process (engine.pool).

Commands are load → compute → write: a short read collects the saved state and a `DefinitionRef`; `run_step`
hands them to a worker while no transaction is open; a short write transaction stores the outcome under the
version check. A worker that is stopped (deadline, CPU, memory) or dies comes back as an outcome with
`lost=True` and a plain incident message: the case becomes an incident and keeps its previous state.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine import clock as engine_clock
from engine import limits as engine_limits
from engine.pool import PoolBusy, WorkerLost, shared_pool
from engine.steps import StepOutcome, StepRequest
from services.errors import N_, ServiceUnavailable
from storage.models import ProcessDefinition


@dataclass(frozen=True)
class DefinitionRef:
    """A deployed version as a worker needs it: its content hash (the worker's cache key) and its files."""

    key: str
    process_id: str
    files: Mapping[str, bytes]


_refs: dict[str, DefinitionRef] = {}
_refs_lock = threading.Lock()


def definition_ref(definition: ProcessDefinition) -> DefinitionRef:
    """Call while the definition's session is open: its files are read once per process and version
    (versions are immutable, so the content hash is a safe key)."""
    with _refs_lock:
        hit = _refs.get(definition.content_hash)
    if hit is None:
        files = {name: text.encode("utf-8") for name, text in definition.files.items()}
        hit = DefinitionRef(definition.content_hash, definition.process_id, files)
        with _refs_lock:
            _refs[definition.content_hash] = hit
    return hit


def run_step(
    ref: DefinitionRef,
    op: str,
    *,
    state: str | None = None,
    data: dict[str, Any] | None = None,
    task_id: str | None = None,
    now: datetime | None = None,
) -> StepOutcome:
    """Run one step in the pool. The caller's pinned engine clock (tests, the scheduler's job time) and its
    bounds of engine work (engine.limits, configured from ENGINE_* settings) go with it, so the worker's
    timers and now()/today() see the caller's time and its bounds are the caller's."""
    request = StepRequest(
        op=op, definition_key=ref.key, process_id=ref.process_id, state=state, data=data, task_id=task_id,
        now=now, pinned=engine_clock.pinned(), limits=engine_limits.current(),
    )
    try:
        return shared_pool().run(request, ref.files)
    except WorkerLost as lost:
        return StepOutcome.stopped(lost.message)
    except PoolBusy:
        raise ServiceUnavailable(
            N_("The workflow engine is busy. Nothing was saved; try again in a minute.")) from None
