"""The SQLite backend: one file, many processes on one host, indexed queries.

The standard library's ``sqlite3`` in WAL mode, with ``synchronous=FULL`` by default so a
committed append survives a power loss (``synchronous="NORMAL"`` trades the last commits
of a power loss for speed). Writes take ``BEGIN IMMEDIATE``, so concurrent writers queue
on SQLite's lock (waiting up to ``busy_timeout`` seconds) instead of failing; each thread
has its own connection. The schema is created and migrated by :data:`MIGRATIONS`, whose
position is the schema version kept in ``PRAGMA user_version``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from agentstore.backends import forked
from agentstore.backends.base import AppendRequest, Backend, Subscription, translating
from agentstore.backends.errnos import sqlite_errno
from agentstore.backends.polling import Poller
from agentstore.backends.rows import (
    event_from_row,
    event_values,
    from_micros,
    json_text,
    session_from_row,
    snapshot_from_row,
    to_micros,
)
from agentstore.backends.sqlite_pool import ConnectionPool
from agentstore.core import sequencing
from agentstore.errors import (
    AgentStoreError,
    InvalidArgumentError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    StoreNotFoundError,
    StoreVersionError,
)
from agentstore.events import Event
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot

__all__ = ["MIGRATIONS", "SqliteBackend"]

MIGRATIONS: list[list[str]] = [
    [  # 1: sessions, events with a global position, one snapshot per session
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            labels TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            parent_id TEXT,
            forked_at_seq INTEGER
        )""",
        "CREATE INDEX sessions_by_time ON sessions (created_at)",
        """CREATE TABLE events (
            position INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            id TEXT NOT NULL,
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            timestamp INTEGER NOT NULL,
            metadata TEXT NOT NULL,
            UNIQUE (session_id, seq),
            UNIQUE (session_id, id)
        )""",
        """CREATE TABLE snapshots (
            session_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            reducer TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at INTEGER NOT NULL
        )""",
    ],
    [  # 2: the nanoseconds of a time beyond its microsecond, as another program wrote it
        "ALTER TABLE events ADD COLUMN nanos INTEGER NOT NULL DEFAULT 0",
    ],
]

# How a read-only store reads a file that each migration has not been run on, writing
# nothing: views in the connection's TEMP schema, which SQLite searches before the file's,
# show the file's tables as the migration would have left them.
READ_AS_MIGRATED: list[list[str]] = [
    [],  # 1: a file without agentstore's tables is not a store
    ["CREATE TEMP VIEW events AS SELECT *, 0 AS nanos FROM main.events"],
]

_SESSION_COLUMNS = """s.id, s.name, s.labels, s.created_at, s.parent_id, s.forked_at_seq,
    (SELECT seq FROM events WHERE session_id = s.id ORDER BY seq DESC LIMIT 1),
    (SELECT timestamp FROM events WHERE session_id = s.id ORDER BY seq DESC LIMIT 1)"""
_EVENT_COLUMNS = "session_id, seq, id, type, payload, timestamp, metadata, nanos"
_SNAPSHOT_COLUMNS = "session_id, version, reducer, state, created_at"
_MAX_SEQ = 2**62  # SQLite integers are 64-bit: larger bounds mean "all"
_translated = translating(
    (sqlite3.Error, OSError),
    lambda backend: backend.path,
    errno=lambda backend, error: sqlite_errno(error, backend.path),
)


class SqliteBackend(Backend):
    """Sessions, events and snapshots in one SQLite database file.

    Args:
        path: the database file; created (owner-only) if missing.
        synchronous: ``"FULL"`` (durable against power loss) or ``"NORMAL"``.
        busy_timeout: seconds a writer waits for another's transaction.
        poll_interval: how often a watch looks for events appended by other processes.
        read_only: open an existing store's file read-only (SQLite's ``mode=ro``):
            nothing is created, migrated or written.

    Raises:
        StoreVersionError: the file's format is newer than this library's (read-only:
            or older, and not readable as it is).
        StoreNotFoundError: (read-only) the file is missing, or is not a store's.
        StorageError: the file cannot be opened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 30.0,
        poll_interval: float = 0.05,
        read_only: bool = False,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise InvalidArgumentError(
                f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}"
            )
        self.path = os.fspath(path)
        self.read_only = read_only
        self._address = self.path  # what connections open: the file, or a read-only URI
        self._views: list[str] = []  # what they run first: an older file read as is
        self._synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._pool = ConnectionPool(self._connect)
        self._writing = threading.Lock()
        self._poller = Poller(poll_interval)
        try:
            if read_only:
                self._open_to_read()
            # First: a newer format is neither read nor written. A current one needs no
            # write transaction, so a database this process may only read opens too.
            elif _created_owner_only(self.path) or self._check_version() < len(MIGRATIONS):
                self._use_wal()
                self._migrate()
        except sqlite3.Error as error:
            self.close()
            raise StorageError(sqlite_errno(error, self.path), f"{self.path}: {error}") from error
        except BaseException:
            self.close()
            raise
        forked.reopen_after_fork(self)
        forked.pause_for_forks(self)

    # Sessions

    @_translated
    def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        session.id,
                        session.name,
                        json_text(dict(session.labels)),
                        to_micros(session.created_at),
                        session.parent_id,
                        session.forked_at_seq,
                    ),
                )
            except sqlite3.IntegrityError:
                raise SessionExistsError(session.id) from None
            self._insert(db, history)
        if history:
            self._poller.notify()
        return self.get_session(session.id)

    @_translated
    def get_session(self, session_id: str) -> Session:
        with self._lend() as db:
            return self._session(db, session_id)

    @_translated
    def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        where, parameters = "", []
        for key, value in (labels or {}).items():
            # json_each, not a JSON path: any key is compared as the text it is.
            where += " AND EXISTS (SELECT 1 FROM json_each(s.labels) WHERE key = ? AND value = ?)"
            parameters += [key, value]
        with self._lend() as db:
            return self._list(db, where, parameters, limit, offset)

    def _list(
        self, db: sqlite3.Connection, where: str, parameters: list[Any], limit: int, offset: int
    ) -> list[Session]:
        rows = db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE 1 = 1{where} "  # noqa: S608 - only placeholders are added
            "ORDER BY s.created_at DESC, s.rowid DESC LIMIT ? OFFSET ?",
            [*parameters, limit, offset],
        )
        return [_session_row(row) for row in rows]

    @_translated
    def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        with self._transaction() as db:
            session = self._session(db, session_id)
            changed = update.apply(session)
            if changed is not session:
                db.execute(
                    "UPDATE sessions SET name = ?, labels = ? WHERE id = ?",
                    (changed.name, json_text(dict(changed.labels)), session_id),
                )
        return changed

    @_translated
    def delete_session(self, session_id: str) -> Session:
        # One transaction: a crash (or a failed statement) leaves the session whole.
        with self._transaction() as db:
            session = self._session(db, session_id)
            db.execute("DELETE FROM events WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM snapshots WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        return session

    # Events

    @_translated
    def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        with self._transaction() as db:
            known, fresh = self._append_in(db, session_id, events, expected_seq)
        if fresh:
            self._poller.notify()
        return sequencing.merge(known, fresh)

    commits_many = True

    @_translated
    def append_many(self, requests: Sequence[AppendRequest]) -> list[list[Event] | AgentStoreError]:
        # One transaction, so one fsync of the WAL, for all; a savepoint per append keeps
        # each all or none when another fails.
        outcomes: list[list[Event] | AgentStoreError] = []
        with self._transaction() as db:
            for session_id, events, expected_seq in requests:
                db.execute("SAVEPOINT one_append")
                try:
                    known, fresh = self._append_in(db, session_id, events, expected_seq)
                except AgentStoreError as error:
                    db.execute("ROLLBACK TO one_append")
                    outcomes.append(error)
                else:
                    outcomes.append(sequencing.merge(known, fresh))
                db.execute("RELEASE one_append")
        self._poller.notify()
        return outcomes

    def _append_in(
        self,
        db: sqlite3.Connection,
        session_id: str,
        events: Sequence[Event],
        expected_seq: int | None,
    ) -> tuple[list[Event | None], list[Event]]:
        """Append within the open transaction ``db``; return the events known and new."""
        last_seq, last_time = self._last(db, session_id)
        found = self._by_ids(db, session_id, [event.id for event in events])
        known, fresh = sequencing.resolve(events, found.get)
        if fresh:
            sequencing.check_expected_seq(session_id, expected_seq, last_seq)
            moment = sequencing.commit_time(last_time)
            sequencing.stamp(session_id, fresh, last_seq=last_seq, moment=moment)
            self._insert(db, fresh)
        return known, fresh

    @_translated
    def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        with self._transaction() as db:
            last_seq, _ = self._last(db, session_id)
            found = self._by_ids(db, session_id, [event.id for event in events])
            sequencing.check_import(session_id, events, last_seq, found.get)
            self._insert(db, events)
        self._poller.notify()

    @_translated
    def read(self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        last = _MAX_SEQ if to_seq is None else min(to_seq, _MAX_SEQ)
        with self._lend() as db:
            rows = db.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE session_id = ? AND seq >= ? "  # noqa: S608
                "AND seq <= ? ORDER BY seq",
                (session_id, min(max(from_seq, 1), _MAX_SEQ), last),
            ).fetchall()
            if not rows:
                self._require(db, session_id)
        return _events(rows)

    @_translated
    def last_seq(self, session_id: str) -> int:
        with self._lend() as db:
            self._require(db, session_id)
            row = db.execute(
                "SELECT seq FROM events WHERE session_id = ? ORDER BY seq DESC LIMIT 1",
                (session_id,),
            ).fetchone()
        return row[0] if row else 0

    # Snapshots

    @_translated
    def read_snapshot(self, session_id: str) -> Snapshot | None:
        with self._lend() as db:
            row = db.execute(
                f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots WHERE session_id = ?",  # noqa: S608
                (session_id,),
            ).fetchone()
        if row is None:
            return None
        return snapshot_from_row(row[0], row[1], row[2], row[3], from_micros(row[4]))

    @_translated
    def write_snapshot(self, snapshot: Snapshot) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO snapshots VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id) DO "
                "UPDATE SET version = excluded.version, reducer = excluded.reducer, "
                "state = excluded.state, created_at = excluded.created_at "
                "WHERE excluded.version > snapshots.version",
                (
                    snapshot.session_id,
                    snapshot.version,
                    snapshot.reducer,
                    json_text(snapshot.state.to_dict()),
                    to_micros(snapshot.created_at),
                ),
            )

    # Feeds and closing

    @_translated
    def subscribe(self, session_id: str | None) -> Subscription:
        if session_id is not None:
            return self._poller.session_feed(self, session_id)
        with self._lend() as db:
            row = db.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
        position = [row[0]]

        def all_events() -> list[Event]:
            # A fork's copied history was not appended: it is skipped, as in memory.
            with self._lend() as db:
                rows = db.execute(
                    "SELECT e.position, e.session_id, e.seq, e.id, e.type, e.payload, "
                    "e.timestamp, e.metadata, e.nanos FROM events e "
                    "JOIN sessions s ON s.id = e.session_id "
                    "WHERE e.position > ? AND e.seq > coalesce(s.forked_at_seq, 0) "
                    "ORDER BY e.position",
                    (position[0],),
                ).fetchall()
            if rows:
                position[0] = rows[-1][0]
            return _events([row[1:] for row in rows])

        return self._poller.feed(all_events)

    def close(self) -> None:
        forked.forget(self)
        self._poller.close()
        self._pool.close()

    def after_fork_in_child(self) -> None:
        """In a forked child, open new connections; leave the parent's alone.

        SQLite forbids using a connection in a child process it was not opened in, and
        even closing one: its cleanup may delete files the parent still uses. They are
        kept open and unused (:func:`~agentstore.backends.forked.set_aside`).
        """
        forked.set_aside(self._pool)
        self._pool = ConnectionPool(self._connect)
        self._writing = threading.Lock()
        self._poller.after_fork_in_child()

    def pause_for_fork(self) -> None:
        """Before a fork: wait until no connection is in use, and lend none meanwhile.

        SQLite keeps the locks of every connection of a process to a file in memory they
        all share: a transaction under way in another thread at the fork would leave the
        child its lock, held by no one, and every write there "database is locked".
        """
        self._pool.pause(self._busy_timeout)

    def resume_after_fork(self) -> None:
        """After a fork, in the parent: lend connections again."""
        self._pool.resume()

    # Internals

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self._address,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._busy_timeout,
            uri=self.read_only,
        )
        db.execute(f"PRAGMA synchronous = {self._synchronous}")
        for view in self._views:
            db.execute(view)
        return db

    def _lend(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._pool.lend()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # Threads of this process queue on a mutex: SQLite's own busy wait sleeps in
        # steps of milliseconds, which made 8 writing threads slower than one.
        with self._lend() as db, self._writing:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                # SQLite rolls back by itself after some failures (a full disk, an I/O
                # error): a second ROLLBACK would fail and hide the first error's cause.
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _use_wal(self) -> None:
        # Switching a new file to WAL needs a moment alone with it: processes opening it
        # together retry while another holds it, up to the busy timeout.
        deadline = time.monotonic() + self._busy_timeout
        with self._lend() as db:
            while True:
                try:
                    db.execute("PRAGMA journal_mode = WAL")
                    return
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)

    def _check_version(self) -> int:
        with self._lend() as db:
            version: int = db.execute("PRAGMA user_version").fetchone()[0]
        self._refuse_newer(version)
        return version

    def _open_to_read(self) -> None:
        """Check, writing nothing, that the file is a store this library reads as it is.

        In a directory where SQLite cannot make the ``-wal`` file a reader of a WAL
        database needs (a read-only mount), no writer can be at work either: the file is
        read as it is (SQLite's ``immutable``).
        """
        if not os.path.isfile(self.path):
            found = "no such file" if not os.path.exists(self.path) else "not a file"
            raise StoreNotFoundError(self.path, found)
        self._address = _read_only_uri(self.path)
        try:
            version = self._read_version()
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_CANTOPEN:
                raise
            self._address = _read_only_uri(self.path, immutable=True)
            version = self._read_version()
        except sqlite3.DatabaseError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_NOTADB:
                raise
            raise StoreNotFoundError(self.path, "a file that is not a SQLite database") from None
        self._refuse_newer(version)
        if version == 0:
            raise StoreNotFoundError(self.path, "a SQLite database without agentstore's tables")
        if version < len(MIGRATIONS):
            self._views = [view for views in READ_AS_MIGRATED[version:] for view in views]
            self._check_readable(version)

    def _read_version(self) -> int:
        with contextlib.closing(sqlite3.connect(self._address, uri=True)) as db:
            version: int = db.execute("PRAGMA user_version").fetchone()[0]
        return version

    def _check_readable(self, version: int) -> None:
        """An older format, not migrated: its tables must answer this library's reads."""
        with self._lend() as db:
            try:
                for table, columns in _READ_COLUMNS:
                    db.execute(f"SELECT {columns} FROM {table} s LIMIT 0")  # noqa: S608
            except sqlite3.OperationalError:  # a column or table added since
                raise StoreVersionError(
                    self.path, found=version, supported=len(MIGRATIONS)
                ) from None

    def _refuse_newer(self, version: int) -> None:
        if version > len(MIGRATIONS):
            raise StoreVersionError(self.path, found=version, supported=len(MIGRATIONS))

    def _migrate(self) -> None:
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            self._refuse_newer(version)  # made newer since it was checked: nothing written
            for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in statements:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    def _require(self, db: sqlite3.Connection, session_id: str) -> None:
        if db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
            raise SessionNotFoundError(session_id)

    def _session(self, db: sqlite3.Connection, session_id: str) -> Session:
        row = db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.id = ?",  # noqa: S608
            (session_id,),
        ).fetchone()
        if row is None:
            raise SessionNotFoundError(session_id)
        return _session_row(row)

    def _last(self, db: sqlite3.Connection, session_id: str) -> tuple[int, Any]:
        row = db.execute(
            "SELECT s.created_at, e.seq, e.timestamp FROM sessions s LEFT JOIN events e "
            "ON e.session_id = s.id WHERE s.id = ? ORDER BY e.seq DESC LIMIT 1",
            (session_id,),
        ).fetchone()
        if row is None:
            raise SessionNotFoundError(session_id)
        created_at, seq, moment = row
        return seq or 0, from_micros(moment if moment is not None else created_at)

    def _by_ids(self, db: sqlite3.Connection, session_id: str, ids: list[str]) -> dict[str, Event]:
        marks = ", ".join("?" * len(ids))
        rows = db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE session_id = ? AND id IN ({marks})",  # noqa: S608
            [session_id, *ids],
        )
        return {event.id: event for event in _events(rows)}

    def _insert(self, db: sqlite3.Connection, events: Sequence[Event]) -> None:
        rows = []
        for event in events:
            event_id, kind, payload, metadata = event_values(event)
            moment, nanos = to_micros(event.timestamp), event._nanos
            rows.append(
                (event.session_id, event.seq, event_id, kind, payload, moment, metadata, nanos)
            )
        db.executemany(
            "INSERT INTO events (session_id, seq, id, type, payload, timestamp, metadata, nanos) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def _events(rows: Iterable[Sequence[Any]]) -> list[Event]:
    """The events of ``rows`` (of ``_EVENT_COLUMNS``), in their order.

    The events of a batch share their time: each time is converted once.
    """
    moments: dict[int, datetime] = {}
    events = []
    for session_id, seq, event_id, kind, payload, micros, metadata, nanos in rows:
        moment = moments.get(micros)
        if moment is None:
            moment = moments[micros] = from_micros(micros)
        events.append(
            event_from_row(session_id, seq, event_id, kind, payload, moment, metadata, nanos)
        )
    return events


def _session_row(row: Sequence[Any]) -> Session:
    session_id, name, labels, created_at, parent_id, forked_at_seq, last_seq, last_time = row
    return session_from_row(
        session_id,
        name,
        labels,
        from_micros(created_at),
        parent_id,
        forked_at_seq,
        last_seq,
        from_micros(last_time) if last_time is not None else None,
    )


_READ_COLUMNS = [  # what reads select: an older format lacking any is not read
    ("sessions", _SESSION_COLUMNS),
    ("events", _EVENT_COLUMNS),
    ("snapshots", _SNAPSHOT_COLUMNS),
]


def _created_owner_only(path: str) -> bool:
    """Create the database file, readable by its owner only, if missing; whether it was.

    SQLite would make it 0644; its ``-wal`` and ``-shm`` files take the database's mode,
    so they are owner-only too, as the JSONL backend's files are: they hold prompts.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError:
        return False  # there already, or not possible: SQLite says why when it opens it
    os.close(fd)
    return True


def _read_only_uri(path: str, *, immutable: bool = False) -> str:
    """The URI SQLite opens ``path`` with to read it only (``immutable``: as it is now)."""
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=ro"
    return uri + "&immutable=1" if immutable else uri
