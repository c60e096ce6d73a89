"""A small pool of engine worker processes: where diagram code runs, so that the web and scheduler
processes never do.

- Workers are started lazily (the first step starts the first one) from multiprocessing's forkserver, which
  has imported the engine once: a worker is a fork of it, ready in milliseconds, and never a fork of a
  threaded web server. At most `workers` run at once; a caller waits for a free one (PoolBusy after
  `acquire_timeout`).
- Each step has a wall-clock deadline enforced here: a worker that does not answer in time is killed.
  A worker that dies otherwise (SIGXCPU at its CPU limit, its address-space limit) is noticed here too.
  Either way it is replaced and the step comes back as WorkerLost with a plain message, which the service
  layer turns into an incident of the case.
- A worker is sent a version's files only the first time it runs a case of that version; it keeps the
  parsed spec (engine.steps.DefinitionCache).

The pool belongs to the process that made it (`shared_pool()` makes a new one after a fork). There is no
in-process mode: tests of the engine call engine.steps.execute directly, everything else goes through here.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import multiprocessing
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from multiprocessing import popen_forkserver, spawn
from typing import Any

from . import worker as worker_module
from .jobs import JobOutcome, JobRequest
from .steps import StepOutcome, StepRequest
from .worker import EXIT_OUT_OF_MEMORY, WorkerLimits

ENV_PREFIX = "ENGINE_"


@dataclass(frozen=True)
class PoolSettings:
    workers: int = 2
    # Above the engine's own bound of a command (engine.limits.command_seconds, 30 s), which stops a runaway
    # between steps with the case's state kept: these stop what that bound cannot see (one long C call).
    deadline: float = 40.0  # wall-clock seconds per step
    cpu_seconds: int = 35  # CPU seconds per step (RLIMIT_CPU)
    memory_mb: int | None = 1024  # address space of a worker (RLIMIT_AS); None: unlimited
    acquire_timeout: float = 60.0  # how long a step waits for a free worker
    nice: int = 10  # workers run at a lower CPU priority than the web and scheduler threads

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None = None) -> PoolSettings:
        """From ENGINE_WORKERS / _DEADLINE / _CPU_SECONDS / _MEMORY_MB / _ACQUIRE_TIMEOUT / _NICE (environment or app
        config); missing ones keep their defaults."""
        env = os.environ if values is None else values
        default = cls()

        def get(name: str, kind: type, fallback: Any) -> Any:
            raw = env.get(ENV_PREFIX + name)
            if raw in (None, ""):
                return fallback
            return kind(raw)

        memory = get("MEMORY_MB", int, default.memory_mb)
        return cls(
            workers=max(1, get("WORKERS", int, default.workers)),
            deadline=get("DEADLINE", float, default.deadline),
            cpu_seconds=max(1, get("CPU_SECONDS", int, default.cpu_seconds)),
            memory_mb=memory if memory and memory > 0 else None,
            acquire_timeout=get("ACQUIRE_TIMEOUT", float, default.acquire_timeout),
            nice=get("NICE", int, default.nice),
        )

    @property
    def limits(self) -> WorkerLimits:
        memory = self.memory_mb * 1024 * 1024 if self.memory_mb else None
        return WorkerLimits(cpu_seconds=self.cpu_seconds, memory_bytes=memory, nice=self.nice)


class WorkerLost(Exception):
    """The worker running a step was stopped or died; `reason` is deadline | cpu | memory | crashed."""

    def __init__(self, reason: str, zh: str, en: str) -> None:
        self.reason = reason
        self.message_zh = zh
        self.message_en = en
        self.message = f"{zh} / {en}"
        super().__init__(self.message)


class PoolBusy(Exception):
    """No worker became free in time (every worker is busy with a long step)."""


class EngineFailure(RuntimeError):
    """The engine failed in a way no diagram or input should cause (a bug, a damaged saved state)."""


class JobFailed(RuntimeError):
    """A job's function raised; the message is "ExceptionType: message" from the worker."""


def _lost(reason: str, settings: PoolSettings) -> WorkerLost:
    if reason == "deadline":
        return WorkerLost(reason,
                          f"流程步骤运行超过 {settings.deadline:g} 秒，已被终止；请检查流程中的脚本后重试",
                          f"the step ran longer than {settings.deadline:g} s and was stopped; "
                          "check the diagram's scripts, then retry")
    if reason == "cpu":
        return WorkerLost(reason,
                          f"流程步骤占用 CPU 超过 {settings.cpu_seconds} 秒，已被终止；请检查流程中的脚本后重试",
                          f"the step used more than {settings.cpu_seconds} s of CPU time and was stopped; "
                          "check the diagram's scripts, then retry")
    if reason == "memory":
        return WorkerLost(reason,
                          f"流程步骤占用内存超过 {settings.memory_mb} MB，已被终止；请检查流程中的脚本后重试",
                          f"the step used more than {settings.memory_mb} MB of memory and was stopped; "
                          "check the diagram's scripts, then retry")
    return WorkerLost(reason, "执行流程步骤的进程意外退出；请稍后重试，若再次发生请检查流程",
                      "the process running the step exited unexpectedly; retry later, and check the "
                      "diagram if it happens again")


# ---------------------------------------------------------------- starting workers


class _LeanPopen(popen_forkserver.Popen):
    """The forkserver launch without the parent's __main__: a worker needs engine.worker only, not the
    web server's or a benchmark's main module (which multiprocessing would import again in every child)."""

    def _launch(self, process_obj: Any) -> None:  # pragma: no cover - mirrors CPython 3.11
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_name", None)
        prep_data.pop("init_main_from_path", None)
        buf = io.BytesIO()
        multiprocessing.context.set_spawning_popen(self)
        try:
            multiprocessing.context.reduction.dump(prep_data, buf)
            multiprocessing.context.reduction.dump(process_obj, buf)
        finally:
            multiprocessing.context.set_spawning_popen(None)
        from multiprocessing import forkserver, util

        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


_CONTEXT = multiprocessing.get_context("forkserver")


class _WorkerProcess(_CONTEXT.Process):  # type: ignore[name-defined,misc]
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _LeanPopen(process_obj)


_preload_lock = threading.Lock()
_preloaded = False


def _ensure_preload() -> None:
    """The forkserver imports the engine once; every worker forked from it starts warm."""
    global _preloaded
    with _preload_lock:
        if not _preloaded:
            _CONTEXT.set_forkserver_preload(["engine.worker"])
            _preloaded = True


class _Worker:
    def __init__(self, settings: PoolSettings) -> None:
        _ensure_preload()
        self.conn, child = _CONTEXT.Pipe(duplex=True)
        self.process = _WorkerProcess(target=worker_module.serve, args=(child, settings.limits), daemon=True,
                                      name="runonce-engine")
        self.process.start()
        child.close()
        self.known: set[str] = set()  # definition keys this worker has parsed
        self.steps = 0

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self, kill: bool = False) -> None:
        if kill and self.process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self.process.kill()
        elif self.process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(None)
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=2)
        self.conn.close()

    def exit_reason(self) -> str:
        self.process.join(timeout=2)
        code = self.process.exitcode
        if code == -signal.SIGXCPU:
            return "cpu"
        if code == EXIT_OUT_OF_MEMORY:
            return "memory"
        return "crashed"


# Every pool of this process (the shared one, the PDF renderers' …): shutdown() and a fork let go of them all.
_pools: weakref.WeakSet[EnginePool] = weakref.WeakSet()


class _SendFailed(Exception):
    """The request never reached the worker (it had died while idle): nothing ran, try another."""


class EnginePool:
    def __init__(self, settings: PoolSettings | None = None) -> None:
        self.settings = settings or PoolSettings()
        self.pid = os.getpid()
        _pools.add(self)
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting = 0
        self._closed = False
        # steps run; seconds the callers waited for them (round trips) and seconds the workers computed
        self.stats: dict[str, float] = {"started": 0, "replaced": 0, "steps": 0, "jobs": 0,
                                        "round_trip_seconds": 0.0, "worker_seconds": 0.0, "job_seconds": 0.0,
                                        "job_round_trip_seconds": 0.0}

    # -- public

    def run(self, request: StepRequest, files: Mapping[str, bytes]) -> StepOutcome:
        """Run one step in a worker. Raises WorkerLost (the step was stopped: deadline, CPU, memory or a
        crash), PoolBusy, or EngineFailure (the engine reported an unexpected error)."""
        outcome = self._with_worker(lambda worker: self._exchange(worker, request, files))
        if outcome.failure is not None:
            raise EngineFailure(outcome.failure)
        return outcome

    def call(self, job: JobRequest) -> Any:
        """Run a plain job (engine.jobs) in a worker and return its function's result. Raises WorkerLost (stopped
        at its deadline or limits, or crashed), PoolBusy, or JobFailed (its function raised)."""
        settings = self.settings if job.deadline is None else replace(self.settings, deadline=job.deadline)

        def exchange(worker: _Worker) -> JobOutcome:
            began = time.monotonic()
            self._send(worker, job, fresh=True)
            outcome: JobOutcome = self._receive(worker, began + settings.deadline, settings)
            with self._cond:
                self.stats["jobs"] += 1
                self.stats["job_seconds"] += outcome.seconds
                self.stats["job_round_trip_seconds"] += time.monotonic() - began
            return outcome

        outcome = self._with_worker(exchange)
        if outcome.error is not None:
            raise JobFailed(outcome.error)
        return outcome.value

    def _with_worker(self, exchange: Callable[[_Worker], Any]) -> Any:
        """One exchange with a free worker: a worker that had died while idle (the request never reached it) is
        replaced and the next one tried; one that fails during the exchange, or asks to be recycled, is
        replaced; the others go back to the idle list."""
        for _attempt in range(3):
            worker = self._checkout()
            try:
                outcome = exchange(worker)
            except _SendFailed:
                self._discard(worker, replaced=True)
                continue
            except BaseException:
                self._discard(worker, replaced=True)
                raise
            if outcome.recycle:
                self._discard(worker, replaced=True)
            else:
                self._checkin(worker)
            return outcome
        raise _lost("crashed", self.settings)

    def warm_up(self, count: int | None = None) -> None:
        """Start workers ahead of the first step (servers call this; tests and commands need not)."""
        wanted = min(count or self.settings.workers, self.settings.workers)
        workers = [self._checkout() for _ in range(wanted)]
        for w in workers:
            self._checkin(w)

    @property
    def size(self) -> int:
        with self._cond:
            return len(self._idle) + len(self._busy) + self._starting

    def worker_pids(self) -> list[int]:
        with self._cond:
            return [w.process.pid for w in [*self._idle, *self._busy] if w.process.pid is not None]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
            self._cond.notify_all()
        for w in idle:
            w.stop()
        for w in busy:
            w.stop(kill=True)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- internals

    def _checkout(self) -> _Worker:
        deadline = time.monotonic() + self.settings.acquire_timeout
        with self._cond:
            while True:
                if self._closed:
                    raise PoolBusy("the engine pool is closed")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        self._busy.add(worker)
                        return worker
                    self._forget_locked(worker)
                if len(self._busy) + self._starting < self.settings.workers:
                    self._starting += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PoolBusy(f"no engine worker became free within {self.settings.acquire_timeout:g} s")
                self._cond.wait(timeout=left)
        try:
            worker = _Worker(self.settings)
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._starting -= 1
            self._busy.add(worker)
            self.stats["started"] += 1
        return worker

    def _checkin(self, worker: _Worker) -> None:
        with self._cond:
            self._busy.discard(worker)
            if self._closed:
                stop = True
            else:
                stop = False
                self._idle.append(worker)
                self._cond.notify()
        if stop:
            worker.stop()

    def _forget_locked(self, worker: _Worker) -> None:
        worker.conn.close()
        worker.process.join(timeout=0)
        self.stats["replaced"] += 1

    def _discard(self, worker: _Worker, replaced: bool) -> None:
        worker.stop(kill=True)
        with self._cond:
            self._busy.discard(worker)
            if replaced:
                self.stats["replaced"] += 1
            self._cond.notify()

    def _exchange(self, worker: _Worker, request: StepRequest, files: Mapping[str, bytes]) -> StepOutcome:
        began = time.monotonic()
        deadline = began + self.settings.deadline
        first = request if request.definition_key in worker.known else replace(request, files=dict(files))
        self._send(worker, first, fresh=True)
        outcome = self._receive(worker, deadline)
        if outcome.need_definition:  # the worker dropped it from its cache meanwhile
            self._send(worker, replace(request, files=dict(files)), fresh=False)
            outcome = self._receive(worker, deadline)
        worker.known.add(request.definition_key)
        worker.steps += 1
        with self._cond:
            self.stats["steps"] += 1
            self.stats["round_trip_seconds"] += time.monotonic() - began
            self.stats["worker_seconds"] += outcome.seconds
        return outcome

    def _send(self, worker: _Worker, request: StepRequest | JobRequest, fresh: bool) -> None:
        try:
            worker.conn.send(request)
        except (OSError, ValueError):
            if fresh:
                raise _SendFailed() from None
            raise _lost(worker.exit_reason(), self.settings) from None

    def _receive(self, worker: _Worker, deadline: float, settings: PoolSettings | None = None) -> Any:
        settings = settings or self.settings
        if not worker.conn.poll(max(0.0, deadline - time.monotonic())):
            worker.stop(kill=True)
            raise _lost("deadline", settings)
        try:
            return worker.conn.recv()
        except (EOFError, OSError):
            raise _lost(worker.exit_reason(), settings) from None


# ---------------------------------------------------------------- the process's pool

_shared: EnginePool | None = None
_shared_settings: PoolSettings | None = None
_shared_lock = threading.Lock()


def configure(settings: PoolSettings) -> EnginePool:
    """Use these settings for this process's pool from now on (the running pool is replaced only when they
    differ)."""
    global _shared, _shared_settings
    with _shared_lock:
        _shared_settings = settings
        old = _shared
        if old is not None and old.pid == os.getpid() and not old.closed and old.settings == settings:
            return old
        _shared = EnginePool(settings)
    if old is not None and old.pid == os.getpid():
        old.close()
    return _shared


def shared_pool() -> EnginePool:
    """This process's pool (made on first use, with configure()'s settings or those of the environment)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.closed or _shared.pid != os.getpid():
            _shared = EnginePool(_shared_settings or PoolSettings.from_mapping())
        return _shared


def shutdown() -> None:
    """Stop this process's workers — of every pool, the shared one and others such as the PDF renderers' —
    and its forkserver (a server's master process before it forks workers; the forkserver does not stop while
    a worker it forked still runs)."""
    global _shared
    with _shared_lock:
        _shared = None
    for pool in list(_pools):
        if pool.pid == os.getpid():
            pool.close()
    from multiprocessing import forkserver

    forkserver._forkserver._stop()


def _close_at_exit() -> None:
    for pool in list(_pools):
        if pool.pid == os.getpid():
            pool.close()


def _after_fork_in_child() -> None:
    """This process is a fork of one that had started engine workers (a server forking its workers): those
    workers, their pipes and multiprocessing's forkserver are the parent's. Let go of them here; this process
    starts its own on first use."""
    global _shared, _shared_lock
    _shared_lock = threading.Lock()
    _shared = None
    for pool in list(_pools):
        for worker in [*pool._idle, *pool._busy]:
            with contextlib.suppress(OSError):
                worker.conn.close()  # so that the parent's workers see the end of their pipe with the parent
    from multiprocessing import forkserver

    server = forkserver._forkserver
    server._lock = threading.Lock()
    if server._forkserver_pid is not None:
        if server._forkserver_alive_fd is not None:
            with contextlib.suppress(OSError):
                os.close(server._forkserver_alive_fd)
        server._forkserver_address = server._forkserver_alive_fd = server._forkserver_pid = None


atexit.register(_close_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
