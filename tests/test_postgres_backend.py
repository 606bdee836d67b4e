"""The conformance suite on PostgreSQL: plain, and hash-partitioned by session.

Runs against the server named by AGENTSTORE_TEST_POSTGRES_URL; each test gets a schema of
its own, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import agentstore
import agentstore.aio
from agentstore import Event, StorageError, Store, StoreVersionError, new_event
from agentstore.backends.errnos import postgres_errno
from agentstore.testing import StoreConformance, StoreFactory
from agentstore.testing.conformance import FormatVersion, OtherWriter, StoredData
from agentstore.testing.conformance.other_writers import nanoseconds_of
from tests.pg_relay import Relay

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


def _schema_version(schema: str) -> FormatVersion:
    import psycopg
    from psycopg import sql

    table = sql.Identifier(schema, "schema_version")

    def version(new: int | None = None) -> int:
        with psycopg.connect(URL, autocommit=True) as db:
            if new is not None:
                db.execute(sql.SQL("DELETE FROM {}").format(table))
                db.execute(sql.SQL("INSERT INTO {} VALUES (%s)").format(table), (new,))
            row = db.execute(sql.SQL("SELECT max(version) FROM {}").format(table)).fetchone()
            assert row is not None
            found: int = row[0]
            return found

    return version


def row_writer(schema: str) -> OtherWriter:
    """Rows inserted as another program sharing the schema writes them, its session updated."""
    import psycopg
    from psycopg import sql

    insert = sql.SQL(
        "INSERT INTO {}.events (session_id, seq, id, type, payload, timestamp, metadata, nanos) "
        "VALUES (%s, %s, %s, %s, %s::json, %s, %s::json, %s)"
    ).format(sql.Identifier(schema))
    advance = sql.SQL("UPDATE {}.sessions SET last_seq = %s, updated_at = %s WHERE id = %s").format(
        sql.Identifier(schema)
    )

    def write(session_id: str, records: Sequence[Mapping[str, Any]]) -> None:
        with psycopg.connect(URL) as db:
            for record in records:
                micros, nanos = divmod(nanoseconds_of(record["timestamp"]), 1000)
                moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
                payload, metadata = json.dumps(record["payload"]), json.dumps(record["metadata"])
                seq, kind = record["sequence_number"], record["type"]
                values = (session_id, seq, record["id"], kind, payload, moment, metadata, nanos)
                db.execute(insert, values)
            db.execute(advance, (seq, moment, session_id))

    return write


def schema_rows(schema: str) -> StoredData:
    """Every table of the schema with its rows (as JSON text, sorted)."""

    def rows() -> dict[str, list[str]]:
        import psycopg
        from psycopg import sql

        with psycopg.connect(URL) as db:
            tables = db.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
            every = sql.SQL("SELECT row_to_json(t)::text FROM {} t")
            return {
                name: sorted(
                    row[0] for row in db.execute(every.format(sql.Identifier(schema, name)))
                )
                for (name,) in tables
            }

    return rows


class TestPostgresBackend(StoreConformance):
    appends_per_writer = 40

    @pytest.fixture
    def open_store(self, schema: str) -> StoreFactory:
        def open_store(**options: Any) -> Store:
            return agentstore.open(URL, schema=schema, **options)

        return open_store

    @pytest.fixture
    def format_version(self, schema: str) -> FormatVersion:
        return _schema_version(schema)

    @pytest.fixture
    def write_as_another_program(self, schema: str) -> OtherWriter:
        return row_writer(schema)

    @pytest.fixture
    def stored_data(self, schema: str) -> StoredData:
        return schema_rows(schema)


class TestPartitionedPostgresBackend(StoreConformance):
    appends_per_writer = 40

    @pytest.fixture
    def open_store(self, schema: str) -> StoreFactory:
        def open_store(**options: Any) -> Store:
            return agentstore.open(URL, schema=schema, partitions=4, **options)

        return open_store

    @pytest.fixture
    def format_version(self, schema: str) -> FormatVersion:
        return _schema_version(schema)

    @pytest.fixture
    def write_as_another_program(self, schema: str) -> OtherWriter:
        return row_writer(schema)

    @pytest.fixture
    def stored_data(self, schema: str) -> StoredData:
        return schema_rows(schema)


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


# Format versions: a schema of a newer agentstore is refused before anything is written.


def _contents(schema: str) -> list[Any]:
    import psycopg

    with psycopg.connect(URL) as db:
        tables = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "ORDER BY table_name",
            (schema,),
        ).fetchall()
        rows = [
            db.execute(f"SELECT * FROM {schema}.{name} ORDER BY 1").fetchall()  # noqa: S608
            for (name,) in tables
        ]
    return [tables, rows]


def test_a_newer_schema_is_refused_and_nothing_is_written(schema: str) -> None:
    from agentstore.backends.postgres import migrations

    with agentstore.open(URL, schema=schema) as store:
        store.append(store.create_session(id="kept").id, new_event("step"))
    _schema_version(schema)(99)
    before = _contents(schema)
    with pytest.raises(StoreVersionError) as refused:
        agentstore.open(URL, schema=schema)
    assert (refused.value.found, refused.value.supported) == (99, len(migrations(0)))
    assert schema in str(refused.value)
    assert "version 99" in str(refused.value)

    async def opening() -> None:
        with pytest.raises(StoreVersionError) as refused:
            await agentstore.aio.open(URL, schema=schema)
        assert refused.value.found == 99

    asyncio.run(opening())
    assert _contents(schema) == before


def _previous_format_schema(schema: str) -> None:
    """A schema as the previous release left it: format 2, without the nanoseconds column."""
    import psycopg

    from agentstore.backends.postgres import migrations

    moment = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    with psycopg.connect(URL) as db:
        db.execute(f"CREATE SCHEMA {schema}")
        db.execute(f"CREATE TABLE {schema}.schema_version (version integer)")
        for number, statements in enumerate(migrations(0)[:2], start=1):
            for statement in statements:
                db.execute(statement.replace("{s}", schema))
            db.execute(f"INSERT INTO {schema}.schema_version VALUES ({number})")  # noqa: S608
        db.execute(
            f"INSERT INTO {schema}.sessions (id, name, labels, created_at, last_seq, updated_at) "  # noqa: S608
            "VALUES ('kept', '', '{}', %s, 1, %s)",
            (moment, moment),
        )
        db.execute(
            f"INSERT INTO {schema}.events (session_id, seq, id, type, payload, timestamp, "  # noqa: S608
            """metadata) VALUES ('kept', 1, 'e1', 'step', '{"n": 1}', %s, '{"tokens_in": 3}')""",
            (moment,),
        )


def test_a_schema_of_the_previous_format_migrates_and_its_events_read_as_before(
    schema: str,
) -> None:
    from agentstore.backends.postgres import migrations

    _previous_format_schema(schema)
    with agentstore.open(URL, schema=schema) as store:
        (old,) = store.get_events("kept")
        assert (old.type, old.payload, old.metadata.tokens_in) == ("step", {"n": 1}, 3)
        assert old.to_dict()["timestamp"] == "2026-01-02T03:04:05.123456Z"
        assert old.timestamp_ns == 1767323045_123456000
        assert store.append("kept", new_event("after")).seq == 2
    assert _schema_version(schema)() == len(migrations(0))


def test_a_schema_of_the_previous_format_is_read_as_it_is_by_a_read_only_store(
    schema: str,
) -> None:
    _previous_format_schema(schema)

    async def read_async() -> list[Event]:
        async with agentstore.aio.open(URL, schema=schema, read_only=True) as store:
            return await store.get_events("kept")

    with agentstore.open(URL, schema=schema, read_only=True) as store:
        (old,) = store.get_events("kept")
        assert (old.payload, old.timestamp_ns) == ({"n": 1}, 1767323045_123456000)
        assert store.get_state("kept").event_count == 1
    assert [event.id for event in asyncio.run(read_async())] == ["e1"]
    assert _schema_version(schema)() == 2  # not migrated: the reading commands of an upgrade


# Connections lost, and a server that goes away: calls go on as soon as it answers.


def _ours(schema: str) -> str:
    """A URL whose connections are named for ``schema``, so a test ends only its own."""
    return f"{URL}{'&' if '?' in URL else '?'}application_name={schema}"


def _end_connections(schema: str) -> int:
    """End every connection of the store (as a server restart does); how many there were."""
    import psycopg

    with psycopg.connect(URL, autocommit=True) as db:
        ended = db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (schema,),
        ).fetchall()
    return len(ended)


def test_the_next_call_after_every_connection_was_ended_succeeds(schema: str) -> None:
    with agentstore.open(_ours(schema), schema=schema) as store:
        session = store.create_session()
        store.append(session.id, new_event("before"))
        assert _end_connections(schema) >= 2  # the pool's and the listener's
        assert store.append(session.id, new_event("after")).seq == 2
        assert _end_connections(schema) >= 1
        other = store.create_session(name="after the end")  # a write run again: found
        assert store.get_session(other.id).name == "after the end"
        feed = store.watch(session.id, from_seq=3, timeout=10)
        store.append(session.id, new_event("watched"))
        assert next(feed).type == "watched"
        feed.stop()
        assert [event.seq for event in store.get_events(session.id)] == [1, 2, 3]


def test_appends_of_many_threads_survive_their_connections_ending(schema: str) -> None:
    """An append whose connection breaks runs again: each event is stored once, gapless."""
    acknowledged: list[str] = []
    errors: list[BaseException] = []
    with agentstore.open(_ours(schema), schema=schema) as store:
        session = store.create_session()

        def write(writer: int) -> None:
            try:
                for n in range(40):
                    stored = store.append(session.id, new_event("step", {"w": writer, "n": n}))
                    acknowledged.append(stored.id)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for wave in range(3):
            while len(acknowledged) < 30 * (wave + 1) and not errors:
                threading.Event().wait(0.001)
            _end_connections(schema)
        for thread in threads:
            thread.join()
        assert errors == []
        events = store.get_events(session.id)
    assert [event.seq for event in events] == list(range(1, 161))
    assert sorted(event.id for event in events) == sorted(acknowledged)


def test_the_async_store_goes_on_after_every_connection_was_ended(schema: str) -> None:
    async def scenario() -> None:
        async with agentstore.aio.open(_ours(schema), schema=schema) as store:
            session = await store.create_session()
            await store.append(session.id, new_event("before"))
            assert _end_connections(schema) >= 2
            assert (await store.append(session.id, new_event("after"))).seq == 2
            _end_connections(schema)
            batch = [store.append(session.id, new_event("many", {"n": n})) for n in range(20)]
            stored = await asyncio.gather(*batch)
            assert sorted(event.seq for event in stored) == list(range(3, 23))
            _end_connections(schema)
            assert (await store.create_session(name="after")).name == "after"

    asyncio.run(scenario())


def test_an_import_whose_connection_breaks_says_it_may_be_done(schema: str) -> None:
    """Imported events, run again, would be refused as present: the caller is told."""
    with agentstore.open(":memory:") as source:
        session = source.create_session()
        for n in range(5):
            source.append(session.id, new_event("step", {"n": n}))
        with agentstore.open(_ours(schema), schema=schema) as target:
            agentstore.copy_sessions(source, target, [session.id])
            later = source.append(session.id, new_event("later"))
            _end_connections(schema)
            with pytest.raises(StorageError) as in_doubt:
                target.backend.import_events(session.id, [later])
            assert in_doubt.value.errno == errno.ECONNRESET
            assert "may or may not have been made" in str(in_doubt.value)
            agentstore.copy_sessions(source, target, [session.id])  # resumable, as ever
            assert [event.id for event in target.get_events(session.id)] == [
                event.id for event in source.get_events(session.id)
            ]


@pytest.fixture
def relay() -> Iterator[Relay]:
    through = Relay(URL)
    yield through
    through.close()


def _outage_lines(caplog: pytest.LogCaptureFixture) -> dict[str, list[str]]:
    return {
        "ours": [r.getMessage() for r in caplog.records if r.name == "agentstore"],
        "pool": [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")],
    }


def test_a_server_that_is_away_is_named_and_found_again(
    schema: str, relay: Relay, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentstore.backends.postgres import connecting

    # Each call waits 1 s, not 5 (the async store's test waits as long as a user's call).
    monkeypatch.setattr(connecting, "CONNECTION_WAIT", 1.0)
    caplog.set_level(logging.WARNING)
    with agentstore.open(relay.url, schema=schema, pool_size=4) as store:
        session = store.create_session()
        store.append(session.id, new_event("before"))
        relay.down()
        for _ in range(2):
            with pytest.raises(StorageError) as away:
                store.append(session.id, new_event("lost"))
            assert away.value.errno == errno.ECONNREFUSED
            assert f"the server at 127.0.0.1:{relay.port} is not answering" in str(away.value)
            assert "retried for 1 s" in str(away.value)
        relay.up()
        assert store.append(session.id, new_event("back")).seq == 2  # the first call
        assert [event.type for event in store.get_events(session.id)] == ["before", "back"]
    lines = _outage_lines(caplog)
    assert lines["pool"] == []  # psycopg's pool says nothing per attempt
    assert len(lines["ours"]) == 2
    assert "is not answering" in lines["ours"][0]
    assert "answers again" in lines["ours"][1]


def test_the_async_store_names_a_server_that_is_away_and_finds_it_again(
    schema: str, relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    async def scenario() -> None:
        async with agentstore.aio.open(relay.url, schema=schema) as store:
            session = await store.create_session()
            await store.append(session.id, new_event("before"))
            relay.down()
            with pytest.raises(StorageError) as away:
                await store.append(session.id, new_event("lost"))
            assert away.value.errno == errno.ECONNREFUSED
            assert "is not answering" in str(away.value)
            assert "retried for 5 s" in str(away.value)
            relay.up()
            assert (await store.append(session.id, new_event("back"))).seq == 2

    asyncio.run(scenario())
    lines = _outage_lines(caplog)
    assert lines["pool"] == []
    assert len(lines["ours"]) == 2


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("DiskFull", errno.ENOSPC),
        ("OutOfMemory", errno.ENOMEM),
        ("ReadOnlySqlTransaction", errno.EROFS),
        ("InsufficientPrivilege", errno.EACCES),
        ("AdminShutdown", errno.ECONNRESET),
        ("UniqueViolation", 0),
    ],
)
def test_postgresql_failures_carry_their_errno(error: str, expected: int) -> None:
    import psycopg

    assert postgres_errno(getattr(psycopg.errors, error)("from the server")) == expected
