"""The PostgreSQL backend: any number of agent processes on any number of hosts.

psycopg 3 with a connection pool (the ``postgres`` extra). Each session's row is locked
(``SELECT ... FOR UPDATE``) while its events are numbered, and ``(session_id, seq)`` is
the primary key, so seqs stay gapless and unique whoever writes. Every commit sends a
``NOTIFY`` naming the session and its new seqs, which wakes watchers in every process.
Tables live in ``schema`` (default ``agentstore``), so several stores share a database;
``partitions=N`` hash-partitions the events by session (PostgreSQL's declarative
partitioning, the layout Citus can also distribute by session). The schema is created
and migrated by :func:`migrations`, whose position is the version kept in the schema.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from agentstore.backends.base import Backend, Subscription, translating
from agentstore.backends.polling import Poller
from agentstore.backends.postgres.notify import Listener, Notices
from agentstore.backends.postgres.rows import (
    append_error,
    append_values,
    appended,
    event_from_pg_row,
    insert_values,
    read_values,
    session_values,
    snapshot_values,
)
from agentstore.backends.postgres.sql import (
    ADVANCE_SESSION,
    APPEND,
    CONNECT_TIMEOUT,
    CREATE_SCHEMA,
    CREATE_SESSION,
    CREATE_VERSION_TABLE,
    EVENTS_BY_ID,
    GET_SESSION,
    INSERT_EVENTS,
    LAST_SEQ,
    LIST_SESSIONS,
    LOCK_SESSION,
    MIGRATION_LOCK,
    NOTIFY,
    READ_EVENTS,
    READ_SNAPSHOT,
    RECORD_VERSION,
    SCHEMA_VERSION,
    SESSION_EXISTS,
    WRITE_SNAPSHOT,
    check_options,
    migrations,
)
from agentstore.backends.rows import json_text, session_from_row, snapshot_from_row
from agentstore.core import sequencing
from agentstore.errors import SessionExistsError, SessionNotFoundError, StorageError
from agentstore.events import Event
from agentstore.sessions import Session
from agentstore.state import Snapshot

__all__ = ["PostgresBackend", "migrations"]  # migrations: re-exported from postgres_sql

_translated = translating(
    (psycopg.Error, OSError), lambda backend: f"PostgreSQL ({backend.schema})"
)


class PostgresBackend(Backend):
    """Sessions, events and snapshots in a PostgreSQL schema.

    Args:
        url: a libpq connection string, ``postgresql://user@host:port/database``.
        schema: the schema holding the tables (created if missing).
        partitions: hash-partition the events by session into this many tables (0: not).
        pool_size: the most connections the pool opens.
        poll_interval: how often a watch checks for events if no notification came.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str = "agentstore",
        partitions: int = 0,
        pool_size: int = 10,
        poll_interval: float = 1.0,
    ) -> None:
        check_options(schema, partitions)
        self.schema = schema
        self._channel = f"agentstore_{schema}"
        self._url = url
        self._poller = Poller(poll_interval)
        self._notices = Notices()
        try:
            # One plain connection first: a wrong address or password fails at once with
            # the server's own words, where the pool would retry for half a minute.
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT).close()
            self._pool = ConnectionPool(
                url,
                min_size=1,
                max_size=pool_size,
                kwargs={"options": "-c TimeZone=UTC", "autocommit": True},
                configure=_configure,
                open=True,
            )
            self._pool.wait()  # fail now, not at the first call, if the server is not there
            self._migrate(partitions)
        except psycopg.Error as error:
            raise StorageError(0, f"PostgreSQL: {error}") from error
        self._listener = Listener(url, self._channel, self._notices, self._poller)

    # Sessions

    @_translated
    def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        with self._transaction() as db:
            try:
                db.execute(self._sql(CREATE_SESSION), session_values(session, history))
            except psycopg.errors.UniqueViolation:
                raise SessionExistsError(session.id) from None
            self._insert(db, history)  # a fork's copied history: not news for watchers
        return self.get_session(session.id)

    @_translated
    def get_session(self, session_id: str) -> Session:
        with self._pool.connection() as db:
            row = db.execute(
                self._sql(GET_SESSION),
                (session_id,),
            ).fetchone()
        if row is None:
            raise SessionNotFoundError(session_id)
        return session_from_row(*row)

    @_translated
    def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        with self._pool.connection() as db:
            rows = db.execute(
                self._sql(LIST_SESSIONS),
                (json_text(dict(labels or {})), min(limit, 2**62), min(offset, 2**62)),
            ).fetchall()
        return [session_from_row(*row) for row in rows]

    # Events

    @_translated
    def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        # One round trip: append_events (see APPEND_FUNCTION) numbers, stamps, writes and
        # notifies under the session's lock, and commits.
        values = append_values(session_id, events, expected_seq, self._channel)
        try:
            with self._pool.connection() as db:
                rows = db.execute(self._sql(APPEND), values).fetchall()
        except psycopg.Error as error:
            raise append_error(error, session_id, expected_seq) from None
        known_ids = [event.id for event, row in zip(events, rows, strict=True) if row[3]]
        found = self.events_by_id(session_id, known_ids) if known_ids else {}
        return appended(session_id, events, rows, found)

    def events_by_id(self, session_id: str, ids: list[str]) -> dict[str, Event]:
        """The stored events of a session with these ids."""
        with self._pool.connection() as db:
            return self._by_ids(db, session_id, ids)

    @_translated
    def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        if not events:
            self.last_seq(session_id)
            return
        with self._transaction() as db:
            row = db.execute(self._sql(LOCK_SESSION), (session_id,)).fetchone()
            if row is None:
                raise SessionNotFoundError(session_id)
            found = self._by_ids(db, session_id, [event.id for event in events])
            sequencing.check_import(session_id, events, row[0], found.get)
            self._insert(db, events)
            db.execute(
                self._sql(ADVANCE_SESSION), (events[-1].seq, events[-1].timestamp, session_id)
            )
            self._notify(db, session_id, events[0].seq, events[-1].seq)

    @_translated
    def read(self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        with self._pool.connection() as db:
            values = read_values(session_id, from_seq, to_seq)
            rows = db.execute(self._sql(READ_EVENTS), values).fetchall()
            if not rows:
                self._require(db, session_id)
        return [event_from_pg_row(row) for row in rows]

    @_translated
    def last_seq(self, session_id: str) -> int:
        with self._pool.connection() as db:
            row = db.execute(self._sql(LAST_SEQ), (session_id,)).fetchone()
        if row is None:
            raise SessionNotFoundError(session_id)
        return int(row[0])

    # Snapshots

    @_translated
    def read_snapshot(self, session_id: str) -> Snapshot | None:
        with self._pool.connection() as db:
            row = db.execute(self._sql(READ_SNAPSHOT), (session_id,)).fetchone()
        return None if row is None else snapshot_from_row(*row)

    @_translated
    def write_snapshot(self, snapshot: Snapshot) -> None:
        with self._transaction() as db:
            db.execute(self._sql(WRITE_SNAPSHOT), snapshot_values(snapshot))

    # Feeds and closing

    @_translated
    def subscribe(self, session_id: str | None) -> Subscription:
        if session_id is not None:
            return self._poller.session_feed(self, session_id)
        cursor = [self._mark()]

        def all_events() -> list[Event]:
            cursor[0], ranges = self._notices.since(cursor[0])
            events: list[Event] = []
            for changed, first, last in ranges:
                events.extend(self.read(changed, from_seq=first, to_seq=last))
            return events

        return self._poller.feed(all_events)

    def _mark(self) -> int:
        """Where the notices of commits made after this call begin.

        Notifications arrive in commit order but late; a marker notified now arrives after
        every commit made before it, so the feed starts right after the marker.
        """
        token = uuid.uuid4().hex
        arrived = self._notices.expect(token)
        with self._pool.connection() as db:
            db.execute(NOTIFY, (self._channel, f"mark {token}"))
            db.commit()
        if not arrived.wait(10):
            raise StorageError(0, "PostgreSQL: the notification channel does not answer")
        return self._notices.marked(token)

    def close(self) -> None:
        self._listener.stop()
        with contextlib.suppress(psycopg.Error), self._pool.connection() as db:
            db.execute(NOTIFY, (self._channel, "wake"))  # the listener's wait
            db.commit()
        self._listener.close()
        self._poller.close()
        self._pool.close()

    # Internals

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=sql.Identifier(self.schema))

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._pool.connection() as db, db.transaction():  # BEGIN ... COMMIT
            yield db

    def _migrate(self, partitions: int) -> None:
        steps = migrations(partitions)
        with self._transaction() as db:
            db.execute(MIGRATION_LOCK, (self._channel,))
            db.execute(self._sql(CREATE_SCHEMA))
            db.execute(self._sql(CREATE_VERSION_TABLE))
            row = db.execute(self._sql(SCHEMA_VERSION)).fetchone()
            version = row[0] if row and row[0] is not None else 0
            for number, statements in enumerate(steps[version:], start=version + 1):
                for statement in statements:
                    db.execute(self._sql(statement))
                db.execute(self._sql(RECORD_VERSION), (number,))

    def _require(self, db: psycopg.Connection[Any], session_id: str) -> None:
        row = db.execute(self._sql(SESSION_EXISTS), (session_id,))
        if row.fetchone() is None:
            raise SessionNotFoundError(session_id)

    def _by_ids(
        self, db: psycopg.Connection[Any], session_id: str, ids: list[str]
    ) -> dict[str, Event]:
        rows = db.execute(
            self._sql(EVENTS_BY_ID),
            (session_id, ids),
        )
        return {row[2]: event_from_pg_row(row) for row in rows}

    def _insert(self, db: psycopg.Connection[Any], events: Sequence[Event]) -> None:
        if not events:
            return
        with db.cursor() as cursor:
            cursor.executemany(self._sql(INSERT_EVENTS), insert_values(events))

    def _notify(self, db: psycopg.Connection[Any], session_id: str, first: int, last: int) -> None:
        db.execute(NOTIFY, (self._channel, f"{first} {last} {session_id}"))


def _configure(connection: psycopg.Connection[Any]) -> None:
    set_json_loads(orjson.loads, connection)  # three times the standard library's speed
