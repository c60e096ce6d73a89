"""APScheduler driving the periodic commands: fire due BPMN timers, scan deadlines, check the rollout.

Every job first takes or renews the database lease, so among many web processes (or a separate
`python app.py scheduler` process) exactly one runs the jobs; the others stand by and take over when the
holder's lease expires. Jobs only call services, never views.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import sessionmaker

from services import lease
from services.uow import UnitOfWork

log = logging.getLogger(__name__)
LEASE_NAME = "scheduler"


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[UnitOfWork, datetime | None], object]


def default_jobs() -> list[Job]:
    from services.cases import fire_due_timers

    jobs = [Job("timers", 1.0, lambda uow, now: fire_due_timers(uow, now))]
    try:
        from services import reminders
    except ImportError:  # reminders land with the deadlines work
        return jobs
    jobs.append(Job("deadlines", 60.0, reminders.scan_deadlines))
    jobs.append(Job("rollout", 3600.0, reminders.check_rollout))
    return jobs


class Scheduler:
    def __init__(
        self,
        session_factory: sessionmaker,
        jobs: list[Job] | None = None,
        holder: str | None = None,
        lease_ttl: timedelta = timedelta(seconds=15),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.jobs = jobs if jobs is not None else default_jobs()
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_ttl = lease_ttl
        self.clock = clock
        self._scheduler: BaseScheduler | None = None

    def _now(self) -> datetime | None:
        return self.clock() if self.clock else None

    def run_job(self, job: Job) -> bool:
        """Run one job if this process holds the lease; False when another process does."""
        uow = UnitOfWork(self.session_factory)
        now = self._now()
        if not lease.acquire(uow, LEASE_NAME, self.holder, self.lease_ttl, now):
            return False
        try:
            job.run(uow, now)
        except Exception:  # a failing job must not stop the scheduler; it is retried next tick
            log.exception("scheduler job %s failed", job.name)
        return True

    def run_all_once(self) -> None:
        for job in self.jobs:
            self.run_job(job)

    def start(self, blocking: bool = False) -> None:
        self._scheduler = BlockingScheduler() if blocking else BackgroundScheduler(daemon=True)
        for job in self.jobs:
            self._scheduler.add_job(
                self.run_job, "interval", seconds=job.every_seconds, args=[job], id=job.name,
                max_instances=1, coalesce=True, next_run_time=datetime.now().astimezone(),
            )
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        lease.release(UnitOfWork(self.session_factory), LEASE_NAME, self.holder)
