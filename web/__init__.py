"""The web layer: blueprints per audience. Thin views over the service layer."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Attach extensions and blueprints (filled in by the web UI work)."""
