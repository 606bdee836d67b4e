"""What the recording helpers cost over appending the same events by hand, in memory.

Usage: ``python benchmarks/bench_recording.py [--quick]`` (or ``make bench``).

Method: one thread, in-memory store, garbage collector on. Each helper is paired with
the plain ``store.append`` calls that write the same events (same payload keys and
metadata); both sides of a pair are timed in alternating rounds of whole loops, so a
noisy neighbour slows both alike, and the median round of each gives the cost per
operation and the ratio. The target is a ratio of at most 2x. The priced LLM call is
shown apart: its extra cost is the price table's lookup, not the recording. See
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import agentstore
from agentstore import Metadata, Recorder, Store, new_event

Operation = Callable[[], object]

RESPONSE = {
    "object": "chat.completion",
    "model": "gpt-4o",
    "choices": [{"message": {"role": "assistant", "content": "Two flights."}}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 40},
}


def _fresh() -> tuple[Store, Recorder]:
    store = agentstore.open(":memory:", snapshot_interval=0)
    return store, store.recorder(store.create_session().id)


def plain_message() -> Operation:
    store, recorder = _fresh()
    append, session_id = store.append, recorder.session_id
    return lambda: append(session_id, new_event("user_message", {"content": "Find flights"}))


def helper_message() -> Operation:
    _, recorder = _fresh()
    return lambda: recorder.user_message("Find flights")


def plain_tool_call() -> Operation:
    store, recorder = _fresh()
    append, session_id, clock = store.append, recorder.session_id, time.perf_counter

    def operation() -> None:
        arguments = {"origin": "BER", "destination": "MUC"}
        called = append(
            session_id,
            new_event(
                "tool_called",
                {"tool": "search", "arguments": arguments},
                metadata=Metadata(tool_name="search"),
            ),
        )
        started = clock()
        result = ["LH1234"]
        took = round((clock() - started) * 1000)
        metadata = Metadata(tool_name="search", duration_ms=took, cause_id=called.id)
        append(
            session_id,
            new_event("tool_result", {"tool": "search", "result": result}, metadata=metadata),
        )

    return operation


def helper_tool_call() -> Operation:
    _, recorder = _fresh()

    def operation() -> None:
        with recorder.tool_call("search", {"origin": "BER", "destination": "MUC"}) as call:
            call.set_result(["LH1234"])

    return operation


def helper_decorated_tool() -> Operation:
    _, recorder = _fresh()

    @recorder.tool
    def search(origin: str, destination: str) -> list[str]:
        return ["LH1234"]

    return lambda: search("BER", "MUC")


def plain_llm_call() -> Operation:
    store, recorder = _fresh()
    append, session_id, clock = store.append, recorder.session_id, time.perf_counter

    def operation() -> None:
        request = append(
            session_id,
            new_event(
                "llm_request",
                {"model": "gpt-4o", "request": {"prompt": "Summarise"}},
                metadata=Metadata(model="gpt-4o"),
            ),
        )
        started = clock()
        response: dict[str, Any] = RESPONSE
        usage = response["usage"]
        metadata = Metadata(
            model=response["model"],
            provider="openai",
            tokens_in=usage["prompt_tokens"],
            tokens_out=usage["completion_tokens"],
            cost_usd=0.0007,
            duration_ms=round((clock() - started) * 1000),
            cause_id=request.id,
        )
        content = response["choices"][0]["message"]["content"]
        append(session_id, new_event("llm_response", {"content": content}, metadata=metadata))

    return operation


def helper_llm_call(*, priced: bool) -> Callable[[], Operation]:
    def make() -> Operation:
        _, recorder = _fresh()
        cost = None if priced else 0.0007

        def operation() -> None:
            with recorder.llm_call("gpt-4o", {"prompt": "Summarise"}) as llm:
                llm.set_response(RESPONSE, cost_usd=cost)

        return operation

    return make


def per_op_us(make: Callable[[], Operation], ops: int) -> float:
    operation = make()
    started = time.perf_counter_ns()
    for _ in range(ops):
        operation()
    return (time.perf_counter_ns() - started) / ops / 1000


PAIRS: list[tuple[str, Callable[[], Operation], Callable[[], Operation]]] = [
    ("user_message", plain_message, helper_message),
    ("tool call (context manager)", plain_tool_call, helper_tool_call),
    ("tool call (decorator)", plain_tool_call, helper_decorated_tool),
    ("llm call, cost given", plain_llm_call, helper_llm_call(priced=False)),
    ("llm call, priced by genai-prices", plain_llm_call, helper_llm_call(priced=True)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, to check it runs")
    options = parser.parse_args()
    ops, rounds = (200, 1) if options.quick else (5_000, 15)
    print(f"recording helpers vs plain appends, in memory: {rounds} rounds of {ops} ops")
    print()
    print(f"{'benchmark':<34} {'plain µs':>9} {'helper µs':>10} {'ratio':>6}  target")
    for name, plain, helper in PAIRS:
        per_op_us(plain, min(ops, 500))  # warm up both
        per_op_us(helper, min(ops, 500))
        plain_times, helper_times = [], []
        for _ in range(rounds):
            plain_times.append(per_op_us(plain, ops))
            helper_times.append(per_op_us(helper, ops))
        base, ours = statistics.median(plain_times), statistics.median(helper_times)
        target = "" if "priced" in name else "≤ 2x"
        print(f"{name:<34} {base:>9.2f} {ours:>10.2f} {ours / base:>5.2f}x  {target}")


if __name__ == "__main__":
    main()
