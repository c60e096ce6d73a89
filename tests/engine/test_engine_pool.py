"""The engine step (engine.steps.execute) and the worker pool that runs it (engine.pool): OS limits, the
wall-clock deadline, replacement of a stopped worker, the definition cache, the pinned clock."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import psutil
import pytest
import runaway_diagrams
from engine_support import simple, timer_catch, user

from engine import steps
from engine.definitions import content_hash
from engine.pool import EnginePool, PoolBusy, PoolSettings, WorkerLost
from engine.steps import DefinitionCache, StepRequest

SIMPLE = {"simple.bpmn": simple(user("first"), process_id="simple")}
TIMER = {"timer.bpmn": simple(timer_catch("wait", "timeDuration", "PT2H"), user("after"), process_id="timer")}
CPU = {"runaway_cpu.bpmn": runaway_diagrams.CPU}
MEMORY = {"runaway_memory.bpmn": runaway_diagrams.MEMORY}
DIVIDE = {"divide.bpmn": simple(user("first"), '    <bpmn:scriptTask id="spin"><bpmn:script>x = 1 / 0'
                                "</bpmn:script></bpmn:scriptTask>\n", process_id="divide")}


def request(bundle, op=steps.START, **kw) -> StepRequest:
    process_id = next(iter(bundle)).removesuffix(".bpmn")
    return StepRequest(op=op, definition_key=content_hash(bundle), process_id=process_id, **kw)


# ---------------------------------------------------------------- the step itself, no process


def test_a_step_reports_what_the_service_layer_writes():
    cache = DefinitionCache()
    assert steps.execute(request(SIMPLE, data={"a": 1}), cache).need_definition
    started = steps.execute(request(SIMPLE, data={"a": 1}, files=SIMPLE), cache)
    assert started.incident is None and started.state and started.data["a"] == 1
    [task] = started.ready
    assert (task.spec_name, task.lane, task.form) == ("first", None, None)
    assert not started.completed and started.facts is not None and not started.facts.accepted
    done = steps.execute(request(SIMPLE, steps.COMPLETE, state=started.state, task_id=task.id,
                                 data={"accepted": True}), cache)  # the parsed spec is cached now
    assert done.completed and done.ready == [] and done.before == {"a": 1} and done.data["accepted"] is True
    assert done.facts.accepted and done.facts.completed


def test_refusals_and_failures_change_nothing():
    cache = DefinitionCache()
    started = steps.execute(request(DIVIDE, files=DIVIDE), cache)
    again = steps.execute(request(DIVIDE, steps.COMPLETE, state=started.state, task_id="not-a-task", data={}),
                          cache)
    assert again.refusal == steps.TASK_NOT_READY and again.state is None
    bad = steps.execute(request(DIVIDE, steps.COMPLETE, state=started.state, task_id=started.ready[0].id,
                                data={"x": float("nan")}), cache)
    assert bad.refusal == steps.BAD_DATA and bad.refusal_path == "x"
    failed = steps.execute(request(DIVIDE, steps.COMPLETE, state=started.state, task_id=started.ready[0].id,
                                   data={}), cache)
    assert failed.incident.startswith("spin: ") and "ZeroDivisionError" in failed.incident and failed.state
    damaged = steps.execute(request(DIVIDE, steps.ADVANCE, state="{not json"), cache)
    assert damaged.failure and damaged.state is None


def test_the_callers_pinned_clock_is_the_steps_clock():
    moment = datetime(2018, 5, 2, 9, tzinfo=UTC)
    started = steps.execute(request(TIMER, files=TIMER, pinned=moment), DefinitionCache())
    assert started.next_timer_due == moment + timedelta(hours=2)


# ---------------------------------------------------------------- the pool


@pytest.fixture
def pool():
    made = EnginePool(PoolSettings(workers=2, deadline=3.0, cpu_seconds=1, memory_mb=400, acquire_timeout=1.0))
    yield made
    made.close()


def _start(pool: EnginePool, files) -> steps.StepOutcome:
    return pool.run(request(files, data={}), files)


def test_workers_start_on_first_use_and_get_each_version_once(pool):
    assert pool.size == 0
    outcome = _start(pool, SIMPLE)
    assert outcome.ready and pool.size == 1 and pool.stats["started"] == 1
    [pid] = pool.worker_pids()
    assert psutil.Process(pid).ppid() != os.getpid()  # forked by the forkserver, not by this (threaded) process
    sent = []
    original = pool._send
    pool._send = lambda worker, req, fresh: (sent.append(req.files is not None), original(worker, req, fresh))
    _start(pool, SIMPLE)
    assert sent == [False]  # the worker parsed this version already: only its hash travels


def test_a_worker_that_died_while_idle_is_replaced_without_losing_the_step(pool):
    _start(pool, SIMPLE)
    [pid] = pool.worker_pids()
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(timeout=5) if psutil.pid_exists(pid) else None
    assert _start(pool, SIMPLE).ready
    assert pid not in pool.worker_pids()


def _complete_runaway(pool: EnginePool, files) -> WorkerLost | steps.StepOutcome:
    started = _start(pool, files)
    try:
        return pool.run(request(files, steps.COMPLETE, state=started.state, task_id=started.ready[0].id, data={}),
                        files)
    except WorkerLost as lost:
        return lost


def test_a_step_stuck_in_c_code_is_stopped_and_its_worker_replaced(pool):
    began = time.monotonic()
    lost = _complete_runaway(pool, CPU)
    assert isinstance(lost, WorkerLost) and lost.reason in ("cpu", "deadline")
    assert "已被终止" in lost.message and time.monotonic() - began < pool.settings.deadline + 3
    assert pool.stats["replaced"] == 1 and pool.size == 0
    assert _start(pool, SIMPLE).ready  # a fresh worker serves the next step


def test_a_step_that_allocates_without_bound_hits_the_address_space_limit(pool):
    outcome = _complete_runaway(pool, MEMORY)
    if isinstance(outcome, WorkerLost):  # died outright (could not even report)
        assert outcome.reason in ("memory", "crashed", "deadline")
    else:
        assert outcome.incident.startswith("spin: ") and "内存" in outcome.incident and outcome.recycle
    assert pool.stats["replaced"] == 1
    assert psutil.Process().memory_info().rss < 400 * 1024 * 1024  # it all happened in the worker


def test_callers_wait_for_a_free_worker_and_give_up_after_a_while():
    pool = EnginePool(PoolSettings(workers=1, deadline=3.0, cpu_seconds=10, acquire_timeout=0.5))
    try:
        runaway = threading.Thread(target=_complete_runaway, args=(pool, CPU))
        _start(pool, SIMPLE)
        runaway.start()
        time.sleep(0.5)  # the runaway holds the only worker
        with pytest.raises(PoolBusy):
            _start(pool, SIMPLE)
        runaway.join()
        assert _start(pool, SIMPLE).ready
    finally:
        pool.close()


def test_settings_come_from_the_environment_or_the_app_config():
    assert PoolSettings.from_mapping({}) == PoolSettings()
    settings = PoolSettings.from_mapping({"ENGINE_WORKERS": "3", "ENGINE_DEADLINE": 5, "ENGINE_MEMORY_MB": "0"})
    assert (settings.workers, settings.deadline, settings.memory_mb) == (3, 5.0, None)


def test_a_cause_chain_that_loops_back_is_followed_once():
    first, second = ValueError("a"), KeyError("b")
    first.__context__, second.__context__ = second, first
    assert steps._caused_by_memory(first) is False
    second.__cause__ = MemoryError()
    assert steps._caused_by_memory(first) is True


FORKED = """
import os, sys
from engine.definitions import content_hash
from engine.pool import shared_pool
from engine.steps import StepRequest
files = {"simple.bpmn": sys.stdin.buffer.read()}
step = lambda: shared_pool().run(StepRequest("start", content_hash(files), "simple", data={}), files)
assert step().ready  # this process's workers and forkserver are running
pid = os.fork()  # as a server's master forks its workers
if pid == 0:
    os._exit(0 if step().ready else 1)  # the child starts workers of its own
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert step().ready  # and the parent's still serve
print("ok")
"""


def test_a_forked_process_starts_engine_workers_of_its_own():
    import subprocess
    import sys

    from engine_support import ROOT

    done = subprocess.run([sys.executable, "-c", FORKED], input=SIMPLE["simple.bpmn"], cwd=ROOT,
                          capture_output=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == b"ok", done.stderr.decode()[-2000:]
