"""The ``agentstore`` command's wall time on big stores, start-up included.

Usage: ``python benchmarks/bench_cli.py [--quick] [--dir DIR]`` (or ``make bench``).

Method: a JSONL directory (and a SQLite file, for comparison) holding 10,000 sessions, one
of them with 10,000 events of about 300 bytes, all LLM and tool events with a realistic
payload. Each figure is the wall time of the installed ``agentstore`` command run as a
subprocess, from ``exec`` until its output is read to the end through a pipe (as by
``less`` or ``jq``): interpreter start, imports, opening the store, reading and printing.
Seven runs each; the median and the slowest are reported. ``agentstore --version`` gives
the start-up alone. Targets: ``sessions`` and ``replay`` of the big session under 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import agentstore
from agentstore import EventType, Metadata, Store, new_event

AGENTSTORE = str(Path(sys.executable).parent / "agentstore")
RUNS = 7


def fill(store: Store, sessions: int, events: int) -> str:
    """``sessions`` sessions of 3 events, and one of ``events``; returns the big one's id."""
    for n in range(sessions - 1):
        session = store.create_session(name=f"run-{n}", labels={"agent": f"a{n % 10}"})
        store.append_batch(session.id, [_event(k) for k in range(3)])
    big = store.create_session(name="the long one", labels={"agent": "research"})
    for start in range(0, events, 1000):
        store.append_batch(big.id, [_event(k) for k in range(start, min(start + 1000, events))])
    return big.id


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


def wall_times(args: list[str], runs: int) -> list[float]:
    """Seconds from start to the last byte of output read, for ``runs`` runs."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([AGENTSTORE, *args], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
        assert done.stdout
    return times


def report(name: str, times: list[float], target: str = "") -> None:
    median, slowest = statistics.median(times), max(times)
    print(f"{name:<46} {median * 1000:>8.0f} {slowest * 1000:>8.0f}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small stores, 1 run (a smoke test)")
    parser.add_argument("--dir", default=None, help="where to build the stores")
    options = parser.parse_args()
    # Quick: more sessions than the 100 `sessions` shows, two batches of the big session.
    sessions, events, runs = (120, 1200, 1) if options.quick else (10_000, 10_000, RUNS)
    with tempfile.TemporaryDirectory(dir=options.dir) as root:
        print(f"agentstore command, {sessions:,} sessions, one of {events:,} events (ms)")
        print(f"{'command':<46} {'median':>8} {'slowest':>8}  target")
        report("agentstore --version (start-up)", wall_times(["--version"], runs))
        for kind, target in [
            ("JSONL", os.path.join(root, "agent-data")),
            ("SQLite", f"sqlite:///{os.path.join(root, 'agent.db')}"),
        ]:
            with agentstore.open(target) as store:
                big = fill(store, sessions, events)
            goal = "< 1000" if kind == "JSONL" else ""
            store_args = ["--store", target]
            report(
                f"{kind}: sessions (first 100)", wall_times([*store_args, "sessions"], runs), goal
            )
            every = [*store_args, "sessions", "--limit", "0"]
            report(f"{kind}: sessions --limit 0 ({sessions:,} rows)", wall_times(every, runs), goal)
            replay = [*store_args, "replay", big]
            report(f"{kind}: replay ({events:,} events, timeline)", wall_times(replay, runs), goal)
            as_json = [*replay, "--format", "json"]
            report(f"{kind}: replay --format json", wall_times(as_json, runs))
            report(f"{kind}: stats", wall_times([*store_args, "stats", big], runs))


if __name__ == "__main__":
    main()
