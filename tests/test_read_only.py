"""Read-only stores: ``agentstore.open(target, read_only=True)`` and its async twin.

Opening read-only creates, migrates and writes nothing, whether the target holds a store
or not (what is not one is named in a StoreNotFoundError). The conformance suite holds
every backend's reads and refused writes (``agentstore.testing.conformance.read_only``);
here is what is each backend's own: a JSONL directory on a read-only mount, a SQLite
file that may only be read, formats older and newer than the library's, and the Go
library's directory; and the one guard every write of a read-only store meets.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import pytest

import agentstore
import agentstore.aio
from agentstore import (
    InvalidArgumentError,
    ReadOnlyStoreError,
    StorageError,
    Store,
    StoreNotFoundError,
    StoreVersionError,
    new_event,
)
from agentstore.backends import sqlite as sqlite_backend
from agentstore.backends.base import AsyncBackend, Backend
from agentstore.backends.jsonl.files import FILE_MODE, Files
from agentstore.backends.memory import MemoryBackend
from agentstore.backends.read_only import (
    PASSED_ON,
    REFUSED,
    AsyncReadOnlyBackend,
    ReadOnlyBackend,
)
from agentstore.events import Event
from agentstore.verifying import verify

from .seed_figures import DATADIR, EXPECTED, assert_figures
from .test_postgres_backend import _schema_version as schema_version

POSTGRES = os.environ.get("AGENTSTORE_TEST_POSTGRES_URL", "")


def _tree(root: Path) -> dict[str, tuple[bytes, int] | None]:
    """Every directory and file under ``root``: each file's bytes and modification time."""
    return {
        str(path.relative_to(root)): None
        if path.is_dir()
        else (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
    }


def _recorded(target: str | Path, count: int = 12, **options: Any) -> str:
    with agentstore.open(target, **options) as store:
        session = store.create_session(name="recorded", labels={"env": "test"})
        for n in range(count):
            store.append(session.id, new_event("tool_called" if n % 3 else "step", {"n": n}))
        store.get_state(session.id)  # saves a snapshot when one is due
        return session.id


def _followed(reader: Store, writer: Store, session_id: str) -> list[int]:
    """The seqs a watch of ``reader`` yields while ``writer`` appends two events."""
    seen: list[Event] = []
    last = reader.get_session(session_id).event_count
    feed = reader.watch(session_id, from_seq=last, timeout=2.0)
    following = threading.Thread(target=lambda: seen.extend(feed), daemon=True)
    following.start()
    writer.append(session_id, new_event("later", {"n": 1}))
    writer.append(session_id, new_event("later", {"n": 2}))
    following.join(timeout=10)
    return [event.seq for event in seen]


# The one guard: every write of the backend contract is refused, every read passed on.


def _operations(contract: type) -> list[str]:
    return [
        name
        for name, member in inspect.getmembers(contract)
        if not name.startswith("_") and callable(member)
    ]


@pytest.mark.parametrize(
    ("contract", "guard"),
    [(Backend, ReadOnlyBackend), (AsyncBackend, AsyncReadOnlyBackend)],
    ids=["sync", "async"],
)
def test_every_operation_of_the_backend_contract_is_a_read_or_a_refused_write(
    contract: type, guard: type
) -> None:
    """An operation added to the contract must be named a read or a write of the guard."""
    for name in _operations(contract):
        assert name in PASSED_ON | REFUSED, (
            f"{contract.__name__}.{name} is new: add it to agentstore.backends.read_only's "
            "PASSED_ON (a read) or REFUSED (a write), and to its guards"
        )
        assert name in vars(guard), f"{guard.__name__} does not say what {name} does"


def _placeholders(method: Callable[..., Any]) -> tuple[list[Any], dict[str, Any]]:
    """Arguments for ``method`` that the guard never looks at."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in list(inspect.signature(method).parameters.values())[1:]:
        if parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = None
        else:
            args.append([("session", [], None)] if parameter.name == "requests" else "session")
    return args, kwargs


def test_a_read_only_backend_refuses_every_write_before_its_backend_sees_it() -> None:
    backend = Mock(spec=Backend)
    guard = ReadOnlyBackend(backend)
    for name in set(_operations(Backend)) & REFUSED:
        args, kwargs = _placeholders(getattr(Backend, name))
        if name == "append_many":  # each request's error in its place, as the contract has it
            assert all(isinstance(e, ReadOnlyStoreError) for e in guard.append_many(*args))
            continue
        with pytest.raises(ReadOnlyStoreError) as refused:
            getattr(guard, name)(*args, **kwargs)
        assert "read-only" in str(refused.value)
    assert backend.method_calls == []
    for name in set(_operations(Backend)) & PASSED_ON:
        args, kwargs = _placeholders(getattr(Backend, name))
        getattr(guard, name)(*args, **kwargs)
        assert getattr(backend, name).call_count == 1, name


def test_an_async_read_only_backend_refuses_every_write_before_its_backend_sees_it() -> None:
    backend = Mock(spec=AsyncBackend)
    backend.inline = None

    async def scenario() -> None:
        guard = AsyncReadOnlyBackend(backend)
        for name in set(_operations(AsyncBackend)) & REFUSED:
            args, kwargs = _placeholders(getattr(AsyncBackend, name))
            with pytest.raises(ReadOnlyStoreError):
                await getattr(guard, name)(*args, **kwargs)
        assert backend.method_calls == []
        for name in set(_operations(AsyncBackend)) & PASSED_ON:
            args, kwargs = _placeholders(getattr(AsyncBackend, name))
            await getattr(guard, name)(*args, **kwargs)
            assert getattr(backend, name).await_count == 1, name

    asyncio.run(scenario())


def test_a_store_over_a_backend_opened_read_only_is_read_only_whatever_it_was_told(
    tmp_path: Path,
) -> None:
    session_id = _recorded(tmp_path / "data")
    from agentstore.backends.jsonl import JsonlBackend

    with Store(JsonlBackend(tmp_path / "data", read_only=True)) as store:
        assert store.read_only
        assert isinstance(store.backend, ReadOnlyBackend)
        with pytest.raises(ReadOnlyStoreError):
            store.append(session_id, new_event("step"))


# Memory: a new, empty store at each open, so there is nothing to open read-only.


def test_memory_is_refused_read_only_but_a_kept_memory_backend_may_be_read(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="nothing to read"):
        agentstore.open(":memory:", read_only=True)
    with pytest.raises(InvalidArgumentError, match="nothing to read"):
        asyncio.run(agentstore.aio.open(":memory:", read_only=True))
    kept = MemoryBackend()
    with Store(kept) as writer:
        session = writer.create_session()
    with Store(kept, read_only=True) as reader:
        assert reader.get_session(session.id).id == session.id
        with pytest.raises(ReadOnlyStoreError):
            reader.create_session()


def test_read_only_must_be_a_bool_and_nothing_is_created(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="read_only"):
        agentstore.open(tmp_path / "data", read_only="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="read_only"):
        Store(MemoryBackend(), read_only=1)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# What is not a store: refused, and left exactly as it was.


NOT_STORES = [
    "a missing directory",
    "an empty directory",
    "a directory of other files",
    "a file given as a directory",
    "a missing SQLite file",
    "an unrelated SQLite database",
    "a file that is not a database",
    "an empty file",
]


def _not_a_store(root: Path, kind: str) -> str:
    """Make what ``kind`` names under ``root``; the target naming it."""
    if kind == "an empty directory":
        (root / "empty").mkdir()
        return str(root / "empty")
    if kind == "a directory of other files":
        (root / "notes").mkdir()
        (root / "notes" / "todo.txt").write_text("buy milk")
        return str(root / "notes")
    if kind == "a file given as a directory":
        (root / "todo.txt").write_text("buy milk")
        return str(root / "todo.txt")
    if kind == "an unrelated SQLite database":
        with closing(sqlite3.connect(root / "notes.db")) as db:
            db.execute("CREATE TABLE notes (text TEXT)")
            db.execute("INSERT INTO notes VALUES ('mine')")
            db.commit()
        return f"sqlite:///{root / 'notes.db'}"
    if kind == "a file that is not a database":
        (root / "text.db").write_text("not a database " * 100)
        return str(root / "text.db")
    if kind == "an empty file":
        (root / "empty.sqlite").touch()
        return str(root / "empty.sqlite")
    return str(root / ("missing.db" if "SQLite" in kind else "missing"))


@pytest.mark.parametrize("kind", NOT_STORES)
def test_a_target_that_is_not_a_store_is_refused_and_left_as_it_was(
    tmp_path: Path, kind: str
) -> None:
    target = _not_a_store(tmp_path, kind)
    before = _tree(tmp_path)
    with pytest.raises(StoreNotFoundError) as refused:
        agentstore.open(target, read_only=True)
    assert str(refused.value).startswith("no store at ")
    assert os.fspath(Path(target.removeprefix("sqlite:///")).name) in str(refused.value)
    with pytest.raises(StoreNotFoundError):
        asyncio.run(agentstore.aio.open(target, read_only=True))
    assert _tree(tmp_path) == before


def test_a_postgresql_schema_that_is_missing_or_not_a_store_is_left_as_it_was(
    postgres_schema: str,
) -> None:
    import psycopg

    def schemas() -> list[Any]:
        with psycopg.connect(POSTGRES) as db:
            return db.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema LIKE %s ORDER BY 1, 2",
                (postgres_schema + "%",),
            ).fetchall()

    with pytest.raises(StoreNotFoundError, match="no such schema"):
        agentstore.open(f"{POSTGRES}?schema={postgres_schema}", read_only=True)
    with pytest.raises(StoreNotFoundError, match="no such schema"):
        asyncio.run(agentstore.aio.open(POSTGRES, schema=postgres_schema, read_only=True))
    assert schemas() == []
    with psycopg.connect(POSTGRES, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {postgres_schema}")
        db.execute(f"CREATE TABLE {postgres_schema}.notes (text text)")
    with pytest.raises(StoreNotFoundError, match="without agentstore's tables"):
        agentstore.open(POSTGRES, schema=postgres_schema, read_only=True)
    assert schemas() == [(postgres_schema, "notes")]


# A JSONL directory on a read-only mount (tests run as root, whom chmod does not stop:
# the file layer refuses what the kernel refuses on such a mount).


def _erofs(path: str) -> OSError:
    return OSError(errno.EROFS, os.strerror(errno.EROFS), path)


class _ReadOnlyMount(Files):
    """A directory on a read-only mount: every change to it fails with EROFS."""

    _WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def open_file(self, path: str, flags: int, mode: int = FILE_MODE) -> int:
        if flags & self._WRITING:
            raise _erofs(path)
        return super().open_file(path, flags, mode)

    def make_dirs(self, path: str) -> None:
        if not os.path.isdir(path):
            raise _erofs(path)

    def truncate(self, fd: int, size: int) -> None:
        raise _erofs(str(fd))

    def link(self, source: str, target: str) -> bool:
        raise _erofs(target)

    def rename(self, source: str, target: str) -> None:
        raise _erofs(target)

    def remove(self, path: str) -> None:
        raise _erofs(path)


def test_a_jsonl_directory_on_a_read_only_mount_is_listed_replayed_and_verified(
    tmp_path: Path,
) -> None:
    root = tmp_path / "agent-data"
    session_id = _recorded(root, snapshot_interval=5)
    with (root / "events" / f"{session_id}.jsonl").open("ab") as log:
        log.write(b'{"session_id":"' + session_id.encode())  # a crash's torn last line
    before = _tree(root)
    mounted = _ReadOnlyMount(str(root / "tmp"))
    with pytest.raises(StorageError) as refused:  # the mount refuses writes, as a mount does
        agentstore.open(root, files=mounted).create_session()
    assert refused.value.errno == errno.EROFS
    mounted = _ReadOnlyMount(str(root / "tmp"), read_only=True)
    with agentstore.open(root, read_only=True, files=mounted, snapshot_interval=5) as store:
        (session,) = store.list_sessions()
        assert (session.id, session.event_count) == (session_id, 12)
        assert [e.seq for e in store.replay(session_id, types=["step"])] == [1, 4, 7, 10]
        assert store.get_state(session_id).version == 12
        assert store.get_state(session_id, at_seq=6).version == 6
        report = verify(store)
        assert report.errors == []
        assert [p.severity for p in report.problems] == ["warning"]  # the torn line, not cut
    assert _tree(root) == before


def test_a_jsonl_directory_on_a_read_only_mount_is_followed(tmp_path: Path) -> None:
    root = tmp_path / "agent-data"
    session_id = _recorded(root, count=3)
    mounted = _ReadOnlyMount(str(root / "tmp"), read_only=True)
    with (
        agentstore.open(root, read_only=True, files=mounted) as reader,
        agentstore.open(root) as writer,  # another process's, writing where it may
    ):
        assert _followed(reader, writer, session_id) == [3, 4, 5]


def test_a_log_missing_from_a_session_reads_as_empty_read_only(tmp_path: Path) -> None:
    root = tmp_path / "agent-data"
    session_id = _recorded(root, count=0)
    (root / "events" / f"{session_id}.jsonl").unlink()  # as the Go library may leave it
    before = _tree(root)
    with agentstore.open(root, read_only=True) as store:
        assert store.get_events(session_id) == []
        assert store.get_session(session_id).event_count == 0
    assert _tree(root) == before


def test_the_files_of_a_read_only_store_must_be_read_only_too(tmp_path: Path) -> None:
    root = tmp_path / "agent-data"
    _recorded(root, count=1)
    with pytest.raises(InvalidArgumentError, match="read_only"):
        agentstore.open(root, read_only=True, files=Files(str(root / "tmp")))


# The Go library's directory: its figures, and not one byte written.


def test_the_go_librarys_directory_read_only_gives_its_figures_and_stays_as_it_was(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "seed"
    shutil.copytree(DATADIR, copy)
    before = _tree(copy)
    with agentstore.open(copy, read_only=True, snapshot_interval=10) as store:
        sessions = store.list_sessions()
        assert sorted(session.id for session in sessions) == sorted(EXPECTED)
        for session in sessions:
            assert_figures(session, store.get_events(session.id), store.get_state(session.id))
        assert verify(store).problems == []
        assert store.get_state("long-run-0001", at_seq=120).version == 120
        tail = store.watch("long-run-0001", from_seq=249, timeout=0.05)
        assert [event.seq for event in tail] == [249, 250]

    async def read() -> list[int]:
        async with agentstore.aio.open(copy, read_only=True) as store:
            return [(await store.get_state(session_id)).version for session_id in sorted(EXPECTED)]

    assert asyncio.run(read()) == [EXPECTED[sid]["last_seq"] for sid in sorted(EXPECTED)]
    assert _tree(copy) == before
    assert not (copy / "catalog.jsonl").exists()
    assert not (copy / "tmp").exists()


# SQLite: a file that may only be read.


def test_a_sqlite_file_that_may_only_be_read_is_listed_replayed_verified_and_followed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent.db"
    session_id = _recorded(path, snapshot_interval=5)
    path.chmod(0o444)  # root ignores it: the store itself opens the file read-only (mode=ro)
    before = path.read_bytes()
    with agentstore.open(path, read_only=True, snapshot_interval=5) as store:
        assert [s.id for s in store.list_sessions()] == [session_id]
        assert len(store.replay(session_id, types=["tool_called"])) == 8
        assert store.get_state(session_id).version == 12
        assert verify(store).problems == []
    assert path.read_bytes() == before
    with agentstore.open(path, read_only=True) as reader, agentstore.open(path) as writer:
        assert _followed(reader, writer, session_id) == [12, 13, 14]


def test_a_sqlite_file_where_no_journal_can_be_made_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    session_id = _recorded(path)
    # On a read-only mount SQLite cannot make the -wal file a reader of a WAL database
    # needs; a directory in its place refuses it the same way.
    (tmp_path / "agent.db-wal").mkdir()
    before = _tree(tmp_path)
    with pytest.raises(StorageError):
        agentstore.open(path)  # no writer can work here either
    with agentstore.open(path, read_only=True) as store:
        assert [s.event_count for s in store.list_sessions()] == [12]
        assert [e.seq for e in store.replay(session_id, from_seq=11)] == [11, 12]
        assert verify(store).problems == []
    assert _tree(tmp_path) == before


# Formats: a newer one refused first; an older one read as it is, or refused, never migrated.


def _user_version(path: Path, new: int | None = None) -> int:
    with closing(sqlite3.connect(path)) as db:
        if new is not None:
            db.execute(f"PRAGMA user_version = {new}")
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
        return version


def test_a_newer_sqlite_file_is_refused_read_only_before_anything(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    _recorded(path)
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode = DELETE")  # one file, whose bytes are compared
    _user_version(path, 99)
    before = _tree(tmp_path)
    with pytest.raises(StoreVersionError, match="newer") as refused:
        agentstore.open(path, read_only=True)
    assert (refused.value.found, refused.value.supported) == (99, len(sqlite_backend.MIGRATIONS))
    assert _tree(tmp_path) == before


def test_an_older_sqlite_file_that_reads_cannot_use_is_refused_not_migrated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent.db"
    _recorded(path)
    current = len(sqlite_backend.MIGRATIONS)
    with closing(sqlite3.connect(path)) as db:  # an older format: a column reads need is not there
        db.execute("ALTER TABLE snapshots DROP COLUMN reducer")
    _user_version(path, current - 1)
    with pytest.raises(StoreVersionError, match="older") as refused:
        agentstore.open(path, read_only=True)
    assert (refused.value.found, refused.value.supported) == (current - 1, current)
    assert _user_version(path) == current - 1


def test_an_older_sqlite_file_that_reads_can_use_is_read_and_not_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "agent.db"
    session_id = _recorded(path)
    written = _user_version(path)
    later = [*sqlite_backend.MIGRATIONS, ["CREATE TABLE added_later (x INTEGER)"]]
    monkeypatch.setattr(sqlite_backend, "MIGRATIONS", later)  # a newer library
    with agentstore.open(path, read_only=True) as store:
        assert store.get_session(session_id).event_count == 12
    assert _user_version(path) == written
    with closing(sqlite3.connect(path)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "added_later" not in tables
    with agentstore.open(path) as store:  # opened to write, it is migrated
        assert store.get_session(session_id).event_count == 12
    assert _user_version(path) == written + 1


def test_postgresql_schemas_newer_or_older_are_refused_read_only_and_not_migrated(
    postgres_schema: str,
) -> None:
    import psycopg

    _recorded(POSTGRES, schema=postgres_schema)
    version = schema_version(postgres_schema)
    current = version()
    version(99)
    with pytest.raises(StoreVersionError, match="newer"):
        agentstore.open(POSTGRES, schema=postgres_schema, read_only=True)
    assert version() == 99
    with psycopg.connect(POSTGRES, autocommit=True) as db:
        db.execute(f"ALTER TABLE {postgres_schema}.snapshots DROP COLUMN reducer")
    version(current - 1)
    with pytest.raises(StoreVersionError, match="older") as refused:
        agentstore.open(POSTGRES, schema=postgres_schema, read_only=True)
    assert (refused.value.found, refused.value.supported) == (current - 1, current)
    assert version() == current - 1


def test_an_older_postgresql_schema_that_reads_can_use_is_read_and_not_migrated(
    postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentstore.backends.postgres.sql import migrations

    session_id = _recorded(POSTGRES, schema=postgres_schema)
    version = schema_version(postgres_schema)
    written = version()
    later = [["CREATE TABLE {s}.added_later (x integer)"]]
    monkeypatch.setattr(  # a newer library
        "agentstore.backends.postgres.operations.migrations",
        lambda partitions: migrations(partitions) + later,
    )
    with agentstore.open(POSTGRES, schema=postgres_schema, read_only=True) as store:
        assert store.get_session(session_id).event_count == 12
    assert version() == written


def test_a_read_only_postgresql_store_follows_a_writer(postgres_schema: str) -> None:
    session_id = _recorded(POSTGRES, count=3, schema=postgres_schema)
    with (
        agentstore.open(POSTGRES, schema=postgres_schema, read_only=True) as reader,
        agentstore.open(POSTGRES, schema=postgres_schema) as writer,
    ):
        assert _followed(reader, writer, session_id) == [3, 4, 5]


def test_a_postgresql_user_who_may_only_select_reads_a_store_read_only(
    postgres_schema: str,
) -> None:
    import psycopg

    role = f"{postgres_schema}_reader"
    as_reader = POSTGRES.replace("://postgres@", f"://{role}@", 1)
    if as_reader == POSTGRES:
        pytest.skip("the test server's URL names no user 'postgres'")
    session_id = _recorded(POSTGRES, count=3, schema=postgres_schema)
    with psycopg.connect(POSTGRES, autocommit=True) as db:
        db.execute(f"CREATE ROLE {role} LOGIN")
        db.execute(f"GRANT USAGE ON SCHEMA {postgres_schema} TO {role}")
        db.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {postgres_schema} TO {role}")
    try:
        with pytest.raises(StorageError):  # writable, it would create and migrate
            agentstore.open(as_reader, schema=postgres_schema)
        with agentstore.open(as_reader, schema=postgres_schema, read_only=True) as store:
            assert store.get_session(session_id).event_count == 3
            assert store.get_state(session_id).version == 3
            assert list(store.watch(timeout=0.1)) == []
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as db:
            db.execute(f"DROP OWNED BY {role}")
            db.execute(f"DROP ROLE {role}")
