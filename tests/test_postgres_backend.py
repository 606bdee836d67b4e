"""The conformance suite on PostgreSQL: plain, and hash-partitioned by session.

Runs against the server named by AGENTSTORE_TEST_POSTGRES_URL; each test gets a schema of
its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import agentstore
from agentstore import Store
from agentstore.testing import StoreConformance, StoreFactory

URL = os.environ.get("AGENTSTORE_TEST_POSTGRES_URL", "")
pytestmark = pytest.mark.skipif(
    not URL, reason="set AGENTSTORE_TEST_POSTGRES_URL to run the PostgreSQL tests"
)


@pytest.fixture
def schema() -> Iterator[str]:
    import psycopg

    name = f"test_{uuid.uuid4().hex[:16]}"
    yield name
    with psycopg.connect(URL, autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


class TestPostgresBackend(StoreConformance):
    appends_per_writer = 40

    @pytest.fixture
    def open_store(self, schema: str) -> StoreFactory:
        def open_store(**options: Any) -> Store:
            return agentstore.open(URL, schema=schema, **options)

        return open_store


class TestPartitionedPostgresBackend(StoreConformance):
    appends_per_writer = 40

    @pytest.fixture
    def open_store(self, schema: str) -> StoreFactory:
        def open_store(**options: Any) -> Store:
            return agentstore.open(URL, schema=schema, partitions=4, **options)

        return open_store


def test_the_events_table_is_partitioned_by_session(schema: str) -> None:
    import psycopg

    with agentstore.open(URL, schema=schema, partitions=4) as store:
        for _ in range(8):
            store.append(store.create_session().id, agentstore.new_event("step"))
    with psycopg.connect(URL) as db:
        parts = db.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass",
            (f"{schema}.events",),
        ).fetchone()
        assert parts == (4,)


def test_a_bad_schema_name_is_refused() -> None:
    with pytest.raises(agentstore.InvalidArgumentError, match="schema"):
        agentstore.open(URL, schema="drop table; --")


def test_watchers_recover_when_the_listening_connection_drops(schema: str) -> None:
    import time

    import psycopg

    with agentstore.open(URL, schema=schema) as store:
        session = store.create_session()
        listening = (f"LISTEN%{schema}%",)
        with psycopg.connect(URL, autocommit=True) as db:
            ended = db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE %s AND pid <> pg_backend_pid()",
                listening,
            ).fetchall()
            assert ended == [(True,)]
            time.sleep(1.5)  # the listener notices and listens again
            again = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s", listening
            ).fetchone()
        assert again == (1,)  # the feeds poll until then; it must listen again
        feed = store.watch(session.id, timeout=5)
        everything = store.watch(timeout=5)
        store.append(session.id, agentstore.new_event("after.drop"))
        started = time.monotonic()
        assert next(feed).type == "after.drop"
        assert next(everything).type == "after.drop"
        assert time.monotonic() - started < 0.5
        feed.stop()
        everything.stop()
