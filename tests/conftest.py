"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

POSTGRES = os.environ.get("AGENTSTORE_TEST_POSTGRES_URL", "")


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A PostgreSQL schema of the test's own, dropped afterwards (skips with no server)."""
    if not POSTGRES:
        pytest.skip("set AGENTSTORE_TEST_POSTGRES_URL to run the PostgreSQL tests")
    import psycopg

    name = f"test_{uuid.uuid4().hex[:16]}"
    yield name
    with psycopg.connect(POSTGRES, autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
