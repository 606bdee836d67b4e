"""The PostgreSQL backend: any number of agent processes on any number of hosts.

psycopg 3 with a connection pool (the ``postgres`` extra). Each session's row is locked
(``SELECT ... FOR UPDATE``) while its events are numbered, and ``(session_id, seq)`` is
the primary key, so seqs stay gapless and unique whoever writes. Every commit sends a
``NOTIFY`` naming the session and its new seqs, which wakes watchers in every process.
Tables live in ``schema`` (default ``agentstore``), so several stores share a database;
``partitions=N`` hash-partitions the events by session (PostgreSQL's declarative
partitioning, the layout Citus can also distribute by session). The schema is created
and migrated by :func:`migrations`, whose position is the version kept in the schema; a
newer schema is refused. Lost connections and a server that does not answer are handled
as :mod:`~agentstore.backends.postgres.connecting` decides, for both faces.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, ParamSpec, TypeVar

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from agentstore.backends import forked
from agentstore.backends.base import Backend, Subscription, translating
from agentstore.backends.errnos import postgres_errno
from agentstore.backends.polling import Poller
from agentstore.backends.postgres.connecting import (
    CONNECT_TIMEOUT,
    RETRY_EVERY,
    LostConnection,
    Outage,
    PooledConnection,
    pool_options,
    run_again,
)
from agentstore.backends.postgres.notify import (
    MARK_WAIT,
    WAKE,
    Listener,
    Notices,
    mark_notice,
    silent_channel,
)
from agentstore.backends.postgres.operations import Operation, Operations, Query, Rows
from agentstore.backends.postgres.sql import check_options, migrations
from agentstore.backends.targets import masked
from agentstore.errors import StorageError
from agentstore.events import Event
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot

__all__ = ["PostgresBackend", "migrations"]  # migrations: re-exported from postgres_sql

_T = TypeVar("_T")
_P = ParamSpec("_P")
_Db = PooledConnection

_translated = translating(
    (psycopg.Error, OSError),
    lambda backend: f"PostgreSQL ({backend.schema})",
    errno=lambda backend, error: postgres_errno(error),
)


class PostgresBackend(Backend):
    """Sessions, events and snapshots in a PostgreSQL schema.

    Each operation is made by :class:`~agentstore.backends.postgres.operations.Operations`;
    this face runs its queries on a pooled connection, and once more on another when the
    connection breaks and the operation allows it.

    Args:
        url: a libpq connection string, ``postgresql://user@host:port/database``.
        schema: the schema holding the tables (created if missing).
        partitions: hash-partition the events by session into this many tables (0: not).
        pool_size: the most connections the pool opens.
        poll_interval: how often a watch checks for events if no notification came.
        read_only: open an existing store's schema on read-only connections: nothing is
            created or migrated (``partitions`` is then the store's own).

    Raises:
        InvalidArgumentError: a bad schema name or partition count.
        StoreVersionError: the schema's format is newer than this library's (read-only:
            or older, and not readable as it is).
        StoreNotFoundError: (read-only) no such schema, or not a store's.
        StorageError: the server cannot be reached or refuses.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str = "agentstore",
        partitions: int = 0,
        pool_size: int = 10,
        poll_interval: float = 1.0,
        read_only: bool = False,
    ) -> None:
        check_options(schema, partitions)
        self.read_only = read_only
        self.schema = schema
        self._url = url
        self._pool_size = pool_size
        self._operations = Operations(schema)
        self._poller = Poller(poll_interval)
        self._notices = Notices()
        self._outage = Outage(url, f"PostgreSQL ({schema})")
        self._listener: Listener | None = None
        self._reopen = False  # set in a forked child: open a pool and a listener there
        self._pool = self._new_pool()
        try:
            # One plain connection first: a wrong address or password fails at once with
            # the server's own words, where the pool would retry for half a minute.
            psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT).close()
            self._pool.open()
            self._pool.wait()  # fail now, not at the first call, if the server is not there
            if read_only:
                self._run(self._operations.inspect)
            else:
                self._run(self._operations.migrate, partitions)
            self._listener = Listener(url, self._operations.channel, self._notices, self._poller)
        except psycopg.Error as error:
            self._pool.close()
            message = f"PostgreSQL: {masked(str(error))}"
            raise StorageError(postgres_errno(error), message) from error
        except BaseException:
            self._pool.close()
            raise
        forked.reopen_after_fork(self)

    # Sessions

    @_translated
    def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        return self._run(self._operations.create_session, session, history)

    @_translated
    def get_session(self, session_id: str) -> Session:
        return self._run(self._operations.get_session, session_id)

    @_translated
    def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        return self._run(self._operations.list_sessions, limit, offset, labels)

    @_translated
    def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        return self._run(self._operations.update_session, session_id, update)

    @_translated
    def delete_session(self, session_id: str) -> Session:
        return self._run(self._operations.delete_session, session_id)

    # Events

    @_translated
    def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        # The hot path: one round trip (append_events), no coroutine and no thread hop.
        return self._run(self._operations.append, session_id, events, expected_seq)

    @_translated
    def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        self._run(self._operations.import_events, session_id, events)

    @_translated
    def read(self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        return self._run(self._operations.read, session_id, from_seq, to_seq)

    @_translated
    def last_seq(self, session_id: str) -> int:
        return self._run(self._operations.last_seq, session_id)

    # Snapshots

    @_translated
    def read_snapshot(self, session_id: str) -> Snapshot | None:
        return self._run(self._operations.read_snapshot, session_id)

    @_translated
    def write_snapshot(self, snapshot: Snapshot) -> None:
        self._run(self._operations.write_snapshot, snapshot)

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
        return self._run(self._operations.read_ranges, ranges)

    def _mark(self) -> int:
        """Where the notices of commits made after this call begin.

        Notifications arrive in commit order but late; a marker notified now arrives after
        every commit made before it, so the feed starts right after the marker.
        """
        token, arrived = self._notices.new_mark()
        self._run(self._operations.notify, mark_notice(token))
        if not arrived.wait(MARK_WAIT):
            raise silent_channel()
        return self._notices.marked(token)

    def close(self) -> None:
        forked.forget(self)
        listener = self._listener
        if listener is not None:
            listener.stop()
            with contextlib.suppress(psycopg.Error, StorageError):
                self._run(self._operations.notify, WAKE)  # the listener's wait
            listener.close()
        self._poller.close()
        self._pool.close()

    def after_fork_in_child(self) -> None:
        """In a forked child, open a pool and a listener of its own at the first call.

        The parent's connections are sockets shared with it: a query sent on one would
        mix with the parent's on the wire. They are set aside, neither used nor closed
        (psycopg closes a connection only in the process that opened it).
        """
        forked.set_aside(self._pool, self._listener)
        self._outage = Outage(self._url, self._outage.where)
        self._pool = self._new_pool()
        self._listener = None
        self._notices = Notices()
        self._reopening = threading.Lock()
        self._reopen = True
        self._poller.after_fork_in_child()

    # Internals

    def _new_pool(self) -> ConnectionPool[_Db]:
        options = pool_options(self._url, self._pool_size, self._outage, read_only=self.read_only)
        return ConnectionPool(
            self._url, connection_class=_Db, configure=_configure, open=False, **options
        )

    def _run(self, begin: Callable[_P, Operation[_T]], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        operation = begin(*args, **kwargs)
        query = operation.start()
        if query is None:  # answered without the database (nothing to read)
            return operation.result
        runs = 1
        while True:
            try:
                return self._once(operation, query)
            except LostConnection as lost:
                run_again(self._outage, lost, repeatable=operation.repeatable, runs=runs)
            runs += 1
            operation = begin(*args, **kwargs)  # again, on a new connection
            query = operation.start()
            if query is None:
                return operation.result

    def _once(self, operation: Operation[_T], query: Query | None) -> _T:
        with self._connection() as db, _atomic(db, operation):
            while query is not None:
                query = operation.advance(_fetch(db, query))
        return operation.result

    @contextmanager
    def _connection(self) -> Iterator[_Db]:
        db = self._connect()
        try:
            yield db
        except psycopg.Error as error:
            if not db.broken:
                raise
            # A server restart or a dropped network breaks the idle connections too.
            self._outage.lost(error)
            self._pool.drain()
            raise LostConnection(str(error)) from error
        finally:
            self._pool.putconn(db)

    def _connect(self) -> _Db:
        if self._reopen:
            self._open_in_child()
        try:
            db = self._pool.getconn(timeout=RETRY_EVERY)
        except PoolTimeout:
            db = self._wait_for_connection()
        self._outage.answered()
        return db

    def _wait_for_connection(self) -> _Db:
        """Wait for a connection while the pool reconnects or its connections are busy."""
        started = time.monotonic() - RETRY_EVERY
        while True:
            stats = self._pool.get_stats()
            wait = self._outage.waited(
                started, stats.get("connections_errors", 0), stats.get("pool_size", 0)
            )
            if isinstance(wait, StorageError):
                raise wait
            with contextlib.suppress(PoolTimeout):
                return self._pool.getconn(timeout=wait)

    def _open_in_child(self) -> None:
        with self._reopening:
            if self._reopen:
                self._pool.open()
                channel = self._operations.channel
                self._listener = Listener(self._url, channel, self._notices, self._poller)
                self._reopen = False


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
