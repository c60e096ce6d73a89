"""Serving the app: waitress for one process, gunicorn for several (`python app.py serve --workers N`).

With several processes every one makes its own app, database connections and engine pool after the fork
(gunicorn's default, no preloading), and runs the in-process scheduler only if SCHEDULER_ENABLED: the
database lease (services/lease.py) keeps at most one of them active; or run `python app.py scheduler` on its
own and set SCHEDULER_ENABLED=0 for the web processes.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

ACCESS_FORMAT = '%(p)s %(h)s "%(r)s" %(s)s %(b)s %(M)sms'  # gunicorn's fields: pid, client, request, ...


def warm_up() -> None:
    """Before serving: the PDF renderer (the first registration needs it) and, in the background, the engine
    workers, so that the first command waits for neither."""
    from documents.render import warm_up as warm_renderer
    from engine.pool import shared_pool

    threading.Thread(target=shared_pool().warm_up, name="engine-warm-up", daemon=True).start()
    warm_renderer()


class _AccessLog:
    """One line per request on stderr (pid, method, path, status), for waitress, which logs none."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def logging_start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            path = environ.get("PATH_INFO", "")
            print(f"{os.getpid()} {environ.get('REMOTE_ADDR', '-')} \"{environ.get('REQUEST_METHOD')} {path}\" "
                  f"{status.split(' ', 1)[0]}", file=sys.stderr, flush=True)
            return start_response(status, headers, *rest)

        return self.app(environ, logging_start)


def serve_with_waitress(app: Flask, *, host: str, port: int, threads: int, access_log: bool = False) -> None:
    from waitress import serve

    warm_up()
    serve(_AccessLog(app) if access_log else app, host=host, port=port, threads=threads)


def serve_with_gunicorn(*, host: str, port: int, workers: int, threads: int, access_log: bool = False) -> None:
    """Blocks until the master stops (SIGTERM/SIGINT). Linux and other POSIX systems only."""
    from gunicorn.app.base import BaseApplication

    class RunOnce(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "worker_class": "gthread",
                "threads": threads,
                "proc_name": "runonce",
                "errorlog": "-",
                # A command waits for its engine step (at most ENGINE_DEADLINE): the heartbeat of a gthread
                # worker runs on its own thread, so a long step never gets a worker killed.
                "timeout": 60,
                "graceful_timeout": 30,
                "control_socket_disable": True,  # several servers may share a host (and a home directory)
            }
            if access_log:
                settings.update(accesslog="-", access_log_format=ACCESS_FORMAT)
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            from app import create_app

            app = create_app()
            if app.config.get("SCHEDULER_ENABLED"):
                from services.scheduler import ensure_started

                ensure_started(app)  # stands by unless it holds the lease
            warm_up()
            return app

    RunOnce().run()
