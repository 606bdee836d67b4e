"""Durable appends and cold reads on the JSONL directory backend, next to the disk's own rate.

Usage: ``python benchmarks/bench_jsonl.py [--quick] [--dir DIR]`` (or ``make bench``).

Method: every store lives in a fresh directory under ``--dir`` (default: a temporary
directory on the same disk as the system's temporary files; pass the disk you will run
on). The ceiling is measured first, in the same run: writing a 200-byte line and calling
``fdatasync`` on a file in the same directory, as each append does. Appends are medians
of three rounds, cold reads of 20 calls, open + list of 5. Cold reads open a new store
for each call (the open is not timed), so nothing is cached in the process; the operating
system's page cache is warm, as it is for an agent reading what it just wrote. See
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import agentstore
from agentstore import EventType, Metadata, Store, new_event


@dataclass
class Row:
    name: str
    value: str
    target: str = ""


def _median_seconds(run: Callable[[], float], rounds: int) -> float:
    return statistics.median(run() for _ in range(rounds))


def raw_fsync_rate(directory: str, count: int) -> float:
    """Lines per second that write + fdatasync manage on this disk."""
    path = os.path.join(directory, "raw.bin")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    line = b"x" * 199 + b"\n"
    try:
        started = time.perf_counter()
        for _ in range(count):
            os.write(fd, line)
            os.fdatasync(fd)
        return count / (time.perf_counter() - started)
    finally:
        os.close(fd)


def _event(n: int) -> agentstore.Event:
    return new_event(
        EventType.TOOL_CALLED, {"tool": "search_flights", "query": "BER → MUC", "n": n}
    )


def append_rate(store: Store, session_id: str, count: int) -> float:
    started = time.perf_counter()
    for n in range(count):
        store.append(session_id, _event(n))
    return count / (time.perf_counter() - started)


def threaded_rate(store: Store, session_ids: list[str], per_thread: int) -> float:
    """Events per second from one thread per entry of ``session_ids``."""

    def write(session_id: str) -> None:
        for n in range(per_thread):
            store.append(session_id, _event(n))

    threads = [threading.Thread(target=write, args=(sid,)) for sid in session_ids]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(threads) * per_thread / (time.perf_counter() - started)


def fill(store: Store, session_id: str, count: int, *, batch: int = 1000) -> None:
    usage = Metadata(model="gpt-4o", tokens_in=120, tokens_out=40, cost_usd=0.0021)
    kinds = [EventType.USER_MESSAGE, EventType.TOOL_CALLED, EventType.LLM_RESPONSE]
    for start in range(0, count, batch):
        store.append_batch(
            session_id,
            [
                new_event(kinds[n % 3], {"step": n, "text": "x" * 40}, metadata=usage)
                for n in range(start, min(start + batch, count))
            ],
        )


def cold(directory: str, action: Callable[[Store], object], rounds: int) -> float:
    """Median seconds of ``action`` on a store opened just before it."""
    times = []
    for _ in range(rounds):
        with agentstore.open(directory) as store:
            started = time.perf_counter()
            action(store)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def open_and_list(directory: str, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        with agentstore.open(directory) as store:
            store.list_sessions(limit=100)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(base: str, quick: bool) -> list[Row]:
    # Quick: a tenth of the appends, one round of each, two cold reads, one listing of more
    # sessions than the 100 it shows.
    scale, rounds, calls, listings, sessions = (
        (10, 1, 2, 1, 150) if quick else (1, 3, 20, 5, 10_000)
    )
    rows = []
    raw = statistics.median(raw_fsync_rate(base, 2000 // scale) for _ in range(rounds))
    rows.append(Row("disk: write + fdatasync of one line", f"{raw:,.0f}/s ({1e6 / raw:.0f} µs)"))

    store = agentstore.open(os.path.join(base, "appends"))
    one = statistics.median(
        append_rate(store, store.create_session().id, 1000 // scale) for _ in range(rounds)
    )
    rows.append(
        Row(
            "append, 1 thread, new session",
            f"{one:,.0f}/s ({one / raw:.0%} of disk)",
            ">= 90% of disk",
        )
    )
    long_run = store.create_session().id
    fill(store, long_run, 1000)
    early = append_rate(store, long_run, 1000 // scale)
    fill(store, long_run, 99_000 // scale - 2 * (1000 // scale))  # to 99,000 events
    late = append_rate(store, long_run, 1000 // scale)
    rows.append(
        Row(
            f"append 1,001-2,000 vs {99_001 // scale:,}-{100_000 // scale:,}",
            f"{early:,.0f}/s vs {late:,.0f}/s: {early / late:.2f}x slower",
            "<= 1.2x",
        )
    )
    same = [store.create_session().id] * 8
    eight_one = statistics.median(threaded_rate(store, same, 300 // scale) for _ in range(rounds))
    rows.append(
        Row(
            "append, 8 threads, one session",
            f"{eight_one:,.0f}/s ({eight_one / one:.1f}x 1 thread)",
            ">= 4x 1 thread",
        )
    )
    eight = [store.create_session().id for _ in range(8)]
    eight_many = statistics.median(threaded_rate(store, eight, 300 // scale) for _ in range(rounds))
    rows.append(
        Row(
            "append, 8 threads, 8 sessions",
            f"{eight_many:,.0f}/s ({eight_many / one:.1f}x 1 thread)",
        )
    )
    batched = store.create_session().id

    def batches() -> float:
        started = time.perf_counter()
        for _ in range(50 // scale):
            store.append_batch(batched, [_event(n) for n in range(100)])
        return 50 // scale * 100 / (time.perf_counter() - started)

    rate = statistics.median(batches() for _ in range(rounds))
    rows.append(Row("append_batch of 100", f"{rate:,.0f} events/s", ">= 100,000/s"))
    store.close()

    reads = os.path.join(base, "reads")
    with agentstore.open(reads, snapshot_interval=100) as writer:
        session_id = writer.create_session(id="thousand").id
        fill(writer, session_id, 1000, batch=100)
        writer.get_state(session_id)  # saves the snapshot at 1000
    state = cold(reads, lambda s: s.get_state("thousand"), calls)
    rows.append(
        Row("get_state, 1000 events, snapshot, fresh store", f"{state * 1e3:.3f} ms", "<= 0.2 ms")
    )
    replay = cold(reads, lambda s: s.replay("thousand"), calls)
    rows.append(Row("replay of 1000 events, fresh store", f"{replay * 1e3:.3f} ms", "<= 1.0 ms"))

    listing = os.path.join(base, "listing")
    count = sessions
    with agentstore.open(listing) as creator:
        for n in range(count):
            creator.create_session(name=f"run-{n}", labels={"agent": "travel"})
    listed = open_and_list(listing, listings)
    rows.append(Row(f"open + list {count:,} sessions", f"{listed * 1e3:.0f} ms", "< 500 ms"))
    os.remove(os.path.join(listing, "catalog.jsonl"))
    rows.append(
        Row(
            "  the same with no catalog (first open of a seed directory)",
            f"{open_and_list(listing, 1) * 1e3:.0f} ms",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, to check it works")
    parser.add_argument("--dir", help="where to create the stores (default: a temporary dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as base:
        rows = run(base, args.quick)
    print(f"agentstore {agentstore.__version__}, JSONL backend, medians of one run\n")
    widths = [max(len(getattr(r, f)) for r in rows) for f in ("name", "value")]
    for row in rows:
        print(f"{row.name:<{widths[0]}}  {row.value:<{widths[1]}}  {row.target}")


if __name__ == "__main__":
    main()
