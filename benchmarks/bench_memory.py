"""The seed library's five benchmarks on the in-memory backend, next to a CPython floor.

Usage: ``python benchmarks/bench_memory.py [--quick]`` (or ``make bench``).

Method: one thread, the garbage collector on with its default thresholds. Each operation
is one call of a small closure, timed on its own with ``perf_counter_ns`` (the cost of an
empty timed call is measured and subtracted) for the percentiles, and in whole rounds for
ops/s (the median round). The floor is what CPython needs at least to keep an event in
memory: build the payload dict and a frozen slotted dataclass with an event's seven fields,
then append it to a list under a ``threading.Lock``. Every figure is also given as a
multiple of the floor's median, measured in the same run, so runs on a noisy machine
compare. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import agentstore
from agentstore import EventType, Metadata, Store, new_event

Operation = Callable[[], object]


@dataclass(frozen=True, slots=True)
class FloorEvent:
    id: str
    session_id: str
    seq: int
    type: str
    payload: Any
    timestamp: Any
    metadata: Any


class Size(NamedTuple):
    ops: int
    rounds: int


@dataclass
class Result:
    name: str
    ops_per_second: float
    mean_us: float
    median_us: float
    p90_us: float
    p99_us: float
    target: str = ""


def timer_overhead() -> float:
    """The median cost, in ns, of timing a call of an empty closure."""
    return statistics.median(_samples(lambda: None, 50_000))


def _samples(operation: Operation, count: int) -> list[int]:
    clock = time.perf_counter_ns
    samples = [0] * count
    for index in range(count):
        start = clock()
        operation()
        samples[index] = clock() - start
    return samples


def _run(operation: Operation, count: int) -> float:
    """Call ``operation`` ``count`` times untimed; return the seconds it took."""
    started = time.perf_counter_ns()
    for _ in range(count):
        operation()
    return (time.perf_counter_ns() - started) / 1e9


def measure(
    name: str,
    make: Callable[[], Operation],
    *,
    size: Size,
    overhead: float,
    target: str = "",
) -> Result:
    """Time rounds of calls (``size``), each round on a fresh operation from ``make``.

    Throughput (ops/s, and its inverse, the mean) comes from untimed rounds, so it includes
    the garbage collector's pauses; the percentiles come from rounds timed call by call.
    """
    ops, rounds = size
    _run(make(), min(ops, 1000))  # warm up
    round_seconds = [_run(make(), ops) for _ in range(rounds)]
    samples: list[float] = []
    for _ in range(rounds):
        samples.extend(max(sample - overhead, 0.0) for sample in _samples(make(), ops))
    quantiles = statistics.quantiles(samples, n=100, method="inclusive")
    seconds = statistics.median(round_seconds)
    return Result(
        name,
        ops / seconds,
        seconds / ops * 1e6,
        statistics.median(samples) / 1000,
        quantiles[89] / 1000,
        quantiles[98] / 1000,
        target,
    )


def floor_with_payload() -> Operation:
    lock, kept = threading.Lock(), []
    counter = iter(range(1, 1 << 62))

    def operation() -> None:
        seq = next(counter)
        payload = {"tool": "search_flights", "query": "BER → MUC"}
        event = FloorEvent("id", "session", seq, "tool_called", payload, None, None)
        with lock:
            kept.append(event)

    return operation


def floor_without_payload() -> Operation:
    lock, kept = threading.Lock(), []
    counter = iter(range(1, 1 << 62))

    def operation() -> None:
        event = FloorEvent("id", "session", next(counter), "tool_called", None, None, None)
        with lock:
            kept.append(event)

    return operation


def new_event_only() -> Operation:
    kind = EventType.TOOL_CALLED
    return lambda: new_event(kind, {"tool": "search_flights", "query": "BER → MUC"})


def append_with_new_event() -> Operation:
    store = agentstore.open(":memory:")
    session_id = store.create_session().id
    append, kind = store.append, EventType.TOOL_CALLED

    def operation() -> None:
        append(session_id, new_event(kind, {"tool": "search_flights", "query": "BER → MUC"}))

    return operation


def _session_with(count: int, *, snapshot_interval: int) -> tuple[Store, str]:
    store = agentstore.open(":memory:", snapshot_interval=snapshot_interval)
    session_id = store.create_session().id
    usage = Metadata(model="gpt-4o", tokens_in=120, tokens_out=40, cost_usd=0.0021)
    kinds = [EventType.USER_MESSAGE, EventType.TOOL_CALLED, EventType.TOOL_RESULT]
    kinds += [EventType.LLM_REQUEST, EventType.LLM_RESPONSE]
    for n in range(count):
        kind = kinds[n % len(kinds)]
        metadata = usage if kind.startswith("llm") else None
        store.append(session_id, new_event(kind, {"step": n, "text": "x" * 40}, metadata=metadata))
    return store, session_id


def cold_fold(count: int) -> Callable[[], Operation]:
    """get_state over ``count`` events with no snapshot and no cached state: a full fold."""

    def make() -> Operation:
        store, session_id = _session_with(count, snapshot_interval=0)
        # at_seq never reads or fills the cache of the latest state: every call folds all.
        return lambda: store.get_state(session_id, at_seq=count)

    return make


def from_snapshot() -> Operation:
    """get_state at 1000 events with snapshots every 100, in a store with nothing cached."""
    writer, session_id = _session_with(1000, snapshot_interval=100)
    writer.get_state(session_id)  # materializes and saves the snapshot at 1000
    reader = Store(writer.backend, snapshot_interval=100)
    return lambda: reader.get_state(session_id, at_seq=1000)


def cached_state() -> Operation:
    """get_state of the latest state, already materialized: the usual call after appends."""
    store, session_id = _session_with(1000, snapshot_interval=100)
    store.get_state(session_id)
    return lambda: store.get_state(session_id)


def replay_all() -> Operation:
    store, session_id = _session_with(1000, snapshot_interval=100)
    return lambda: store.replay(session_id)


def replay_filtered() -> Operation:
    store, session_id = _session_with(1000, snapshot_interval=100)
    return lambda: store.replay(session_id, types=[EventType.TOOL_CALLED, EventType.TOOL_RESULT])


def print_table(results: list[Result], floor: Result) -> None:
    header = (
        "benchmark",
        "ops/s",
        "mean µs",
        "median µs",
        "p90 µs",
        "p99 µs",
        "x floor (mean)",
        "x floor (median)",
        "target",
    )
    rows = [
        (
            r.name,
            f"{r.ops_per_second:,.0f}",
            f"{r.mean_us:.2f}",
            f"{r.median_us:.2f}",
            f"{r.p90_us:.2f}",
            f"{r.p99_us:.2f}",
            f"{r.mean_us / floor.mean_us:.2f}",
            f"{r.median_us / floor.median_us:.2f}",
            r.target,
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, to check it works")
    args = parser.parse_args()
    gc.enable()
    # Quick: a twentieth of the calls, one round of each.
    scale, fast_rounds, slow_rounds = (20, 1, 1) if args.quick else (1, 7, 5)
    fast = Size(ops=40_000 // scale, rounds=fast_rounds)
    slow = Size(ops=1_000 // scale, rounds=slow_rounds)
    overhead = timer_overhead()

    floor = measure(
        "floor (payload + dataclass + list + lock)",
        floor_with_payload,
        size=fast,
        overhead=overhead,
    )
    results = [
        floor,
        measure(
            "floor without the payload dict", floor_without_payload, size=fast, overhead=overhead
        ),
        measure("new_event", new_event_only, size=fast, overhead=overhead),
        measure(
            "append (new_event in the loop)",
            append_with_new_event,
            size=fast,
            overhead=overhead,
            target="<= 2.2x floor",
        ),
        measure("get_state, cached latest", cached_state, size=fast, overhead=overhead),
        measure(
            "get_state 1000 ev, snapshot @100",
            from_snapshot,
            size=fast,
            overhead=overhead,
            target="<= 3.6x floor",
        ),
        measure("get_state 10 ev, no snapshot", cold_fold(10), size=fast, overhead=overhead),
        measure("get_state 100 ev, no snapshot", cold_fold(100), size=slow, overhead=overhead),
        measure(
            "get_state 1000 ev, no snapshot",
            cold_fold(1000),
            size=slow,
            overhead=overhead,
            target="<= 1000 µs",
        ),
        measure("replay 1000 events", replay_all, size=slow, overhead=overhead, target="<= 230 µs"),
        measure("replay 1000, 2 types", replay_filtered, size=slow, overhead=overhead),
    ]
    print(
        f"agentstore {agentstore.__version__}, in-memory backend, GC on, "
        f"timer overhead {overhead:.0f} ns subtracted\n"
    )
    print_table(results, floor)


if __name__ == "__main__":
    main()
