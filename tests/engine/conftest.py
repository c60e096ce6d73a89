"""Engine test fixtures; makes the repository root and this folder (engine_support) importable."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for path in (HERE.parents[1], HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from engine import runtime  # noqa: E402

SHORT_BUDGET = 0.25  # seconds; keeps the runaway-script tests fast


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A file that a hostile payload would create; tests assert it never appears."""
    return tmp_path / "CANARY"


@pytest.fixture
def short_budget(monkeypatch: pytest.MonkeyPatch) -> float:
    """Shrink the time budget of the engine every workflow uses."""
    monkeypatch.setattr(runtime.SCRIPT_ENGINE.environment, "time_limit", SHORT_BUDGET)
    return SHORT_BUDGET


@pytest.fixture
def t0() -> datetime:
    return datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
