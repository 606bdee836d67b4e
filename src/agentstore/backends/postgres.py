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
import functools
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from agentstore import sequencing
from agentstore.backends.base import Backend, Subscription
from agentstore.backends.polling import Poller
from agentstore.backends.rows import (
    event_from_row,
    event_values,
    json_text,
    session_from_row,
    snapshot_from_row,
)
from agentstore.errors import (
    AgentStoreError,
    ConcurrencyError,
    InvalidArgumentError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
)
from agentstore.events import Event
from agentstore.sessions import Session
from agentstore.state import Snapshot

__all__ = ["PostgresBackend", "migrations"]

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,40}")
_MAX_SEQ = 2**31 - 1  # seqs are integer columns: larger bounds mean "all"
GET_SESSION = """SELECT id, name, labels, created_at, parent_id, forked_at_seq, last_seq,
    updated_at FROM {s}.sessions WHERE id = %s"""
LIST_SESSIONS = """SELECT id, name, labels, created_at, parent_id, forked_at_seq, last_seq,
    updated_at FROM {s}.sessions WHERE labels @> %s
    ORDER BY created_at DESC, created_order DESC LIMIT %s OFFSET %s"""
LOCK_SESSION = """SELECT last_seq, coalesce(updated_at, created_at) FROM {s}.sessions
    WHERE id = %s FOR UPDATE"""
APPEND = "SELECT * FROM {s}.append_events(%s, %s::bigint, %s, %s, %s::json[], %s::json[], %s)"
ADVANCE_SESSION = "UPDATE {s}.sessions SET last_seq = %s, updated_at = %s WHERE id = %s"
READ_EVENTS = """SELECT session_id, seq, id, type, payload, timestamp, metadata FROM {s}.events
    WHERE session_id = %s AND seq >= %s AND seq <= %s ORDER BY seq"""
EVENTS_BY_ID = """SELECT session_id, seq, id, type, payload, timestamp, metadata FROM {s}.events
    WHERE session_id = %s AND id = ANY(%s)"""

_Method = TypeVar("_Method", bound=Callable[..., Any])


def migrations(partitions: int) -> list[list[str]]:
    """The schema's migrations, in order; ``{s}`` stands for the schema's name."""
    events = """CREATE TABLE {s}.events (
            session_id text NOT NULL,
            seq integer NOT NULL,
            position bigserial,
            id text NOT NULL,
            type text NOT NULL,
            payload json NOT NULL,
            timestamp timestamptz NOT NULL,
            metadata json NOT NULL,
            PRIMARY KEY (session_id, seq),
            UNIQUE (session_id, id)
        )"""
    if partitions:
        events += " PARTITION BY HASH (session_id)"
    first = [
        """CREATE TABLE {s}.sessions (
            id text PRIMARY KEY,
            name text NOT NULL,
            labels jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            parent_id text,
            forked_at_seq integer,
            last_seq integer NOT NULL DEFAULT 0,
            updated_at timestamptz,
            created_order bigserial
        )""",
        "CREATE INDEX sessions_newest ON {s}.sessions (created_at DESC, created_order DESC)",
        "CREATE INDEX sessions_labels ON {s}.sessions USING gin (labels jsonb_path_ops)",
        events,
        *(
            f"CREATE TABLE {{s}}.events_{n} PARTITION OF {{s}}.events "
            f"FOR VALUES WITH (MODULUS {partitions}, REMAINDER {n})"
            for n in range(partitions)
        ),
        "CREATE INDEX events_position ON {s}.events (position)",
        """CREATE TABLE {s}.snapshots (
            session_id text PRIMARY KEY,
            version integer NOT NULL,
            reducer text NOT NULL,
            state json NOT NULL,
            created_at timestamptz NOT NULL
        )""",
    ]
    return [first, [APPEND_FUNCTION]]


# The append in one round trip: the sequencing rules of agentstore.sequencing, in SQL,
# under the session's row lock. Known ids come back marked and write nothing; a stale
# expected seq raises SQLSTATE AS001 with the last seq in its detail.
APPEND_FUNCTION = """CREATE FUNCTION {s}.append_events(
        p_session text, p_expected bigint, p_ids text[], p_types text[],
        p_payloads json[], p_metadata json[], p_channel text)
    RETURNS TABLE (o_index integer, o_seq integer, o_at timestamptz, o_known boolean)
    LANGUAGE plpgsql AS $$
    DECLARE
        v_last integer;
        v_time timestamptz;
        v_found integer;
        v_now timestamptz;
        v_new integer;
    BEGIN
        SELECT s.last_seq, coalesce(s.updated_at, s.created_at) INTO v_last, v_time
            FROM {s}.sessions s WHERE s.id = p_session FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'session not found' USING ERRCODE = 'AS002';
        END IF;
        SELECT count(*) INTO v_found FROM {s}.events e
            WHERE e.session_id = p_session AND e.id = ANY(p_ids);
        v_new := cardinality(p_ids) - v_found;
        IF v_new > 0 AND p_expected IS NOT NULL AND p_expected <> v_last THEN
            RAISE EXCEPTION 'stale expected seq' USING ERRCODE = 'AS001', DETAIL = v_last;
        END IF;
        v_now := greatest(date_trunc('microseconds', clock_timestamp()), v_time);
        RETURN QUERY WITH given AS (
            SELECT u.ord::integer AS g_index, u.id AS g_id, u.kind, u.payload, u.meta,
                (k.id IS NOT NULL) AS g_known
            FROM unnest(p_ids, p_types, p_payloads, p_metadata)
                WITH ORDINALITY AS u(id, kind, payload, meta, ord)
            LEFT JOIN {s}.events k ON k.session_id = p_session AND k.id = u.id
        ), numbered AS (
            SELECT g.*, CASE WHEN g.g_known THEN NULL
                ELSE v_last + (count(*) FILTER (WHERE NOT g.g_known)
                               OVER (ORDER BY g.g_index))::integer END AS g_seq
            FROM given g
        ), inserted AS (
            INSERT INTO {s}.events (session_id, seq, id, type, payload, timestamp, metadata)
            SELECT p_session, n.g_seq, n.g_id, n.kind, n.payload, v_now, n.meta
            FROM numbered n WHERE NOT n.g_known
            RETURNING 1
        )
        SELECT n.g_index, n.g_seq, v_now, n.g_known FROM numbered n ORDER BY n.g_index;
        IF v_new > 0 THEN
            UPDATE {s}.sessions SET last_seq = v_last + v_new, updated_at = v_now
                WHERE id = p_session;
            PERFORM pg_notify(
                p_channel, (v_last + 1) || ' ' || (v_last + v_new) || ' ' || p_session);
        END IF;
    END $$"""


def _translated(method: _Method) -> _Method:
    """Raise the driver's errors as StorageError (an AgentStoreError and an OSError)."""

    @functools.wraps(method)
    def call(self: PostgresBackend, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except AgentStoreError:
            raise
        except (psycopg.Error, OSError) as error:
            raise StorageError(0, f"PostgreSQL ({self.schema}): {error}") from error

    return call  # type: ignore[return-value]


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
        if not isinstance(schema, str) or _SCHEMA.fullmatch(schema) is None:
            raise InvalidArgumentError(
                f"schema must be 1-41 characters of a-z 0-9 _, not starting with a digit: "
                f"{schema!r}"
            )
        if type(partitions) is not int or not 0 <= partitions <= 1024:
            raise InvalidArgumentError(f"partitions must be an int from 0 to 1024: {partitions!r}")
        self.schema = schema
        self._channel = f"agentstore_{schema}"
        self._url = url
        self._poller = Poller(poll_interval)
        self._notices = _Notices()
        try:
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
        self._listener = _Listener(url, self._channel, self._notices, self._poller)

    # Sessions

    @_translated
    def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        with self._transaction() as db:
            try:
                db.execute(
                    self._sql(
                        "INSERT INTO {s}.sessions (id, name, labels, created_at, parent_id, "
                        "forked_at_seq, last_seq, updated_at) VALUES (%s, %s, %s, %s, %s, %s, "
                        "%s, %s)"
                    ),
                    (
                        session.id,
                        session.name,
                        json_text(dict(session.labels)),
                        session.created_at,
                        session.parent_id,
                        session.forked_at_seq,
                        history[-1].seq if history else 0,
                        history[-1].timestamp if history else None,
                    ),
                )
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
        columns = [event_values(event) for event in events]
        try:
            with self._pool.connection() as db:
                rows = db.execute(
                    self._sql(APPEND),
                    (
                        session_id,
                        expected_seq,
                        [column[0] for column in columns],
                        [column[1] for column in columns],
                        [column[2] for column in columns],
                        [column[3] for column in columns],
                        self._channel,
                    ),
                ).fetchall()
        except psycopg.Error as error:
            raise _append_error(error, session_id, expected_seq) from None
        known_ids = [event.id for event, row in zip(events, rows, strict=True) if row[3]]
        found = self.events_by_id(session_id, known_ids) if known_ids else {}
        stored = []
        for event, (_, seq, moment, known) in zip(events, rows, strict=True):
            if known:
                stored.append(found[event.id])
                continue
            sequencing.stamp(session_id, (event,), last_seq=seq - 1, moment=_utc(moment))
            stored.append(event)
        return stored

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
            rows = db.execute(
                self._sql(READ_EVENTS),
                (
                    session_id,
                    min(max(from_seq, 1), _MAX_SEQ),
                    _MAX_SEQ if to_seq is None else min(to_seq, _MAX_SEQ),
                ),
            ).fetchall()
            if not rows:
                self._require(db, session_id)
        return [_event(row) for row in rows]

    @_translated
    def last_seq(self, session_id: str) -> int:
        with self._pool.connection() as db:
            row = db.execute(
                self._sql("SELECT last_seq FROM {s}.sessions WHERE id = %s"), (session_id,)
            ).fetchone()
        if row is None:
            raise SessionNotFoundError(session_id)
        return int(row[0])

    # Snapshots

    @_translated
    def read_snapshot(self, session_id: str) -> Snapshot | None:
        with self._pool.connection() as db:
            row = db.execute(
                self._sql(
                    "SELECT session_id, version, reducer, state, created_at FROM {s}.snapshots "
                    "WHERE session_id = %s"
                ),
                (session_id,),
            ).fetchone()
        return None if row is None else snapshot_from_row(*row)

    @_translated
    def write_snapshot(self, snapshot: Snapshot) -> None:
        with self._transaction() as db:
            db.execute(
                self._sql(
                    "INSERT INTO {s}.snapshots VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT (session_id) DO UPDATE SET version = excluded.version, "
                    "reducer = excluded.reducer, state = excluded.state, "
                    "created_at = excluded.created_at WHERE excluded.version > snapshots.version"
                ),
                (
                    snapshot.session_id,
                    snapshot.version,
                    snapshot.reducer,
                    json_text(snapshot.state.to_dict()),
                    snapshot.created_at,
                ),
            )

    # Feeds and closing

    @_translated
    def subscribe(self, session_id: str | None) -> Subscription:
        if session_id is not None:
            next_seq = [self.last_seq(session_id) + 1]

            def session_events() -> list[Event]:
                events = self.read(session_id, from_seq=next_seq[0])
                if events:
                    next_seq[0] = events[-1].seq + 1
                return events

            return self._poller.feed(session_events)
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
            db.execute("SELECT pg_notify(%s, %s)", (self._channel, f"mark {token}"))
            db.commit()
        if not arrived.wait(10):
            raise StorageError(0, "PostgreSQL: the notification channel does not answer")
        return self._notices.marked(token)

    def close(self) -> None:
        self._listener.stop()
        with contextlib.suppress(psycopg.Error), self._pool.connection() as db:
            db.execute("SELECT pg_notify(%s, 'wake')", (self._channel,))  # the listener's wait
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
            # One migrator at a time, across processes and hosts.
            db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._channel,))
            db.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            db.execute(self._sql("CREATE TABLE IF NOT EXISTS {s}.schema_version (version integer)"))
            row = db.execute(self._sql("SELECT max(version) FROM {s}.schema_version")).fetchone()
            version = row[0] if row and row[0] is not None else 0
            for number, statements in enumerate(steps[version:], start=version + 1):
                for statement in statements:
                    db.execute(self._sql(statement))
                db.execute(self._sql("INSERT INTO {s}.schema_version VALUES (%s)"), (number,))

    def _require(self, db: psycopg.Connection[Any], session_id: str) -> None:
        row = db.execute(self._sql("SELECT 1 FROM {s}.sessions WHERE id = %s"), (session_id,))
        if row.fetchone() is None:
            raise SessionNotFoundError(session_id)

    def _by_ids(
        self, db: psycopg.Connection[Any], session_id: str, ids: list[str]
    ) -> dict[str, Event]:
        rows = db.execute(
            self._sql(EVENTS_BY_ID),
            (session_id, ids),
        )
        return {row[2]: _event(row) for row in rows}

    def _insert(self, db: psycopg.Connection[Any], events: Sequence[Event]) -> None:
        if not events:
            return
        with db.cursor() as cursor:
            cursor.executemany(
                self._sql(
                    "INSERT INTO {s}.events (session_id, seq, id, type, payload, timestamp, "
                    "metadata) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                ),
                [
                    (event.session_id, event.seq, *values[:3], event.timestamp, values[3])
                    for event in events
                    for values in (event_values(event),)
                ],
            )

    def _notify(self, db: psycopg.Connection[Any], session_id: str, first: int, last: int) -> None:
        db.execute("SELECT pg_notify(%s, %s)", (self._channel, f"{first} {last} {session_id}"))


_SESSION_COLUMNS = "id, name, labels, created_at, parent_id, forked_at_seq, last_seq, updated_at"
_EVENT_COLUMNS = "session_id, seq, id, type, payload, timestamp, metadata"


def _append_error(
    error: psycopg.Error, session_id: str, expected_seq: int | None
) -> AgentStoreError | psycopg.Error:
    """The agentstore error for an error append_events raised, else the error itself."""
    state = error.diag.sqlstate
    if state == "AS002":
        return SessionNotFoundError(session_id)
    if state == "AS001":
        actual = int(error.diag.message_detail or 0)
        return ConcurrencyError(session_id, expected=expected_seq or 0, actual=actual)
    return error


def _configure(connection: psycopg.Connection[Any]) -> None:
    set_json_loads(orjson.loads, connection)  # three times the standard library's speed


def _event(row: Sequence[Any]) -> Event:
    session_id, seq, event_id, kind, payload, moment, metadata = row
    return event_from_row(session_id, seq, event_id, kind, payload, _utc(moment), metadata)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


class _Notices:
    """The (session, first seq, last seq) of commits notified lately, for feeds of all."""

    _KEEP = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._base = 0  # the number of notices dropped from the front
        self._items: list[tuple[str, int, int]] = []
        self._marks: dict[str, tuple[threading.Event, int]] = {}
        self.gaps = 0  # times notifications were lost; feeds of all sessions may miss events

    def expect(self, token: str) -> threading.Event:
        """A flag set when the marker ``token`` arrives."""
        arrived = threading.Event()
        with self._lock:
            self._marks[token] = (arrived, 0)
        return arrived

    def mark(self, token: str) -> None:
        with self._lock:
            waiting = self._marks.get(token)
            if waiting is not None:
                self._marks[token] = (waiting[0], self._base + len(self._items))
                waiting[0].set()

    def marked(self, token: str) -> int:
        """Where the notices stood when the marker arrived."""
        with self._lock:
            return self._marks.pop(token)[1]

    def add(self, session_id: str, first: int, last: int) -> None:
        with self._lock:
            self._items.append((session_id, first, last))
            if len(self._items) > self._KEEP:
                drop = len(self._items) // 2
                del self._items[:drop]
                self._base += drop

    def missed(self) -> None:
        """Notifications were lost (the listening connection broke)."""
        with self._lock:
            self.gaps += 1

    def end(self) -> int:
        with self._lock:
            return self._base + len(self._items)

    def since(self, cursor: int) -> tuple[int, list[tuple[str, int, int]]]:
        with self._lock:
            start = max(cursor - self._base, 0)
            return self._base + len(self._items), self._items[start:]


class _Listener:
    """A connection that LISTENs for commits and wakes the feeds."""

    def __init__(self, url: str, channel: str, notices: _Notices, poller: Poller) -> None:
        self._url = url
        self._channel = channel
        self._connection = self._listen()
        self._notices = notices
        self._poller = poller
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agentstore-listen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                for notice in self._connection.notifies(timeout=0.1):  # close waits that long
                    if self._stopped.is_set():
                        return
                    parts = notice.payload.split(" ", 2)
                    if parts[0] == "wake":
                        continue
                    if parts[0] == "mark":
                        self._notices.mark(parts[1])
                        continue
                    first, last, session_id = parts
                    self._notices.add(session_id, int(first), int(last))
                    self._poller.notify()
            except psycopg.Error:
                if self._stopped.is_set():
                    return
                self._reconnect()

    def _listen(self) -> psycopg.Connection[Any]:
        connection = psycopg.connect(self._url, autocommit=True)
        connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        return connection

    def _reconnect(self) -> None:
        """Listen again on a new connection; the feeds poll meanwhile, then look again."""
        with contextlib.suppress(psycopg.Error):
            self._connection.close()
        while not self._stopped.wait(0.5):
            try:
                self._connection = self._listen()
            except psycopg.Error:
                continue
            self._notices.missed()
            self._poller.notify()
            return

    def stop(self) -> None:
        """Ask the thread to stop at its next wake-up."""
        self._stopped.set()

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)
        self._connection.close()
