"""Appends of concurrent tasks (or threads), committed together by backends that can.

SQLite writes one transaction at a time, PostgreSQL flushes its log once a commit, and a
server answers a request of many appends for about the cost of one: appends that arrive
while a batch is being written wait for it, then go as the next batch, in one
transaction or request. The batch grows with the load, as a group commit's does; each
append stays all or none and fails alone (see :meth:`Backend.append_many`).
:class:`AppendLane` serves the tasks of an event loop, :class:`ThreadLane` threads.
"""

from __future__ import annotations

import asyncio
import errno
import threading
from collections.abc import Callable, Sequence

from agentstore.backends.base import AppendRequest
from agentstore.errors import AgentStoreError, StorageError, StoreClosedError
from agentstore.events import Event

__all__ = ["AppendLane", "Outcomes", "ThreadLane"]

Outcomes = list[list[Event] | AgentStoreError]
_Pending = list[tuple[AppendRequest, "asyncio.Future[list[Event]]"]]


class AppendLane:
    """Gathers appends while a batch is written, and hands the next batch to ``commit``.

    Args:
        commit: starts writing a batch (in a thread or a task) and returns the future of
            each append's events or error, in order; it must run to its end even when the
            tasks that asked are cancelled.
        parallel: how many batches may be written at once (SQLite: one writer at a time;
            PostgreSQL: one per server process, which run in parallel).
    """

    def __init__(
        self,
        commit: Callable[[list[AppendRequest]], asyncio.Future[Outcomes]],
        *,
        parallel: int = 1,
    ) -> None:
        self._commit = commit
        self._parallel = parallel
        self._pending: _Pending = []
        self._writing = 0

    def append(
        self, session_id: str, events: Sequence[Event], expected_seq: int | None
    ) -> asyncio.Future[list[Event]]:
        """Queue an append; the future gives its events as stored, or its error."""
        future: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        if not self._pending and self._writing < self._parallel:
            asyncio.get_running_loop().call_soon(self._flush)  # after the tasks ready now
        self._pending.append(((session_id, events, expected_seq), future))
        return future

    def _flush(self) -> None:
        free = self._parallel - self._writing
        if not self._pending or free <= 0:
            return
        size = -(-len(self._pending) // free)  # the appends waiting, shared by the free slots
        while self._pending:
            batch, self._pending = self._pending[:size], self._pending[size:]
            self._write(batch)

    def _write(self, batch: _Pending) -> None:
        self._writing += 1
        try:
            done = self._commit([request for request, _ in batch])
        except StoreClosedError as error:
            self._settle(batch, None, error)
            return
        done.add_done_callback(lambda _: self._settle(batch, done, None))

    def _settle(
        self,
        batch: _Pending,
        done: asyncio.Future[Outcomes] | None,
        failure: BaseException | None,
    ) -> None:
        self._writing -= 1
        if done is not None and done.cancelled():
            failure = StoreClosedError()  # the loop is shutting down
        elif done is not None and failure is None:
            failure = done.exception()
        outcomes = done.result() if done is not None and failure is None else []
        for index, (_, future) in enumerate(batch):
            if future.cancelled():
                continue  # its append was made (or not) all the same
            outcome = failure if failure is not None else outcomes[index]
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        self._flush()


class _Waiting:
    """An append waiting in a :class:`ThreadLane`: its outcome, or its turn to send."""

    __slots__ = ("done", "leads", "outcome", "request")

    def __init__(self, request: AppendRequest) -> None:
        self.request = request
        self.outcome: list[Event] | BaseException | None = None
        self.done = False
        self.leads = False  # its thread is to send the next batch


class ThreadLane:
    """The lane of threads: appends that arrive while a batch is sent wait for it, and one
    of their threads sends them as the next batch.

    The threads that ask take turns at sending (a group commit's leader and followers), so
    the lane needs no thread of its own.

    Args:
        commit: sends a batch, in the calling thread, and returns each append's events or
            error, in order.
        parallel: how many batches may be sent at once.
    """

    def __init__(
        self, commit: Callable[[list[AppendRequest]], Outcomes], *, parallel: int = 1
    ) -> None:
        self._commit = commit
        self._parallel = parallel
        self._changed = threading.Condition()
        self._pending: list[_Waiting] = []
        self._writing = 0

    def append(
        self, session_id: str, events: Sequence[Event], expected_seq: int | None
    ) -> list[Event]:
        """Make an append, alone or with others': its events as stored, or its error raised."""
        waiting = _Waiting((session_id, events, expected_seq))
        with self._changed:
            self._pending.append(waiting)
            lead = self._writing < self._parallel
            self._writing += lead
        while True:
            if lead:
                self._send()
            with self._changed:
                self._changed.wait_for(lambda: waiting.done or waiting.leads)
                lead, waiting.leads = waiting.leads, False
                if not lead:
                    break
        if isinstance(waiting.outcome, BaseException):
            raise waiting.outcome
        assert waiting.outcome is not None
        return waiting.outcome

    def _send(self) -> None:
        """Send the next batch (the appends waiting, shared by the free turns), settle its
        appends, and hand the turn on to a waiting thread if appends remain."""
        with self._changed:
            free = self._parallel - self._writing + 1
            size = -(-len(self._pending) // free)
            batch, self._pending = self._pending[:size], self._pending[size:]
        outcomes: Sequence[list[Event] | BaseException] = []
        try:
            if batch:
                outcomes = self._commit([waiting.request for waiting in batch])
        except Exception as error:  # noqa: BLE001 - every append of the batch fails with it
            outcomes = [error] * len(batch)
        finally:
            if len(outcomes) != len(batch):  # interrupted: the appends may have been made
                stopped = StorageError(
                    errno.EINTR, "the thread sending this append was interrupted: it may be stored"
                )
                outcomes = [stopped] * len(batch)
            with self._changed:
                for waiting, outcome in zip(batch, outcomes, strict=True):
                    waiting.outcome, waiting.done = outcome, True
                self._writing -= 1
                following = next((w for w in self._pending if not w.leads), None)
                if following is not None and self._writing < self._parallel:
                    following.leads = True
                    self._writing += 1
                self._changed.notify_all()
