"""APScheduler driving the periodic commands: fire due BPMN timers, scan deadlines, check the rollout, mail.

Every job first takes or renews the database lease, so among many web processes (or a separate
``python app.py scheduler`` process) exactly one runs the jobs; the others stand by and take over when the
holder's lease expires (``lease_ttl``, 15 s).  The lease is timed by the real clock; the jobs get the
business "now" (``services.clock.now``, which tests and the simulated runs control).

Jobs only call services, never views, and each is safe to run twice at once (the lease is an economy, not the
guarantee): a timer fires under the case's version guard, a reminder is inserted under its unique key, an
e-mail is claimed before it is sent.  They look at the state of the database, not at what happened since the
last run, so a scheduler that was down catches up on its first run: every overdue timer fires, every reminder
due by now is raised.

Run it
- inside the web service: ``create_app`` starts it when ``SCHEDULER_ENABLED`` (default) and not testing;
- as its own process: ``python app.py scheduler`` (then ``SCHEDULER_ENABLED=0`` for the web processes), or
  ``python -m services.scheduler --database-url URL`` (no Flask; ``--once`` runs every job once, e.g. from cron).
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import sessionmaker

from services import clock, lease
from services.uow import UnitOfWork
from storage.types import utcnow

log = logging.getLogger(__name__)
LEASE_NAME = "scheduler"
TIMER_BATCH = 200
TIMER_ROUNDS = 5  # a catching-up tick fires up to TIMER_BATCH * TIMER_ROUNDS cases


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[UnitOfWork, datetime | None], object]


def fire_timers(uow: UnitOfWork, now: datetime | None = None) -> int:
    """Fire every due BPMN timer (``services.cases.fire_due_timers``), in batches while there are more."""
    from services.cases import fire_due_timers

    total = 0
    for _ in range(TIMER_ROUNDS):
        fired = fire_due_timers(uow, now, limit=TIMER_BATCH)
        total += fired
        if fired < TIMER_BATCH:
            break
    return total


@dataclass(frozen=True)
class Housekeeping:
    """How long the integration API's bookkeeping is kept (settings, in days or hours)."""

    idempotency_keep: timedelta = timedelta(days=7)  # IDEMPOTENCY_KEEP_DAYS
    deliveries_keep: timedelta = timedelta(days=90)  # WEBHOOK_DELIVERIES_KEEP_DAYS
    unattached_keep: timedelta = timedelta(hours=24)  # UNATTACHED_FILES_KEEP_HOURS

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Housekeeping:
        def number(key: str, default: float) -> float:
            value = (config or {}).get(key)
            if value in (None, ""):
                value = os.environ.get(key)
            try:
                return max(0.0, float(value)) if value not in (None, "") else default
            except ValueError:
                log.warning("setting %s=%r is not a number; using %s", key, value, default)
                return default

        return cls(timedelta(days=number("IDEMPOTENCY_KEEP_DAYS", 7)),
                   timedelta(days=number("WEBHOOK_DELIVERIES_KEEP_DAYS", 90)),
                   timedelta(hours=number("UNATTACHED_FILES_KEEP_HOURS", 24)))


def housekeeping(uow: UnitOfWork, settings: Housekeeping) -> dict[str, int]:
    """Forget old Idempotency-Keys, finished webhook deliveries past their keep, uploads no case took (with
    their bytes when nothing else names them) and resumable uploads no chunk reached as long. Measured on the
    real clock, like the rows' times."""
    from services import files, idempotency, resumable_uploads, webhooks

    moment = utcnow()
    return {"idempotency_keys": idempotency.purge(uow, moment, settings.idempotency_keep),
            "webhook_deliveries": webhooks.purge_deliveries(uow, moment, settings.deliveries_keep),
            "unattached_files": files.sweep_unattached(uow, moment, settings.unattached_keep),
            "partial_uploads": resumable_uploads.sweep(uow, settings.unattached_keep)}


def hourly(run: Callable[[UnitOfWork], object]) -> Callable[[UnitOfWork, datetime | None], object]:
    """A job that does its work at most once an hour of real time, however often it is ticked (``run_for``
    ticks every job each time)."""
    last: list[float] = []

    def job(uow: UnitOfWork, _now: datetime | None) -> object:
        if last and time.monotonic() - last[0] < 3600.0:
            return None
        last[:] = [time.monotonic()]
        return run(uow)

    return job


def default_jobs(config: Mapping[str, Any] | None = None) -> list[Job]:
    """The jobs with their settings from ``config`` (app config) or the environment."""
    from services import document_rendering, mailer, reminders, spot_checks

    policy = reminders.ReminderPolicy.from_config(config)
    reminders.configure(policy)
    mail = mailer.MailSettings.from_config(config)
    jobs = [
        Job("timers", 1.0, fire_timers),
        Job("deadlines", 60.0, lambda uow, now: reminders.scan_deadlines(uow, now, policy)),
        Job("rollout", 3600.0, lambda uow, now: reminders.check_rollout(uow, now, policy)),
        # documents whose issuing process stopped before it rendered their PDF (services.document_rendering)
        Job("documents", 30.0, lambda uow, now: document_rendering.sweep(uow, now)),
        # 双随机一公开: the registry from completed permits and filings, credit findings from inspections
        Job("spot_checks", 300.0, spot_checks.sync),
    ]
    if mail.enabled:
        jobs.append(Job("mail", 15.0, lambda uow, now: mailer.send_pending(uow, now, mail)))
    from services import webhook_targets, webhooks

    hooks_allowed = webhook_targets.allowed_hosts(config)
    # Back-off is measured on the real clock (a receiver's outage is real time, even in a simulated run).
    jobs.append(Job("webhooks", 5.0, lambda uow, now: webhooks.deliver_due(uow, allowed_hosts=hooks_allowed)))
    jobs.append(Job("housekeeping", 3600.0, hourly(lambda uow: housekeeping(uow, Housekeeping.from_config(config)))))
    return jobs


class Scheduler:
    def __init__(
        self,
        session_factory: sessionmaker,
        jobs: list[Job] | None = None,
        holder: str | None = None,
        lease_ttl: timedelta = timedelta(seconds=15),
        clock: Callable[[], datetime] | None = None,
        lease_clock: Callable[[], datetime] = utcnow,
        use_lease: bool = True,
    ) -> None:
        self.session_factory = session_factory
        self.jobs = jobs if jobs is not None else default_jobs()
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_ttl = lease_ttl
        self.clock = clock
        self.lease_clock = lease_clock
        self.use_lease = use_lease
        self.stats: dict[str, Any] = {"runs": {}, "standby": 0, "errors": 0}
        self._stats_lock = threading.Lock()
        self._scheduler: BaseScheduler | None = None
        self._stopped = False

    def _now(self) -> datetime:
        return self.clock() if self.clock else clock.now()

    def _count(self, key: str, job: str | None = None) -> None:
        with self._stats_lock:
            if job is None:
                self.stats[key] += 1
            else:
                self.stats[key][job] = self.stats[key].get(job, 0) + 1

    def holds_lease(self) -> bool:
        if not self.use_lease:
            return True
        return lease.acquire(UnitOfWork(self.session_factory), LEASE_NAME, self.holder, self.lease_ttl,
                             self.lease_clock())

    def run_job(self, job: Job) -> bool:
        """Run one job if this process holds the lease; False when another process does."""
        try:
            if not self.holds_lease():
                self._count("standby")
                return False
        except Exception:  # the database is away: stand by, try again next tick
            log.exception("scheduler lease check failed")
            self._count("errors")
            return False
        uow = UnitOfWork(self.session_factory)
        now = self._now()
        try:
            # The engine's timers see the same "now" as the job (simulated runs, tests; real time otherwise).
            with clock.engine_time(now):
                job.run(uow, now)
            self._count("runs", job.name)
        except Exception:  # a failing job must not stop the scheduler; it is retried next tick
            log.exception("scheduler job %s failed", job.name)
            self._count("errors")
        return True

    def run_all_once(self) -> None:
        for job in self.jobs:
            self.run_job(job)

    def run_for(self, seconds: float, tick: float = 0.05) -> None:
        """Tick-driven: run every job each ``tick`` seconds for ``seconds`` (simulated-time runs, tests)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.monotonic()
            self.run_all_once()
            time.sleep(max(0.0, tick - (time.monotonic() - started)))

    def start(self, blocking: bool = False) -> None:
        self._scheduler = BlockingScheduler() if blocking else BackgroundScheduler(daemon=True)
        first = datetime.now().astimezone()
        for job in self.jobs:
            self._scheduler.add_job(
                self.run_job, "interval", seconds=job.every_seconds, args=[job], id=job.name,
                max_instances=1, coalesce=True, misfire_grace_time=max(1, int(job.every_seconds)),
                next_run_time=first,  # catch up at once after a (re)start
            )
        self._scheduler.start()

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def shutdown(self) -> None:
        """Stop and release the lease (once: later calls, e.g. the atexit hook, do nothing)."""
        if self._stopped:
            return
        self._stopped = True
        if self._scheduler is not None and self._scheduler.running:
            try:
                self._scheduler.shutdown(wait=True)
            except Exception:  # noqa: BLE001 - shutting down anyway
                log.exception("scheduler shutdown")
        if self.use_lease:
            try:
                lease.release(UnitOfWork(self.session_factory), LEASE_NAME, self.holder)
            except Exception:  # noqa: BLE001 - the lease expires by itself
                log.exception("scheduler lease release failed")


# ---------------------------------------------------------------- inside the web service

_app_lock = threading.Lock()


def ensure_started(app) -> Scheduler:
    """Start the app's in-process scheduler once (idempotent); stopped and its lease released at exit."""
    with _app_lock:
        existing = app.extensions.get("runonce.scheduler")
        if existing is not None:
            return existing
        scheduler = Scheduler(app.extensions["runonce.session_factory"], jobs=default_jobs(app.config))
        scheduler.start()
        app.extensions["runonce.scheduler"] = scheduler
        atexit.register(scheduler.shutdown)
        log.info("in-process scheduler started (%s)", scheduler.holder)
        return scheduler


def start_with_app(app) -> None:
    """Called by ``create_app`` when SCHEDULER_ENABLED and not testing.  Under a command line (``python app.py
    init-db``, ``deploy``, …) nothing starts until the app serves its first request, so administrative
    commands never fire timers; a WSGI server importing the app starts it at once."""
    import click

    if click.get_current_context(silent=True) is None:
        ensure_started(app)
        return

    @app.before_request
    def _start_scheduler() -> None:
        if "runonce.scheduler" not in app.extensions:
            ensure_started(app)


# ---------------------------------------------------------------- its own process


def run_standalone(
    session_factory: sessionmaker,
    config: Mapping[str, Any] | None = None,
    *,
    once: bool = False,
    run_for: float | None = None,
    tick: float = 0.05,
    lease_ttl: float = 15.0,
    use_lease: bool = True,
    holder: str | None = None,
) -> Scheduler:
    """The scheduler as its own process: blocks until SIGINT/SIGTERM (or ``once`` / ``run_for``)."""
    scheduler = Scheduler(session_factory, jobs=default_jobs(config), holder=holder,
                          lease_ttl=timedelta(seconds=lease_ttl), use_lease=use_lease)
    # Timers run in engine workers: start one now, so the first tick does not wait for it.
    from engine.pool import shared_pool

    shared_pool().warm_up(1)
    if once:
        scheduler.run_all_once()
        scheduler.shutdown()
        return scheduler
    if run_for is not None:
        try:
            scheduler.run_for(run_for, tick)
        finally:
            scheduler.shutdown()
        return scheduler

    def stop(signum, _frame) -> None:  # noqa: ANN001
        log.info("scheduler stopping (signal %s)", signum)
        threading.Thread(target=scheduler.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler %s running (lease %s s)", scheduler.holder, lease_ttl)
    try:
        scheduler.start(blocking=True)
    finally:
        scheduler.shutdown()
    return scheduler


def main(argv: list[str] | None = None) -> int:
    from storage.db import default_url, make_engine, make_session_factory

    parser = argparse.ArgumentParser(prog="python -m services.scheduler", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: DATABASE_URL or the SQLite file")
    parser.add_argument("--once", action="store_true", help="run every job once and exit")
    parser.add_argument("--run-for", type=float, default=None, help="tick-driven: run for this many seconds")
    parser.add_argument("--tick", type=float, default=0.05, help="seconds between ticks with --run-for")
    parser.add_argument("--lease-ttl", type=float, default=15.0)
    parser.add_argument("--no-lease", action="store_true", help="run the jobs without the lease (tests)")
    parser.add_argument("--holder", default=None)
    parser.add_argument("--json", action="store_true", help="print the run statistics as JSON at the end")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import services.cases  # noqa: F401 - load the engine before a simulated clock starts running

    clock.install_from_env()
    engine = make_engine(args.database_url or default_url())
    try:
        scheduler = run_standalone(
            make_session_factory(engine), dict(os.environ), once=args.once, run_for=args.run_for, tick=args.tick,
            lease_ttl=args.lease_ttl, use_lease=not args.no_lease, holder=args.holder,
        )
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps({"holder": scheduler.holder, **scheduler.stats}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
