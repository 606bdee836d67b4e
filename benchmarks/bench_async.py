"""The async store next to the sync one: in-memory appends, and durable appends at 8.

Usage: ``python benchmarks/bench_async.py [--quick] [--dir DIR] [--postgres URL]``
(or ``make bench``).

Method: the in-memory figures time a loop of appends that builds each event in the loop,
``store.append(...)`` against ``await store.append(...)`` inside one coroutine, in rounds
with the garbage collector on; the figure is the median round's time per append. The
durable figures have 8 writers append to 8 sessions of one store: 8 threads of a sync
``Store`` against 8 tasks of an ``AsyncStore`` on one event loop, each the median of
five rounds; sync and async rounds are taken in turn, so a change in the machine's load
weighs on both alike; the rate is all their events over the time from the start to the last
one's end. JSONL and SQLite stores live in a fresh directory under ``--dir``; PostgreSQL
(``--postgres``, default ``$AGENTSTORE_TEST_POSTGRES_URL``) in a schema of its own,
dropped afterwards. The targets: async in-memory appends within 1.3x the sync time,
durable async appends at least as fast as the sync threads. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
import uuid
from typing import Any

import agentstore
import agentstore.aio
from agentstore import EventType, Store, new_event
from agentstore.aio import AsyncStore

_PAYLOAD = {"tool": "search_flights", "query": "BER → MUC"}


def memory_sync_us(store: Store, appends: int) -> float:
    """One round of sync appends, in µs per append."""
    session_id = store.create_session().id
    started = time.perf_counter()
    for n in range(appends):
        store.append(session_id, new_event(EventType.TOOL_CALLED, {**_PAYLOAD, "n": n}))
    return (time.perf_counter() - started) / appends * 1e6


async def memory_async_us(store: AsyncStore, appends: int) -> float:
    """One round of awaited appends, in µs per append."""
    session_id = (await store.create_session()).id
    started = time.perf_counter()
    for n in range(appends):
        event = new_event(EventType.TOOL_CALLED, {**_PAYLOAD, "n": n})
        await store.append(session_id, event)
    return (time.perf_counter() - started) / appends * 1e6


def memory(appends: int, rounds: int) -> tuple[float, float]:
    """The median µs of sync and async appends, their rounds taken in turn (the machine's
    load then weighs on both alike)."""
    loop = asyncio.new_event_loop()
    sync_store = agentstore.open(":memory:")
    async_store = loop.run_until_complete(agentstore.aio.open(":memory:"))
    sync_times, async_times = [], []
    for _ in range(rounds):
        sync_times.append(memory_sync_us(sync_store, appends))
        async_times.append(loop.run_until_complete(memory_async_us(async_store, appends)))
    sync_store.close()
    loop.run_until_complete(async_store.aclose())
    loop.close()
    return statistics.median(sync_times), statistics.median(async_times)


def threads_rate(store: Store, writers: int, appends: int) -> float:
    ids = [store.create_session().id for _ in range(writers)]

    def write(session_id: str) -> None:
        for n in range(appends):
            store.append(session_id, new_event(EventType.TOOL_CALLED, {**_PAYLOAD, "n": n}))

    threads = [threading.Thread(target=write, args=(session_id,)) for session_id in ids]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return writers * appends / (time.perf_counter() - started)


async def tasks_rate(store: AsyncStore, writers: int, appends: int) -> float:
    ids = [(await store.create_session()).id for _ in range(writers)]

    async def write(session_id: str) -> None:
        for n in range(appends):
            await store.append(session_id, new_event(EventType.TOOL_CALLED, {**_PAYLOAD, "n": n}))

    started = time.perf_counter()
    await asyncio.gather(*(write(session_id) for session_id in ids))
    return writers * appends / (time.perf_counter() - started)


def durable(target: str, options: dict[str, Any], appends: int, rounds: int) -> tuple[float, float]:
    """The median rates of 8 sync threads and of 8 async tasks, in events/s, their rounds
    taken in turn."""
    loop = asyncio.new_event_loop()
    sync_store = agentstore.open(target, **options)
    async_store = loop.run_until_complete(agentstore.aio.open(target, **options))
    sync_rates, async_rates = [], []
    for _ in range(rounds):
        sync_rates.append(threads_rate(sync_store, 8, appends))
        async_rates.append(loop.run_until_complete(tasks_rate(async_store, 8, appends)))
    sync_store.close()
    loop.run_until_complete(async_store.aclose())
    loop.close()
    return statistics.median(sync_rates), statistics.median(async_rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, to check it works")
    parser.add_argument("--dir", help="where to create the JSONL and SQLite stores")
    parser.add_argument("--postgres", default=os.environ.get("AGENTSTORE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    # Quick: a tenth of the appends, one round of each.
    scale, memory_rounds, durable_rounds = (10, 1, 1) if args.quick else (1, 9, 5)
    rows: list[tuple[str, str, str, str]] = []
    sync_us, async_us = memory(50_000 // scale, memory_rounds)
    rows.append(
        ("memory append, µs", f"{sync_us:.2f}", f"{async_us:.2f}", f"{async_us / sync_us:.2f}x")
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as base:
        targets: list[tuple[str, str, dict[str, Any]]] = [
            ("JSONL", os.path.join(base, "data"), {}),
            ("SQLite", f"sqlite:///{os.path.join(base, 'agent.db')}", {}),
        ]
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        if args.postgres:
            targets.append(("PostgreSQL", args.postgres, {"schema": schema}))
        try:
            for name, target, options in targets:
                sync, tasks = durable(target, options, 200 // scale, durable_rounds)
                rows.append(
                    (
                        f"{name} append, 8 writers, events/s",
                        f"{sync:,.0f}",
                        f"{tasks:,.0f}",
                        f"{tasks / sync:.2f}x",
                    )
                )
        finally:
            if args.postgres:
                _drop(args.postgres, schema)
    print(f"agentstore {agentstore.__version__}, sync and async stores, medians of one run\n")
    header = ("benchmark", "sync", "async", "async/sync")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print(
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )


def _drop(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
