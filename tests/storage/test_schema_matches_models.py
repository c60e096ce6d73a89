"""The migrations and storage/models.py describe the same schema, on SQLite and PostgreSQL (Alembic's own
comparison, as `alembic revision --autogenerate` would make it: no difference may remain)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import storage.models  # noqa: F401 - registers the tables
from storage.db import Base


def test_the_migrated_schema_is_the_models_schema(db_engine):
    with db_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
