"""The PostgreSQL backend on asyncio: psycopg's async connections and pool.

The twin of :class:`agentstore.backends.postgres.backend.PostgresBackend`: the same
operations (:mod:`agentstore.backends.postgres.operations`: their statements, values and
decisions), their queries awaited on an :class:`psycopg_pool.AsyncConnectionPool`; watches
are woken by ``LISTEN/NOTIFY`` on an async connection; lost connections and outages are
handled as :mod:`agentstore.backends.postgres.connecting` decides for both. Sync and
async stores may share a schema, in one process or many.

An append is one statement (``append_events``). The appends of concurrent tasks that
arrive while others are being written go together in one transaction, pipelined in one
round trip (:class:`~agentstore.backends.lane.AppendLane`), in a task of their own: a caller
cancelled meanwhile leaves the statements to finish and the connection to go back to the
pool clean, so each append's events are stored once, whole, or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, ParamSpec, TypeVar

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from agentstore.backends import forked
from agentstore.backends.base import AppendRequest, AsyncBackend, AsyncSubscription, translating
from agentstore.backends.errnos import postgres_errno
from agentstore.backends.lane import AppendLane, Outcomes
from agentstore.backends.postgres.async_notify import AsyncListener, AsyncPoller
from agentstore.backends.postgres.connecting import (
    CONNECT_TIMEOUT,
    RETRY_EVERY,
    AsyncPooledConnection,
    LostConnection,
    Outage,
    pool_options,
    run_again,
)
from agentstore.backends.postgres.notify import MARK_WAIT, Notices, mark_notice, silent_channel
from agentstore.backends.postgres.operations import Operation, Operations, Query, Rows
from agentstore.backends.postgres.sql import check_options
from agentstore.backends.targets import masked
from agentstore.errors import AgentStoreError, StorageError, StoreClosedError
from agentstore.events import Event
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot

__all__ = ["AsyncPostgresBackend"]

_T = TypeVar("_T")
_P = ParamSpec("_P")
_Db = AsyncPooledConnection

_translated = translating(
    (psycopg.Error, OSError),
    lambda backend: f"PostgreSQL ({backend.schema})",
    errno=lambda backend, error: postgres_errno(error),
)


class AsyncPostgresBackend(AsyncBackend):
    """Sessions, events and snapshots in a PostgreSQL schema, on asyncio.

    Open one with :meth:`open`, which takes the options of
    :class:`~agentstore.backends.postgres.backend.PostgresBackend`.
    """

    def __init__(
        self, url: str, schema: str, pool_size: int, poll_interval: float, read_only: bool = False
    ) -> None:
        self.read_only = read_only
        self.schema = schema
        self._url = url
        self._pool_size = pool_size
        self._poll_interval = poll_interval
        self._operations = Operations(schema)
        self._outage = Outage(url, f"PostgreSQL ({schema})")
        self._reopen = False  # set in a forked child: open a pool and a listener there
        self._closed = False
        self._start_afresh()

    def _start_afresh(self) -> None:
        """Make the pool (not opened), the listener (not started) and the feeds' poller."""
        options = pool_options(self._url, self._pool_size, self._outage, read_only=self.read_only)
        self._pool = AsyncConnectionPool(
            self._url, connection_class=_Db, configure=_configure, open=False, **options
        )
        self._notices = Notices()
        self._poller = AsyncPoller(self._poll_interval)
        channel = self._operations.channel
        self._listener = AsyncListener(self._url, channel, self._notices, self._poller)
        self._writes: set[asyncio.Task[Any]] = set()
        # Two batches may be written at once, each on a connection (a server process) of
        # its own: as fast as one here (2 cores shared with the server), and a server
        # with more cores works on both. Five were slower here: smaller batches.
        self._lane = AppendLane(self._commit, parallel=2)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        schema: str = "agentstore",
        partitions: int = 0,
        pool_size: int = 10,
        poll_interval: float = 1.0,
        read_only: bool = False,
    ) -> AsyncPostgresBackend:
        """Connect, create or migrate the schema (read-only: check it), and start listening.

        Raises:
            InvalidArgumentError: a bad schema name or partition count.
            StoreVersionError: the schema's format is newer than this library's
                (read-only: or older, and not readable as it is).
            StoreNotFoundError: (read-only) no such schema, or not a store's.
            StorageError: the server cannot be reached or refuses.
        """
        check_options(schema, partitions)
        backend = cls(url, schema, pool_size, poll_interval, read_only)
        try:
            # One plain connection first: a wrong address fails at once (see the sync twin).
            probe = await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT)
            await probe.close()
            await backend._pool.open(wait=True)
            if read_only:
                await backend._run(backend._operations.inspect)
            else:
                await backend._run(backend._operations.migrate, partitions)
            await backend._listener.start()
        except psycopg.Error as error:
            await backend.close()
            message = f"PostgreSQL: {masked(str(error))}"
            raise StorageError(postgres_errno(error), message) from error
        except BaseException:
            await backend.close()
            raise
        forked.reopen_after_fork(backend)
        return backend

    # Sessions

    @_translated
    async def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        return await self._run(self._operations.create_session, session, history)

    @_translated
    async def get_session(self, session_id: str) -> Session:
        return await self._run(self._operations.get_session, session_id)

    @_translated
    async def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        return await self._run(self._operations.list_sessions, limit, offset, labels)

    @_translated
    async def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        return await self._run(self._operations.update_session, session_id, update)

    @_translated
    async def delete_session(self, session_id: str) -> Session:
        return await self._run(self._operations.delete_session, session_id)

    # Events

    async def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        if self._closed:
            raise StoreClosedError()
        return await self._lane.append(session_id, events, expected_seq)

    def _commit(self, requests: list[AppendRequest]) -> asyncio.Future[Outcomes]:
        # A task of its own, which the callers' cancellation never reaches: its statements
        # finish and its connection goes back to the pool clean.
        if self._closed:
            raise StoreClosedError()
        write = asyncio.get_running_loop().create_task(self._append_many(requests))
        self._writes.add(write)
        write.add_done_callback(_finished_write(self._writes))
        return write

    async def _append_many(self, requests: list[AppendRequest]) -> Outcomes:
        # Appends with an expected seq often fail by design (a racing writer won): they go
        # alone, so a failure never costs the others their shared transaction.
        together = [index for index, request in enumerate(requests) if request[2] is None]
        outcomes: dict[int, list[Event] | AgentStoreError] = {}
        if len(together) > 1:
            try:
                batch = await self._append_together([requests[index] for index in together])
                outcomes.update(zip(together, batch, strict=True))
            except (psycopg.Error, AgentStoreError):
                pass  # one failed (an unknown session), and with it the transaction
        for index, request in enumerate(requests):
            if index not in outcomes:
                outcomes[index] = await self._append_alone(*request)
        return [outcomes[index] for index in range(len(requests))]

    async def _append_together(self, requests: list[AppendRequest]) -> Outcomes:
        # One transaction (one flush of the server's log) and one round trip for all. The
        # sessions are locked in the order of their ids, as every batch locks them, so two
        # batches never wait for each other in a circle.
        order = sorted(range(len(requests)), key=lambda index: requests[index][0])
        outcomes: Outcomes = [[] for _ in requests]
        async with self._connection() as db:
            async with db.pipeline():
                cursors = [
                    await _pipelined(db, self._operations.append_query(*requests[index]))
                    for index in order
                ]
            for index, cursor in zip(order, cursors, strict=True):
                session_id, events, _ = requests[index]
                answer = self._operations.appended(session_id, events, await cursor.fetchall())
                stored: list[Event] = await _finish(db, answer)
                outcomes[index] = stored
        return outcomes

    async def _append_alone(
        self, session_id: str, events: Sequence[Event], expected_seq: int | None
    ) -> list[Event] | AgentStoreError:
        try:
            return await self._append(session_id, events, expected_seq)
        except AgentStoreError as error:
            return error

    @_translated
    async def _append(
        self, session_id: str, events: Sequence[Event], expected_seq: int | None
    ) -> list[Event]:
        return await self._run(self._operations.append, session_id, events, expected_seq)

    @_translated
    async def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        await self._run(self._operations.import_events, session_id, events)

    @_translated
    async def read(
        self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None
    ) -> list[Event]:
        return await self._run(self._operations.read, session_id, from_seq, to_seq)

    @_translated
    async def last_seq(self, session_id: str) -> int:
        return await self._run(self._operations.last_seq, session_id)

    # Snapshots

    @_translated
    async def read_snapshot(self, session_id: str) -> Snapshot | None:
        return await self._run(self._operations.read_snapshot, session_id)

    @_translated
    async def write_snapshot(self, snapshot: Snapshot) -> None:
        await self._run(self._operations.write_snapshot, snapshot)

    # Feeds and closing

    @_translated
    async def subscribe(self, session_id: str | None) -> AsyncSubscription:
        if session_id is not None:
            return await self._poller.session_feed(self, session_id)
        cursor = await self._mark()

        async def all_events() -> list[Event]:
            nonlocal cursor
            cursor, ranges = self._notices.since(cursor)
            return await self._read_ranges(ranges)

        return self._poller.feed(all_events)

    @_translated
    async def _read_ranges(self, ranges: list[tuple[str, int, int]]) -> list[Event]:
        return await self._run(self._operations.read_ranges, ranges)

    async def _mark(self) -> int:
        """Where the notices of commits made after this call begin (see the sync twin)."""
        token, arrived = self._notices.new_mark()
        await self._run(self._operations.notify, mark_notice(token))
        try:
            async with asyncio.timeout(MARK_WAIT):
                while not arrived.is_set():  # the listener sets it, then wakes the poller
                    await self._poller.sleep(self._poller.signal, 0.05)
        except TimeoutError:
            raise silent_channel() from None
        return self._notices.marked(token)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        forked.forget(self)
        if self._writes:  # appends under way, their callers perhaps cancelled: let them end
            await asyncio.wait(list(self._writes))
        self._poller.close()
        await self._listener.close()
        await self._pool.close()

    def after_fork_in_child(self) -> None:
        """In a forked child, open a pool and a listener of its own at the first call.

        The parent's connections are sockets shared with it, and its pool's tasks and its
        listener belong to the parent's event loop: they are set aside, neither used nor
        closed (psycopg closes a connection only in the process that opened it). The new
        ones open on the loop that calls next.
        """
        forked.set_aside(self._pool, self._listener, self._writes)
        self._outage = Outage(self._url, self._outage.where)
        self._start_afresh()
        self._reopening = asyncio.Lock()
        self._reopen = True

    # Internals

    async def _run(
        self, begin: Callable[_P, Operation[_T]], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        operation = begin(*args, **kwargs)
        query = operation.start()
        if query is None:  # answered without the database (nothing to read)
            return operation.result
        runs = 1
        while True:
            try:
                return await self._once(operation, query)
            except LostConnection as lost:
                run_again(self._outage, lost, repeatable=operation.repeatable, runs=runs)
            runs += 1
            operation = begin(*args, **kwargs)  # again, on a new connection
            query = operation.start()
            if query is None:
                return operation.result

    async def _once(self, operation: Operation[_T], query: Query) -> _T:
        async with self._connection() as db, _atomic(db, operation):
            return await _finish(db, operation, query)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[_Db]:
        db = await self._connect()
        try:
            yield db
        except psycopg.Error as error:
            if not db.broken:
                raise
            # A server restart or a dropped network breaks the idle connections too.
            self._outage.lost(error)
            await self._pool.drain()
            raise LostConnection(str(error)) from error
        finally:
            await self._pool.putconn(db)

    async def _connect(self) -> _Db:
        if self._reopen:
            await self._open_in_child()
        try:
            db = await self._pool.getconn(timeout=RETRY_EVERY)
        except PoolTimeout:
            db = await self._wait_for_connection()
        self._outage.answered()
        return db

    async def _wait_for_connection(self) -> _Db:
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
                return await self._pool.getconn(timeout=wait)

    async def _open_in_child(self) -> None:
        async with self._reopening:
            if self._reopen:
                await self._pool.open()
                await self._listener.start()
                self._reopen = False


async def _finish(db: _Db, operation: Operation[_T], query: Query | None = None) -> _T:
    """Run ``operation``'s queries on ``db``, from ``query`` (else its first) to its result."""
    if query is None:
        query = operation.start()
    while query is not None:
        query = operation.advance(await _fetch(db, query))
    return operation.result


async def _fetch(db: _Db, query: Query) -> Rows | psycopg.Error:
    # The driver's error is handed to the operation, which knows what it means there.
    try:
        if query.many:
            async with db.cursor() as cursor:
                await cursor.executemany(query.statement, query.values)
            return []
        cursor = await db.execute(query.statement, query.values)
        return await cursor.fetchall() if cursor.description is not None else []
    except psycopg.Error as error:
        return error


async def _pipelined(db: _Db, query: Query) -> psycopg.AsyncCursor[Any]:
    # Not prepared: a statement prepared in a failed pipeline is lost.
    return await db.execute(query.statement, query.values, prepare=False)


def _atomic(db: _Db, operation: Operation[Any]) -> AbstractAsyncContextManager[Any]:
    # Autocommit otherwise: a single statement is its own transaction, without the round
    # trips of BEGIN and COMMIT.
    return db.transaction() if operation.atomic else nullcontext()


def _finished_write(writes: set[asyncio.Task[Any]]) -> Any:
    def finished(write: asyncio.Task[Any]) -> None:
        writes.discard(write)
        if not write.cancelled():
            write.exception()  # retrieved: a cancelled caller's failure is not an orphan

    return finished


async def _configure(connection: _Db) -> None:
    set_json_loads(orjson.loads, connection)  # three times the standard library's speed
