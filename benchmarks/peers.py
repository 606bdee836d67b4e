"""agentstore's peers doing bench_peers.py's appends and reads, each in a function of its own.

Run by ``benchmarks/bench_peers.py`` with an interpreter that has the peers installed
(``.venv-peers``: installed for the benchmark only, never dependencies of ours). The peers:
the OpenAI Agents SDK's ``SQLiteSession`` (a SQLite file), ``SQLAlchemySession`` (PostgreSQL
through asyncpg) and ``RedisSession``; LangGraph's ``SqliteSaver`` and ``PostgresSaver``;
the eventsourcing library's SQLite and PostgreSQL recorders.

Appends: a round is one writer appending ``--appends`` copies of ``--item`` one at a time to
a new session (thread, aggregate), in items/s: a session's ``add_items([item])``; for a
LangGraph saver, what a graph saves when a node adds one message to a list channel:
``put_writes`` of the write, then ``put`` of the next checkpoint, which holds the whole
list; a recorder's ``insert_events`` of one event. Reads: of a history of ``--history``
items, each by a new session (saver, recorder) whose connection is opened and used once
first, untimed, in seconds. PostgreSQL tables live in a schema of their own, Redis keys
under a prefix of their own, removed at the end. A peer whose import fails or whose server
does not answer is skipped, with the reason.

Usage: ``PYTHON benchmarks/peers.py DIR --item JSON [--appends N] [--rounds N] [--reads N]
[--history N] [--postgres URL] [--redis URL] [--only PEER ...]`` prints one JSON object,
``{"figures": {peer: {figure: median}}, "skipped": {peer: reason}, "versions": {...}}``
(rates in items/s, reads in ms). With ``--serve PEER``, it opens that peer, prints
``{"figures": [its read figures], "versions": ...}`` (or ``{"skipped": reason}``) and then
answers each line of its input: ``append`` with a round's rate, a read figure's name with
one read's seconds, ``close`` by closing the peer and exiting; bench_peers.py takes its
rounds and reads in turn with agentstore's this way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Work:
    """What every peer does: the item, the counts, and where."""

    directory: str
    item: Any
    appends: int
    history: int
    postgres: str | None
    redis: str | None


class Peer(Protocol):
    """A peer, opened with its history written: appends and reads, then closed."""

    figures: tuple[str, ...]  # its reads, named as in the output

    def append_round(self) -> float:
        """A round of appends to a new session, in items/s."""

    def read(self, figure: str) -> float:
        """One read of the history, by a new session (saver, recorder), in seconds."""

    def close(self) -> None:
        """Close the peer, removing what it made on a server."""


@contextlib.contextmanager
def _postgres_schema(url: str) -> Iterator[str]:
    """A new schema, dropped at the end."""
    import psycopg

    schema = f"peer_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as db:
            db.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as error:
        raise ConnectionError(f"PostgreSQL at {url} does not answer: {error}") from None
    try:
        yield schema
    finally:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")


def _postgres(work: Work, cleanup: contextlib.ExitStack) -> tuple[str, str]:
    """The PostgreSQL URL and a new schema in it, dropped with ``cleanup``."""
    if work.postgres is None:
        raise ConnectionError("no PostgreSQL URL given")
    return work.postgres, cleanup.enter_context(_postgres_schema(work.postgres))


# The OpenAI Agents SDK's sessions: async, each call run to completion on a loop of its own.


class SessionPeer:
    """An Agents SDK session: ``add_items([item])`` and ``get_items()``."""

    figures: tuple[str, ...] = ("read_ms",)

    def __init__(
        self,
        work: Work,
        new_session: Callable[[str], Any],
        close: Callable[[], Awaitable[None]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.work, self.new_session, self.closing, self.loop = work, new_session, close, loop
        self.session_id = f"r-{uuid.uuid4().hex}"
        loop.run_until_complete(self.new_session(self.session_id).add_items(self._history()))

    def _history(self) -> list[Any]:
        return [self.work.item] * self.work.history

    async def _appends(self) -> float:
        session = self.new_session(f"a-{uuid.uuid4().hex}")
        await session.get_items(limit=0)  # opens its connection (and creates tables)
        started = time.perf_counter()
        for _ in range(self.work.appends):
            await session.add_items([self.work.item])
        return self.work.appends / (time.perf_counter() - started)

    async def _read(self) -> float:
        session = self.new_session(self.session_id)
        await session.get_items(limit=0)  # opens its connection; reads no item
        started = time.perf_counter()
        items = await session.get_items()
        elapsed = time.perf_counter() - started
        assert len(items) == self.work.history
        return elapsed

    def append_round(self) -> float:
        return self.loop.run_until_complete(self._appends())

    def read(self, figure: str) -> float:
        return self.loop.run_until_complete(self._read())

    def close(self) -> None:
        self.loop.run_until_complete(self.closing())
        self.loop.close()


def sqlite_session(work: Work, cleanup: contextlib.ExitStack) -> Peer:
    from agents.memory import SQLiteSession

    path = os.path.join(work.directory, "sqlite_session.db")
    opened: list[SQLiteSession] = []

    def new_session(session_id: str) -> SQLiteSession:
        opened.append(SQLiteSession(session_id, path))
        return opened[-1]

    async def close() -> None:
        for session in opened:
            session.close()

    return SessionPeer(work, new_session, close, asyncio.new_event_loop())


def sqlalchemy_session(work: Work, cleanup: contextlib.ExitStack) -> Peer:
    from agents.extensions.memory import SQLAlchemySession
    from sqlalchemy.ext.asyncio import create_async_engine  # type: ignore[import-not-found]

    url, schema = _postgres(work, cleanup)
    loop = asyncio.new_event_loop()
    engine = create_async_engine(
        url.replace("postgresql://", "postgresql+asyncpg://", 1),
        connect_args={"server_settings": {"search_path": schema}},
    )

    def new_session(session_id: str) -> SQLAlchemySession:
        return SQLAlchemySession(session_id, engine=engine, create_tables=True)

    return SessionPeer(work, new_session, engine.dispose, loop)


def redis_session(work: Work, cleanup: contextlib.ExitStack) -> Peer:
    from agents.extensions.memory import RedisSession
    from redis.asyncio import Redis  # type: ignore[import-not-found]
    from redis.exceptions import (  # type: ignore[import-not-found]
        ConnectionError as RedisConnectionError,
    )

    if work.redis is None:
        raise ConnectionError("no Redis URL given")
    loop = asyncio.new_event_loop()
    client = Redis.from_url(work.redis)
    try:
        loop.run_until_complete(client.ping())
    except RedisConnectionError as error:
        raise ConnectionError(f"Redis at {work.redis} does not answer: {error}") from None
    prefix = f"peer-{uuid.uuid4().hex[:10]}"

    def new_session(session_id: str) -> RedisSession:
        return RedisSession(session_id, redis_client=client, key_prefix=prefix)

    async def close() -> None:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    return SessionPeer(work, new_session, close, loop)


# LangGraph's savers: what a graph saves, step by step, for a node that adds one message.


def _graph_steps(saver: Any, thread_id: str, item: Any, count: int) -> None:
    from langgraph.checkpoint.base.id import uuid6

    def checkpoint(step: int, messages: list[Any], version: Any, seen: Any) -> dict[str, Any]:
        return {
            "v": 4,
            "id": str(uuid6(clock_seq=step + 1)),
            "ts": datetime.now(UTC).isoformat(),
            "channel_values": {"messages": messages} if messages else {},
            "channel_versions": {"messages": version} if version else {},
            "versions_seen": {"agent": {"messages": seen}} if seen else {},
            "updated_channels": ["messages"] if messages else None,
        }

    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    config = saver.put(config, checkpoint(-1, [], None, None), {"source": "input"}, {})
    messages: list[Any] = []
    version = None
    for step in range(count):
        saver.put_writes(config, [("messages", [item])], str(uuid.uuid4()), "~agent")
        seen, version = version, saver.get_next_version(version, None)
        messages = [*messages, item]  # as the channel's reducer does: a new list
        metadata = {"source": "loop", "step": step, "parents": {}}
        config = saver.put(
            config, checkpoint(step, messages, version, seen), metadata, {"messages": version}
        )


class SaverPeer:
    """A LangGraph saver: a graph's steps, ``get_tuple`` of the latest checkpoint, ``list``."""

    figures: tuple[str, ...] = ("get_tuple_ms", "list_ms")

    def __init__(self, work: Work, new_saver: Callable[[], Any], filler: Any) -> None:
        self.work, self.new_saver, self.saver = work, new_saver, new_saver()
        thread_id = f"r-{uuid.uuid4().hex}"
        _graph_steps(filler, thread_id, work.item, work.history)
        self.config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}

    def append_round(self) -> float:
        started = time.perf_counter()
        _graph_steps(self.saver, f"a-{uuid.uuid4().hex}", self.work.item, self.work.appends)
        return self.work.appends / (time.perf_counter() - started)

    def read(self, figure: str) -> float:
        fresh = self.new_saver()
        # Opens its connection; reads no checkpoint.
        fresh.get_tuple({"configurable": {"thread_id": "none", "checkpoint_ns": ""}})
        started = time.perf_counter()
        if figure == "list_ms":
            found = len(list(fresh.list(self.config))) - 1  # less the input's checkpoint
        else:
            found = len(fresh.get_tuple(self.config).checkpoint["channel_values"]["messages"])
        elapsed = time.perf_counter() - started
        assert found == self.work.history
        return elapsed

    def close(self) -> None:
        pass  # the connections are closed by the cleanup


def sqlite_saver(work: Work, cleanup: contextlib.ExitStack) -> Peer:
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver  # type: ignore[import-not-found]

    path = os.path.join(work.directory, "sqlite_saver.db")

    def new_saver(synchronous: str = "FULL") -> Any:
        connection = sqlite3.connect(path, check_same_thread=False)
        cleanup.callback(connection.close)
        connection.execute(f"PRAGMA synchronous={synchronous}")
        saver = SqliteSaver(connection)
        saver.setup()
        return saver

    # The history read is written without waiting for the disk, to save time only.
    return SaverPeer(work, new_saver, new_saver("OFF"))


def postgres_saver(work: Work, cleanup: contextlib.ExitStack) -> Peer:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver  # type: ignore[import-not-found]
    from psycopg.rows import dict_row

    url, schema = _postgres(work, cleanup)

    def new_saver(commit: str = "on") -> Any:
        connection = psycopg.connect(
            url,
            autocommit=True,
            prepare_threshold=0,
            row_factory=dict_row,
            options=f"-c search_path={schema} -c synchronous_commit={commit}",
        )
        cleanup.callback(connection.close)
        return PostgresSaver(connection)

    new_saver().setup()
    # The history read is written without waiting for the disk, to save time only.
    return SaverPeer(work, new_saver, new_saver("off"))


# The eventsourcing library's recorders, as benchmarks/eventsourcing_peer.py uses them.


class RecorderPeer:
    """An eventsourcing recorder: ``insert_events`` of one event, ``select_events``."""

    figures: tuple[str, ...] = ("read_ms",)

    def __init__(self, work: Work, new_recorder: Callable[[], Any]) -> None:
        from eventsourcing.persistence import StoredEvent  # type: ignore[import-not-found]

        self.work, self.new_recorder, self.recorder = work, new_recorder, new_recorder()
        self.stored_event, self.state = StoredEvent, json.dumps(work.item).encode()
        self.originator = uuid.uuid4()
        history = range(1, work.history + 1)
        self.recorder.insert_events([self._event(self.originator, v) for v in history])

    def _event(self, originator: uuid.UUID, version: int) -> Any:
        return self.stored_event(originator, version, "Item", self.state)

    def append_round(self) -> float:
        originator = uuid.uuid4()
        started = time.perf_counter()
        for version in range(1, self.work.appends + 1):
            self.recorder.insert_events([self._event(originator, version)])
        return self.work.appends / (time.perf_counter() - started)

    def read(self, figure: str) -> float:
        fresh = self.new_recorder()
        fresh.select_events(uuid.uuid4())  # opens its connection; reads no event
        started = time.perf_counter()
        found = fresh.select_events(self.originator)
        elapsed = time.perf_counter() - started
        assert len(found) == self.work.history
        return elapsed

    def close(self) -> None:
        pass  # the datastores are closed by the cleanup


def eventsourcing_sqlite(work: Work, cleanup: contextlib.ExitStack) -> Peer:
    from eventsourcing.sqlite import (  # type: ignore[import-not-found]
        SQLiteAggregateRecorder,
        SQLiteDatastore,
    )

    path = os.path.join(work.directory, "eventsourcing.db")

    def new_recorder() -> Any:
        datastore = SQLiteDatastore(path)
        cleanup.callback(datastore.close)
        recorder = SQLiteAggregateRecorder(datastore)
        recorder.create_table()
        return recorder

    return RecorderPeer(work, new_recorder)


def eventsourcing_postgres(work: Work, cleanup: contextlib.ExitStack) -> Peer:
    from urllib.parse import urlparse

    from eventsourcing.postgres import (  # type: ignore[import-not-found]
        PostgresAggregateRecorder,
        PostgresDatastore,
    )

    url, schema = _postgres(work, cleanup)
    parts = urlparse(url)

    def new_recorder() -> Any:
        datastore = PostgresDatastore(
            parts.path.lstrip("/"),
            parts.hostname or "localhost",
            parts.port or 5432,
            parts.username or "postgres",
            parts.password or "",
            schema=schema,
        )
        cleanup.callback(datastore.close)
        recorder = PostgresAggregateRecorder(datastore)
        recorder.create_table()
        return recorder

    return RecorderPeer(work, new_recorder)


PEERS: dict[str, Callable[[Work, contextlib.ExitStack], Peer]] = {
    "sqlite_session": sqlite_session,
    "sqlalchemy_session": sqlalchemy_session,
    "redis_session": redis_session,
    "sqlite_saver": sqlite_saver,
    "postgres_saver": postgres_saver,
    "eventsourcing_sqlite": eventsourcing_sqlite,
    "eventsourcing_postgres": eventsourcing_postgres,
}
PACKAGES = ["openai-agents", "langgraph", "langgraph-checkpoint-sqlite"]
PACKAGES += ["langgraph-checkpoint-postgres", "sqlalchemy", "asyncpg", "redis", "eventsourcing"]
# What makes a peer skipped rather than failed: its package or its server is missing.
MISSING = (ImportError, ConnectionError, OSError)


def _versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "missing"
    return versions


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0]


def measure(name: str, work: Work, rounds: int, reads: int) -> dict[str, float]:
    """A peer's medians: its rounds of appends, then its reads."""
    with contextlib.ExitStack() as cleanup:
        peer = PEERS[name](work, cleanup)
        try:
            figures = {"append": statistics.median(peer.append_round() for _ in range(rounds))}
            for figure in peer.figures:
                times = [peer.read(figure) for _ in range(reads)]
                figures[figure] = statistics.median(times) * 1e3
            return figures
        finally:
            peer.close()


def serve(name: str, work: Work) -> None:
    """Open a peer, then answer the commands of stdin (see the module's docstring)."""
    with contextlib.ExitStack() as cleanup:
        try:
            peer = PEERS[name](work, cleanup)
        except MISSING as error:
            print(json.dumps({"skipped": _reason(error)}), flush=True)
            return
        print(json.dumps({"figures": peer.figures, "versions": _versions()}), flush=True)
        try:
            for line in sys.stdin:
                command = line.strip()
                if command == "close":
                    break
                answer = peer.append_round() if command == "append" else peer.read(command)
                print(json.dumps(answer), flush=True)
        finally:
            peer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="where to create the SQLite files")
    parser.add_argument("--item", required=True, help="the item appended, as JSON")
    parser.add_argument("--appends", type=int, default=500, help="appends a round (500)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of appends (3)")
    parser.add_argument("--reads", type=int, default=10, help="reads of each figure (10)")
    parser.add_argument("--history", type=int, default=1000, help="items read (1000)")
    parser.add_argument("--postgres", help="a PostgreSQL URL (its peers are skipped without)")
    parser.add_argument("--redis", help="a Redis URL (its peer is skipped without)")
    parser.add_argument("--only", nargs="*", choices=list(PEERS), help="these peers only")
    parser.add_argument("--serve", choices=list(PEERS), help="answer commands for this peer")
    args = parser.parse_args()
    work = Work(
        directory=args.dir,
        item=json.loads(args.item),
        appends=args.appends,
        history=args.history,
        postgres=args.postgres,
        redis=args.redis,
    )
    if args.serve:
        serve(args.serve, work)
        return
    figures: dict[str, dict[str, float]] = {}
    skipped: dict[str, str] = {}
    for name in args.only or PEERS:
        try:
            figures[name] = measure(name, work, args.rounds, args.reads)
        except MISSING as error:
            skipped[name] = _reason(error)
            print(f"{name} skipped: {skipped[name]}", file=sys.stderr)
    print(json.dumps({"figures": figures, "skipped": skipped, "versions": _versions()}))


if __name__ == "__main__":
    main()
