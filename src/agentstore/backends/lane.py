"""Appends of concurrent tasks, committed together by backends that can.

SQLite writes one transaction at a time, and PostgreSQL flushes its log once a commit:
appends that arrive while a batch is being written wait for it, then go as the next
batch, in one transaction. The batch grows with the load, as a group commit's does; each
append stays all or none and fails alone (see :meth:`Backend.append_many`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from agentstore.backends.base import AppendRequest
from agentstore.errors import AgentStoreError, StoreClosedError
from agentstore.events import Event

__all__ = ["AppendLane", "Outcomes"]

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
