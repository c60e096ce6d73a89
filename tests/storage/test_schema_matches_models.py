"""The migrations build exactly the schema the models describe (on both backends)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import storage.models  # noqa: F401 - registers every table on Base.metadata
from storage.db import Base


def test_migrated_schema_matches_the_models(db_engine):
    with db_engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []
