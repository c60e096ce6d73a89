"""Shared by the browser tests. A plain module: test files import it by name, never `conftest`, which means
whichever folder's conftest was loaded last."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def artifacts() -> Path:
    """The folder for screenshots (gitignored), created on first use."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@contextmanager
def live_server(url: str, seed: Callable[[Any], None]) -> Iterator[Any]:
    """The app on the database at ``url``, migrated and seeded, served on a free loopback port in a thread;
    ``app.base_url`` is its address."""
    from werkzeug.serving import make_server

    from app import create_app
    from storage.migrate import upgrade

    app = create_app({"DATABASE_URL": url, "SCHEDULER_ENABLED": False, "LOGIN_FAILURE_DELAY": 0.0})
    upgrade(app.extensions["runonce.engine"])
    seed(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app.base_url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield app
    finally:
        server.shutdown()
        app.extensions["runonce.engine"].dispose()
