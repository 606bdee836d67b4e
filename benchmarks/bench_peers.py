"""agentstore against its peers: the same appends and reads, side by side, in the same runs.

Usage: ``python benchmarks/bench_peers.py [--quick] [--runs N] [--dir DIR] [--postgres URL]
[--redis URL] [--peer-python PYTHON] [--only PEER ...]``.

Method: the peers run in ``benchmarks/peers.py`` under ``--peer-python``, an interpreter
with them installed for the benchmark only (by default ``.venv-peers/bin/python`` when it
exists), one process per peer that does what it is told; SQLite files and JSONL stores
are created fresh under ``--dir``, PostgreSQL tables in schemas of their own
(``--postgres``, default ``$AGENTSTORE_TEST_POSTGRES_URL`` or the local server), dropped
afterwards. Both sides append the same tool-call item, about 250 bytes of JSON.

- Appends: a round is one writer appending 500 items one at a time to a new session, in
  items/s; the median of three rounds. agentstore appends an event whose payload is the
  item (or calls ``AgentStoreSession.add_items([item])``); a peer does what it does for
  one item (``add_items([item])`` of an Agents SDK session, a LangGraph saver's
  ``put_writes`` and ``put``, a recorder's ``insert_events``).
- Reads: of a history of 1000 items (1000 events for agentstore), each by a new store
  (session, saver, recorder) whose connection is opened and used once first, untimed;
  the median of 10, in ms. agentstore reads the events with ``get_events`` (or
  ``AgentStoreSession.get_items``); the peers with ``get_items``, ``get_tuple`` of the
  latest checkpoint and ``list`` of the thread, or ``select_events``.
- Each peer faces the agentstore stores of its kind: the async Agents SDK sessions an
  ``agentstore.aio`` store (and ``AgentStoreSession`` over it) on the same database;
  ``RedisSession`` the JSONL and SQLite stores (agentstore has no Redis backend); the
  sync LangGraph savers and eventsourcing recorders a sync ``Store``.
- A peer's rounds and reads and those of the agentstore stores it faces are taken in
  turn, so a change in the machine's load weighs on both alike.

The table gives the medians over ``--runs`` runs (3) of each figure and of the ratio to
the peer measured in the same run, with the runs' lowest and highest ratio: agentstore /
peer for rates, peer / agentstore for times, so above 1 always means agentstore is ahead.
Without a peer interpreter, agentstore's figures are printed alone. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import agentstore
import agentstore.aio
from agentstore import Event, EventType, new_event

HERE = Path(__file__).parent
PEER_PYTHON = HERE.parent / ".venv-peers" / "bin" / "python"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
ITEM = {  # a Responses API tool call, as the Agents SDK keeps it
    "type": "function_call",
    "id": "fc_68a1c2e4b7d94f0a9e3c5b1d",
    "call_id": "call_Qx7LmN2pR4tV8wZ1",
    "name": "search_flights",
    "arguments": '{"origin": "BER", "destination": "MUC", "date": "2025-06-14", "adults": 2}',
    "status": "completed",
}
Figures = dict[str, float]


@dataclass(frozen=True)
class Sizes:
    """How much each figure measures: the full run's sizes, or a smoke test's (``--quick``)."""

    appends: int = 500  # appends a round
    rounds: int = 3  # appends: the median of this many rounds
    reads: int = 10  # reads: the median of this many
    history: int = 1000  # the items of the history read
    runs: int = 3  # the default of --runs


QUICK = Sizes(appends=50, rounds=1, reads=2, history=100, runs=1)


class Side(Protocol):
    """One side of a comparison, its history written: rounds of appends, reads, close."""

    def append_round(self) -> float:
        """A round of appends to a new session, in items/s."""

    def read(self, figure: str) -> float:
        """One read of the history by a new store, in seconds."""

    def close(self) -> None:
        """Close the side, removing what it made on a server."""


def _tool_calls(count: int) -> list[Event]:
    return [new_event(EventType.TOOL_CALLED, ITEM) for _ in range(count)]


class SyncSide:
    """A sync ``Store``: ``append`` and ``get_events``."""

    def __init__(self, target: str, options: dict[str, Any], sizes: Sizes) -> None:
        self.target, self.options, self.sizes = target, options, sizes
        self.store = agentstore.open(target, **options)
        self.session_id = self.store.create_session().id
        self.store.append_batch(self.session_id, _tool_calls(sizes.history))
        self.other = self.store.create_session().id

    def append_round(self) -> float:
        session_id = self.store.create_session().id
        started = time.perf_counter()
        for _ in range(self.sizes.appends):
            self.store.append(session_id, new_event(EventType.TOOL_CALLED, ITEM))
        return self.sizes.appends / (time.perf_counter() - started)

    def read(self, figure: str) -> float:
        with agentstore.open(self.target, **self.options) as fresh:
            fresh.get_session(self.other)  # its connection used once; nothing of the history
            started = time.perf_counter()
            events = fresh.get_events(self.session_id)
            elapsed = time.perf_counter() - started
        assert len(events) == self.sizes.history
        return elapsed

    def close(self) -> None:
        self.store.close()


class AsyncSide:
    """An ``AsyncStore`` on a loop of its own: ``append`` and ``get_events``."""

    def __init__(self, target: str, options: dict[str, Any], sizes: Sizes) -> None:
        self.target, self.options, self.sizes = target, options, sizes
        self.loop = asyncio.new_event_loop()
        self.store = self.loop.run_until_complete(agentstore.aio.open(target, **options))
        self.session_id, self.other = self.loop.run_until_complete(self._history())

    async def _history(self) -> tuple[str, str]:
        session_id = (await self.store.create_session()).id
        await self.store.append_batch(session_id, _tool_calls(self.sizes.history))
        return session_id, (await self.store.create_session()).id

    async def _appends(self) -> float:
        session_id = (await self.store.create_session()).id
        started = time.perf_counter()
        for _ in range(self.sizes.appends):
            await self.store.append(session_id, new_event(EventType.TOOL_CALLED, ITEM))
        return self.sizes.appends / (time.perf_counter() - started)

    async def _read(self, fresh: agentstore.aio.AsyncStore) -> int:
        return len(await fresh.get_events(self.session_id))

    async def _timed_read(self) -> float:
        async with agentstore.aio.open(self.target, **self.options) as fresh:
            await fresh.get_session(self.other)
            started = time.perf_counter()
            found = await self._read(fresh)
            elapsed = time.perf_counter() - started
        assert found == self.sizes.history
        return elapsed

    def append_round(self) -> float:
        return self.loop.run_until_complete(self._appends())

    def read(self, figure: str) -> float:
        return self.loop.run_until_complete(self._timed_read())

    def close(self) -> None:
        self.loop.run_until_complete(self.store.aclose())
        self.loop.close()


class SessionSide(AsyncSide):
    """``AgentStoreSession`` over an ``AsyncStore``: ``add_items([item])`` and ``get_items()``."""

    async def _history(self) -> tuple[str, str]:
        from agentstore.integrations.openai_agents import CONVERSATION_ITEMS

        # As many add_items([item]) left it: an event each.
        session_id = (await self.store.create_session()).id
        added = [
            new_event(CONVERSATION_ITEMS, {"items": [ITEM]}) for _ in range(self.sizes.history)
        ]
        await self.store.append_batch(session_id, added)
        return session_id, (await self.store.create_session()).id

    async def _appends(self) -> float:
        from agentstore.integrations.openai_agents import AgentStoreSession

        item: Any = ITEM
        session = AgentStoreSession(f"a-{uuid.uuid4().hex}", self.store)
        await session.get_items(limit=0)  # creates the session, as a peer's first call
        started = time.perf_counter()
        for _ in range(self.sizes.appends):
            await session.add_items([item])
        return self.sizes.appends / (time.perf_counter() - started)

    async def _read(self, fresh: agentstore.aio.AsyncStore) -> int:
        from agentstore.integrations.openai_agents import AgentStoreSession

        return len(await AgentStoreSession(self.session_id, fresh, create=False).get_items())


class RemotePeer:
    """A peer in a ``benchmarks/peers.py --serve`` process, asked one thing at a time."""

    def __init__(self, python: str, peer: str, directory: str, args: argparse.Namespace) -> None:
        sizes: Sizes = args.sizes
        command = [python, str(HERE / "peers.py"), directory, "--serve", peer]
        command += ["--item", json.dumps(ITEM), "--appends", str(sizes.appends)]
        command += ["--history", str(sizes.history), "--redis", args.redis]
        command += ["--postgres", args.postgres] if args.postgres else []
        self.errors: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, text=True
        )
        self.hello: dict[str, Any] = self._answer()

    def _answer(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self.errors.seek(0)
            lines = self.errors.read().strip().splitlines() or [f"exit {self.process.returncode}"]
            raise RuntimeError(f"benchmarks/peers.py failed: {lines[-1]}")
        return json.loads(line)

    def ask(self, command: str) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer: float = self._answer()
        return answer

    def append_round(self) -> float:
        return self.ask("append")

    def read(self, figure: str) -> float:
        return self.ask(figure)

    def close(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it has exited (a peer skipped)
            self.process.stdin.write("close\n")
            self.process.stdin.close()
        self.process.wait(timeout=60)
        self.errors.close()


# agentstore's stores: the backend, the face, and the side that measures it.
STORES: dict[str, tuple[str, str, Callable[[str, dict[str, Any], Sizes], Side]]] = {
    "sqlite": ("SQLite", "Store", SyncSide),
    "aio_sqlite": ("SQLite", "AsyncStore", AsyncSide),
    "aio_jsonl": ("JSONL", "AsyncStore", AsyncSide),
    "session_sqlite": ("SQLite", "AgentStoreSession", SessionSide),
    "postgres": ("PostgreSQL", "Store", SyncSide),
    "aio_postgres": ("PostgreSQL", "AsyncStore", AsyncSide),
    "session_postgres": ("PostgreSQL", "AgentStoreSession", SessionSide),
}
CALLS = {  # a face's calls for appends and reads
    "Store": ("Store.append", "Store.get_events"),
    "AsyncStore": ("AsyncStore.append", "AsyncStore.get_events"),
    "AgentStoreSession": ("AgentStoreSession.add_items", "AgentStoreSession.get_items"),
}
# Each peer: its name, its call for each figure, and the agentstore stores it faces.
SESSION_CALLS = {"append": "add_items([item])", "read_ms": "get_items()"}
SAVER_CALLS = {
    "append": "put_writes + put",
    "get_tuple_ms": "get_tuple (latest)",
    "list_ms": "list (all checkpoints)",
}
RECORDER_CALLS = {"append": "insert_events", "read_ms": "select_events"}
PEERS: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "sqlite_session": ("Agents SDK SQLiteSession", SESSION_CALLS, ("aio_sqlite", "session_sqlite")),
    "sqlalchemy_session": (
        "Agents SDK SQLAlchemySession",
        SESSION_CALLS,
        ("aio_postgres", "session_postgres"),
    ),
    "redis_session": ("Agents SDK RedisSession", SESSION_CALLS, ("aio_jsonl", "aio_sqlite")),
    "sqlite_saver": ("LangGraph SqliteSaver", SAVER_CALLS, ("sqlite",)),
    "postgres_saver": ("LangGraph PostgresSaver", SAVER_CALLS, ("postgres",)),
    "eventsourcing_sqlite": ("eventsourcing SQLite recorder", RECORDER_CALLS, ("sqlite",)),
    "eventsourcing_postgres": ("eventsourcing PostgreSQL recorder", RECORDER_CALLS, ("postgres",)),
}
Run = dict[tuple[str, str], tuple[Figures, Figures]]  # (peer, store): agentstore's, the peer's


class Opened:
    """agentstore's sides, each on a new file, directory or schema, closed together."""

    def __init__(self, directory: str, postgres: str | None, sizes: Sizes) -> None:
        self.directory, self.postgres, self.sizes = directory, postgres, sizes
        self.sides: dict[str, Side] = {}
        self.schemas: list[str] = []

    def open(self, store: str) -> Side:
        backend, _, side = STORES[store]
        name = os.path.join(self.directory, f"{store}-{uuid.uuid4().hex[:8]}")
        if backend == "JSONL":
            self.sides[store] = side(name, {}, self.sizes)
        elif backend == "SQLite":
            self.sides[store] = side(f"sqlite:///{name}.db", {}, self.sizes)
        else:
            assert self.postgres is not None
            self.schemas.append(f"bench_{uuid.uuid4().hex[:10]}")
            self.sides[store] = side(self.postgres, {"schema": self.schemas[-1]}, self.sizes)
        return self.sides[store]

    def close(self) -> None:
        for side in self.sides.values():
            side.close()
        if self.postgres and self.schemas:
            import psycopg

            with psycopg.connect(self.postgres, autocommit=True) as db:
                for schema in self.schemas:
                    db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def in_turn(sides: dict[str, Side], figures: tuple[str, ...], sizes: Sizes) -> dict[str, Figures]:
    """Each side's medians, their rounds and reads taken in turn."""
    rates: dict[str, list[float]] = {name: [] for name in sides}
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(sizes.rounds):
        for name, side in sides.items():
            rates[name].append(side.append_round())
    for figure in figures:
        for _ in range(sizes.reads):
            for name, side in sides.items():
                times.setdefault((name, figure), []).append(side.read(figure))
    return {
        name: {"append": statistics.median(rates[name])}
        | {figure: statistics.median(times[name, figure]) * 1e3 for figure in figures}
        for name in sides
    }


def side_by_side(peer: str, directory: str, args: argparse.Namespace, notes: list[str]) -> Run:
    """A peer and the agentstore stores it faces, measured in turn: ``{(peer, store):
    (agentstore's figures, the peer's)}``; nothing if the peer is skipped."""
    name, _, stores = PEERS[peer]
    remote = RemotePeer(args.peer_python, peer, directory, args)
    ours = Opened(directory, args.postgres, args.sizes)
    try:
        if "skipped" in remote.hello:
            notes.append(f"{name} not measured: {remote.hello['skipped']}")
            return {}
        versions = remote.hello["versions"].items()
        notes.append("peers: " + ", ".join(f"{k} {v}" for k, v in versions))
        sides: dict[str, Side] = {"peer": remote}
        sides |= {store: ours.open(store) for store in stores if store in _usable(args)}
        figures = in_turn(sides, tuple(remote.hello["figures"]), args.sizes)
        return {
            (peer, store): (figures[store], figures["peer"]) for store in sides if store != "peer"
        }
    finally:
        remote.close()
        ours.close()


def _agents_sdk() -> str | None:
    """Why AgentStoreSession cannot be measured, or None."""
    try:
        import agentstore.integrations.openai_agents  # noqa: F401
    except ImportError as error:
        return str(error).splitlines()[0]
    return None


def _usable(args: argparse.Namespace) -> list[str]:
    return [
        store
        for store, (backend, face, _) in STORES.items()
        if (backend != "PostgreSQL" or args.postgres)
        and (face != "AgentStoreSession" or _agents_sdk() is None)
    ]


def _postgres_problem(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None."""
    try:
        import psycopg
    except ImportError as error:
        return str(error)
    try:
        with psycopg.connect(url, connect_timeout=3):
            return None
    except psycopg.OperationalError as error:
        return str(error).strip().splitlines()[0]


def measure(
    args: argparse.Namespace, notes: list[str]
) -> tuple[list[Run], list[dict[str, Figures]]]:
    """The runs: every peer side by side with agentstore, or agentstore alone without peers."""
    runs: list[Run] = []
    alone: list[dict[str, Figures]] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as base:
        for run in range(args.runs or args.sizes.runs):
            directory = os.path.join(base, f"run-{run}")
            os.mkdir(directory)
            runs.append({})
            for peer in args.only or PEERS:
                if not args.peer_python:
                    break
                try:
                    runs[-1].update(side_by_side(peer, directory, args, notes))
                except OSError as error:  # the interpreter did not start
                    notes.append(f"peers not measured: {error}")
                    args.peer_python = None
                except RuntimeError as error:
                    notes.append(f"{PEERS[peer][0]} not measured: {error}")
            if not args.peer_python:
                alone.append(_alone(directory, args))
    return runs, alone


def _alone(directory: str, args: argparse.Namespace) -> dict[str, Figures]:
    ours = Opened(directory, args.postgres, args.sizes)
    try:
        sides = {store: ours.open(store) for store in _usable(args)}
        return in_turn(sides, ("read_ms",), args.sizes)
    finally:
        ours.close()


def _value(figure: str, value: float) -> str:
    return f"{value:.2f} ms" if figure.endswith("_ms") else f"{value:,.0f}/s"


def compared(runs: list[Run]) -> list[tuple[str, ...]]:
    """The rows of the table: medians over the runs, and of the ratios of each run."""
    rows: list[tuple[str, ...]] = []
    for peer, (peer_name, calls, stores) in PEERS.items():
        for figure, call in calls.items():
            for store in stores:
                pairs = [
                    (run[peer, store][0][figure], run[peer, store][1][figure])
                    for run in runs
                    if (peer, store) in run
                ]
                if pairs:
                    rows.append((peer_name, call, *_compared(figure, store, pairs)))
    return rows


def _compared(figure: str, store: str, pairs: list[tuple[float, float]]) -> tuple[str, ...]:
    backend, face, _ = STORES[store]
    # Above 1, agentstore is ahead: more items a second, or fewer ms.
    ratios = [t / o if figure.endswith("_ms") else o / t for o, t in pairs]
    return (
        f"{CALLS[face][0 if figure == 'append' else 1]}, {backend}",
        _value(figure, statistics.median(o for o, _ in pairs)),
        _value(figure, statistics.median(t for _, t in pairs)),
        f"{statistics.median(ratios):.2f}x",
        f"{min(ratios):.2f}-{max(ratios):.2f}x",
    )


def alone_rows(alone: list[dict[str, Figures]]) -> list[tuple[str, ...]]:
    """The rows of agentstore's figures, when no peer was measured."""
    rows: list[tuple[str, ...]] = []
    for store, (backend, face, _) in STORES.items():
        for figure, call in zip(("append", "read_ms"), CALLS[face], strict=True):
            values = [run[store][figure] for run in alone if store in run]
            if values:
                rows.append((f"{call}, {backend}", _value(figure, statistics.median(values))))
    return rows


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]], left: int) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = zip(row, widths, strict=True)
        print("  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(cells)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, to check it works")
    parser.add_argument("--runs", type=int, help="how many runs the medians are of (3)")
    parser.add_argument("--dir", help="where to create the SQLite files and JSONL stores")
    parser.add_argument(
        "--postgres", default=os.environ.get("AGENTSTORE_TEST_POSTGRES_URL", LOCAL_POSTGRES)
    )
    parser.add_argument("--redis", default=LOCAL_REDIS, help="the Redis RedisSession uses")
    parser.add_argument(
        "--peer-python",
        default=str(PEER_PYTHON) if PEER_PYTHON.exists() else None,
        help="a Python with the peers installed (default: .venv-peers/bin/python)",
    )
    parser.add_argument("--only", nargs="+", choices=list(PEERS), help="these peers only")
    args = parser.parse_args()
    args.sizes = QUICK if args.quick else Sizes()
    notes = []
    if problem := _postgres_problem(args.postgres):
        notes.append(f"PostgreSQL not measured: {problem}")
        args.postgres = None
    if problem := _agents_sdk():
        notes.append(f"AgentStoreSession not measured: {problem}")
    if not args.peer_python:
        notes.append(f"peers not measured: no {PEER_PYTHON} (or --peer-python PYTHON)")
    runs, alone = measure(args, notes)
    version = agentstore.__version__
    if rows := compared(runs):
        print(f"agentstore {version} against its peers, medians of {len(runs)} run(s)\n")
        header = ("peer", "peer's call", "agentstore's call", "agentstore", "peer", "ratio")
        _print_table((*header, "runs"), rows, left=3)
    if alone:
        print(f"agentstore {version} alone, medians of {len(alone)} run(s)\n")
        _print_table(("agentstore's call", "median"), alone_rows(alone), left=1)
    print()
    for note in dict.fromkeys(notes):  # once each, in order
        print(note)


if __name__ == "__main__":
    main()
