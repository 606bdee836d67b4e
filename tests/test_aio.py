"""The async face: the conformance suite on every backend, and what asyncio adds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import agentstore.aio
from agentstore import (
    ConcurrencyError,
    Event,
    EventLoopError,
    SessionNotFoundError,
    Store,
    new_event,
)
from agentstore.aio import AsyncStore
from agentstore.backends.adapters import InlineBackend
from agentstore.testing import StoreConformance, StoreFactory
from agentstore.testing.async_face import LoopThread
from agentstore.testing.conformance import LogLines, OtherWriter, StoredData
from tests.test_jsonl_backend import directory_contents, log_lines, log_writer
from tests.test_memory_backend import _SharedMemory
from tests.test_postgres_backend import row_writer as postgres_row_writer
from tests.test_postgres_backend import schema_rows
from tests.test_sqlite_backend import database_rows
from tests.test_sqlite_backend import row_writer as sqlite_row_writer

WORKERS = Path(__file__).parent / "workers.py"
ROOT = Path(__file__).parent.parent
POSTGRES = os.environ.get("AGENTSTORE_TEST_POSTGRES_URL", "")


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    with LoopThread() as running:
        yield running


class TestAsyncMemoryBackend(StoreConformance):
    @pytest.fixture
    def open_store(self, loop: LoopThread) -> StoreFactory:
        backend = InlineBackend(_SharedMemory())

        def open_store(**options: Any) -> Store:
            return loop.face(AsyncStore(backend, **options))

        return open_store


class TestAsyncJsonlBackend(StoreConformance):
    appends_per_writer = 40

    @pytest.fixture
    def open_store(self, loop: LoopThread, tmp_path: Path) -> StoreFactory:
        return lambda **options: loop.open(tmp_path / "agent-data", **options)

    @pytest.fixture
    def write_as_another_program(self, tmp_path: Path) -> OtherWriter:
        return log_writer(tmp_path / "agent-data")

    @pytest.fixture
    def log_lines(self, tmp_path: Path) -> LogLines:
        return log_lines(tmp_path / "agent-data")

    @pytest.fixture
    def open_sync_store(self, tmp_path: Path) -> StoreFactory:
        return lambda **options: agentstore.open(tmp_path / "agent-data", **options)

    @pytest.fixture
    def stored_data(self, tmp_path: Path) -> StoredData:
        return directory_contents(tmp_path / "agent-data")


class TestAsyncSqliteBackend(StoreConformance):
    appends_per_writer = 40

    @pytest.fixture
    def open_store(self, loop: LoopThread, tmp_path: Path) -> StoreFactory:
        return lambda **options: loop.open(f"sqlite:///{tmp_path / 'agent.db'}", **options)

    @pytest.fixture
    def write_as_another_program(self, tmp_path: Path) -> OtherWriter:
        return sqlite_row_writer(tmp_path / "agent.db")

    @pytest.fixture
    def stored_data(self, tmp_path: Path) -> StoredData:
        return database_rows(tmp_path / "agent.db")


class TestAsyncPostgresBackend(StoreConformance):
    appends_per_writer = 40

    @pytest.fixture
    def open_store(self, loop: LoopThread, postgres_schema: str) -> StoreFactory:
        return lambda **options: loop.open(POSTGRES, schema=postgres_schema, **options)

    @pytest.fixture
    def write_as_another_program(self, postgres_schema: str) -> OtherWriter:
        return postgres_row_writer(postgres_schema)

    @pytest.fixture
    def stored_data(self, postgres_schema: str) -> StoredData:
        return schema_rows(postgres_schema)


# What asyncio adds: many tasks at once, a loop that keeps running, cancellation, and
# sync and async stores side by side.


@pytest.fixture(params=["jsonl", "sqlite", "postgres"])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A durable store's target and options."""
    if request.param == "jsonl":
        yield str(tmp_path / "agent-data"), {}
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'agent.db'}", {}
    else:
        schema = request.getfixturevalue("postgres_schema")
        yield POSTGRES, {"schema": schema}


def test_two_hundred_tasks_appending_to_one_session_get_gapless_seqs(
    durable: tuple[str, dict[str, Any]],
) -> None:
    target, options = durable

    async def scenario() -> None:
        async with agentstore.aio.open(target, **options) as store:
            session = await store.create_session()

            async def write(task: int) -> Event:
                return await store.append(session.id, new_event("step", {"task": task}))

            stored = await asyncio.gather(*(write(task) for task in range(200)))
            assert sorted(e.seq for e in stored) == list(range(1, 201))
            events = await store.get_events(session.id)
            assert [e.seq for e in events] == list(range(1, 201))
            assert sorted(e.payload["task"] for e in events) == list(range(200))

    asyncio.run(scenario())


def test_concurrent_appends_fail_alone(durable: tuple[str, dict[str, Any]]) -> None:
    """Appends gathered into one commit: a bad one fails, the others are stored."""
    target, options = durable

    async def scenario() -> None:
        async with agentstore.aio.open(target, **options) as store:
            ids = [(await store.create_session()).id for _ in range(4)]
            await store.append(ids[0], new_event("first", {}))

            async def write(session_id: str, expected: int | None) -> Event:
                event = new_event("step", {"to": session_id})
                return await store.append(session_id, event, expected_seq=expected)

            outcomes = await asyncio.gather(
                *(write(session_id, None) for session_id in ids),
                write("no-such-session", None),
                write(ids[1], 7),  # stale
                *(write(session_id, None) for session_id in ids),
                return_exceptions=True,
            )
            assert isinstance(outcomes[4], SessionNotFoundError)
            assert isinstance(outcomes[5], ConcurrencyError)
            stored = [o for o in outcomes if isinstance(o, Event)]
            assert len(stored) == 8
            for session_id in ids:
                events = await store.get_events(session_id)
                assert [e.seq for e in events] == list(range(1, len(events) + 1))
                assert sum(e.payload.get("to") == session_id for e in events) == 2

    asyncio.run(scenario())


def test_a_cancelled_append_stores_its_event_once_or_not_at_all(
    durable: tuple[str, dict[str, Any]],
) -> None:
    target, options = durable

    async def scenario() -> None:
        async with agentstore.aio.open(target, **options) as store:
            session = await store.create_session()
            cancelled = []
            for attempt in range(40):  # cancelled at a different moment each time
                event = new_event("step", {"attempt": attempt})
                task = asyncio.ensure_future(store.append(session.id, event))
                await asyncio.sleep(attempt * 0.0001)
                if task.cancel():
                    cancelled.append(event.id)
                    with pytest.raises(asyncio.CancelledError):
                        await task
                else:
                    assert (await task).id == event.id
                after = await store.append(session.id, new_event("after", {"attempt": attempt}))
                # A cancelled append still in flight may land after this one, never twice.
                assert after.seq <= await store.backend.last_seq(session.id)
            events = await store.get_events(session.id)
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            ids = [e.id for e in events]
            assert len(ids) == len(set(ids))
            assert cancelled  # the early cancellations, at least
        async with agentstore.aio.open(target, **options) as reopened:  # and on disk
            assert [e.id for e in await reopened.get_events(session.id)] == ids

    asyncio.run(scenario())


@pytest.mark.parametrize("backend", ["jsonl", "sqlite"])
def test_durable_appends_never_block_the_event_loop(backend: str, tmp_path: Path) -> None:
    """While an append waits on the disk, the loop runs other tasks.

    The sync backend's writes are held until a task on the loop lets them go: were a
    write made on the loop's thread, that task could never run, and the write would
    give up waiting.
    """
    target = str(tmp_path / "data") if backend == "jsonl" else str(tmp_path / "agent.db")
    writing = threading.Event()
    released = threading.Event()
    threads: list[int] = []

    def held(method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            threads.append(threading.get_ident())
            writing.set()
            if not released.wait(10):
                raise AssertionError("the loop never ran while the write waited")
            return method(*args, **kwargs)

        return call

    async def scenario() -> None:
        async with agentstore.aio.open(target) as store:
            session = await store.create_session()
            disk = store.backend.backend  # type: ignore[attr-defined]
            for name in ("append", "append_one", "append_many"):
                setattr(disk, name, held(getattr(disk, name)))
            appends = [
                asyncio.ensure_future(store.append(session.id, new_event("step", {"n": n})))
                for n in range(8)
            ]
            while not writing.is_set():  # the loop turns while the first write waits
                await asyncio.sleep(0.001)
            assert not any(task.done() for task in appends)
            released.set()
            stored = await asyncio.gather(*appends)
            assert sorted(event.seq for event in stored) == list(range(1, 9))
            assert threading.get_ident() not in threads

    asyncio.run(scenario())


@pytest.mark.parametrize("backend", ["jsonl", "sqlite"])
def test_a_sync_and_an_async_store_in_two_processes_see_each_other(
    backend: str, tmp_path: Path
) -> None:
    target = str(tmp_path / "data") if backend == "jsonl" else f"sqlite:///{tmp_path / 'a.db'}"
    with agentstore.open(target) as store:
        session = store.create_session()
    writers = [
        _start("append", target, session.id, "20", "2", "sync"),
        _start("async-append", target, session.id, "20", "4", "async"),
    ]

    async def watch_and_append() -> list[Event]:
        async with agentstore.aio.open(target) as store:
            feed = store.watch(session.id, timeout=10)
            seen = []
            async for event in feed:
                seen.append(event)
                if len(seen) == 120:
                    break
            await store.append(session.id, new_event("step", {"tag": "here"}))
            return seen

    seen = asyncio.run(watch_and_append())
    for writer in writers:
        _, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
    assert Counter(e.payload["tag"] for e in seen) == {"sync": 40, "async": 80}
    with agentstore.open(target) as store:
        events = store.get_events(session.id)
    assert [e.seq for e in events] == list(range(1, 122))
    assert events[-1].payload == {"tag": "here"}


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKERS), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_async_watchers_recover_when_the_listening_connection_drops(
    postgres_schema: str,
) -> None:
    import psycopg

    async def scenario() -> None:
        async with agentstore.aio.open(POSTGRES, schema=postgres_schema) as store:
            session = await store.create_session()
            listening = (f"LISTEN%{postgres_schema}%",)
            with psycopg.connect(POSTGRES, autocommit=True) as db:
                ended = db.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE %s AND pid <> pg_backend_pid()",
                    listening,
                ).fetchall()
                assert ended == [(True,)]
                await asyncio.sleep(1.5)  # the listener notices and listens again
                again = db.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s", listening
                ).fetchone()
            assert again == (1,)
            feed = await store.watch(session.id, timeout=5)
            with agentstore.open(POSTGRES, schema=postgres_schema) as other:  # its own news
                await asyncio.to_thread(other.append, session.id, new_event("after.drop"))
            started = time.monotonic()
            assert (await anext(feed)).type == "after.drop"
            assert time.monotonic() - started < 0.5  # woken by a notification, not a poll
            await feed.aclose()

    asyncio.run(scenario())


def test_an_async_store_knows_the_loop_it_was_opened_on(tmp_path: Path) -> None:
    async def opened(target: str | Path) -> asyncio.AbstractEventLoop | None:
        async with agentstore.aio.open(target) as store:
            assert store.loop in (None, asyncio.get_running_loop())
            return store.loop

    assert asyncio.run(opened(tmp_path / "data")) is not None  # bound: threads answer on it
    assert asyncio.run(opened(":memory:")) is None  # answers on whichever loop awaits it


def test_a_store_awaited_on_another_loop_says_so_at_once(
    durable: tuple[str, dict[str, Any]],
) -> None:
    """Its answers would go to a loop that is not running: a typed error, not a hang."""
    target, options = durable
    own, other = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        store = own.run_until_complete(agentstore.aio.open(target, **options))
        session = own.run_until_complete(store.create_session())
        for call in (
            lambda: store.append(session.id, new_event("step")),
            lambda: store.append_batch(session.id, [new_event("step")]),
            lambda: store.get_events(session.id),
            lambda: store.get_state(session.id),
            lambda: store.list_sessions(),
            lambda: store.fork(session.id, at_seq=0),
        ):
            with pytest.raises(EventLoopError, match="another"):
                other.run_until_complete(asyncio.wait_for(call(), timeout=10))
        assert own.run_until_complete(store.append(session.id, new_event("step"))).seq == 1
        assert [s.id for s in own.run_until_complete(store.list_sessions())] == [session.id]
        own.run_until_complete(store.aclose())
    finally:
        own.close()
        other.close()
    assert issubclass(EventLoopError, RuntimeError)  # what code catching asyncio's sees
