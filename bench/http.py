"""The m07 path (the shortest approval matter) over HTTP against the service layer, in one run.

Both sides register a case and complete its six tasks (acceptance, review, decision, approval document,
delivery) with the scenario table's form data, N clients at a time, each on a SQLite file of its own:
- http: `python app.py serve` (waitress, one process) in a subprocess; every client signs in once as
  window1, nuclear1 and leader1 and sends the forms as a browser does (session cookie, CSRF token);
- service: the same N threads call services.cases directly, in this process.
The next task's id is looked up in the database on both sides alike (not what is measured). Rounds
alternate between the sides, so a slow spell of the shared machine hits both.

    .venv/bin/python -m bench.http [--cases 60] [--clients 4] [--rounds 3] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.web_client import ROOT, WebClient, free_port, running
from services import cases, demo
from services.actors import Actor, actor_for
from services.uow import UnitOfWork
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import HumanTask, User

sys.path.insert(0, str(ROOT / "tests" / "workflows"))
import driver  # noqa: E402  (the scenario table of the test suite: same path, same form data)

MATTER = "m07"
USERS = {"审批办": "window1", "核安全局": "nuclear1", "厅领导": "leader1"}
APPLICATION = {
    "matter": MATTER,
    "applicant_name": "吉林某核技术应用有限公司",
    "applicant_credit_code": "91220101MA0Y4XKX8G",
    "applicant_contact": "王经理",
    "applicant_phone": "0431-88886666",
    "applicant_address": "长春市人民大街 1 号",
    "channel": "window",
    "delivery_mode": "post",
}
APPLICANT = cases.Applicant(name=APPLICATION["applicant_name"], credit_code=APPLICATION["applicant_credit_code"],
                            contact=APPLICATION["applicant_contact"], phone=APPLICATION["applicant_phone"],
                            address=APPLICATION["applicant_address"])
ENV = {"RUNONCE_PASSWORD_HASH": "pbkdf2:sha256:1000", "SCHEDULER_ENABLED": "0"}


def steps() -> list[tuple[str, dict[str, Any]]]:
    """The m07 grant path of the scenario table, delivered by post (no timers on it)."""
    return [(name, payload) for name, payload in driver.m07_steps() if name != driver.CLOCK]


def _seeded(url: str) -> UnitOfWork:
    engine = make_engine(url)
    upgrade(engine)
    uow = UnitOfWork(make_session_factory(engine))
    demo.seed(uow, ROOT / "workflows")
    return uow


class TaskFinder:
    """The one READY task of a case: (id, lane). A read on the side's own database."""

    def __init__(self, url: str) -> None:
        self.uow = UnitOfWork(make_session_factory(make_engine(url)), write=False)

    def __call__(self, case_id: int) -> tuple[str, str]:
        with self.uow.reader() as r:
            rows = r.session.execute(select(HumanTask.id, HumanTask.lane).where(
                HumanTask.case_id == case_id, HumanTask.state == "ready")).all()
        if len(rows) != 1:
            raise RuntimeError(f"case {case_id}: expected one open task, found {len(rows)}")
        return rows[0].id, rows[0].lane


# ---------------------------------------------------------------- one case, either side


def http_case(clients: dict[str, WebClient], find: TaskFinder) -> int:
    """Register and complete one case over HTTP; returns the number of tasks completed."""
    window = clients["审批办"]
    registered = window.post("/cases/new", APPLICATION)
    if registered.status != 302:
        raise RuntimeError(f"registration answered {registered.status}")
    case_id = int(registered.location.split("/cases/")[1].split("/")[0])
    done = 0
    for name, payload in steps():
        task_id, lane = find(case_id)
        answer = clients[lane].post(f"/tasks/{task_id}", payload)
        if answer.status != 302:
            raise RuntimeError(f"{name} answered {answer.status}")
        done += 1
    return done


def service_case(uow: UnitOfWork, actors: dict[str, Actor], find: TaskFinder) -> int:
    case_id = cases.register_case(uow, matter_code=MATTER, applicant=APPLICANT, channel="window",
                                  delivery_mode="post", actor=actors["审批办"]).case_id
    done = 0
    for _name, payload in steps():
        task_id, lane = find(case_id)
        cases.complete_task(uow, task_id, payload, actors[lane])
        done += 1
    return done


def run_clients(n_cases: int, clients: int, one_case: Callable[[int], int]) -> tuple[int, float]:
    """`clients` threads share `n_cases` cases; returns (tasks completed, seconds)."""
    counter = iter(range(n_cases))
    lock = threading.Lock()
    totals: list[int] = []
    errors: list[BaseException] = []

    def work(index: int) -> None:
        done = 0
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            try:
                done += one_case(index)
            except BaseException as exc:  # noqa: BLE001 - reported after the run
                errors.append(exc)
                break
        with lock:
            totals.append(done)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return sum(totals), elapsed


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--cases", type=int, default=60, help="cases per side (six tasks each)")
    args.add_argument("--clients", type=int, default=4, help="concurrent clients on each side")
    args.add_argument("--rounds", type=int, default=3, help="alternate the two sides this many times")
    args.add_argument("--workers", type=int, default=1, help="web processes of the server (gunicorn if > 1)")
    opts = args.parse_args(argv)
    os.environ.update(ENV)  # the service side's demo users, hashed cheaply like the server's
    per_round = max(1, opts.cases // opts.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        service_url = f"sqlite:///{Path(tmp) / 'service.db'}"
        http_url = f"sqlite:///{Path(tmp) / 'http.db'}"
        uow = _seeded(service_url)
        with uow.reader() as r:
            by_name = {u.username: actor_for(r.session, u) for u in r.session.execute(select(User)).scalars()}
        actors = {lane: by_name[name] for lane, name in USERS.items()}
        service_find = TaskFinder(service_url)
        port = free_port()
        server_args = ["serve", "--port", str(port), "--threads", "8", "--workers", str(opts.workers)]
        env = {**ENV, "DATABASE_URL": http_url, "SECRET_KEY": "bench-" + os.urandom(8).hex()}
        with running(server_args, env, port=port, log=Path(tmp) / "server.log"):
            http_find = TaskFinder(http_url)
            sessions = []
            for _ in range(opts.clients):
                by_lane = {}
                for lane, name in USERS.items():
                    client = WebClient("127.0.0.1", port)
                    client.login(name, demo.DEMO_PASSWORD)
                    by_lane[lane] = client
                sessions.append(by_lane)
            units = [UnitOfWork(uow.session_factory) for _ in range(opts.clients)]  # one per thread

            def over_http(i: int) -> int:
                return http_case(sessions[i], http_find)

            def through_services(i: int) -> int:
                return service_case(units[i], actors, service_find)

            run_clients(opts.clients, opts.clients, over_http)  # warm-up: pages compiled, engine workers up
            run_clients(opts.clients, opts.clients, through_services)
            http_tasks = service_tasks = 0
            http_s = service_s = 0.0
            ratios = []
            for _ in range(opts.rounds):
                t, s = run_clients(per_round, opts.clients, through_services)
                service_tasks, service_s = service_tasks + t, service_s + s
                h, hs = run_clients(per_round, opts.clients, over_http)
                http_tasks, http_s = http_tasks + h, http_s + hs
                ratios.append((h / hs) / (t / s))
    http_rate, service_rate = http_tasks / http_s, service_tasks / service_s
    server = "waitress, 1 process" if opts.workers == 1 else f"gunicorn, {opts.workers} processes"
    print(f"m07 grant path (register + {len(steps())} task completions per case), {per_round * opts.rounds} cases "
          f"per side, {opts.clients} concurrent clients, {opts.rounds} alternating rounds, SQLite")
    print(f"  {'service layer, in process':<36}: {service_rate:8.1f} completions/s")
    print(f"  {'HTTP (' + server + ')':<36}: {http_rate:8.1f} completions/s")
    print(f"  {'ratio HTTP / service':<36}: {http_rate / service_rate:8.1%}  (target >= 50%; "
          f"rounds {min(ratios):.0%}-{max(ratios):.0%})")


if __name__ == "__main__":
    main()
