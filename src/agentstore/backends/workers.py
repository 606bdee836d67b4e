"""Worker threads for the blocking calls of the async store, with cheap hand-offs.

``loop.run_in_executor`` costs about 70 µs a call on a busy two-core machine: a
``concurrent.futures`` future, its locks, and one wake-up of the event loop through its
self-pipe for every result. Durable appends from many tasks are made of such calls, so
that cost capped them at 0.6 times the rate of as many plain threads. Here a call is a
tuple put on a ``SimpleQueue`` (implemented in C) that idle threads take, and results
reach the loop in batches: the first result of a batch schedules one callback, which
settles every future finished meanwhile. Under load, one wake-up serves several results.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

from agentstore.errors import StoreClosedError

__all__ = ["Workers"]

_Result = TypeVar("_Result")
_Job = tuple[Callable[[], Any], "asyncio.Future[Any]"]
_STOP = None


class Workers:
    """Up to ``limit`` threads running calls for one event loop; started as calls need them.

    A call whose awaiting task is cancelled still runs to its end in its thread (a
    write is then made whole or not at all); its result is dropped.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int, *, name: str) -> None:
        self._loop: asyncio.AbstractEventLoop | None = loop
        self._limit = limit
        self._name = name
        self._closed = False
        self._start_afresh()

    def _start_afresh(self) -> None:
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._finished: list[tuple[asyncio.Future[Any], bool, Any]] = []

    def after_fork_in_child(self) -> None:
        """In a forked child: the threads stayed in the parent; new ones start on demand.

        They serve the loop that calls next: the parent's loop does not run here.
        """
        self._start_afresh()
        self._loop = None

    def call(self, function: Callable[[], _Result]) -> asyncio.Future[_Result]:
        """Run ``function`` in a worker thread; await the returned future for its result.

        Raises:
            StoreClosedError: :meth:`close` was called.
        """
        loop = self._loop
        if loop is None:  # first call in a forked child
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[_Result] = loop.create_future()
        with self._lock:
            if self._closed:
                raise StoreClosedError()
            # Queued under the lock: a close() that follows puts its stops behind it.
            self._jobs.put((function, future))
            if self._idle == 0 and len(self._threads) < self._limit:
                self._start()
            else:
                self._idle -= 1  # taken now, so the next call does not count on it too
        return future

    def close(self) -> None:
        """Let the calls under way finish, then end the threads (blocking: call off the loop)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(_STOP)
        for thread in threads:
            thread.join()

    def _start(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            function, future = job
            try:
                outcome = (future, True, function())
            except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
                outcome = (future, False, error)
            with self._lock:
                first = not self._finished
                self._finished.append(outcome)
                self._idle += 1
            if first:
                self._wake(future.get_loop())

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            loop.call_soon_threadsafe(self._settle)
        except RuntimeError:  # the loop is closed: no one awaits these results any more
            with self._lock:
                self._finished.clear()

    def _settle(self) -> None:
        with self._lock:
            finished, self._finished = self._finished, []
        for future, succeeded, value in finished:
            if future.cancelled():
                continue
            if succeeded:
                future.set_result(value)
            else:
                future.set_exception(value)
