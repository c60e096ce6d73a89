"""只跑一次 (Run-Once): the application factory and the command line.

    python app.py serve          set up the database, load demo data and the matters, serve on :5000
    python app.py init-db        create or upgrade the database (Alembic)
    python app.py deploy         load workflows/*.bpmn as new versions (unchanged files are not re-versioned)
    python app.py create-user    add a user
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup

from config import load_config
from services.uow import UnitOfWork
from storage.db import make_engine, make_session_factory


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.update(load_config(overrides))
    from engine import limits

    limits.configure(**app.config.get("ENGINE_LIMITS") or {})
    engine = make_engine(app.config["DATABASE_URL"])
    factory = make_session_factory(engine)
    app.extensions["runonce.engine"] = engine
    app.extensions["runonce.session_factory"] = factory
    from storage.filestore import FileStore

    app.extensions["runonce.files"] = FileStore(app.config["FILES_DIR"])
    # Diagram code runs in engine worker processes (engine.pool), started on first use.
    from collections import ChainMap

    from engine.pool import PoolSettings, configure

    configure(PoolSettings.from_mapping(ChainMap(app.config, os.environ)))

    from documents.settings import DocumentSettings
    from services import documents

    documents.configure(DocumentSettings.from_config(app.config))  # a bad number format stops the start here
    from services import document_rendering

    document_rendering.configure(app.config.get("DOCUMENTS_RENDER"))  # background (default) | inline

    import web

    web.register(app)
    from cli import register_commands

    register_commands(app)
    if not app.testing:
        _start_when_schema_ready(app)
    return app


SCHEMA_MESSAGES = {
    "missing": "数据库尚未初始化：请先运行 `python app.py init-db`，然后重新启动。"
               " / The database has no schema yet: run `python app.py init-db`, then start again.",
    "outdated": "数据库结构需要升级：请先运行 `python app.py init-db`，然后重新启动。"
                " / The database schema is out of date: run `python app.py init-db`, then start again.",
    "unreachable": "无法连接数据库，请检查 DATABASE_URL。/ The database cannot be reached: check DATABASE_URL.",
}


def _start_when_schema_ready(app: Flask) -> None:
    """Start the in-process scheduler (``python app.py scheduler`` runs it as its own process) only on a
    database with the current schema; without it every tick and every page would fail with a traceback, so
    say plainly what to do instead, and answer pages with that message (503) until the schema is there.

    Under a command line nothing is checked here: ``init-db`` creates the schema, ``serve`` upgrades it first
    and starts the scheduler itself, and the other commands never start it."""
    import click

    from services.scheduler import start_with_app
    from storage.migrate import schema_state

    scheduler = bool(app.config.get("SCHEDULER_ENABLED"))
    if click.get_current_context(silent=True) is not None:
        if scheduler:
            start_with_app(app)
        return
    engine = app.extensions["runonce.engine"]
    state = schema_state(engine)
    if state == "current":
        if scheduler:
            start_with_app(app)
        return
    problem = SCHEMA_MESSAGES[state]
    app.extensions["runonce.schema_problem"] = problem
    app.logger.warning("%s（调度器未启动 / the scheduler was not started）", problem)

    @app.before_request
    def _schema_guard():
        if "runonce.schema_problem" not in app.extensions:
            return None
        if schema_state(engine) == "current":  # init-db has run meanwhile: pages work again
            app.extensions.pop("runonce.schema_problem", None)
            return None
        return app.response_class(problem + "\n", status=503, mimetype="text/plain")


def uow_for(app: Flask, write: bool = True) -> UnitOfWork:
    return UnitOfWork(app.extensions["runonce.session_factory"], write=write, files=app.extensions["runonce.files"])


def workflows_dir(app: Flask) -> Path:
    return Path(app.config["WORKFLOWS_DIR"])


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False)
def main() -> None:
    """只跑一次 (Run-Once) administration."""


if __name__ == "__main__":
    main()
