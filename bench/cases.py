"""EIA cases to completion: the service layer on SQLite against bare SpiffWorkflow, in one run.

Both sides drive the same diagram (workflows/m01_eia_approval.bpmn + shared call activities) along the same
path with the same form data (the grant path of the test suite's scenario table), timers included:
- bare: SpiffWorkflow's default engine, the spec parsed once, a JSON save and load around every step;
- service: services.cases on a SQLite file (WAL): sandboxed scripts, guarded saves, derived task rows,
  the clock, trip accounting and hash-chained audit events; each command is a short read, the engine step in
  a worker process (engine.pool) and one short write transaction; the official documents a command issues
  (4 per EIA case) are rendered after it by the background renderer in a worker (services.document_rendering),
  as on the servers; what is left to render when a round ends is drained and timed apart.
- the same service layer with the engine step run in this process instead (measurement only: the
  difference is what the worker boundary costs per command; the application never runs steps in-process).

    .venv/bin/python -m bench.cases [--cases 200]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine import steps
from engine.clock import frozen_time
from engine.pool import shared_pool
from services import cases, definitions, document_rendering, users
from services.actors import Actor, actor_for
from services.uow import UnitOfWork
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import HumanTask, User
from workflows.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "workflows"))
import driver  # noqa: E402  (the scenario table of the test suite: same path, same form data)

MATTER = "m01"
START = datetime.fromisoformat(driver.START_TIME)


def scenario():
    return next(s for s in driver.SCENARIOS if s.id == "m01_eia_approval:grant_window_post")


def bare_runner() -> Callable[[int], float]:
    """Parse once; the returned function runs n cases and returns the seconds it took."""
    sc = scenario()
    catalog = load_catalog()
    bundle = definitions.bundle_for(catalog.diagram_path(MATTER))
    parser = SpiffBpmnParser()
    for data in bundle.values():
        parser.add_bpmn_str(data)
    spec, subs = parser.get_spec(sc.matter), parser.get_subprocess_specs(sc.matter)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    start = {k: v for k, v in sc.start.items() if not k.startswith("_")}
    return lambda n: _run_bare(n, sc, spec, subs, serializer, start)


def _run_bare(n, sc, spec, subs, serializer, start) -> float:
    began = time.perf_counter()
    for _ in range(n):
        with frozen_time(START):
            wf = BpmnWorkflow(spec, subs)
            for task in wf.get_tasks(state=TaskState.READY):
                task.set_data(**copy.deepcopy(start))
            wf.do_engine_steps()
            state = serializer.serialize_json(wf)
        now = START
        for name, payload in sc.steps:
            if name == driver.CLOCK:
                now = datetime.fromisoformat(payload)
            with frozen_time(now):
                wf = serializer.deserialize_json(state)
                if name == driver.CLOCK:
                    wf.refresh_timers()
                else:
                    [task] = [
                        t
                        for t in wf.get_tasks(state=TaskState.READY, manual=True)
                        if t.task_spec.name == name
                    ]
                    task.data.update(copy.deepcopy(payload))
                    task.run()
                wf.do_engine_steps()
                state = serializer.serialize_json(wf)
        assert wf.is_completed()
    return time.perf_counter() - began


def _world(uow: UnitOfWork) -> dict[str, Actor]:
    catalog = load_catalog()
    system = Actor.system("bench")
    users.ensure_units(uow, [(u.code, u.name_zh, u.name_en) for u in catalog.units], system)
    for name, unit in (("window1", "approval_office"), ("eia1", "eia"), ("leader1", "leadership")):
        users.create_user(
            uow,
            username=name,
            password="bench-password",
            display_name=name,
            roles=("window", "handler", "lead"),
            unit_code=unit,
            actor=system,
        )
    diagram = catalog.diagram_path(MATTER)
    definitions.deploy_bundle(uow, definitions.bundle_for(diagram), diagram.name, system)
    with uow.reader() as r:
        people = [actor_for(r.session, u) for u in r.session.execute(select(User)).scalars()]
    return {lane: a for a in people for lane in a.lanes}


def service_runner(db_path: Path) -> Callable[[int], float]:
    """A migrated, seeded SQLite database; the returned function runs n cases and returns the seconds."""
    sc = scenario()
    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    uow = UnitOfWork(make_session_factory(engine))
    by_lane = _world(uow)
    start = {k: v for k, v in sc.start.items() if not k.startswith("_")}
    applicant = cases.Applicant(**{k: start["applicant"][k] for k in ("name", "contact", "phone", "address")})
    extra = {
        k: v for k, v in start.items() if k not in ("matter_code", "applicant", "channel", "delivery_mode")
    }
    return lambda n: _run_service(n, sc, uow, by_lane, start, applicant, extra)


class _InProcessEngineForMeasuring:
    """Stands in for the worker pool while measuring the cost of the worker boundary; bench only."""

    def __init__(self) -> None:
        self.cache = steps.DefinitionCache()

    def run(self, request: steps.StepRequest, files) -> steps.StepOutcome:
        outcome = steps.execute(request, self.cache)
        if outcome.need_definition:
            outcome = steps.execute(dataclasses.replace(request, files=dict(files)), self.cache)
        return outcome


def in_process(run: Callable[[int], float]) -> Callable[[int], float]:
    """`run` with engine steps executed in this process (see _InProcessEngineForMeasuring)."""
    from services import engine_steps

    engine = _InProcessEngineForMeasuring()

    def measured(n: int) -> float:
        original = engine_steps.shared_pool
        engine_steps.shared_pool = lambda: engine  # type: ignore[assignment]
        try:
            return run(n)
        finally:
            engine_steps.shared_pool = original

    return measured


def _run_service(n, sc, uow, by_lane, start, applicant, extra) -> float:
    began = time.perf_counter()
    for _ in range(n):
        with frozen_time(START):
            case_id = cases.register_case(
                uow,
                matter_code=MATTER,
                applicant=applicant,
                channel=start["channel"],
                delivery_mode=start["delivery_mode"],
                actor=by_lane["审批办"],
                data=extra,
            ).case_id
        now = START
        for name, payload in sc.steps:
            if name == driver.CLOCK:
                now = datetime.fromisoformat(payload)
                with frozen_time(now):
                    cases.fire_due_timers(uow, now)
                continue
            with uow.reader() as r:
                task = r.session.execute(
                    select(HumanTask).where(
                        HumanTask.case_id == case_id, HumanTask.state == "ready", HumanTask.spec_name == name
                    )
                ).scalar_one()
            with frozen_time(now):
                cases.complete_task(uow, task.id, payload, by_lane[task.lane])
    return time.perf_counter() - began


class _RecordedPages:
    """Keeps the pages the background renderer is given, so that the same pages can be rendered again by bare
    WeasyPrint in this process as the documents' baseline; bench only."""

    def __init__(self) -> None:
        self.pages: list[str] = []
        self._real = document_rendering._pdf

    def __call__(self, html: str) -> bytes:
        if len(self.pages) < 40:
            self.pages.append(html)
        return self._real(html)


def _timed_drain() -> float:
    began = time.perf_counter()
    document_rendering.drain()
    return time.perf_counter() - began


def bare_weasyprint(pages: list[str]) -> float:
    """Seconds per page for WeasyPrint in this process on the same pages (warm: fonts and styles loaded)."""
    from documents.render import html_to_pdf

    html_to_pdf(pages[0])
    began = time.perf_counter()
    for page in pages:
        html_to_pdf(page)
    return (time.perf_counter() - began) / len(pages)


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--cases", type=int, default=200)
    args.add_argument("--rounds", type=int, default=8, help="alternate the sides this many times")
    opts = args.parse_args(argv)
    steps_per_case = sum(1 for name, _ in scenario().steps if name != driver.CLOCK)
    per_round = max(1, opts.cases // opts.rounds)
    bare = bare_runner()
    # As the servers run: each command's documents are rendered after it, by the background thread in a worker.
    document_rendering.configure(document_rendering.BACKGROUND)
    recorder = _RecordedPages()
    document_rendering._pdf = recorder  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FILES_DIR"] = str(Path(tmp) / "files")
        service = service_runner(Path(tmp) / "bench.db")
        local = in_process(service)
        bare(3), service(3), local(3)  # warm-up: imports, caches, the first pages of the database, a worker
        _timed_drain()
        pool = shared_pool()
        # Alternating rounds: a slow spell of this shared machine hits every side alike. The documents left to
        # render when a service round ends are drained before the next side runs (timed apart).
        bare_s = service_s = local_s = drain_s = 0.0
        ratios = []
        before = dict(pool.stats)
        renderer = document_rendering._render_pool()
        rendered_before = dict(renderer.stats)
        for _ in range(opts.rounds):
            b = bare(per_round)
            s_ = service(per_round)
            drain_s += _timed_drain()
            i = local(per_round)
            _timed_drain()
            bare_s, service_s, local_s = bare_s + b, service_s + s_, local_s + i
            ratios.append(b / s_)
        commands = pool.stats["steps"] - before["steps"]
        round_trip = pool.stats["round_trip_seconds"] - before["round_trip_seconds"]
        computing = pool.stats["worker_seconds"] - before["worker_seconds"]
        jobs = renderer.stats["jobs"] - rendered_before["jobs"]
        job_round_trip = renderer.stats["job_round_trip_seconds"] - rendered_before["job_round_trip_seconds"]
        page_seconds = bare_weasyprint(recorder.pages)
    n = per_round * opts.rounds
    print(f"EIA grant path, {steps_per_case} user tasks + 2 timers per case, {n} cases each in {opts.rounds} "
          "alternating rounds")
    print(f"  bare SpiffWorkflow + JSON save/load per step : {n / bare_s:8.1f} cases/s")
    print(f"  service layer on SQLite (WAL), engine workers: {n / service_s:8.1f} cases/s")
    print(f"  ratio service / bare                         : {bare_s / service_s:8.1%}  (target >= 40%; "
          f"rounds {min(ratios):.0%}-{max(ratios):.0%})")
    print(f"  the same, until its documents' PDFs are stored: {n / (service_s + drain_s):8.1f} cases/s, ratio "
          f"{bare_s / (service_s + drain_s):.1%}  (PDFs left after a round's last command: {drain_s:.1f} s in all)")
    docs_per_case = jobs / (2 * n) if n else 0.0
    per_page = job_round_trip / jobs * 1000 if jobs else 0.0
    print(f"  documents: {docs_per_case:.1f} per case, {jobs} rendered in workers, {per_page:.0f} ms each (round "
          f"trip); bare WeasyPrint in this process on the same pages: {page_seconds * 1000:.0f} ms")
    per_command = (service_s - local_s) / commands * 1000 if commands else 0.0
    print(f"  the same, engine steps in this process       : {n / local_s:8.1f} cases/s (measurement only)")
    print(f"  isolation cost per engine command            : {per_command:8.2f} ms  (round trip to a worker "
          f"{round_trip / commands * 1000:.2f} ms, of which the step itself {computing / commands * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
