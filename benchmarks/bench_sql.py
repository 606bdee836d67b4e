"""Durable appends and cold reads on SQLite and PostgreSQL, next to the disk and a peer.

Usage: ``python benchmarks/bench_sql.py [--quick] [--dir DIR] [--postgres URL]
[--peer-python PYTHON]``.

Method: SQLite stores live in a fresh file under ``--dir``; the disk's own write+fsync
rate is measured first in the same directory. PostgreSQL stores (``--postgres``, default
``$AGENTSTORE_TEST_POSTGRES_URL``) get a schema of their own, dropped afterwards. Appends
build their event in the loop and are medians of three rounds; cold reads open a new
store before each call (the open is not timed) and are medians of 20. "8 processes"
starts 8 writer processes, and once all are ready (imported, connected, their session
made) gives them a common start time, each appending to its own
session; the rate is all their events over the time from the start to the last one's
end. With ``--peer-python``, an interpreter that has the ``eventsourcing`` library (never
a dependency of ours), its SQLite and PostgreSQL recorders do the same appends and reads
in the same run (``benchmarks/eventsourcing_peer.py``). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import agentstore
from agentstore import EventType, Metadata, Store, new_event

HERE = Path(__file__).parent
WRITER = """
import sys, time, agentstore
from agentstore import EventType, new_event
url, schema, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with agentstore.open(url, schema=schema) as store:
    sid = store.create_session().id
    event = {"tool": "search_flights", "query": "BER → MUC"}
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    while time.time() < start:
        time.sleep(0.0005)
    for n in range(count):
        store.append(sid, new_event(EventType.TOOL_CALLED, {**event, "n": n}))
    print(time.time())
"""


@dataclass(frozen=True)
class Sizes:
    """How much each figure measures: the full run's sizes, or a smoke test's (``--quick``)."""

    scale: int = 1  # the counts of appends are divided by it
    rounds: int = 3  # appends: the median of this many rounds
    reads: int = 20  # cold reads: the median of this many
    processes: int = 8  # the writer processes of "8 processes"
    lead: float = 0.2  # the seconds between the writers' all being ready and their start


QUICK = Sizes(scale=10, rounds=1, reads=2, processes=2, lead=0.1)


def raw_fsync_rate(directory: str, count: int) -> float:
    fd = os.open(os.path.join(directory, "raw.bin"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        started = time.perf_counter()
        for _ in range(count):
            os.write(fd, b"x" * 199 + b"\n")
            os.fdatasync(fd)
        return count / (time.perf_counter() - started)
    finally:
        os.close(fd)


def _event(n: int) -> agentstore.Event:
    return new_event(
        EventType.TOOL_CALLED, {"tool": "search_flights", "query": "BER → MUC", "n": n}
    )


def append_rate(store: Store, count: int) -> float:
    session_id = store.create_session().id
    started = time.perf_counter()
    for n in range(count):
        store.append(session_id, _event(n))
    return count / (time.perf_counter() - started)


def threaded_rate(store: Store, threads: int, per_thread: int) -> float:
    ids = [store.create_session().id for _ in range(threads)]

    def write(session_id: str) -> None:
        for n in range(per_thread):
            store.append(session_id, _event(n))

    workers = [threading.Thread(target=write, args=(sid,)) for sid in ids]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return threads * per_thread / (time.perf_counter() - started)


def batch_rate(store: Store, batches: int) -> float:
    session_id = store.create_session().id
    started = time.perf_counter()
    for _ in range(batches):
        store.append_batch(session_id, [_event(n) for n in range(100)])
    return batches * 100 / (time.perf_counter() - started)


def cold_reads(url: str, options: dict[str, object], reads: int) -> tuple[float, float]:
    """Median ms of get_state (1000 events, snapshot at 1000) and replay, fresh stores."""
    usage = Metadata(model="gpt-4o", tokens_in=120, tokens_out=40, cost_usd=0.0021)
    with agentstore.open(url, snapshot_interval=100, **options) as writer:  # type: ignore[arg-type]
        session_id = writer.create_session().id
        for start in range(0, 1000, 100):
            writer.append_batch(
                session_id,
                [
                    new_event("llm_response", {"step": n, "text": "x" * 40}, metadata=usage)
                    for n in range(start, start + 100)
                ],
            )
        writer.get_state(session_id)
    figures = []
    for action in ("state", "replay"):
        times = []
        for _ in range(reads):
            with agentstore.open(url, snapshot_interval=100, **options) as store:  # type: ignore[arg-type]
                started = time.perf_counter()
                if action == "state":
                    store.get_state(session_id)
                else:
                    store.replay(session_id)
                times.append(time.perf_counter() - started)
        figures.append(statistics.median(times) * 1e3)
    return figures[0], figures[1]


def processes_rate(url: str, schema: str, processes: int, count: int, lead: float) -> float:
    """The rate of ``processes`` writer processes, from a start time set once all of them
    are ready (imported, connected, their session made) to the last one's end."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, schema, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for worker in workers:
        assert worker.stdout is not None
        if worker.stdout.readline().strip() != "ready":
            raise RuntimeError("a writer process failed to start")
    start = time.time() + lead
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(f"{start}\n")
        worker.stdin.flush()
    ends = [float(worker.communicate(timeout=300)[0]) for worker in workers]
    return processes * count / (max(ends) - start)


def run_sqlite(base: str, sizes: Sizes, rows: list[tuple[str, str]]) -> dict[str, float]:
    scale, rounds = sizes.scale, sizes.rounds
    raw = statistics.median(raw_fsync_rate(base, 1000 // scale) for _ in range(rounds))
    rows.append(("disk: write + fdatasync of one line", f"{raw:,.0f}/s"))
    url = f"sqlite:///{os.path.join(base, 'agent.db')}"
    with agentstore.open(url) as store:
        one = statistics.median(append_rate(store, 500 // scale) for _ in range(rounds))
        eight = statistics.median(threaded_rate(store, 8, 100 // scale) for _ in range(rounds))
        batches = statistics.median(batch_rate(store, 20 // scale) for _ in range(rounds))
    state, replay = cold_reads(url, {}, sizes.reads)
    rows += [
        ("SQLite append, 1 thread", f"{one:,.0f}/s ({one / raw:.0%} of disk)"),
        ("SQLite append, 8 threads, 8 sessions", f"{eight:,.0f}/s"),
        ("SQLite append_batch of 100", f"{batches:,.0f} events/s"),
        ("SQLite get_state, 1000 events, snapshot, fresh", f"{state:.3f} ms"),
        ("SQLite replay of 1000 events, fresh", f"{replay:.3f} ms"),
    ]
    return {"append": one, "replay_ms": replay}


def run_postgres(url: str, sizes: Sizes, rows: list[tuple[str, str]]) -> dict[str, float]:
    import psycopg

    scale, rounds, processes = sizes.scale, sizes.rounds, sizes.processes
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with agentstore.open(url, schema=schema) as store:
            one = statistics.median(append_rate(store, 500 // scale) for _ in range(rounds))
            batches = statistics.median(batch_rate(store, 20 // scale) for _ in range(rounds))
        many = processes_rate(url, schema, processes, 300 // scale, sizes.lead)
        state, replay = cold_reads(url, {"schema": schema}, sizes.reads)
    finally:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    rows += [
        ("PostgreSQL append, 1 writer", f"{one:,.0f}/s"),
        (
            f"PostgreSQL append, {processes} processes, {processes} sessions",
            f"{many:,.0f}/s ({many / one:.1f}x 1 writer)",
        ),
        ("PostgreSQL append_batch of 100", f"{batches:,.0f} events/s"),
        ("PostgreSQL get_state, 1000 events, snapshot, fresh", f"{state:.3f} ms"),
        ("PostgreSQL replay of 1000 events, fresh", f"{replay:.3f} ms"),
    ]
    return {"append": one, "replay_ms": replay}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, to check it works")
    parser.add_argument("--dir", help="where to create the SQLite files")
    parser.add_argument("--postgres", default=os.environ.get("AGENTSTORE_TEST_POSTGRES_URL"))
    parser.add_argument("--peer-python", help="a Python with eventsourcing installed")
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as base:
        ours = {"sqlite": run_sqlite(base, sizes, rows)}
        if args.postgres:
            ours["postgres"] = run_postgres(args.postgres, sizes, rows)
        if args.peer_python:
            command = [args.peer_python, str(HERE / "eventsourcing_peer.py"), base]
            peer = json.loads(
                subprocess.check_output(command + ([args.postgres] if args.postgres else []))
            )
            for backend in ours:
                theirs = peer[f"{backend}_append"]
                ratio = ours[backend]["append"] / theirs
                rows.append(
                    (
                        f"eventsourcing {backend} recorder: append",
                        f"{theirs:,.0f}/s (ours {ratio:.2f}x)",
                    )
                )
                read = peer[f"{backend}_replay_ms"]
                rows.append((f"eventsourcing {backend} recorder: read 1000", f"{read:.3f} ms"))
    print(f"agentstore {agentstore.__version__}, SQL backends, one run\n")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
