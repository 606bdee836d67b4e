"""Peak memory of replaying a very long session: ``iter_events`` against ``get_events``.

Usage: ``python benchmarks/bench_streaming.py [--events N] [--rounds R] [--quick] [--dir DIR]``
(or ``make bench``).

Method: one session of ``--events`` events (1,000,000 by default; LLM responses and tool
calls of about 300 bytes each, as in bench_cli.py) is written to a JSONL directory and a
SQLite file with ``append_batch`` in batches of 10,000, and the time that takes is
reported. Each read then runs in a fresh process, which opens the store and reads the
whole session; its peak resident set (``VmHWM``: the process's own, from its ``exec``) is
reported, with its growth over the process before the read (imports, the open store) and
the peak of Python's own allocations during the read (``tracemalloc``, in a second run of
its own, since tracing slows the read). Reads with ``iter_events`` (pages of 1,000) are
the medians of ``--rounds`` runs; ``get_events``, which holds the whole log, runs once.
The ``agentstore`` commands ``replay --format jsonl``, ``replay`` (the timeline) and
``verify`` of the session run the same way, in a fresh process each, their output sent to
/dev/null. The in-memory backend holds every event by design: there, the memory a read
adds on top of the store is measured with ``tracemalloc``. Target: iterating and
``agentstore replay`` stay under 100 MB at their peak. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import agentstore
from agentstore import EventType, Metadata, Store, new_event
from agentstore.cli.app import cli

BATCH = 10_000
PAGE = 1000
MB = 1024 * 1024


def _event(k: int) -> agentstore.Event:
    if k % 2:
        return new_event(
            EventType.LLM_RESPONSE,
            {"content": f"Step {k}: the two cheapest flights are LH1234 and EW5678."},
            metadata=Metadata(model="gpt-4o", tokens_in=850, tokens_out=120, cost_usd=0.0042),
        )
    return new_event(
        EventType.TOOL_CALLED,
        {"tool": "search_flights", "query": "BER → MUC", "date": "2026-12-04", "k": k},
        metadata=Metadata(tool_name="search_flights", duration_ms=230),
    )


def fill(store: Store, events: int) -> str:
    """One session of ``events`` events, appended ``BATCH`` at a time; returns its id."""
    session = store.create_session(name="the very long one")
    for start in range(0, events, BATCH):
        batch = [_event(k) for k in range(start, min(start + BATCH, events))]
        store.append_batch(session.id, batch)
    return session.id


# What a child process measures: one read of the whole session, or one command.

READS: dict[str, Callable[[Store, str], int]] = {
    "iter_events": lambda store, sid: sum(1 for _ in store.iter_events(sid, page_size=PAGE)),
    "get_events": lambda store, sid: len(store.get_events(sid)),
}


def peak_rss() -> int:
    """This process's own peak resident set, in bytes.

    ``VmHWM``, which starts afresh at ``exec``: ``ru_maxrss`` keeps the peak of the
    process that spawned this one (the benchmark, which wrote the million events).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # not Linux: an upper bound


def child(read: str, target: str, session_id: str, trace: bool) -> None:
    """Open the store, read the session once, print what it took as one JSON line."""
    with agentstore.open(target) as store:
        before = peak_rss()
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        count = READS[read](store, session_id)
        seconds = time.perf_counter() - started
        traced = tracemalloc.get_traced_memory()[1] if trace else 0
        peak = peak_rss()
    figures = {"before": before, "peak": peak, "seconds": seconds, "events": count}
    print(json.dumps({**figures, "traced": traced}))


def command_child(args: list[str]) -> None:
    """Run the ``agentstore`` command in this process, its output discarded; print its peak."""
    started = time.perf_counter()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        cli.main(args=args, prog_name="agentstore", standalone_mode=False)
    seconds = time.perf_counter() - started
    print(json.dumps({"peak": peak_rss(), "seconds": seconds}))


def measured(args: list[str]) -> dict[str, Any]:
    """Run this script with ``args`` in a fresh process; return the figures it prints."""
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{args} failed: {done.stderr}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def read_figures(target: str, session_id: str, read: str, rounds: int) -> dict[str, float]:
    """Medians over ``rounds`` fresh processes of one read: RSS peak and growth, traced peak."""
    peaks, growths, seconds, traced = [], [], [], []
    for _ in range(rounds):
        figures = measured(["--child", read, target, session_id])
        peaks.append(figures["peak"])
        growths.append(figures["peak"] - figures["before"])
        seconds.append(figures["seconds"])
        traced.append(measured(["--child", read, target, session_id, "--trace"])["traced"])
    return {
        "peak": statistics.median(peaks) / MB,
        "growth": statistics.median(growths) / MB,
        "traced": statistics.median(traced) / MB,
        "seconds": statistics.median(seconds),
    }


def command_figures(args: list[str], rounds: int) -> tuple[float, float]:
    """The median peak resident set (MB) and time of an ``agentstore`` command."""
    runs = [measured(["--command", *args]) for _ in range(rounds)]
    peaks = [run["peak"] for run in runs]
    return statistics.median(peaks) / MB, statistics.median(run["seconds"] for run in runs)


def memory_backend(events: int) -> tuple[float, float]:
    """Peak memory (MB) a read adds to an in-memory store of ``events`` events."""
    with agentstore.open(":memory:") as store:
        session_id = fill(store, events)
        added = []
        for read in ("iter_events", "get_events"):
            tracemalloc.start()
            READS[read](store, session_id)
            added.append(tracemalloc.get_traced_memory()[1] / MB)
            tracemalloc.stop()
    return added[0], added[1]


def _size(root: str) -> int:
    """The bytes of every file under ``root``."""
    return sum(path.stat().st_size for path in Path(root).rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="the session's length")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each streamed read")
    parser.add_argument("--quick", action="store_true", help="2,500 events, 1 round (a smoke test)")
    parser.add_argument("--dir", default=None, help="where to build the stores")
    parser.add_argument("--child", nargs=3, metavar=("READ", "TARGET", "SESSION"))
    parser.add_argument("--command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        read, target, session_id = options.child
        child(read, target, session_id, trace=options.trace)
        return
    if options.command:
        command_child(options.command)
        return
    # Quick: a few pages of iter_events, the last one short.
    events, rounds = (2500, 1) if options.quick else (options.events, options.rounds)
    print(f"one session of {events:,} events; peaks in MB, medians of {rounds} (get_events: 1)")
    print(f"{'store: read':<40} {'RSS peak':>9} {'growth':>8} {'traced':>8} {'seconds':>8}  target")
    written = 0.0
    with tempfile.TemporaryDirectory(dir=options.dir) as root:
        for kind, target in [
            ("JSONL", os.path.join(root, "agent-data")),
            ("SQLite", f"sqlite:///{os.path.join(root, 'agent.db')}"),
        ]:
            started = time.perf_counter()
            with agentstore.open(target) as store:
                session_id = fill(store, events)
            built = time.perf_counter() - started
            size = _size(root) / MB - written
            written += size
            rate = events / built
            print(f"{kind}: written in {built:.1f} s ({rate:,.0f} events/s), {size:,.0f} MB")
            for read, runs in (("iter_events", rounds), ("get_events", 1)):
                figures = read_figures(target, session_id, read, runs)
                goal = "< 100" if read == "iter_events" else ""
                print(
                    f"{kind + ': ' + read:<40} {figures['peak']:>9.0f} {figures['growth']:>8.0f} "
                    f"{figures['traced']:>8.0f} {figures['seconds']:>8.1f}  {goal}"
                )
            for name, args in [
                ("agentstore replay --format jsonl", ["replay", session_id, "--format", "jsonl"]),
                ("agentstore replay (timeline)", ["replay", session_id]),
                ("agentstore verify", ["verify", session_id]),
            ]:
                peak, seconds = command_figures(["--store", target, *args], rounds)
                goal = "< 100" if "replay" in name else ""
                print(
                    f"{kind + ': ' + name:<40} {peak:>9.0f} {'':>8} {'':>8} {seconds:>8.1f}  {goal}"
                )
    streamed, listed = memory_backend(events)
    print(f"{'memory: iter_events (added to the store)':<40} {'':>9} {'':>8} {streamed:>8.1f}")
    print(f"{'memory: get_events (added to the store)':<40} {'':>9} {'':>8} {listed:>8.1f}")


if __name__ == "__main__":
    main()
