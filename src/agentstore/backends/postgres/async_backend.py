"""The PostgreSQL backend on asyncio: psycopg's async connections and pool.

The twin of :class:`agentstore.backends.postgres.backend.PostgresBackend`: the same schema,
migrations and statements (:mod:`agentstore.backends.postgres.sql`) with the same values
(:mod:`agentstore.backends.postgres.rows`), awaited on an
:class:`psycopg_pool.AsyncConnectionPool`; watches are woken by ``LISTEN/NOTIFY`` on an
async connection. Sync and async stores may share a schema, in one process or many.

An append is one statement (``append_events``). The appends of concurrent tasks that
arrive while others are being written go together in one transaction, pipelined in one
round trip (:class:`~agentstore.backends.lane.AppendLane`), in a task of their own: a caller
cancelled meanwhile leaves the statements to finish and the connection to go back to the
pool clean, so each append's events are stored once, whole, or not at all.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from agentstore.backends.base import AppendRequest, AsyncBackend, AsyncSubscription, translating
from agentstore.backends.lane import AppendLane, Outcomes
from agentstore.backends.postgres.async_notify import AsyncListener, AsyncPoller
from agentstore.backends.postgres.notify import Notices
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
from agentstore.errors import (
    AgentStoreError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    StoreClosedError,
)
from agentstore.events import Event
from agentstore.sessions import Session
from agentstore.state import Snapshot

__all__ = ["AsyncPostgresBackend"]

_translated = translating(
    (psycopg.Error, OSError), lambda backend: f"PostgreSQL ({backend.schema})"
)
_Db = psycopg.AsyncConnection[Any]


class AsyncPostgresBackend(AsyncBackend):
    """Sessions, events and snapshots in a PostgreSQL schema, on asyncio.

    Open one with :meth:`open`, which takes the options of
    :class:`~agentstore.backends.postgres.backend.PostgresBackend`.
    """

    def __init__(self, url: str, schema: str, pool_size: int, poll_interval: float) -> None:
        self.schema = schema
        self._channel = f"agentstore_{schema}"
        self._pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"options": "-c TimeZone=UTC", "autocommit": True},
            configure=_configure,
            open=False,
        )
        self._notices = Notices()
        self._poller = AsyncPoller(poll_interval)
        self._listener = AsyncListener(url, self._channel, self._notices, self._poller)
        self._writes: set[asyncio.Task[Any]] = set()
        # Two batches may be written at once, each on a connection (a server process) of
        # its own: as fast as one here (2 cores shared with the server), and a server
        # with more cores works on both. Five were slower here: smaller batches.
        self._lane = AppendLane(self._commit, parallel=2)
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        schema: str = "agentstore",
        partitions: int = 0,
        pool_size: int = 10,
        poll_interval: float = 1.0,
    ) -> AsyncPostgresBackend:
        """Connect, create or migrate the schema, and start listening.

        Raises:
            InvalidArgumentError: a bad schema name or partition count.
            StorageError: the server cannot be reached or refuses.
        """
        check_options(schema, partitions)
        backend = cls(url, schema, pool_size, poll_interval)
        try:
            # One plain connection first: a wrong address fails at once (see the sync twin).
            probe = await psycopg.AsyncConnection.connect(url, connect_timeout=CONNECT_TIMEOUT)
            await probe.close()
            await backend._pool.open(wait=True)
            await backend._migrate(partitions)
            await backend._listener.start()
        except psycopg.Error as error:
            await backend.close()
            raise StorageError(0, f"PostgreSQL: {error}") from error
        except BaseException:
            await backend.close()
            raise
        return backend

    # Sessions

    @_translated
    async def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        async with self._transaction() as db:
            try:
                await db.execute(self._sql(CREATE_SESSION), session_values(session, history))
            except psycopg.errors.UniqueViolation:
                raise SessionExistsError(session.id) from None
            await self._insert(db, history)  # a fork's copied history: not news for watchers
        return await self.get_session(session.id)

    @_translated
    async def get_session(self, session_id: str) -> Session:
        async with self._pool.connection() as db:
            cursor = await db.execute(self._sql(GET_SESSION), (session_id,))
            row = await cursor.fetchone()
        if row is None:
            raise SessionNotFoundError(session_id)
        return session_from_row(*row)

    @_translated
    async def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        values = (json_text(dict(labels or {})), min(limit, 2**62), min(offset, 2**62))
        async with self._pool.connection() as db:
            cursor = await db.execute(self._sql(LIST_SESSIONS), values)
            rows = await cursor.fetchall()
        return [session_from_row(*row) for row in rows]

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
        async with self._pool.connection() as db:
            async with db.pipeline():
                cursors = [
                    await db.execute(
                        self._sql(APPEND),
                        append_values(*requests[index], self._channel),
                        prepare=False,  # a statement prepared in a failed pipeline is lost
                    )
                    for index in order
                ]
            for index, cursor in zip(order, cursors, strict=True):
                session_id, events, _ = requests[index]
                rows = await cursor.fetchall()
                known = [event.id for event, row in zip(events, rows, strict=True) if row[3]]
                found = await self._by_ids(db, session_id, known) if known else {}
                outcomes[index] = appended(session_id, events, rows, found)
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
        # One round trip: append_events numbers, stamps, writes and notifies under the
        # session's lock, and commits.
        values = append_values(session_id, events, expected_seq, self._channel)
        try:
            async with self._pool.connection() as db:
                rows = await (await db.execute(self._sql(APPEND), values)).fetchall()
                known_ids = [event.id for event, row in zip(events, rows, strict=True) if row[3]]
                found = await self._by_ids(db, session_id, known_ids) if known_ids else {}
        except psycopg.Error as error:
            raise append_error(error, session_id, expected_seq) from None
        return appended(session_id, events, rows, found)

    @_translated
    async def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        if not events:
            await self.last_seq(session_id)
            return
        async with self._transaction() as db:
            row = await (await db.execute(self._sql(LOCK_SESSION), (session_id,))).fetchone()
            if row is None:
                raise SessionNotFoundError(session_id)
            found = await self._by_ids(db, session_id, [event.id for event in events])
            sequencing.check_import(session_id, events, row[0], found.get)
            await self._insert(db, events)
            last = events[-1]
            await db.execute(self._sql(ADVANCE_SESSION), (last.seq, last.timestamp, session_id))
            notice = f"{events[0].seq} {last.seq} {session_id}"
            await db.execute(NOTIFY, (self._channel, notice))

    @_translated
    async def read(
        self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None
    ) -> list[Event]:
        async with self._pool.connection() as db:
            values = read_values(session_id, from_seq, to_seq)
            rows = await (await db.execute(self._sql(READ_EVENTS), values)).fetchall()
            if not rows:
                await self._require(db, session_id)
        return [event_from_pg_row(row) for row in rows]

    @_translated
    async def last_seq(self, session_id: str) -> int:
        async with self._pool.connection() as db:
            row = await (await db.execute(self._sql(LAST_SEQ), (session_id,))).fetchone()
        if row is None:
            raise SessionNotFoundError(session_id)
        return int(row[0])

    # Snapshots

    @_translated
    async def read_snapshot(self, session_id: str) -> Snapshot | None:
        async with self._pool.connection() as db:
            row = await (await db.execute(self._sql(READ_SNAPSHOT), (session_id,))).fetchone()
        return None if row is None else snapshot_from_row(*row)

    @_translated
    async def write_snapshot(self, snapshot: Snapshot) -> None:
        async with self._transaction() as db:
            await db.execute(self._sql(WRITE_SNAPSHOT), snapshot_values(snapshot))

    # Feeds and closing

    @_translated
    async def subscribe(self, session_id: str | None) -> AsyncSubscription:
        if session_id is not None:
            next_seq = await self.last_seq(session_id) + 1

            async def new_events() -> list[Event]:
                nonlocal next_seq
                events = await self.read(session_id, from_seq=next_seq)
                if events:
                    next_seq = events[-1].seq + 1
                return events

            return self._poller.feed(new_events)
        cursor = await self._mark()

        async def all_events() -> list[Event]:
            nonlocal cursor
            cursor, ranges = self._notices.since(cursor)
            events: list[Event] = []
            for changed, first, last in ranges:
                events.extend(await self.read(changed, from_seq=first, to_seq=last))
            return events

        return self._poller.feed(all_events)

    async def _mark(self) -> int:
        """Where the notices of commits made after this call begin (see the sync twin)."""
        token = uuid.uuid4().hex
        arrived = self._notices.expect(token)
        async with self._pool.connection() as db:
            await db.execute(NOTIFY, (self._channel, f"mark {token}"))
        try:
            async with asyncio.timeout(10):
                while not arrived.is_set():  # the listener sets it, then wakes the poller
                    await self._poller.sleep(self._poller.signal, 0.05)
        except TimeoutError:
            raise StorageError(0, "PostgreSQL: the notification channel does not answer") from None
        return self._notices.marked(token)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._writes:  # appends under way, their callers perhaps cancelled: let them end
            await asyncio.wait(list(self._writes))
        self._poller.close()
        await self._listener.close()
        await self._pool.close()

    # Internals

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=sql.Identifier(self.schema))

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_Db]:
        async with self._pool.connection() as db, db.transaction():  # BEGIN ... COMMIT
            yield db

    async def _migrate(self, partitions: int) -> None:
        steps = migrations(partitions)
        async with self._transaction() as db:
            await db.execute(MIGRATION_LOCK, (self._channel,))
            await db.execute(self._sql(CREATE_SCHEMA))
            await db.execute(self._sql(CREATE_VERSION_TABLE))
            row = await (await db.execute(self._sql(SCHEMA_VERSION))).fetchone()
            version = row[0] if row and row[0] is not None else 0
            for number, statements in enumerate(steps[version:], start=version + 1):
                for statement in statements:
                    await db.execute(self._sql(statement))
                await db.execute(self._sql(RECORD_VERSION), (number,))

    async def _require(self, db: _Db, session_id: str) -> None:
        row = await (await db.execute(self._sql(SESSION_EXISTS), (session_id,))).fetchone()
        if row is None:
            raise SessionNotFoundError(session_id)

    async def _by_ids(self, db: _Db, session_id: str, ids: list[str]) -> dict[str, Event]:
        rows = await (await db.execute(self._sql(EVENTS_BY_ID), (session_id, ids))).fetchall()
        return {row[2]: event_from_pg_row(row) for row in rows}

    async def _insert(self, db: _Db, events: Sequence[Event]) -> None:
        if events:
            async with db.cursor() as cursor:
                await cursor.executemany(self._sql(INSERT_EVENTS), insert_values(events))


def _finished_write(writes: set[asyncio.Task[Any]]) -> Any:
    def finished(write: asyncio.Task[Any]) -> None:
        writes.discard(write)
        if not write.cancelled():
            write.exception()  # retrieved: a cancelled caller's failure is not an orphan

    return finished


async def _configure(connection: _Db) -> None:
    set_json_loads(orjson.loads, connection)  # three times the standard library's speed
