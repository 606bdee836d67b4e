"""The worker threads and the batching lane under the async store's blocking backends."""

from __future__ import annotations

import asyncio
import functools
import threading
import time

import pytest

from agentstore import ConcurrencyError, StoreClosedError, new_event
from agentstore.backends.base import AppendRequest
from agentstore.backends.lane import AppendLane, Outcomes
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
