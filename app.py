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

    import web

    web.register(app)
    from cli import register_commands

    register_commands(app)
    if app.config.get("SCHEDULER_ENABLED") and not app.testing:
        from services.scheduler import start_with_app  # in-process scheduler (python app.py scheduler: own process)

        start_with_app(app)
    return app


def uow_for(app: Flask, write: bool = True) -> UnitOfWork:
    return UnitOfWork(app.extensions["runonce.session_factory"], write=write, files=app.extensions["runonce.files"])


def workflows_dir(app: Flask) -> Path:
    return Path(app.config["WORKFLOWS_DIR"])


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False)
def main() -> None:
    """只跑一次 (Run-Once) administration."""


if __name__ == "__main__":
    main()
