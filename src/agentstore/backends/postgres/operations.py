"""The PostgreSQL backend's operations, written once for both faces (pure, no I/O).

An operation is a generator: it yields the queries to run, in order, is sent the rows
each one fetched (or thrown the driver's error, to decide what it means) and returns the
operation's answer. Every decision (which statement comes next, with which values, what
its rows or its failure mean) is made here; :class:`PostgresBackend` and
:class:`AsyncPostgresBackend` only run the queries, each with one small loop over
:class:`Operation`::

    query = operation.start()
    while query is not None:
        query = operation.advance(fetch(db, query))  # rows, or the driver's error
    return operation.result

The alternative, a coroutine per operation run by the sync face without an event loop
(as :mod:`agentstore.core.running` does for the store), would put a coroutine on the sync
append path; a generator costs the same on both faces and never waits by itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, Generic, NamedTuple, ParamSpec, TypeVar

import psycopg
from psycopg import sql

from agentstore.backends.postgres.notify import commit_notice
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
    CREATE_SCHEMA,
    CREATE_SESSION,
    CREATE_VERSION_TABLE,
    DELETE_EVENTS,
    DELETE_SESSION,
    DELETE_SNAPSHOT,
    EVENTS_BY_ID,
    GET_SESSION,
    INSERT_EVENTS,
    LAST_SEQ,
    LIST_SESSIONS,
    LOCK_SESSION,
    LOCK_SESSION_RECORD,
    MIGRATION_LOCK,
    NANOS_SINCE,
    NOTIFY,
    READ_EVENTS,
    READ_SNAPSHOT,
    RECORD_VERSION,
    SCHEMA_VERSION,
    SESSION_EXISTS,
    STORE_TABLES,
    UPDATE_SESSION,
    WRITE_SNAPSHOT,
    migrations,
)
from agentstore.backends.rows import json_text, session_from_row, snapshot_from_row
from agentstore.core import sequencing
from agentstore.errors import (
    SessionExistsError,
    SessionNotFoundError,
    StoreNotFoundError,
    StoreVersionError,
)
from agentstore.events import Event
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot

__all__ = [
    "Operation",
    "Operations",
    "Query",
    "Rows",
    "Steps",
    "once",
    "operation",
    "transaction",
]

_T = TypeVar("_T")
_P = ParamSpec("_P")

#: What a query fetched (nothing for a statement that returns no rows).
Rows = list[tuple[Any, ...]]


class Query(NamedTuple):
    """One statement to run, with its ``values``; with ``many``, once for each row of them."""

    statement: bytes
    values: Any = None
    many: bool = False


#: An operation's queries: each yield is a query, answered with the rows it fetched.
Steps = Generator[Query, Rows, _T]


class Operation(Generic[_T]):
    """An operation being run: its next query, then its result.

    A face takes the first query from :meth:`start`, runs each query on one connection
    (inside one transaction when :attr:`atomic`) and hands what it fetched to
    :meth:`advance` for the next one, until there is none; :attr:`result` is then the
    answer. An error the operation does not handle comes out of :meth:`advance`. When the
    connection breaks mid-way, a face runs a new one of the same operation on another
    connection if :attr:`repeatable`: a second run answers the same and stores nothing
    twice, whether the first was committed or not.
    """

    __slots__ = ("_result", "_steps", "atomic", "repeatable")
    _result: _T

    def __init__(self, steps: Steps[_T], *, atomic: bool = False, repeatable: bool = True) -> None:
        self._steps = steps
        self.atomic = atomic
        self.repeatable = repeatable

    def __iter__(self) -> Steps[_T]:
        """The steps themselves, so that a larger operation can ``yield from`` this one."""
        return self._steps

    def start(self) -> Query | None:
        """The first query, or None when the answer needs no database."""
        try:
            return next(self._steps)
        except StopIteration as done:
            self._result = done.value
            return None

    def advance(self, outcome: Rows | psycopg.Error) -> Query | None:
        """Hand over the last query's rows or error; return the next query, None at the end."""
        try:
            if isinstance(outcome, psycopg.Error):
                return self._steps.throw(outcome)
            return self._steps.send(outcome)
        except StopIteration as done:
            self._result = done.value
            return None

    @property
    def result(self) -> _T:
        """The operation's answer, once :meth:`start` or :meth:`advance` returned None."""
        return self._result


def operation(steps: Callable[_P, Steps[_T]]) -> Callable[_P, Operation[_T]]:
    """Make a generator of queries a function returning its :class:`Operation`."""

    @functools.wraps(steps)
    def begin(*args: _P.args, **kwargs: _P.kwargs) -> Operation[_T]:
        return Operation(steps(*args, **kwargs))

    return begin


def transaction(steps: Callable[_P, Steps[_T]]) -> Callable[_P, Operation[_T]]:
    """Like :func:`operation`, for queries that run in one transaction, all or none."""

    @functools.wraps(steps)
    def begin(*args: _P.args, **kwargs: _P.kwargs) -> Operation[_T]:
        return Operation(steps(*args, **kwargs), atomic=True)

    return begin


def once(begin: Callable[_P, Operation[_T]]) -> Callable[_P, Operation[_T]]:
    """Mark an operation not to be run again after a broken connection.

    For writes a second run would refuse when the first was committed (a session
    created, events imported): the caller learns that the outcome is unknown instead.
    """

    @functools.wraps(begin)
    def begin_once(*args: _P.args, **kwargs: _P.kwargs) -> Operation[_T]:
        started = begin(*args, **kwargs)
        started.repeatable = False
        return started

    return begin_once


class Operations:
    """Every operation of the PostgreSQL backend, on the tables of ``schema``.

    Args:
        schema: the schema's name, already checked
            (:func:`~agentstore.backends.postgres.sql.check_options`).
    """

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.channel = f"agentstore_{schema}"  # NOTIFY's channel, one a schema
        self._schema = sql.Identifier(schema)
        self._nanos: sql.Composable = sql.Identifier("nanos")  # 0: an older schema, read
        self._statements: dict[str, bytes] = {}

    # Schema

    @transaction
    def migrate(self, partitions: int) -> Steps[None]:
        """Create the schema, or bring it to the last of :func:`migrations`.

        One migrator at a time, across processes and hosts: the lock is the channel's.
        """
        yield self._query(MIGRATION_LOCK, (self.channel,))
        yield self._query(CREATE_SCHEMA)
        yield self._query(CREATE_VERSION_TABLE)
        rows = yield self._query(SCHEMA_VERSION)
        version = rows[0][0] if rows and rows[0][0] is not None else 0
        steps = migrations(partitions)
        if version > len(steps):  # raised in the transaction: it rolls back, nothing written
            where = f"PostgreSQL (schema {self.schema})"
            raise StoreVersionError(where, found=version, supported=len(steps))
        for number, statements in enumerate(steps[version:], start=version + 1):
            for statement in statements:
                yield Query(self._compose(statement))  # run once: not worth keeping
            yield self._query(RECORD_VERSION, (number,))

    @operation
    def inspect(self) -> Steps[None]:
        """Check, writing nothing, that the schema holds a store this library reads as it is.

        For a read-only open, which neither creates nor migrates: the schema and its
        tables must be there, of this library's version, or of an older one whose tables
        answer every read (else opening it writable migrates it first).

        Raises:
            StoreVersionError: the format is newer, or older and not readable as it is.
            StoreNotFoundError: no such schema, or not agentstore's tables in it.
        """
        where = f"PostgreSQL (schema {self.schema})"
        names = [f"{self.schema}.{table}" for table in _TABLES]
        (found,) = yield self._query(STORE_TABLES, [self.schema, *names])
        if not found[0]:
            raise StoreNotFoundError(where, "no such schema")
        supported, version = len(migrations(0)), 0
        if found[1]:
            rows = yield self._query(SCHEMA_VERSION)
            version = rows[0][0] or 0
            if version > supported:  # refused first, whatever else is there
                raise StoreVersionError(where, found=version, supported=supported)
        if not all(found[1:]) or not version:
            raise StoreNotFoundError(where, "a schema without agentstore's tables")
        if version < supported:
            if version < NANOS_SINCE:
                self._nanos = sql.SQL("0::smallint")
                self._statements.clear()
            try:
                yield self._query(GET_SESSION, ("",))
                yield self._query(READ_EVENTS, ("", 1, 0))
                yield self._query(READ_SNAPSHOT, ("",))
            except (psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable):
                raise StoreVersionError(where, found=version, supported=supported) from None

    # Sessions

    @transaction
    def create_session(self, session: Session, history: Sequence[Event]) -> Steps[Session]:
        """Create ``session`` with ``history``; the session as stored.

        Run again after its connection broke, it finds the session it created, if the
        first run was committed: the same id, name, labels, origin and creation time.

        Raises:
            SessionExistsError: another session with this id exists.
        """
        created = yield self._query(CREATE_SESSION, session_values(session, history))
        if not created:  # the id is taken
            stored = yield from self.get_session(session.id)
            if _creation(stored) != _creation(session):
                raise SessionExistsError(session.id)
            return stored
        if history:  # a fork's copied history: not news for watchers, so no NOTIFY
            yield self._query(INSERT_EVENTS, insert_values(history), many=True)
        return (yield from self.get_session(session.id))

    @operation
    def get_session(self, session_id: str) -> Steps[Session]:
        """The session with its last seq and time.

        Raises:
            SessionNotFoundError: no such session.
        """
        row = yield from self._session_row(GET_SESSION, session_id)
        return session_from_row(*row)

    @operation
    def list_sessions(
        self, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> Steps[list[Session]]:
        """The sessions with all ``labels``, newest first, paged."""
        # LIMIT and OFFSET are bigints: larger numbers mean "all" all the same.
        values = (json_text(dict(labels or {})), min(limit, 2**62), min(offset, 2**62))
        rows = yield self._query(LIST_SESSIONS, values)
        return [session_from_row(*row) for row in rows]

    @transaction
    def update_session(self, session_id: str, update: SessionUpdate) -> Steps[Session]:
        """Apply ``update`` to the session, its row locked; the session as it is now.

        Run again after its connection broke, it changes nothing more: the same names
        and labels set, the same keys removed.

        Raises:
            SessionNotFoundError: no such session.
        """
        row = yield from self._session_row(LOCK_SESSION_RECORD, session_id)
        session = session_from_row(*row)
        changed = update.apply(session)
        if changed is not session:
            labels = json_text(dict(changed.labels))
            yield self._query(UPDATE_SESSION, (changed.name, labels, session_id))
        return changed

    @once
    @transaction
    def delete_session(self, session_id: str) -> Steps[Session]:
        """Delete the session, its events and its snapshot in one transaction; the session.

        Raises:
            SessionNotFoundError: no such session.
        """
        row = yield from self._session_row(DELETE_SESSION, session_id)
        yield self._query(DELETE_EVENTS, (session_id,))
        yield self._query(DELETE_SNAPSHOT, (session_id,))
        return session_from_row(*row)

    # Events

    @operation
    def append(
        self, session_id: str, events: Sequence[Event], expected_seq: int | None
    ) -> Steps[list[Event]]:
        """Append prepared events; the events as stored (see :meth:`Backend.append`).

        One round trip when every event is new: append_events (see ``APPEND_FUNCTION``)
        numbers, stamps, writes and notifies under the session's lock, and commits.

        Raises:
            SessionNotFoundError: no such session.
            ConcurrencyError: ``expected_seq`` is not the last seq; nothing was written.
        """
        try:
            rows = yield self.append_query(session_id, events, expected_seq)
        except psycopg.Error as error:
            raise append_error(error, session_id, expected_seq) from None
        return (yield from self.appended(session_id, events, rows))

    def append_query(
        self, session_id: str, events: Sequence[Event], expected_seq: int | None
    ) -> Query:
        """The one statement of an append, for a face that pipelines several appends."""
        return self._query(APPEND, append_values(session_id, events, expected_seq, self.channel))

    @operation
    def appended(self, session_id: str, events: Sequence[Event], rows: Rows) -> Steps[list[Event]]:
        """The events as stored, from the rows of :meth:`append_query`.

        The events it found stored already (their ids known) are read back as they were.
        """
        known = [event.id for event, row in zip(events, rows, strict=True) if row[3]]
        found = (yield from self.events_by_id(session_id, known)) if known else {}
        return appended(session_id, events, rows, found)

    @operation
    def events_by_id(self, session_id: str, ids: list[str]) -> Steps[dict[str, Event]]:
        """The stored events of a session with these ids, by id."""
        rows = yield self._query(EVENTS_BY_ID, (session_id, ids))
        return {row[2]: event_from_pg_row(row) for row in rows}

    def import_events(self, session_id: str, events: Sequence[Event]) -> Operation[None]:
        """Append events stamped elsewhere (see :meth:`Backend.import_events`).

        Raises:
            SessionNotFoundError: no such session.
            ConcurrencyError: the first seq does not follow the last one stored.
            InvalidEventError: the seqs are not consecutive, or an id is already stored.
        """
        if not events:  # nothing to write, so no transaction; the session must exist
            return self._require(session_id)
        return self._import(session_id, events)

    @once
    @transaction
    def _import(self, session_id: str, events: Sequence[Event]) -> Steps[None]:
        last_seq, _ = yield from self._session_row(LOCK_SESSION, session_id)
        found = yield from self.events_by_id(session_id, [event.id for event in events])
        sequencing.check_import(session_id, events, last_seq, found.get)
        yield self._query(INSERT_EVENTS, insert_values(events), many=True)
        last = events[-1]
        yield self._query(ADVANCE_SESSION, (last.seq, last.timestamp, session_id))
        yield from self.notify(commit_notice(session_id, events[0].seq, last.seq))

    @operation
    def read(self, session_id: str, from_seq: int, to_seq: int | None) -> Steps[list[Event]]:
        """The events with ``from_seq <= seq <= to_seq`` (to the end when None), in order.

        Raises:
            SessionNotFoundError: no such session.
        """
        rows = yield self._query(READ_EVENTS, read_values(session_id, from_seq, to_seq))
        if not rows:  # an empty range, or no session at all
            yield from self._require(session_id)
        return [event_from_pg_row(row) for row in rows]

    @operation
    def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> Steps[list[Event]]:
        """The events of each (session, first seq, last seq), one range after the other."""
        events: list[Event] = []
        for session_id, first, last in ranges:
            try:
                events.extend((yield from self.read(session_id, first, last)))
            except SessionNotFoundError:
                continue  # deleted since its events were notified
        return events

    @operation
    def last_seq(self, session_id: str) -> Steps[int]:
        """The seq of the session's last event (0 when it has none).

        Raises:
            SessionNotFoundError: no such session.
        """
        row = yield from self._session_row(LAST_SEQ, session_id)
        return int(row[0])

    @operation
    def _require(self, session_id: str) -> Steps[None]:
        yield from self._session_row(SESSION_EXISTS, session_id)

    def _session_row(self, statement: str, session_id: str) -> Steps[tuple[Any, ...]]:
        # The first row of a statement about one session, which must exist.
        rows = yield self._query(statement, (session_id,))
        if not rows:
            raise SessionNotFoundError(session_id)
        return rows[0]

    # Snapshots

    @operation
    def read_snapshot(self, session_id: str) -> Steps[Snapshot | None]:
        """The session's latest snapshot, or None."""
        rows = yield self._query(READ_SNAPSHOT, (session_id,))
        return snapshot_from_row(*rows[0]) if rows else None

    @operation
    def write_snapshot(self, snapshot: Snapshot) -> Steps[None]:
        """Keep ``snapshot`` unless a newer one is kept already.

        One statement, atomic by itself: a transaction around it would only add the
        round trips of BEGIN and COMMIT.
        """
        yield self._query(WRITE_SNAPSHOT, snapshot_values(snapshot))

    # Notifications

    @operation
    def notify(self, payload: str) -> Steps[None]:
        """Send ``payload`` on the schema's channel (see :mod:`.notify`)."""
        yield self._query(NOTIFY, (self.channel, payload))

    # Internals

    def _query(self, text: str, values: Any = None, *, many: bool = False) -> Query:
        # Each statement is composed once for the schema and kept as the bytes psycopg
        # sends: composing it at each call cost about 16 µs of an append's time.
        statement = self._statements.get(text)
        if statement is None:
            statement = self._statements[text] = self._compose(text)
        return Query(statement, values, many)

    def _compose(self, text: str) -> bytes:
        return sql.SQL(text).format(s=self._schema, nanos=self._nanos).as_bytes(None)


_TABLES = ("schema_version", "sessions", "events", "snapshots")  # a store's, in the schema


def _creation(session: Session) -> tuple[Any, ...]:
    """What a session was created with (two creations of it are the same one)."""
    labels = dict(session.labels)
    return (
        session.id,
        session.name,
        labels,
        session.created_at,
        session.parent_id,
        session.forked_at_seq,
    )
