"""The worker threads and the batching lane under the async store's blocking backends."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import threading
import time
from collections.abc import Callable

import pytest

from agentstore import AgentStoreError, ConcurrencyError, StorageError, StoreClosedError, new_event
from agentstore.backends.base import AppendRequest
from agentstore.backends.lane import AppendLane, Outcomes, ThreadLane
from agentstore.backends.workers import Workers


def test_calls_run_off_the_loop_and_return_their_results_or_errors() -> None:
    async def scenario() -> None:
        workers = Workers(asyncio.get_running_loop(), 4, name="test")
        loop_thread = threading.get_ident()
        assert await workers.call(threading.get_ident) != loop_thread
        with pytest.raises(ZeroDivisionError):
            await workers.call(lambda: 1 / 0)

        together = threading.Barrier(4, timeout=10)  # broken unless four calls run at once

        def meet(n: int) -> int:
            together.wait()
            return n

        calls = [workers.call(functools.partial(meet, n)) for n in range(8)]
        assert await asyncio.gather(*calls) == list(range(8))
        await asyncio.to_thread(workers.close)

    asyncio.run(scenario())


def test_a_cancelled_call_still_runs_to_its_end_and_close_waits_for_it() -> None:
    finished = threading.Event()

    def write() -> None:
        time.sleep(0.1)
        finished.set()

    async def scenario() -> None:
        workers = Workers(asyncio.get_running_loop(), 2, name="test")
        task = asyncio.ensure_future(workers.call(write))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.to_thread(workers.close)
        assert finished.is_set()
        with pytest.raises(StoreClosedError):
            workers.call(write)

    asyncio.run(scenario())


def test_the_lane_gathers_appends_while_a_batch_is_written() -> None:
    batches: list[list[AppendRequest]] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()

        def commit(requests: list[AppendRequest]) -> asyncio.Future[Outcomes]:
            batches.append(requests)
            done: asyncio.Future[Outcomes] = loop.create_future()
            outcomes: Outcomes = [
                ConcurrencyError(sid, expected=expected, actual=0)
                if expected is not None
                else list(events)
                for sid, events, expected in requests
            ]
            loop.call_later(0.02, done.set_result, outcomes)
            return done

        lane = AppendLane(commit)
        first = lane.append("a", [new_event("one")], None)
        await asyncio.sleep(0)  # the first batch is being written
        rest = [lane.append("b", [new_event("two")], None), lane.append("c", [], 3)]
        assert len(await first) == 1
        outcomes = await asyncio.gather(*rest, return_exceptions=True)
        assert len(outcomes[0]) == 1  # type: ignore[arg-type]
        assert isinstance(outcomes[1], ConcurrencyError)  # failed alone

    asyncio.run(scenario())
    assert [[request[0] for request in batch] for batch in batches] == [["a"], ["b", "c"]]


def _lane_commit(
    batches: list[list[AppendRequest]], sending: threading.Event, release: threading.Event
) -> Callable[[list[AppendRequest]], Outcomes]:
    """A commit that records its batches, and holds the first until ``release``."""

    def commit(requests: list[AppendRequest]) -> Outcomes:
        batches.append(requests)
        if len(batches) == 1:
            sending.set()
            assert release.wait(10)
        if any(sid == "broken" for sid, _, _ in requests):
            raise StorageError(errno.ECONNRESET, "the server broke the connection")
        return [
            ConcurrencyError(sid, expected=expected, actual=0)
            if expected is not None
            else list(events)
            for sid, events, expected in requests
        ]

    return commit


def _in_threads(lane: ThreadLane, asked: list[AppendRequest]) -> list[object]:
    """Each append of ``asked`` made by a thread of its own: its events or its error."""
    outcomes: list[object] = [None] * len(asked)

    def make(index: int) -> None:
        try:
            outcomes[index] = lane.append(*asked[index])
        except AgentStoreError as error:
            outcomes[index] = error

    threads = [threading.Thread(target=make, args=(n,)) for n in range(len(asked))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return outcomes


def test_the_lane_of_threads_sends_what_arrives_during_a_batch_as_the_next() -> None:
    batches: list[list[AppendRequest]] = []
    sending, release = threading.Event(), threading.Event()
    lane = ThreadLane(_lane_commit(batches, sending, release))
    first = threading.Thread(target=lane.append, args=("a", [new_event("one")], None))
    first.start()
    assert sending.wait(10)  # the first batch is on its way: the rest wait for it
    asked: list[AppendRequest] = [("b", [new_event("two")], None), ("c", [], 3)]

    def release_when_both_wait() -> None:
        while len(lane._pending) < len(asked):  # both queued behind the first batch
            time.sleep(0.001)
        release.set()

    threading.Thread(target=release_when_both_wait, daemon=True).start()
    outcomes = _in_threads(lane, asked)
    first.join(10)
    assert [[request[0] for request in batch] for batch in batches] == [["a"], ["b", "c"]]
    assert len(outcomes[0]) == 1  # type: ignore[arg-type]
    assert isinstance(outcomes[1], ConcurrencyError)  # failed alone


def test_a_batch_that_fails_to_be_sent_fails_each_of_its_appends_and_the_lane_goes_on() -> None:
    batches: list[list[AppendRequest]] = []
    sending, release = threading.Event(), threading.Event()
    release.set()
    lane = ThreadLane(_lane_commit(batches, sending, release), parallel=2)
    asked: list[AppendRequest] = [("broken", [new_event("x")], None)]
    (outcome,) = _in_threads(lane, asked)
    assert isinstance(outcome, StorageError)
    assert lane.append("after", [new_event("y")], None)[0].type == "y"


def test_the_lane_of_threads_sends_at_most_its_parallel_batches_at_once() -> None:
    at_once = 0
    most = 0
    guard = threading.Lock()

    two = threading.Barrier(2, timeout=10)  # the first two batches meet: sent at once

    def commit(requests: list[AppendRequest]) -> Outcomes:
        nonlocal at_once, most
        with guard:
            at_once += 1
            most = max(most, at_once)
        if not two.broken:
            with contextlib.suppress(threading.BrokenBarrierError):
                two.wait()
            two.abort()
        time.sleep(0.001)
        with guard:
            at_once -= 1
        return [list(events) for _, events, _ in requests]

    lane = ThreadLane(commit, parallel=2)
    asked: list[AppendRequest] = [(f"s{n}", [new_event("e", {"n": n})], None) for n in range(24)]
    outcomes = _in_threads(lane, asked)
    assert [outcome[0].payload["n"] for outcome in outcomes] == list(range(24))  # type: ignore[index]
    assert most == 2
