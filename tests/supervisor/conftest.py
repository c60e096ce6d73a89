"""The supervisors' tests: the fixed data set of supervisor_data.py on each backend."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture
def dataset(uow):
    """The six cases written once; returns (unit of work, case key → id)."""
    from supervisor_data import load

    with uow:
        ids = load(uow.session)
        uow.commit()
    return uow, ids
