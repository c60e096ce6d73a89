"""Shared by the browser tests. A plain module: test files import it by name, never `conftest`, which means
whichever folder's conftest was loaded last."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def artifacts() -> Path:
    """The folder for screenshots (gitignored), created on first use."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
