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
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from agentstore.backends.base import Backend, Subscription, translating
from agentstore.backends.polling import Poller
from agentstore.backends.postgres.notify import (
    MARK_WAIT,
    WAKE,
    Listener,
    Notices,
    mark_notice,
    silent_channel,
)
from agentstore.backends.postgres.operations import Operation, Operations, Query, Rows
from agentstore.backends.postgres.sql import (
    CONNECT_TIMEOUT,
    check_options,
    migrations,
    pool_options,
)
from agentstore.errors import StorageError
from agentstore.events import Event
from agentstore.sessions import Session
from agentstore.state import Snapshot

__all__ = ["PostgresBackend", "migrations"]  # migrations: re-exported from postgres_sql

_T = TypeVar("_T")
_Db = psycopg.Connection[Any]

_translated = translating(
    (psycopg.Error, OSError), lambda backend: f"PostgreSQL ({backend.schema})"
)


class PostgresBackend(Backend):
    """Sessions, events and snapshots in a PostgreSQL schema.

    Each operation is made by :class:`~agentstore.backends.postgres.operations.Operations`;
    this face runs its queries on a pooled connection.

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
        self._operations = Operations(schema)
        self._poller = Poller(poll_interval)
        self._notices = Notices()
        try:
            # One plain connection first: a wrong address or password fails at once with
            # the server's own words, where the pool would retry for half a minute.
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT).close()
            self._pool = ConnectionPool(
                url, **pool_options(pool_size), configure=_configure, open=True
            )
            self._pool.wait()  # fail now, not at the first call, if the server is not there
            self._run(self._operations.migrate(partitions))
        except psycopg.Error as error:
            raise StorageError(0, f"PostgreSQL: {error}") from error
        channel = self._operations.channel
        self._listener = Listener(url, channel, self._notices, self._poller)

    # Sessions

    @_translated
    def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        return self._run(self._operations.create_session(session, history))

    @_translated
    def get_session(self, session_id: str) -> Session:
        return self._run(self._operations.get_session(session_id))

    @_translated
    def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        return self._run(self._operations.list_sessions(limit, offset, labels))

    # Events

    @_translated
    def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        # The hot path: one round trip (append_events), no coroutine and no thread hop.
        return self._run(self._operations.append(session_id, events, expected_seq))

    @_translated
    def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        self._run(self._operations.import_events(session_id, events))

    @_translated
    def read(self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        return self._run(self._operations.read(session_id, from_seq, to_seq))

    @_translated
    def last_seq(self, session_id: str) -> int:
        return self._run(self._operations.last_seq(session_id))

    # Snapshots

    @_translated
    def read_snapshot(self, session_id: str) -> Snapshot | None:
        return self._run(self._operations.read_snapshot(session_id))

    @_translated
    def write_snapshot(self, snapshot: Snapshot) -> None:
        self._run(self._operations.write_snapshot(snapshot))

    # Feeds and closing

    @_translated
    def subscribe(self, session_id: str | None) -> Subscription:
        if session_id is not None:
            return self._poller.session_feed(self, session_id)
        cursor = self._mark()

        def all_events() -> list[Event]:
            nonlocal cursor
            cursor, ranges = self._notices.since(cursor)
            return self._read_ranges(ranges)

        return self._poller.feed(all_events)

    @_translated
    def _read_ranges(self, ranges: list[tuple[str, int, int]]) -> list[Event]:
        return self._run(self._operations.read_ranges(ranges))

    def _mark(self) -> int:
        """Where the notices of commits made after this call begin.

        Notifications arrive in commit order but late; a marker notified now arrives after
        every commit made before it, so the feed starts right after the marker.
        """
        token, arrived = self._notices.new_mark()
        self._run(self._operations.notify(mark_notice(token)))
        if not arrived.wait(MARK_WAIT):
            raise silent_channel()
        return self._notices.marked(token)

    def close(self) -> None:
        self._listener.stop()
        with contextlib.suppress(psycopg.Error):
            self._run(self._operations.notify(WAKE))  # the listener's wait
        self._listener.close()
        self._poller.close()
        self._pool.close()

    # Internals

    def _run(self, operation: Operation[_T]) -> _T:
        query = operation.start()
        if query is not None:  # else answered without the database (nothing to read)
            with self._pool.connection() as db, _atomic(db, operation):
                while query is not None:
                    query = operation.advance(_fetch(db, query))
        return operation.result


def _fetch(db: _Db, query: Query) -> Rows | psycopg.Error:
    # The driver's error is handed to the operation, which knows what it means there.
    try:
        if query.many:
            with db.cursor() as cursor:
                cursor.executemany(query.statement, query.values)
            return []
        cursor = db.execute(query.statement, query.values)
        return cursor.fetchall() if cursor.description is not None else []
    except psycopg.Error as error:
        return error


def _atomic(db: _Db, operation: Operation[Any]) -> AbstractContextManager[Any]:
    # Autocommit otherwise: a single statement is its own transaction, without the round
    # trips of BEGIN and COMMIT.
    return db.transaction() if operation.atomic else nullcontext()


def _configure(connection: _Db) -> None:
    set_json_loads(orjson.loads, connection)  # three times the standard library's speed
