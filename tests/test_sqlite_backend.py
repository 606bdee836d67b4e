"""The conformance suite on the SQLite backend, and what is SQLite's own."""

from __future__ import annotations

import asyncio
import errno
import json
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import agentstore
import agentstore.aio
from agentstore import StorageError, Store, StoreVersionError, new_event
from agentstore.backends.errnos import sqlite_errno
from agentstore.backends.sqlite import MIGRATIONS, SqliteBackend
from agentstore.testing import StoreConformance, StoreFactory
from agentstore.testing.conformance import FormatVersion, OtherWriter, StoredData
from agentstore.testing.conformance.other_writers import nanoseconds_of


def _user_version(path: Path) -> FormatVersion:
    def version(new: int | None = None) -> int:
        with closing(sqlite3.connect(path)) as db:
            if new is not None:
                db.execute(f"PRAGMA user_version = {new}")
            found: int = db.execute("PRAGMA user_version").fetchone()[0]
            return found

    return version


def row_writer(path: Path) -> OtherWriter:
    """Rows inserted as another program sharing the file writes them."""

    def write(session_id: str, records: Sequence[Mapping[str, Any]]) -> None:
        rows = []
        for record in records:
            micros, nanos = divmod(nanoseconds_of(record["timestamp"]), 1000)
            payload, metadata = json.dumps(record["payload"]), json.dumps(record["metadata"])
            kind, seq = record["type"], record["sequence_number"]
            rows.append((session_id, seq, record["id"], kind, payload, micros, metadata, nanos))
        with closing(sqlite3.connect(path)) as db, db:
            db.executemany(
                "INSERT INTO events (session_id, seq, id, type, payload, timestamp, metadata, "
                "nanos) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    return write


def database_rows(path: Path) -> StoredData:
    """Every table's schema and rows, and the format version, read as SQLite's readers do."""

    def rows() -> tuple[list[str], int]:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            version: int = db.execute("PRAGMA user_version").fetchone()[0]
            return list(db.iterdump()), version

    return rows


class TestSqliteBackend(StoreConformance):
    appends_per_writer = 40  # each append is a durable commit

    @pytest.fixture
    def open_store(self, tmp_path: Path) -> StoreFactory:
        def open_store(**options: Any) -> Store:
            return agentstore.open(f"sqlite:///{tmp_path / 'agent.db'}", **options)

        return open_store

    @pytest.fixture
    def format_version(self, tmp_path: Path) -> FormatVersion:
        return _user_version(tmp_path / "agent.db")

    @pytest.fixture
    def write_as_another_program(self, tmp_path: Path) -> OtherWriter:
        return row_writer(tmp_path / "agent.db")

    @pytest.fixture
    def stored_data(self, tmp_path: Path) -> StoredData:
        return database_rows(tmp_path / "agent.db")


def test_a_path_ending_in_db_is_sqlite(tmp_path: Path) -> None:
    with agentstore.open(tmp_path / "agents.db") as store:
        assert isinstance(store.backend, SqliteBackend)
        store.create_session(id="one")
    with sqlite3.connect(tmp_path / "agents.db") as db:
        assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_payloads_are_queryable_json(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    with agentstore.open(path) as store:
        sid = store.create_session().id
        store.append(sid, new_event("tool_called", {"tool": "search", "args": {"q": "BER"}}))
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT json_extract(payload, '$.args.q') FROM events").fetchone()
        assert row == ("BER",)


def test_synchronous_can_be_relaxed_but_not_mistyped(tmp_path: Path) -> None:
    with agentstore.open(tmp_path / "fast.db", synchronous="NORMAL") as store:
        assert store.create_session().event_count == 0
    with pytest.raises(agentstore.InvalidArgumentError, match="synchronous"):
        agentstore.open(tmp_path / "x.db", synchronous="OFF")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://agent.db", "three slashes"),
        ("sqlite:///b.db?mode=ro", "no host, query"),
        ("sqlite:///:memory:", "in-memory backend"),
        ("sqlite:///", "give a file"),
    ],
)
def test_sqlite_urls_are_checked(url: str, message: str) -> None:
    with pytest.raises(agentstore.InvalidArgumentError, match=message):
        agentstore.open(url)


def test_closing_while_threads_append_ends_them_cleanly(tmp_path: Path) -> None:
    import threading

    store = agentstore.open(tmp_path / "busy.db")
    sid = store.create_session().id
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for n in range(200):
                store.append(sid, new_event("step", {"n": n}))
        except agentstore.StoreClosedError:
            return
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    store.close()
    for thread in threads:
        thread.join(10)
    assert errors == []
    with agentstore.open(tmp_path / "busy.db") as reopened:
        events = reopened.get_events(sid)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_short_lived_threads_do_not_pile_up_connections(tmp_path: Path) -> None:
    import os
    import threading

    with agentstore.open(tmp_path / "threads.db") as store:
        sid = store.create_session().id
        before = len(os.listdir("/proc/self/fd"))
        for n in range(100):
            thread = threading.Thread(target=store.append, args=(sid, new_event("step", {"n": n})))
            thread.start()
            thread.join()
        assert len(os.listdir("/proc/self/fd")) < before + 20


# Format versions: a file of a newer agentstore is refused before anything touches it.


def _newer_file(path: Path) -> bytes:
    with agentstore.open(path) as store:
        store.append(store.create_session(id="kept").id, new_event("step"))
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode = DELETE")  # one file, whose bytes are compared
        db.execute("PRAGMA user_version = 99")
    return path.read_bytes()


def test_a_newer_file_is_refused_unread_and_unwritten(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    before = _newer_file(path)
    with pytest.raises(StoreVersionError) as refused:
        agentstore.open(path)
    assert (refused.value.found, refused.value.supported) == (99, len(MIGRATIONS))
    assert str(path) in str(refused.value)
    assert "version 99" in str(refused.value)
    assert f"version {len(MIGRATIONS)}" in str(refused.value)
    assert path.read_bytes() == before  # not even switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newer.db"]


def test_the_async_store_refuses_a_newer_file_too(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    before = _newer_file(path)

    async def opening() -> None:
        with pytest.raises(StoreVersionError) as refused:
            await agentstore.aio.open(path)
        assert refused.value.found == 99

    asyncio.run(opening())
    assert path.read_bytes() == before


# Failures carry the errno of their cause, as the JSONL backend's do.


class _NoRoomLeft(SqliteBackend):
    """A database that may not grow past its size when opened: SQLite's SQLITE_FULL."""

    def _connect(self) -> sqlite3.Connection:
        db = super()._connect()
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        return db


class _ReadOnly(SqliteBackend):
    """A database SQLite may only read: SQLITE_READONLY on a write."""

    def _connect(self) -> sqlite3.Connection:
        db = super()._connect()
        db.execute("PRAGMA query_only = 1")
        return db


def _existing(path: Path) -> str:
    with agentstore.open(path) as store:
        return store.create_session().id


def test_a_full_disk_is_enospc_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    session_id = _existing(path)
    with Store(_NoRoomLeft(path)) as store:
        with pytest.raises(StorageError) as full:
            store.append(session_id, new_event("big", {"blob": "x" * 100_000}))
        assert full.value.errno == errno.ENOSPC
        assert "database or disk is full" in str(full.value)
        assert isinstance(full.value.__cause__, sqlite3.Error)
        assert store.get_events(session_id) == []
    with agentstore.open(path) as store:
        assert store.append(session_id, new_event("small")).seq == 1


def test_a_read_only_database_is_erofs(tmp_path: Path) -> None:
    path = tmp_path / "read-only.db"
    session_id = _existing(path)
    with Store(_ReadOnly(path)) as store:
        assert store.get_session(session_id).event_count == 0
        with pytest.raises(StorageError) as refused:
            store.append(session_id, new_event("step"))
        assert refused.value.errno == errno.EROFS


@pytest.mark.parametrize(
    ("where", "expected"),
    [("missing/agents.db", errno.ENOENT), ("a-directory.db", errno.EISDIR)],
)
def test_a_database_that_cannot_be_opened_says_why(
    tmp_path: Path, where: str, expected: int
) -> None:
    (tmp_path / "a-directory.db").mkdir()
    with pytest.raises(StorageError) as refused:
        agentstore.open(tmp_path / where)
    assert refused.value.errno == expected
    assert "unable to open database file" in str(refused.value)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (10 | (3 << 8), errno.EIO),  # SQLITE_IOERR_WRITE
        (10 | (12 << 8), errno.ENOMEM),  # SQLITE_IOERR_NOMEM
        (5, errno.EBUSY),  # SQLITE_BUSY: busy_timeout ran out
        (3, errno.EACCES),  # SQLITE_PERM
        (11, 0),  # SQLITE_CORRUPT: no system cause
    ],
)
def test_sqlite_codes_become_errnos(tmp_path: Path, code: int, expected: int) -> None:
    error = sqlite3.OperationalError("injected")
    error.sqlite_errorcode = code
    assert sqlite_errno(error, str(tmp_path / "agents.db")) == expected


class _FailingDisk(SqliteBackend):
    """Writes fail as a dying disk makes them: SQLITE_IOERR_WRITE, injected."""

    def _connect(self) -> sqlite3.Connection:
        return _FailingWrites.wrap(super()._connect())


class _FailingWrites(sqlite3.Connection):
    @staticmethod
    def wrap(db: sqlite3.Connection) -> sqlite3.Connection:
        path = db.execute("PRAGMA database_list").fetchone()[2]
        db.close()
        return sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, factory=_FailingWrites
        )

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        error = sqlite3.OperationalError("disk I/O error")
        error.sqlite_errorcode = 10 | (3 << 8)
        raise error


def test_a_failing_disk_is_eio(tmp_path: Path) -> None:
    path = tmp_path / "failing.db"
    session_id = _existing(path)
    with Store(_FailingDisk(path)) as store:
        with pytest.raises(StorageError) as failed:
            store.append(session_id, new_event("step"))
        assert failed.value.errno == errno.EIO
        assert "disk I/O error" in str(failed.value)
        assert store.get_events(session_id) == []


# A file of the previous format (no nanoseconds column) migrates forward as it opens.


def _previous_format_file(path: Path) -> Path:
    """A file as the previous release wrote it: format 1, without the nanoseconds column."""
    with closing(sqlite3.connect(path)) as db, db:
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("INSERT INTO sessions VALUES ('kept', '', '{}', 1767323045000000, NULL, NULL)")
        db.execute(
            "INSERT INTO events (session_id, seq, id, type, payload, timestamp, metadata) "
            "VALUES ('kept', 1, 'e1', 'step', '{\"n\":1}', 1767323045123456, '{\"tokens_in\":3}')"
        )
        db.execute("PRAGMA user_version = 1")
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode = DELETE")  # one file, whose bytes are compared
    return path


def test_a_file_of_the_previous_format_is_read_as_it_is_by_a_read_only_store(
    tmp_path: Path,
) -> None:
    path = _previous_format_file(tmp_path / "previous.db")
    before = path.read_bytes()
    with agentstore.open(path, read_only=True) as store:
        (old,) = store.get_events("kept")
        assert (old.type, old.payload, old.timestamp_ns) == ("step", {"n": 1}, 1767323045123456000)
        assert store.get_session("kept").event_count == 1
        assert store.get_state("kept").event_count == 1
    assert path.read_bytes() == before  # not migrated: the reading commands of an upgrade
    assert _user_version(path)() == 1


def test_a_file_of_the_previous_format_migrates_and_its_events_read_as_before(
    tmp_path: Path,
) -> None:
    path = _previous_format_file(tmp_path / "previous.db")
    with agentstore.open(path) as store:
        (old,) = store.get_events("kept")
        assert (old.type, old.payload, old.metadata.tokens_in) == ("step", {"n": 1}, 3)
        assert old.to_dict()["timestamp"] == "2026-01-02T03:04:05.123456Z"
        assert old.timestamp_ns == 1767323045_123456000
        assert store.append("kept", new_event("after")).seq == 2
    assert _user_version(path)() == len(MIGRATIONS)
