"""Fixtures for the deadline tests; the helpers live in deadline_support (a plain module: test files import it
by that name, never `conftest`, which means whichever folder's conftest was loaded last)."""

from deadline_support import frozen, people  # noqa: F401  (fixtures)
