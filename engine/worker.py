"""The engine worker process: runs steps (engine.steps.execute) and plain jobs (engine.jobs) one at a time
under OS limits.

Limits, set by the worker on itself before it takes any request:
- address space (RLIMIT_AS): an allocation beyond it fails with MemoryError, which ends the step as an
  incident; the worker then exits and is replaced;
- CPU time (RLIMIT_CPU): re-armed before every step to "CPU used so far + the step's allowance", so a step
  that computes too long (even inside one C call, where the in-process budget of engine.budget cannot look)
  gets SIGXCPU and dies; the parent sees the signal and replaces the worker;
- a lower CPU priority (nice): on a small machine a runaway step yields the cores to the web's requests;
- no core files; SIGINT ignored (a Ctrl-C in the server's terminal is for the parent, which stops us).
The wall-clock deadline is the parent's (engine.pool): it kills a worker that does not answer in time.
"""

from __future__ import annotations

import os
import resource
import signal
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection

from .jobs import JobOutcome, JobRequest, run_job
from .steps import MEMORY_MESSAGE, DefinitionCache, StepOutcome, execute

EXIT_OUT_OF_MEMORY = 75  # the worker could not even send its answer for lack of memory


@dataclass(frozen=True)
class WorkerLimits:
    cpu_seconds: int  # per step
    memory_bytes: int | None  # address space of the whole worker; None: unlimited
    nice: int = 10  # added to the worker's niceness


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def arm_cpu_limit(seconds: int) -> None:
    """Soft limit = CPU used so far + `seconds` (whole seconds; the hard limit stays where it is)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(_cpu_used()) + 1 + max(1, seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def apply_limits(limits: WorkerLimits) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if limits.nice:
        os.nice(limits.nice)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))


def serve(conn: Connection, limits: WorkerLimits) -> None:
    """The worker's loop: a StepRequest in, a StepOutcome out (or a JobRequest in, a JobOutcome out); None (or a
    closed pipe) ends it."""
    apply_limits(limits)
    definitions = DefinitionCache()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        outcome: StepOutcome | JobOutcome
        if isinstance(request, JobRequest):
            arm_cpu_limit(request.cpu_seconds or limits.cpu_seconds)
            outcome = run_job(request)
        else:
            arm_cpu_limit(limits.cpu_seconds)
            try:
                outcome = execute(request, definitions)
            except MemoryError:
                outcome = replace(StepOutcome.stopped(" / ".join(MEMORY_MESSAGE)), recycle=True)
        try:
            conn.send(outcome)
        except MemoryError:
            os._exit(EXIT_OUT_OF_MEMORY)
        except (OSError, ValueError):
            return  # the parent went away (or gave up on us)
        if outcome.recycle:
            return
