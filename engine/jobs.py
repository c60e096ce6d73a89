"""Plain jobs for the engine workers: CPU-heavy work that is not an engine step but should not run in a web or
scheduler process either (a matter's scenario suite at deploy, rendering an official document to PDF).

A job names its function as "module:function". The name comes from the calling code, never from input, and
arguments and result are plain picklable data. A job gets the same isolation as a step (engine.worker: CPU
time, address space, the pool's wall-clock deadline), with its own allowances where it needs more.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class JobRequest:
    target: str  # "package.module:function"
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    deadline: float | None = None  # wall-clock seconds; None: the pool's step deadline
    cpu_seconds: int | None = None  # None: the workers' per-step allowance


@dataclass(frozen=True)
class JobOutcome:
    value: Any = None
    error: str | None = None  # "ExceptionType: message" when the function raised
    seconds: float = 0.0
    recycle: bool = False  # the worker ran out of memory: replace it


def run_job(request: JobRequest) -> JobOutcome:
    began = time.monotonic()
    module_name, _, name = request.target.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), name)
        value = function(*request.args, **dict(request.kwargs))
    except MemoryError:
        return JobOutcome(error="MemoryError", seconds=time.monotonic() - began, recycle=True)
    except Exception as exc:  # noqa: BLE001 - reported to the caller, who decides what it means
        return JobOutcome(error=f"{type(exc).__name__}: {exc}", seconds=time.monotonic() - began)
    return JobOutcome(value=value, seconds=time.monotonic() - began)
