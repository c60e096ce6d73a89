"""A time and memory budget for one script run, enforced with sys.settrace on the running thread.

Signals only work in the main thread; a trace function works in whichever thread runs the script (web
request, scheduler, test). The tracer checks the wall clock on every call and on every line of script code,
and every ~10 ms it also looks at how much the process has grown. When the budget is spent it raises
BudgetExceeded, a BaseException so that `except Exception:` in a script cannot swallow it; the policy also
puts a check at the top of every `except`/`finally` block, because CPython unsets the tracer once it raised.
"""

from __future__ import annotations

import os
import sys
import time
from types import FrameType
from typing import Any

from .policy import SCRIPT_FILENAME

DEFAULT_TIME_LIMIT = 2.0  # seconds of wall-clock time per script or expression
DEFAULT_MEMORY_LIMIT = 256 * 1024 * 1024  # bytes the process may grow while one script runs
_MEMORY_CHECK_INTERVAL = 0.01  # seconds between two looks at the resident set size

try:
    _PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
    _PAGE_SIZE = 4096


def resident_bytes() -> int | None:
    """Current resident set size of this process (Linux), or None where it cannot be read cheaply."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


class BudgetExceeded(BaseException):
    """Raised inside the script when its budget is spent; `kind` is "time" or "memory"."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Budget:
    """Use as a context manager around exactly one exec/eval, in the thread that runs it."""

    def __init__(
        self, time_limit: float = DEFAULT_TIME_LIMIT, memory_limit: int | None = DEFAULT_MEMORY_LIMIT
    ):
        self.time_limit = time_limit
        self.memory_limit = memory_limit
        self.tripped: str | None = None
        self._deadline = 0.0
        self._next_memory_check = 0.0
        self._memory_baseline: int | None = None
        self._previous_trace: Any = None
        self.started = 0.0
        self.elapsed = 0.0

    def __enter__(self) -> Budget:
        self.started = time.monotonic()
        self._deadline = self.started + self.time_limit
        # The baseline is taken lazily at the first memory check, so short scripts never pay for the read.
        self._next_memory_check = self.started + _MEMORY_CHECK_INTERVAL
        self._previous_trace = sys.gettrace()
        sys.settrace(self._on_call)
        return self

    def __exit__(self, *exc_info: object) -> None:
        sys.settrace(self._previous_trace)
        self.elapsed = time.monotonic() - self.started

    def check(self) -> None:
        """Raise BudgetExceeded if the budget is spent (also called from code injected into scripts)."""
        if self.tripped is not None:
            raise BudgetExceeded(self.tripped)
        now = time.monotonic()
        if now > self._deadline:
            self.tripped = "time"
            raise BudgetExceeded("time")
        if self.memory_limit is not None and now >= self._next_memory_check:
            self._next_memory_check = now + _MEMORY_CHECK_INTERVAL
            current = resident_bytes()
            if current is None:
                return
            if self._memory_baseline is None:
                self._memory_baseline = current
            elif current - self._memory_baseline > self.memory_limit:
                self.tripped = "memory"
                raise BudgetExceeded("memory")

    def _on_call(self, frame: FrameType, event: str, arg: object) -> Any:
        self.check()
        # Line events only for script code: the engine's own guard functions need no per-line checks.
        return self._on_line if frame.f_code.co_filename == SCRIPT_FILENAME else None

    def _on_line(self, frame: FrameType, event: str, arg: object) -> Any:
        self.check()
        return self._on_line
